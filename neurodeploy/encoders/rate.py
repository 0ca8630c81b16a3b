"""Rate coding: Bernoulli spikes, each input firing with its probability at every step.

``bernoulli_spikes`` is the one Bernoulli draw every encoder that rate-codes uses (``random``,
the demo's digits, ``rate``, ``poisson``). Spikes are drawn one step at a time, so no float
array of the whole input exists.

``rate`` (registered): snnTorch's ``spikegen.rate``,

    p = clip(x * gain + offset, 0, 1);   s[t] ~ Bernoulli(p) independently for every step t
    s[t] = 0 for t < first_spike_time

following snnTorch 1.0.0 ``spikegen.py``: the data repeated ``num_steps`` times as
``data * gain + offset`` (:134-143), clamped to [0, 1] and drawn with ``torch.bernoulli``
(``rate_conv``, :434-437), the first steps zeroed (:148-149). The random stream is numpy's
(float32 uniforms from ``default_rng(seed)``), so the comparison with snnTorch is statistical;
data outside [0, 1] is an error here (snnTorch silently clips the probability, which turns
0..255 pixels into all ones).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import DataEncoder
from .params import SEED, STEPS, EncoderError, Param, checked, describe, samples_array


def bernoulli_spikes(rng: np.random.Generator, probability, steps: int, shape: tuple[int, ...], draw=np.float32, first: int = 0) -> np.ndarray:
    """uint8 spikes (steps, *shape): 1 where a uniform draw (of dtype ``draw``) is below
    ``probability`` (a number, or an array broadcast to ``shape``); the steps before ``first``
    stay silent and are not drawn."""
    spikes = np.zeros((steps, *shape), np.uint8)
    for t in range(first, steps):
        np.less(rng.random(shape, dtype=draw), probability, out=spikes[t], casting="unsafe")
    return spikes


PARAMETERS = {
    "steps": STEPS,
    "gain": Param("float", 1.0, "spike probability per step is clip(x * gain + offset, 0, 1)"),
    "offset": Param("float", 0.0, "added to x * gain"),
    "first_spike_time": Param("int", 0, "steps before it are silent", low=0),
    "seed": SEED,
}


def rate(data: Any, steps: int, *, gain: float = 1.0, offset: float = 0.0, first_spike_time: int = 0,
         seed: int = 0) -> tuple[np.ndarray, dict]:
    """Bernoulli rate coding as snnTorch's ``spikegen.rate``: at every step each input spikes with
    probability clip(x * gain + offset, 0, 1); steps before ``first_spike_time`` are silent.
    ``data`` (batch, *shape) in [0, 1] -> uint8 (steps, batch, *shape)."""
    p = checked("rate", PARAMETERS, steps=steps, gain=gain, offset=offset, first_spike_time=first_spike_time, seed=seed)
    if p["first_spike_time"] > p["steps"] - 1:
        raise EncoderError(f"rate: first_spike_time={p['first_spike_time']} is out of range: it must be <= steps-1 = {p['steps'] - 1}")
    x = samples_array("rate", data, low=0.0, high=1.0)
    probability = np.clip(x * np.float32(p["gain"]) + np.float32(p["offset"]), 0, 1).astype(np.float32)
    spikes = bernoulli_spikes(np.random.default_rng(p["seed"]), probability, p["steps"], probability.shape, first=p["first_spike_time"])
    meaning = (f"uint8 spikes: each input spikes at each step with probability clip(x * {p['gain']:g} + {p['offset']:g}, 0, 1)"
               + (f", silent before step {p['first_spike_time']}" if p["first_spike_time"] else "") + f"; seed {p['seed']}")
    return spikes, describe("rate", p, spikes, meaning, "snntorch.spikegen.rate (Bernoulli per step)")


class Rate(DataEncoder):
    name = "rate"
    summary = "Bernoulli rate coding, p = clip(x * gain + offset, 0, 1) per step (snnTorch spikegen.rate; data in [0, 1])"
    parameters = PARAMETERS

    function = staticmethod(rate)


RATE = Rate()
