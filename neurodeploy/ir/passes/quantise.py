"""Pass 2: normalised float layers -> integers with the profile's bit widths.

Per layer, one state scale ``s`` (register units per float unit of v) ties everything
together. With Loihi's MSB alignment (``a_in << 6``, ``vth << 6``), each projection p
into the layer gets its own weight exponent e_p and integer weights:

    weights   W_int * 2**(e_p + 6)  =  W * s,   W_int = round(W * s / 2**(e_p + 6))
              e_p is the smallest exponent whose mantissa holds max|W|: the 8-bit
              mantissa (254 mixed sign, 255 single sign) is used to at least half its range
    threshold vth = round(theta * s / 2**6)                        (17-bit mantissa)
    bias      bias_mant * 2**bias_exp = round(b * s)               (13-bit mantissa, 3-bit exp)
    decays    du = round(4096 (1 - alpha)) - 1   (Loihi adds 1 to du)
              dv = round(4096 (1 - beta))                          (12 bits each)
    initial v v_init = round(-v_offset * s)

The scale is s = w_top / max|W_main| * 2**(e + 6) for the layer's largest projection
(its mantissa is used fully), with e the largest exponent in the profile's range for
which the threshold, the bias and the worst-case current fit (hard limits) and, where
that costs little threshold resolution, the worst-case voltage too. Worst case: every
input active at every step, so no input pattern can make u wrap.

Each projection is assigned the Lava connection that will execute it (``connection``),
because their integer arithmetic differs (``hardware/fixed_point.py``): Dense or Sparse
(by storage), DelayDense or DelaySparse (synaptic delays), and Conv for a single
convolution or pooling with exponent 0 (Lava's Conv applies no exponent). A layer whose
main projection is a convolution prefers exponent 0 when its headroom allows it.

Approximations are listed in the notes: decays that 12 bits cannot express, and a
constant synaptic current (CubaLIF after an Affine bias), which Loihi cannot inject into
u and which becomes its steady-state equivalent bias on v, c / (1 - alpha).

A layer that fires several spikes per step (Sinabs, Rockpool) sends graded spikes whose
payload is the count (``neurons/cuba.py``); the projections it feeds take graded input of
the profile's ``graded_spike_bits``, and their worst case assumes at most
``spike_count_bound`` spikes per source and step: 1 + (largest u + |bias|) / reset of the
source with its own inputs at one spike per step (not compounded through the layers), never
more than the 24-bit v allows, 1 + (state_max - T) // reset.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ...errors import DoesNotFitError, InputDataError, InvalidValueError, ModelLoadError, UnsupportedModelError
from ...hardware.fixed_point import Reset, firing_threshold, sign_mode_of, weight_range
from ...hardware.profile import ArithmeticSpec, HardwareProfile
from ...neurons import compartment_of
from ...neurons.cuba import bias_with_folded_current, payload_limit
from ..stages import (
    INPUT,
    Geometry,
    InputEncoding,
    NormalisedLayer,
    NormalisedNetwork,
    Projection,
    QuantisedLayer,
    QuantisedNetwork,
    QuantisedProjection,
)

DEFAULT_GRADED_INPUT_BITS = 8
# A weight exponent is only lowered to give v headroom while the largest threshold keeps
# at least this many mantissa steps (resolution of the threshold relative to the weights).
MIN_THRESHOLD_STEPS = 256


WEIGHT_SCALINGS = ("channel", "layer")


def quantise(
    network: NormalisedNetwork,
    profile: HardwareProfile,
    input_encoding: InputEncoding | None = None,
    weight_scaling: str = "channel",
    ranges: dict[str, "ObservedRange"] | None = None,
    weight_bounds: dict[tuple[str, str], "WeightBound"] | None = None,
) -> QuantisedNetwork:
    """``weight_scaling``: "layer", one state scale s for the whole layer; "channel", one
    per neuron (output channel of a convolution), s_i = s * max|W| / max|W_i| capped by
    every per-neuron limit, so that each neuron's largest weight uses the full mantissa.
    ``ranges`` (``ObservedRange`` per layer): the |u| and |v| each neuron reached on calibration
    data; the headroom rules then use them (times ``CALIBRATION_HEADROOM``) instead of the
    worst case (every input active at every step), which allows larger scales.
    ``weight_bounds`` (``WeightBound`` per (layer, source)): weights that learn on the chip will
    range up to the bound, in the given sign mode; the scale is chosen for the bound, so that it
    takes the top of the mantissa."""
    if weight_scaling not in WEIGHT_SCALINGS:
        raise InputDataError(f"unknown weight scaling {weight_scaling!r}: choose one of {', '.join(WEIGHT_SCALINGS)}")
    arith = profile.arithmetic
    encoding = _resolve_input_encoding(input_encoding or InputEncoding(), profile)
    _check_weight_bounds(network, weight_bounds)
    layers, notes = [], list(network.notes)
    counts: dict[str, int] = {}  # layers sending spike counts: the most one neuron sends in a step
    for layer in network.layers:
        observed = ranges.get(layer.name) if ranges else None
        _check_graded_sources(layer, network, counts, arith)
        bounds = {src: b for (name, src), b in (weight_bounds or {}).items() if name == layer.name}
        quantised, layer_notes, bound = _quantise_layer(layer, arith, encoding, weight_scaling, observed, counts, bounds)
        if bound is not None:
            counts[layer.name] = bound
        layers.append(quantised)
        notes.extend(f"layer {layer.name!r}: {note}" for note in layer_notes)
    if ranges:
        sample = next(iter(ranges.values()))
        notes.append(
            f"scales chosen from calibration data ({sample.samples} samples, {sample.percentile:g}th percentile of |u| and |v| "
            f"per neuron, x{CALIBRATION_HEADROOM:g} headroom) instead of the worst case"
        )
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


# --------------------------------------------------------------------------- calibration
CALIBRATION_HEADROOM = 2.0  # observed ranges are doubled: inputs beyond the calibration data


@dataclass(frozen=True)
class ObservedRange:
    """Per neuron, the ``percentile`` of |u| and of |v| (float units) on calibration data:
    what the caller observed (``backends/calibration.py`` runs the float reference); this
    pass runs no simulation."""

    u: np.ndarray
    v: np.ndarray
    percentile: float
    samples: int


@dataclass(frozen=True)
class WeightBound:
    """The largest |weight| (normalised float units, one per neuron) a learning projection will
    reach, and the sign mode its weights keep while learning."""

    max_abs: np.ndarray
    sign_mode: str


# --------------------------------------------------------------------------- per layer
class _Synapses:
    """A projection's float weights per integer input unit, and its integer format."""

    def __init__(self, projection: Projection, encoding: InputEncoding, arith: ArithmeticSpec, counts: dict[str, int] | None = None,
                 bound: WeightBound | None = None):
        self.projection = projection
        graded = projection.source == INPUT and encoding.kind == "graded"
        self.graded_bits = encoding.bits if graded else 0
        self.input_max = float(2 ** (encoding.bits - 1) - 1) if graded else 1.0
        scale = encoding.scale if graded else 1.0
        if counts and projection.source in counts:  # spike counts: graded spikes, one float unit per spike
            self.graded_bits, self.input_max = arith.graded_spike_bits, float(counts[projection.source])
        self.weight = projection.weight / scale if not sparse.issparse(projection.weight) else projection.weight.multiply(1.0 / scale).tocsr()
        values = self.weight.data if sparse.issparse(self.weight) else self.weight
        self.sign_mode = sign_mode_of(values) if bound is None else bound.sign_mode
        self.low, self.high, self.step = weight_range(self.sign_mode, arith.weight_mantissa_bits)
        self.w_top = max(self.high, -self.low if self.sign_mode == "inhibitory" else 0)
        self.bound = np.zeros(1) if bound is None else np.asarray(bound.max_abs, np.float64) / scale
        self.w_max = max(float(np.abs(values).max(initial=0.0)), float(self.bound.max(initial=0.0)))
        self.row_abs_sum = np.asarray(abs(self.weight).sum(axis=1)).reshape(-1) * self.input_max
        if bound is not None:  # learnt weights may all reach the bound
            self.row_abs_sum = np.maximum(self.row_abs_sum, self.bound * self.weight.shape[1] * self.input_max)

    def row_max(self) -> np.ndarray:
        """max|W_i| per neuron, or the learning bound where it is larger."""
        return np.maximum(_row_abs_max(self.weight), self.bound)

    def scaled_max(self, scale) -> float:
        """max over neurons of max|W_i| * s_i (s: one scale, or one per neuron)."""
        if np.ndim(scale) == 0:
            return self.w_max * float(scale)
        return float((self.row_max() * scale).max(initial=0.0))

    def exponent_for(self, scale, arith: ArithmeticSpec) -> int:
        """Smallest exponent whose mantissa holds max|W_i| * s_i (clamped to the profile's range)."""
        if self.w_max == 0:
            return 0
        needed = self.scaled_max(scale) / 2**arith.activation_shift / self.w_top
        exponent = int(np.ceil(np.log2(needed) - 1e-12))
        return int(np.clip(exponent, arith.weight_exponent_min, arith.weight_exponent_max))


