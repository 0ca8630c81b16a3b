"""Lowering a learning specification (``spec.py``) onto Loihi's learning engine.

For each learning layer of the compiled network this produces the integers Lava's
``LearningDense`` and the learning post neurons take (``program.LayerProgram``), the float
rule it approximates (``FloatRule``, what ``--target float`` learns with), and a table of what
every parameter became, with its error. docs/learning.md states the maths; in short, with
k = the integer weight units per float weight unit of the layer's quantisation (chosen by
the quantise pass so that w_max takes the top of the 8-bit mantissa, ``weight_bounds``):

    traces      an integer impulse I (1..127: fractions would be rounded by Lava with a biased
                random, docs/learning.md) and a decay exp(-epoch/tau) quantised to the profile's
                trace_decay_bits; the float trace x (1 per spike) is x1 / I
    products    a coefficient A = k a (weight units per unit trace) becomes S * I with
                S = m * 2**e (4-bit mantissa); I and S are chosen together so that S * I is
                closest to A, the largest I first
    stdp        dw = -S- x0 y1 + S+ y0 x1 (additive); multiplicative: S+ y0 x1 (W - w) and
                -S- x0 y1 (w - W_min), W the integer bound, shifted by Lava's width rule (>> 5)
    rstdp       dt = S+ y0 x1 - S- x0 y1 - c u0 t (eligibility in the tag, decaying by c per
                epoch); dw = G u0 t y2 - G u0 t y3 (y2 the reward, y3 the punishment magnitude);
                multiplicative: dw = S+ u0 y2 x1 (W - w) + S- u0 y2 (x1 - I) (w - W_min)
                - S+ u0 y3 x1 (w - W_min), the pre trace x1 an indicator (impulse I = the trace's top)
    thresholds  theta_plus in state units, rounded to a multiple of 2**threshold_shift (so the
                learned threshold is a threshold mantissa again), its decay 12 bits
    epoch       a power of two no larger than 2**epoch_exponent_max
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import nir
import numpy as np
from scipy import sparse

from ..errors import UnsupportedModelError
from ..hardware.fixed_point import Reset
from ..hardware.profile import HardwareProfile, LearningEngineSpec
from ..ir.passes.quantise import WeightBound
from ..ir.stages import INPUT, NormalisedLayer, NormalisedNetwork, QuantisedLayer, QuantisedNetwork
from ..neurons import NEURONS, Lowering, model_of
from . import rules
from .program import LayerProgram, PostNeurons, RecurrentDense, RewardUnit
from .spec import STDP, LayerLearning, LearningSpec, LoihiRule, SpecError

DEFAULT_RSTDP_IMPULSE = 64  # one spike fills half of a 7-bit trace: the eligibility sees a second one
REWARD_TOP = 127  # y2 / y3 of the larger of reward and punishment (7-bit traces)


# --------------------------------------------------------------------------- what comes out
@dataclass(frozen=True)
class LoweredValue:
    """One row of the report's per-projection quantisation table."""

    parameter: str
    requested: float
    lowered: str  # as the chip holds it (a literal, an impulse, a decay)
    effective: float  # what the lowered value means in the requested unit
    unit: str

    @property
    def relative_error(self) -> float:
        if self.requested == 0 or not math.isfinite(self.requested):
            return 0.0 if self.effective == self.requested else math.inf
        return abs(self.effective - self.requested) / abs(self.requested)

    def to_dict(self) -> dict:
        return {"parameter": self.parameter, "requested": self.requested, "lowered": self.lowered, "effective": self.effective,
                "unit": self.unit, "relative_error": self.relative_error}


@dataclass(frozen=True)
class FloatProduct:
    """One product of the float rule: coefficient * dependency * factors, in the integer units
    of the chip (weights in weight LSBs, traces in trace units) but real-valued."""

    target: str  # "weights", "tag_1" or "tag_2"
    dependency: str  # "x0", "y0" or "u"
    coefficient: float
    factors: tuple[tuple[str, float, bool], ...]  # (variable, constant, sgn)
    decimate: int | None = None


@dataclass(frozen=True)
class FloatRule:
    """The rule the lowering approximates, in real numbers: exact coefficients, trace impulses
    and decays; no stochastic rounding and no bit widths (traces still saturate at the
    top of the trace range, weights at the bounds)."""

    products: tuple[FloatProduct, ...]
    x_impulse: tuple[float, float]
    x_tau: tuple[float, float]  # steps; 0: the trace exists only at its spike step
    y_impulse: tuple[float, float, float]
    y_tau: tuple[float, float, float]
    t_epoch: int
    three_factor: bool = False
    post_trace_tau: float = 0.0
    post_trace_impulse: float = 0.0
    trace_max: float = 127.0
    reward_top: float = 127.0  # y2 / y3 of the larger of reward and punishment


