"""neurodeploy: deploy spiking neural networks onto Loihi-class neuromorphic hardware.

A deployment (pipeline.py; the command line in cli.py) reads straight through:

    frontends/  snnTorch module, NIR file or the built-in demo  -> LoadedModel (a FloatGraph)
    encoders/   raw data (or none)                              -> the input (ENCODERS)
    training/   (--finetune) quantisation-aware fine-tuning of the snnTorch module
    ir/passes/  inline_subgraphs -> normalise -> quantise -> map_cores, ir/checks.py after each
    backends/   the targets (TARGETS): float, loihi-sim, and the bit-exact cpu, cpu-numpy, torch
    reports/    one Report per run, built from the results, rendered as table, JSON and plots

below which lie neurons/ (NEURONS: one model per NIR neuron primitive) and hardware/ (profiles,
fixed-point formats, topology). docs/architecture.md describes the whole.
"""
__version__ = "0.1.0"