def _check_graded_sources(layer: NormalisedLayer, network: NormalisedNetwork, counts: dict[str, int], arith: ArithmeticSpec) -> None:
    """A source firing several spikes per step must be quantised before its consumers (its count
    bound sets their worst case): a recurrent connection from one is refused."""
    for source in layer.sources:
        if source == INPUT or source in counts:
            continue
        if network.layer(source).neurons.several_spikes and payload_limit(arith) > 1 and _after(network, source, layer.name):
            raise UnsupportedModelError(
                f"layer {source!r} fires several spikes per step and feeds {layer.name!r} through a recurrent connection, "
                "which neurodeploy does not lower (no exporter writes one)"
            )


def _after(network: NormalisedNetwork, source: str, name: str) -> bool:
    order = [layer.name for layer in network.layers]
    return order.index(source) >= order.index(name)


def spike_count_bound(dyn, synapses: list["_Synapses"], bias_total: np.ndarray, neurons, arith: ArithmeticSpec) -> int:
    """The most spikes one neuron of a layer firing several per step sends in a step, for its
    consumers' worst case. After its reset v stays below the threshold T, so a step's v is at
    most T + u + |bias| and n = 1 + (v - T) // reset <= 1 + (u + |bias|) / reset, with u the
    worst case of binary inputs: every input spiking once at every step. Counts of its own
    sources are not compounded into it (the bound would grow geometrically with depth and
    leave later layers no resolution); a step exceeding it can wrap u, which the run counts
    (``saturations``), and ``--calibration data`` sizes the scales from observed ranges. It
    never exceeds what 24-bit v allows, 1 + (state_max - T) // reset_sub."""
    persistence = 1.0 / np.maximum(1.0 - dyn.alpha, 1.0 / arith.decay_unity)
    drive = sum(syn.row_abs_sum / syn.input_max for syn in synapses) * persistence + np.abs(bias_total)
    from_drive = 1.0 + np.floor(drive / dyn.reset_amount)
    threshold = firing_threshold(neurons.vth, arith, neurons.inclusive).astype(np.int64) + 1
    from_state = 1 + (arith.state_max - threshold) // np.maximum(neurons.reset_sub.astype(np.int64), 1)
    return int(min(neurons.max_spikes, np.max(np.minimum(from_drive, from_state)), payload_limit(arith)))



