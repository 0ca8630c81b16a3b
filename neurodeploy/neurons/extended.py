"""The extended LIF compartment: Loihi's CUBA neuron with the state a programmable (Loihi 2)
neuron adds, for refractory periods, adaptive thresholds and the reset variants of snnTorch
that Loihi's built-in neuron cannot express.

Float form (``ExtendedDynamics``; per neuron, per step):

    held   = count > 0
    u[t]   = alpha u[t-1] + a[t] + current_bias           (0 while held, if hold_current)
                                                           (a constant current enters u itself, not v)
    v[t]   = beta v[t-1] + u[t] + bias                     (unchanged while held; count -= 1)
    theta  = threshold + theta_keep (theta - threshold)    (relaxes to the resting threshold)
    r      = r_keep r                                      (refractory state, ATRLIF's)
    guard  = v[t-1] > theta[t-1]                           (only with ``guard``)
    spike  = not held and v - r > theta (1 + guard)        (>= with ``inclusive``)
    on a spike: v = 0 (ZERO) or v -= reset_amount (SUBTRACT; 0 keeps v);  r += r_jump theta;
                theta += theta_step;  count = refractory;  u = v = 0 if hold_current

Integer form (``ExtendedNeurons``): Loihi's CUBA registers (du, dv, vth, bias, 24-bit u
and v, ``hardware/fixed_point.py``) plus theta and r (int32, as in Lava's ``ATRLIF``: never
clipped, their sums wrap in int32), a refractory counter and per-neuron parameters:

    u     = wrap24(int32(decay(u, du + 1) + (a_in << 6) + u_bias));  u = 0 where held and hold_current
    v     = clip24(decay(v, dv) + u + bias) where not held, else v;  count -= held
    theta = int32(decay(int32(theta - theta_0), dtheta) + theta_0),  theta_0 = vth << 6
    r     = int32(decay(r, dr))
    spike = not held and int32(v - r) > int32(theta (1 + guard))   (>= with ``inclusive``)
    on a spike: v = 0 | int32(v - reset_sub);  r = int32(r + int32(r_jump theta));
                theta = int32(theta + theta_step);  count = refractory;  u = v = 0 if hold_current

``decay(x, d)`` keeps (4096 - d) / 4096 of x towards zero (product in int64); ``u_bias`` is the
constant current in state units (Loihi's built-in neuron has none: CUBA folds it into v's bias
as its steady state, which after each held reset would be wrong). With r_jump 2, no v reset,
``inclusive``, no current bias and no refractory counter this is Lava's ``PyATRLIFModelFixed``
operation for operation (with its deltas d / 4096); the Lava backend then runs Lava's own
``ATRLIF`` where one set of parameters serves the layer (``lava_process``).

Uses: a refractory period (v held for k steps after a spike, as Loihi 1's refractory delay
and Lava's ``LIFRefractory``), snnTorch's zero reset with delay in Synaptic, Lapicque,
RLeaky, RSynaptic (a one-step refractory period), Alpha's zero reset (u and v held for two
steps), snnTorch's subtraction without delay (``guard``: the threshold doubles while the
stored v is above it), adaptive thresholds (ALIF, ATRLIF, homeostasis: a per-neuron jump
``theta_step`` relaxing with ``theta_keep``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from ..errors import InvalidValueError
from ..hardware import fixed_point as fx
from ..hardware.fixed_point import Reset
from ..hardware.profile import ArithmeticSpec
from .base import NeuronDynamics
from .compartment import Compartment, int32, toward_zero
from .cuba import QuantisedNeurons, cuba_limits, quantise_neurons

NAME = "extended"


@dataclass(frozen=True)
class ExtendedDynamics(NeuronDynamics):
    """``NeuronDynamics`` with the extended compartment's state (see the module docstring).
    Build it from a CUBA form with ``extend``."""

    compartment: ClassVar[str] = NAME
    theta_step: np.ndarray = field(default=None)  # threshold jump per spike (float units of v)
    theta_keep: np.ndarray = field(default=None)  # per step, the part of theta - threshold kept (1: no relaxation)
    r_keep: np.ndarray = field(default=None)  # per step, the part of r kept
    refractory: np.ndarray = field(default=None)  # steps v is held after a spike (0: none)
    r_jump: int = 0  # r += r_jump theta at a spike (ATRLIF: 2)
    hold_current: bool = False  # u is zeroed at a spike and held at 0 with v
    guard: bool = False  # the threshold doubles while the stored v is above it
    inclusive: bool = field(default=False, kw_only=True)  # spike at v - r >= theta (ATRLIF) instead of >


def extend(dyn: NeuronDynamics, **options) -> ExtendedDynamics:
    """``dyn`` as extended dynamics; ``options`` set the extended fields (per-neuron arrays
    may be given as one value). Unset: no adaptation, no refractory period, r unused."""
    n = dyn.size
    base = {f.name: getattr(dyn, f.name) for f in fields(NeuronDynamics)}
    if isinstance(dyn, ExtendedDynamics):
        base.update({f.name: getattr(dyn, f.name) for f in fields(ExtendedDynamics) if f.name not in base})
    else:
        base.update(theta_step=np.zeros(n), theta_keep=np.ones(n), r_keep=np.zeros(n), refractory=np.zeros(n, np.int64))
    for key, value in options.items():
        if key in ("theta_step", "theta_keep", "r_keep", "refractory"):
            value = np.broadcast_to(np.asarray(value, dtype=np.int64 if key == "refractory" else np.float64), (n,)).copy()
        base[key] = value
    if Reset.of(base["reset"]) is Reset.NONE:
        raise InvalidValueError(f"neuron model {dyn.kind}: the extended compartment runs spiking neurons only")
    return ExtendedDynamics(**base)


@dataclass(frozen=True)
class ExtendedNeurons(QuantisedNeurons):
    """A layer of extended neurons in integers: the CUBA fields (``vth`` is the resting
    threshold's mantissa, theta_0 = vth << 6) and the extended ones."""

    compartment: ClassVar[str] = NAME
    u_bias: np.ndarray = field(default=None)  # state units added to u each step (the constant current)
    dtheta: np.ndarray = field(default=None)  # 12-bit decay of theta - theta_0: keeps (4096 - dtheta) / 4096
    dr: np.ndarray = field(default=None)  # 12-bit decay of r
    theta_step: np.ndarray = field(default=None)  # state units added to theta at a spike
    refractory: np.ndarray = field(default=None)  # steps v is held after a spike
    r_jump: int = 0
    hold_current: bool = False
    guard: bool = False
    inclusive: bool = field(default=False, kw_only=True)

    def uniform(self, name: str) -> bool:
        values = getattr(self, name)
        return bool(self.size == 0 or np.all(values == values[0]))


class ExtendedCompartment(Compartment):
    name = NAME
    state = ("u", "v", "theta", "r", "count")
    lava_module = "extended_lif"
    current_bias = True

    # ------------------------------------------------------------------ quantisation
    def quantise(self, name, dyn: ExtendedDynamics, bias_total, scale, arith: ArithmeticSpec):
        base, notes = quantise_neurons(name, dyn, dyn.bias, scale, arith)
        u_bias = np.round(dyn.current_bias * np.broadcast_to(scale, (dyn.size,)))
        if np.any(np.abs(u_bias) > arith.state_max):
            raise InvalidValueError(
                f"layer {name!r}: a constant current of {np.abs(u_bias).max():.0f} state units exceeds the {arith.state_bits}-bit state"
            )
        unity = arith.decay_unity
        dtheta = np.round((1.0 - dyn.theta_keep) * unity).clip(0, arith.decay_max).astype(np.int32)
        dr = np.round((1.0 - dyn.r_keep) * unity).clip(0, arith.decay_max).astype(np.int32)
        theta_step = np.round(dyn.theta_step * np.broadcast_to(scale, (dyn.size,)))
        if np.any(np.abs(theta_step) > arith.state_max):
            raise InvalidValueError(
                f"layer {name!r}: a threshold jump of {np.abs(theta_step).max():.0f} state units exceeds the {arith.state_bits}-bit state"
            )
        if np.any(dyn.refractory < 0) or np.any(dyn.refractory > arith.state_max):
            raise InvalidValueError(f"layer {name!r}: refractory periods must lie in 0..{arith.state_max} steps")
        if np.any(dyn.theta_keep < 1) and np.any(dtheta == 0):
            notes.append("a threshold relaxation slower than 1/4096 per step is held constant (12-bit decay)")
        extended = dict(
            u_bias=u_bias.astype(np.int32),
            dtheta=dtheta,
            dr=dr,
            theta_step=theta_step.astype(np.int32),
            refractory=np.asarray(dyn.refractory).astype(np.int32),
            r_jump=int(dyn.r_jump),
            hold_current=bool(dyn.hold_current),
            guard=bool(dyn.guard),
            inclusive=bool(dyn.inclusive),
        )
        neurons = ExtendedNeurons(**{**{f.name: getattr(base, f.name) for f in fields(QuantisedNeurons)}, **extended})
        return neurons, notes

    def limits(self, neurons: ExtendedNeurons, arith: ArithmeticSpec):
        return [
            *cuba_limits(arith),
            ("u_bias", -arith.state_max, arith.state_max),
            ("dtheta", 0, arith.decay_max),
            ("dr", 0, arith.decay_max),
            ("theta_step", -arith.state_max, arith.state_max),
            ("refractory", 0, arith.state_max),
        ]

    def configs(self, neurons: ExtendedNeurons) -> list[tuple]:
        per_neuron = zip(*(getattr(neurons, f).tolist() for f in ("du", "dv", "vth", "u_bias", "dtheta", "dr", "theta_step", "refractory")))
        layer = (int(neurons.reset), neurons.r_jump, neurons.hold_current, neurons.guard, neurons.inclusive)
        return [values + layer for values in per_neuron]

    def update_bias(self, neurons: ExtendedNeurons) -> np.ndarray:
        """v's bias, or where it is zero the constant current into u."""
        v_bias = fx.effective_bias(neurons.bias_mant, neurons.bias_exp).astype(np.int64)
        return np.where(v_bias != 0, v_bias, neurons.u_bias)

    # ------------------------------------------------------------------ float form
    def float_init(self, dyn: ExtendedDynamics, batch: int) -> dict[str, np.ndarray]:
        shape = (batch, dyn.size)
        return {
            "u": np.zeros(shape),
            "v": np.tile(-dyn.v_offset, (batch, 1)),
            "theta": np.tile(dyn.threshold, (batch, 1)),
            "r": np.zeros(shape),
            "count": np.zeros(shape, np.int64),
        }

    def float_step(self, dyn: ExtendedDynamics, state, a):
        held = state["count"] > 0
        guard = dyn.guard & (state["v"] > state["theta"])
        u = dyn.alpha * state["u"] + a + dyn.current_bias
        if dyn.hold_current:
            u = np.where(held, 0.0, u)
        v = np.where(held, state["v"], dyn.beta * state["v"] + u + dyn.bias)
        count = np.where(held, state["count"] - 1, state["count"])
        theta = dyn.threshold + dyn.theta_keep * (state["theta"] - dyn.threshold)
        r = dyn.r_keep * state["r"]
        level, limit = v - r, theta * (1.0 + guard)
        spikes = ~held & ((level >= limit) if dyn.inclusive else (level > limit))
        v = np.where(spikes, 0.0 if dyn.reset is Reset.ZERO else v - dyn.reset_amount, v)
        r = np.where(spikes, r + dyn.r_jump * theta, r)
        theta = np.where(spikes, theta + dyn.theta_step, theta)
        count = np.where(spikes, dyn.refractory, count)
        if dyn.hold_current:
            u, v = np.where(spikes, 0.0, u), np.where(spikes, 0.0, v)
        state.update(u=u, v=v, theta=theta, r=r, count=count)
        return spikes

    # ------------------------------------------------------------------ numpy step
    def init_state(self, neurons: ExtendedNeurons, batch: int, arith: ArithmeticSpec):
        shape = (batch, neurons.size)
        return {
            "u": np.zeros(shape, np.int32),
            "v": np.tile(neurons.v_init.astype(np.int32), (batch, 1)),
            "theta": np.tile(fx.effective_threshold(neurons.vth, arith), (batch, 1)).astype(np.int32),
            "r": np.zeros(shape, np.int32),
            "count": np.zeros(shape, np.int32),
        }

    def step(self, neurons: ExtendedNeurons, state, a_in, arith: ArithmeticSpec):
        unity, bits = arith.decay_unity, arith.decay_bits
        theta_0 = fx.effective_threshold(neurons.vth, arith)
        held = state["count"] > 0
        guard = neurons.guard & (state["v"] > state["theta"])
        bias = fx.effective_bias(neurons.bias_mant, neurons.bias_exp)
        activation = np.left_shift(a_in.astype(np.int32), arith.activation_shift)
        current = int32(fx.decay(state["u"], fx.current_keep(neurons.du, arith), arith).astype(np.int64) + activation + neurons.u_bias)
        u, u_wrapped = fx.wrap_current(current, arith)
        v, v_saturated = fx.clip_voltage(fx.decay(state["v"], fx.voltage_keep(neurons.dv, arith), arith) + u + bias, arith)
        if neurons.hold_current:
            u = np.where(held, 0, u).astype(np.int32)
        v = np.where(held, state["v"], v).astype(np.int32)
        v_saturated &= ~held
        count = np.where(held, state["count"] - 1, state["count"])
        offset = int32(state["theta"].astype(np.int64) - theta_0)
        theta = int32(int32(toward_zero(offset.astype(np.int64) * (unity - neurons.dtheta.astype(np.int64)), bits)).astype(np.int64) + theta_0)
        r = int32(toward_zero(state["r"].astype(np.int64) * (unity - neurons.dr.astype(np.int64)), bits))
        level = int32(v.astype(np.int64) - r)
        limit = int32(theta.astype(np.int64) * (1 + guard))
        spikes = ~held & ((level >= limit) if neurons.inclusive else (level > limit))
        if neurons.reset is Reset.ZERO:
            v = np.where(spikes, 0, v).astype(np.int32)
        else:
            v = np.where(spikes, int32(v.astype(np.int64) - neurons.reset_sub), v).astype(np.int32)
        r = np.where(spikes, int32(r.astype(np.int64) + int32(neurons.r_jump * theta.astype(np.int64))), r).astype(np.int32)
        theta = np.where(spikes, int32(theta.astype(np.int64) + neurons.theta_step), theta).astype(np.int32)
        count = np.where(spikes, neurons.refractory, count).astype(np.int32)
        if neurons.hold_current:
            u = np.where(spikes, 0, u).astype(np.int32)
            v = np.where(spikes, 0, v).astype(np.int32)
        state.update(u=u, v=v, theta=theta, r=r, count=count)
        return spikes, int(np.count_nonzero(u_wrapped)), int(np.count_nonzero(v_saturated))

    # ------------------------------------------------------------------ torch step
    def torch_params(self, neurons: ExtendedNeurons, arith: ArithmeticSpec, device):
        import torch

        def tensor(values):
            return torch.as_tensor(np.asarray(values, dtype=np.int64), device=device)

        return {
            "u_keep": tensor(fx.current_keep(neurons.du, arith)),
            "v_keep": tensor(fx.voltage_keep(neurons.dv, arith)),
            "theta_keep": tensor(arith.decay_unity - neurons.dtheta.astype(np.int64)),
            "r_keep": tensor(arith.decay_unity - neurons.dr.astype(np.int64)),
            "bias": tensor(fx.effective_bias(neurons.bias_mant, neurons.bias_exp)),
            "u_bias": tensor(neurons.u_bias),
            "theta_0": tensor(fx.effective_threshold(neurons.vth, arith)),
            "theta_step": tensor(neurons.theta_step),
            "refractory": tensor(neurons.refractory),
            "reset_sub": tensor(neurons.reset_sub),
            "v_init": tensor(neurons.v_init),
            "zero_reset": neurons.reset is Reset.ZERO,
            "r_jump": neurons.r_jump,
            "hold_current": neurons.hold_current,
            "guard": neurons.guard,
            "inclusive": neurons.inclusive,
            "arith": arith,
        }

    def torch_init(self, params, batch: int):
        import torch

        n = params["v_init"].shape[0]
        zeros = torch.zeros((batch, n), dtype=torch.int64, device=params["v_init"].device)
        return {"u": zeros.clone(), "v": params["v_init"].expand(batch, n).clone(), "theta": params["theta_0"].expand(batch, n).clone(),
                "r": zeros.clone(), "count": zeros.clone()}

    def torch_step(self, p, state, a_in):
        import torch

        arith = p["arith"]
        a_in = a_in.to(torch.int64)
        held = state["count"] > 0
        guard = (state["v"] > state["theta"]) & p["guard"]
        current = _wrap32(_decay(state["u"], p["u_keep"], arith.decay_bits) + _wrap32(a_in * 2**arith.activation_shift) + p["u_bias"])
        half = 2 ** (arith.state_bits - 1)
        wrapped = (current > half) | (current <= -half)
        current = torch.where(current > half, current - 2 * half, torch.where(current <= -half, current + 2 * half, current))
        summed = _wrap32(_decay(state["v"], p["v_keep"], arith.decay_bits) + current + p["bias"])
        voltage = summed.clamp(-arith.state_max, arith.state_max)
        saturated = (voltage != summed) & ~held
        if p["hold_current"]:
            current = torch.where(held, torch.zeros_like(current), current)
        voltage = torch.where(held, state["v"], voltage)
        count = state["count"] - held.to(torch.int64)
        theta = _wrap32(_wrap32(_decay(_wrap32(state["theta"] - p["theta_0"]), p["theta_keep"], arith.decay_bits)) + p["theta_0"])
        r = _wrap32(_decay(state["r"], p["r_keep"], arith.decay_bits))
        level = _wrap32(voltage - r)
        limit = _wrap32(theta * (1 + guard.to(torch.int64)))
        spikes = ~held & ((level >= limit) if p["inclusive"] else (level > limit))
        reset_to = torch.zeros_like(voltage) if p["zero_reset"] else _wrap32(voltage - p["reset_sub"])
        voltage = torch.where(spikes, reset_to, voltage)
        r = torch.where(spikes, _wrap32(r + _wrap32(p["r_jump"] * theta)), r)
        theta = torch.where(spikes, _wrap32(theta + p["theta_step"]), theta)
        count = torch.where(spikes, p["refractory"].expand_as(count), count)
        if p["hold_current"]:
            current = torch.where(spikes, torch.zeros_like(current), current)
            voltage = torch.where(spikes, torch.zeros_like(voltage), voltage)
        state.update(u=current, v=voltage, theta=theta, r=r, count=count)
        return spikes.to(torch.float64), torch.count_nonzero(a_in), torch.count_nonzero(wrapped), torch.count_nonzero(saturated)


def _wrap32(x):
    """int64 tensor of exact integers wrapped into int32's range."""
    return ((x + 2**31) & (2**32 - 1)) - 2**31


def _decay(x, keep, bits: int):
    """sign(x keep) (|x keep| >> bits) on int64 tensors."""
    import torch

    product = x * keep
    return torch.sign(product) * (torch.abs(product) >> bits)


def lava_process(neurons: ExtendedNeurons) -> str:
    """Lava's own ``ATRLIF`` where it computes the layer exactly (see ``atrlif_compatible``),
    else neurodeploy's ``NeurodeployExtendedLIF``."""
    return "ATRLIF" if atrlif_compatible(neurons) else "NeurodeployExtendedLIF"


def atrlif_compatible(neurons: ExtendedNeurons) -> bool:
    """Lava's ``PyATRLIFModelFixed`` computes these neurons exactly: one set of decays,
    resting threshold and threshold jump (a multiple of 64, as Lava scales it) for the layer;
    r jumps by 2 theta, v is never reset, spikes at >=; no refractory counter, current bias,
    current hold or guard; u and v start at 0."""
    return (
        neurons.r_jump == 2
        and neurons.inclusive
        and neurons.reset is Reset.SUBTRACT
        and not np.any(neurons.reset_sub)
        and not (neurons.hold_current or neurons.guard)
        and not np.any(neurons.refractory)
        and not np.any(neurons.u_bias)
        and not np.any(neurons.v_init)
        and all(neurons.uniform(f) for f in ("du", "dv", "vth", "dtheta", "dr", "theta_step"))
        and (neurons.size == 0 or int(neurons.theta_step[0]) % 64 == 0)
    )


EXTENDED = ExtendedCompartment()

__all__ = ["EXTENDED", "ExtendedDynamics", "ExtendedNeurons", "atrlif_compatible", "extend", "lava_process"]
