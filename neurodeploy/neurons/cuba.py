"""The CUBA compartment: Loihi's current-based LIF neuron, the integer neuron every model in
``NEURONS`` runs as today (``NeuronModel.compartment == "cuba"``).

One place for each part of it:

    float form          ``NeuronDynamics`` (neurons/base.py), what models lower to
    integer form        ``QuantisedNeurons`` below: 12-bit decays du/dv, a 17-bit threshold
                        mantissa, a 13-bit bias mantissa with exponent, 24-bit state
    quantisation        ``quantise_neurons`` (the quantise pass chooses the state scale and
                        calls it; ir/passes/quantise.py states the maths)
    numpy reference     ``hardware/fixed_point.py``: ``neuron_step`` and ``fire_and_reset``
                        (the numpy engine, backends/cpu.py)
    numba engine        ``backends/numba_engine.py``: ``_update_neurons``
    torch engine        ``backends/torch_engine.py``: ``update_neurons``
    Lava                ``lava_process``: Lava's own ``LIF`` where it can express the layer,
                        else neurodeploy's ``NeurodeployLIF`` (backends/lava_processes/)

A model with other state (a refractory counter, an adaptive threshold, a second variable)
is a new compartment (``neurons/compartment.py``): ``extended.py`` and ``izhikevich.py``
are two. Unlike theirs, CUBA's updates stay in the engines, its hot path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..errors import InvalidValueError
from ..hardware import fixed_point as fx
from ..hardware.fixed_point import Reset
from ..hardware.profile import ArithmeticSpec
from .base import NeuronDynamics
from .compartment import Compartment

NAME = "cuba"


@dataclass(frozen=True)
class QuantisedNeurons:
    """A layer of CUBA neurons in integers (see ``hardware/fixed_point.py``); ``kind`` names
    the neuron model, ``reset`` accepts a ``Reset`` or its name."""

    compartment: ClassVar[str] = NAME
    kind: str
    du: np.ndarray  # int (n,)
    dv: np.ndarray
    vth: np.ndarray  # threshold mantissa; the neuron fires when v > vth << threshold_shift
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    v_init: np.ndarray  # v at the start of every sample (state units)
    reset: Reset
    reset_sub: np.ndarray  # state units subtracted on a spike when reset is SUBTRACT
    # keyword-only (a compartment's subclass may add positional fields):
    inclusive: bool = field(default=False, kw_only=True)  # fires at v >= vth << shift (in integers: v > (vth << shift) - 1)
    max_spikes: int = field(default=1, kw_only=True)  # > 1: a graded spike carries the count n = min(max_spikes, 1 + (v - T) // reset_sub)
    v_floor: np.ndarray | None = field(default=None, kw_only=True)  # state units: v = max(v, v_floor) after the reset (None: no floor)

    def __post_init__(self):
        object.__setattr__(self, "reset", Reset.of(self.reset))
        if self.max_spikes > 1 and not (self.inclusive and self.reset is Reset.SUBTRACT and np.all(self.reset_sub > 0)):
            raise ValueError("several spikes per step need an inclusive threshold and a positive subtractive reset")

    @property
    def several_spikes(self) -> bool:
        """True when the layer's spikes are graded, carrying how many spikes a neuron fired."""
        return self.reset is not Reset.NONE and self.max_spikes > 1

    @property
    def spiking(self) -> bool:
        return self.reset is not Reset.NONE

    @property
    def size(self) -> int:
        return int(self.du.shape[0])

    @property
    def has_uniform_parameters(self) -> bool:
        """True when du, dv and vth are single values (what Lava's LIF process supports)."""
        return all(np.all(a == a[0]) for a in (self.du, self.dv, self.vth)) if self.size else True


class CubaCompartment(Compartment):
    """The CUBA compartment's entry in ``COMPARTMENTS``: its quantisation and checks (its
    updates are the engines' own)."""

    name = NAME
    state = ("u", "v")
    lava_module = "neurodeploy_lif"

    def quantise(self, name, dyn, bias_total, scale, arith):
        return quantise_neurons(name, dyn, bias_total, scale, arith)

    def limits(self, neurons, arith):
        return cuba_limits(arith)

    def configs(self, neurons) -> list[tuple]:
        return list(zip(neurons.du.tolist(), neurons.dv.tolist(), neurons.vth.tolist(), [neurons.reset] * neurons.size))

    def update_bias(self, neurons) -> np.ndarray:
        return fx.effective_bias(neurons.bias_mant, neurons.bias_exp)


