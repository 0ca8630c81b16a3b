"""snnTorch's conventions, shared by the neuron models its modules convert to.

snnTorch has no time constant: its neurons update once per step with decay factors. Its
exporter writes them for dt = 1e-4 s (``SNNTORCH_DT``); any dt gives the same dynamics,
since tau = dt / (1 - beta) and r = tau / dt make NIR's Euler step exactly
``mem = beta * mem + input``. The reset mechanism, which NIR files do not store, goes into
node metadata (``{"reset": "zero" | "subtract", "reset_delay": bool}``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UnsupportedModelError
from ..hardware.fixed_point import Reset
from .base import reset_mechanism, snntorch_module, spikes_without_reset
from .extended import extend

SNNTORCH_DT = 1e-4  # the dt snnTorch's exporter writes; any dt gives the same dynamics


def per_neuron(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A parameter (scalar, per neuron, or broadcastable such as per channel) as an array of ``shape``."""
    import torch

    array = torch.as_tensor(value).detach().cpu().double().numpy()
    try:
        return np.broadcast_to(array.reshape(array.shape if array.size > 1 else ()), tuple(shape)).astype(float).copy()
    except ValueError:
        if array.size == int(np.prod(shape)):
            return array.reshape(shape).astype(float)
        raise UnsupportedModelError(f"a parameter of shape {list(array.shape)} does not fit a layer of shape {list(shape)}") from None


class SnntorchResets:
    """Mixin for the neuron models snnTorch modules convert to: where the metadata names an
    snnTorch module, an undelayed subtraction keeps snnTorch's double-reset guard (the
    threshold doubles while the stored membrane is above it), which needs the extended
    compartment (``neurons/extended.py``)."""

    def lower(self, low):
        dynamics, gain = super().lower(low)
        if self.spiking and snntorch_module(low.node) and not spikes_without_reset(low.node):
            reset, delayed = reset_mechanism(low.node, low.name)
            if reset is Reset.SUBTRACT and not delayed:
                dynamics = extend(dynamics, guard=True)
        return dynamics, gain


def membrane(name: str, module, shape: tuple[int, ...], notes: list[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """(tau_mem, the NIR fields every snnTorch neuron shares): the membrane from ``beta``,
    threshold, no leak or reset offset, and the reset in metadata."""
    beta = per_neuron(module.beta, shape).clip(0.0, 1.0)
    tau_mem = SNNTORCH_DT / np.maximum(1.0 - beta, 1e-9)
    common = dict(
        r=tau_mem / SNNTORCH_DT,
        v_leak=np.zeros(shape),
        v_threshold=per_neuron(module.threshold, shape),
        v_reset=np.zeros(shape),
        metadata=reset_metadata(name, module, notes),
    )
    return tau_mem, common


# snnTorch modules whose zero reset with delay zeroes the whole step after a spike (input
# included): mem = base - reset * base. Leaky keeps that step's input (mem = beta (1 - reset) mem + x).
WHOLE_STEP_ZERO_RESET = ("Synaptic", "RLeaky", "RSynaptic", "Lapicque")


def reset_metadata(name: str, module, notes: list[str]) -> dict[str, Any]:
    """snnTorch's reset as node metadata (``{"reset", "reset_delay", "snntorch_module"}``,
    read by ``neurons/base.py``), with the neurodeploy extension where the reset needs state
    Loihi's built-in neuron lacks: a zero reset that holds mem at 0 for the step after a spike
    is a one-step refractory period (``Refractory``).

    snnTorch's delayed subtraction (``mem[t] = beta mem[t-1] + I[t] - thr s[t-1]``) equals an
    immediate subtraction of ``thr / beta`` (``neurons/base.py``); without delay it keeps
    snnTorch's double-reset guard (the extended compartment)."""
    kind = type(module).__name__
    mechanism = module.reset_mechanism
    delay = bool(getattr(module, "reset_delay", True))
    if kind == "RSynaptic" and not delay:
        notes.append(
            f"module {name!r}: snnTorch's RSynaptic computes its reset_delay=False reset into a local variable it discards, so "
            "it resets with delay; deployed as it runs (with delay)"
        )
        delay = True
    return snntorch_reset(kind, mechanism, delay)


def snntorch_reset(kind: str, mechanism: str, delay: bool) -> dict[str, Any]:
    """The node metadata with which the neuron models run snnTorch module ``kind``'s reset
    exactly (also for NIR files snnTorch exported, ``dialects/snntorch.py``)."""
    from .nir_extension import KEY, VERSION

    meta: dict[str, Any] = {"reset": mechanism, "reset_delay": delay, "snntorch_module": kind}
    if mechanism == "zero" and delay and kind in WHOLE_STEP_ZERO_RESET:
        meta[KEY] = {"version": VERSION, "neuron": "Refractory", "t_ref": SNNTORCH_DT}
    return meta


def immediate_reset(node, module):
    """``node`` with the plain immediate reset of ``module``'s reset mechanism (neurodeploy's
    own snnTorch-style modules reset at the spike, as Loihi does)."""
    node.metadata = {**(node.metadata or {}), "reset": module.reset_mechanism, "reset_delay": False}
    node.metadata.pop("snntorch_module", None)
    return node
