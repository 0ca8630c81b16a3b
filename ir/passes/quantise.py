"""Pass 2: normalised float layers -> integers with the profile's bit widths.

Per layer, one state scale ``s`` (register units per float unit of v) ties everything
together. With Loihi's MSB alignment (``a_in << 6``, ``vth << 6``):

    weights   W_int * 2**(weight_exp + 6)  =  W * s
              W_int = round(W * k), k = w_top / max|W|  (w_top: 254 mixed, 255 single-sign),
              so s = k * 2**(weight_exp + 6) and every layer uses its full 8-bit mantissa
    threshold vth = round(theta * s / 2**6)                        (17-bit mantissa)
    bias      bias_mant * 2**bias_exp = round(b * s)               (13-bit mantissa, 3-bit exp)
    decays    du = round(4096 (1 - alpha)) - 1   (Loihi adds 1 to du)
              dv = round(4096 (1 - beta))                          (12 bits each)
    initial v v_init = round(-v_offset * s)

``weight_exp`` is the largest exponent in the profile's range for which the threshold,
the bias and the worst-case current fit: for binary spikes, no input pattern can make
``u`` wrap if  max_i sum_j |W_int[i,j]| * x_max * 2**(weight_exp+6) / (1 - alpha_i)
stays within the state width ("headroom" rule). Larger exponents only add resolution
to thresholds, biases and the decay arithmetic; the 8-bit weights are the same.

Approximations are listed in the layer notes: decays that 12 bits cannot express,
and a constant synaptic current (CubaLIF after an Affine bias), which Loihi cannot
inject into u and which becomes its steady-state equivalent bias on v, c / (1 - alpha).
"""
from __future__ import annotations

import numpy as np

from ...backends.fixed_point import sign_mode_of, weight_range
from ...errors import InputDataError, InvalidValueError
from ..profile import ArithmeticSpec, HardwareProfile
from ..stages import (
    INPUT,
    InputEncoding,
    NormalisedLayer,
    NormalisedNetwork,
    QuantisedLayer,
    QuantisedNetwork,
    QuantisedNeurons,
    QuantisedSynapses,
)

DEFAULT_GRADED_INPUT_BITS = 8


def quantise(
    network: NormalisedNetwork, profile: HardwareProfile, input_encoding: InputEncoding | None = None
) -> QuantisedNetwork:
    arith = profile.arithmetic
    encoding = _resolve_input_encoding(input_encoding or InputEncoding(), profile)
    layers, notes = [], list(network.notes)
    for layer in network.layers:
        graded = layer.source == INPUT and encoding.kind == "graded"
        input_scale = encoding.scale if graded else 1.0
        input_max = float(2 ** (encoding.bits - 1) - 1) if graded else 1.0
        quantised, layer_notes = _quantise_layer(layer, arith, input_scale, input_max, encoding.bits if graded else 0)
        layers.append(quantised)
        notes.extend(f"layer {layer.name!r}: {note}" for note in layer_notes)
    return QuantisedNetwork(
        input_shape=network.input_shape,
        input_encoding=encoding,
        layers=tuple(layers),
        arithmetic=arith,
        normalised=network,
        notes=tuple(notes),
    )


def _resolve_input_encoding(encoding: InputEncoding, profile: HardwareProfile) -> InputEncoding:
    if encoding.kind == "spikes":
        return InputEncoding(kind="spikes")
    if encoding.kind != "graded":
        raise InputDataError(f"unknown input encoding {encoding.kind!r} (spikes or graded)")
    available = profile.arithmetic.graded_spike_bits
    if available == 0:
        raise InputDataError(
            f"the input has graded (non-binary) values, but profile {profile.name!r} carries binary spikes only: "
            "give 0/1 spike input or use a profile with graded spikes (e.g. loihi2)"
        )
    bits = encoding.bits or min(available, DEFAULT_GRADED_INPUT_BITS)
    if bits > available:
        raise InputDataError(f"graded input of {bits} bits exceeds profile {profile.name!r}'s {available}-bit spikes")
    max_abs = float(encoding.max_abs) if encoding.max_abs > 0 else 1.0
    return InputEncoding(kind="graded", max_abs=max_abs, scale=(2 ** (bits - 1) - 1) / max_abs, bits=bits)


