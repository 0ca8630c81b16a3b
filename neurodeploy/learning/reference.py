"""The arithmetic of Lava 0.10's fixed-point ("bit approximate") on-chip learning, in numpy:
the specification every learning engine is held to, and itself bit-exact with Lava.

One learning layer (``program.LayerProgram``) is stepped as Lava steps its processes
(docs/learning.md states each operation with its place in Lava's source):

    post neurons   (3F: y1 = floor(y1 e^(-1/tau) + impulse s[t-1])); u, v of Loihi's CUBA
                   neuron on a_in = LearningDense's a_buff + recurrent Dense's a_buff (int32);
                   theta decays towards theta_0; spike where v > theta, at most k per sample
                   (k-WTA: the largest v first, ties by index); reset v; theta += theta_step;
                   the reward unit sets y2 / y3; send bAP, y1, y2, y3
    LearningDense  send a_buff; a_buff = sum of the weights of this step's pre spikes, shifted
                   by weight_exp; pre spike times (repeated spikes add their impulse now), two
                   trace random draws, post spike times (2F: impulses of repeated spikes; 3F: y
                   traces overwritten by the neuron's), two more draws
    recurrent      send a_buff; a_buff = sum of the weights of this step's post spikes
    learning       every t_epoch steps: weight random draw; x0, y0; trace histories over the
                   epoch; new traces; dw, dd, dt (all from the values before the phase),
                   stochastically rounded and clipped; spike times cleared

Between samples (``reset_sample``) u, v, the Dense buffers, traces, spike times, RewardLIF's
y and last spikes, the k-WTA count and the reward unit start again; weights, tags, theta, the
time step and the random streams carry on.
"""
from __future__ import annotations

import dataclasses
import typing as ty
from dataclasses import dataclass

import numpy as np

from ..hardware.fixed_point import Reset
from . import readout
from .program import LayerProgram, PostNeurons, clip_weights, truncate_weights
from .rules import (
    ACC_MAX,
    ACC_MIN,
    FACTOR_WIDTH,
    ROUND_UNIT,
    SYN_VAR_SHIFT,
    SYN_VARS,
    TRACE_MAX,
    W_ACCUMULATOR_U,
    W_S_MANT,
    W_TRACE,
    W_TRACE_FRACTIONAL_PART,
    Factor,
    LearningRule,
    Product,
)


# --------------------------------------------------------------------------- random streams
class RandomStream:
    """The values Lava reads from one ``np.random.default_rng(seed)``.

    Lava draws one value at construction and one per ``advance`` (``.random(1)[0]`` for
    floats, ``.integers(0, 2**7, size=1, dtype=int)[0]`` for ints; learning/random.py).
    Drawing them in blocks gives the same sequence with numpy's PCG64 (checked against
    Lava's own generators in test_learning_vs_lava.py).
    """

    def __init__(self, seed: int, kind: str, block: int = 4096):
        self._rng = np.random.default_rng(seed=seed)
        self._kind, self._block = kind, block
        self._values, self._next = self._draw(), 0
        self.value = self._take()

    def _draw(self) -> np.ndarray:
        if self._kind == "float":
            return self._rng.random(self._block)
        return self._rng.integers(0, 2 ** W_TRACE, size=self._block, dtype=int)

    def _take(self):
        if self._next == len(self._values):
            self._values, self._next = self._draw(), 0
        self._next += 1
        return self._values[self._next - 1]

    def advance(self) -> None:
        self.value = self._take()


class TraceRandom:
    """Lava's TraceRandom: a float for decay rounding, an int 0..127 for impulse rounding."""

    def __init__(self, seed_decay: int, seed_impulse: int):
        self.decay = RandomStream(seed_decay, "float")
        self.impulse = RandomStream(seed_impulse, "int")

    def advance(self) -> None:
        self.decay.advance()
        self.impulse.advance()


