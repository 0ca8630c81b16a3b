"""Which framework wrote a NIR file, from what the file shows (docs/dialects.md, "Detection").

None of the exporters studied writes graph metadata (nir 1.0.8 files carry an empty
``metadata``); a ``source`` / ``framework`` / ``exporter`` / ``dialect`` entry naming a
dialect, where a writer adds one, decides (neurodeploy's snnTorch frontend writes
``source: snntorch``). Otherwise the evidence votes, each item weighted:

    decisive (10)  node names '<index>_<Module>Torch' (Rockpool); nodes '<x>.lif' with a
                   '<x>.w_rec' sibling (snnTorch's RLeaky/RSynaptic subgraphs)
    strong (3-4)   r = tau/dt with dt = 1e-4 s, CubaLIF w_in = tau_syn/dt, v_leak = v_reset = 0
                   (snnTorch; another round dt: weak); r = tau exp(-dt/tau)/dt for one dt (Rockpool); r = 1 with
                   tau < 1e-4 s (Norse 1.1: tau = dt / tau_inv); LIF r = 1 with tau >= 1
                   (Sinabs writes steps); CubaLIF r = 1, w_in = tau_syn, integer node keys
                   (lava-dl); SumPool2d (Sinabs); graph metadata dt (NIR's own time step)
    medium (2)     AvgPool2d (snnTorch); IF with Flatten (Sinabs: Norse cannot write Flatten)
    weak (0.5-1)   once per file, however many nodes show it (r = 1 is NIR's default, so a
                   hand-written file shows these too): IF with r = 1 (Sinabs, or Norse); r = 1
                   with tau in seconds (older Norse); CubaLIF r = w_in = 1 (Norse); nodes named
                   '0', '1', ... between 'input' and 'output' (nirtorch's names of an
                   nn.Sequential: Sinabs, Norse)

A dialect whose framework never writes one of the file's neuron node types is out. The
highest score wins if it reaches ``MIN_SCORE`` (two weak signs or one strong one), else the
file is read as plain NIR; dialects scoring at least half the winner's are reported as
ambiguous with it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import nir
import numpy as np

from ..errors import UserError
from .base import Dialect, DialectChoice, DialectOptions

SNNTORCH_DT = 1e-4  # hard-coded in snnTorch's exporter (export_nir.py:68, 95, 136, 182)
NAMES = ("nir", "snntorch", "sinabs", "rockpool", "norse", "lava-dl")
MIN_SCORE = 2.0
FORMATS = {"snntorch": "snntorch", "demo": "snntorch"}  # FloatGraph formats our own frontends write


@dataclass(frozen=True)
class Detection:
    dialect: str
    evidence: tuple[str, ...]
    ambiguous_with: tuple[str, ...] = ()
    by_metadata: bool = False


@dataclass
class _Votes:
    score: dict[str, float] = field(default_factory=lambda: {name: 0.0 for name in NAMES})
    evidence: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in NAMES})

    def add(self, name: str, weight: float, why: str) -> None:
        self.score[name] += weight
        self.evidence[name].append(why)


def detect(graph: nir.NIRGraph, fmt: str = "nir") -> Detection:
    """The dialect of a flat (inlined) graph; ``fmt`` is the FloatGraph's format."""
    if fmt in FORMATS:
        return Detection(FORMATS[fmt], (f"converted from an snnTorch module by neurodeploy's frontend (format {fmt!r}): resets read from the modules",),
                         by_metadata=True)
    meta = {str(k).lower(): v for k, v in (graph.metadata or {}).items()}
    for key in ("dialect", "source", "framework", "exporter"):
        value = _text(meta.get(key, "")).lower().replace("_", "-")
        for name in sorted(NAMES, key=len, reverse=True):  # "lava-dl" before "nir" inside longer names
            if re.search(rf"(^|[^a-z]){re.escape(name)}($|[^a-z])", value):
                return Detection(name, (f"graph metadata {key!r} = {_text(meta[key])!r}",), by_metadata=True)
    votes = _Votes()
    nodes = graph.nodes
    _names(nodes, votes)
    _node_types(nodes, votes)
    _parameters(nodes, votes)
    if "dt" in meta:
        votes.add("nir", 3, f"graph metadata gives dt = {_text(meta['dt'])} (none of the exporters studied writes metadata): NIR's own time step")
    _exclude_impossible(nodes, votes)
    ranked = sorted((name for name in NAMES if name != "nir"), key=lambda n: -votes.score[n])
    best = ranked[0]
    if votes.score["nir"] >= votes.score[best] or votes.score[best] < MIN_SCORE:
        hints = [f"{n}: {'; '.join(votes.evidence[n])}" for n in ranked if votes.score[n] > 0]
        evidence = votes.evidence["nir"] or ["no exporter's signature found"]
        if hints:
            evidence = evidence + [f"too weak to choose (pass --dialect to choose): {' | '.join(hints)}"]
        ambiguous = tuple(n for n in ranked if votes.score[n] > 0)
        return Detection("nir", tuple(evidence), ambiguous)
    close = tuple(n for n in NAMES if n != best and votes.score[n] > 0 and votes.score[n] >= 0.5 * votes.score[best])
    return Detection(best, tuple(votes.evidence[best]), close)


