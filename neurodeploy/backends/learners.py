"""One interface over the targets that learn (``Target.learner``): a learning layer to which
samples are presented in turn, each from a reset sample state.

    cpu         the numba engine (learning_engine.py)        bit-exact with Lava
    cpu-numpy   the numpy reference (learning/reference.py)  bit-exact with Lava
    loihi-sim   Lava's LearningDense (lava_learning.py)
    float       the float rule (learning_float.py)

``present`` runs whole samples and returns their spike counts and the post spike raster;
``weights`` and ``theta`` are the learned state (integer units; the float rule's weights are
real-valued integer units and its theta the threshold raise in float units of v).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..learning.lowering import LoweredLayer
from ..learning.program import LayerProgram, RewardUnit
from ..learning.rules import LearningRule

TRACE_TOP = 127


def frozen_program(program: LayerProgram) -> LayerProgram:
    """``program`` with learning off: a rule that changes nothing, no reward unit (the answer
    of a sample is its spikes, which the rule does not touch within the sample)."""
    rule = LearningRule(dw="0*y0", t_epoch=program.rule.t_epoch, rng_seed=program.rule.rng_seed)
    return dataclasses.replace(program, rule=rule, reward=RewardUnit(), tag_1=None, tag_2=None)


class Learner:
    """A learning layer on one target (see the module docstring)."""

    target: str
    exact: bool = True  # integer state (bit-exact with Lava)

    def __init__(self, lowered: LoweredLayer, sample_steps: int):
        self.lowered, self.sample_steps = lowered, int(sample_steps)

    def present(self, pre: np.ndarray, rewards: np.ndarray | None = None, labels: np.ndarray | None = None) -> dict:
        """``pre`` (samples, steps, n_pre) spikes; ``rewards`` (samples, steps, n_post) in y units
        (given rewards); ``labels`` (samples,) for the first-spike rule. Returns "spike_counts"
        (samples, n_post) and "raster" (samples * steps, n_post) uint8."""
        n, steps, n_pre = pre.shape
        if steps != self.sample_steps:
            raise ValueError(f"samples of {steps} steps; this learner takes {self.sample_steps}")
        flat = pre.reshape(n * steps, n_pre)
        kind = self.lowered.program.reward.kind
        flat_rewards = None if kind != "given" else self._rewards(np.asarray(rewards).reshape(n * steps, -1))
        flat_labels = None if kind != "first-spike" else np.repeat(np.asarray(labels, np.int64), steps)
        raster = self._run(flat, flat_rewards, flat_labels)
        return {"spike_counts": raster.reshape(n, steps, -1).sum(axis=1, dtype=np.int64), "raster": raster}

    def _rewards(self, rewards: np.ndarray) -> np.ndarray:
        return np.clip(np.round(rewards), -TRACE_TOP, TRACE_TOP).astype(np.int32)

    def set_rates(self, reward: float, punishment: float) -> None:
        """The first-spike reward unit's reward and punishment (y units), from the next sample
        on: what the host writes into the chip's reward registers between samples."""
        r, p = (int(np.clip(np.round(v), 0, TRACE_TOP)) for v in (reward, punishment))
        self._set_rates(r, p)

    def _set_rates(self, reward, punishment) -> None:
        raise NotImplementedError

    def thresholds(self) -> np.ndarray:
        """The post neurons' thresholds now (the register the host reads and writes)."""
        return self.theta()

    def set_thresholds(self, theta: np.ndarray) -> None:
        """Write the post neurons' thresholds (between samples)."""
        raise NotImplementedError

    def set_weights(self, weights: np.ndarray) -> None:
        """Write the learning synapses' weights (integer units; the float rule's real-valued), between samples."""
        raise NotImplementedError

    def _run(self, pre, rewards, labels) -> np.ndarray:
        raise NotImplementedError

    def weights(self) -> np.ndarray:
        raise NotImplementedError

    def theta(self) -> np.ndarray:
        raise NotImplementedError

    def answers(self, pre: np.ndarray, v_spike: bool = False):
        """The layer's spikes (samples * steps, n_post) on ``pre`` (samples, steps, n_pre) with
        learning off, as the chip runs the layer (k-WTA included), from the learned state; the
        learner itself is not changed. With ``v_spike`` also each step's v before the reset
        (what k-WTA and the reward unit compare): (raster, v). Bit-exact targets answer on the
        CPU backend's engine (identical to Lava's, tests/test_learning_lava.py)."""
        from .learning_engine import LearningEngine

        engine = LearningEngine(frozen_program(self.lowered.program))
        engine.weights[...] = self.weights()
        engine.theta[...] = self.theta()
        n, steps, n_pre = pre.shape
        out = engine.run(pre.reshape(n * steps, n_pre), resets=range(0, n * steps, steps), raster=True, record=("v_spike",) if v_spike else ())
        return (out["raster"], out["v_spike"]) if v_spike else out["raster"]

    def close(self) -> None:
        """Release what the learner holds (Lava's runtime)."""