def cuba_limits(arith: ArithmeticSpec) -> list[tuple[str, int, int]]:
    """(field, lowest, highest) of the CUBA registers and parameters."""
    return [
        ("du", 0, arith.decay_max),
        ("dv", 0, arith.decay_max),
        ("vth", 0, arith.threshold_max),
        ("bias_mant", arith.bias_mantissa_min, arith.bias_mantissa_max),
        ("bias_exp", 0, arith.bias_exponent_max),
        ("v_init", -arith.state_max, arith.state_max),
        ("reset_sub", 0, arith.state_max),
        ("v_floor", -arith.state_max, arith.state_max),  # None where the layer has no floor
    ]


CUBA = CubaCompartment()


def lava_process(neurons: QuantisedNeurons) -> str:
    """The Lava process that runs the layer: Lava's own ``LIF`` when it can (reset to zero, one
    du, dv and vth for the whole layer, v > vth, one spike per step, no floor), else
    ``NeurodeployLIF``."""
    lava_lif = (
        neurons.reset is Reset.ZERO and neurons.has_uniform_parameters and not neurons.inclusive
        and neurons.max_spikes == 1 and neurons.v_floor is None
    )
    return "LIF" if lava_lif else "NeurodeployLIF"


def payload_limit(arith: ArithmeticSpec) -> int:
    """The largest spike count a graded spike carries: its payload as a signed integer
    (Lava's connections multiply it as int32); 1 on a chip with binary spikes only."""
    return (1 << (arith.graded_spike_bits - 1)) - 1 if arith.graded_spike_bits >= 2 else 1


def quantise_neurons(
    name: str, dyn: NeuronDynamics, bias_total: np.ndarray, scale, arith: ArithmeticSpec
) -> tuple[QuantisedNeurons, list[str]]:
    """Layer ``name``'s neurons in integers at state scale ``scale`` (one, or one per neuron);
    ``bias_total`` is the v bias with any constant current folded in
    (``bias_with_folded_current``). Returns the neurons and notes on approximations."""
    vth = _threshold_mantissa(name, dyn, scale, arith)
    bias_mant, bias_exp = _bias_mantissa_exponent(name, bias_total * scale, arith)
    du, dv, notes = _decays(dyn.alpha, dyn.beta, arith)
    v_init = np.round(dyn.v_initial * scale).astype(np.int64)
    if np.any(np.abs(v_init) > arith.state_max):
        raise InvalidValueError(
            f"layer {name!r}: the initial v {np.abs(dyn.v_initial).max():g} (v_reset {dyn.v_offset.max():g}) needs "
            f"{np.abs(v_init).max()} state units, beyond the {arith.state_bits}-bit state"
        )
    reset_sub = _reset_subtraction(name, dyn, vth, scale, arith)
    max_spikes = _spike_cap(name, dyn, reset_sub, arith, notes)
    neurons = QuantisedNeurons(
        kind=dyn.kind,
        du=du,
        dv=dv,
        vth=vth,
        bias_mant=bias_mant,
        bias_exp=bias_exp,
        v_init=v_init.astype(np.int32),
        reset=dyn.reset,
        reset_sub=reset_sub,
        inclusive=bool(dyn.inclusive and dyn.spiking),
        max_spikes=max_spikes,
        v_floor=_floor(dyn, vth, scale, arith),
    )
    return neurons, notes


