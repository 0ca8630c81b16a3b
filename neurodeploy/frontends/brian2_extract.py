"""Read a built Brian2 network from Brian2's own parsed objects into a plain description.

``extract(network_or_objects, namespace=None) -> Description``

Everything in a ``Description`` is numpy arrays, floats (SI units: volt, second, ampere,
hertz), ints, strings and tuples; expressions (plasticity code) are small tuple trees
evaluated by ``eval_expr``. Nothing in it refers to Brian2, so a simulator or a lowering
pass can use it without importing Brian2.

What is read, and from where (brian2 2.9.0):
  * equations: ``NeuronGroup.user_equations`` (the user's equations, before Brian2 multiplies
    ``(unless refractory)`` right-hand sides by ``int(not_refractory)``), turned into
    dX/dt = M X + B by Brian2's own ``stateupdaters.exact.get_linear_system``; a group is
    accepted only if that succeeds and M, B are free of ``t``, noise and state variables;
  * threshold: ``group.events['spike']``; reset: ``group.event_codes['spike']``;
    refractoriness: ``group._refractory``; ``(unless refractory)``: the equation's flags;
  * identifiers: ``group.resolve_all`` (the group's namespace, then ``namespace``, as
    ``Network.run`` does); values in SI through ``Variable.get_value()`` / ``Constant.value``;
  * synapses: ``Synapses._pathways`` (code, delay variable, source/target), connectivity
    ``_synaptic_pre`` / ``_synaptic_post`` (absolute indices), synaptic variables, and the
    ``(event-driven)`` equations ``Synapses.event_driven`` for plasticity traces.

Anything else gets ``UnsupportedBrian2``, one line: object, equation or statement, why.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
from brian2 import (
    Network,
    NeuronGroup,
    PoissonGroup,
    PoissonInput,
    PopulationRateMonitor,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
)
from brian2.core.magic import collect
from brian2.core.namespace import get_local_namespace
from brian2.core.variables import ArrayVariable, Constant, Subexpression
from brian2.equations.equations import DIFFERENTIAL_EQUATION, SUBEXPRESSION
from brian2.groups.subgroup import Subgroup
from brian2.parsing.expressions import is_boolean_expression
from brian2.parsing.statements import parse_statement
from brian2.parsing.sympytools import str_to_sympy, sympy_to_str
from brian2.stateupdaters.base import UnsupportedEquationsException
from brian2.stateupdaters.exact import get_linear_system
from brian2.utils.stringtools import get_identifiers

from ..errors import UnsupportedModelError


class UnsupportedBrian2(UnsupportedModelError):
    """A construct the extractor cannot represent; the message is one line."""


# --------------------------------------------------------------------------- description
@dataclass(frozen=True)
class StateVar:
    """A decaying state variable of a neuron besides v: dx/dt = -x / tau.

    ``gain``: its drive of the membrane, dv/dt += gain * x (1/s; 0 if it does not drive v).
    ``threshold_coef``: the threshold is ``threshold + sum(threshold_coef * x)`` (adaptive
    threshold such as Diehl & Cook's theta; 0 otherwise). ``clamped``: the equation has
    ``(unless refractory)`` (x frozen, and writes to it dropped, while refractory).
    """

    name: str
    tau: np.ndarray  # s per neuron, inf for no decay
    gain: np.ndarray  # 1/s per neuron
    threshold_coef: np.ndarray
    clamped: bool
    unit: str


@dataclass(frozen=True)
class ResetOp:
    var: str
    op: str  # "set" (var = value) or "add" (var += value; subtraction has a negative value)
    value: np.ndarray


@dataclass(frozen=True)
class LIFGroup:
    """A linear leaky integrate-and-fire group (per-neuron arrays of length n):

        dv/dt = (v_rest - v) / tau_m + sum_k gain_k x_k       (tau_m may be inf: no leak)
        dx_k/dt = -x_k / tau_k
        spike when v > threshold + sum_k threshold_coef_k x_k (and not refractory)
        reset: the ResetOps in order; refractory for refractory_steps steps after a spike.
    """

    name: str
    n: int
    v: str
    tau_m: np.ndarray
    v_rest: np.ndarray  # includes constant drives (parameters such as a bias current)
    clamp_v: bool  # v has (unless refractory)
    states: tuple[StateVar, ...]
    threshold: np.ndarray  # +inf where the group has no threshold
    threshold_strict: bool  # ">" (True) or ">=" (False)
    reset: tuple[ResetOp, ...]
    refractory_steps: np.ndarray  # int per neuron, 0 = none
    has_refractory: bool  # Brian2's refractory mechanism is active (threshold gated)
    init: dict  # state name -> initial values (v and every StateVar)
    lastspike_step: np.ndarray  # int per neuron (very negative if never spiked)
    method: str  # the integration Brian2 uses: 'exact' (linear propagator) or 'euler'
    v_unit: str
    conductances: tuple[str, ...] = ()  # states deployed as currents at a reference potential (g*(E - v))

    @property
    def currents(self) -> tuple[StateVar, ...]:
        return tuple(s for s in self.states if np.any(s.gain != 0))

    @property
    def adaptations(self) -> tuple[StateVar, ...]:
        return tuple(s for s in self.states if np.any(s.threshold_coef != 0))


@dataclass(frozen=True)
class SpikeSourceGroup:
    """SpikeGeneratorGroup (``kind='generator'``: a raster) or PoissonGroup (``'poisson'``)."""

    name: str
    n: int
    kind: str
    indices: np.ndarray | None = None  # generator: neuron of each spike
    steps: np.ndarray | None = None  # generator: time step of each spike
    period_steps: int = 0  # generator: repeat period in steps (0: none)
    rates: np.ndarray | None = None  # poisson: Hz per neuron


@dataclass(frozen=True)
class Statement:
    """One line of on_pre/on_post code: ``var op expr``.

    ``kind``: "effect" (adds to a neuron variable of the pathway's target: the synaptic
    transmission) or "synaptic" (writes a synaptic variable: weight, trace, helper)."""

    var: str
    op: str  # "=", "+=", "-=", "*="
    expr: tuple  # expression tree, see eval_expr
    kind: str
    target_var: str | None = None  # for effects: the neuron variable written


@dataclass(frozen=True)
class Pathway:
    """One Brian2 SynapticPathway (``on_pre`` or ``on_post``) of a Synapses object."""

    name: str  # Brian2's object name, e.g. "synapses_pre" (ties are broken by name)
    synapses: str
    side: str  # "pre" or "post": whose spikes trigger it
    trigger: str  # group whose spikes trigger it
    target: str  # group whose variables the effects write
    trigger_index: np.ndarray  # per synapse: index of the triggering neuron
    target_index: np.ndarray  # per synapse: index of the written neuron
    delay_steps: np.ndarray  # per synapse
    statements: tuple[Statement, ...]
    order: int  # Brian2 'synapses' slot order: pre -1, post +1


@dataclass(frozen=True)
class Trace:
    """An (event-driven) synaptic trace, dx/dt = -x/tau, updated only at events."""

    name: str
    tau: float
    side: str  # "pre" or "post": which pathway updates it ("both" if both do)
    increment: str  # "add" (x += a: all-to-all) or "set" (x = a: nearest spike)
    amount: float


@dataclass(frozen=True)
class ThirdFactor:
    """Reward-modulated plasticity (Izhikevich 2007; Brian2's R-STDP example without its
    per-synapse dopamine trace): clock-driven ``dc/dt = -c/tau`` (the eligibility, changed by
    the trace statements at pre / post events) and ``dw/dt = gain * c * reward(t)`` with
    ``reward`` a TimedArray of t (the given signal, one value per ``signal_dt``).
    ``method``: Brian2's integration of the two (always 'euler': 'exact' refuses a function of t)."""

    eligibility: str
    tau: float  # s
    gain: float  # 1/s per unit of the TimedArray's value
    signal: str  # the TimedArray's name
    values: np.ndarray  # the TimedArray's values (SI), one per signal_dt
    signal_dt: float
    method: str


@dataclass(frozen=True)
class Plasticity:
    """Trace-based plasticity of one Synapses object.

    ``dw_pre`` / ``dw_post``: the weight change at a pre / post event in sum-of-products
    form, a tuple of (coefficient, factors) with factors a tuple of variable names (traces,
    the weight, helper variables), as Loihi's learning engine writes rules; None where the
    update is not a polynomial. ``w_min`` / ``w_max``: clip bounds (None: unbounded).
    ``pair_stdp``: A_pre, A_post, tau_pre, tau_post, w_min, w_max when the rule is the
    classic additive pair-based STDP (Brian2's documentation example), else None.
    ``third_factor``: reward-modulated plasticity (``ThirdFactor``), where the weight follows
    a clock-driven eligibility times a reward; then ``dw_pre`` / ``dw_post`` are the
    eligibility's changes at the events.
    """

    synapses: str
    weight_var: str
    traces: tuple[Trace, ...]
    dw_pre: tuple | None
    dw_post: tuple | None
    w_min: float | None
    w_max: float | None
    pair_stdp: dict | None
    third_factor: ThirdFactor | None = None


@dataclass(frozen=True)
class Projection:
    """The transmission part of a pathway, for lowering: ``target_var[j] += weight`` for
    each synapse (i -> j) ``delay_steps`` after a spike of i (weights in the target
    variable's SI unit; ``weight = scale * <weight_var>`` when a synaptic variable holds it)."""

    name: str
    source: str
    target: str
    target_var: str
    i: np.ndarray
    j: np.ndarray
    weight: np.ndarray
    delay_steps: np.ndarray
    weight_var: str | None
    scale: float
    conditional: bool  # dropped while the target neuron is refractory (clamped variable)

    def matrix(self, n_source: int, n_target: int):
        """Weights as a (n_target, n_source) CSR matrix (duplicates summed)."""
        from scipy import sparse

        return sparse.csr_matrix((self.weight, (self.j, self.i)), shape=(n_target, n_source))


@dataclass(frozen=True)
class PoissonInputDesc:
    """PoissonInput: each step, target_var += Binomial(N, rate*dt) * weight (per neuron)."""

    name: str
    target: str
    target_var: str
    N: int
    rate: float
    weight: float
    conditional: bool


@dataclass(frozen=True)
class Monitor:
    name: str
    kind: str  # "spikes", "state", "rate"
    source: str
    variables: tuple[str, ...] = ()
    record: np.ndarray | None = None


@dataclass(frozen=True)
class Description:
    dt: float
    t0_step: int  # the network's time step at extraction
    groups: tuple[LIFGroup, ...]
    sources: tuple[SpikeSourceGroup, ...]
    pathways: tuple[Pathway, ...]
    projections: tuple[Projection, ...]
    synaptic_vars: dict  # synapses name -> {variable: per-synapse array} (weights, traces, lastupdate, ...)
    event_driven: dict  # synapses name -> {trace: tau in s}, decayed lazily at events
    plasticity: tuple[Plasticity, ...]
    poisson_inputs: tuple[PoissonInputDesc, ...]
    monitors: tuple[Monitor, ...]
    notes: tuple[str, ...] = ()

    def group(self, name: str):
        for g in self.groups + self.sources:
            if g.name == name:
                return g
        raise KeyError(name)


# --------------------------------------------------------------------------- expressions
_FUNCS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos}


