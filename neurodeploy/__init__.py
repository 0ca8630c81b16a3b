"""neurodeploy: deploy spiking neural networks onto Loihi-class neuromorphic hardware.

A deployment (pipeline.py; the command line in cli.py) reads straight through:

    frontends/  snnTorch module, NIR file or the built-in demo  -> LoadedModel (a FloatGraph)
    encoders/   raw data (or none)                              -> the input (ENCODERS)
    training/   (--finetune) quantisation-aware fine-tuning of the snnTorch module
    ir/passes/  inline_subgraphs -> normalise -> quantise -> map_cores, ir/checks.py after each
    backends/   the targets (TARGETS): float, loihi-sim, and the bit-exact cpu, cpu-numpy, torch
    reports/    one Report per run, built from the results, rendered as table, JSON and plots

below which lie neurons/ (NEURONS: one model per NIR neuron primitive) and hardware/ (profiles,
fixed-point formats, topology); data/ reads labelled data (--data). docs/architecture.md
describes the whole.

The Python API (api.py) is reachable from here, imported on first use so that ``import
neurodeploy`` stays light: ``neurodeploy.deploy(model, data=..., labels=..., encode=...,
target=..., profile=...)`` -> Deployment, ``neurodeploy.compile(...)`` -> Compiled (``.save``),
``neurodeploy.load(path)``, ``neurodeploy.save_model(module, path)``,
``neurodeploy.from_brian2(network)`` (a Brian2 network as a model).
"""
__version__ = "0.1.0"

_API = ("Compiled", "Deployment", "compile", "deploy", "from_brian2", "load", "save_model")


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(".api", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