def learning_randoms(rng_seed: int) -> tuple[TraceRandom, TraceRandom, RandomStream]:
    """x traces: seeds rng_seed, +1; y traces: +2, +3; weight rounding: seed 2, always
    (ConnVarRandom() is built with its default seed; connection.py _init_randoms)."""
    return (TraceRandom(rng_seed, rng_seed + 1), TraceRandom(rng_seed + 2, rng_seed + 3),
            RandomStream(2, "float"))


# --------------------------------------------------------------------------- traces
def stochastic_round(values, random, probabilities):
    """+1 where ``random < probability`` (learning/utils.py)."""
    return (values + np.asarray(random < probabilities).astype(int)).astype(int)


def decompose_impulse(impulse: float) -> tuple[int, int]:
    """Impulse -> (integer part, fraction in 1/256 units, np.round: half to even)."""
    whole = np.floor(impulse)
    return int(whole), int(np.round((impulse - whole) * 2 ** W_TRACE_FRACTIONAL_PART))


def add_impulse(trace, random, impulse_int, impulse_frac):
    """trace + int + (random < frac), clipped to 0..127.  ``random`` is an int 0..127
    compared with a fraction in 1/256 units (Lava's width mismatch, kept)."""
    return np.clip(stochastic_round(trace + impulse_int, random, impulse_frac), 0, TRACE_MAX)


def decay_trace(trace, tau, random: float):
    """One step of exp(-1/tau) decay, floored, +1 where random < the fraction dropped."""
    decayed = np.exp(-1 / tau) * trace
    return stochastic_round(np.floor(decayed), random, decayed % 1)


def trace_history(trace0, taus, impulses, spike_times, t_epoch, random: TraceRandom) -> np.ndarray:
    """Traces at each within-epoch step 0..t_epoch (Lava's _compute_trace_histories).

    ``trace0``: (k, n) values at the start of the learning phase; each step decays the
    rows with tau != 0 (rows with tau 0 become 0), then adds the impulse to neurons
    whose (last) spike time in the epoch is that step.  One random pair serves every
    neuron and every step of the epoch.
    """
    history = np.zeros((t_epoch + 1,) + trace0.shape, dtype=int)
    history[0] = trace0
    decaying = taus != 0
    imp_int = np.array([i for i, _ in impulses])[:, None]
    imp_frac = np.array([f for _, f in impulses])[:, None]
    for t in range(1, t_epoch + 1):
        history[t][decaying] = decay_trace(history[t - 1][decaying], taus[decaying][:, None],
                                           random.decay.value)
        spiked = np.where(spike_times == t)[0]
        history[t][:, spiked] = add_impulse(history[t][:, spiked], random.impulse.value, imp_int, imp_frac)
    return history


def evaluated_traces(x_hist, y_hist, tx, ty, needed: ty.Optional[set] = None) -> dict[str, np.ndarray]:
    """Trace values each dependency sees (connection.py _extract_applier_evaluated_traces):
    ``<trace>_x0`` at the pre neuron's spike time, ``<trace>_y0`` at the post neuron's,
    ``<trace>_u`` at the end of the epoch; time 0 (start of epoch) where it did not spike.
    Shapes broadcast to (post, pre).  ``needed`` limits the work to the names a rule uses."""
    pre, post = np.arange(len(tx)), np.arange(len(ty))
    views = {}
    for k, name in enumerate(("x1", "x2")):
        views[f"{name}_x0"] = lambda k=k: x_hist[tx, k, pre][None, :]
        views[f"{name}_y0"] = lambda k=k: x_hist[ty, k]                 # (post, pre)
        views[f"{name}_u"] = lambda k=k: x_hist[-1, k][None, :]
    for k, name in enumerate(("y1", "y2", "y3")):
        views[f"{name}_x0"] = lambda k=k: y_hist[tx, k].T               # (post, pre)
        views[f"{name}_y0"] = lambda k=k: y_hist[ty, k, post][:, None]
        views[f"{name}_u"] = lambda k=k: y_hist[-1, k][:, None]
    return {name: view() for name, view in views.items() if needed is None or name in needed}


