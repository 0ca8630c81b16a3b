"""The learning specification: which projections of a network learn, and how.

NIR has no plasticity, so learning is described beside the network, in a small versioned
YAML file (``--learn rules.yaml``) or the same structure in Python (``LearningSpec``);
docs/learning.md is the reference of every key. Example (Diehl & Cook)::

    neurodeploy-learning: 1
    seed: 0
    layers:
      exc:                          # the NIR node of the neurons whose input synapses learn
        source: input               # where those synapses come from ("input" or a layer)
        rule: {kind: stdp, a_plus: 0.01, a_minus: 0.012, tau_plus: 0.02, tau_minus: 0.02, w_max: 1.0}
        homeostasis: {theta_plus: 0.05}
        inhibition: {k_wta: 0}      # lateral inhibition: the graph's recurrent projection, or k winners
    readout: {layer: exc, decision: label-assignment}

Rules: ``stdp`` (pair-based STDP, additive or multiplicative bounds), ``rstdp``
(reward-modulated STDP: the STDP pairs feed an eligibility trace, the weight follows
eligibility x reward), and ``loihi`` (any sum-of-products rule in Lava's syntax over x0, x1,
x2, y0, y1, y2, y3, u<k>, t, d, w, with its trace parameters in Loihi's own units).
Quantities are in the network's float units: weights as in the NIR file, times in seconds.
Every problem is a one-line ``UserError`` naming the file and the key.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from .rules import RuleTerms

VERSION = 1
VERSION_KEY = "neurodeploy-learning"
RULE_KINDS = ("stdp", "rstdp", "loihi")
BOUNDS = ("additive", "multiplicative")
DECISIONS = ("label-assignment", "first-spike", "spike-count")
REWARD_SOURCES = ("label", "data")
MAX_SPEC_BYTES = 1 << 20


class SpecError(UserError):
    """A learning specification that cannot be used (one line: file, key, value, what to do)."""


@dataclass(frozen=True)
class STDP:
    """Pair-based STDP. At a post spike w += a_plus x (x: the pre trace, 1 after a pre spike,
    decaying with tau_plus); at a pre spike w -= a_minus y (y: the post trace, tau_minus).
    ``multiplicative``: both scaled by the distance to the bound they approach,
    (w_max - w) / (w_max - w_min) and (w - w_min) / (w_max - w_min). ``w_decay``: at a post
    spike every input weight of the neuron also shrinks by w_decay w (heterosynaptic
    depression: with a_plus it pulls the weights towards the input pattern the neuron answers,
    the normalisation of competitive learning). Weights stay within
    [w_min, w_max]; w_min is 0 (excitatory synapses) or -w_max (mixed sign)."""

    a_plus: float
    a_minus: float
    tau_plus: float
    tau_minus: float
    w_max: float
    w_min: float = 0.0
    bounds: str = "additive"
    w_decay: float = 0.0
    epoch: int = 1  # learning epoch in steps (a power of two): synapses update every epoch steps
    trace_range: float = 0.0  # the largest trace (in spikes) the chip's 7-bit traces must hold; 0: one spike's worth and more
    kind: str = "stdp"


@dataclass(frozen=True)
class RSTDP:
    """Reward-modulated STDP. The STDP pairs (a_plus, a_minus, tau_plus, tau_minus, as in
    ``STDP``) accumulate in an eligibility trace e per synapse that decays with
    tau_eligibility; each step w += e * r, r the reward of the post neuron (``Reward``);
    ``w_decay`` as in ``STDP`` (at a post spike, w shrinks by w_decay w).

    ``multiplicative`` (Mozafari et al. 2018, soft bounds, no eligibility trace): each step a
    neuron is rewarded (r), every input that has spiked in the sample (its pre trace, filled by
    one spike, read as an indicator) gains a_plus r (w_max - w) / (w_max - w_min) and every
    other input loses a_minus r (w - w_min) / (w_max - w_min); each step it is punished (p),
    the inputs that have spiked lose a_plus p (w - w_min) / (w_max - w_min) and the others
    are left alone (tau_eligibility and tau_minus unused)."""

    a_plus: float
    a_minus: float
    tau_plus: float
    tau_minus: float
    tau_eligibility: float
    w_max: float
    w_min: float = 0.0
    w_decay: float = 0.0
    epoch: int = 1
    trace_range: float = 0.0  # as in STDP; 0: an impulse of half the trace
    bounds: str = "additive"
    kind: str = "rstdp"


@dataclass(frozen=True)
class LoihiRule(RuleTerms):
    """Any rule in Loihi's sum-of-products form, Lava's syntax (docs/learning.md): its terms
    (``rules.RuleTerms``: dw, dd, dt strings, trace impulses and time constants in steps,
    ``three_factor``) and the learning epoch in steps; the seed is the spec's."""

    epoch: int = 1
    kind: str = "loihi"


