"""The Izhikevich neuron (Izhikevich, IEEE Trans. Neural Networks 14(6):1569-1572, 2003): its
neuron model (NIR has no node for it: ``neurons/nir_extension.py``) and its compartment, a
fixed-point form for Loihi 2's programmable neurons.

Equations (v in mV, t in ms; ``time_unit`` maps the equations' ms onto the graph's seconds):

    v' = 0.04 v^2 + 5 v + 140 - u + I,   u' = a (b v - u)
    if v >= v_peak (30 mV):  v <- c,  u <- u + d

I = bias + r x (the synaptic input, mV/ms, held for the step). Regimes of the paper's Fig. 2:
RS (a, b, c, d) = (0.02, 0.2, -65, 8), IB (0.02, 0.2, -55, 4), CH (0.02, 0.2, -50, 2),
FS (0.1, 0.2, -65, 2); start v = -65 mV, u = b v.

Scheme (float and fixed point alike): each step of dt is ``substeps`` explicit-Euler
substeps of h = dt / substeps, v and u both from the old values, the v >= v_peak test and
reset after every substep (u never sees v's overshoot); a step emits one spike if any
substep fired. The paper's own 1 ms loop (v in two half steps, u with the new v, the test at
the start of the next step) lets u see overshoots of over 1000 mV and is ill-conditioned in
any precision; docs/neurons.md gives the error table of this scheme against the equations.

Fixed point (``IzhikevichNeurons``; all registers signed; numpy, Lava and numba compute in
int64 and clip, shifts arithmetic):

    v 24-bit Q8 mV;  u 24-bit Q12;  a 17-bit Q16;  b 18-bit Q16;  c, v_peak 24-bit Q8;
    d 24-bit Q12;  bias 24-bit Q8 mV/ms;  K = round(0.04 2^16) = 2621;  140 << 8
    I = clip24(bias + (a_in << 6))
    repeat 2^H times (h = 2^-shift ms):
        dv = rnd(rnd(v v, 8) K, 16) + 5 v + (140 << 8) - rnd(u, 4) + I          (Q8)
        du = rnd(a (rnd(b v, 12) - u), 16)                                      (Q12)
        v = clip24(v + rnd(dv, shift));  u = clip24(u + rnd(du, shift))
        if v >= v_peak:  v = c;  u = clip24(u + d);  spike this step

rnd(x, s) = (x + 2^(s-1)) >> s rounds half up (rnd(x, 0) = x); clip24 clips to
+-(2^23 - 1). h must be a power of two of the equations' time unit (dt = 1 ms with 2
substeps: h = 0.5 ms). The state scale is fixed: 256 state units per mV, so a synaptic
weight W (mV/ms per spike) is stored as W_int 2^(e + 6) = 256 W.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import nir
import numpy as np

from ..errors import InvalidValueError, UnsupportedModelError
from ..hardware.fixed_point import Reset
from ..hardware.profile import ArithmeticSpec
from .base import Lowering, NeuronDynamics, NeuronModel, Subthreshold
from .compartment import Compartment
from .nir_extension import REQUIRED, extension_fields

NAME = "izhikevich"
V_FRAC, U_FRAC, PARAM_FRAC = 8, 12, 16  # Q8 mV, Q12 u, Q16 a and b
K_SQUARE = round(0.04 * (1 << PARAM_FRAC))  # 2621
REGIMES = {  # Izhikevich 2003, Fig. 2: (a, b, c, d)
    "RS": (0.02, 0.2, -65.0, 8.0),
    "IB": (0.02, 0.2, -55.0, 4.0),
    "CH": (0.02, 0.2, -50.0, 2.0),
    "FS": (0.1, 0.2, -65.0, 2.0),
}
MS = 1e-3  # the equations' time unit, in seconds


@dataclass(frozen=True)
class IzhikevichDynamics(NeuronDynamics):
    """The equations per neuron (``bias`` is the constant current I, ``threshold`` v_peak,
    v is absolute: ``v_offset`` 0), integrated in ``substeps`` Euler substeps of
    ``step_units / substeps`` time units per step."""

    compartment: ClassVar[str] = NAME
    a: np.ndarray = field(default=None)
    b: np.ndarray = field(default=None)
    c: np.ndarray = field(default=None)
    d: np.ndarray = field(default=None)
    v_init: np.ndarray = field(default=None)
    u_init: np.ndarray = field(default=None)
    step_units: float = 1.0  # dt in the equations' time unit (ms)
    substeps: int = 2


@dataclass(frozen=True)
class IzhikevichNeurons:
    """A layer of Izhikevich neurons in integers (formats in the module docstring)."""

    compartment: ClassVar[str] = NAME
    spiking: ClassVar[bool] = True
    # the spike rule the engines read of every layer: one spike per step at v >= v_peak, no floor
    inclusive: ClassVar[bool] = False
    max_spikes: ClassVar[int] = 1
    several_spikes: ClassVar[bool] = False
    v_floor: ClassVar[None] = None
    kind: str
    a: np.ndarray  # Q16
    b: np.ndarray  # Q16
    c: np.ndarray  # Q8 mV
    d: np.ndarray  # Q12
    v_peak: np.ndarray  # Q8 mV
    bias: np.ndarray  # Q8 mV/ms
    v_init: np.ndarray  # Q8
    u_init: np.ndarray  # Q12
    substeps_log2: int
    step_shift: int  # h = 2**-step_shift time units
    reset: Reset = Reset.ZERO

    @property
    def size(self) -> int:
        return int(self.a.shape[0])


def equation_spike_times(a, b, c, d, current, duration: float, h: float = 0.005, v0=-65.0, v_peak=30.0) -> list[np.ndarray]:
    """The 2003 equations integrated with a fine explicit-Euler step ``h`` (time units): the
    reference "float equations" the stepped forms are measured against (docs/neurons.md).
    Parameters broadcast over neurons; returns each neuron's spike times."""
    a, b, c, d, current = (np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (a, b, c, d, current))
    n = max(x.size for x in (a, b, c, d, current))
    v = np.full(n, float(v0))
    u = b * v
    times: list[list[float]] = [[] for _ in range(n)]
    for k in range(int(round(duration / h))):
        dv = 0.04 * v * v + 5.0 * v + 140.0 - u + current
        du = a * (b * v - u)
        v, u = v + h * dv, u + h * du
        fired = v >= v_peak
        for i in np.flatnonzero(fired):
            times[i].append((k + 1) * h)
        v = np.where(fired, c, v)
        u = np.where(fired, u + d, u)
    return [np.array(t) for t in times]