def traces_used(products: ty.Iterable[Product]) -> set[str]:
    """Names like "y1_x0" of the evaluated traces a set of products reads."""
    return {f"{f.state_var}_{p.dependency}" for p in products for f in p.factors
            if f.state_var in ("x1", "x2", "y1", "y2", "y3")}


# --------------------------------------------------------------------------- learning rule
def factor_value(factor: Factor, dependency: str, args: dict):
    """A factor's value before saturation (learning_rule_applier.py _compute_factor)."""
    const = factor.const if factor.const is not None else 0
    var = factor.state_var
    if var in ("x0", "y0", "u"):
        return args[var] + const
    if var in ("x1", "x2", "y1", "y2", "y3"):
        return args[f"{var}_{dependency}"] + const
    if var in SYN_VARS:
        value = args[SYN_VARS[var]] + const
        return np.sign(value) if factor.is_sgn else value
    return const


def product_series(accumulator: np.ndarray, products: ty.Sequence[Product], args: dict) -> np.ndarray:
    """accumulator + sum of products, in int32, saturated to the 16-bit accumulator
    (LearningRuleApplierBitApprox.apply).  Per product: multiply dependency, factors
    (each clipped to its width) and mantissa in int32 (wrapping like Lava's in-place
    int32 products); shift right by (sum of factor widths + 4 - 15) if positive, then
    left by the stored exponent; clip; add; clip."""
    result = accumulator
    for product in products:
        term = np.ones(args["shape"], dtype=np.int32)
        term *= args[product.dependency]
        width = 0
        for factor in product.factors:
            w = FACTOR_WIDTH[factor.state_var]
            width += w
            value = np.clip(factor_value(factor, product.dependency, args), -(2 ** w), 2 ** w - 1)
            term *= np.asarray(value).astype(np.int32)
        width += W_S_MANT
        term *= product.mantissa
        term = np.right_shift(term, max(0, width - W_ACCUMULATOR_U))
        term = np.left_shift(term, product.exponent)
        term = np.clip(term, ACC_MIN, ACC_MAX)
        result = np.clip(result + term, ACC_MIN, ACC_MAX)
    return result


def update_synaptic_variable(name: str, values: np.ndarray, products, args: dict, random: float,
                             sign_mode: str) -> np.ndarray:
    """New weights / tag_2 / tag_1 (connection.py LearningConnectionModelBitApproximate
    ._apply_learning_rules): value << 7 into the accumulator, add the products,
    saturate by sign, stochastically round away the 7 LSBs, shift back, clip."""
    acc = product_series(values << SYN_VAR_SHIFT, products, args)
    if name == "weights" and sign_mode == "excitatory":
        acc = np.maximum(0, acc)
    elif name == "weights" and sign_mode == "inhibitory":
        acc = np.minimum(0, acc)
    elif name == "tag_2":
        acc = np.maximum(0, acc)
    # Lava: floor(acc / 128) + (random < frac(acc / 128)), in float64.  Both are exact
    # in integers: floor is the arithmetic shift, the fraction is (acc & 127) / 128,
    # and random < m / 128 <=> random * 128 < m (scaling by 2**7 is exact).
    new = (acc >> SYN_VAR_SHIFT) + ((acc & (ROUND_UNIT - 1)) > random * ROUND_UNIT)
    if name == "weights":
        return clip_weights(new, sign_mode)
    if name == "tag_2":
        return np.clip(new, 0, 2 ** 8 - 1)
    return np.clip(new, -(2 ** 8) - 1, 2 ** 8 - 1)




# --------------------------------------------------------------------------- neurons
def decay_towards_zero(x, keep) -> np.ndarray:
    """sign(x * keep) * (|x * keep| >> 12) with the product in int64, as int32 (Lava's decays)."""
    product = np.asarray(x).astype(np.int64) * np.asarray(keep).astype(np.int64)
    return (np.sign(product) * np.right_shift(np.abs(product), 12)).astype(np.int32)


