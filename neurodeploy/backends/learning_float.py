"""The float rule (the learning side of ``--target float``): what a learning layer would learn
without Loihi's bit widths, on the layer's float dynamics.

It steps as the chip steps (``learning/reference.py``), one step of synaptic delay and the
learning epoch included, so that differences from the fixed-point targets are quantisation
alone: the post neurons are the normalised layer's float dynamics (``NeuronDynamics``) with
a float adaptive threshold (theta_0 + theta, the raise decaying by exp(-dt/tau_theta)),
k-WTA and the reward unit; traces are real numbers (impulses added exactly, decays exact,
saturating at the top of the trace range); the rule (``lowering.FloatRule``: the requested
coefficients, not their 4-bit literals) is evaluated in real arithmetic with Lava's
dependencies (x0 / y0: the neuron spiked in the epoch, traces read at its last spike) and
weights clipped to [w_min, w_max], tags to their range. Weights are held in the chip's
integer weight units (real-valued); the synaptic input divides them by those units.
"""
from __future__ import annotations

import math

import numpy as np

from ..hardware.fixed_point import Reset
from ..ir.stages import NormalisedLayer
from ..learning import readout
from ..learning.lowering import LoweredLayer


def _keep(tau: float) -> float:
    """exp(-1/tau) per step; a tau of 0 erases the trace after its spike step (as Lava)."""
    return math.exp(-1.0 / tau) if tau > 0 else 0.0