def eval_expr(expr: tuple, env: dict):
    """Evaluate an expression tree: ("const", x), ("var", name), ("add", args),
    ("mul", args), ("pow", base, exponent), ("call", name, args) with name one of
    exp, log, sqrt, abs, sin, cos, clip, int, min, max."""
    tag = expr[0]
    if tag == "const":
        return expr[1]
    if tag == "var":
        return env[expr[1]]
    if tag == "add":
        out = eval_expr(expr[1][0], env)
        for a in expr[1][1:]:
            out = out + eval_expr(a, env)
        return out
    if tag == "mul":
        out = eval_expr(expr[1][0], env)
        for a in expr[1][1:]:
            out = out * eval_expr(a, env)
        return out
    if tag == "pow":
        return eval_expr(expr[1], env) ** eval_expr(expr[2], env)
    if tag == "call":
        name, args = expr[1], [eval_expr(a, env) for a in expr[2]]
        if name == "clip":
            return np.clip(*args)
        if name == "int":
            return np.asarray(args[0]).astype(np.int64)
        if name == "min":
            return np.minimum(*args)
        if name == "max":
            return np.maximum(*args)
        return _FUNCS[name](*args)
    raise ValueError(f"unknown expression node {tag!r}")


def expr_vars(expr: tuple) -> set:
    if expr[0] == "var":
        return {expr[1]}
    if expr[0] == "const":
        return set()
    if expr[0] in ("add", "mul"):
        return set().union(*(expr_vars(a) for a in expr[1]))
    if expr[0] == "pow":
        return expr_vars(expr[1]) | expr_vars(expr[2])
    return set().union(*(expr_vars(a) for a in expr[2]))


def expr_str(expr: tuple) -> str:
    tag = expr[0]
    if tag == "const":
        return repr(expr[1])
    if tag == "var":
        return expr[1]
    if tag == "add":
        return "(" + " + ".join(expr_str(a) for a in expr[1]) + ")"
    if tag == "mul":
        return "*".join(expr_str(a) for a in expr[1])
    if tag == "pow":
        return f"({expr_str(expr[1])})**({expr_str(expr[2])})"
    return f"{expr[1]}(" + ", ".join(expr_str(a) for a in expr[2]) + ")"


def _to_tree(e: sp.Expr, where: str) -> tuple:
    """sympy -> expression tree (Brian2's function names mapped)."""
    if e.is_Number:
        return ("const", float(e))
    if e.is_Symbol:
        return ("var", e.name)
    if e.is_Add:
        return ("add", tuple(_to_tree(a, where) for a in e.args))
    if e.is_Mul:
        return ("mul", tuple(_to_tree(a, where) for a in e.args))
    if e.is_Pow:
        return ("pow", _to_tree(e.args[0], where), _to_tree(e.args[1], where))
    name = getattr(e.func, "__name__", str(e.func))
    mapping = {"exp": "exp", "log": "log", "sqrt": "sqrt", "Abs": "abs", "sin": "sin", "cos": "cos",
               "clip": "clip", "int_": "int", "Min": "min", "Max": "max"}
    if name in mapping:
        return ("call", mapping[name], tuple(_to_tree(a, where) for a in e.args))
    raise UnsupportedBrian2(f"{where}: function or construct '{name}' in '{sympy_to_str(e)}' is not supported")


# --------------------------------------------------------------------------- value lookup
def _fold_constants(e: sp.Expr, variables: dict) -> sp.Expr:
    """Replace identifiers that are Brian2 Constants (namespace values, units) by numbers."""
    subs = {}
    for s in e.free_symbols:
        var = variables.get(s.name)
        if isinstance(var, Constant):
            subs[s] = sp.Float(float(var.value), 17)
    return e.xreplace(subs) if subs else e


def _numeric(e: sp.Expr, variables: dict, n: int, where: str) -> np.ndarray:
    """Evaluate an expression of constants and per-neuron parameters to an array (n,)."""
    e = _fold_constants(e, variables)
    env = {}
    for s in e.free_symbols:
        var = variables.get(s.name)
        if isinstance(var, ArrayVariable):
            value = np.asarray(var.get_value(), dtype=float)
            env[s.name] = value[0] if var.scalar else value
        else:
            raise UnsupportedBrian2(f"{where}: '{s.name}' in '{sympy_to_str(e)}' is not a constant or parameter")
    out = eval_expr(_to_tree(e, where), env)
    return np.broadcast_to(np.asarray(out, dtype=float), (n,)).copy()