def effective_bias(neurons: PostNeurons) -> np.ndarray:
    """bias_mant (int16 Var) shifted by bias_exp, in int32 (AbstractPyLifModelFixed.scale_bias)."""
    bias = neurons.bias_mant.astype(np.int16).astype(np.int32)
    exp = neurons.bias_exp.astype(np.int16)
    return np.where(exp >= 0, np.left_shift(bias, exp), np.right_shift(bias, -exp)).astype(np.int32)


def subthreshold(u, v, a_in, neurons: PostNeurons):
    """AbstractPyLifModelFixed.subthr_dynamics with per-neuron du, dv: (u, v), int32 wraps as in Lava."""
    u_new = decay_towards_zero(u, 4096 - (neurons.du + 1)) + np.left_shift(np.asarray(a_in, dtype=np.int32), 6)
    half = 2 ** 23
    wrapped = np.where(u_new > half, u_new - 2 * half, u_new)
    wrapped = np.where(wrapped <= -half, u_new + 2 * half, wrapped)
    u_new = wrapped.astype(np.int32)
    v_new = decay_towards_zero(v, 4096 - neurons.dv) + u_new + effective_bias(neurons)
    return u_new, np.clip(v_new, -half + 1, half - 1).astype(np.int32)


def decay_theta(theta, neurons: PostNeurons) -> np.ndarray:
    """theta relaxes towards theta_0: int32(decay(int32(theta - theta_0), dtheta) + theta_0)."""
    theta_0 = neurons.theta_0()
    offset = (np.asarray(theta).astype(np.int64) - theta_0).astype(np.int32)
    return (decay_towards_zero(offset, 4096 - neurons.dtheta).astype(np.int64) + theta_0).astype(np.int32)


def winners(candidates: np.ndarray, v: np.ndarray, budget: int) -> np.ndarray:
    """k-WTA: of the neurons over threshold, the ``budget`` with the largest v (ties: lowest index)."""
    if candidates.sum() <= budget:
        return candidates
    order = np.lexsort((np.arange(v.size), -v.astype(np.int64)))
    chosen = np.zeros_like(candidates)
    chosen[[i for i in order if candidates[i]][:budget]] = True
    return chosen


def reward_lif_y1(y1, previous_spikes, rule: LearningRule):
    """RewardLIF's post trace: floor(y1 * exp(-1/tau) + impulse * s[t-1])."""
    keep = np.exp(-1 / rule.post_trace_tau)
    return np.floor(y1 * keep + rule.post_trace_impulse * previous_spikes).astype(np.int32)


def dense_output(weights, pre_spikes, weight_exp: int) -> np.ndarray:
    """Sum of the weights of spiking inputs (int64), shifted by weight_exp, int32 on the wire."""
    acc = np.asarray(weights)[:, pre_spikes].astype(np.int64).sum(axis=1)
    acc = np.left_shift(acc, weight_exp) if weight_exp > 0 else np.right_shift(acc, -weight_exp)
    return acc.astype(np.int32)


# --------------------------------------------------------------------------- the layer
@dataclass
class State:
    """Everything that evolves; arrays are (post, pre) or per-neuron vectors."""

    weights: np.ndarray
    tag_1: np.ndarray
    tag_2: np.ndarray
    x: np.ndarray  # (2, pre): x1, x2
    y: np.ndarray  # (3, post): y1, y2, y3 as the Dense holds them
    tx: np.ndarray
    ty: np.ndarray
    u: np.ndarray
    v: np.ndarray
    theta: np.ndarray
    a_buff: np.ndarray
    a_rec: np.ndarray
    previous_spikes: np.ndarray
    neuron_y: np.ndarray  # (3, post): the y1, y2, y3 the 3F neuron sends
    fired: int = 0  # spikes of the layer in this sample (k-WTA)
    winner: int = -1  # the reward unit's first spiker in this sample (-1: none yet)
    reward_steps: int = 0  # steps of reward still to send (-1: to the end of the sample)
    step: int = 0
    v_spike: np.ndarray | None = None  # v before this step's reset (the v that k-WTA and the reward unit compare)


