"""Loihi's learning rules as Lava 0.10 states them: bit widths, the sum-of-products grammar
and the rule a learning projection runs (``LearningRule``).

A rule updates a synaptic variable (dw: the weight, dd: tag_2, dt: tag_1) by a sum of
products ``S * dependency * factor * factor ...``, each factor a trace (x1, x2 of the pre
neuron; y1, y2, y3 of the post neuron), a synaptic variable (w, d, t), a constant, or
one of those plus a constant, ``(v + c)``, or ``sgn(v + c)``; the dependency is x0 (the pre
neuron spiked in the epoch), y0 (the post neuron did) or u<k> (every 2**k epochs); S is
``m * 2**e`` with a 4-bit mantissa. The grammar is Lava's (``lava/magma/core/learning/
symbolic_equation.py``, ``product_series.py``), quirks included, and is parsed here without
importing Lava: ``parse_rule`` gives the same products as Lava's ``ProductSeries`` (tested on
random strings). docs/learning.md states the rules; the arithmetic that evaluates them is
``learning/reference.py``.
"""
from __future__ import annotations

import dataclasses
import re
import typing as ty

import numpy as np

from ..errors import InvalidValueError


class RuleError(InvalidValueError, ValueError):
    """A learning rule Lava's grammar or learning engine cannot take (one line)."""

# --------------------------------------------------------------------------- widths
# lava/magma/core/learning/constants.py
W_TRACE = 7                 # traces x1..y3 are 7-bit unsigned: 0..127
TRACE_MAX = 2 ** W_TRACE - 1
W_TRACE_FRACTIONAL_PART = 8  # impulse fractions are kept in 1/256 units
W_ACCUMULATOR_U = 15        # synaptic-update accumulator: 15 bits + sign
ACC_MIN = -(2 ** W_ACCUMULATOR_U) - 1   # -32769: Lava's (asymmetric) lower clip
ACC_MAX = 2 ** W_ACCUMULATOR_U - 1      # 32767
W_S_MANT = 4                # bits counted for a product's scaling mantissa
SYN_VAR_SHIFT = 7           # W_ACCUMULATOR_S (16) - W_SYN_VAR_S (9): weights/tags enter the accumulator << 7
ROUND_UNIT = 2 ** (W_ACCUMULATOR_U - 8)  # 128: the accumulator LSBs stochastically rounded away
FACTOR_WIDTH = {"x0": 1, "y0": 1, "x1": W_TRACE, "x2": W_TRACE, "y1": W_TRACE,
                "y2": W_TRACE, "y3": W_TRACE, "w": 9, "d": 9, "t": 9, "C": 8}
THREE_FACTOR_TAU = 65535    # Loihi3FLearningRule: y taus = uint16 max, y impulses 0
SYN_VARS = {"w": "weights", "d": "tag_2", "t": "tag_1"}
TARGET_OF = {"dw": "weights", "dd": "tag_2", "dt": "tag_1"}


# --------------------------------------------------------------------------- rules
@dataclasses.dataclass(frozen=True)
class Factor:
    """``state_var`` (+ ``const``), or sgn of it; ``state_var == "C"`` is a constant."""

    state_var: str
    const: ty.Optional[int] = None
    is_sgn: bool = False


@dataclasses.dataclass(frozen=True)
class Product:
    """One term: ``mantissa * 2**(exponent - 7) * dependency * prod(factors)``.

    ``exponent`` is stored as Lava stores it (the written exponent + 7, 0..15); the
    product is gated by ``dependency`` (x0, y0 or u) and, for u, ``decimate_exponent``.
    """
    dependency: str
    mantissa: int
    exponent: int
    factors: tuple[Factor, ...]
    decimate_exponent: ty.Optional[int] = None


_LITERAL_FORMS = ((0, re.compile(r"[\+\-]?\d+\*2\^[\+\-]?\d+")),
                  (1, re.compile(r"[\+\-]?2\^[\+\-]?\d+")),
                  (2, re.compile(r"[\+\-]?\d+")))