@dataclass(frozen=True)
class LoweredLayer:
    entry: LayerLearning
    program: LayerProgram
    float_rule: FloatRule
    units: np.ndarray  # integer weight units per normalised float weight unit, per post neuron
    gain: np.ndarray  # normalised weight = gain * NIR weight, per post neuron
    state_scale: np.ndarray  # v register units per float unit of v, per post neuron
    dt: float
    nir_node: str  # the NIR Linear / Affine node whose weights learn
    table: tuple[LoweredValue, ...]
    notes: tuple[str, ...] = ()
    weight_range: tuple[int, int] = (-256, 255)  # the range the rule keeps weights in (integer units)

    @property
    def name(self) -> str:
        return self.program.name


@dataclass(frozen=True)
class LearningPlan:
    spec: LearningSpec
    layers: tuple[LoweredLayer, ...]

    def layer(self, name: str) -> LoweredLayer:
        return next(layer for layer in self.layers if layer.name == name)


# --------------------------------------------------------------------------- before quantisation
def learning_source(entry: LayerLearning, layer: NormalisedLayer) -> str:
    """The source of the layer's learning projection: the spec's, else its one feed-forward source."""
    sources = [s for s in layer.sources if s != layer.name]
    if entry.source is not None:
        wanted = INPUT if entry.source == "input" else entry.source
        if wanted not in layer.sources or wanted == layer.name:
            raise SpecError(f"layers.{entry.layer}.source: {entry.source!r} does not project into layer {entry.layer!r} "
                            f"(its sources: {', '.join(sources) or 'none'})")
        return wanted
    if len(sources) != 1:
        raise SpecError(f"layers.{entry.layer}: the layer has {len(sources)} feed-forward sources ({', '.join(sources)}): name one in 'source'")
    return sources[0]


def weight_bounds(spec: LearningSpec, network: NormalisedNetwork) -> dict[tuple[str, str], WeightBound]:
    """Per learning projection, the range its weights learn within (normalised units, per neuron)
    and their sign mode, for the quantise pass. A ``loihi`` rule keeps the quantiser's choice."""
    bounds = {}
    for entry in spec.layers:
        layer = _normalised_layer(network, entry)
        rule = entry.rule
        if isinstance(rule, LoihiRule):
            continue
        source = learning_source(entry, layer)
        gain = input_gain(network, layer)
        bounds[(layer.name, source)] = WeightBound(max_abs=rule.w_max * np.abs(gain), sign_mode="excitatory" if rule.w_min == 0 else "mixed")
    return bounds


def input_gain(network: NormalisedNetwork, layer: NormalisedLayer) -> np.ndarray:
    """The neuron model's input gain per neuron (normalised weight = gain * NIR weight)."""
    node = network.source.graph.nodes[layer.name]
    _, gain = model_of(node).lower(Lowering(node, layer.name, layer.n_out, np.zeros(layer.n_out), network.dt))
    return np.broadcast_to(np.asarray(gain, np.float64), (layer.n_out,)).copy()


def _normalised_layer(network: NormalisedNetwork, entry: LayerLearning) -> NormalisedLayer:
    names = [layer.name for layer in network.layers]
    if entry.layer not in names:
        raise SpecError(f"layers.{entry.layer}: the network has no neuron layer {entry.layer!r} (its layers: {', '.join(names)})")
    return network.layer(entry.layer)


# --------------------------------------------------------------------------- lowering
def lower(spec: LearningSpec, network: QuantisedNetwork, profile: HardwareProfile) -> LearningPlan:
    """The learning plan of ``network`` (quantised with ``weight_bounds(spec, ...)``)."""
    if profile.learning is None:
        raise SpecError(f"profile {profile.name!r} has no 'learning' section: it says nothing about an on-chip learning engine")
    if spec.readout is not None and spec.readout.layer not in [layer.name for layer in network.layers]:
        raise SpecError(f"{spec.source}: readout.layer {spec.readout.layer!r} is not a layer of the network")
    seen = set()
    layers = []
    for index, entry in enumerate(spec.layers):
        if entry.layer in seen:
            raise SpecError(f"{spec.source}: layer {entry.layer!r} appears twice")
        seen.add(entry.layer)
        layers.append(_lower_layer(entry, network, profile.learning, spec.seed + index))
    return LearningPlan(spec=spec, layers=tuple(layers))


