"""``demo``: the built-in demo's input, the scikit-learn digits test split rate-coded (an input
with value x spikes with probability x / 16 per step), with its labels.

The digits come with the demo model (``frontends/demo.py``) as ``DigitsSplit``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..ir.stages import InputEncoding
from .base import Encoder, EncodeRequest, InputBatch, fit
from .rate import bernoulli_spikes


@dataclass(frozen=True)
class DigitsSplit:
    """Spike probabilities per step in [0, 1] (samples, 64), their classes, and the steps to code them over."""

    rates: np.ndarray
    labels: np.ndarray
    steps: int


class DemoDigits(Encoder):
    name = "demo"
    summary = "the built-in demo's digits test split, rate-coded (only with the demo: no model given)"

    def encode(self, request: EncodeRequest) -> InputBatch:
        data = request.data
        if not isinstance(data, DigitsSplit):
            raise UserError("--encode demo codes the built-in demo's digits: use it without a model")
        # the demo's test spikes draw from seed + 1 (its training draws from seed)
        spikes = bernoulli_spikes(np.random.default_rng(request.seed + 1), data.rates, data.steps, data.rates.shape, draw=np.float64)
        description = {
            "source": "demo",
            "steps": data.steps,
            "batch": len(data.rates),
            "shape": list(request.shape),
            "encoding": "spikes",
            "seed": request.seed,
            "description": f"scikit-learn digits test split: {len(data.rates)} labelled samples, rate-coded over {data.steps} steps "
            f"(spike probability = pixel / 16), seed {request.seed}",
        }
        batch = InputBatch(values=spikes, encoding=InputEncoding("spikes"), description=description, labels=np.asarray(data.labels))
        return fit(batch, request.steps, request.batch)


DEMO = DemoDigits()