def _check_weight_bounds(network: NormalisedNetwork, weight_bounds: dict[tuple[str, str], "WeightBound"] | None) -> None:
    """Every weight range names a projection of the network and holds one value or one per neuron
    (a learned network's metadata carries them: a file may hold anything)."""
    sizes = {(layer.name, p.source): int(np.prod(layer.shape)) for layer in network.layers for p in layer.projections}
    for (layer, source), bound in (weight_bounds or {}).items():
        if (layer, source) not in sizes:
            raise ModelLoadError(f"learned weight range (graph metadata) for layer {layer!r} from {source!r}: the network has no such projection; "
                                 "remove the range (a learned network's metadata) or deploy the network it was learned in")
        if np.asarray(bound.max_abs).size not in (1, sizes[layer, source]):
            raise ModelLoadError(f"learned weight range (graph metadata) for layer {layer!r} from {source!r}: {np.asarray(bound.max_abs).size} values for "
                                 f"{sizes[layer, source]} neurons; give one value or one per neuron")

def _quantise_layer(
    layer: NormalisedLayer, arith: ArithmeticSpec, encoding: InputEncoding, weight_scaling: str, observed: "ObservedRange | None" = None,
    counts: dict[str, int] | None = None,
    bounds: dict[str, WeightBound] | None = None,
) -> tuple[QuantisedLayer, list[str], int | None]:
    """The layer in integers, notes on it, and, if it sends spike counts, their bound."""
    notes: list[str] = []
    dyn = layer.neurons
    compartment = compartment_of(dyn)
    synapses = [_Synapses(p, encoding, arith, counts, (bounds or {}).get(p.source)) for p in layer.projections]
    fixed_scale = compartment.fixed_scale(dyn)
    if fixed_scale is not None:  # the compartment's state has a fixed format (Izhikevich: Q8 mV)
        projections = [_quantise_projection(layer, syn, fixed_scale, arith) for syn in synapses]
        notes.extend(_coarse_weight_notes(synapses, projections, fixed_scale, arith))
        neurons, neuron_notes = compartment.quantise(layer.name, dyn, dyn.bias, fixed_scale, arith)
        return QuantisedLayer(layer.name, layer.shape, tuple(projections), neurons, fixed_scale, layer), notes + neuron_notes, None
    if compartment.current_bias:  # the compartment adds the constant current to u itself
        bias_total, folded = dyn.bias, False
    else:
        bias_total, folded = bias_with_folded_current(dyn.alpha, dyn.bias, dyn.current_bias)
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
    scale, binding = _choose_scale(layer, synapses, bias_total, arith, observed)
    if binding:
        notes.append(binding)
    if weight_scaling == "channel":
        channel = _channel_scales(layer, synapses, bias_total, scale, arith, observed)
        if all(not syn.w_max or _exponent_unclamped(syn, channel, arith) <= arith.weight_exponent_max for syn in synapses):
            scale = channel
    projections = [_quantise_projection(layer, syn, scale, arith) for syn in synapses]
    notes.extend(_coarse_weight_notes(synapses, projections, scale, arith))
    neurons, neuron_notes = compartment.quantise(layer.name, dyn, bias_total, scale, arith)
    notes.extend(neuron_notes)
    scales = np.asarray(scale, dtype=np.float64).reshape(-1)
    state_scale = float(scales[0]) if np.all(scales == scales[0]) else scales
    bound = spike_count_bound(dyn, synapses, bias_total, neurons, arith) if neurons.several_spikes else None
    return QuantisedLayer(layer.name, layer.shape, tuple(projections), neurons, state_scale, layer), notes, bound


