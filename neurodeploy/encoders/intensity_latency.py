"""``intensity_latency``: SpykeTorch's ``Intensity2Latency``. Per sample, over all its values
together: ``b = n_nonzero // steps``; sorted descending, the inputs of ranks ``t*b .. (t+1)*b - 1``
spike at step t; the smallest ``n_nonzero % steps`` never spike.

SpykeTorch (commit aa302c77, ``utils.py:255-305``): ``nonzero_cnt // time_steps`` (:277-280),
``torch.sort(..., descending=True)`` (:284), ``torch.split`` into bins (:287), a cumulative
``scatter_`` per step (:292-296), ``sign()`` with ``to_spike`` (:303-304). SpykeTorch's tensor is
cumulative (spike waves): ``cumulative=true`` reproduces it; the default, one spike per input at
its first step, carries the same information as events, and a non-leaky integrate-and-fire
neuron fed with it reaches the same potentials, which is what a chip needs. Differences: equal
values are ordered by index (a stable sort); where a sample has fewer nonzero values than steps
(SpykeTorch's split raises) they spike one per step in rank order; negative values are an error.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import DataEncoder
from .params import STEPS, Param, checked, describe, samples_array
from .ranking import spike_steps, steps_to_spikes

PARAMETERS = {
    "steps": STEPS,
    "to_spike": Param("bool", True, "spikes (true) or the intensities themselves (false, graded)"),
    "cumulative": Param("bool", False, "true: a spike stays on after its first step (SpykeTorch's spike waves)"),
}


def intensity_latency(data: Any, steps: int, *, to_spike: bool = True, cumulative: bool = False) -> tuple[np.ndarray, dict]:
    """SpykeTorch's ``Intensity2Latency``: per sample, the n_nonzero // steps largest inputs
    spike at step 0, the next as many at step 1, ... (ties in index order); the smallest
    n_nonzero % steps never spike. ``cumulative``: a spike stays on at every later step
    (SpykeTorch's spike-wave tensor, ``sign()`` of its output); otherwise one spike per input,
    which a non-leaky integrate-and-fire neuron integrates to the same potentials. ``to_spike``
    false returns the intensities in place of the spikes (float32, graded). Where a sample has
    fewer nonzero inputs than steps (SpykeTorch raises), they spike one per step in rank order.
    ``data`` (batch, *shape) >= 0 -> uint8 (or float32) (steps, batch, *shape)."""
    p = checked("intensity_latency", PARAMETERS, steps=steps, to_spike=to_spike, cumulative=cumulative)
    x = samples_array("intensity_latency", data, low=0.0)
    spikes = steps_to_spikes(spike_steps(x, p["steps"], "bins"), p["steps"], p["cumulative"])
    values: np.ndarray = spikes
    if not p["to_spike"]:
        values = np.empty(spikes.shape, np.float32)
        for t in range(p["steps"]):
            np.multiply(spikes[t], x, out=values[t])
    meaning = ("spikes" if p["to_spike"] else "float intensities") + (
        ": the inputs in bin t (ranks t*b .. (t+1)*b - 1, b = n_nonzero // steps, largest first)"
        + (" from step t on" if p["cumulative"] else " at step t only"))
    return values, describe("intensity_latency", p, values, meaning, "SpykeTorch utils.Intensity2Latency")


class IntensityLatency(DataEncoder):
    name = "intensity_latency"
    summary = "SpykeTorch Intensity2Latency: equal-count bins of the sample's values, largest first (data >= 0)"
    parameters = PARAMETERS

    function = staticmethod(intensity_latency)


INTENSITY_LATENCY = IntensityLatency()