def rnd(x, s: int):
    """x / 2**s rounded half up (arithmetic shift); s = 0 returns x."""
    x = np.asarray(x, np.int64)
    return x if s == 0 else (x + (np.int64(1) << (s - 1))) >> s


class IzhikevichCompartment(Compartment):
    name = NAME
    state = ("u", "v")
    lava_module = "izhikevich"

    # ------------------------------------------------------------------ quantisation
    def fixed_scale(self, dyn) -> float:
        return float(1 << V_FRAC)

    def quantise(self, name, dyn: IzhikevichDynamics, bias_total, scale, arith: ArithmeticSpec):
        steps_log2 = int(round(np.log2(dyn.substeps)))
        shift = np.log2(dyn.substeps / dyn.step_units)
        if 2**steps_log2 != dyn.substeps or abs(shift - round(shift)) > 1e-9 or round(shift) < 0:
            raise InvalidValueError(
                f"layer {name!r}: Izhikevich's fixed-point form needs substeps of 2^-k ms (k >= 0); dt = {dyn.step_units:g} ms in "
                f"{dyn.substeps} substeps gives {dyn.step_units / dyn.substeps:g} ms: use dt = 1 ms (--dt 1e-3) or another power of two of ms"
            )
        state_max = arith.state_max

        def q(values, frac: int, what: str, bits: int = 24) -> np.ndarray:
            ints = np.round(np.asarray(values, dtype=np.float64) * (1 << frac)).astype(np.int64)
            limit = (1 << (bits - 1)) - 1
            if np.any(np.abs(ints) > limit):
                raise InvalidValueError(f"layer {name!r}: Izhikevich {what} {np.abs(values).max():g} exceeds its {bits}-bit register")
            return ints.astype(np.int32)

        notes = []
        if np.any(dyn.a < 0) or np.any(dyn.a >= 2) or np.any(np.abs(dyn.b) >= 2):
            raise InvalidValueError(f"layer {name!r}: Izhikevich's fixed-point form holds 0 <= a < 2 and |b| < 2 (Q16 registers)")
        if np.any(dyn.current_bias != 0):
            raise UnsupportedModelError(f"layer {name!r}: an Izhikevich neuron takes no synaptic current bias")
        neurons = IzhikevichNeurons(
            kind=dyn.kind,
            a=q(dyn.a, PARAM_FRAC, "a", 18),
            b=q(dyn.b, PARAM_FRAC, "b", 18),
            c=q(dyn.c, V_FRAC, "c"),
            d=q(dyn.d, U_FRAC, "d"),
            v_peak=q(dyn.threshold, V_FRAC, "v_peak"),
            bias=q(bias_total, V_FRAC, "bias current"),
            v_init=q(dyn.v_init, V_FRAC, "initial v"),
            u_init=q(dyn.u_init, U_FRAC, "initial u"),
            substeps_log2=steps_log2,
            step_shift=int(round(shift)),
        )
        if state_max < (1 << 23) - 1:
            raise InvalidValueError(f"layer {name!r}: Izhikevich's fixed-point form needs 24-bit state registers")
        notes.append(f"Izhikevich neurons in fixed point: {dyn.substeps} Euler substeps of {dyn.step_units / dyn.substeps:g} ms per step")
        return neurons, notes

    def limits(self, neurons, arith):
        top = (1 << 23) - 1
        return [("a", 0, (1 << 17) - 1), ("b", -(1 << 17), (1 << 17) - 1), ("c", -top, top), ("d", -top, top), ("v_peak", -top, top),
                ("bias", -top, top), ("v_init", -top, top), ("u_init", -top, top)]

    def configs(self, neurons: IzhikevichNeurons) -> list[tuple]:
        return list(zip(*(getattr(neurons, f).tolist() for f in ("a", "b", "c", "d", "v_peak", "bias"))))

    def update_bias(self, neurons: IzhikevichNeurons) -> np.ndarray:
        return np.asarray(neurons.bias)

    # ------------------------------------------------------------------ float form
    def float_init(self, dyn: IzhikevichDynamics, batch: int):
        return {"u": np.tile(dyn.u_init, (batch, 1)), "v": np.tile(dyn.v_init, (batch, 1))}

    def float_step(self, dyn: IzhikevichDynamics, state, a):
        v, u = state["v"], state["u"]
        h = dyn.step_units / dyn.substeps
        current = dyn.bias + a
        spiked = np.zeros(v.shape, bool)
        for _ in range(dyn.substeps):
            dv = 0.04 * v * v + 5.0 * v + 140.0 - u + current
            du = dyn.a * (dyn.b * v - u)
            v, u = v + h * dv, u + h * du
            fired = v >= dyn.threshold
            v = np.where(fired, dyn.c, v)
            u = np.where(fired, u + dyn.d, u)
            spiked |= fired
        state.update(u=u, v=v)
        return spiked

    # ------------------------------------------------------------------ numpy step
    def init_state(self, neurons: IzhikevichNeurons, batch: int, arith):
        return {"u": np.tile(neurons.u_init, (batch, 1)).astype(np.int32), "v": np.tile(neurons.v_init, (batch, 1)).astype(np.int32)}

    def step(self, neurons: IzhikevichNeurons, state, a_in, arith):
        limit = (1 << 23) - 1
        a, b, c, d = (np.asarray(x, np.int64) for x in (neurons.a, neurons.b, neurons.c, neurons.d))
        raw = np.asarray(neurons.bias, np.int64) + (np.asarray(a_in, np.int64) << 6)
        current = np.clip(raw, -limit, limit)
        saturated = int(np.count_nonzero(current != raw))
        v, u = state["v"].astype(np.int64), state["u"].astype(np.int64)
        spiked = np.zeros(v.shape, bool)
        shift = neurons.step_shift
        for _ in range(1 << neurons.substeps_log2):
            square = rnd(rnd(v * v, V_FRAC) * K_SQUARE, PARAM_FRAC)
            dv = square + 5 * v + (140 << V_FRAC) - rnd(u, U_FRAC - V_FRAC) + current
            du = rnd(a * (rnd(b * v, PARAM_FRAC + V_FRAC - U_FRAC) - u), PARAM_FRAC)
            v_raw, u_raw = v + rnd(dv, shift), u + rnd(du, shift)
            v, u = np.clip(v_raw, -limit, limit), np.clip(u_raw, -limit, limit)
            saturated += int(np.count_nonzero(v != v_raw) + np.count_nonzero(u != u_raw))
            fired = v >= neurons.v_peak
            v = np.where(fired, c, v)
            u = np.where(fired, np.clip(u + d, -limit, limit), u)
            spiked |= fired
        state.update(u=u.astype(np.int32), v=v.astype(np.int32))
        return spiked, 0, saturated

    # ------------------------------------------------------------------ torch step
    def torch_params(self, neurons: IzhikevichNeurons, arith, device):
        import torch

        def tensor(values):
            return torch.as_tensor(np.asarray(values, dtype=np.int64), device=device)

        params = {f: tensor(getattr(neurons, f)) for f in ("a", "b", "c", "d", "v_peak", "bias", "v_init", "u_init")}
        params.update(substeps=1 << neurons.substeps_log2, shift=neurons.step_shift)
        return params

    def torch_init(self, params, batch: int):
        n = params["a"].shape[0]
        return {"u": params["u_init"].expand(batch, n).clone(), "v": params["v_init"].expand(batch, n).clone()}

    def torch_step(self, p, state, a_in):
        import torch

        limit = (1 << 23) - 1

        def rounded(x, s):
            return x if s == 0 else (x + (1 << (s - 1))) >> s

        a_in = a_in.to(torch.int64)
        raw = p["bias"] + a_in * 64
        current = raw.clamp(-limit, limit)
        saturated = torch.count_nonzero(current != raw)
        v, u = state["v"], state["u"]
        spiked = torch.zeros_like(v, dtype=torch.bool)
        for _ in range(p["substeps"]):
            square = rounded(rounded(v * v, V_FRAC) * K_SQUARE, PARAM_FRAC)
            dv = square + 5 * v + (140 << V_FRAC) - rounded(u, U_FRAC - V_FRAC) + current
            du = rounded(p["a"] * (rounded(p["b"] * v, PARAM_FRAC + V_FRAC - U_FRAC) - u), PARAM_FRAC)
            v_raw, u_raw = v + rounded(dv, p["shift"]), u + rounded(du, p["shift"])
            v, u = v_raw.clamp(-limit, limit), u_raw.clamp(-limit, limit)
            saturated = saturated + torch.count_nonzero(v != v_raw) + torch.count_nonzero(u != u_raw)
            fired = v >= p["v_peak"]
            v = torch.where(fired, p["c"].expand_as(v), v)
            u = torch.where(fired, (u + p["d"]).clamp(-limit, limit), u)
            spiked |= fired
        state.update(u=u, v=v)
        zero = torch.zeros((), dtype=torch.int64, device=v.device)
        return spiked.to(torch.float64), torch.count_nonzero(a_in), zero, saturated


