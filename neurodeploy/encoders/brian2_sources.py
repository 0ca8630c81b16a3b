"""``brian2``: the input a Brian2 network's own spike sources make (its SpikeGeneratorGroups'
spike times, its PoissonGroups' rates), concatenated in the graph's input order.

A generator's spikes land on the steps Brian2 puts them on (``int((t + 1e-3 dt) / dt)``,
repeated every ``period``); a PoissonGroup fires with probability rate * dt per step and
neuron (Brian2's own draw; compared statistically). Steps default to the generators' last
spike, else 100.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputDataError
from ..ir.stages import InputEncoding
from .base import Encoder, EncodeRequest, InputBatch
from .rate import bernoulli_spikes

DEFAULT_STEPS = 100


@dataclass(frozen=True)
class Brian2Input:
    """The spike sources of a Brian2 network, in the order of the graph's input vector
    (what the ``brian2`` encoder draws the input from)."""

    dt: float
    sources: tuple  # brian2_extract.SpikeSourceGroup, in input order
    offsets: tuple[int, ...]
    t0_step: int
    rewards: Any = None  # {layer: frontends.brian2_model.RewardSignal}: the given reward of reward-modulated layers

    @property
    def n(self) -> int:
        return int(sum(s.n for s in self.sources))


class Brian2Sources(Encoder):
    name = "brian2"
    summary = "a Brian2 model's own spike sources: SpikeGeneratorGroup times, PoissonGroup and PoissonInput rates (seeded by --seed)"

    def encode(self, request: EncodeRequest) -> InputBatch:
        data = request.data
        if not isinstance(data, Brian2Input):
            raise InputDataError("--encode brian2: the model is not a Brian2 network (give FILE.py:FUNCTION)")
        steps = request.steps or _generator_steps(data) or DEFAULT_STEPS
        batch = request.batch or 1
        values = np.zeros((steps, batch, data.n), np.uint8)
        rng = np.random.default_rng(request.seed)
        kinds = []
        for source, offset in zip(data.sources, data.offsets):
            part = values[:, :, offset:offset + source.n]
            if source.kind == "generator":
                part[:] = generator_raster(source, data.t0_step, steps)[:, None, :]
            else:
                probability = np.clip(np.asarray(source.rates, float) * data.dt, 0.0, 1.0)
                part[:] = bernoulli_spikes(rng, probability, steps, (batch, source.n), draw=np.float64)
            kinds.append(f"{source.name} ({'spike times' if source.kind == 'generator' else 'Poisson rates'})")
        description = {"source": "brian2", "steps": steps, "batch": batch, "shape": [data.n], "encoding": "spikes",
                       "description": "the Brian2 network's spike sources: " + ", ".join(kinds)}
        return InputBatch(values=values, encoding=InputEncoding("spikes"), description=description)


def generator_raster(source, t0_step: int, steps: int) -> np.ndarray:
    """(steps, n) uint8 spikes of a SpikeGeneratorGroup from the network's time step t0_step."""
    raster = np.zeros((steps, source.n), np.uint8)
    rel = np.asarray(source.steps, np.int64) - t0_step
    idx = np.asarray(source.indices, np.int64)
    period = int(source.period_steps or 0)
    if period > 0:
        reps = [rel + k * period for k in range(0, steps // period + 2)]
        rel, idx = np.concatenate(reps), np.tile(idx, len(reps))
    keep = (rel >= 0) & (rel < steps)
    raster[rel[keep], idx[keep]] = 1
    return raster


def _generator_steps(data) -> int | None:
    ends = [int(np.max(s.steps)) - data.t0_step + 1 for s in data.sources if s.kind == "generator" and len(s.steps)]
    return max(ends) if ends and not any(s.kind == "poisson" for s in data.sources) else None


BRIAN2 = Brian2Sources()