def _sym(code: str, variables: dict) -> sp.Expr:
    return str_to_sympy(code, variables)


def _split_code(code: str) -> list[str]:
    lines = []
    for line in code.replace(";", "\n").split("\n"):
        line = line.split("#")[0].strip()
        if line:
            lines.append(line)
    return lines


def _unit_str(dim) -> str:
    from brian2.units.fundamentalunits import get_unit

    try:
        return str(get_unit(dim))
    except Exception:  # noqa: BLE001 - cosmetic only
        return str(dim)


# --------------------------------------------------------------------------- neuron groups
_ALLOWED_GROUP_PARTS = ("stateupdater", "thresholder", "resetter")


def _diagnose_nonlinear(group, eqs, variables) -> str:
    """One line saying which equation is not a linear leaky integrator, and why."""
    # deterministic order, the membrane potential first (diff_eq_names is a set)
    states = sorted(eqs.diff_eq_names, key=lambda s: (s != "v", s))
    symbols = {n: sp.Symbol(n, real=True) for n in states}
    for name, expr in eqs.get_substituted_expressions(variables):
        e = _sym(expr.code, variables).expand()
        text = f"d{name}/dt = {expr.code}"
        if "xi" in get_identifiers(expr.code) or any(s.name.startswith("xi") for s in e.free_symbols):
            return f"{group.name}: '{text}': stochastic equation (noise term)"
        for a in states:
            for b in states:
                d2 = sp.diff(e, symbols[a], symbols[b])
                if d2 == 0:
                    continue
                if a != b:
                    return (f"{group.name}: '{text}': {a} multiplied by {b} (conductance-based synapse: "
                            f"the current depends on the membrane potential); only current-based synapses are linear")
                if e.has(sp.exp) and sp.diff(e, symbols[a]).has(sp.exp):
                    return f"{group.name}: '{text}': exponential in {a} (exponential integrate-and-fire / AdEx)"
                return f"{group.name}: '{text}': {a} appears nonlinearly (quadratic / Izhikevich-type dynamics)"
    return f"{group.name}: equations are not linear with constant coefficients"


V_REF = "_neurodeploy_v_ref"


def _conductances_as_currents(group, eqs, variables, namespace, notes: list, found: list):
    """Conductance-based synapses, g*(E - v) in dv/dt with g a pure decay (dg/dt = -g/tau), as
    currents g*(E - V_ref): the driving force at the reference potential V_ref, midway between
    the rest potential (the leak's target; the mean initial v when v has no leak) and the mean
    threshold, where v spends its time below threshold. Returns (eqs, names, M, B) of the
    linearised system, or None when the equations are nonlinear otherwise (exponential,
    quadratic, products of states other than g*v) or have no threshold; the conductances go
    into ``found`` (the caller checks that synapses feed them)."""
    from brian2 import Equations
    from brian2.core.variables import Constant as BrianConstant
    from brian2.equations.codestrings import Expression
    from brian2.equations.equations import SingleEquation

    states = sorted(eqs.diff_eq_names)
    symbols = {n: sp.Symbol(n, real=True) for n in states}
    thr = _threshold(group, dict(variables), states, namespace)
    if thr is None:
        return None
    in_thr = [n for n in states if symbols[n] in thr[1].free_symbols]
    v = "v" if "v" in in_thr else (in_thr[0] if len(in_thr) == 1 else None)
    if v is None:
        return None
    vs = symbols[v]
    n = len(group)
    where = f"{group.name}: threshold '{thr[0]}'"
    c_v = _numeric(thr[1].coeff(vs), variables, n, where)
    rest = thr[1].subs({vs: 0, **{symbols[s]: 0 for s in states if s != v}})
    threshold = -_numeric(rest, variables, n, where) / c_v
    ref = sp.Symbol(V_REF, real=True)
    equations, conductances = [], []
    for eq in eqs.values():
        if eq.type != DIFFERENTIAL_EQUATION:
            equations.append(eq)
            continue
        e = _sym(eq.expr.code, variables).expand()
        if eq.varname == v:
            replaced = 0
            for term in sp.Add.make_args(e):
                others = [symbols[s] for s in states if s != v and term.has(symbols[s])]
                if term.has(vs) and len(others) == 1 and sp.degree(term, vs) == 1 and sp.degree(term, others[0]) == 1:
                    replaced += term.subs(vs, ref) - term
                    conductances.append(others[0].name)
            e = e + replaced
        equations.append(SingleEquation(DIFFERENTIAL_EQUATION, eq.varname, eq.dim, var_type=eq.var_type, expr=Expression(sympy_to_str(e)),
                                        flags=eq.flags))
    if not conductances:
        return None
    try:
        new = Equations(equations)
        get_linear_system(new, {**variables, V_REF: BrianConstant(V_REF, 0.0)})
    except Exception:  # noqa: BLE001 - still not linear: the caller's diagnosis names why
        return None
    for g in sorted(set(conductances)):
        _check_pure_decay(group, eqs, variables, symbols, g, v)
    rest, origin = _rest_potential(group, eqs, variables, symbols, v, n)
    if np.mean(rest) >= np.mean(threshold):
        raise UnsupportedBrian2(f"{group.name}: conductance-based synapses need a reference potential below the threshold: the "
                                f"{origin} ({np.mean(rest) * 1e3:.4g} mV) is at or above it ({np.mean(threshold) * 1e3:.4g} mV); "
                                f"give {v} a rest potential below threshold")
    v_ref = float((np.mean(rest) + np.mean(threshold)) / 2)
    names, M, B = get_linear_system(new, {**variables, V_REF: BrianConstant(V_REF, v_ref)})
    variables[V_REF] = BrianConstant(V_REF, v_ref)
    found.extend(sorted(set(conductances)))
    notes.append(f"{group.name}: conductance-based synapses ({', '.join(sorted(set(conductances)))} times (E - {v})) deployed "
                 f"as currents with the driving force at {v} = {v_ref * 1e3:.4g} mV (midway between the {origin} and "
                 "the threshold): an approximation (its error: docs/brian2.md)")
    return new, names, M, B


def _rest_potential(group, eqs, variables, symbols: dict, v: str, n: int) -> tuple[np.ndarray, str]:
    """(per neuron, its name): the leak's target of dv/dt with every other state at 0, or the
    initial v when v does not leak."""
    vs = symbols[v]
    e = _sym(eqs[v].expr.code, variables).expand().subs({symbols[s]: 0 for s in symbols if s != v})
    where = f"{group.name}: 'd{v}/dt = {eqs[v].expr.code}'"
    leak = _numeric(e.coeff(vs), variables, n, where)
    if np.all(leak < 0):
        return -_numeric(e.subs(vs, 0), variables, n, where) / leak, "rest potential"
    return np.asarray(group.variables[v].get_value(), float), f"initial {v}"


def _check_pure_decay(group, eqs, variables, symbols: dict, g: str, v: str) -> None:
    """dg/dt = -g/tau (g depends on nothing but itself, and decays), else a one-line refusal."""
    e = _sym(eqs[g].expr.code, variables).expand()
    coef = e.coeff(symbols[g])
    where = f"{group.name}: 'd{g}/dt = {eqs[g].expr.code}'"
    if (sp.expand(e - coef * symbols[g]) != 0 or coef.free_symbols & set(symbols.values())
            or np.any(_numeric(coef, variables, len(group), where) >= 0)):
        raise UnsupportedBrian2(f"{where}: {g} multiplies {v} (a conductance) but is not a pure decay (d{g}/dt = -{g}/tau, "
                                "synaptic input its only drive): not deployed")