def _quantise_layer(
    layer: NormalisedLayer, arith: ArithmeticSpec, input_scale: float, input_max: float, graded_bits: int
) -> tuple[QuantisedLayer, list[str]]:
    notes: list[str] = []
    dyn = layer.neurons
    weight = layer.weight / input_scale  # float weight per integer input unit
    sign_mode = sign_mode_of(weight)
    low, high, step = weight_range(sign_mode, arith.weight_mantissa_bits)
    w_top = max(high, -low if sign_mode == "inhibitory" else 0)
    w_max = float(np.abs(weight).max()) if weight.size else 0.0
    k = w_top / w_max if w_max > 0 else 1.0
    w_int = (np.round(weight * k / step) * step).clip(low, high).astype(np.int32)

    bias_total, folded = _bias_with_folded_current(dyn.alpha, dyn.bias, dyn.current_bias)
    if folded:
        notes.append(
            "constant synaptic current (Affine bias into CubaLIF) applied as its steady-state bias on v, "
            "c / (1 - alpha): the first ~1/(1 - alpha) steps of each sample differ from the float model"
        )
    if dyn.spiking and np.any(dyn.threshold <= 0):
        i = int(np.argmin(dyn.threshold))
        raise InvalidValueError(
            f"layer {layer.name!r}: neuron {i} has threshold - v_reset = {dyn.threshold[i]:g}; "
            "Loihi thresholds are positive (v_threshold must exceed v_reset)"
        )

    weight_exp, binding = _choose_weight_exp(w_int, k, dyn, bias_total, input_max, arith)
    if binding:
        notes.append(binding)
    scale = k * 2.0 ** (weight_exp + arith.activation_shift)
    vth = _threshold_mantissa(layer, dyn, scale, arith)
    bias_mant, bias_exp = _bias_mantissa_exponent(layer, bias_total * scale, arith)
    du, dv, decay_notes = _decays(dyn.alpha, dyn.beta, arith)
    notes.extend(decay_notes)
    v_init = np.round(-dyn.v_offset * scale).astype(np.int64)
    if np.any(np.abs(v_init) > arith.state_max):
        raise InvalidValueError(
            f"layer {layer.name!r}: v_reset {dyn.v_offset.max():g} needs an initial v of {np.abs(v_init).max()} "
            f"state units, beyond the {arith.state_bits}-bit state"
        )
    synapses = QuantisedSynapses(
        weights=w_int,
        weight_exp=int(weight_exp),
        sign_mode=sign_mode,
        mantissa_bits=arith.weight_mantissa_bits,
        graded_bits=graded_bits,
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
        reset_sub=_reset_subtraction(layer, dyn, vth, scale, arith),
    )
    return QuantisedLayer(layer.name, layer.source, synapses, neurons, float(scale), layer), notes


def _bias_with_folded_current(alpha: np.ndarray, bias: np.ndarray, current_bias: np.ndarray) -> tuple[np.ndarray, bool]:
    """v-bias plus the steady-state effect c / (1 - alpha) of a constant current c."""
    if not np.any(current_bias != 0):
        return bias, False
    return bias + current_bias / np.maximum(1.0 - alpha, 1.0 / 4096), True


# A weight exponent is only lowered to give v headroom while the largest threshold keeps
# at least this many mantissa steps (resolution of the threshold relative to the weights).
MIN_THRESHOLD_STEPS = 256


