"""Rank-based spike times shared by ``rank_order``, ``intensity_latency`` and ``dog``: the step at
which each input of a sample spikes, from its rank among the sample's values (largest first,
equal values in index order)."""
from __future__ import annotations

import numpy as np


def _descending_ranks(flat: np.ndarray) -> np.ndarray:
    """Rank of every value in each row, largest first; equal values in index order."""
    order = np.argsort(-flat, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None, :], axis=1)
    return ranks


def spike_steps(x: np.ndarray, steps: int, rule: str) -> np.ndarray:
    """The step at which each input of each sample spikes (int64, -1 for never), per ``rule``:
    ``rank``: all positive inputs, t = floor(rank * steps / n_positive);
    ``bins``: SpykeTorch's Intensity2Latency, bins of n_nonzero // steps inputs, t = rank // bin."""
    flat = x.reshape(x.shape[0], -1)
    ranks = _descending_ranks(flat)
    positive = flat > 0
    count = positive.sum(axis=1, keepdims=True)
    if rule == "rank":
        when = (ranks * steps) // np.maximum(count, 1)
    else:
        bin_size = np.maximum(count // steps, 1)
        when = ranks // bin_size
        positive &= when < steps
    return np.where(positive, when, -1).reshape(x.shape)


def steps_to_spikes(when: np.ndarray, steps: int, cumulative: bool) -> np.ndarray:
    spikes = np.empty((steps, *when.shape), np.uint8)
    fires = when >= 0
    for t in range(steps):
        spikes[t] = (fires & (when <= t)) if cumulative else (when == t)
    return spikes
