"""A learning layer in integers: what the lowering produces and every learning engine runs.

    pre spikes ──> LearningDense (rule, weights, tags, traces) ──> post neurons ──┐
                                                                   ^   │ bAP, y1..y3
                                   recurrent Dense (not learning) ─┘<──┘

``LayerProgram`` holds the integers of one learning layer exactly as Lava's processes take
them: the rule (``rules.LearningRule``), the initial weights and tags of the
``LearningDense``, its sign mode, weight bits and exponent, the post neurons
(``PostNeurons``: Loihi's CUBA neuron with per-neuron parameters, an adaptive threshold,
k winners per sample, and for three-factor rules the post trace y1 and the reward y2 /
punishment y3 it sends), an optional non-learning recurrent ``Dense`` among the post neurons
(lateral inhibition), and how the reward is made (``RewardUnit``).

The adaptive threshold is the arithmetic of the extended LIF compartment's theta (issue 18:
``theta = int32(decay(int32(theta - theta_0), dtheta) + theta_0)`` each step before the spike
test, ``theta += theta_step`` at a spike, theta_0 = vth << 6), so that a neuron that learns its
threshold and the same neuron deployed afterwards cannot disagree. Unlike u and v, theta is
not reset between samples: it is the homeostatic state Diehl & Cook's neurons carry.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..hardware.fixed_point import Reset
from .rules import LearningRule

SIGN_MODES = ("mixed", "excitatory", "inhibitory")
REWARD_KINDS = ("none", "given", "first-spike")
_PER_NEURON = ("du", "dv", "vth", "bias_mant", "bias_exp", "v_init", "reset_sub", "dtheta", "theta_step")


# --------------------------------------------------------------------------- Lava's weight storage
def clip_weights(weights: np.ndarray, sign_mode: str, num_bits: int = 8) -> np.ndarray:
    """utils/weightutils.py clip_weights: mixed -2**b..2**b-1, excitatory 0..2**b-1,
    inhibitory -(2**b-1)..0."""
    w = weights.astype(np.int32)
    if sign_mode == "inhibitory":
        return -np.clip(-w, 0, 2 ** num_bits - 1)
    low = -(2 ** num_bits) if sign_mode == "mixed" else 0
    return np.clip(w, low, 2 ** num_bits - 1)


def truncate_weights(weights: np.ndarray, sign_mode: str, num_weight_bits: int) -> np.ndarray:
    """utils/weightutils.py truncate_weights: drop 8 - bits (+1 in mixed mode) LSBs."""
    w = weights.copy().astype(np.int32)
    drop = 8 - num_weight_bits + (sign_mode == "mixed")
    if sign_mode == "inhibitory":
        return -((-w >> drop) << drop)
    return (w >> drop) << drop


@dataclass(frozen=True)
class PostNeurons:
    """The learning layer's neurons in integers (per-neuron arrays of length n)."""

    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray  # threshold mantissa: theta_0 = vth << 6
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    v_init: np.ndarray  # v at every sample start
    reset: Reset  # ZERO or SUBTRACT
    reset_sub: np.ndarray
    dtheta: np.ndarray  # 12-bit decay of theta - theta_0 (0: none)
    theta_step: np.ndarray  # added to theta at a spike (0: a fixed threshold)
    wta_k: int = 0  # at most k spikes in the layer per sample (0: no limit)

    def __post_init__(self):
        object.__setattr__(self, "reset", Reset.of(self.reset))
        n = max(np.size(getattr(self, name)) for name in _PER_NEURON)
        for name in _PER_NEURON:  # one value per neuron
            object.__setattr__(self, name, np.array(np.broadcast_to(np.asarray(getattr(self, name)), (n,)), dtype=np.int64))

    @property
    def size(self) -> int:
        return int(np.size(self.du))

    def broadcast(self, n: int) -> "PostNeurons":
        """The same parameters for n neurons (from one value per neuron, or one for all)."""
        if self.size == n:
            return self
        if self.size != 1:
            raise ValueError(f"post neurons: {self.size} parameter values for {n} neurons")
        values = {name: np.full(n, getattr(self, name)[0]) for name in _PER_NEURON}
        return PostNeurons(**values, reset=self.reset, wta_k=self.wta_k)

    @property
    def adaptive(self) -> bool:
        return bool(np.any(self.theta_step != 0) or np.any(self.dtheta != 0))

    def theta_0(self) -> np.ndarray:
        """The resting threshold vth << 6 (int32, as Lava scales its thresholds)."""
        return np.left_shift(self.vth.astype(np.int32), 6)


@dataclass(frozen=True)
class RecurrentDense:
    """A non-learning Lava ``Dense`` from the post neurons back to them (``PyDenseModelBitAcc``)."""

    weights: np.ndarray  # (post, post) int, as given to Dense
    weight_exp: int = 0
    num_weight_bits: int = 8
    sign_mode: str = "inhibitory"

    def stored(self) -> np.ndarray:
        """The weights as Dense holds them after its first step: clipped to 8 bits by sign mode, truncated."""
        return truncate_weights(clip_weights(np.asarray(self.weights), self.sign_mode, 8), self.sign_mode, self.num_weight_bits)


@dataclass(frozen=True)
class RewardUnit:
    """Where a three-factor rule's reward comes from.

    ``given``: a signed reward per step and post neuron, handed in with the input (per sample
    or per step); ``first-spike``: Mozafari's rule, evaluated by the layer itself: the first
    neuron to spike in a sample (ties: the largest v, then the lowest index) wins; if its
    class (``neuron_class``) is the sample's label it receives ``reward`` on y2, else
    ``punishment`` on y3, from the next step for ``window`` steps (0: to the end of the sample).
    A negative reward goes to y3 as its magnitude (Lava loses negative y2 at a post spike,
    docs/learning.md), so the rule subtracts ``t * y3``."""

    kind: str = "none"
    neuron_class: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    reward: int = 0
    punishment: int = 0
    window: int = 0

    def __post_init__(self):
        if self.kind not in REWARD_KINDS:
            raise ValueError(f"unknown reward kind {self.kind!r}")
        object.__setattr__(self, "neuron_class", np.asarray(self.neuron_class, dtype=np.int64))


@dataclass(frozen=True)
class LayerProgram:
    """One learning layer, in Lava's integers (see the module docstring)."""

    name: str
    source: str
    rule: LearningRule
    weights: np.ndarray  # (post, pre) initial weights as given to LearningDense (it truncates them once)
    sign_mode: str
    num_weight_bits: int
    weight_exp: int
    neurons: PostNeurons
    tag_1: np.ndarray | None = None
    tag_2: np.ndarray | None = None
    recurrent: RecurrentDense | None = None
    reward: RewardUnit = field(default_factory=RewardUnit)

    def __post_init__(self):
        if self.sign_mode not in SIGN_MODES:
            raise ValueError(f"unknown sign mode {self.sign_mode!r}")
        object.__setattr__(self, "weights", np.asarray(self.weights))
        object.__setattr__(self, "neurons", self.neurons.broadcast(self.n_post))
        if self.rule.three_factor != (self.reward.kind != "none"):
            raise ValueError("a three-factor rule needs a reward unit, and a reward unit a three-factor rule")

    @property
    def n_pre(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_post(self) -> int:
        return int(self.weights.shape[0])
