"""Neuron models: one entry per NIR neuron primitive (``NeuronModel``, neurons/base.py).

Adding a neuron model is one module in this folder (a ``NeuronModel`` subclass and its
instance) and one line in ``NEURONS`` below, keyed by the NIR node type's name. A model
that reduces to the CUBA compartment (``neurons/cuba.py``) needs nothing else: the passes,
every engine and Lava run it. See docs/architecture.md, "How to add ...".
"""
from __future__ import annotations

from ..hardware.fixed_point import Reset
from ..registry import Registry
from .base import Lowering, NeuronDynamics, NeuronModel, Subthreshold
from .cuba import QuantisedNeurons

NEURONS: Registry[NeuronModel] = Registry("neuron model", __package__, {
    "LIF": ".lif:LIF",
    "CubaLIF": ".cubalif:CubaLIF",
    "IF": ".integrator:IF",
    "LI": ".lif:LI",
    "CubaLI": ".cubalif:CubaLI",
    "I": ".integrator:I",
    "Threshold": ".threshold:Threshold",
})


def model_of(node) -> NeuronModel | None:
    """The neuron model of a NIR node, or None for a node that is no neuron."""
    name = type(node).__name__
    if name not in NEURONS:
        return None
    model = NEURONS.get(name)
    return model if isinstance(node, model.node_class) else None


def is_neuron(node) -> bool:
    return model_of(node) is not None


def snntorch_model(module) -> NeuronModel | None:
    """The neuron model an snnTorch module converts to, or None."""
    import snntorch

    for model in NEURONS:
        if any(type(module) is getattr(snntorch, name) for name in model.snntorch_modules):
            return model
    return None


def snntorch_types() -> tuple[type, ...]:
    """Every snnTorch module class some neuron model converts."""
    import snntorch

    return tuple(getattr(snntorch, name) for model in NEURONS for name in model.snntorch_modules)


__all__ = [
    "NEURONS",
    "Lowering",
    "NeuronDynamics",
    "NeuronModel",
    "QuantisedNeurons",
    "Reset",
    "Subthreshold",
    "is_neuron",
    "model_of",
    "snntorch_model",
    "snntorch_types",
]