def _linear_system(group, namespace, notes: list, conductances: list):
    eqs = group.user_equations
    ids = set(eqs.identifiers) | set(eqs.names) | {"dt", "t"}
    variables = group.resolve_all(ids, namespace, user_identifiers=set())
    for eq in eqs.values():
        if eq.type == SUBEXPRESSION and "constant over dt" in eq.flags:
            raise UnsupportedBrian2(f"{group.name}: '{eq.varname} = {eq.expr.code}': 'constant over dt' subexpressions are not supported")
    if eqs.is_stochastic:
        raise UnsupportedBrian2(_diagnose_nonlinear(group, eqs, variables))
    try:
        names, M, B = get_linear_system(eqs, variables)
    except UnsupportedEquationsException:
        linearised = _conductances_as_currents(group, eqs, variables, namespace, notes, conductances)
        if linearised is None:
            raise UnsupportedBrian2(_diagnose_nonlinear(group, eqs, variables)) from None
        eqs, names, M, B = linearised
    state_names = set(names)
    exprs = dict(eqs.get_substituted_expressions(variables))
    for r, row in enumerate(names):
        text = f"d{row}/dt = {exprs[row].code}"
        for entry in list(M.row(r)) + [B[r]]:
            used = {s.name for s in entry.free_symbols}
            if "t" in used:
                raise UnsupportedBrian2(f"{group.name}: '{text}': depends on time t (time-varying input is not supported)")
            if used & state_names:
                raise UnsupportedBrian2(f"{group.name}: '{text}': coefficient depends on a state variable")
            for name in used:
                var = variables.get(name)
                own = getattr(var, "owner", None)
                if not (isinstance(var, Constant) or name == "dt"
                        or (isinstance(var, ArrayVariable) and own is not None and own.name == group.name)):
                    raise UnsupportedBrian2(f"{group.name}: '{text}': '{name}' is not a constant or a parameter of the group")
    return eqs, names, M, B, variables


def _guess_v(group, names, threshold_expr) -> str:
    if threshold_expr is not None:
        in_thr = [n for n in names if sp.Symbol(n, real=True) in threshold_expr.free_symbols]
        # the membrane variable is the one the threshold compares with a positive coefficient
        # and that receives other states as inputs; with several candidates prefer "v"
        if len(in_thr) == 1:
            return in_thr[0]
        if "v" in in_thr:
            return "v"
        if in_thr:
            return in_thr[0]
    if "v" in names:
        return "v"
    raise UnsupportedBrian2(f"{group.name}: cannot tell the membrane variable (no threshold on a state variable and no 'v')")


def _threshold(group, variables, names, namespace):
    code = group.events.get("spike")
    if code is None:
        return None
    variables.update(group.resolve_all(get_identifiers(code), namespace, user_identifiers=set()))
    rel = _sym(code, variables)
    if isinstance(rel, (sp.StrictGreaterThan, sp.GreaterThan)):
        f, strict = rel.lhs - rel.rhs, isinstance(rel, sp.StrictGreaterThan)
    elif isinstance(rel, (sp.StrictLessThan, sp.LessThan)):
        f, strict = rel.rhs - rel.lhs, isinstance(rel, sp.StrictLessThan)
    else:
        raise UnsupportedBrian2(f"{group.name}: threshold '{code}' is not a single comparison 'v > expression'")
    if any(s.name in ("t", "i") for s in f.free_symbols) or f.has(sp.Function("rand")):
        raise UnsupportedBrian2(f"{group.name}: threshold '{code}' depends on time, index or randomness")
    return code, sp.expand(f), strict


def extract_neuron_group(group: NeuronGroup, namespace: dict, dt: float, notes: list | None = None) -> LIFGroup:
    extra = [o for o in group.contained_objects
             if not any(o.name.startswith(f"{group.name}_{p}") for p in ("stateupdater",))
             and not o.name.startswith(f"{group.name}_spike_")
             and not o.name.startswith(f"{group.name}_subexpression_update")]
    if extra:
        raise UnsupportedBrian2(f"{group.name}: contains {extra[0].name} (run_regularly or custom events are not supported)")
    if set(group.events) - {"spike"}:
        raise UnsupportedBrian2(f"{group.name}: custom events {sorted(set(group.events) - {'spike'})} are not supported")
    conductances = []
    eqs, names, M, B, variables = _linear_system(group, namespace, [] if notes is None else notes, conductances)
    n = len(group)
    thr = _threshold(group, variables, names, namespace)
    v = _guess_v(group, names, thr[1] if thr else None)
    iv = names.index(v)
    syms = {nm: sp.Symbol(nm, real=True) for nm in names}
    where = f"{group.name}: 'd{v}/dt'"
    Mnum = [[_numeric(M[r, c], variables, n, where) for c in range(len(names))] for r in range(len(names))]
    Bnum = [_numeric(B[r], variables, n, where) for r in range(len(names))]
    leak = -Mnum[iv][iv]
    if np.any(leak < 0):
        raise UnsupportedBrian2(f"{where}: negative leak (the membrane equation is unstable)")
    with np.errstate(divide="ignore", invalid="ignore"):
        tau_m = np.where(leak > 0, 1.0 / np.where(leak > 0, leak, 1.0), np.inf)
        v_rest = np.where(leak > 0, Bnum[iv] / np.where(leak > 0, leak, 1.0), 0.0)
    if np.any((leak == 0) & (Bnum[iv] != 0)):
        raise UnsupportedBrian2(f"{where}: constant drive without leak (v grows without bound)")

    # threshold: v > thr_const + sum coef_k x_k
    thr_coef = {nm: np.zeros(n) for nm in names}
    if thr is not None:
        code, f, strict = thr
        try:
            poly = sp.Poly(f, *[syms[nm] for nm in names])
        except sp.PolynomialError:
            raise UnsupportedBrian2(f"{group.name}: threshold '{code}' is not linear in the state variables") from None
        if poly.total_degree() > 1:
            raise UnsupportedBrian2(f"{group.name}: threshold '{code}' is not linear in the state variables")
        c_v = _numeric(poly.coeff_monomial(syms[v]), variables, n, f"{group.name}: threshold '{code}'")
        if np.any(c_v <= 0):
            raise UnsupportedBrian2(f"{group.name}: threshold '{code}' is not of the form '{v} > ...'")
        const = _numeric(poly.coeff_monomial(1), variables, n, f"{group.name}: threshold '{code}'")
        threshold = -const / c_v
        for nm in names:
            if nm != v:
                thr_coef[nm] = -_numeric(poly.coeff_monomial(syms[nm]), variables, n, f"{group.name}: threshold '{code}'") / c_v
    else:
        threshold, strict = np.full(n, np.inf), True

    flags = {eq.varname: ("unless refractory" in eq.flags) for eq in eqs.values() if eq.type == DIFFERENTIAL_EQUATION}
    states = []
    for nm in names:
        if nm == v:
            continue
        r = names.index(nm)
        for c, other in enumerate(names):
            if c != r and np.any(Mnum[r][c] != 0):
                why = "couples back from the membrane (adaptation current)" if other == v else f"depends on {other}"
                raise UnsupportedBrian2(f"{group.name}: 'd{nm}/dt = {eqs[nm].expr.code}': {why}; only decaying currents are supported")
        if np.any(Bnum[r] != 0):
            raise UnsupportedBrian2(f"{group.name}: 'd{nm}/dt = {eqs[nm].expr.code}': constant drive of a current is not supported")
        decay = -Mnum[r][r]
        if np.any(decay < 0):
            raise UnsupportedBrian2(f"{group.name}: 'd{nm}/dt = {eqs[nm].expr.code}': grows exponentially")
        with np.errstate(divide="ignore"):
            tau = np.where(decay > 0, 1.0 / np.where(decay > 0, decay, 1.0), np.inf)
        states.append(StateVar(nm, tau, Mnum[iv][r], thr_coef[nm], flags.get(nm, False), _unit_str(eqs[nm].dim)))

    # reset
    reset_ops = []
    reset_code = group.event_codes.get("spike", "") if thr is not None else ""
    for line in _split_code(reset_code or ""):
        var, op, expr_code, _ = parse_statement(line)
        if var not in names:
            raise UnsupportedBrian2(f"{group.name}: reset '{line}': writes '{var}', which is not a state variable")
        ids = get_identifiers(expr_code)
        rv = group.resolve_all(ids, namespace, user_identifiers=set())
        e = _sym(expr_code, {**variables, **rv})
        state_in = {s.name for s in e.free_symbols} & set(names)
        if op == "=" and state_in <= {var} and sp.diff(e, syms[var]) == 1:
            reset_ops.append(ResetOp(var, "add", _numeric(sp.expand(e - syms[var]), {**variables, **rv}, n, f"{group.name}: reset '{line}'")))
        elif op == "=" and not state_in:
            reset_ops.append(ResetOp(var, "set", _numeric(e, {**variables, **rv}, n, f"{group.name}: reset '{line}'")))
        elif op in ("+=", "-=") and not state_in:
            val = _numeric(e, {**variables, **rv}, n, f"{group.name}: reset '{line}'")
            reset_ops.append(ResetOp(var, "add", val if op == "+=" else -val))
        else:
            raise UnsupportedBrian2(f"{group.name}: reset '{line}': only 'x = value', 'x += value', 'x -= value' are supported")

    # refractoriness (brian2/groups/neurongroup.py StateUpdater._get_refractory_code)
    ref = group._refractory
    has_ref = ref is not False
    if ref is False:
        ref_steps = np.zeros(n, np.int64)
    elif isinstance(ref, str):
        rv = group.resolve_all(get_identifiers(ref), namespace, user_identifiers=set())
        e = _sym(ref, {**variables, **rv})
        if is_boolean_expression(ref, {**variables, **rv}):
            raise UnsupportedBrian2(f"{group.name}: refractory='{ref}': a refractory condition (not a duration) is not supported")
        ref_steps = _timestep(_numeric(e, {**variables, **rv}, n, f"{group.name}: refractory '{ref}'"), dt)
    else:
        ref_steps = np.full(n, _timestep(float(ref), dt), np.int64)
    init = {nm: np.asarray(group.variables[nm].get_value(), float).copy() for nm in names}
    if has_ref:
        lastspike = _timestep(np.asarray(group.variables["lastspike"].get_value(), float), dt)
    else:
        lastspike = np.full(n, -(10**12), np.int64)
    method = _effective_method(group, linearised=V_REF in variables)
    return LIFGroup(
        name=group.name, n=n, v=v, tau_m=tau_m, v_rest=v_rest, clamp_v=flags.get(v, False) and has_ref,
        states=tuple(StateVar(s.name, s.tau, s.gain, s.threshold_coef, s.clamped and has_ref, s.unit) for s in states),
        threshold=threshold, threshold_strict=strict, reset=tuple(reset_ops),
        refractory_steps=np.asarray(ref_steps, np.int64), has_refractory=has_ref, init=init,
        lastspike_step=np.asarray(lastspike, np.int64), method=str(method), v_unit=_unit_str(eqs[v].dim), conductances=tuple(conductances),
    )