def resolve(float_graph, requested: str | None, options: DialectOptions | None = None) -> tuple[Dialect, DialectChoice]:
    """The dialect to read ``float_graph`` in: ``requested`` (--dialect) or the detected one,
    with its settings and assumptions."""
    from .entries import DIALECTS

    options = options or DialectOptions()
    graph = float_graph.graph
    found = detect(graph, float_graph.format)
    if requested is not None:
        if requested not in DIALECTS:
            raise UserError(f"unknown dialect {requested!r}: choose one of {', '.join(DIALECTS.names())}")
        name, chosen_by = requested, "--dialect"
        evidence = (f"chosen with --dialect; detection said {found.dialect}: {'; '.join(found.evidence)}",)
        ambiguous: tuple[str, ...] = ()
    else:
        name, chosen_by = found.dialect, "graph metadata" if found.by_metadata else "detected"
        evidence, ambiguous = found.evidence, found.ambiguous_with
    dialect = DIALECTS.get(name)
    settings, assumptions = dialect.settings(graph, options)
    unused = sorted(set(options.given()) - set(settings))
    if unused:
        settings = {**settings, "ignored_options": unused}
    choice = DialectChoice(name, dialect.framework, chosen_by, tuple(evidence), tuple(ambiguous), settings, tuple(assumptions))
    return dialect, choice


# --------------------------------------------------------------------------- evidence
def _names(nodes: dict, votes: _Votes) -> None:
    names = list(nodes)
    rockpool = [n for n in names if re.fullmatch(r"\d+_\w+Torch", n)]
    if rockpool:
        votes.add("rockpool", 10, f"node names {rockpool[:3]} follow Rockpool's '<index>_<Module>Torch'")
    recurrent = [n for n in names if n.endswith(".lif") and n[:-4] + ".w_rec" in nodes]
    if recurrent:
        votes.add("snntorch", 10, f"nodes {recurrent} with '.w_rec' siblings: snnTorch's RLeaky/RSynaptic subgraphs")
    if names and all(re.fullmatch(r"\d+", n) for n in names):
        votes.add("lava-dl", 3, "every node key is an integer, the Input's included (lava-dl's netx converter)")
    inner = [n for n, v in nodes.items() if not isinstance(v, (nir.Input, nir.Output))]
    ends = {n for n, v in nodes.items() if isinstance(v, (nir.Input, nir.Output))}
    if inner and ends == {"input", "output"} and all(re.fullmatch(r"\d+", n) for n in inner):
        why = "nodes named '0', '1', ... between 'input' and 'output' (nirtorch's names for an nn.Sequential)"
        votes.add("sinabs", 1, why)
        votes.add("norse", 1, why)


def _node_types(nodes: dict, votes: _Votes) -> None:
    kinds = {type(v).__name__ for v in nodes.values()}
    if "SumPool2d" in kinds:
        votes.add("sinabs", 4, "SumPool2d (written by Sinabs)")
    if "AvgPool2d" in kinds:
        votes.add("snntorch", 2, "AvgPool2d (written by snnTorch)")
    if "IF" in kinds and "Flatten" in kinds:
        votes.add("sinabs", 2, "IF with Flatten (Norse cannot export Flatten)")


def _parameters(nodes: dict, votes: _Votes) -> None:
    weak = _Votes()  # hints any hand-written file may show (r = 1 is NIR's default): counted once per file
    for name, node in nodes.items():
        if isinstance(node, nir.IF) and np.allclose(_flat(node.r), 1.0):
            weak.add("sinabs", 1, f"{name}: IF with r = 1 (Sinabs or Norse: both add the input once per step)")
            weak.add("norse", 0.5, f"{name}: IF with r = 1 (Norse's IAFCell)")
            continue
        if not isinstance(node, (nir.LIF, nir.CubaLIF, nir.LI)):
            continue
        tau = _flat(node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau)
        r = _flat(node.r)
        if np.allclose(r, 1.0):
            _unit_r(name, node, tau, votes, weak)
            continue
        dt = snntorch_dt(node)
        if dt is not None:
            zeros = all(np.all(_flat(getattr(node, f, 0.0)) == 0) for f in ("v_leak", "v_reset"))
            exporter = np.isclose(dt, SNNTORCH_DT, rtol=1e-4) and zeros
            what = f"{name}: r = tau/dt with dt = {dt:.3g} s" + (" and w_in = tau_syn/dt" if isinstance(node, nir.CubaLIF) else "")
            why = ", v_leak = v_reset = 0 (snnTorch's exporter: dt = 1e-4 s)" if exporter else " (snnTorch's exporter writes dt = 1e-4 s, v_leak = 0)"
            votes.add("snntorch", 3 if exporter else 1, what + why)
            continue
        dt = rockpool_dt(node)
        if dt is not None:
            votes.add("rockpool", 3, f"{name}: r = tau exp(-dt/tau)/dt with dt = {dt:.4g} s (Rockpool's exporter)")
    for dialect in NAMES:
        if weak.evidence[dialect]:
            per_node = weak.score[dialect] / len(weak.evidence[dialect])
            votes.add(dialect, per_node, "; ".join(weak.evidence[dialect]))