def _lower_layer(entry: LayerLearning, network: QuantisedNetwork, limits: LearningEngineSpec, seed: int) -> LoweredLayer:
    where = f"layers.{entry.layer}"
    normalised = _normalised_layer(network.normalised, entry)
    layer = network.layer(entry.layer)
    source = learning_source(entry, normalised)
    index = next(i for i, p in enumerate(layer.projections) if p.source == source)
    projection = layer.projections[index]
    nir_node = _learning_node(network, layer, index, where)
    if NEURONS.get(layer.neurons.kind).compartment != "cuba" or not layer.neurons.spiking:
        raise UnsupportedModelError(f"{where}: neuron model {layer.neurons.kind} cannot learn here (spiking CUBA neurons only)")
    recurrent = None
    for i, p in enumerate(layer.projections):
        if i == index:
            continue
        if p.source != layer.name:
            raise UnsupportedModelError(f"{where}: the layer also receives synapses from {p.source!r}; a learning layer takes "
                                        "its learning projection and its own recurrent projection (lateral inhibition) only")
        if p.connection != "Dense":
            raise UnsupportedModelError(f"{where}: its recurrent projection is a {p.connection}; a learning layer's is a plain Dense")
        recurrent = RecurrentDense(weights=np.asarray(p.weights), weight_exp=p.weight_exp, num_weight_bits=p.mantissa_bits, sign_mode=p.sign_mode)
    dt = network.normalised.dt
    n = layer.n_out
    state_scale = np.broadcast_to(np.asarray(layer.state_scale, np.float64), (n,)).copy()
    units = state_scale / 2.0 ** (projection.weight_exp + network.arithmetic.activation_shift)
    gain = input_gain(network.normalised, normalised)
    table: list[LoweredValue] = []
    notes: list[str] = []
    epoch = entry.rule.epoch
    if epoch > 2 ** limits.epoch_exponent_max:
        raise SpecError(f"{where}.rule.epoch: {epoch} steps; the learning engine's epochs are at most 2**{limits.epoch_exponent_max} steps")
    if isinstance(entry.rule, LoihiRule):
        rule = _lower_loihi(entry.rule, limits, seed, where, table, notes)
        float_rule, sign_mode = _float_from_rule(rule), projection.sign_mode
        weight_range = {"mixed": (-256, 255), "excitatory": (0, 255), "inhibitory": (-255, 0)}[sign_mode]
    else:
        top = _integer_bound(entry, projection, units, gain, where)
        rule, float_rule = _lower_stdp(entry, limits, seed, dt, top, units * gain, table, notes, where)
        sign_mode = "excitatory" if entry.rule.w_min == 0 else "mixed"
        weight_range = (-top if sign_mode == "mixed" else 0, top)
    neurons = _post_neurons(entry, layer, state_scale, dt, limits, table, notes, where)
    reward = _reward_unit(entry, n, dt, table, float_rule.reward_top)
    weights = np.asarray(projection.weights.todense() if sparse.issparse(projection.weights) else projection.weights)
    program = LayerProgram(name=layer.name, source=source, rule=rule, weights=weights, sign_mode=sign_mode,
                           num_weight_bits=limits.weight_bits, weight_exp=projection.weight_exp, neurons=neurons,
                           recurrent=recurrent, reward=reward)
    return LoweredLayer(entry=entry, program=program, float_rule=float_rule, units=units, gain=gain, state_scale=state_scale, dt=dt,
                        nir_node=nir_node, table=tuple(table), notes=tuple(notes), weight_range=weight_range)


def _learning_node(network: QuantisedNetwork, layer: QuantisedLayer, index: int, where: str) -> str:
    p = layer.projections[index]
    if p.connection not in ("Dense", "Sparse") or p.delays is not None or p.graded_bits:
        raise UnsupportedModelError(f"{where}: the learning projection is a {p.connection}{' with delays' if p.delays is not None else ''}"
                                    f"{' of graded input' if p.graded_bits else ''}; Loihi's learning synapses here are plain "
                                    "dense synapses carrying binary spikes")
    nodes = network.normalised.source.graph.nodes
    linear = [name for name in p.float_projection.nir_nodes if isinstance(nodes[name], (nir.Linear, nir.Affine))]
    others = [name for name in p.float_projection.nir_nodes if name not in linear and not isinstance(nodes[name], nir.Flatten)]
    if len(linear) != 1 or others:
        raise UnsupportedModelError(f"{where}: the learning projection passes through {', '.join(p.float_projection.nir_nodes)}; "
                                    "learned weights are written back into one NIR Linear or Affine node (Flatten nodes may come before it)")
    return linear[0]