def _coarse_weight_notes(synapses: list[_Synapses], projections: list[QuantisedProjection], scale, arith: ArithmeticSpec) -> list[str]:
    """A note for each projection whose weights would need an exponent below the profile's
    range: at the smallest exponent they use only part of the mantissa."""
    notes = []
    for syn, projection in zip(synapses, projections):
        if syn.w_max and _exponent_unclamped(syn, scale, arith) < arith.weight_exponent_min:
            weights = projection.weights.data if sparse.issparse(projection.weights) else projection.weights
            used = int(np.abs(weights).max(initial=0))
            notes.append(
                f"weights from {projection.source!r} are small next to the layer's other inputs: at the smallest weight "
                f"exponent {arith.weight_exponent_min} the largest is {used} of {syn.w_top} mantissa steps (coarser rounding)"
            )
    return notes


def _main(synapses: list[_Synapses]) -> _Synapses:
    """The projection whose mantissa the scale fills: a learning one (its bound), else the largest."""
    return max(synapses, key=lambda s: (bool(s.bound.max(initial=0.0) > 0), s.w_max))


def _choose_scale(
    layer: NormalisedLayer, synapses: list[_Synapses], bias_total: np.ndarray, arith: ArithmeticSpec, observed: "ObservedRange | None" = None
) -> tuple[float, str]:
    """Layer scale s = k * 2**(e + 6), k = w_top / max|W| of the main projection.

    Tries exponents e from the largest down: all hard limits (current, threshold, bias,
    other projections' exponents within range) and, first, the soft voltage limit.
    """
    dyn = layer.neurons
    main = _main(synapses)
    k = main.w_top / main.w_max if main.w_max > 0 else 1.0
    floor = 1.0 / arith.decay_unity
    persistence = 1.0 / np.maximum(1.0 - dyn.alpha, floor)
    float_row_sum = sum(s.row_abs_sum for s in synapses)  # worst-case |a| per neuron, float units
    leaky = dyn.beta < 1.0
    bias_limit = arith.bias_mantissa_max * 2.0**arith.bias_exponent_max
    thresholds = dyn.threshold[np.isfinite(dyn.threshold)]
    theta_max = float(thresholds.max()) if thresholds.size else 0.0
    largest_bias = float(np.abs(bias_total).max(initial=0.0))
    prefers_zero = main.projection.geometry is not None and main.projection.max_delay == 0

    def fits(exponent: int, with_voltage: bool, strict: bool = True) -> bool:
        scale = k * 2.0 ** (exponent + arith.activation_shift)
        current = float_row_sum * scale * persistence if observed is None else observed.u * CALIBRATION_HEADROOM * scale
        if float(current.max(initial=0.0)) > arith.state_max:
            return False
        if round(theta_max * scale / 2**arith.threshold_shift) > arith.threshold_max or largest_bias * scale > bias_limit:
            return False
        for syn in synapses:  # above the range a mantissa overflows; below it (not strict) it only loses bits
            needed = _exponent_unclamped(syn, scale, arith) if syn.w_max else 0
            if needed > arith.weight_exponent_max or (strict and needed < arith.weight_exponent_min):
                return False
        if with_voltage and np.any(leaky):
            if observed is not None:
                voltage = observed.v[leaky] * CALIBRATION_HEADROOM * scale
            else:
                voltage = (current[leaky] + np.abs(bias_total[leaky]) * scale) / (1.0 - dyn.beta[leaky])
            if float(voltage.max()) > arith.state_max:
                return False
            if theta_max and theta_max * scale / 2**arith.threshold_shift < MIN_THRESHOLD_STEPS:
                return False
        if with_voltage and dyn.reset is Reset.SUBTRACT and observed is None:
            # v reaches at most threshold + u + bias before its reset; clipped there, the subtraction
            # (and the count of several spikes) would start from the wrong v
            peak = dyn.threshold * scale + current + np.abs(bias_total) * scale
            if float(peak.max(initial=0.0)) > arith.state_max:
                return False
        return True

    exponents = list(range(arith.weight_exponent_max, arith.weight_exponent_min - 1, -1))
    if prefers_zero and 0 in exponents and fits(0, with_voltage=False):
        return k * 2.0**arith.activation_shift, ""  # Lava's Conv applies no exponent
    # Preference: every projection's exponent in range and v safe; then v may saturate; then a
    # projection much weaker than the main one may sit at the smallest exponent with fewer
    # mantissa bits (noted per projection) rather than shrinking the whole layer's scale.
    for strict, with_voltage in ((True, True), (True, False), (False, True), (False, False)):
        for exponent in exponents:
            if fits(exponent, with_voltage, strict):
                return k * 2.0 ** (exponent + arith.activation_shift), ""
    exponent = arith.weight_exponent_min
    scale = k * 2.0 ** (exponent + arith.activation_shift)
    worst = float((float_row_sum * scale * persistence).max(initial=0.0))
    note = f"no weight exponent meets every limit (current, threshold, bias, weight range): using the smallest, {exponent}"
    if worst > arith.state_max:
        note = (
            f"worst-case synaptic current {worst:.3g} exceeds the {arith.state_bits}-bit state even at the smallest "
            f"weight exponent {exponent}: u can wrap when many inputs fire together"
        )
    return scale, note


