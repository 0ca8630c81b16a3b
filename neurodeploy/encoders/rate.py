"""Rate coding: Bernoulli spikes, each input firing with its probability at every step.

The one Bernoulli draw every encoder that rate-codes uses (the random input, the demo's
digits). Spikes are drawn one step at a time, so no float array of the whole input exists.
"""
from __future__ import annotations

import numpy as np


def bernoulli_spikes(rng: np.random.Generator, probability, steps: int, shape: tuple[int, ...], draw=np.float32) -> np.ndarray:
    """uint8 spikes (steps, *shape): 1 where a uniform draw (of dtype ``draw``) is below
    ``probability`` (a number, or an array broadcast to ``shape``)."""
    spikes = np.empty((steps, *shape), np.uint8)
    for t in range(steps):
        spikes[t] = rng.random(shape, dtype=draw) < probability
    return spikes