def _integer_bound(entry: LayerLearning, projection, units: np.ndarray, gain: np.ndarray, where: str) -> int:
    """W: the integer weight w_max became (the same for every neuron, as the rule holds one)."""
    top = np.round(entry.rule.w_max * np.abs(gain) * units).astype(np.int64)
    if np.unique(top).size != 1:
        raise UnsupportedModelError(f"{where}: w_max becomes {top.min()}..{top.max()} weight units across the layer's neurons "
                                    "(their input gains or scales differ); give the layer's neurons one time constant and scale")
    return int(top[0])


# --------------------------------------------------------------------------- rule pieces
def scale_grid(limits: LearningEngineSpec) -> list[tuple[int, int]]:
    top = 2 ** (limits.scale_mantissa_bits - 1) - 1
    return [(m, e) for m in range(1, top + 1) for e in range(limits.scale_exponent_min, limits.scale_exponent_max + 1)]


def literal(m: int, e: int) -> str:
    return f"{m}*2^{e}"


def impulse_and_scale(target: float, limits: LearningEngineSpec, impulse: int | None = None) -> tuple[int, int, int]:
    """(I, m, e) with I * m * 2**e closest to ``target`` (relative), I in 1..trace max (or the
    given impulse), the largest I first; ``target`` > 0."""
    top = 2 ** limits.trace_bits - 1
    best = None
    for m, e in scale_grid(limits):
        s = m * 2.0 ** e
        candidates = [impulse] if impulse else sorted({int(np.clip(np.floor(target / s), 1, top)), int(np.clip(np.ceil(target / s), 1, top))})
        for i in candidates:
            key = (abs(i * s - target) / target, -i, m)
            if best is None or key < best[0]:
                best = (key, (i, m, e))
    return best[1]


def scale_only(target: float, limits: LearningEngineSpec) -> tuple[int, int]:
    """(m, e) with m * 2**e closest to ``target`` > 0 (relative)."""
    return min(scale_grid(limits), key=lambda me: (abs(me[0] * 2.0 ** me[1] - target) / target, me[0]))