@dataclass(frozen=True)
class Homeostasis:
    """Adaptive thresholds (Diehl & Cook): each spike raises the neuron's threshold by
    theta_plus (the layer's threshold units); the raise decays with tau_theta seconds (inf:
    never). It is learned state: kept between samples, and written into the learned network."""

    theta_plus: float
    tau_theta: float = math.inf


@dataclass(frozen=True)
class Inhibition:
    """Winner-take-all. Lateral inhibition is a recurrent inhibitory projection of the network
    itself (used as it is); ``k_wta`` > 0 also lets at most k neurons of the layer spike per
    sample (the largest v first)."""

    k_wta: int = 0


@dataclass(frozen=True)
class Reward:
    """Where the third factor of a reward-modulated rule comes from. ``source: label``:
    Mozafari's rule: the first neuron to spike in a sample wins; it receives ``reward`` per
    step if its class (neuron i: class i // neurons_per_class) is the sample's label, else
    ``punishment`` (a negative reward), from the next step for ``window`` seconds (0: until the
    sample ends). ``source: data``: the data file's ``reward`` array, per sample (samples,),
    per sample and neuron (samples, neurons) or per step (samples, steps, neurons), in the
    same units (reward per step).

    ``adaptive`` (``source: label``; Mozafari et al. 2018): the host sets the reward unit's two
    rates before every ``batch`` samples: ``reward`` times the share of the previous batch's
    samples answered wrongly, ``punishment`` times the share answered rightly (the first batch
    as at chance: 1 - 1/classes and 1/classes), so that learning is driven by reward while the
    readout errs and held steady by punishment once it is right."""

    source: str = "label"
    reward: float = 1.0
    punishment: float = 1.0
    window: float = 0.0
    neurons_per_class: int = 1
    adaptive: bool = False
    batch: int = 100


@dataclass(frozen=True)
class Normalise:
    """A host step between batches (docs/learning.md): before every ``batch`` samples, and
    after the last, the host reads the layer's weights and rescales each neuron's input weights
    to the ``norm`` norm (1 or 2) ``weights`` (NIR units; clipped to the rule's bounds), as
    Diehl & Cook normalise theirs. v is then a normalised match w.x / |w| of the input with the
    neuron's weights, so a neuron with many large weights has no head start in a first-spike race."""

    weights: float
    norm: int = 2
    batch: int = 100


@dataclass(frozen=True)
class LayerLearning:
    """How one layer's input synapses learn."""

    layer: str
    rule: STDP | RSTDP | LoihiRule
    source: str | None = None  # None: the layer's one feed-forward source
    homeostasis: Homeostasis | None = None
    inhibition: Inhibition = field(default_factory=Inhibition)
    reward: Reward | None = None
    dropout: float = 0.0  # while learning, the share of the layer's neurons the host disables for each sample
    normalise: Normalise | None = None  # each neuron's weights rescaled to one norm by the host between batches


@dataclass(frozen=True)
class Readout:
    """How a class is read after learning: ``label-assignment`` (Diehl & Cook: each neuron is
    labelled with the class it responds to most on the training data; a sample's class is the
    label whose neurons spike most), ``first-spike`` (the class of the first neuron to spike:
    neuron i has class i // neurons_per_class) or ``spike-count`` (the same with the most spikes)."""

    layer: str
    decision: str = "label-assignment"
    neurons_per_class: int = 1


