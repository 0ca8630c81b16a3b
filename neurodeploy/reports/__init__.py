"""Run reports: one JSON-serialisable structure per run, rendered as table, JSON and plots."""