def _literal(text: str, form: int) -> tuple[int, int]:
    """(mantissa, exponent) of a literal, as Lava's ``Literal.to_int``."""
    if form == 0:
        mant, exp = text.split("^")
        return int(mant[:-2]), int(exp)
    if form == 1:
        mant, exp = text.split("^")
        return int(int(mant) / 2), int(exp)
    return int(text), 0


def _closing_bracket(text: str) -> int:
    depth = 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch in "()" and depth == 0:
            return i
    raise RuleError("Bracket expression missing closing bracket.")


def tokenize(text: str) -> list:
    """Lava's ``SymbolicEquation`` symbol list: tuples (kind, value[, ...]).

    Tried in Lava's order (symbolic_equation.py SYMBOL_CLASSES): + - * x0 y0 u<d>
    x1|x2|y1|y2|y3|w|d|t ( sgn( literal.  So a leading sign is always an operator.
    """
    text = text.replace(" ", "")
    out = []
    while text:
        if text[0] in "+-*":
            out.append(("op", text[0]))
            text = text[1:]
            continue
        m = re.match(r"x0|y0", text)
        if m:
            out.append(("dep", m.group()))
            text = text[2:]
            continue
        m = re.match(r"u\d", text)
        if m:
            out.append(("uk", int(m.group()[1:])))
            text = text[2:]
            continue
        m = re.match(r"x[12]|y[123]|w|d|t", text)
        if m:
            out.append(("var", m.group()))
            text = text[m.end():]
            continue
        for prefix, kind in (("(", "bracket"), ("sgn(", "sgn")):
            if text.startswith(prefix):
                end = _closing_bracket(text)
                out.append((kind, tokenize(text[len(prefix):end])))
                text = text[end + 1:]
                break
        else:
            for form, pattern in _LITERAL_FORMS:
                m = pattern.match(text)
                if m:
                    out.append(("lit",) + _literal(m.group(), form))
                    text = text[m.end():]
                    break
            else:
                raise RuleError(f"cannot parse learning rule at {text!r}")
    return out


def _split_products(symbols: list) -> list[list]:
    """Split at + and - (which stay at the head of the next product); drop *."""
    products, current = [], []
    for sym in symbols:
        if sym == ("op", "*"):
            continue
        if sym[0] == "op" and current:
            products.append(current)
            current = [sym]
        else:
            current.append(sym)
    products.append(current)
    return products


def _bracket_factor(sub: list) -> tuple[ty.Optional[str], ty.Optional[int], int, int, int]:
    """(var, const, sign, mantissa, exponent) of "(v)", "(lit)", "(+-v+-c)", "(+-c+-v)".

    As Lava's ProductSeries._generate_product: a lone literal goes into the scaling
    factor; for two operands the middle operator counts as + unless it is "-", so
    "(x1*3)" reads as x1 + 3; a negative variable flips the product's sign.
    """
    if not sub or sub[0][0] != "op":
        sub = [("op", "+")] + sub
    if len(sub) <= 2:
        sign = -1 if sub[0] == ("op", "-") else 1
        kind = sub[1][0]
        if kind == "var":
            return sub[1][1], None, 1, 1, 0
        if kind == "lit":
            return None, None, 1, sign * sub[1][1], sub[1][2]
        return None, None, 1, 1, 0      # e.g. "(x0)": Lava silently drops it
    operand = lambda s: s[0] in ("var", "dep")  # noqa: E731
    if operand(sub[1]) and sub[3][0] == "lit":
        var_sign, var, const_sign, lit = sub[0], sub[1][1], sub[2], sub[3]
    elif operand(sub[3]) and sub[1][0] == "lit":
        var_sign, var, const_sign, lit = sub[2], sub[3][1], sub[0], sub[1]
    else:
        raise RuleError("Sub-expression cannot be interpreted to be of type [+,-]var[+,-]const")
    const = lit[1] * 2 ** lit[2]      # a float for negative exponents, as in Lava
    const *= -1 if const_sign == ("op", "-") else 1
    sign = -1 if var_sign == ("op", "-") else 1
    return var, const * sign, sign, 1, 0


