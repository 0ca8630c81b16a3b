"""Run reports: one JSON-serialisable structure per run, built section by section from the
compiled network and the runs' results (report.py), rendered as table, JSON and plots (render.py)."""
