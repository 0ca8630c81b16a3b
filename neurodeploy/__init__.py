"""neurodeploy: deploy spiking neural networks onto Loihi-class neuromorphic hardware.

Stages (see docs/architecture.md):
    frontends/  snnTorch module or NIR file  -> float graph (nir.NIRGraph + load notes)
    ir/passes/  normalise -> quantise -> map_cores, with ir/checks.py after each pass
    backends/   float reference, bit-accurate CPU backend, Lava simulator
    reports/    one Report structure per run, rendered as table, JSON and plots
"""
__version__ = "0.1.0"