def _spike_cap(name: str, dyn: NeuronDynamics, reset_sub: np.ndarray, arith: ArithmeticSpec, notes: list[str]) -> int:
    """Spikes per step on the chip: the model's, within what a graded spike carries. A chip
    with binary spikes only (Loihi 1) fires once per step: what exceeds one spike stays in v
    (subtractive reset) and leaves in the next steps, unless the floor or saturation drops it."""
    if not dyn.several_spikes:
        return 1
    if np.any(reset_sub <= 0):
        raise InvalidValueError(f"layer {name!r}: the threshold rounds to 0 state units; several spikes per step need a positive one")
    limit = payload_limit(arith)
    if limit == 1:
        notes.append(
            "fires several spikes per step in the model, but the profile's spikes are binary (no graded spikes): "
            "one spike per step, the rest stays in v and leaves in later steps (fewer or later spikes where a neuron "
            "exceeds twice its threshold; the fidelity section measures the effect)"
        )
        return 1
    reachable = int(np.max(1 + arith.state_max // reset_sub.astype(np.int64)))  # v never exceeds state_max
    if min(dyn.max_spikes, reachable) > limit:
        notes.append(f"a neuron can fire up to {min(dyn.max_spikes, reachable)} spikes in a step; a {arith.graded_spike_bits}-bit graded spike "
                     f"carries at most {limit}: the rest stays in v for the next steps")
    return int(min(dyn.max_spikes, limit))


def _floor(dyn: NeuronDynamics, vth: np.ndarray, scale, arith: ArithmeticSpec) -> np.ndarray | None:
    """The membrane floor in state units: exactly -(vth << shift) where the model floors v at
    minus its threshold (Sinabs' importer), else round(floor * s); within the state's range."""
    if dyn.floor is None or not dyn.spiking:
        return None
    at_threshold = np.isclose(dyn.floor, -dyn.threshold, rtol=1e-12, atol=0.0)
    units = np.where(at_threshold, -(vth.astype(np.int64) << arith.threshold_shift), np.round(dyn.floor * scale))
    return np.clip(units, -arith.state_max, arith.state_max).astype(np.int32)


def bias_with_folded_current(alpha: np.ndarray, bias: np.ndarray, current_bias: np.ndarray) -> tuple[np.ndarray, bool]:
    """v-bias plus the steady-state effect c / (1 - alpha) of a constant current c."""
    if not np.any(current_bias != 0):
        return bias, False
    return bias + current_bias / np.maximum(1.0 - alpha, 1.0 / 4096), True


def _threshold_mantissa(name: str, dyn, scale: float, arith: ArithmeticSpec) -> np.ndarray:
    if not dyn.spiking:
        return np.zeros(dyn.size, dtype=np.int32)
    vth = np.round(dyn.threshold * scale / 2**arith.threshold_shift)
    if np.any(vth > arith.threshold_max):
        i = int(np.argmax(vth))
        raise InvalidValueError(
            f"layer {name!r}: threshold {dyn.threshold[i]:g} needs a mantissa of {int(vth[i])}, above the "
            f"{arith.threshold_mantissa_bits}-bit limit {arith.threshold_max} even at the smallest weight exponent: "
            "the threshold is too large relative to the weights (rescale weights and threshold together)"
        )
    return vth.astype(np.int32)


def _reset_subtraction(name: str, dyn, vth: np.ndarray, scale: float, arith: ArithmeticSpec) -> np.ndarray:
    """State units subtracted on a spike: the effective threshold (vth << 6) when the
    float model subtracts its threshold, else round(reset_amount * s)."""
    if dyn.reset is not Reset.SUBTRACT:
        return np.zeros(dyn.size, dtype=np.int32)
    exact_threshold = np.isclose(dyn.reset_amount, dyn.threshold, rtol=1e-12, atol=0.0)
    amount = np.where(exact_threshold, vth.astype(np.int64) << arith.threshold_shift, np.round(dyn.reset_amount * scale))
    if np.any(amount > arith.state_max):
        raise InvalidValueError(
            f"layer {name!r}: reset subtraction of {amount.max():.0f} state units exceeds the {arith.state_bits}-bit state"
        )
    return amount.astype(np.int32)


def _bias_mantissa_exponent(name: str, bias_units: np.ndarray, arith: ArithmeticSpec):
    """Smallest exponent per neuron whose mantissa fits: bias_mant * 2**bias_exp ~= bias_units."""
    exponents = np.zeros(bias_units.shape, dtype=np.int32)
    magnitude = np.abs(bias_units)
    for e in range(arith.bias_exponent_max + 1):
        needs_more = np.round(magnitude / 2.0**exponents) > arith.bias_mantissa_max
        exponents = np.where(needs_more & (exponents == e), e + 1, exponents)
    if np.any(exponents > arith.bias_exponent_max):
        i = int(np.argmax(magnitude))
        raise InvalidValueError(
            f"layer {name!r}: bias of neuron {i} needs {magnitude[i]:.4g} state units, above the largest "
            f"representable {arith.bias_mantissa_max} * 2**{arith.bias_exponent_max}"
        )
    mantissa = np.round(bias_units / 2.0**exponents).astype(np.int32)
    return mantissa, exponents


def _decays(alpha: np.ndarray, beta: np.ndarray, arith: ArithmeticSpec):
    unity = arith.decay_unity
    du_exact = np.round((1.0 - alpha) * unity) - 1
    dv_exact = np.round((1.0 - beta) * unity)
    du = du_exact.clip(0, arith.decay_max).astype(np.int32)
    dv = dv_exact.clip(0, arith.decay_max).astype(np.int32)
    notes = []
    if np.any(du != du_exact):
        notes.append(
            f"current decay 1 - alpha = {float((1 - alpha).min()):.3g} is below Loihi's smallest u decay of 1/{unity} "
            "per step: u decays by 1/4096 per step instead"
        )
    if np.any(dv != dv_exact):
        notes.append(
            f"voltage decay 1 - beta = {float((1 - beta).max()):.3g} needs dv = {int(dv_exact.max())} > {arith.decay_max}: "
            f"v keeps 1/{unity} of itself per step instead of nothing"
        )
    return du, dv, notes