RECORDED = ("weights", "tag_1", "tag_2", "x1", "x2", "tx", "y1", "y2", "y3", "ty", "u", "v", "theta", "spikes")
V_SPIKE = "v_spike"  # also recordable: v before the step's reset (Lava's monitors read v after it)


class ReferenceLayer:
    """pre raster -> LearningDense -> post neurons (+ recurrent Dense), stepped as Lava steps it."""

    def __init__(self, program: LayerProgram):
        p = program
        n_post, n_pre = p.n_post, p.n_pre
        self.program, self.rule, self.neurons = p, p.rule, p.neurons
        self.recurrent_weights = None if p.recurrent is None else p.recurrent.stored()
        self.products = p.rule.products
        self.traces_needed = traces_used(q for ps in self.products.values() for q in ps)
        rule = p.rule
        self.x_taus = np.array([rule.x1_tau, rule.x2_tau], dtype=float)
        self.y_taus = np.array([rule.y1_tau, rule.y2_tau, rule.y3_tau], dtype=float)
        self.x_impulses = [decompose_impulse(rule.x1_impulse), decompose_impulse(rule.x2_impulse)]
        self.y_impulses = [decompose_impulse(getattr(rule, f"y{k}_impulse")) for k in (1, 2, 3)]
        self.x_random, self.y_random, self.weight_random = learning_randoms(rule.rng_seed)
        zeros = lambda: np.zeros((n_post, n_pre), dtype=int)  # noqa: E731
        self.state = State(
            weights=truncate_weights(np.asarray(p.weights), p.sign_mode, p.num_weight_bits).astype(int),
            tag_1=zeros() if p.tag_1 is None else np.asarray(p.tag_1).astype(int),
            tag_2=zeros() if p.tag_2 is None else np.asarray(p.tag_2).astype(int),
            x=np.zeros((2, n_pre), dtype=int), y=np.zeros((3, n_post), dtype=int),
            tx=np.zeros(n_pre, dtype=int), ty=np.zeros(n_post, dtype=int),
            u=np.zeros(n_post, dtype=np.int32), v=self.neurons.v_init.astype(np.int32), theta=self.neurons.theta_0(),
            a_buff=np.zeros(n_post, dtype=np.int32), a_rec=np.zeros(n_post, dtype=np.int32),
            previous_spikes=np.zeros(n_post, dtype=bool), neuron_y=np.zeros((3, n_post), dtype=np.int32))

    def set_rates(self, reward: int, punishment: int) -> None:
        """The first-spike reward unit's y2 reward and y3 punishment from now on (the host's write between samples)."""
        unit = dataclasses.replace(self.program.reward, reward=int(reward), punishment=int(punishment))
        self.program = dataclasses.replace(self.program, reward=unit)

    def reset_sample(self) -> None:
        """The sample state back to its start (see the module docstring); weights, tags, theta carry on."""
        s = self.state
        for name in ("u", "a_buff", "a_rec", "x", "y", "tx", "ty", "neuron_y", "previous_spikes"):
            setattr(s, name, np.zeros_like(getattr(s, name)))
        s.v = self.neurons.v_init.astype(np.int32)
        s.fired, s.winner, s.reward_steps = 0, -1, 0

    # one step ---------------------------------------------------------------
    def step(self, pre_spikes: np.ndarray, reward: np.ndarray | None = None, label: int = -1) -> np.ndarray:
        s = self.state
        s.step += 1
        post_spikes = self._neuron_step(reward, label)
        if self.recurrent_weights is not None:
            s.a_rec = dense_output(self.recurrent_weights, post_spikes, self.program.recurrent.weight_exp)
        pre_spikes = np.asarray(pre_spikes).astype(bool)
        s.a_buff = dense_output(s.weights, pre_spikes, self.program.weight_exp)
        self._record_pre_spikes(pre_spikes)
        self.x_random.advance()
        self.y_random.advance()
        self._record_post_spikes(post_spikes)
        if self.rule.three_factor:
            s.y = s.neuron_y.astype(int)
        self.x_random.advance()
        self.y_random.advance()
        if s.step % self.rule.t_epoch == 0:
            self._learn()
        return post_spikes

    def _neuron_step(self, reward, label: int) -> np.ndarray:
        s, neurons = self.state, self.neurons
        if self.rule.three_factor:
            s.neuron_y[0] = reward_lif_y1(s.neuron_y[0], s.previous_spikes, self.rule)
        # the neuron's InPort adds the Dense outputs in int32 (ports.py PyInPortVectorDense.recv)
        a_in = s.a_buff.astype(np.int32) + s.a_rec.astype(np.int32)
        s.u, s.v = subthreshold(s.u, s.v, a_in, neurons)
        if neurons.adaptive:
            s.theta = decay_theta(s.theta, neurons)
        spikes = s.v > s.theta
        if neurons.wta_k:
            spikes = winners(spikes, s.v, max(neurons.wta_k - s.fired, 0))
            s.fired += int(spikes.sum())
        v_at_spike = s.v_spike = s.v.copy()
        if neurons.reset is Reset.ZERO:
            s.v = np.where(spikes, 0, s.v).astype(np.int32)
        else:
            s.v = np.where(spikes, (s.v.astype(np.int64) - neurons.reset_sub).astype(np.int32), s.v).astype(np.int32)
        if neurons.adaptive:
            s.theta = np.where(spikes, (s.theta.astype(np.int64) + neurons.theta_step).astype(np.int32), s.theta).astype(np.int32)
        if self.rule.three_factor:
            s.neuron_y[1], s.neuron_y[2] = self._reward(spikes, v_at_spike, reward, label)
        s.previous_spikes = spikes
        return spikes

    def _reward(self, spikes, v_at_spike, reward, label: int):
        """(y2, y3) this step: the given reward split by sign, or the first-spike rule's."""
        unit, s, n = self.program.reward, self.state, self.program.n_post
        if unit.kind == "given":
            r = np.asarray(reward).astype(np.int64)
            return np.maximum(r, 0).astype(np.int32), np.maximum(-r, 0).astype(np.int32)
        y2, y3 = np.zeros(n, np.int32), np.zeros(n, np.int32)
        if s.reward_steps != 0:
            correct = unit.neuron_class[s.winner] == label
            (y2 if correct else y3)[s.winner] = unit.reward if correct else unit.punishment
            s.reward_steps -= s.reward_steps > 0
        if s.winner < 0 and spikes.any():
            s.winner = int(readout.winner(spikes, v_at_spike))
            s.reward_steps = unit.window if unit.window else -1
        return y2, y3

    def _within_epoch(self) -> int:
        t = self.state.step % self.rule.t_epoch
        return t if t else self.rule.t_epoch

    def _record_pre_spikes(self, spikes):
        """A repeated spike within the epoch adds its impulse now (rounding up any fraction:
        random 0); the spike time is the last one (connection.py _process_pre_spikes)."""
        s = self.state
        again = (s.tx > 0) & spikes
        for k in (0, 1):
            s.x[k, again] = add_impulse(s.x[k, again], 0, *self.x_impulses[k])
        s.tx[spikes] = self._within_epoch()

    def _record_post_spikes(self, spikes):
        s = self.state
        again = (s.ty > 0) & spikes
        imp_int = np.array([i for i, _ in self.y_impulses])[:, None]
        imp_frac = np.array([f for _, f in self.y_impulses])[:, None]
        s.y[:, again] = add_impulse(s.y[:, again], self.y_random.impulse.value, imp_int, imp_frac)
        s.ty[spikes] = self._within_epoch()

    def _learn(self):
        """connection.py run_lrn: advance the weight random, histories, new traces, rules, reset."""
        s, rule = self.state, self.rule
        self.weight_random.advance()
        x_hist = trace_history(s.x, self.x_taus, self.x_impulses, s.tx, rule.t_epoch, self.x_random)
        y_hist = trace_history(s.y, self.y_taus, self.y_impulses, s.ty, rule.t_epoch, self.y_random)
        s.x = x_hist[-1].copy()
        if not rule.three_factor:
            s.y = y_hist[-1].copy()
        args = {"shape": s.weights.shape, "x0": (s.tx > 0)[None, :], "y0": (s.ty > 0)[:, None],
                "weights": s.weights, "tag_2": s.tag_2, "tag_1": s.tag_1, "u": self._u()}
        args.update(evaluated_traces(x_hist, y_hist, s.tx, s.ty, self.traces_needed))
        for name, products in self.products.items():
            new = update_synaptic_variable(name, getattr(s, name), products, args, self.weight_random.value,
                                           self.program.sign_mode)
            setattr(s, name, new)
        s.tx = np.zeros_like(s.tx)
        s.ty = np.zeros_like(s.ty)

    def _u(self) -> int:
        k = self.rule.decimate_exponent
        if k is None:
            return 0
        return 1 if int(self.state.step / self.rule.t_epoch) % 2 ** k == 0 else 0

    # recording --------------------------------------------------------------
    def snapshot(self, spikes, names: ty.Iterable[str] = RECORDED) -> dict:
        """Copies of the named state values (RECORDED), as Lava reads them at the end of a step."""
        s = self.state
        views = {"weights": s.weights, "tag_1": s.tag_1, "tag_2": s.tag_2, "x1": s.x[0], "x2": s.x[1],
                 "tx": s.tx, "y1": s.y[0], "y2": s.y[1], "y3": s.y[2], "ty": s.ty, "u": s.u, "v": s.v,
                 "theta": s.theta, "spikes": spikes, V_SPIKE: s.v_spike if s.v_spike is not None else s.v}
        return {name: views[name].copy() for name in names}

    def run(self, pre_spikes, *, rewards=None, labels=None, resets: ty.Iterable[int] = (), snapshots: ty.Iterable[int] = (),
            record: ty.Iterable[str] = (), raster: bool = False) -> dict:
        """Step ``len(pre_spikes)`` steps (the engines' interface): ``rewards`` (steps, post)
        signed for a given reward; ``labels`` (steps,) the sample's class for the first-spike
        rule; ``resets``: local steps before which the sample state is reset; ``snapshots``:
        local steps after which the weights are copied ("weights_after"); ``record``: names of
        RECORDED per step. Also returns "spike_counts" per post neuron, and with ``raster`` the
        post spikes (steps, post) as uint8."""
        pre_spikes = np.asarray(pre_spikes)
        record, resets, snaps = tuple(record), {int(r) for r in resets}, {int(s) for s in snapshots}
        rows = {name: [] for name in record}
        after, counts = [], np.zeros(self.program.n_post, np.int64)
        spikes_out = np.zeros((len(pre_spikes), self.program.n_post), np.uint8)
        for t in range(len(pre_spikes)):
            if t in resets:
                self.reset_sample()
            spikes = self.step(pre_spikes[t], None if rewards is None else rewards[t], -1 if labels is None else int(labels[t]))
            counts += spikes
            spikes_out[t] = spikes
            if record:
                snap = self.snapshot(spikes, record)
                for name in record:
                    rows[name].append(snap[name])
            if t in snaps:
                after.append(self.state.weights.copy())
        out = {name: np.array(v) for name, v in rows.items()}
        out["spike_counts"] = counts
        out["weights_after"] = np.array(after).reshape(-1, *self.state.weights.shape)
        if raster:
            out["raster"] = spikes_out
        return out