def _effective_method(group, linearised: bool = False) -> str:
    """'exact' or 'euler': the integration Brian2 applies (brian2/stateupdaters/base.py
    apply_stateupdater tries a list of methods in order; the default list starts with
    'exact', which succeeds for every linear system accepted here, and fails for a
    conductance-based one, ``linearised``, which goes on to 'euler')."""
    choice = group.state_updater.method_choice
    if isinstance(choice, str):
        name = choice.lower()
    elif isinstance(choice, (list, tuple)) and choice and isinstance(choice[0], str):
        name = next((c.lower() for c in choice if c.lower() not in ("exact", "linear")), "exact") if linearised else choice[0].lower()
    else:
        raise UnsupportedBrian2(f"{group.name}: method {choice!r}: a custom state updater is not reproduced")
    if name in ("exact", "linear"):
        return "exact"
    if name == "euler":
        return "euler"
    raise UnsupportedBrian2(f"{group.name}: method '{name}' is not reproduced (use 'exact', the default for linear equations, or 'euler')")


def _timestep(t, dt):
    """brian2/core/functions.py timestep(): int((t + 1e-3*dt) / dt)."""
    return np.array((np.asarray(t, float) + 1e-3 * dt) / dt, dtype=np.int64)


# --------------------------------------------------------------------------- sources
def extract_spike_generator(g: SpikeGeneratorGroup, dt: float) -> SpikeSourceGroup:
    times = np.asarray(g.variables["spike_time"].get_value(), float)
    idx = np.asarray(g.variables["neuron_index"].get_value(), np.int64)
    # brian2/input/spikegeneratorgroup.py before_run: shift by 1e-3 dt, then truncate
    steps = np.asarray((times + 1e-3 * dt) / dt, dtype=np.int64)
    period = float(g.variables["period"].get_value()[0]) if "period" in g.variables else 0.0
    period_steps = int(np.round(period / dt)) if period > 0 else 0
    order = np.lexsort((idx, steps))
    return SpikeSourceGroup(g.name, len(g), "generator", indices=idx[order], steps=steps[order], period_steps=period_steps)


def extract_poisson_group(g: PoissonGroup, namespace) -> SpikeSourceGroup:
    var = g.variables["rates"]
    if isinstance(var, Subexpression):
        raise UnsupportedBrian2(f"{g.name}: rates='{var.expr}': rate expressions are not supported (set numeric rates)")
    return SpikeSourceGroup(g.name, len(g), "poisson", rates=np.asarray(var.get_value(), float).copy())


# --------------------------------------------------------------------------- synapses
def _owner_and_offset(group):
    if isinstance(group, Subgroup):
        return group.source.name, group.start
    return group.name, 0


def _event_driven_traces(syn, namespace):
    ed = syn.event_driven
    if ed is None or len(ed) == 0:
        return {}
    variables = syn.resolve_all(set(ed.identifiers) | set(ed.names) | {"dt", "t"}, namespace, user_identifiers=set())
    try:
        names, M, B = get_linear_system(ed, variables)
    except UnsupportedEquationsException:
        raise UnsupportedBrian2(f"{syn.name}: event-driven equations are not linear decays") from None
    taus = {}
    for r, nm in enumerate(names):
        for c in range(len(names)):
            if c != r and M[r, c] != 0:
                raise UnsupportedBrian2(f"{syn.name}: 'd{nm}/dt = {ed[nm].expr.code}': traces must decay independently")
        if B[r] != 0:
            raise UnsupportedBrian2(f"{syn.name}: 'd{nm}/dt = {ed[nm].expr.code}': traces must decay to zero")
        decay = _numeric(-M[r, r], variables, 1, f"{syn.name}: 'd{nm}/dt'")
        if np.ptp(decay) != 0 or decay[0] < 0:
            raise UnsupportedBrian2(f"{syn.name}: 'd{nm}/dt': trace time constant must be one positive constant")
        taus[nm] = 1.0 / decay[0] if decay[0] > 0 else np.inf
    return taus


def _synapse_checks(syn):
    eqs = syn.equations
    for eq in eqs.values():
        if eq.type == SUBEXPRESSION:
            raise UnsupportedBrian2(f"{syn.name}: '{eq.varname} = {eq.expr.code}': synaptic subexpressions (summed variables) are not supported")
    if getattr(syn, "summed_updaters", None):
        raise UnsupportedBrian2(f"{syn.name}: summed variables are not supported")