@dataclass(frozen=True)
class LearningSpec:
    """A learning specification (see the module docstring); ``layers`` learn in this order."""

    layers: tuple[LayerLearning, ...]
    readout: Readout | None = None
    seed: int = 0
    reset_between_samples: bool = True
    version: int = VERSION
    source: str = "<python>"

    def layer(self, name: str) -> LayerLearning:
        return next(entry for entry in self.layers if entry.layer == name)

    def to_dict(self) -> dict[str, Any]:
        """The YAML structure of this spec (``load_spec`` reads it back)."""
        layers = {}
        for entry in self.layers:
            item: dict[str, Any] = {"rule": _plain(entry.rule)}
            if entry.source is not None:
                item["source"] = entry.source
            if entry.homeostasis is not None:
                item["homeostasis"] = _plain(entry.homeostasis)
            if entry.inhibition.k_wta:
                item["inhibition"] = _plain(entry.inhibition)
            if entry.reward is not None:
                item["reward"] = _plain(entry.reward)
            if entry.dropout:
                item["dropout"] = entry.dropout
            if entry.normalise is not None:
                item["normalise"] = _plain(entry.normalise)
            layers[entry.layer] = item
        out: dict[str, Any] = {VERSION_KEY: self.version, "seed": self.seed, "reset_between_samples": self.reset_between_samples,
                               "layers": layers}
        if self.readout is not None:
            out["readout"] = _plain(self.readout)
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _plain(obj) -> dict[str, Any]:
    return {k: _scalar(v) for k, v in asdict(obj).items() if v is not None}


def _scalar(value):
    """A value YAML writes: Python numbers (a spec built from a Brian2 network holds numpy's), inf as a string."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return str(float(value)) if math.isinf(value) else float(value)
    return value


# --------------------------------------------------------------------------- reading
def load_spec(path: str | Path) -> LearningSpec:
    """Read and check a learning specification file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"--learn {path}: no such file")
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise SpecError(f"--learn {path}: {path.stat().st_size} bytes; a learning specification is at most {MAX_SPEC_BYTES} bytes")
    try:
        raw = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SpecError(f"--learn {path}: not valid YAML ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    return spec_from_dict(raw, str(path))


def spec_from_dict(raw: Any, source: str = "<python>") -> LearningSpec:
    """A ``LearningSpec`` from its YAML structure (a dict); every problem a one-line SpecError."""
    where = _Where(source)
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: a learning specification is a mapping with {VERSION_KEY!r}, 'layers' and optionally 'readout'")
    _known(raw, (VERSION_KEY, "seed", "reset_between_samples", "layers", "readout"), where, "")
    version = raw.get(VERSION_KEY)
    if version != VERSION:
        raise SpecError(f"{source}: {VERSION_KEY}: {version!r}; this neurodeploy reads version {VERSION} (add '{VERSION_KEY}: {VERSION}')")
    layers_raw = raw.get("layers")
    if not isinstance(layers_raw, dict) or not layers_raw:
        raise SpecError(f"{source}: 'layers' must map at least one layer name to how its input synapses learn")
    layers = tuple(_layer(str(name), item, where.at(f"layers.{name}")) for name, item in layers_raw.items())
    readout = None
    if raw.get("readout") is not None:
        readout = _build(Readout, raw["readout"], where.at("readout"))
        _choice(readout.decision, DECISIONS, where.at("readout.decision"))
        _positive_int(readout.neurons_per_class, where.at("readout.neurons_per_class"))
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 31:
        raise SpecError(f"{where.at('seed')}: {seed!r} must be an integer 0 .. 2**31 - 1")
    reset = raw.get("reset_between_samples", True)
    if not isinstance(reset, bool):
        raise SpecError(f"{where.at('reset_between_samples')}: {reset!r} must be true or false")
    return LearningSpec(layers=layers, readout=readout, seed=seed, reset_between_samples=reset, source=source)


@dataclass(frozen=True)
class _Where:
    source: str
    key: str = ""

    def at(self, key: str) -> "_Where":
        return _Where(self.source, f"{self.key}.{key}" if self.key else key)

    def __str__(self) -> str:
        return f"{self.source}: {self.key}" if self.key else self.source


def _known(raw: dict, allowed, where: _Where, what: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)}{' in ' + what if what else ''}; allowed: {', '.join(allowed)}")


