"""``current``: direct input, ``x * scale`` held for every step (graded values, as snnTorch's
tutorials feed a static input to the first layer at every step): float32
``(steps, batch, *shape)``, a read-only broadcast view holding one copy of the data. On the chip
it arrives as graded spikes (the quantiser scales it to their integer range)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import DataEncoder
from .params import STEPS, Param, checked, describe, samples_array

PARAMETERS = {
    "steps": STEPS,
    "scale": Param("float", 1.0, "the input held at every step is x * scale"),
}


def current(data: Any, steps: int, *, scale: float = 1.0) -> tuple[np.ndarray, dict]:
    """Direct (graded) input: x * scale at every step. -> float32 (steps, batch, *shape), a
    read-only broadcast view that holds one copy of the data."""
    p = checked("current", PARAMETERS, steps=steps, scale=scale)
    x = samples_array("current", data)
    held = x * np.float32(p["scale"])
    values = np.broadcast_to(held, (p["steps"], *held.shape))
    meaning = f"float input x * {p['scale']:g} held for {p['steps']} steps"
    return values, describe("current", p, values, meaning, "direct input (snnTorch tutorials feed x at every step)")


class Current(DataEncoder):
    name = "current"
    summary = "direct graded input x * scale held for the steps (scale=1)"
    parameters = PARAMETERS

    function = staticmethod(current)


CURRENT = Current()