def _pathway(syn, pw, namespace, dt, traces):
    side = pw.prepost
    trig_name, trig_off = _owner_and_offset(pw.source)
    tgt_name, tgt_off = _owner_and_offset(pw.target)
    pre = np.asarray(syn.variables["_synaptic_pre"].get_value(), np.int64)
    post = np.asarray(syn.variables["_synaptic_post"].get_value(), np.int64)
    # _synaptic_pre/_post are indices into the (sub)groups; add the subgroup offsets
    src_off, tgt_off2 = _owner_and_offset(syn.source)[1], _owner_and_offset(syn.target)[1]
    pre_abs, post_abs = pre + src_off, post + tgt_off2
    trig_index, target_index = (pre_abs, post_abs) if side == "pre" else (post_abs, pre_abs)
    delays = np.asarray(pw.variables["delay"].get_value(), float).reshape(-1)
    if delays.size <= 1:  # a pathway-wide (homogeneous) delay
        delays = np.full(pre.shape, delays[0] if delays.size else 0.0)
    delay_steps = np.round(delays / dt).astype(np.int64)  # brian2/synapses/spikequeue.py SpikeQueue.prepare
    syn_vars = {nm for nm, var in syn.variables.items() if isinstance(var, ArrayVariable)
                and getattr(var, "owner", None) is not None and var.owner.name == syn.name and var.size == len(pre)
                and not nm.startswith("_")}
    statements = []
    for line in _split_code(pw.code):
        var, op, expr_code, _ = parse_statement(line)
        ids = get_identifiers(expr_code) | {var}
        variables = syn.resolve_all(ids, namespace, user_identifiers=set())
        e = _fold_constants(_sym(expr_code, variables), variables)
        target = variables[var]
        owner = getattr(target, "owner", None)
        where = f"{syn.name}: on_{side} '{line}'"
        for s in e.free_symbols:
            sv = variables.get(s.name)
            sown = getattr(sv, "owner", None)
            if s.name == "dt":
                e = e.xreplace({s: sp.Float(dt, 17)})
            elif s.name == "t":
                continue
            elif sown is None or sown.name != syn.name:
                raise UnsupportedBrian2(f"{where}: reads neuron variable '{s.name}' (only synaptic variables and constants may be read)")
            elif s.name in ("lastupdate",):
                raise UnsupportedBrian2(f"{where}: reads 'lastupdate'")
        if owner is not None and owner.name == syn.name:
            if var not in syn_vars and var not in traces:
                raise UnsupportedBrian2(f"{where}: writes '{var}', which is not a per-synapse variable")
            statements.append(Statement(var, op, _to_tree(e, where), "synaptic"))
            continue
        # a neuron variable of the pathway's target
        tgt_owner = pw.target.source if isinstance(pw.target, Subgroup) else pw.target
        if owner is None or owner.name != tgt_owner.name:
            raise UnsupportedBrian2(f"{where}: writes '{var}' of {getattr(owner, 'name', '?')}, not of the pathway's target")
        if op not in ("+=", "-="):
            raise UnsupportedBrian2(f"{where}: a synapse may only add to or subtract from a neuron variable")
        if "t" in {s.name for s in e.free_symbols}:
            raise UnsupportedBrian2(f"{where}: the synaptic effect depends on time")
        statements.append(Statement(var, op, _to_tree(e, where), "effect", target_var=target.name))
    return Pathway(pw.name, syn.name, side, trig_name, tgt_name, trig_index, target_index, delay_steps,
                   tuple(statements), -1 if side == "pre" else 1)


def _is_clamped(group, var: str) -> bool:
    if not isinstance(group, NeuronGroup) or group._refractory is False:
        return False
    eq = group.user_equations.get(var) if hasattr(group.user_equations, "get") else None
    return eq is not None and eq.type == DIFFERENTIAL_EQUATION and "unless refractory" in eq.flags


def _projection(syn, pw: Pathway, st: Statement, syn_values: dict, groups_by_name, n_syn: int) -> Projection:
    sym_vars = expr_vars(st.expr) - {"t"}
    value = eval_expr(st.expr, {k: syn_values[k] for k in sym_vars})
    weight = np.broadcast_to(np.asarray(value, float), (n_syn,)).copy()
    if st.op == "-=":
        weight = -weight
    weight_var, scale = None, 1.0
    if len(sym_vars) == 1:
        (wv,) = sym_vars
        # linear in the synaptic variable: weight = scale * w
        probe = eval_expr(st.expr, {wv: np.array([0.0, 1.0])})
        if np.isclose(probe[0], 0.0) and np.allclose(eval_expr(st.expr, {wv: np.array([2.0])}), 2 * probe[1]):
            weight_var, scale = wv, float(probe[1]) * (-1 if st.op == "-=" else 1)
    tg = groups_by_name[pw.target]
    return Projection(
        name=f"{pw.name}:{st.target_var}", source=pw.trigger, target=pw.target, target_var=st.target_var,
        i=pw.trigger_index, j=pw.target_index, weight=weight, delay_steps=pw.delay_steps,
        weight_var=weight_var, scale=scale, conditional=_is_clamped(tg, st.target_var),
    )


# --------------------------------------------------------------------------- plasticity
def _plasticity(syn, pathways, traces, namespace, syn_values) -> Plasticity | None:
    written = {st.var for pw in pathways for st in pw.statements if st.kind == "synaptic"}
    weight_vars = written - set(traces)
    effect_vars = {v for pw in pathways for st in pw.statements if st.kind == "effect" for v in expr_vars(st.expr)}
    third = _third_factor(syn, namespace, effect_vars)
    if not written and third is None:
        return None
    if third is not None:
        w = third[0]
        third = third[1]
    elif not (weight_vars & effect_vars):
        w = None
    else:
        (w,) = sorted(weight_vars & effect_vars)[:1]
    trace_list = []
    for nm, tau in traces.items():
        sides, kinds = set(), set()
        amount = 0.0
        for pw in pathways:
            for st in pw.statements:
                if st.var == nm and st.kind == "synaptic":
                    sides.add(pw.side)
                    if st.op == "+=" and expr_vars(st.expr) == set():
                        kinds.add("add")
                        amount = float(eval_expr(st.expr, {}))
                    elif st.op == "=" and expr_vars(st.expr) == set():
                        kinds.add("set")
                        amount = float(eval_expr(st.expr, {}))
                    else:
                        kinds.add("other")
        side = sides.pop() if len(sides) == 1 else ("both" if sides else "none")
        kind = kinds.pop() if len(kinds) == 1 else "other"
        trace_list.append(Trace(nm, float(tau), side, kind, amount))
    dw, bounds = {}, {}
    for pw in pathways:
        sts = [st for st in pw.statements if st.kind == "synaptic" and st.var == w]
        if len(sts) != 1:
            dw[pw.side] = None if sts else ()
            continue
        st = sts[0]
        dw[pw.side], bounds[pw.side] = _sum_of_products(st, w)
    lo = {b[0] for b in bounds.values() if b is not None}
    hi = {b[1] for b in bounds.values() if b is not None}
    w_min = lo.pop() if len(lo) == 1 else None
    w_max = hi.pop() if len(hi) == 1 else None
    if third is not None:
        return _reward_modulated(syn, pathways, trace_list, dw, w, w_min, w_max, third)
    rule = Plasticity(syn.name, w or "", tuple(trace_list), dw.get("pre"), dw.get("post"), w_min, w_max, None)
    return Plasticity(**{**rule.__dict__, "pair_stdp": _pair_stdp(rule)})