class _EngineLearner(Learner):
    """The numba engine or the numpy reference: the same ``run``, resets before every sample."""

    def __init__(self, lowered: LoweredLayer, sample_steps: int, layer):
        super().__init__(lowered, sample_steps)
        self.layer = layer

    def _run(self, pre, rewards, labels) -> np.ndarray:
        out = self.layer.run(pre, rewards=rewards, labels=labels, resets=range(0, len(pre), self.sample_steps), raster=True)
        return out["raster"]


class CpuLearner(_EngineLearner):
    target = "cpu"

    def __init__(self, lowered: LoweredLayer, sample_steps: int):
        from .learning_engine import LearningEngine

        super().__init__(lowered, sample_steps, LearningEngine(lowered.program))

    def _set_rates(self, reward, punishment) -> None:
        self.layer.set_rates(reward, punishment)

    def set_thresholds(self, theta: np.ndarray) -> None:
        self.layer.theta[...] = theta

    def set_weights(self, weights: np.ndarray) -> None:
        self.layer.weights[...] = weights

    def weights(self) -> np.ndarray:
        return self.layer.weights.astype(np.int64)

    def theta(self) -> np.ndarray:
        return self.layer.theta.astype(np.int64)


class ReferenceLearner(_EngineLearner):
    target = "cpu-numpy"

    def __init__(self, lowered: LoweredLayer, sample_steps: int):
        from ..learning.reference import ReferenceLayer

        super().__init__(lowered, sample_steps, ReferenceLayer(lowered.program))

    def _set_rates(self, reward, punishment) -> None:
        self.layer.set_rates(reward, punishment)

    def set_thresholds(self, theta: np.ndarray) -> None:
        self.layer.state.theta = np.asarray(theta).astype(np.int32)

    def set_weights(self, weights: np.ndarray) -> None:
        self.layer.state.weights = np.asarray(weights).astype(self.layer.state.weights.dtype)

    def weights(self) -> np.ndarray:
        return self.layer.state.weights.astype(np.int64)

    def theta(self) -> np.ndarray:
        return self.layer.state.theta.astype(np.int64)


class FloatLearner(_EngineLearner):
    target = "float"
    exact = False

    def __init__(self, lowered: LoweredLayer, sample_steps: int, layer):
        from .learning_float import FloatLearningLayer

        super().__init__(lowered, sample_steps, FloatLearningLayer(lowered, layer))

    def _rewards(self, rewards: np.ndarray) -> np.ndarray:
        return np.clip(rewards, -TRACE_TOP, TRACE_TOP).astype(np.float64)

    def set_rates(self, reward: float, punishment: float) -> None:
        self.layer.reward_value, self.layer.punishment_value = (float(np.clip(v, 0.0, TRACE_TOP)) for v in (reward, punishment))

    def set_thresholds(self, theta: np.ndarray) -> None:
        self.layer.theta = np.asarray(theta, np.float64).copy()

    def set_weights(self, weights: np.ndarray) -> None:
        self.layer.weights = np.asarray(weights, np.float64).copy()

    def answers(self, pre: np.ndarray, v_spike: bool = False):
        import copy
        import dataclasses

        layer = copy.deepcopy(self.layer)
        layer.rule = dataclasses.replace(layer.rule, products=())
        n, steps, n_pre = pre.shape
        out = layer.run(pre.reshape(n * steps, n_pre), resets=range(0, n * steps, steps), raster=True, record=("v_spike",) if v_spike else ())
        return (out["raster"], out["v_spike"]) if v_spike else out["raster"]

    def weights(self) -> np.ndarray:
        return self.layer.weights.copy()

    def theta(self) -> np.ndarray:
        return self.layer.theta.copy()


class LavaLearner(Learner):
    target = "loihi-sim"

    def __init__(self, lowered: LoweredLayer, sample_steps: int, total_samples: int):
        from .lava_learning import LavaLearningLayer

        super().__init__(lowered, sample_steps)
        self.layer = LavaLearningLayer(lowered.program, sample_steps=sample_steps, total_steps=total_samples * sample_steps)

    def _run(self, pre, rewards, labels) -> np.ndarray:
        return self.layer.run(pre, rewards=rewards, labels=labels)["spikes"].astype(np.uint8)

    def _set_rates(self, reward, punishment) -> None:
        self.layer.set_rates(reward, punishment)

    def thresholds(self) -> np.ndarray:
        return self.layer.thresholds().astype(np.int64)

    def set_thresholds(self, theta: np.ndarray) -> None:
        self.layer.set_thresholds(theta)

    def set_weights(self, weights: np.ndarray) -> None:
        self.layer.set_weights(weights)

    def weights(self) -> np.ndarray:
        return self.layer.weights_after()[-1].astype(np.int64)

    def theta(self) -> np.ndarray:
        return self.layer.theta().astype(np.int64)

    def close(self) -> None:
        self.layer.close()
