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
is a new compartment: its own module here with these parts, its name in the model's
``compartment``, and in the ``compartments`` of every target that implements it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidValueError
from ..hardware.fixed_point import Reset
from ..hardware.profile import ArithmeticSpec
from .base import NeuronDynamics

NAME = "cuba"


@dataclass(frozen=True)
class QuantisedNeurons:
    """A layer of CUBA neurons in integers (see ``hardware/fixed_point.py``); ``kind`` names
    the neuron model, ``reset`` accepts a ``Reset`` or its name."""

    kind: str
    du: np.ndarray  # int (n,)
    dv: np.ndarray
    vth: np.ndarray  # threshold mantissa; the neuron fires when v > vth << threshold_shift
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    v_init: np.ndarray  # v at the start of every sample (state units)
    reset: Reset
    reset_sub: np.ndarray  # state units subtracted on a spike when reset is SUBTRACT

    def __post_init__(self):
        object.__setattr__(self, "reset", Reset.of(self.reset))

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


def lava_process(neurons: QuantisedNeurons) -> str:
    """The Lava process that runs the layer: Lava's own ``LIF`` when it can (reset to zero and
    one du, dv and vth for the whole layer), else ``NeurodeployLIF``."""
    return "LIF" if neurons.reset is Reset.ZERO and neurons.has_uniform_parameters else "NeurodeployLIF"


def quantise_neurons(
    name: str, dyn: NeuronDynamics, bias_total: np.ndarray, scale, arith: ArithmeticSpec
) -> tuple[QuantisedNeurons, list[str]]:
    """Layer ``name``'s neurons in integers at state scale ``scale`` (one, or one per neuron);
    ``bias_total`` is the v bias with any constant current folded in
    (``bias_with_folded_current``). Returns the neurons and notes on approximations."""
    vth = _threshold_mantissa(name, dyn, scale, arith)
    bias_mant, bias_exp = _bias_mantissa_exponent(name, bias_total * scale, arith)
    du, dv, notes = _decays(dyn.alpha, dyn.beta, arith)
    v_init = np.round(-dyn.v_offset * scale).astype(np.int64)
    if np.any(np.abs(v_init) > arith.state_max):
        raise InvalidValueError(
            f"layer {name!r}: v_reset {dyn.v_offset.max():g} needs an initial v of {np.abs(v_init).max()} "
            f"state units, beyond the {arith.state_bits}-bit state"
        )
    neurons = QuantisedNeurons(
        kind=dyn.kind,
        du=du,
        dv=dv,
        vth=vth,
        bias_mant=bias_mant,
        bias_exp=bias_exp,
        v_init=v_init.astype(np.int32),
        reset=dyn.reset,
        reset_sub=_reset_subtraction(name, dyn, vth, scale, arith),
    )
    return neurons, notes


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