def _unit_r(name: str, node, tau: np.ndarray, votes: _Votes, weak: _Votes) -> None:
    w_in = _flat(getattr(node, "w_in", 1.0))
    if np.all(tau < 1e-4):
        votes.add("norse", 3, f"{name}: r = 1 and tau = {tau.min():.3g} s < 1e-4 s (Norse 1.1 writes dt / tau_inv)")
    elif isinstance(node, nir.LIF) and np.all(tau >= 1.0):
        votes.add("sinabs", 3, f"{name}: LIF with r = 1 and tau = {tau.min():.3g} >= 1 (Sinabs writes tau in steps)")
    elif isinstance(node, nir.LI) and np.all(tau >= 1.0):
        votes.add("sinabs", 2, f"{name}: LI with r = 1 and tau = {tau.min():.3g} >= 1 (Sinabs' ExpLeak, tau in steps)")
    elif isinstance(node, nir.CubaLIF) and np.allclose(w_in, _flat(node.tau_syn), rtol=1e-5) and np.all(tau <= 1):
        votes.add("lava-dl", 4, f"{name}: CubaLIF with r = 1 and w_in = tau_syn (lava-dl's netx converter)")
    elif isinstance(node, nir.CubaLIF) and np.allclose(w_in, 1.0):
        weak.add("norse", 1, f"{name}: CubaLIF with r = 1 and w_in = 1 (Norse's LIFCell, or a hand-written file)")
    else:
        weak.add("norse", 1, f"{name}: r = 1 with tau in seconds (older Norse, or a hand-written file)")


def _exclude_impossible(nodes: dict, votes: _Votes) -> None:
    from ..neurons import model_of
    from .entries import DIALECTS

    kinds = {model_of(node).name for node in nodes.values() if model_of(node) is not None}
    for name in NAMES:
        writes = DIALECTS.get(name).writes
        if writes is not None and votes.score[name] > 0 and not kinds <= set(writes):
            votes.add(name, -votes.score[name], f"out: the file has {', '.join(sorted(kinds - set(writes)))}, which it never writes")


# --------------------------------------------------------------------------- signatures
def snntorch_dt(node) -> float | None:
    """snnTorch's exporter (export_nir.py:67-117) writes tau = dt/(1 - beta), r = tau/dt,
    w_in = tau_syn/dt with dt = 1e-4: dt when tau/r is one round value (and w_in agrees)."""
    tau = _flat(node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau)
    dts = tau / _flat(node.r)
    dt = float(np.median(dts))
    if not (dt > 0 and np.allclose(dts, dt, rtol=1e-4) and np.isclose(dt, float(f"{dt:.2g}"), rtol=1e-5)):
        return None  # a one-neuron Rockpool file also has one tau/r, but not a round one (dt exp(dt/tau))
    if isinstance(node, nir.CubaLIF) and not np.allclose(_flat(node.tau_syn) / _flat(node.w_in), dt, rtol=1e-4):
        return None
    return dt


def rockpool_dt(node) -> float | None:
    """Rockpool's exporter (rockpool/nn/modules/torch/nir.py:246-296) writes
    r = tau exp(-dt/tau)/dt. Solves -dt/tau - ln dt = ln(r/tau) for dt (Newton) and returns it
    when one dt fits every neuron and it is a round number (3 significant digits, as time steps
    are; a hand-written LIF with one tau and r has some dt too, but rarely a round one)."""
    tau = _flat(node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau)
    r = _flat(node.r)
    if np.any(r <= 0) or np.any(tau <= 0):
        return None
    target = np.log(r / tau)
    dt = tau * 0.05
    for _ in range(60):
        g = -dt / tau - np.log(dt) - target
        dt = np.clip(dt - g / (-1.0 / tau - 1.0 / dt), 1e-12, None)
    if not np.allclose(-dt / tau - np.log(dt), target, atol=1e-6):
        return None
    value = float(np.median(dt))
    if not np.allclose(dt, value, rtol=1e-3) or not (1e-7 < value < 10):
        return None
    snapped = float(f"{value:.3g}")
    return snapped if abs(snapped - value) <= 1e-4 * value else None  # a time step is a round number


def _flat(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64).reshape(-1)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
