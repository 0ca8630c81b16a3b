"""Neuron models: one entry per NIR neuron primitive (``NeuronModel``, neurons/base.py), and
the compartments that run them on the chip (``Compartment``, neurons/compartment.py).

Adding a neuron model is one module in this folder (a ``NeuronModel`` subclass and its
instance) and one line in ``NEURONS`` below, keyed by the NIR node type's name, or, for a
model NIR lacks, by its name in neurodeploy's NIR extension (``nir_extension.py``). A model
that reduces to the CUBA compartment (``neurons/cuba.py``) needs nothing else: the passes,
every engine and Lava run it. A model with other state lowers to a compartment registered in
``COMPARTMENTS``. See docs/architecture.md, "How to add ...".
"""
from __future__ import annotations

from ..hardware.fixed_point import Reset
from ..registry import Registry
from .base import Lowering, NeuronDynamics, NeuronModel, Subthreshold
from .compartment import Compartment
from .cuba import QuantisedNeurons
from .nir_extension import neuron_of

NEURONS: Registry[NeuronModel] = Registry("neuron model", __package__, {
    "LIF": ".lif:LIF",
    "CubaLIF": ".cubalif:CubaLIF",
    "IF": ".integrator:IF",
    "LI": ".lif:LI",
    "CubaLI": ".cubalif:CubaLI",
    "I": ".integrator:I",
    "Threshold": ".threshold:Threshold",
    "Refractory": ".refractory:Refractory",
    "AdaptiveThreshold": ".adaptive:AdaptiveThreshold",
    "Izhikevich": ".izhikevich:Izhikevich",
})

COMPARTMENTS: Registry[Compartment] = Registry("compartment", __package__, {
    "cuba": ".cuba:CUBA",
    "extended": ".extended:EXTENDED",
    "izhikevich": ".izhikevich:IZHIKEVICH_COMPARTMENT",
})


def compartment_of(neurons) -> Compartment:
    """The compartment of a layer's neurons (float dynamics or quantised)."""
    return COMPARTMENTS.get(neurons.compartment)


def model_of(node) -> NeuronModel | None:
    """The neuron model of a NIR node, or None for a node that is no neuron: the neurodeploy
    extension's model where the node's metadata carries one, else its type's."""
    extension = neuron_of(node)
    name = extension if extension is not None else type(node).__name__
    if name not in NEURONS:
        if extension is not None:
            from ..errors import UnsupportedModelError

            raise UnsupportedModelError(
                f"a {type(node).__name__} node names neurodeploy extension neuron {extension!r}, which this version lacks "
                f"(known: {', '.join(NEURONS.names())})"
            )
        return None
    model = NEURONS.get(name)
    if isinstance(node, model.node_class):
        return model
    if extension is not None:
        from ..errors import UnsupportedModelError

        bases = model.node_class if isinstance(model.node_class, tuple) else (model.node_class,)
        raise UnsupportedModelError(
            f"a {type(node).__name__} node carries neurodeploy extension neuron {extension!r}, which extends "
            f"{', '.join(c.__name__ for c in bases)} nodes only"
        )
    return None


def is_neuron(node) -> bool:
    return model_of(node) is not None


def snntorch_model(module) -> NeuronModel | None:
    """The neuron model an snnTorch module converts to, or None."""
    for model in NEURONS:
        if any(type(module) is _module_class(name) for name in model.snntorch_modules):
            return model
    return None


def snntorch_types() -> tuple[type, ...]:
    """Every snnTorch module class some neuron model converts."""
    return tuple(_module_class(name) for model in NEURONS for name in model.snntorch_modules)


def _module_class(name: str) -> type:
    """``snntorch.<name>``, or the class an import path ``module:Class`` names."""
    import importlib

    module_name, _, attribute = name.rpartition(":")
    return getattr(importlib.import_module(module_name or "snntorch"), attribute)


__all__ = [
    "COMPARTMENTS",
    "NEURONS",
    "Compartment",
    "Lowering",
    "NeuronDynamics",
    "NeuronModel",
    "QuantisedNeurons",
    "Reset",
    "Subthreshold",
    "compartment_of",
    "is_neuron",
    "model_of",
    "snntorch_model",
    "snntorch_types",
]
