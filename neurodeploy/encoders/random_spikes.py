"""``random``: seeded Bernoulli noise, each input firing with probability ``rate`` at each step.

What a model without data runs on (``--rate R`` is ``--encode random:rate=R``).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InputDataError
from ..ir.stages import InputEncoding
from ..limits import check_memory
from .base import Encoder, EncodeRequest, InputBatch
from .params import Param
from .rate import bernoulli_spikes

DEFAULT_RATE = 0.1  # spike probability per input per step
DEFAULT_STEPS = 100
DEFAULT_BATCH = 1


class RandomSpikes(Encoder):
    name = "random"
    summary = "seeded random spikes: each input fires with probability rate at each step (rate=0.1)"
    parameters = {"rate": Param("float", DEFAULT_RATE, "spike probability per input per step", low=0, high=1)}

    def encode(self, request: EncodeRequest) -> InputBatch:
        steps = DEFAULT_STEPS if request.steps is None else request.steps
        batch = DEFAULT_BATCH if request.batch is None else request.batch
        rate = request.params.get("rate", DEFAULT_RATE)
        if steps < 1 or batch < 1:
            raise InputDataError(f"--steps and --batch must be >= 1, got {steps} and {batch}")
        if not 0.0 <= rate <= 1.0:
            raise InputDataError(f"--rate must be a probability in [0, 1], got {rate}")
        n = math.prod(int(x) for x in request.shape)
        check_memory(steps * batch * n, f"random input of {steps} step(s) x {batch} sample(s) x {n} inputs", "lower --steps or --batch")
        values = bernoulli_spikes(np.random.default_rng(request.seed), rate, steps, (batch, n))
        description = {
            "source": "random",
            "steps": steps,
            "batch": batch,
            "shape": list(request.shape),
            "encoding": "spikes",
            "rate": rate,
            "seed": request.seed,
            "description": f"random spikes (no --input given): rate {rate} per step, {steps} steps, "
            f"{batch} sample(s), seed {request.seed}",
        }
        return InputBatch(values=values, encoding=InputEncoding(kind="spikes"), description=description)


RANDOM = RandomSpikes()
