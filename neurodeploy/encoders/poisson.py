"""``poisson``: Poisson rate coding with a rate in Hz. An input x in [0, 1] fires at
``x * max_rate`` Hz; one step lasts ``dt`` seconds and carries at most one spike:

    probability=linear (default):  p = x * max_rate * dt      (requires max_rate * dt <= 1)
    probability=exp:               p = 1 - exp(-x * max_rate * dt)

``linear`` is Brian2's ``PoissonGroup`` (``brian2/input/poissongroup.py:104``, ``rand() < rates
* dt``), the input of the Brian2-style STDP networks, and keeps the mean rate exact. ``exp`` is
the probability that a continuous Poisson process of that rate fires at least once in the step
(what binning a true Poisson train to 0/1 gives); it under-counts the rate by the spikes that
share a step, a factor (1 - e^-l)/l (5 % at l = 0.1).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import DataEncoder
from .params import SEED, STEPS, EncoderError, Param, checked, describe, samples_array
from .rate import bernoulli_spikes

PARAMETERS = {
    "steps": STEPS,
    "max_rate": Param("float", 100.0, "firing rate in Hz of an input at x = 1", low=0),
    "dt": Param("float", 1e-3, "length of one step in seconds", low=0, low_open=True),
    "probability": Param("choice", "linear", "linear: p = rate * dt (Brian2's PoissonGroup); exp: p = 1 - exp(-rate * dt)",
                         choices=("linear", "exp")),
    "seed": SEED,
}


def poisson(data: Any, steps: int, *, max_rate: float = 100.0, dt: float = 1e-3, probability: str = "linear",
            seed: int = 0) -> tuple[np.ndarray, dict]:
    """Poisson rate coding: an input x in [0, 1] fires at x * max_rate Hz; a step of dt seconds
    holds at most one spike, drawn with p = x * max_rate * dt (``linear``) or
    p = 1 - exp(-x * max_rate * dt) (``exp``). -> uint8 (steps, batch, *shape)."""
    p = checked("poisson", PARAMETERS, steps=steps, max_rate=max_rate, dt=dt, probability=probability, seed=seed)
    lam = p["max_rate"] * p["dt"]
    if p["probability"] == "linear" and lam > 1:
        raise EncoderError(f"poisson: max_rate={p['max_rate']:g} with dt={p['dt']:g} gives max_rate*dt = {lam:g} spikes per step: "
                           "it must be <= 1 (lower max_rate or dt, or use probability=exp)")
    x = samples_array("poisson", data, low=0.0, high=1.0)
    if p["probability"] == "linear":
        prob = (x.astype(np.float64) * lam).astype(np.float32)
    else:
        prob = (-np.expm1(-x.astype(np.float64) * lam)).astype(np.float32)
    spikes = bernoulli_spikes(np.random.default_rng(p["seed"]), prob, p["steps"], prob.shape)
    formula = "x * max_rate * dt" if p["probability"] == "linear" else "1 - exp(-x * max_rate * dt)"
    meaning = (f"uint8 spikes: input x fires at x * {p['max_rate']:g} Hz, {p['steps']} steps of {p['dt']:g} s, "
               f"at most one spike per step with probability {formula}; seed {p['seed']}")
    reference = "Brian2 PoissonGroup (rand() < rates * dt)" if p["probability"] == "linear" else "Poisson process, P(>= 1 event in dt)"
    return spikes, describe("poisson", p, spikes, meaning, reference)


class Poisson(DataEncoder):
    name = "poisson"
    summary = "Poisson rate coding: x * max_rate Hz in steps of dt seconds (max_rate=100,dt=0.001; Brian2's PoissonGroup)"
    parameters = PARAMETERS

    function = staticmethod(poisson)


POISSON = Poisson()