class FloatLearningLayer:
    """A learning layer with the float rule; ``run`` has the engines' interface."""

    def __init__(self, lowered: LoweredLayer, layer: NormalisedLayer):
        p, rule = lowered.program, lowered.float_rule
        self.lowered, self.rule, self.dyn = lowered, rule, layer.neurons
        self.units = lowered.units[:, None]
        learning = next(q for q in layer.projections if q.source == p.source)
        w = learning.weight.toarray() if hasattr(learning.weight, "toarray") else np.asarray(learning.weight)
        self.weights = w * self.units  # integer weight units, real-valued
        recurrent = [q for q in layer.projections if q.source == layer.name]
        self.recurrent = None if not recurrent else (recurrent[0].weight.toarray() if hasattr(recurrent[0].weight, "toarray")
                                                     else np.asarray(recurrent[0].weight))
        n_post, n_pre = self.weights.shape
        entry = lowered.entry
        self.w_range = tuple(float(b) for b in lowered.weight_range)
        self.tag_1 = np.zeros((n_post, n_pre)) if p.tag_1 is None else np.asarray(p.tag_1, np.float64)
        self.tag_2 = np.zeros((n_post, n_pre)) if p.tag_2 is None else np.asarray(p.tag_2, np.float64)
        self.theta_plus = np.zeros(n_post) if entry.homeostasis is None else np.full(n_post, entry.homeostasis.theta_plus)
        tau_theta = math.inf if entry.homeostasis is None else entry.homeostasis.tau_theta
        self.theta_keep = 1.0 if math.isinf(tau_theta) else math.exp(-lowered.dt / tau_theta)
        self.theta = np.zeros(n_post)  # the raise above the resting threshold (float units of v)
        self.x_keep = np.array([_keep(t) for t in rule.x_tau])
        self.y_keep = np.array([_keep(t) for t in rule.y_tau])
        self.x_imp, self.y_imp = np.array(rule.x_impulse), np.array(rule.y_impulse)
        self.post_keep = _keep(rule.post_trace_tau) if rule.three_factor else 0.0
        unit = p.reward
        self.reward_kind, self.classes = unit.kind, unit.neuron_class
        scale = 0.0
        if entry.reward is not None:
            top_r = max(entry.reward.reward, entry.reward.punishment)
            scale = rule.reward_top / top_r if top_r > 0 else 0.0
        self.reward_value = 0.0 if entry.reward is None else entry.reward.reward * scale
        self.punishment_value = 0.0 if entry.reward is None else entry.reward.punishment * scale
        self.window, self.wta_k = unit.window, p.neurons.wta_k
        self.step = 0
        self._new_state(n_pre, n_post)

    def _new_state(self, n_pre: int, n_post: int) -> None:
        self.u = np.zeros(n_post)
        self.v = -self.dyn.v_offset.astype(np.float64).copy()
        self.a_ff = np.zeros(n_post)
        self.a_rec = np.zeros(n_post)
        self.x = np.zeros((2, n_pre))
        self.y = np.zeros((3, n_post))
        self.ny = np.zeros((3, n_post))
        self.tx = np.zeros(n_pre, np.int64)
        self.ty = np.zeros(n_post, np.int64)
        self.previous = np.zeros(n_post, bool)
        self.fired, self.winner, self.reward_left = 0, -1, 0

    def reset_sample(self) -> None:
        self._new_state(self.weights.shape[1], self.weights.shape[0])

    # ------------------------------------------------------------------ one step
    def _neurons(self, reward, label: int) -> np.ndarray:
        dyn = self.dyn
        if self.rule.three_factor:
            self.ny[0] = self.ny[0] * self.post_keep + self.rule.post_trace_impulse * self.previous
        self.u = dyn.alpha * self.u + self.a_ff + self.a_rec + dyn.current_bias
        self.v = dyn.beta * self.v + self.u + dyn.bias
        self.theta *= self.theta_keep
        spikes = self.v > dyn.threshold + self.theta
        if self.wta_k:
            budget = max(self.wta_k - self.fired, 0)
            if spikes.sum() > budget:
                order = np.lexsort((np.arange(spikes.size), -self.v))
                chosen = np.zeros_like(spikes)
                chosen[[i for i in order if spikes[i]][:budget]] = True
                spikes = chosen
            self.fired += int(spikes.sum())
        v_spike = self.v_spike = self.v.copy()
        self.v = np.where(spikes, 0.0, self.v) if dyn.reset is Reset.ZERO else np.where(spikes, self.v - dyn.reset_amount, self.v)
        self.theta = np.where(spikes, self.theta + self.theta_plus, self.theta)
        if self.rule.three_factor:
            self.ny[1], self.ny[2] = self._reward(spikes, v_spike, reward, label)
        self.previous = spikes
        return spikes

    def _reward(self, spikes, v_spike, reward, label):
        n = spikes.size
        if self.reward_kind == "given":
            r = np.asarray(reward, np.float64)
            return np.maximum(r, 0.0), np.maximum(-r, 0.0)
        y2, y3 = np.zeros(n), np.zeros(n)
        if self.reward_left:
            if self.classes[self.winner] == label:
                y2[self.winner] = self.reward_value
            else:
                y3[self.winner] = self.punishment_value
            self.reward_left -= self.reward_left > 0
        if self.winner < 0 and spikes.any():
            self.winner = int(readout.winner(spikes, v_spike))
            self.reward_left = self.window if self.window else -1
        return y2, y3

    def _step(self, pre: np.ndarray, reward, label: int) -> np.ndarray:
        self.step += 1
        rule = self.rule
        spikes = self._neurons(reward, label)
        if self.recurrent is not None:
            self.a_rec = self.recurrent @ spikes
        pre = pre.astype(bool)
        self.a_ff = (self.weights[:, pre].sum(axis=1)) / self.units[:, 0]
        within = self.step % rule.t_epoch or rule.t_epoch
        again = (self.tx > 0) & pre
        self.x[:, again] = np.minimum(self.x[:, again] + self.x_imp[:, None], rule.trace_max)
        self.tx[pre] = within
        if not rule.three_factor:
            again = (self.ty > 0) & spikes
            self.y[:, again] = np.minimum(self.y[:, again] + self.y_imp[:, None], rule.trace_max)
        self.ty[spikes] = within
        if rule.three_factor:
            self.y = self.ny.copy()
        if self.step % rule.t_epoch == 0:
            self._learn()
        return spikes

    def _history(self, start, keep, impulse, times, three_factor_y=False):
        rule = self.rule
        hist = np.zeros((rule.t_epoch + 1,) + start.shape)
        hist[0] = start
        for t in range(1, rule.t_epoch + 1):
            hist[t] = hist[t - 1] * keep[:, None] if not three_factor_y else hist[t - 1]
            spiked = times == t
            if not three_factor_y:
                hist[t][:, spiked] = np.minimum(hist[t][:, spiked] + impulse[:, None], rule.trace_max)
        return hist

    def _learn(self) -> None:
        rule = self.rule
        hx = self._history(self.x, self.x_keep, self.x_imp, self.tx)
        hy = self._history(self.y, self.y_keep, self.y_imp, self.ty, three_factor_y=rule.three_factor)
        self.x = hx[-1].copy()
        if not rule.three_factor:
            self.y = hy[-1].copy()
        x0, y0 = (self.tx > 0)[None, :], (self.ty > 0)[:, None]
        pre, post = np.arange(self.tx.size), np.arange(self.ty.size)
        views = {  # the trace each dependency reads: at the pre spike (x0), the post spike (y0), the epoch's end (u)
            "x0": {"x1": lambda: hx[self.tx, 0, pre][None, :], "x2": lambda: hx[self.tx, 1, pre][None, :],
                   **{f"y{k + 1}": (lambda k=k: hy[self.tx, k].T) for k in range(3)}},
            "y0": {"x1": lambda: hx[self.ty, 0], "x2": lambda: hx[self.ty, 1], **{f"y{k + 1}": (lambda k=k: hy[self.ty, k, post][:, None]) for k in range(3)}},
            "u": {"x1": lambda: hx[-1, 0][None, :], "x2": lambda: hx[-1, 1][None, :], **{f"y{k + 1}": (lambda k=k: hy[-1, k][:, None]) for k in range(3)}},
        }
        values = {"weights": self.weights, "tag_2": self.tag_2, "tag_1": self.tag_1}
        syn = {"w": self.weights, "d": self.tag_2, "t": self.tag_1}
        deltas = {name: 0.0 for name in values}
        changed = set()
        epoch_index = self.step // rule.t_epoch
        any_x0, any_y0 = bool(x0.any()), bool(y0.any())
        for p in rule.products:
            if p.dependency == "u":
                if epoch_index % 2 ** (p.decimate or 0):
                    continue
                gate = 1.0
            elif not (any_x0 if p.dependency == "x0" else any_y0):
                continue  # nobody spiked: the product is 0 everywhere
            else:
                gate = x0 if p.dependency == "x0" else y0
            term = p.coefficient * gate
            for var, const, sgn in p.factors:
                if var in syn:
                    value = syn[var] + const
                elif var in ("x0", "y0"):
                    value = (x0 if var == "x0" else y0) + const
                elif var == "C":
                    value = const
                else:
                    value = views[p.dependency][var]() + const
                term = term * (np.sign(value) if sgn else value)
            deltas[p.target] = deltas[p.target] + term
            changed.add(p.target)
        if "weights" in changed:
            self.weights = np.clip(self.weights + deltas["weights"], *self.w_range)
        if "tag_2" in changed:
            self.tag_2 = np.clip(self.tag_2 + deltas["tag_2"], 0.0, 255.0)
        if "tag_1" in changed:
            self.tag_1 = np.clip(self.tag_1 + deltas["tag_1"], -256.0, 255.0)
        self.tx[:] = 0
        self.ty[:] = 0

    # ------------------------------------------------------------------ the engines' interface
    def run(self, pre_spikes, *, rewards=None, labels=None, resets=(), snapshots=(), record=(), raster: bool = False) -> dict:
        pre_spikes = np.asarray(pre_spikes)
        resets, snaps = {int(r) for r in resets}, {int(s) for s in snapshots}
        counts = np.zeros(self.weights.shape[0], np.int64)
        spikes_out = np.zeros((len(pre_spikes), self.weights.shape[0]), np.uint8)
        v_spike = np.zeros((len(pre_spikes), self.weights.shape[0])) if "v_spike" in record else None
        after = []
        for t in range(len(pre_spikes)):
            if t in resets:
                self.reset_sample()
            spikes = self._step(pre_spikes[t], None if rewards is None else rewards[t], -1 if labels is None else int(labels[t]))
            counts += spikes
            spikes_out[t] = spikes
            if v_spike is not None:
                v_spike[t] = self.v_spike
            if t in snaps:
                after.append(self.weights.copy())
        out = {"spike_counts": counts, "weights_after": np.array(after).reshape(-1, *self.weights.shape)}
        if raster:
            out["raster"] = spikes_out
        if v_spike is not None:
            out["v_spike"] = v_spike
        return out