IZHIKEVICH_COMPARTMENT = IzhikevichCompartment()


# --------------------------------------------------------------------------- the neuron model
class IzhikevichModel(NeuronModel):
    """NIR ``IF`` carrying the neurodeploy extension ``izhikevich`` (docs/nir_extension.md):
    the IF's v_threshold is v_peak, v_reset is c and r the input gain (mV/ms per unit of
    input); the extension adds a, b, d, the constant current and the initial state."""

    name = "Izhikevich"
    node_class = nir.IF
    fields = ("r", "v_threshold", "v_reset")
    defaults = {"r": 1.0}
    shape_field = "v_threshold"
    compartment = NAME
    extension = {"a": REQUIRED, "b": REQUIRED, "d": REQUIRED, "bias": 0.0, "v_init": -65.0, "u_init": None, "substeps": 2, "time_unit": MS}
    snntorch_modules = ("neurodeploy.neurons.snntorch_modules:Izhikevich",)

    def subthreshold(self, low: Lowering) -> Subthreshold:  # pragma: no cover - lower() is overridden
        raise NotImplementedError

    def lower(self, low: Lowering) -> tuple[NeuronDynamics, np.ndarray]:
        ext = extension_fields(low, self.extension, per_neuron=("a", "b", "d", "bias", "v_init", "u_init"))
        step_units = low.dt / float(ext["time_unit"])
        substeps = int(ext["substeps"])
        if substeps < 1:
            raise InvalidValueError(f"node {low.name!r}: Izhikevich substeps must be >= 1, got {substeps}")
        gain = low.param("r")
        u_init = ext["u_init"] if ext["u_init"] is not None else ext["b"] * ext["v_init"]
        dynamics = IzhikevichDynamics(
            kind=self.name,
            alpha=low.zeros,
            beta=low.ones,
            threshold=low.param("v_threshold"),
            bias=ext["bias"] + gain * low.bias_in,
            current_bias=low.zeros,
            v_offset=low.zeros,
            reset=Reset.ZERO,
            reset_amount=low.zeros,
            a=ext["a"],
            b=ext["b"],
            c=low.param("v_reset"),
            d=ext["d"],
            v_init=ext["v_init"],
            u_init=np.asarray(u_init, dtype=np.float64),
            step_units=step_units,
            substeps=substeps,
        )
        return dynamics, gain

    def from_snntorch(self, name, module, shape, notes):
        """neurodeploy's snnTorch-style ``Izhikevich`` module: one call is ``step_ms`` of the
        equations' ms, mapped onto one snnTorch step of the graph (``time_unit``)."""
        from .nir_extension import with_extension
        from .snntorch import SNNTORCH_DT, per_neuron

        node = nir.IF(r=np.ones(shape), v_threshold=per_neuron(module.threshold, shape), v_reset=per_neuron(module.c, shape))
        fields = {f: per_neuron(getattr(module, f), shape) for f in ("a", "b", "d", "bias", "v_init", "u_init")}
        return with_extension(node, self.name, **fields, substeps=module.substeps, time_unit=SNNTORCH_DT / module.step_ms)


Izhikevich = IzhikevichModel()