def _reward_modulated(syn, pathways, trace_list, dw: dict, w: str, w_min, w_max, third: ThirdFactor) -> Plasticity:
    """The eligibility's changes at events as the rule's dw_pre / dw_post; the weight itself
    may only be clipped at events (it changes through dw/dt = gain * c * reward)."""
    for side, terms in dw.items():
        if terms:
            raise UnsupportedBrian2(f"{syn.name}: on_{side} changes {w} directly ({' + '.join(f'{c:g}*' + '*'.join(f) for c, f in terms)}): "
                                    f"with a third factor the weight changes only through d{w}/dt (it may be clipped at events)")
    dc = {}
    for pw in pathways:
        sts = [st for st in pw.statements if st.kind == "synaptic" and st.var == third.eligibility]
        if len(sts) > 1:
            raise UnsupportedBrian2(f"{syn.name}: on_{pw.side} writes {third.eligibility} more than once")
        if sts:
            terms, bounds = _sum_of_products(sts[0], third.eligibility)
            if terms is None or bounds is not None:
                raise UnsupportedBrian2(f"{syn.name}: on_{pw.side} '{third.eligibility} {sts[0].op} {expr_str(sts[0].expr)}': the eligibility "
                                        "changes by a sum of traces at events (c += A*apre), unclipped")
            dc[pw.side] = terms
        else:
            dc[pw.side] = ()
    return Plasticity(syn.name, w, tuple(trace_list), dc.get("pre", ()), dc.get("post", ()), w_min, w_max, None, third)


def _third_factor(syn, namespace, effect_vars: set) -> tuple[str, ThirdFactor] | None:
    """(weight, ThirdFactor) of clock-driven synaptic equations that are an eligibility and a
    reward-gated weight (``ThirdFactor``); None without clock-driven equations; anything else
    one line: the equation and why the chip cannot run it."""
    from brian2 import TimedArray

    eqs = [eq for eq in syn.equations.values() if eq.type == DIFFERENTIAL_EQUATION]
    if not eqs:
        return None
    ids = set().union(*(set(eq.identifiers) for eq in eqs)) | {eq.varname for eq in eqs} | {"t", "dt"}
    variables = syn.resolve_all(ids, namespace, user_identifiers=set())
    own = {eq.varname for eq in eqs}
    exprs = {eq.varname: _fold_constants(_sym(eq.expr.code, variables), variables).expand() for eq in eqs}
    text = {eq.varname: f"d{eq.varname}/dt = {eq.expr.code}" for eq in eqs}
    usage = ("the chip runs reward-modulated plasticity as 'dc/dt = -c/tau_c' (the eligibility, changed by traces at events) "
             "and 'dw/dt = k * c * reward(t)' (reward a TimedArray: the given reward per step)")
    decays = {nm: e for nm, e in exprs.items() if e.free_symbols == {sp.Symbol(nm, real=True)} and sp.Poly(e).total_degree() == 1}
    if len(eqs) != 2 or len(decays) != 1:
        name = next(iter(n for n in exprs if n not in decays), eqs[0].varname)
        third = " (a per-synapse dopamine trace, as Izhikevich's: the chip's reward is one signal per post neuron and step)" \
            if len(decays) > 1 else ""
        raise UnsupportedBrian2(f"{syn.name}: '{text[name]}': clock-driven synaptic equations other than an eligibility and a "
                                f"reward-gated weight are not supported{third}; {usage}")
    (c,) = decays
    (w,) = own - {c}
    e_w, c_sym = exprs[w], sp.Symbol(c, real=True)
    rate = -float(exprs[c].coeff(c_sym))
    if rate <= 0:
        raise UnsupportedBrian2(f"{syn.name}: '{text[c]}': the eligibility must decay")
    factor = sp.simplify(e_w / c_sym)
    calls = [f for f in factor.atoms(sp.Function)]
    symbols = {s.name for s in factor.free_symbols} - {"t"}
    if not e_w.has(c_sym) or factor.has(c_sym) or sp.expand(factor * c_sym - e_w) != 0:
        raise UnsupportedBrian2(f"{syn.name}: '{text[w]}': the weight change is not proportional to the eligibility {c} ({usage})")
    if w in symbols:
        raise UnsupportedBrian2(f"{syn.name}: '{text[w]}': the weight change depends on {w} itself: not proportional to the eligibility "
                                f"times a reward ({usage})")
    if symbols:
        name = sorted(symbols)[0]
        var = variables.get(name)
        kind = ("a per-synapse variable (Izhikevich's dopamine trace d: on the chip the reward is one signal per post neuron and step)"
                if getattr(getattr(var, "owner", None), "name", None) == syn.name
                else "a neuron variable or parameter (the chip's reward is a given signal or comes from labels)")
        raise UnsupportedBrian2(f"{syn.name}: '{text[w]}': the third factor '{name}' is {kind}; {usage}")
    if len(calls) != 1 or not isinstance(variables.get(calls[0].func.__name__), TimedArray) or [str(a) for a in calls[0].args] != ["t"]:
        raise UnsupportedBrian2(f"{syn.name}: '{text[w]}': the third factor is not one TimedArray of t ({usage})")
    array = variables[calls[0].func.__name__]
    values = np.asarray(array.values, float)
    if values.ndim != 1:
        raise UnsupportedBrian2(f"{syn.name}: '{text[w]}': a {values.ndim}-D TimedArray: the reward is one signal over time (1-D)")
    gain = sp.simplify(factor / calls[0])
    if not gain.is_number or not gain.is_real:
        raise UnsupportedBrian2(f"{syn.name}: '{text[w]}': the reward enters nonlinearly (the chip's dw is the eligibility times the "
                                f"reward times a constant; {usage})")
    gain = float(gain)
    method = _synapse_method(syn, text[w])
    return w, ThirdFactor(c, 1.0 / rate, gain, calls[0].func.__name__, values, float(array.dt), method)


def _synapse_method(syn, text: str) -> str:
    """'euler', the only method Brian2 integrates these equations with: its default list tries
    'exact', which refuses a function of t, then 'euler'; any other explicit choice is refused."""
    updater = next((o for o in syn.contained_objects if o.name.endswith("_stateupdater")), None)
    choice = getattr(updater, "method_choice", None)
    if isinstance(choice, str) and choice.lower() != "euler":
        raise UnsupportedBrian2(f"{syn.name}: '{text}': method '{choice}' is not reproduced (use 'euler', or leave Brian2's default)")
    return "euler"


def _tree_to_sympy(t):
    tag = t[0]
    if tag == "const":
        return sp.Float(t[1], 17) if t[1] != int(t[1]) else sp.Integer(int(t[1]))
    if tag == "var":
        return sp.Symbol(t[1], real=True)
    if tag == "add":
        return sp.Add(*[_tree_to_sympy(a) for a in t[1]])
    if tag == "mul":
        return sp.Mul(*[_tree_to_sympy(a) for a in t[1]])
    if tag == "pow":
        return sp.Pow(_tree_to_sympy(t[1]), _tree_to_sympy(t[2]))
    return sp.Function(t[1])(*[_tree_to_sympy(a) for a in t[2]])


def _sum_of_products(st: Statement, w: str):
    """The weight change of one statement as ((coef, factors), ...) and its clip bounds."""
    e = _tree_to_sympy(st.expr)
    bounds = None
    if st.op == "=" and isinstance(e, sp.Function) and e.func.__name__ == "clip":
        inner, lo, hi = e.args
        if lo.free_symbols or hi.free_symbols:
            return None, None
        bounds, e = (float(lo), float(hi)), inner
    wsym = sp.Symbol(w, real=True)
    if st.op == "=":
        dw = sp.expand(e - wsym)
    elif st.op == "+=":
        dw = sp.expand(e)
    elif st.op == "-=":
        dw = sp.expand(-e)
    else:
        return None, bounds
    if dw.has(sp.Function):
        return None, bounds
    if not dw.free_symbols:
        return (((float(dw), ()),) if dw != 0 else ()), bounds
    try:
        poly = sp.Poly(dw, *sorted(dw.free_symbols, key=lambda s: s.name))
    except sp.PolynomialError:
        return None, bounds
    terms = []
    gens = [g.name for g in poly.gens]
    for monom, coef in poly.terms():
        factors = tuple(n for n, p in zip(gens, monom) for _ in range(p))
        terms.append((float(coef), factors))
    return tuple(terms), bounds