def _choose_weight_exp(
    w_int: np.ndarray, k: float, dyn, bias_total: np.ndarray, input_max: float, arith: ArithmeticSpec
) -> tuple[int, str]:
    """Largest weight exponent for which threshold, bias and worst-case current fit (hard
    limits) and, where that costs little threshold resolution, the worst-case voltage too.

    Worst case: every input active at every step. u then settles at most at
    row_sum * 2**(weight_exp+6) / (1 - alpha), v at most at (u + |bias|) / (1 - beta).
    u wraps on overflow (hard limit); v only saturates (soft limit).
    """
    row_sum = np.abs(w_int.astype(np.float64)).sum(axis=1) * input_max if w_int.size else np.zeros(1)
    floor = 1.0 / arith.decay_unity
    current = row_sum / np.maximum(1.0 - dyn.alpha, floor)  # in units of 2**(weight_exp+6)
    worst_current = float(current.max(initial=0.0))
    leaky = dyn.beta < 1.0
    bias_limit = arith.bias_mantissa_max * 2.0**arith.bias_exponent_max
    thresholds = dyn.threshold[np.isfinite(dyn.threshold)]
    theta_max = float(thresholds.max()) if thresholds.size else 0.0
    largest_bias = float(np.abs(bias_total).max(initial=0.0))

    def fits(weight_exp: int, with_voltage: bool) -> bool:
        unit = 2.0 ** (weight_exp + arith.activation_shift)
        scale = k * unit
        if worst_current * unit > arith.state_max:
            return False
        if round(theta_max * scale / 2**arith.threshold_shift) > arith.threshold_max or largest_bias * scale > bias_limit:
            return False
        if with_voltage and np.any(leaky):
            voltage = (current[leaky] * unit + np.abs(bias_total[leaky]) * scale) / (1.0 - dyn.beta[leaky])
            if float(voltage.max()) > arith.state_max:
                return False
            if theta_max and theta_max * scale / 2**arith.threshold_shift < MIN_THRESHOLD_STEPS:
                return False
        return True

    exponents = range(arith.weight_exponent_max, arith.weight_exponent_min - 1, -1)
    for with_voltage in (True, False):
        for weight_exp in exponents:
            if fits(weight_exp, with_voltage):
                return weight_exp, ""
    weight_exp = arith.weight_exponent_min
    unit = 2.0 ** (weight_exp + arith.activation_shift)
    if worst_current * unit > arith.state_max:
        return weight_exp, (
            f"worst-case synaptic current {worst_current * unit:.3g} exceeds the {arith.state_bits}-bit state even at "
            f"the smallest weight exponent {weight_exp}: u can wrap when many inputs fire together"
        )
    return weight_exp, ""


def _threshold_mantissa(layer: NormalisedLayer, dyn, scale: float, arith: ArithmeticSpec) -> np.ndarray:
    if not dyn.spiking:
        return np.zeros(dyn.size, dtype=np.int32)
    vth = np.round(dyn.threshold * scale / 2**arith.threshold_shift)
    if np.any(vth > arith.threshold_max):
        i = int(np.argmax(vth))
        raise InvalidValueError(
            f"layer {layer.name!r}: threshold {dyn.threshold[i]:g} needs a mantissa of {int(vth[i])}, above the "
            f"{arith.threshold_mantissa_bits}-bit limit {arith.threshold_max} even at the smallest weight exponent: "
            "the threshold is too large relative to the weights (rescale weights and threshold together)"
        )
    return vth.astype(np.int32)


def _reset_subtraction(layer: NormalisedLayer, dyn, vth: np.ndarray, scale: float, arith: ArithmeticSpec) -> np.ndarray:
    """State units subtracted on a spike: the effective threshold (vth << 6) when the
    float model subtracts its threshold, else round(reset_amount * s)."""
    if dyn.reset != "subtract":
        return np.zeros(dyn.size, dtype=np.int32)
    exact_threshold = np.isclose(dyn.reset_amount, dyn.threshold, rtol=1e-12, atol=0.0)
    amount = np.where(
        exact_threshold,
        vth.astype(np.int64) << arith.threshold_shift,
        np.round(dyn.reset_amount * scale),
    )
    if np.any(amount > arith.state_max):
        raise InvalidValueError(
            f"layer {layer.name!r}: reset subtraction of {amount.max():.0f} state units exceeds the {arith.state_bits}-bit state"
        )
    return amount.astype(np.int32)


def _bias_mantissa_exponent(layer: NormalisedLayer, bias_units: np.ndarray, arith: ArithmeticSpec):
    """Smallest exponent per neuron whose mantissa fits: bias_mant * 2**bias_exp ~= bias_units."""
    exponents = np.zeros(bias_units.shape, dtype=np.int32)
    magnitude = np.abs(bias_units)
    for e in range(arith.bias_exponent_max + 1):
        needs_more = np.round(magnitude / 2.0**exponents) > arith.bias_mantissa_max
        exponents = np.where(needs_more & (exponents == e), e + 1, exponents)
    if np.any(exponents > arith.bias_exponent_max):
        i = int(np.argmax(magnitude))
        raise InvalidValueError(
            f"layer {layer.name!r}: bias of neuron {i} needs {magnitude[i]:.4g} state units, above the largest "
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