def _layer(name: str, item: Any, where: _Where) -> LayerLearning:
    if not isinstance(item, dict):
        raise SpecError(f"{where}: must be a mapping with 'rule' (and optionally source, homeostasis, inhibition, reward)")
    _known(item, ("source", "rule", "homeostasis", "inhibition", "reward", "dropout", "normalise"), where, "")
    if "rule" not in item:
        raise SpecError(f"{where}: missing 'rule' (kind: stdp, rstdp or loihi)")
    rule = _rule(item["rule"], where.at("rule"))
    homeostasis = None
    if item.get("homeostasis") is not None:
        homeostasis = _build(Homeostasis, item["homeostasis"], where.at("homeostasis"))
        _number(homeostasis.theta_plus, where.at("homeostasis.theta_plus"), low=0)
        _number(homeostasis.tau_theta, where.at("homeostasis.tau_theta"), low=0, open_low=True, allow_inf=True)
    inhibition = _build(Inhibition, item.get("inhibition") or {}, where.at("inhibition"))
    if isinstance(inhibition.k_wta, bool) or not isinstance(inhibition.k_wta, int) or inhibition.k_wta < 0:
        raise SpecError(f"{where.at('inhibition.k_wta')}: {inhibition.k_wta!r} must be an integer >= 0 (0: no limit)")
    reward = None
    three_factor = isinstance(rule, RSTDP) or (isinstance(rule, LoihiRule) and rule.three_factor)
    if item.get("reward") is not None:
        if not three_factor:
            raise SpecError(f"{where.at('reward')}: a reward needs a reward-modulated rule (kind: rstdp, or loihi with three_factor: true)")
        reward = _build(Reward, item["reward"], where.at("reward"))
        _choice(reward.source, REWARD_SOURCES, where.at("reward.source"))
        for key in ("reward", "punishment", "window"):
            _number(getattr(reward, key), where.at(f"reward.{key}"), low=0)
        _positive_int(reward.neurons_per_class, where.at("reward.neurons_per_class"))
        _positive_int(reward.batch, where.at("reward.batch"))
        if not isinstance(reward.adaptive, bool):
            raise SpecError(f"{where.at('reward.adaptive')}: {reward.adaptive!r} must be true or false")
        if reward.adaptive and reward.source != "label":
            raise SpecError(f"{where.at('reward.adaptive')}: adaptive rates follow the first-spike rule's answers (source: label)")
    elif three_factor:
        raise SpecError(f"{where}: a reward-modulated rule needs 'reward' (source: label or data)")
    source = item.get("source")
    if source is not None and not isinstance(source, str):
        raise SpecError(f"{where.at('source')}: {source!r} must be a layer name or 'input'")
    dropout = item.get("dropout", 0.0)
    _number(dropout, where.at("dropout"), low=0)
    if dropout >= 1:
        raise SpecError(f"{where.at('dropout')}: {dropout!r} must be below 1 (the share of neurons disabled for a sample)")
    normalise = None
    if item.get("normalise") is not None:
        normalise = _build(Normalise, item["normalise"], where.at("normalise"))
        _number(normalise.weights, where.at("normalise.weights"), low=0, open_low=True)
        _positive_int(normalise.batch, where.at("normalise.batch"))
        if normalise.norm not in (1, 2) or isinstance(normalise.norm, bool):
            raise SpecError(f"{where.at('normalise.norm')}: {normalise.norm!r}; choose one of 1, 2")
    return LayerLearning(layer=name, rule=rule, source=source, homeostasis=homeostasis, inhibition=inhibition, reward=reward,
                         dropout=float(dropout), normalise=normalise)