def _product(symbols: list) -> Product:
    """Lava's ``ProductSeries._generate_product`` for one product's symbols."""
    dependency, decimate, mantissa, exponent, factors = None, None, 1, 0, []
    for sym in symbols:
        kind = sym[0]
        if sym == ("op", "+"):
            continue
        if sym == ("op", "-"):
            mantissa *= -1
        elif kind == "dep":
            if dependency is None:
                dependency = sym[1]
            else:
                factors.append(Factor(sym[1]))
        elif kind == "uk":
            decimate = sym[1]
            if dependency is None:
                dependency = "u"
        elif kind == "lit":
            mantissa *= sym[1]
            exponent += sym[2]
        elif kind == "var":
            factors.append(Factor(sym[1]))
        elif kind in ("bracket", "sgn"):
            var, const, sign, mant, exp = _bracket_factor(list(sym[1]))
            mantissa *= sign * mant
            exponent += exp
            if kind == "bracket" and var is not None:
                factors.append(Factor(var, const))
            elif kind == "sgn":
                if var not in SYN_VARS or sign < 0:
                    raise RuleError("sgn(..) takes a non-negative w, d or t")
                factors.append(Factor(var, const, is_sgn=True))
        else:
            raise RuleError(f"cannot interpret {sym!r}")
    while abs(mantissa) > 7 and mantissa % 2 == 0 and exponent < 8:
        mantissa, exponent = int(mantissa / 2), exponent + 1
    if dependency is None:
        raise RuleError("No dependency found.")
    if decimate is not None and dependency != "u":
        raise RuleError("a u<k> term must be the product's dependency")
    if not -8 <= mantissa < 8:
        raise RuleError("Mantissa magnitude too large")
    if not -7 <= exponent < 9:
        raise RuleError("Exponent of scaling constant must be within -7 and 9.")
    return Product(dependency, mantissa, exponent + 7, tuple(factors), decimate)


def parse_rule(text: str) -> tuple[Product, ...]:
    """Sum-of-products rule string (Lava syntax) -> products, as Lava's ProductSeries."""
    products = tuple(_product(p) for p in _split_products(tokenize(text)))
    decimates = {p.decimate_exponent for p in products} - {None}
    if len(decimates) > 1:
        raise RuleError("Can't have multiple decimate exponents in the same ProductSeries.")
    return products


def float_to_literal(value: float) -> str:
    """Lava's ``learning/utils.py float_to_literal``: value -> "(m) * 2 ^ e" (coarse)."""
    if value == 0:
        return "0"
    sign = int(np.sign(value))
    value = np.abs(value)
    mantissa = np.max([int(value), 1])
    remainder = value / mantissa
    if remainder == 1:
        return f"({sign * mantissa})"
    return f"({sign * mantissa}) * 2 ^ {int(np.round(np.log2(remainder)))}"