def _row_abs_max(weight) -> np.ndarray:
    if sparse.issparse(weight):
        return np.asarray(abs(weight).max(axis=1).todense()).reshape(-1)
    return np.abs(weight).max(axis=1, initial=0.0)


def _channel_scales(
    layer: NormalisedLayer, synapses: list[_Synapses], bias_total: np.ndarray, scale: float, arith: ArithmeticSpec, observed=None
) -> np.ndarray:
    """Per-neuron state scale s_i = s * max|W| / max|W_i| (main projection), lowered where
    a neuron's own limits bind: threshold mantissa, bias, worst-case current (every input
    active at every step: u never wraps) and, for a non-spiking readout, worst-case voltage.
    Neurons of one convolution output channel share one scale (the kernel is shared):
    their row maximum is the channel's kernel maximum."""
    dyn = layer.neurons
    main = _main(synapses)
    n = layer.n_out
    if main.w_max == 0:
        return np.full(n, scale)
    geometry = main.projection.geometry
    row_max = main.row_max()
    if geometry is not None:  # a channel's largest kernel weight, also at its borders
        channels = geometry.out_shape[0]
        row_max = np.repeat(row_max.reshape(channels, -1).max(axis=1), n // channels)
    gain = np.where(row_max > 0, main.w_max / np.where(row_max > 0, row_max, 1.0), 1.0)
    persistence = 1.0 / np.maximum(1.0 - dyn.alpha, 1.0 / arith.decay_unity)
    if observed is None:
        current = sum(syn.row_abs_sum for syn in synapses) * scale * persistence
    else:
        current = observed.u * CALIBRATION_HEADROOM * scale
    limits = [gain]
    limits.append(np.where(current > 0, arith.state_max / np.where(current > 0, current, 1.0), np.inf))
    if dyn.spiking:
        theta = np.where(np.isfinite(dyn.threshold), dyn.threshold, 0.0) * scale / 2**arith.threshold_shift
        limits.append(np.where(theta > 0, arith.threshold_max / np.where(theta > 0, theta, 1.0), np.inf))
    bias_units = np.abs(bias_total) * scale
    limits.append(np.where(bias_units > 0, arith.bias_mantissa_max * 2.0**arith.bias_exponent_max / np.where(bias_units > 0, bias_units, 1.0), np.inf))
    # v of a spiking neuron resets once it passes the threshold; only a readout's v can grow to the worst case
    leaky = (dyn.beta < 1.0) & (not dyn.spiking)
    voltage = np.where(leaky, (current + bias_units) / np.where(leaky, 1.0 - dyn.beta, 1.0), 0.0)
    if observed is not None:
        voltage = np.where(leaky, observed.v * CALIBRATION_HEADROOM * scale, 0.0)
    limits.append(np.where(voltage > 0, arith.state_max / np.where(voltage > 0, voltage, 1.0), np.inf))
    if dyn.reset is Reset.SUBTRACT and observed is None:  # v peaks at threshold + u + bias before its subtraction
        peak = np.where(np.isfinite(dyn.threshold), dyn.threshold, 0.0) * scale + current + bias_units
        limits.append(np.where(peak > 0, arith.state_max / np.where(peak > 0, peak, 1.0), np.inf))
    factor = np.maximum(np.minimum.reduce(limits), 1.0)
    if geometry is not None:  # one scale per output channel
        factor = np.repeat(factor.reshape(geometry.out_shape[0], -1).min(axis=1), n // geometry.out_shape[0])
    return scale * factor


def _exponent_unclamped(syn: _Synapses, scale, arith: ArithmeticSpec) -> int:
    return int(np.ceil(np.log2(syn.scaled_max(scale) / 2**arith.activation_shift / syn.w_top) - 1e-12))


def _quantise_projection(layer: NormalisedLayer, syn: _Synapses, scale: float, arith: ArithmeticSpec) -> QuantisedProjection:
    projection = syn.projection
    exponent = syn.exponent_for(scale, arith)
    factor = np.asarray(scale, dtype=np.float64) / 2.0 ** (exponent + arith.activation_shift)  # per neuron, or one

    def to_int(values: np.ndarray, row_factor) -> np.ndarray:
        return (np.round(values * row_factor / syn.step) * syn.step).clip(syn.low, syn.high).astype(np.int32)

    if sparse.issparse(syn.weight):
        rows = np.repeat(np.arange(syn.weight.shape[0]), np.diff(syn.weight.indptr))
        row_factor = factor[rows] if factor.ndim else factor
        weights = sparse.csr_matrix((to_int(syn.weight.data, row_factor), syn.weight.indices, syn.weight.indptr), shape=syn.weight.shape)
        weights.eliminate_zeros()
    else:
        weights = to_int(syn.weight, factor[:, None] if factor.ndim else factor)
    delays = None
    if projection.delays is not None:
        if projection.max_delay > arith.max_synaptic_delay:
            raise DoesNotFitError(
                f"layer {layer.name!r}: a synapse from {projection.source!r} needs a delay of {projection.max_delay} steps, "
                f"above the profile's {arith.max_synaptic_delay}: use a larger dt or shorter delays"
            )
        delays = _delays_like(projection.delays, weights)
    if syn.graded_bits and delays is not None:
        raise InvalidValueError(
            f"layer {layer.name!r}: graded input through synaptic delays is not supported; give spike input"
        )
    geometry = _integer_geometry(projection.geometry, factor, syn)
    connection = _connection(projection, weights, delays, geometry, exponent, syn)
    return QuantisedProjection(
        source=projection.source,
        weights=weights,
        delays=delays,
        weight_exp=exponent,
        sign_mode=syn.sign_mode,
        mantissa_bits=arith.weight_mantissa_bits,
        graded_bits=syn.graded_bits,
        connection=connection,
        geometry=geometry if connection == "Conv" else projection.geometry,
        float_projection=projection,
    )


def _largest_sum(weights) -> float:
    """max over neurons of sum |w| (integers): the largest synaptic sum of a step per unit of input."""
    return float(np.asarray(abs(weights).sum(axis=1)).max(initial=0.0))


def _delays_like(delays, weights):
    """Delays restricted to the synapses that survived quantisation (same structure as weights)."""
    if sparse.issparse(weights):
        d = sparse.csr_matrix(delays)
        values = np.asarray(d[weights.nonzero()]).reshape(-1).astype(np.int32)
        rows, cols = weights.nonzero()
        out = sparse.csr_matrix((values, (rows, cols)), shape=weights.shape, dtype=np.int32)
        return out
    return np.where(weights != 0, np.asarray(delays), 0).astype(np.int32)


def _integer_geometry(geometry: Geometry | None, factor, syn: _Synapses) -> Geometry | None:
    """The shared kernel in integers; ``factor`` is one value or one per neuron (then
    constant over each output channel)."""
    if geometry is None:
        return None
    if np.ndim(factor):
        factor = factor.reshape(geometry.out_shape[0], -1)[:, 0].reshape(-1, *([1] * (geometry.kernel.ndim - 1)))
    kernel = (np.round(geometry.kernel * factor / syn.step) * syn.step).clip(syn.low, syn.high).astype(np.int32)
    return Geometry(geometry.kind, geometry.in_shape, geometry.out_shape, kernel, geometry.stride, geometry.padding, geometry.dilation, geometry.groups)


# Lava's Conv sums in float32 (torch's conv2d): exact while every sum stays below 2**24
CONV_EXACT_BELOW = 2**24


def _connection(projection: Projection, weights, delays, geometry: Geometry | None, exponent: int, syn: _Synapses) -> str:
    if delays is not None:
        return "DelaySparse" if sparse.issparse(weights) else "DelayDense"
    if geometry is not None and exponent == 0 and _largest_sum(weights) * syn.input_max < CONV_EXACT_BELOW:
        return "Conv"
    return "Sparse" if sparse.issparse(weights) else "Dense"