def _rule(raw: Any, where: _Where):
    if not isinstance(raw, dict) or raw.get("kind") not in RULE_KINDS:
        kind = raw.get("kind") if isinstance(raw, dict) else raw
        raise SpecError(f"{where}: kind {kind!r}; choose one of {', '.join(RULE_KINDS)}")
    cls = {"stdp": STDP, "rstdp": RSTDP, "loihi": LoihiRule}[raw["kind"]]
    rule = _build(cls, raw, where)
    _positive_int(rule.epoch, where.at("epoch"))
    if rule.epoch & (rule.epoch - 1):
        raise SpecError(f"{where.at('epoch')}: {rule.epoch} is not a power of two (Loihi's learning epochs are 2**k steps)")
    if isinstance(rule, (STDP, RSTDP)):
        for key in ("a_plus", "a_minus"):
            _number(getattr(rule, key), where.at(key), low=0)
        for key in ("tau_plus", "tau_minus") + (("tau_eligibility",) if isinstance(rule, RSTDP) else ()):
            _number(getattr(rule, key), where.at(key), low=0, open_low=True)
        _number(rule.w_max, where.at("w_max"), low=0, open_low=True)
        _number(rule.w_min, where.at("w_min"))
        if rule.w_min not in (0.0, -rule.w_max):
            raise SpecError(f"{where.at('w_min')}: {rule.w_min:g}; Loihi clips learned weights to the sign mode's range: "
                            f"use 0 (excitatory) or -w_max = {-rule.w_max:g} (mixed sign)")
    if isinstance(rule, (STDP, RSTDP)):
        _number(rule.trace_range, where.at("trace_range"), low=0)
        if 0 < rule.trace_range < 1:
            raise SpecError(f"{where.at('trace_range')}: {rule.trace_range:g}; a trace holds at least one spike's worth: use 0 (unset) or >= 1")
    if isinstance(rule, (STDP, RSTDP)):
        _choice(rule.bounds, BOUNDS, where.at("bounds"))
    if isinstance(rule, RSTDP) and rule.bounds == "multiplicative" and rule.trace_range:
        raise SpecError(f"{where.at('trace_range')}: {rule.trace_range:g}; multiplicative rstdp reads the pre trace as an indicator "
                        "(one spike fills it): leave trace_range unset")
    if isinstance(rule, (STDP, RSTDP)):
        _number(rule.w_decay, where.at("w_decay"), low=0)
        if rule.w_decay > 1:
            raise SpecError(f"{where.at('w_decay')}: {rule.w_decay:g} must be at most 1 (the share of w lost at a post spike)")
    if isinstance(rule, LoihiRule):
        if not any((rule.dw, rule.dd, rule.dt)):
            raise SpecError(f"{where}: give at least one of dw, dd, dt")
        for key in ("dw", "dd", "dt"):
            if getattr(rule, key) is not None and not isinstance(getattr(rule, key), str):
                raise SpecError(f"{where.at(key)}: must be a rule string, e.g. '2^-2*x0*y1 - 2^-2*y0*x1'")
        for f in fields(LoihiRule):
            if f.name.endswith(("_impulse", "_tau")):
                _number(getattr(rule, f.name), where.at(f.name), low=0)
        if not isinstance(rule.three_factor, bool):
            raise SpecError(f"{where.at('three_factor')}: must be true or false")
        if rule.three_factor and not rule.post_trace_tau > 0:
            raise SpecError(f"{where.at('post_trace_tau')}: a three-factor rule needs the post trace's time constant (steps, > 0)")
    return rule


def _build(cls, raw: Any, where: _Where):
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: must be a mapping of {', '.join(f.name for f in fields(cls) if f.name != 'kind')}")
    names = [f.name for f in fields(cls)]
    _known(raw, names, where, "")
    required = [f.name for f in fields(cls) if _no_default(f)]
    missing = [name for name in required if name not in raw]
    if missing:
        raise SpecError(f"{where}: missing {', '.join(missing)}")
    values = {}
    for f in fields(cls):
        if f.name in raw:
            value = raw[f.name]
            if isinstance(value, str) and value.strip().lower() in ("inf", ".inf", "infinity"):
                value = math.inf
            values[f.name] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise SpecError(f"{where}: {exc}") from None


def _no_default(f) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _number(value, where: _Where, low: float | None = None, open_low: bool = False, allow_inf: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise SpecError(f"{where}: {value!r} must be a {'number' if not allow_inf else 'number or inf'}")
    if low is not None and (value < low or (open_low and value == low)):
        raise SpecError(f"{where}: {value!r} must be {'>' if open_low else '>='} {low:g}")


def _positive_int(value, where: _Where) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{where}: {value!r} must be an integer >= 1")


def _choice(value, choices, where: _Where) -> None:
    if value not in choices:
        raise SpecError(f"{where}: {value!r}; choose one of {', '.join(choices)}")