def range_impulse(trace_range: float, limits: LearningEngineSpec) -> int | None:
    """The impulse that leaves the trace room for ``trace_range`` spikes' worth (coarser,
    never saturating), at most the trace's maximum; None when no range is stated."""
    if trace_range <= 0:
        return None
    top = 2 ** limits.trace_bits - 1
    return int(min(top, max(1, top // trace_range)))


def quantised_decay(tau_steps: float, limits: LearningEngineSpec) -> tuple[float, int]:
    """(the time constant whose exp(-1/tau) is a trace_decay_bits decay, that decay d)."""
    unity = 2 ** limits.trace_decay_bits
    d = int(np.clip(round(unity * (1.0 - math.exp(-1.0 / tau_steps))), 0, unity - 1))
    if d == 0:
        return tau_steps, 0
    return -1.0 / math.log(1.0 - d / unity), d


def _lower_stdp(entry: LayerLearning, limits: LearningEngineSpec, seed: int, dt: float, top: int, k: np.ndarray, table, notes, where):
    """(the integer rule, the float rule) of ``stdp`` / ``rstdp`` (see the module docstring)."""
    rule = entry.rule
    k = float(np.mean(k))  # integer weight units per NIR weight unit (one value: checked by _integer_bound)
    epoch = rule.epoch
    taus = {}
    for name, tau in (("tau_plus", rule.tau_plus), ("tau_minus", rule.tau_minus)):
        steps = tau / dt
        quantised, d = quantised_decay(steps, limits)
        taus[name] = (steps, quantised)
        table.append(LoweredValue(name, tau, f"decay {d}/{2 ** limits.trace_decay_bits} per step", quantised * dt, "s"))
    mixed = rule.w_min != 0
    span = 2 * top if mixed else top
    products, float_products = [], []
    cap = range_impulse(rule.trace_range, limits)
    if cap is not None:
        notes.append(f"{where}.rule.trace_range: {rule.trace_range:g} spikes: impulse {cap} on the pre and the post trace "
                     f"({limits.trace_bits}-bit, a resolution of 1/{cap} spike)")
    if isinstance(rule, STDP):
        multiplicative = rule.bounds == "multiplicative"
        # coefficient per unit float trace, in weight LSBs (multiplicative: per unit trace and per LSB of distance, x 2**5)
        shift = 2 ** 5 if multiplicative else 1
        plus = k * rule.a_plus * (shift / span if multiplicative else 1.0)
        minus = k * rule.a_minus * (shift / span if multiplicative else 1.0)
        pieces = [("a_plus", plus, "y0", "x1", rule.a_plus), ("a_minus", minus, "x0", "y1", rule.a_minus)]
        impulses = {}
        for name, target, dep, trace, requested in pieces:
            if target <= 0:
                impulses[trace] = 1
                continue
            i, m, e = impulse_and_scale(target, limits, impulse=cap)
            impulses[trace] = i
            sign = -1 if name == "a_minus" else 1
            # per unit of the integer trace (x1 = I x): the float rule's exact coefficient
            c = target / (i * shift)
            if not multiplicative:
                products.append(f"{'-' if sign < 0 else '+'}{literal(m, e)}*{dep}*{trace}")
                factors = ((trace, 0.0, False),)
            elif sign > 0:  # (W - w) = -(w - W)
                products.append(f"+{literal(m, e)}*{dep}*{trace}*({top}-w)")
                factors, c = ((trace, 0.0, False), ("w", -float(top), False)), -c
            else:  # (w - W_min)
                products.append(f"-{literal(m, e)}*{dep}*{trace}*" + (f"(w+{top})" if mixed else "w"))
                factors = ((trace, 0.0, False), ("w", float(top) if mixed else 0.0, False))
            float_products.append(FloatProduct("weights", dep, sign * c, factors))
            effective = i * m * 2.0 ** e / k / (shift / span if multiplicative else 1.0)
            table.append(LoweredValue(name, requested, f"{literal(m, e)} x impulse {i}", effective, "weight per unit trace"))
            if abs(effective - requested) > 0.1 * requested:
                notes.append(f"{where}.rule.{name}: {requested:g} lowers to {effective:.3g} (the learning engine's resolution: "
                             f"a product's scale is m * 2**e, m < 8, e >= {limits.scale_exponent_min}, with 7-bit traces)")
        products.extend(_weight_decay(rule, limits, float_products, table))
        dw = " ".join(products).lstrip("+")
        lowered = rules.LearningRule(dw=dw, x1_impulse=impulses["x1"], x1_tau=taus["tau_plus"][1], y1_impulse=impulses["y1"],
                                     y1_tau=taus["tau_minus"][1], t_epoch=epoch, rng_seed=seed)
        float_rule = FloatRule(products=tuple(float_products), x_impulse=(float(impulses["x1"]), 0.0), x_tau=(taus["tau_plus"][0], 0.0),
                               y_impulse=(float(impulses["y1"]), 0.0, 0.0), y_tau=(taus["tau_minus"][0], 0.0, 0.0), t_epoch=epoch)
        table.append(LoweredValue("w_max", rule.w_max, f"{top} ({'mixed' if mixed else 'excitatory'} sign mode)", top / k, "weight"))
        return lowered, float_rule
    # R-STDP: eligibility in tag_1, reward on y2 and punishment on y3 (docs/learning.md)
    if rule.bounds == "multiplicative":
        return _soft_bounded_rstdp(entry, limits, seed, epoch, taus, top, k, mixed, table, notes, where)
    impulse = cap or DEFAULT_RSTDP_IMPULSE
    largest = max(rule.a_plus, rule.a_minus)
    tag_top = 2 ** limits.tag_bits - 1
    k_tag = tag_top / (4.0 * largest) if largest > 0 else 1.0  # tag units per weight unit of eligibility: a few pairs fit
    dt_products, float_dt = [], []
    for name, a, dep, trace, sign in (("a_plus", rule.a_plus, "y0", "x1", "+"), ("a_minus", rule.a_minus, "x0", "y1", "-")):
        if a <= 0:
            continue
        m, e = scale_only(k_tag * a / impulse, limits)
        dt_products.append(f"{sign}{literal(m, e)}*{dep}*{trace}")
        float_dt.append(FloatProduct("tag_1", dep, (1 if sign == "+" else -1) * k_tag * a / impulse, ((trace, 0.0, False),)))
        table.append(LoweredValue(name, a, f"{literal(m, e)} x impulse {impulse}", m * 2.0 ** e * impulse / k_tag, "eligibility per unit trace"))
    decay_per_epoch = 1.0 - math.exp(-epoch * dt / rule.tau_eligibility)
    m, e = scale_only(decay_per_epoch, limits)
    dt_products.append(f"-{literal(m, e)}*u0*t")
    float_dt.append(FloatProduct("tag_1", "u", -decay_per_epoch, (("t", 0.0, False),), 0))
    effective_tau = -epoch * dt / math.log(1.0 - m * 2.0 ** e) if m * 2.0 ** e < 1 else 0.0
    table.append(LoweredValue("tau_eligibility", rule.tau_eligibility, f"{literal(m, e)} of the tag per epoch", effective_tau, "s"))
    reward = entry.reward
    r_top = max(reward.reward, reward.punishment) if reward is not None else 1.0
    # dw per step = G t y2 / 2**5 (widths 9 + 7 + 4 - 15); float: w += e r, with t = e k_tag: so G y2 = 2**5 k r / k_tag,
    # the reward's y2 (1..127) and G chosen together, as a trace impulse and its scale
    target = 2.0 ** 5 * k * r_top / k_tag if r_top > 0 else 1.0
    y_top, m, e = impulse_and_scale(target, limits)
    g = target / y_top  # the exact gain per unit of y2, for the float rule
    dw = " ".join([f"{literal(m, e)}*u0*t*y2 - {literal(m, e)}*u0*t*y3", *_weight_decay(rule, limits, [], table)])
    table.append(LoweredValue("reward gain", 1.0, f"{literal(m, e)} x t x y2 >> 5, y2 = {y_top} for {r_top:g}",
                              m * 2.0 ** e * y_top / target, "x requested"))
    float_dw = (FloatProduct("weights", "u", g / 2.0 ** 5, (("t", 0.0, False), ("y2", 0.0, False)), 0),
                FloatProduct("weights", "u", -g / 2.0 ** 5, (("t", 0.0, False), ("y3", 0.0, False)), 0))
    if rule.w_decay > 0:
        float_dw += (FloatProduct("weights", "y0", -rule.w_decay, (("w", 0.0, False),)),)
    lowered = rules.three_factor_rule(dw=dw, dt=" ".join(dt_products).lstrip("+"), x1_impulse=impulse, x1_tau=taus["tau_plus"][1],
                                      post_trace_tau=taus["tau_minus"][1], post_trace_impulse=impulse, t_epoch=epoch, rng_seed=seed)
    float_rule = FloatRule(products=tuple(float_dt) + float_dw, reward_top=float(y_top), x_impulse=(float(impulse), 0.0), x_tau=(taus["tau_plus"][0], 0.0),
                           y_impulse=(0.0, 0.0, 0.0), y_tau=(0.0, 0.0, 0.0), t_epoch=epoch, three_factor=True,
                           post_trace_tau=taus["tau_minus"][0], post_trace_impulse=float(impulse))
    table.append(LoweredValue("w_max", rule.w_max, f"{top} ({'mixed' if mixed else 'excitatory'} sign mode)", top / k, "weight"))
    notes.append(f"{where}: R-STDP eligibility held in tag_1 ({k_tag:.3g} tag units per weight unit); reward on y2, punishment on y3")
    return lowered, float_rule


def _soft_bounded_rstdp(entry: LayerLearning, limits: LearningEngineSpec, seed: int, epoch: int, taus: dict, top: int, k: float,
                        mixed: bool, table, notes, where):
    """Multiplicative R-STDP (Mozafari et al. 2018): while the reward unit rewards a neuron (y2)
    each input that has spiked in the sample (x1 = I, one spike fills the trace) moves towards
    W, every other input towards W_min, each by its distance; a punishment (y3) moves the inputs
    that have spiked towards W_min (the others stay: raising them, as anti-STDP does, makes a
    punished neuron's weights larger and so its first spikes earlier):

        dw = S+ u0 y2 x1 (W - w) + S- u0 y2 (x1 - I) (w - W_min) - S+ u0 y3 x1 (w - W_min)

    >> 12 by Lava's widths (7 + 7 + 9 + 4 - 15); the reward's y2 and the scales chosen together."""
    rule, reward = entry.rule, entry.reward
    impulse = 2 ** limits.trace_bits - 1
    span = 2 * top if mixed else top
    low = f"(w+{top})" if mixed else "w"
    r_top = max(reward.reward, reward.punishment) if reward is not None else 1.0
    r_top = r_top if r_top > 0 else 1.0
    shift = 2.0 ** 12
    # per unit of y2 (y2 = y_top for r_top), of x1 and of weight LSB of distance: w moves by a r k (distance / span) per step
    per = {name: a * k * r_top / (impulse * span) for name, a in (("a_plus", rule.a_plus), ("a_minus", rule.a_minus)) if a > 0}
    if not per:
        raise SpecError(f"{where}.rule: a_plus and a_minus are both 0: nothing to learn")
    y_top, _, _ = impulse_and_scale(shift * min(per.values()), limits)  # the smaller rate at the smallest scale, the larger above it
    products, floats = [], []
    for name, exact in per.items():
        exact = exact / y_top
        m, e = scale_only(shift * exact, limits)
        lit = literal(m, e)
        if name == "a_plus":
            products += [f"+{lit}*u0*y2*x1*({top}-w)", f"-{lit}*u0*y3*x1*{low}"]
            floats += [FloatProduct("weights", "u", -exact, (("y2", 0.0, False), ("x1", 0.0, False), ("w", -float(top), False)), 0),
                       FloatProduct("weights", "u", -exact, (("y3", 0.0, False), ("x1", 0.0, False), ("w", float(top) if mixed else 0.0, False)), 0)]
        else:
            products += [f"+{lit}*u0*y2*(x1-{impulse})*{low}"]
            floats += [FloatProduct("weights", "u", exact, (("y2", 0.0, False), ("x1", -float(impulse), False),
                                                           ("w", float(top) if mixed else 0.0, False)), 0)]
        a = getattr(rule, name)
        effective = m * 2.0 ** e / shift * y_top * impulse * span / (k * r_top)
        table.append(LoweredValue(name, a, f"{lit} x y2 {y_top} x impulse {impulse} x distance to the bound >> 12", effective,
                                  "share of the distance to the bound per unit reward"))
    products += _weight_decay(rule, limits, floats, table)
    lowered = rules.three_factor_rule(dw=" ".join(products).lstrip("+"), x1_impulse=impulse, x1_tau=taus["tau_plus"][1],
                                      post_trace_tau=taus["tau_minus"][1], post_trace_impulse=impulse, t_epoch=epoch, rng_seed=seed)
    float_rule = FloatRule(products=tuple(floats), reward_top=float(y_top), x_impulse=(float(impulse), 0.0), x_tau=(taus["tau_plus"][0], 0.0),
                           y_impulse=(0.0, 0.0, 0.0), y_tau=(0.0, 0.0, 0.0), t_epoch=epoch, three_factor=True,
                           post_trace_tau=taus["tau_minus"][0], post_trace_impulse=float(impulse))
    table.append(LoweredValue("w_max", rule.w_max, f"{top} ({'mixed' if mixed else 'excitatory'} sign mode)", top / k, "weight"))
    notes.append(f"{where}: multiplicative R-STDP: the pre trace is an indicator (impulse {impulse}); reward on y2 (= {y_top} for "
                 f"{r_top:g}), punishment on y3; no eligibility trace (tau_eligibility unused)")
    return lowered, float_rule


def _weight_decay(rule, limits: LearningEngineSpec, float_products: list, table: list) -> list[str]:
    """- c y0 w: at a post spike each input weight shrinks by c w (widths 9 + 4 leave no shift)."""
    if rule.w_decay <= 0:
        return []
    m, e = scale_only(rule.w_decay, limits)
    float_products.append(FloatProduct("weights", "y0", -rule.w_decay, (("w", 0.0, False),)))
    table.append(LoweredValue("w_decay", rule.w_decay, literal(m, e), m * 2.0 ** e, "of w per post spike"))
    return [f"-{literal(m, e)}*y0*w"]


def _lower_loihi(rule: LoihiRule, limits: LearningEngineSpec, seed: int, where: str, table, notes) -> rules.LearningRule:
    top = 2 ** limits.trace_bits - 1
    for name in ("x1", "x2", "y1", "y2", "y3"):
        impulse = getattr(rule, f"{name}_impulse")
        if impulse > top:
            raise SpecError(f"{where}.rule.{name}_impulse: {impulse:g} exceeds the {limits.trace_bits}-bit trace (at most {top})")
        if impulse != int(impulse):
            notes.append(f"{where}: {name}_impulse {impulse:g} has a fraction: Lava rounds it up with probability min(f, 1/2) * 2, "
                         "not f (docs/learning.md)")
    try:
        if rule.three_factor:
            lowered = rules.three_factor_rule(**rule.terms(), t_epoch=rule.epoch, rng_seed=seed)
        else:
            lowered = rules.LearningRule(**rule.terms(), t_epoch=rule.epoch, rng_seed=seed)
        for target, products in lowered.products.items():
            for p in products:
                table.append(LoweredValue(f"{target}: {p.dependency} {' '.join(f.state_var for f in p.factors)}".strip(), p.mantissa * 2.0 ** (p.exponent - 7),
                                          literal(p.mantissa, p.exponent - 7), p.mantissa * 2.0 ** (p.exponent - 7), "scale"))
        lowered.decimate_exponent  # noqa: B018 - checks that the u<k> terms agree
    except rules.RuleError as error:
        raise SpecError(f"{where}.rule: {error}") from None
    return lowered


def _float_from_rule(rule: rules.LearningRule) -> FloatRule:
    """The float rule of a ``loihi`` rule: its products with their exact scale, widths' shifts included."""
    products = []
    for target, series in rule.products.items():
        for p in series:
            width = sum(rules.FACTOR_WIDTH[f.state_var] for f in p.factors) + rules.W_S_MANT
            coefficient = p.mantissa * 2.0 ** (p.exponent - 7) / 2.0 ** max(0, width - rules.W_ACCUMULATOR_U)
            factors = tuple((f.state_var, float(f.const or 0.0), f.is_sgn) for f in p.factors)
            products.append(FloatProduct(target, p.dependency, coefficient, factors, p.decimate_exponent))
    return FloatRule(products=tuple(products), x_impulse=(rule.x1_impulse, rule.x2_impulse), x_tau=(rule.x1_tau, rule.x2_tau),
                     y_impulse=(rule.y1_impulse, rule.y2_impulse, rule.y3_impulse), y_tau=(rule.y1_tau, rule.y2_tau, rule.y3_tau),
                     t_epoch=rule.t_epoch, three_factor=rule.three_factor, post_trace_tau=rule.post_trace_tau,
                     post_trace_impulse=rule.post_trace_impulse)


# --------------------------------------------------------------------------- neurons and reward
def _post_neurons(entry: LayerLearning, layer: QuantisedLayer, state_scale, dt, limits, table, notes, where) -> PostNeurons:
    q = layer.neurons
    if q.reset not in (Reset.ZERO, Reset.SUBTRACT):
        raise UnsupportedModelError(f"{where}: neurons that never spike cannot learn")
    theta_step = np.zeros(layer.n_out, np.int64)
    dtheta = np.zeros(layer.n_out, np.int64)
    h = entry.homeostasis
    if h is not None:
        unit = 2 ** 6  # the threshold mantissa's step in state units: the learned threshold stays a mantissa
        theta_step = (np.round(h.theta_plus * state_scale / unit) * unit).astype(np.int64)
        if np.any(theta_step > 2 ** 23 - 1):
            raise SpecError(f"{where}.homeostasis.theta_plus: {h.theta_plus:g} is {theta_step.max()} state units, beyond the 24-bit state")
        table.append(LoweredValue("theta_plus", h.theta_plus, f"{int(theta_step[0])} state units", float(np.mean(theta_step / state_scale)),
                                  "threshold"))
        if math.isfinite(h.tau_theta):
            d = int(np.clip(round(4096 * (1.0 - math.exp(-dt / h.tau_theta))), 0, 4095))
            dtheta[:] = d
            effective = -dt / math.log(1 - d / 4096) if d else math.inf
            table.append(LoweredValue("tau_theta", h.tau_theta, f"decay {d}/4096 per step", effective, "s"))
            if d == 0:
                notes.append(f"{where}: tau_theta {h.tau_theta:g} s is longer than a 12-bit decay holds: thresholds do not relax")
    return PostNeurons(du=q.du, dv=q.dv, vth=q.vth, bias_mant=q.bias_mant, bias_exp=q.bias_exp, v_init=q.v_init, reset=q.reset,
                       reset_sub=q.reset_sub, dtheta=dtheta, theta_step=theta_step, wta_k=entry.inhibition.k_wta)


def _reward_unit(entry: LayerLearning, n: int, dt: float, table, y_top: float = REWARD_TOP) -> RewardUnit:
    reward = entry.reward
    if reward is None:
        return RewardUnit()
    top = max(reward.reward, reward.punishment)
    scale = y_top / top if top > 0 else 0.0
    classes = np.arange(n) // reward.neurons_per_class
    if reward.source == "data":
        return RewardUnit("given", classes)
    r, p = (int(round(v * scale)) if v > 0 else 0 for v in (reward.reward, reward.punishment))
    r, p = max(r, int(reward.reward > 0)), max(p, int(reward.punishment > 0))
    table.append(LoweredValue("reward", reward.reward, f"y2 = {r}", r / scale if scale else 0.0, "per step"))
    table.append(LoweredValue("punishment", reward.punishment, f"y3 = {p}", p / scale if scale else 0.0, "per step"))
    return RewardUnit("first-spike", classes, reward=r, punishment=p, window=int(round(reward.window / dt)))


def reward_scale(lowered: "LoweredLayer") -> float:
    """y2 / y3 units per unit of a given reward (``source: data``)."""
    top = max(lowered.entry.reward.reward, lowered.entry.reward.punishment)
    return lowered.float_rule.reward_top / top if top > 0 else 0.0