def _pair_stdp(rule: Plasticity) -> dict | None:
    """A_pre/A_post/taus when dw_pre = c * post_trace and dw_post = c * pre_trace (additive)."""
    by = {t.name: t for t in rule.traces}
    pre_tr = [t for t in rule.traces if t.side == "pre" and t.increment in ("add", "set")]
    post_tr = [t for t in rule.traces if t.side == "post" and t.increment in ("add", "set")]
    if len(pre_tr) != 1 or len(post_tr) != 1 or not rule.dw_pre or not rule.dw_post:
        return None
    if len(rule.dw_pre) != 1 or len(rule.dw_post) != 1:
        return None
    (c_pre, f_pre), (c_post, f_post) = rule.dw_pre[0], rule.dw_post[0]
    if f_pre != (post_tr[0].name,) or f_post != (pre_tr[0].name,):
        return None
    # with x_pre += A_pre at pre spikes: dw at post = c_post * x_pre -> potentiation amplitude c_post*A_pre
    return {
        "A_plus": c_post * pre_tr[0].amount, "A_minus": c_pre * post_tr[0].amount,
        "tau_plus": by[pre_tr[0].name].tau, "tau_minus": by[post_tr[0].name].tau,
        "nearest_spike": pre_tr[0].increment == "set", "w_min": rule.w_min, "w_max": rule.w_max,
        "additive": True,
    }


# --------------------------------------------------------------------------- network
def _objects(network_or_objects):
    if isinstance(network_or_objects, Network):
        return list(network_or_objects.objects)
    if network_or_objects is None:
        return list(collect(level=2))
    if isinstance(network_or_objects, (list, tuple, set)):
        return list(network_or_objects)
    return [network_or_objects]


def extract(network_or_objects=None, namespace: dict | None = None) -> Description:
    """``_extract`` with Brian2's own errors about the model (an identifier it cannot resolve, a
    unit mismatch) as one line."""
    from brian2.units.fundamentalunits import DimensionMismatchError

    if namespace is None:
        namespace = get_local_namespace(level=1)
    try:
        return _extract(network_or_objects, namespace)
    except (KeyError, DimensionMismatchError, SyntaxError) as exc:
        message = str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc).splitlines()[0]
        raise UnsupportedBrian2(f"Brian2 network: {message} (give the object namespace=..., or the names as module globals)") from None


def _check_conductances_fed(groups, projections, pinputs) -> None:
    """A conductance linearised at a reference potential must be a synaptic one."""
    fed = {(p.target, p.target_var) for p in (*projections, *pinputs)}
    for group in groups:
        for g in group.conductances:
            if (group.name, g) not in fed:
                raise UnsupportedBrian2(f"{group.name}: '{g}' multiplies {group.v} but no synapses or PoissonInput feed it: only "
                                        "synaptic conductances are deployed (as currents)")


def _extract(network_or_objects, namespace: dict) -> Description:
    """Read a Brian2 Network (or a list of its objects) into a Description.

    ``namespace``: values for identifiers not in the objects' own namespaces, as for
    ``Network.run(namespace=...)``; by default the caller's locals and globals, which is
    what ``run()`` uses."""
    if namespace is None:
        namespace = get_local_namespace(level=1)
    objs = _objects(network_or_objects)
    all_clock = {float(o.clock.dt_) for o in objs if hasattr(o, "clock")}
    if len(all_clock) != 1:
        raise UnsupportedBrian2(f"network: objects use different time steps {sorted(all_clock)}; one dt is required")
    dt = all_clock.pop()
    # the network's own time (Network.before_run sets every clock to it)
    if isinstance(network_or_objects, Network):
        t_now = network_or_objects.t_
    else:
        from brian2.core.magic import magic_network

        t_now = magic_network.t_
    # after Network.stop() Brian2 leaves the clock's VariableView in Network.t_ (core/network.py:1265)
    t_now = float(np.asarray(t_now[:] if hasattr(t_now, "get_item") else t_now).reshape(-1)[0])
    t0 = int(np.round(t_now / dt))
    groups, sources, pathways, projections, plasticity, pinputs, monitors = [], [], [], [], [], [], []
    syn_values_all, event_driven, notes = {}, {}, []
    neuron_groups = {}
    for o in sorted(objs, key=lambda o: o.name):
        if isinstance(o, Subgroup):
            continue
        if isinstance(o, PoissonGroup):
            sources.append(extract_poisson_group(o, namespace))
            neuron_groups[o.name] = o
        elif isinstance(o, SpikeGeneratorGroup):
            sources.append(extract_spike_generator(o, dt))
            neuron_groups[o.name] = o
        elif isinstance(o, NeuronGroup):
            groups.append(extract_neuron_group(o, namespace, dt, notes))
            neuron_groups[o.name] = o
    for o in sorted(objs, key=lambda o: o.name):
        if isinstance(o, Synapses):
            _synapse_checks(o)
            traces = _event_driven_traces(o, namespace)
            n_syn = len(o.variables["_synaptic_pre"].get_value())
            values = {}
            for nm, var in o.variables.items():
                if (isinstance(var, ArrayVariable) and getattr(var, "owner", None) is not None
                        and var.owner.name == o.name and not nm.startswith("_") and var.size == n_syn
                        and nm not in ("i", "j", "N_incoming", "N_outgoing", "lastupdate", "delay")):
                    values[nm] = np.asarray(var.get_value(), float).copy()
            if "lastupdate" in o.variables:
                values["lastupdate"] = np.asarray(o.variables["lastupdate"].get_value(), float).copy()
            pws = [_pathway(o, pw, namespace, dt, traces) for pw in o._pathways]
            for pw in pws:
                for st in pw.statements:
                    if st.kind == "effect":
                        projections.append(_projection(o, pw, st, values, neuron_groups, n_syn))
            pathways.extend(pws)
            rule = _plasticity(o, pws, traces, namespace, values)
            if rule is not None:
                plasticity.append(rule)
            syn_values_all[o.name] = values
            event_driven[o.name] = dict(traces)
        elif isinstance(o, PoissonInput):
            tgt = o._group
            if isinstance(o.weight, str):
                raise UnsupportedBrian2(f"{o.name}: weight '{o.weight}' given as an expression is not supported")
            pinputs.append(PoissonInputDesc(o.name, _owner_and_offset(tgt)[0], o.target_var, int(o.N), float(o.rate),
                                            float(o.weight), _is_clamped(tgt, o.target_var)))
            if isinstance(tgt, Subgroup):
                raise UnsupportedBrian2(f"{o.name}: PoissonInput into a subgroup is not supported")
        elif isinstance(o, SpikeMonitor):
            src, off = _owner_and_offset(o.source)
            monitors.append(Monitor(o.name, "spikes", src, record=np.arange(off, off + len(o.source))))
        elif isinstance(o, StateMonitor):
            src, off = _owner_and_offset(o.source)
            rec = np.asarray(o.record, np.int64) + off if not isinstance(o.record, bool) else None
            monitors.append(Monitor(o.name, "state", src, tuple(o.record_variables), rec))
        elif isinstance(o, PopulationRateMonitor):
            src, off = _owner_and_offset(o.source)
            monitors.append(Monitor(o.name, "rate", src, record=np.arange(off, off + len(o.source))))
        elif isinstance(o, (NeuronGroup, PoissonGroup, SpikeGeneratorGroup, Subgroup)):
            continue
        else:
            raise UnsupportedBrian2(f"{o.name}: {type(o).__name__} is not supported (only groups, synapses, inputs and monitors)")
    _check_conductances_fed(groups, projections, pinputs)
    return Description(dt, t0, tuple(groups), tuple(sources), tuple(pathways), tuple(projections), syn_values_all,
                       event_driven, tuple(plasticity), tuple(pinputs), tuple(monitors), tuple(notes))