@dataclasses.dataclass(frozen=True)
class RuleTerms:
    """What a Loihi2F/Loihi3F rule says, as a user writes it (``spec.LoihiRule``, ``kind: loihi``)
    and as the engines run it (``LearningRule``): the dw, dd, dt rule strings; trace impulses
    (0..127, fractions rounded stochastically) and time constants in steps; ``three_factor``:
    y1..y3 come from the post neuron every step (Loihi3FLearningRule: y1 its own trace with
    ``post_trace_tau`` / ``post_trace_impulse``, RewardModulatedSTDP's post_trace_* arguments;
    y2 the reward, y3 the punishment)."""
    dw: ty.Optional[str] = None
    dd: ty.Optional[str] = None
    dt: ty.Optional[str] = None
    x1_impulse: float = 0.0
    x1_tau: float = 0.0
    x2_impulse: float = 0.0
    x2_tau: float = 0.0
    y1_impulse: float = 0.0
    y1_tau: float = 0.0
    y2_impulse: float = 0.0
    y2_tau: float = 0.0
    y3_impulse: float = 0.0
    y3_tau: float = 0.0
    three_factor: bool = False
    post_trace_tau: float = 0.0
    post_trace_impulse: float = 0.0

    def terms(self) -> dict[str, ty.Any]:
        """This rule's ``RuleTerms`` fields, by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(RuleTerms)}


@dataclasses.dataclass(frozen=True)
class LearningRule(RuleTerms):
    """A rule the learning engines run: its terms, the learning epoch ``t_epoch`` (steps) and
    the seed of its random streams. A three-factor rule's y taus and impulses are then
    65535 and 0 (``three_factor_rule``). ``rng_seed`` must be given: Lava draws one from
    numpy's global RNG when it is None.
    """
    t_epoch: int = 1
    rng_seed: int = 0

    def __post_init__(self):
        if not any((self.dw, self.dd, self.dt)):
            raise RuleError("At least one learning rule should be specified.")
        if self.t_epoch <= 0:
            raise RuleError("t_epoch must be positive")
        for name in ("x1", "x2", "y1", "y2", "y3"):
            if getattr(self, f"{name}_impulse") < 0 or getattr(self, f"{name}_tau") < 0:
                raise RuleError(f"{name} impulse and tau must be non-negative")

    @property
    def products(self) -> dict[str, tuple[Product, ...]]:
        """Parsed rules keyed by the variable they update, in Lava's order (dw, dd, dt)."""
        return {TARGET_OF[k]: parse_rule(getattr(self, k)) for k in ("dw", "dd", "dt") if getattr(self, k)}

    @property
    def decimate_exponent(self) -> ty.Optional[int]:
        """k of the u<k> terms (Lava keeps the first digit after the first 'u')."""
        found = [m for k in ("dw", "dd", "dt") if getattr(self, k) for m in re.findall(r"u[0-9]+", getattr(self, k))]
        if len(set(found)) > 1:
            raise RuleError("Learning rules cannot contain uk terms with different k.")
        return int(found[0][1]) if found else None


def stdp_loihi(learning_rate, A_plus, A_minus, tau_plus, tau_minus, *, x1_impulse=16, y1_impulse=16,
               **kwargs) -> LearningRule:
    """Lava's STDPLoihi (proc/learning_rules/stdp_learning_rule.py)."""
    lr, ap, am = (float_to_literal(v) for v in (learning_rate, A_plus, A_minus))
    return LearningRule(dw=f"{lr} * {am} * x0 * y1 +{lr} * {ap} * y0 * x1", x1_impulse=x1_impulse,
                        x1_tau=tau_plus, y1_impulse=y1_impulse, y1_tau=tau_minus, **kwargs)


def reward_modulated_stdp(learning_rate, A_plus, A_minus, pre_trace_decay_tau, post_trace_decay_tau,
                          pre_trace_kernel_magnitude, post_trace_kernel_magnitude,
                          eligibility_trace_decay_tau, **kwargs) -> LearningRule:
    """Lava's RewardModulatedSTDP (proc/learning_rules/r_stdp_learning_rule.py):
    tag t is the eligibility trace, dw = u0 * t * y2 (y2 = reward)."""
    lr, ap, am, el = (float_to_literal(v) for v in (learning_rate, A_plus, A_minus, eligibility_trace_decay_tau))
    return three_factor_rule(
        dw=" u0 * t * y2 ",
        dt=f"{lr} * {am} * x0 * y1 + {lr} * {ap} * y0 * x1 - u0 * t * {el}",
        x1_impulse=pre_trace_kernel_magnitude, x1_tau=pre_trace_decay_tau,
        post_trace_tau=post_trace_decay_tau, post_trace_impulse=post_trace_kernel_magnitude, **kwargs)


def three_factor_rule(**kwargs) -> LearningRule:
    """Loihi3FLearningRule: y traces are the post neuron's (taus 65535, impulses 0)."""
    for y in ("y1", "y2", "y3"):
        kwargs[f"{y}_impulse"], kwargs[f"{y}_tau"] = 0, THREE_FACTOR_TAU
    return LearningRule(**{**kwargs, "three_factor": True})
