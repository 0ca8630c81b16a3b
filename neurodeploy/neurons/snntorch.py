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


def reset_metadata(name: str, module, notes: list[str]) -> dict[str, Any]:
    """snnTorch's reset as node metadata; a note where Loihi's immediate reset differs.

    snnTorch's default delayed subtraction (``mem[t] = beta mem[t-1] + I[t] - thr s[t-1]``)
    equals an immediate subtraction of ``thr / beta`` (``neurons/base.py``)."""
    mechanism = module.reset_mechanism
    delay = bool(getattr(module, "reset_delay", True))
    note = reset_note(f"module {name!r}", type(module).__name__, mechanism, delay)
    if note:
        notes.append(note)
    return {"reset": mechanism, "reset_delay": delay, "snntorch_module": type(module).__name__}


def reset_note(what: str, module: str, mechanism: str, delay: bool) -> str | None:
    """Why Loihi's immediate reset differs from snnTorch's for this module and reset, or None
    where it maps exactly (``what`` names the module or node)."""
    if mechanism == "subtract" and not delay:
        return (
            f"{what}: snnTorch's subtractive reset with reset_delay=False subtracts the threshold a second "
            "time while mem stays above it after a reset; Loihi subtracts once per spike, so spike times differ "
            "whenever mem exceeds twice the threshold (the default reset_delay=True maps exactly)"
        )
    if module in ("Synaptic", "RLeaky", "RSynaptic") and mechanism == "zero" and delay:
        return (
            f"{what}: snnTorch's {module} with reset_mechanism='zero' and reset_delay=True holds mem at 0 "
            "for the step after a spike; Loihi resets immediately, so spike times can differ "
            "(train with reset_delay=False for an exact match)"
        )
    return None
