"""``rank_order``: rank-order coding (Thorpe & Gautrais 1998). Within each sample the positive
inputs spike once each, largest first: the input of rank r (0 = largest; equal values in index
order) among the P positive inputs spikes at step ``floor(r * steps / P)``. With steps = P one
spike per step in rank order; with fewer steps the ranks fill equal-count bins, and every
positive input spikes. Zeros never spike; data must be >= 0.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import DataEncoder
from .params import STEPS, checked, describe, samples_array
from .ranking import spike_steps, steps_to_spikes

PARAMETERS = {"steps": STEPS}


def rank_order(data: Any, steps: int) -> tuple[np.ndarray, dict]:
    """Rank-order coding: within each sample the positive inputs spike once each, largest
    first: the input of rank r (0 = largest, ties in index order) among P positive ones spikes at
    step floor(r * steps / P); with steps = P that is one spike per step in rank order, with fewer
    steps the ranks fill equal-count bins. Zeros never spike. ``data`` (batch, *shape) >= 0 ->
    uint8 (steps, batch, *shape)."""
    p = checked("rank_order", PARAMETERS, steps=steps)
    x = samples_array("rank_order", data, low=0.0)
    spikes = steps_to_spikes(spike_steps(x, p["steps"], "rank"), p["steps"], cumulative=False)
    meaning = ("uint8 spikes: each positive input spikes once, the one of rank r (largest first) among P at step "
               "floor(r * steps / P); zeros never spike")
    return spikes, describe("rank_order", p, spikes, meaning, "rank-order coding (Thorpe & Gautrais 1998)")


class RankOrder(DataEncoder):
    name = "rank_order"
    summary = "rank-order coding: each positive input spikes once, largest first (data >= 0)"
    parameters = PARAMETERS

    function = staticmethod(rank_order)


RANK_ORDER = RankOrder()
