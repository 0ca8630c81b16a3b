"""The compiled learning engine of the CPU backend: ``learning/reference.py`` (Lava 0.10's
fixed-point on-chip learning) in numba, bit for bit, for long learning runs.

It runs a ``learning.program.LayerProgram``: a binary pre raster -> ``LearningDense``
(Loihi2F / Loihi3F sum-of-products rule) -> the post neurons (Loihi's CUBA neuron with
per-neuron parameters, adaptive threshold, k-WTA, and for Loihi3F rules the post trace y1
and the reward unit's y2 / y3), the post spikes fed back as bAPs, an optional non-learning
recurrent ``Dense`` among the post neurons (lateral inhibition), and samples presented one
after another with the sample state reset between them. Every step it produces the same
spikes, u, v, theta, traces x1 x2 y1 y2 y3, tx, ty, weights and tags as the reference, and
it consumes the same random streams in the same order.

How the work is cut down, exactly:

* The rule is compiled into a small numeric program: per product its target, dependency,
  mantissa, shifts and factors; each factor's clipped value (const, sgn, width, int32
  cast) comes from a lookup table that the reference's own ``factor_value`` fills, so
  factor semantics (float constants included) are the reference's by construction.
* Products multiply in int32 with wrap-around, i.e. modulo 2**32, so the factors can be
  grouped in any order: per learning phase each product is split into a row part (post
  neuron: mantissa, y0 gate, y traces at the post spike or epoch end), a column part (pre
  neuron: x0 gate, x traces; per post spike time where x traces are read at it), a
  row-by-pre-spike-time table (y traces read at the pre spike) and synaptic factors.
  Products with no synaptic factor that vary along one side only are finished (shift,
  clip) once per phase, so a synapse just adds a precomputed term.
* A synapse whose pre and post neurons did not spike in the epoch gets zero from every
  x0/y0 product; it is then left as it is provided its value is a fixed point of the
  update with zero terms (inside its clip range, and tag_1 != -257, which rounds to -256).
  The engine keeps a flag for that, and processes every synapse when it is not clear or
  when a u product is active.  Otherwise: every synapse of the post neurons that spiked,
  and in the other rows the synapses from pre neurons that spiked, one by one or as the
  whole row (cheaper when many pre neurons spiked); rows on which every x0 product is 0
  (e.g. the post trace is 0) are skipped.
* The loops over a row are vectorisable: no gathers inside them (a lookup by spike time is
  a chain of selects), int32 accumulators, one pass per product.
* Random numbers are drawn with numpy (the same PCG64 streams and calls as the reference)
  per call, outside the compiled loop.

Not covered (as the reference): graded spikes, sparse weights, several learning projections
into one layer, rule Vars changed while running.  Initial weights and tags must satisfy
|value| < 2**15 (they are stored in int16; so the << 7 of the accumulator never wraps in int32).
"""
from __future__ import annotations

import dataclasses
import typing as ty

import numba
import numpy as np

from ..hardware.fixed_point import Reset
from ..learning import reference as R
from ..learning.program import LayerProgram

I32 = np.int32

# factor sources
SRC_X0, SRC_Y0, SRC_XT, SRC_YT, SRC_SYN, SRC_C = 0, 1, 2, 3, 4, 5
# dependencies
DEP_X0, DEP_Y0, DEP_U = 0, 1, 2
# product kinds
KIND_COLUMN, KIND_TABLE, KIND_ROW, KIND_GENERAL = 0, 1, 2, 3
# targets, in the order the reference applies them
TARGETS = ("weights", "tag_2", "tag_1")
SIGN_MODES = {"mixed": 0, "excitatory": 1, "inhibitory": 2}
REWARD_NONE, REWARD_GIVEN, REWARD_FIRST_SPIKE = 0, 1, 2
REWARD_KINDS = {"none": REWARD_NONE, "given": REWARD_GIVEN, "first-spike": REWARD_FIRST_SPIKE}
# Weights and tags are stored in int16: half the memory that the per-step gathers and the
# learning passes touch; learned values are 9-bit, initial ones must fit.
VALUE_LIMIT = 2 ** 15 - 1
# A row without post spike updates its synapses from spiking pre neurons one by one, or the
# whole row when n_x0 * SPARSE_COST >= n_pre: a synapse by index costs about that many
# synapses of a vectorised pass over the row.
SPARSE_COST = 5
# Steps per compiled call within run(): the random numbers are drawn per call, 8 per step.
CHUNK_STEPS = 1 << 16

RECORD_POST = ("u", "v", "spikes", "y1", "y2", "y3", "ty", "theta", "v_spike")
RECORD_PRE = ("x1", "x2", "tx")
RECORD_SYN = ("weights", "tag_1", "tag_2")


# --------------------------------------------------------------------------- the rule as arrays
@dataclasses.dataclass
class RuleCode:
    """A learning rule's products as flat arrays for the compiled kernel."""
    p_target: np.ndarray
    p_dep: np.ndarray
    p_mant: np.ndarray
    p_rshift: np.ndarray
    p_lshift: np.ndarray
    p_kind: np.ndarray
    p_tdim_y0: np.ndarray      # 1: the column part is indexed by the post spike time
    p_fstart: np.ndarray       # factors of product p: f_* [p_fstart[p]:p_fstart[p+1]]
    f_src: np.ndarray
    f_index: np.ndarray        # trace k (x1 0, x2 1; y1 0, y2 1, y3 2) or synaptic var (w 0, d 1, t 2)
    f_lut_start: np.ndarray
    f_lut_lo: np.ndarray
    f_lut_hi: np.ndarray
    lut: np.ndarray
    f_affine: np.ndarray       # (n_factors, 4): [1, c, lo, hi] where the value is clip(raw + c, lo, hi), else 0
    has_target: np.ndarray     # (3,) bool: weights, tag_2, tag_1
    read_syn: np.ndarray       # (3,) bool: weights, tag_2, tag_1 are updated or read by a factor
    decimate: int              # k of u<k>, -1 without u terms


def factor_lut(factor: R.Factor, dependency: str) -> tuple[int, np.ndarray]:
    """(lowest raw value, table of the clipped int32 factor value for raw values lo..hi):
    the reference's factor_value + clip + int32 cast on every raw value that can differ.
    Raw values outside the table give the value at its nearer end (the margin exceeds
    the width plus the constant)."""
    var = factor.state_var
    width = R.FACTOR_WIDTH[var]
    if var == "C":
        raw = np.zeros(1, dtype=np.int64)
    elif var in ("x0", "y0"):
        raw = np.arange(0, 2, dtype=np.int64)
    else:
        margin = 2 ** width + int(np.ceil(abs(factor.const or 0))) + 2
        raw = np.arange(-margin, margin + 1, dtype=np.int64)
    if var in ("x0", "y0", "u"):
        args = {var: raw}
    elif var in R.SYN_VARS:
        args = {R.SYN_VARS[var]: raw}
    else:
        args = {f"{var}_{dependency}": raw}
    value = np.clip(R.factor_value(factor, dependency, args), -(2 ** width), 2 ** width - 1)
    value = np.broadcast_to(np.asarray(value).astype(np.int32), raw.shape)
    return int(raw[0]), np.ascontiguousarray(value)


def affine_form(factor: R.Factor, lo: int, table: np.ndarray) -> tuple[int, int, int, int]:
    """[1, c, low, high] when the factor's value is clip(raw + c, low, high) for an integer c
    (no sgn, no fractional constant: vectorisable arithmetic instead of a table lookup),
    checked against the table; else [0, 0, 0, 0]."""
    const = factor.const or 0
    if factor.is_sgn or factor.state_var == "C" or const != int(const):
        return 0, 0, 0, 0
    width = R.FACTOR_WIDTH[factor.state_var]
    form = (1, int(const), -(2 ** width), 2 ** width - 1)
    raw = np.arange(lo, lo + table.size)
    assert np.array_equal(np.clip(raw + form[1], form[2], form[3]), table), factor
    return form


def classify(product: R.Product) -> tuple[int, bool]:
    """(kind, column part indexed by the post spike time) of a product."""
    dep = product.dependency
    column = [f for f in product.factors if f.state_var in ("x0", "x1", "x2")]
    row = [f for f in product.factors if f.state_var == "y0" or
           (f.state_var in ("y1", "y2", "y3") and dep != "x0")]
    table = [f for f in product.factors if f.state_var in ("y1", "y2", "y3") and dep == "x0"]
    synaptic = [f for f in product.factors if f.state_var in R.SYN_VARS]
    by_post_time = dep == "y0" and any(f.state_var in ("x1", "x2") for f in product.factors)
    if synaptic or (column and (row or table)):
        return KIND_GENERAL, by_post_time
    if column:
        return KIND_COLUMN, by_post_time
    if dep == "x0" or table:
        return KIND_TABLE, False
    return KIND_ROW, False


def compile_rule(rule: R.LearningRule) -> RuleCode:
    cols = {k: [] for k in ("target", "dep", "mant", "rshift", "lshift", "kind", "tdim", "fstart")}
    fcols = {k: [] for k in ("src", "index", "lut_start", "lut_lo", "lut_hi")}
    luts, lut_len, affine = [], 0, []
    has_target = np.zeros(3, dtype=np.bool_)
    for name, products in rule.products.items():
        target = TARGETS.index(name)
        has_target[target] = True
        for p in products:
            kind, tdim = classify(p)
            width = sum(R.FACTOR_WIDTH[f.state_var] for f in p.factors) + R.W_S_MANT
            cols["target"].append(target)
            cols["dep"].append({"x0": DEP_X0, "y0": DEP_Y0, "u": DEP_U}[p.dependency])
            cols["mant"].append(p.mantissa)
            cols["rshift"].append(max(0, width - R.W_ACCUMULATOR_U))
            cols["lshift"].append(p.exponent)
            cols["kind"].append(kind)
            cols["tdim"].append(tdim)
            cols["fstart"].append(len(fcols["src"]))
            for f in p.factors:
                var = f.state_var
                if var == "x0":
                    src, index = SRC_X0, 0
                elif var == "y0":
                    src, index = SRC_Y0, 0
                elif var in ("x1", "x2"):
                    src, index = SRC_XT, int(var[1]) - 1
                elif var in ("y1", "y2", "y3"):
                    src, index = SRC_YT, int(var[1]) - 1
                elif var in R.SYN_VARS:
                    src, index = SRC_SYN, "wdt".index(var)
                else:
                    src, index = SRC_C, 0
                lo, table = factor_lut(f, p.dependency)
                affine.append(affine_form(f, lo, table))
                fcols["src"].append(src)
                fcols["index"].append(index)
                fcols["lut_start"].append(lut_len)
                fcols["lut_lo"].append(lo)
                fcols["lut_hi"].append(lo + table.size - 1)
                luts.append(table)
                lut_len += table.size
    cols["fstart"].append(len(fcols["src"]))
    arr = lambda v, dt=np.int64: np.ascontiguousarray(np.array(v, dtype=dt))  # noqa: E731
    k = rule.decimate_exponent
    return RuleCode(
        p_target=arr(cols["target"]), p_dep=arr(cols["dep"]), p_mant=arr(cols["mant"]),
        p_rshift=arr(cols["rshift"]), p_lshift=arr(cols["lshift"]), p_kind=arr(cols["kind"]),
        p_tdim_y0=arr(cols["tdim"], np.bool_), p_fstart=arr(cols["fstart"]),
        f_src=arr(fcols["src"]), f_index=arr(fcols["index"]), f_lut_start=arr(fcols["lut_start"]),
        f_lut_lo=arr(fcols["lut_lo"]), f_lut_hi=arr(fcols["lut_hi"]),
        lut=np.ascontiguousarray(np.concatenate(luts) if luts else np.zeros(1), dtype=np.int32),
        f_affine=np.ascontiguousarray(np.array(affine, dtype=np.int64).reshape(-1, 4)),
        has_target=has_target, read_syn=has_target | np.array([any(
            s == SRC_SYN and i == k for s, i in zip(fcols["src"], fcols["index"])) for k in range(3)]),
        decimate=-1 if k is None else int(k))


# --------------------------------------------------------------------------- kernels
@numba.njit(cache=True, inline="always")
def _wrap32(x):
    return np.int64(I32(x))


@numba.njit(cache=True, inline="always")
def _mul32(a, b):
    """a * b in int32 with wrap-around (numpy's in-place int32 products)."""
    return I32(np.int64(a) * np.int64(b))


@numba.njit(cache=True, inline="always")
def _finish(raw, rshift, lshift):
    """A product's int32 value -> its accumulator term: arithmetic >> rshift (any amount,
    as numpy), << lshift in int32 (wraps), clipped to the accumulator."""
    t = np.int64(raw) >> rshift if rshift < 63 else (np.int64(-1) if raw < 0 else np.int64(0))
    t = np.int64(I32(t << lshift))
    return min(max(t, -32769), 32767)


@numba.njit(cache=True, inline="always")
def _lut(lut, start, lo, hi, raw):
    return lut[start + min(max(np.int64(raw), lo), hi) - lo]


@numba.njit(cache=True, inline="always")
def _decay(x, keep):
    """sign(x * keep) * (|x * keep| >> 12), the product in int64, as int32 (Lava's decays)."""
    prod = np.int64(x) * keep
    dec = np.abs(prod) >> 12
    return _wrap32(-dec if prod < 0 else dec)


@numba.njit(cache=True)
def _neurons(u, v, theta, a_ff, a_rec, du, dv, bias, theta_0, dtheta, theta_step, adaptive, reset_zero, reset_sub,
             wta_k, unit, spikes, v_spike):
    """The post neurons' step (reference ``ReferenceLayer._neuron_step`` without the reward):
    u, v, theta, spikes in place; a_in = a_ff + a_rec in int32; ``v_spike``: v before the reset;
    unit[0]: spikes of the layer in this sample (k-WTA)."""
    half = np.int64(1) << 23
    n = u.size
    for i in range(n):
        a_in = np.int64(I32(np.int64(a_ff[i]) + np.int64(a_rec[i])))
        un = _wrap32(_decay(u[i], 4096 - (du[i] + 1)) + _wrap32(a_in << 6))
        if un > half:
            un = un - 2 * half
        elif un <= -half:
            un = un + 2 * half
        un = _wrap32(un)
        vn = _wrap32(_wrap32(_decay(v[i], 4096 - dv[i]) + un) + bias[i])
        vn = min(max(vn, -half + 1), half - 1)
        th = np.int64(theta[i])
        if adaptive:
            th = _wrap32(_decay(_wrap32(th - theta_0[i]), 4096 - dtheta[i]) + theta_0[i])
            theta[i] = th
        u[i] = un
        v[i] = vn
        spikes[i] = vn > th
    if wta_k > 0:   # at most wta_k spikes per sample: the largest v first, ties by the lower index
        budget = max(wta_k - unit[0], 0)
        count = 0
        for i in range(n):
            count += spikes[i]
        if count > budget:
            for i in range(n):
                v_spike[i] = 1 if spikes[i] else 0   # candidates
                spikes[i] = False
            for _ in range(budget):
                best = -1
                for i in range(n):
                    if v_spike[i] == 1 and not spikes[i] and (best < 0 or v[i] > v[best]):
                        best = i
                spikes[best] = True
        for i in range(n):
            unit[0] += spikes[i]
    for i in range(n):
        v_spike[i] = v[i]
        if spikes[i]:
            v[i] = 0 if reset_zero else _wrap32(np.int64(v[i]) - reset_sub[i])
            if adaptive:
                theta[i] = _wrap32(np.int64(theta[i]) + theta_step[i])


@numba.njit(cache=True)
def _reward(spikes, v_spike, kind, given, label, neuron_class, reward, punishment, window, unit, y2, y3):
    """The reward unit (reference ``ReferenceLayer._reward``): y2, y3 of this step; unit[1] the
    sample's winner (-1: none yet), unit[2] reward steps still to send (-1: to the sample's end)."""
    n = spikes.size
    if kind == REWARD_GIVEN:
        for i in range(n):
            r = np.int64(given[i])
            y2[i] = max(r, 0)
            y3[i] = max(-r, 0)
        return
    for i in range(n):
        y2[i] = 0
        y3[i] = 0
    if unit[2] != 0:
        w = unit[1]
        if neuron_class[w] == label:
            y2[w] = reward
        else:
            y3[w] = punishment
        if unit[2] > 0:
            unit[2] -= 1
    if unit[1] < 0:
        best = -1
        for i in range(n):
            if spikes[i] and (best < 0 or v_spike[i] > v_spike[best]):
                best = i
        if best >= 0:
            unit[1] = best
            unit[2] = window if window > 0 else -1


@numba.njit(cache=True)
def _history(h0, keep, decaying, imp_int, imp_frac, spike_t, t_epoch, r_dec, r_imp, hist):
    """Trace values at within-epoch steps 0..t_epoch (reference trace_history)."""
    k_n, n = h0.shape
    for k in range(k_n):
        for j in range(n):
            hist[0, k, j] = h0[k, j]
    for t in range(1, t_epoch + 1):
        for k in range(k_n):
            if decaying[k]:
                c = keep[k]
                for j in range(n):
                    d = c * np.float64(hist[t - 1, k, j])
                    f = np.floor(d)
                    hist[t, k, j] = np.int64(f) + (1 if r_dec < d - f else 0)
            else:
                for j in range(n):
                    hist[t, k, j] = 0
        for j in range(n):
            if spike_t[j] == t:
                for k in range(k_n):
                    val = np.int64(hist[t, k, j]) + imp_int[k] + (1 if r_imp < imp_frac[k] else 0)
                    hist[t, k, j] = min(max(val, 0), 127)


@numba.njit(cache=True, inline="always")
def _row_raw(src, index, dep, hy, ty, y0, i, t_end):
    """Raw value of a row factor (y0, or a y trace read at the post spike / epoch end)."""
    if src == SRC_Y0:
        return np.int64(y0[i])
    if src == SRC_YT:
        return np.int64(hy[ty[i] if dep == DEP_Y0 else t_end, index, i])
    return np.int64(0)


@numba.njit(cache=True)
def _prepare_products(p_dep, p_mant, p_rshift, p_lshift, p_kind, p_tdim_y0, p_fstart,
                      f_src, f_index, f_lut_start, f_lut_lo, f_lut_hi, lut, f_affine,
                      hx, hy, tx, ty, x0, y0, t_epoch, u_on, active, colbuf, rowA, gtab, t_used):
    """Per learning phase: each product's column part (colbuf), row part (rowA) and
    pre-spike-time table (gtab); finished terms for column / table / row kinds.
    t_used[t]: some post neuron's last spike in the epoch was at t (column parts of y0
    products are needed for those t only)."""
    n_prod = p_dep.size
    n_pre, n_post = tx.size, ty.size
    for p in range(n_prod):
        dep, kind = p_dep[p], p_kind[p]
        active[p] = dep != DEP_U or u_on
        if not active[p]:
            continue
        f0, f1 = p_fstart[p], p_fstart[p + 1]
        rs, ls = p_rshift[p], p_lshift[p]
        # column part: gate x0 and x-side factors; per post spike time for y0 products reading x traces
        if kind == KIND_COLUMN or kind == KIND_GENERAL:
            by_time = p_tdim_y0[p]
            const = np.int64(1)
            if kind == KIND_COLUMN:   # the row part is constant: mantissa and C factors
                const = np.int64(p_mant[p])
                for f in range(f0, f1):
                    if f_src[f] == SRC_C:
                        const = _mul32(const, lut[f_lut_start[f]])
            c32 = I32(const)
            for t in range(t_epoch + 1 if by_time else 1):
                if by_time and not t_used[t]:
                    continue
                row = colbuf[p, t]
                if dep == DEP_X0:
                    for j in range(n_pre):
                        row[j] = c32 if x0[j] else I32(0)
                else:
                    for j in range(n_pre):
                        row[j] = c32
                for f in range(f0, f1):
                    src = f_src[f]
                    s, lo, hi, idx = f_lut_start[f], f_lut_lo[f], f_lut_hi[f], f_index[f]
                    if src == SRC_X0:
                        for j in range(n_pre):
                            row[j] = _mul32(row[j], lut[s + np.int64(x0[j]) - lo])
                    elif src == SRC_XT and dep == DEP_X0:   # x trace at the pre spike
                        for j in range(n_pre):
                            row[j] = _mul32(row[j], _lut(lut, s, lo, hi, hx[tx[j], idx, j]))
                    elif src == SRC_XT and f_affine[f, 0]:   # at post spike time t, or the epoch end
                        trace = hx[t if dep == DEP_Y0 else t_epoch, idx]
                        c, low, high = f_affine[f, 1], f_affine[f, 2], f_affine[f, 3]
                        for j in range(n_pre):
                            row[j] = _mul32(row[j], min(max(np.int64(trace[j]) + c, low), high))
                    elif src == SRC_XT:
                        trace = hx[t if dep == DEP_Y0 else t_epoch, idx]
                        for j in range(n_pre):
                            row[j] = _mul32(row[j], _lut(lut, s, lo, hi, trace[j]))
                if kind == KIND_COLUMN:
                    for j in range(n_pre):
                        row[j] = _finish(row[j], rs, ls)
        # row part: mantissa, y0 gate, y-side factors (not those read at the pre spike)
        if kind != KIND_COLUMN:
            for i in range(n_post):
                a = np.int64(p_mant[p]) if (dep != DEP_Y0 or y0[i]) else np.int64(0)
                for f in range(f0, f1):
                    src = f_src[f]
                    if src == SRC_C or src == SRC_Y0 or (src == SRC_YT and dep != DEP_X0):
                        raw = _row_raw(src, f_index[f], dep, hy, ty, y0, i, t_epoch)
                        a = _mul32(a, _lut(lut, f_lut_start[f], f_lut_lo[f], f_lut_hi[f], raw))
                rowA[p, i] = a
                # table by pre spike time: y traces read at the pre spike
                tab = gtab[p, i]
                for t in range(t_epoch + 1):
                    g = np.int64(1)
                    for f in range(f0, f1):
                        if f_src[f] == SRC_YT and dep == DEP_X0:
                            raw = np.int64(hy[t, f_index[f], i])
                            g = _mul32(g, _lut(lut, f_lut_start[f], f_lut_lo[f], f_lut_hi[f], raw))
                    if kind == KIND_GENERAL:
                        tab[t] = g
                    elif dep == DEP_X0 and t == 0:
                        tab[t] = 0
                    else:
                        tab[t] = _finish(_mul32(a, g), rs, ls)


@numba.njit(cache=True, inline="always")
def _add32(a, b):
    """clip(a + b) to the accumulator; a and b are within it, so int32 does not wrap."""
    return min(max(I32(a + b), I32(-32769)), I32(32767))


@numba.njit(cache=True, inline="always")
def _round(target, x, rthr, sign_mode):
    """Accumulator -> new weight (0) / tag_2 (1) / tag_1 (2): saturate by sign, drop the 7
    LSBs rounding up where they exceed the epoch's random (floor(r * 128)), clip."""
    if target == 0:
        if sign_mode == 1:
            x = max(x, 0)
        elif sign_mode == 2:
            x = min(x, 0)
        new = (x >> 7) + (1 if (x & 127) > rthr else 0)
        lo = -256 if sign_mode == 0 else (0 if sign_mode == 1 else -255)
        hi = 0 if sign_mode == 2 else 255
        return min(max(new, lo), hi)
    if target == 1:
        x = max(x, 0)
        return min(max((x >> 7) + (1 if (x & 127) > rthr else 0), 0), 255)
    return min(max((x >> 7) + (1 if (x & 127) > rthr else 0), -257), 255)


@numba.njit(cache=True, inline="always")
def _nonzero_from(tab, first, last):
    for t in range(first, last + 1):
        if tab[t] != 0:
            return True
    return False


@numba.njit(cache=True, inline="always")
def _by_spike_time(tab, tx, t_epoch, out):
    """out[j] = tab[tx[j]] as selects, one pass per spike time: a gather in the loop would
    stop it vectorising; a gather beyond 8 spike times."""
    n = tx.size
    if t_epoch > 8:
        for j in range(n):
            out[j] = tab[tx[j]]
        return
    h0 = tab[0]
    for j in range(n):
        out[j] = h0
    for t in range(1, t_epoch + 1):
        h = tab[t]
        for j in range(n):
            out[j] = h if tx[j] == t else out[j]


@numba.njit(cache=True, inline="always")
def _syn_lut_pass(p, f0, f1, f_src, f_index, f_lut_start, f_lut_lo, f_lut_hi, lut, f_affine, wi, di, ti, raw):
    """raw[j] *= the clipped synaptic factors of product p, over one row."""
    n_pre = wi.size
    for f in range(f0, f1):
        if f_src[f] != SRC_SYN:
            continue
        s, lo, hi, idx = f_lut_start[f], f_lut_lo[f], f_lut_hi[f], f_index[f]
        vals = wi if idx == 0 else (di if idx == 1 else ti)
        if f_affine[f, 0]:
            c, low, high = f_affine[f, 1], f_affine[f, 2], f_affine[f, 3]
            for j in range(n_pre):
                raw[j] = _mul32(raw[j], min(max(np.int64(vals[j]) + c, low), high))
        else:
            for j in range(n_pre):
                raw[j] = _mul32(raw[j], _lut(lut, s, lo, hi, vals[j]))


@numba.njit(cache=True)
def _dense_row(i, w, t2, t1, tx, colbuf, y0i, tyi, t_epoch,
               p_target, p_dep, p_kind, p_tdim_y0, p_rshift, p_lshift, p_fstart,
               f_src, f_index, f_lut_start, f_lut_lo, f_lut_hi, lut, f_affine,
               active, rowA, gtab, has_target, sign_mode, rthr, acc, raw, tv, dirty):
    """Every synapse of post neuron i: a vectorisable pass per product over the row; all
    targets read the values from before the phase (accumulators first, then rounding).
    Products whose term is 0 here are skipped, but each product clips the accumulator:
    when values may lie outside the accumulator (``dirty``) the first one's clip is kept.
    Returns 1 if a tag_1 became -257."""
    n_pre = w.shape[1]
    n_prod = p_target.size
    wi, di, ti = w[i], t2[i], t1[i]
    for target in range(3):
        if not has_target[target]:
            continue
        vals = wi if target == 0 else (di if target == 1 else ti)
        a = acc[target]
        for j in range(n_pre):
            a[j] = I32(vals[j] << 7)
        pending = dirty   # the accumulator may still lie outside its range
        for p in range(n_prod):
            if p_target[p] != target:
                continue
            kind, dep = p_kind[p], p_dep[p]
            applied = False
            if not active[p]:
                pass
            elif kind == KIND_COLUMN:
                if dep != DEP_Y0 or y0i:
                    col = colbuf[p, tyi if p_tdim_y0[p] else 0]
                    for j in range(n_pre):
                        a[j] = _add32(a[j], col[j])
                    applied = True
            elif kind == KIND_TABLE:   # x0 products: 0 where the pre neuron did not spike
                tab = gtab[p, i]
                if _nonzero_from(tab, 1, t_epoch):
                    if t_epoch == 1:
                        h = tab[1]
                        for j in range(n_pre):
                            a[j] = _add32(a[j], h if tx[j] != 0 else I32(0))
                    else:
                        _by_spike_time(tab, tx, t_epoch, tv)
                        for j in range(n_pre):
                            a[j] = _add32(a[j], tv[j])
                    applied = True
            elif kind == KIND_ROW:
                c = gtab[p, i, 0]
                if c != 0:
                    for j in range(n_pre):
                        a[j] = _add32(a[j], c)
                    applied = True
            else:
                ai = rowA[p, i]
                if ai != 0:
                    col = colbuf[p, tyi if p_tdim_y0[p] else 0]
                    _by_spike_time(gtab[p, i], tx, t_epoch, tv)
                    for j in range(n_pre):
                        raw[j] = _mul32(_mul32(ai, col[j]), tv[j])
                    _syn_lut_pass(p, p_fstart[p], p_fstart[p + 1], f_src, f_index, f_lut_start, f_lut_lo,
                                  f_lut_hi, lut, f_affine, wi, di, ti, raw)
                    rs, ls = p_rshift[p], p_lshift[p]
                    for j in range(n_pre):
                        a[j] = _add32(a[j], I32(_finish(raw[j], rs, ls)))
                    applied = True
            if pending and not applied:   # a zero term still clips
                for j in range(n_pre):
                    a[j] = min(max(a[j], I32(-32769)), I32(32767))
            pending = False
    bad = 0
    if has_target[0]:
        a = acc[0]
        for j in range(n_pre):
            wi[j] = _round(0, np.int64(a[j]), rthr, sign_mode)
    if has_target[1]:
        a = acc[1]
        for j in range(n_pre):
            di[j] = _round(1, np.int64(a[j]), rthr, sign_mode)
    if has_target[2]:
        a = acc[2]
        for j in range(n_pre):
            new = _round(2, np.int64(a[j]), rthr, sign_mode)
            ti[j] = new
            bad |= new == -257
    return bad


@numba.njit(cache=True, inline="always")
def _sparse_row_weights(n_x0, cols, wi, tx, src0, table0, src1, table1, n_src, rthr, sign_mode):
    """The common case of ``_sparse_row``: a rule on the weights alone with one or two x0
    products, each a finished term by pre spike time (table) or by pre neuron (column)."""
    for q in range(n_x0):
        j = cols[q]
        txj = tx[j]
        a = I32(wi[j] << 7)
        a = _add32(a, src0[txj if table0 else j])
        if n_src == 2:
            a = _add32(a, src1[txj if table1 else j])
        wi[j] = _round(0, np.int64(a), rthr, sign_mode)


@numba.njit(cache=True, inline="always")
def _sparse_row(i, n_x0, cols, w, t2, t1, tx, colbuf, sp_prod, n_sp,
                p_target, p_kind, p_rshift, p_lshift, p_fstart,
                f_src, f_index, f_lut_start, f_lut_lo, f_lut_hi, lut, f_affine,
                rowA, gtab, has_target, read_syn, sign_mode, rthr):
    """The synapses of post neuron i (no post spike this epoch) from the pre neurons that
    spiked (cols[:n_x0]); only x0 products (sp_prod[:n_sp], in rule order) are nonzero
    there.  One fused evaluation per synapse.  Returns 1 if a tag_1 became -257."""
    bad = 0
    for q in range(n_x0):
        j = cols[q]
        txj = tx[j]
        ow = np.int64(w[i, j]) if read_syn[0] else np.int64(0)
        od = np.int64(t2[i, j]) if read_syn[1] else np.int64(0)
        ot = np.int64(t1[i, j]) if read_syn[2] else np.int64(0)
        aw, ad, at = I32(ow << 7), I32(od << 7), I32(ot << 7)
        for k in range(n_sp):
            p = sp_prod[k]
            kind = p_kind[p]
            if kind == KIND_COLUMN:
                term = colbuf[p, 0, j]
            elif kind == KIND_TABLE:
                term = gtab[p, i, txj]
            else:
                r = _mul32(_mul32(rowA[p, i], colbuf[p, 0, j]), gtab[p, i, txj])
                for f in range(p_fstart[p], p_fstart[p + 1]):
                    if f_src[f] == SRC_SYN:
                        idx = f_index[f]
                        val = ow if idx == 0 else (od if idx == 1 else ot)
                        r = _mul32(r, _lut(lut, f_lut_start[f], f_lut_lo[f], f_lut_hi[f], val))
                term = I32(_finish(r, p_rshift[p], p_lshift[p]))
            target = p_target[p]
            if target == 0:
                aw = _add32(aw, term)
            elif target == 1:
                ad = _add32(ad, term)
            else:
                at = _add32(at, term)
        if has_target[0]:
            w[i, j] = _round(0, np.int64(aw), rthr, sign_mode)
        if has_target[1]:
            t2[i, j] = _round(1, np.int64(ad), rthr, sign_mode)
        if has_target[2]:
            new = _round(2, np.int64(at), rthr, sign_mode)
            t1[i, j] = new
            bad |= new == -257
    return bad


@numba.njit(cache=True, inline="always")
def _sparse_terms_vanish(i, sp_prod, n_sp, p_kind, col_zero, rowA, gtab, t_epoch):
    """Every x0 product is 0 on row i (post trace 0 at the pre spikes, say): the row's
    synapses from spiking pre neurons are fixed points too."""
    for k in range(n_sp):
        p = sp_prod[k]
        kind = p_kind[p]
        if kind == KIND_COLUMN:
            if not col_zero[p]:
                return False
        elif kind == KIND_TABLE:
            if _nonzero_from(gtab[p, i], 1, t_epoch):
                return False
        elif rowA[p, i] != 0 and _nonzero_from(gtab[p, i], 1, t_epoch):
            return False
    return True


@numba.njit(cache=True)
def _learn(w, t2, t1, x, y, tx, ty, t_epoch, three_factor, step, rw, r_xdec, r_ximp, r_ydec, r_yimp,
           x_keep, x_decaying, x_int, x_frac, y_keep, y_decaying, y_int, y_frac, sign_mode, flags,
           p_target, p_dep, p_mant, p_rshift, p_lshift, p_kind, p_tdim_y0, p_fstart,
           f_src, f_index, f_lut_start, f_lut_lo, f_lut_hi, lut, f_affine, has_target, read_syn, decimate,
           hx, hy, x0, y0, active, colbuf, rowA, gtab, t_used, cols, sp_prod, col_zero, acc, raw, tv):
    """Lava's learning phase (connection.py run_lrn), in place.  flags[0]: some value is
    not a zero-term fixed point (all synapses must be processed)."""
    n_post, n_pre = w.shape
    _history(x, x_keep, x_decaying, x_int, x_frac, tx, t_epoch, r_xdec, r_ximp, hx)
    _history(y, y_keep, y_decaying, y_int, y_frac, ty, t_epoch, r_ydec, r_yimp, hy)
    n_x0 = 0
    for j in range(n_pre):
        x0[j] = tx[j] > 0
        if x0[j]:
            cols[n_x0] = j
            n_x0 += 1
    for t in range(t_epoch + 1):
        t_used[t] = False
    for i in range(n_post):
        y0[i] = ty[i] > 0
        t_used[ty[i]] = y0[i] or t_used[ty[i]]
    u_on = False
    if decimate >= 0:
        u_on = (step // t_epoch) % (1 << decimate) == 0
    _prepare_products(p_dep, p_mant, p_rshift, p_lshift, p_kind, p_tdim_y0, p_fstart,
                      f_src, f_index, f_lut_start, f_lut_lo, f_lut_hi, lut, f_affine,
                      hx, hy, tx, ty, x0, y0, t_epoch, u_on, active, colbuf, rowA, gtab, t_used)
    dirty = flags[0] != 0
    full = dirty
    n_sp = 0
    for p in range(p_dep.size):
        if active[p] and p_dep[p] == DEP_U:
            full = True
        if active[p] and p_dep[p] == DEP_X0:
            sp_prod[n_sp] = p
            n_sp += 1
            col_zero[p] = True
            if p_kind[p] == KIND_COLUMN or p_kind[p] == KIND_GENERAL:
                for q in range(n_x0):
                    if colbuf[p, 0, cols[q]] != 0:
                        col_zero[p] = False
                        break
    rthr = np.int64(np.floor(rw * 128.0))
    # rows without post spike: their synapses from spiking pre neurons one by one, or the
    # whole row (one vectorised pass, zero-term synapses being fixed points) when many spiked
    whole_rows = n_x0 * SPARSE_COST >= n_pre
    fast = n_sp <= 2 and has_target[0] and not has_target[1] and not has_target[2]
    for k in range(n_sp):
        fast = fast and p_kind[sp_prod[k]] != KIND_GENERAL
    bad = 0
    for i in range(n_post):
        if not (full or y0[i]):
            if n_sp == 0 or n_x0 == 0 or _sparse_terms_vanish(i, sp_prod, n_sp, p_kind, col_zero, rowA, gtab, t_epoch):
                continue
        if full or y0[i] or whole_rows:
            bad |= _dense_row(i, w, t2, t1, tx, colbuf, y0[i], np.int64(ty[i]), t_epoch,
                              p_target, p_dep, p_kind, p_tdim_y0, p_rshift, p_lshift, p_fstart,
                              f_src, f_index, f_lut_start, f_lut_lo, f_lut_hi, lut, f_affine,
                              active, rowA, gtab, has_target, sign_mode, rthr, acc, raw, tv, dirty)
        elif fast:
            p0 = sp_prod[0]
            p1 = sp_prod[n_sp - 1]
            table0, table1 = p_kind[p0] == KIND_TABLE, p_kind[p1] == KIND_TABLE
            src0 = gtab[p0, i] if table0 else colbuf[p0, 0]
            src1 = gtab[p1, i] if table1 else colbuf[p1, 0]
            _sparse_row_weights(n_x0, cols, w[i], tx, src0, table0, src1, table1, n_sp, rthr, sign_mode)
        else:
            bad |= _sparse_row(i, n_x0, cols, w, t2, t1, tx, colbuf, sp_prod, n_sp,
                               p_target, p_kind, p_rshift, p_lshift, p_fstart,
                               f_src, f_index, f_lut_start, f_lut_lo, f_lut_hi, lut, f_affine,
                               rowA, gtab, has_target, read_syn, sign_mode, rthr)
    flags[0] = bad if full else (flags[0] | bad)
    # new traces: x always, y only when the Dense computes them (Loihi2F)
    for k in range(x.shape[0]):
        for j in range(n_pre):
            x[k, j] = hx[t_epoch, k, j]
    if not three_factor:
        for k in range(y.shape[0]):
            for i in range(n_post):
                y[k, i] = hy[t_epoch, k, i]
    for j in range(n_pre):
        tx[j] = 0
    for i in range(n_post):
        ty[i] = 0


@numba.njit(cache=True, inline="always")
def _shift32(total, exp):
    """The Dense output: the exact sum shifted by weight_exp, on an int32 port."""
    return I32(total << exp if exp > 0 else total >> (-exp))


@numba.njit(cache=True)
def _dense_output(w, active, n_act, weight_exp, out):
    """out[i] = (sum of w[i, j] over the active pre neurons) shifted: four rows at a time,
    so that each index is loaded once for four gathers."""
    n_post = w.shape[0]
    i = 0
    while i + 4 <= n_post:
        w0, w1, w2, w3 = w[i], w[i + 1], w[i + 2], w[i + 3]
        t0 = t1 = t2 = t3 = np.int64(0)
        for q in range(n_act):
            j = active[q]
            t0 += w0[j]
            t1 += w1[j]
            t2 += w2[j]
            t3 += w3[j]
        out[i], out[i + 1] = _shift32(t0, weight_exp), _shift32(t1, weight_exp)
        out[i + 2], out[i + 3] = _shift32(t2, weight_exp), _shift32(t3, weight_exp)
        i += 4
    while i < n_post:
        wi = w[i]
        total = np.int64(0)
        for q in range(n_act):
            total += wi[active[q]]
        out[i] = _shift32(total, weight_exp)
        i += 1


@numba.njit(cache=True)
def _run(pre, reward, labels, reset_before, snap_after,
         w, t2, t1, x, y, tx, ty, u, v, theta, a_ff, a_rec, prev, ny, counters, unit,
         du, dv, bias, v_init, theta_0, dtheta, theta_step, adaptive, reset_zero, reset_sub, wta_k,
         reward_kind, neuron_class, reward_value, punishment, window,
         weight_exp, rec_wT, rec_exp, has_rec,
         t_epoch, three_factor, post_keep, post_imp,
         x_keep, x_decaying, x_int, x_frac, y_keep, y_decaying, y_int, y_frac, sign_mode,
         p_target, p_dep, p_mant, p_rshift, p_lshift, p_kind, p_tdim_y0, p_fstart,
         f_src, f_index, f_lut_start, f_lut_lo, f_lut_hi, lut, f_affine, has_target, read_syn, decimate,
         r_xdec, r_ximp, r_ydec, r_yimp, r_w,
         rec_post, rec_pre, rec_syn, weights_after, spike_counts, raster):
    """Steps pre.shape[0] steps (reference ``ReferenceLayer.step``); counters: [time step,
    learning phases in this call, zero-term-fixed-point flag, samples snapped]; unit: [spikes
    in this sample, the reward unit's winner, its reward steps still to send]."""
    steps, n_pre = pre.shape
    n_post = u.size
    n_prod = p_dep.size
    spikes = np.zeros(n_post, np.bool_)
    v_spike = np.zeros(n_post, np.int32)
    active_pre = np.zeros(n_pre, np.int64)
    acc_rec = np.zeros(n_post, np.int64)
    hx = np.zeros((t_epoch + 1, x.shape[0], n_pre), np.int32)
    hy = np.zeros((t_epoch + 1, y.shape[0], n_post), np.int32)
    x0 = np.zeros(n_pre, np.bool_)
    y0 = np.zeros(n_post, np.bool_)
    active = np.zeros(max(n_prod, 1), np.bool_)
    tdim = t_epoch + 1
    colbuf = np.zeros((max(n_prod, 1), tdim, n_pre), np.int32)
    rowA = np.zeros((max(n_prod, 1), n_post), np.int32)
    gtab = np.zeros((max(n_prod, 1), n_post, tdim), np.int32)
    t_used = np.zeros(tdim, np.bool_)
    cols = np.zeros(n_pre, np.int64)
    sp_prod = np.zeros(max(n_prod, 1), np.int64)
    col_zero = np.zeros(max(n_prod, 1), np.bool_)
    tv = np.zeros(n_pre, np.int32)
    acc = np.zeros((3, n_pre), np.int32)
    raw = np.zeros(n_pre, np.int32)
    flags = np.zeros(1, np.int64)
    flags[0] = counters[2]
    record_post, record_pre, record_syn = rec_post.shape[0] > 0, rec_pre.shape[0] > 0, rec_syn.shape[0] > 0
    for s in range(steps):
        if reset_before[s]:
            unit[0], unit[1], unit[2] = 0, -1, 0
            for i in range(n_post):
                u[i] = 0
                v[i] = v_init[i]
                a_ff[i] = 0
                a_rec[i] = 0
                prev[i] = False
                ty[i] = 0
                for k in range(3):
                    y[k, i] = 0
                    ny[k, i] = 0
            for j in range(n_pre):
                tx[j] = 0
                for k in range(2):
                    x[k, j] = 0
        counters[0] += 1
        step = counters[0]
        within = step % t_epoch
        if within == 0:
            within = t_epoch
        if three_factor:
            for i in range(n_post):
                ny[0, i] = np.int64(np.floor(np.float64(ny[0, i]) * post_keep + post_imp * (1.0 if prev[i] else 0.0)))
        _neurons(u, v, theta, a_ff, a_rec, du, dv, bias, theta_0, dtheta, theta_step, adaptive, reset_zero, reset_sub,
                 wta_k, unit, spikes, v_spike)
        if three_factor:
            _reward(spikes, v_spike, reward_kind, reward[s if reward_kind == REWARD_GIVEN else 0], labels[s if reward_kind == REWARD_FIRST_SPIKE else 0],
                    neuron_class, reward_value, punishment, window, unit, ny[1], ny[2])
        for i in range(n_post):
            prev[i] = spikes[i]
            spike_counts[i] += spikes[i]
        if raster.shape[0] > 0:
            for i in range(n_post):
                raster[s, i] = spikes[i]
        if has_rec:
            for i in range(n_post):
                acc_rec[i] = 0
            for k in range(n_post):
                if spikes[k]:
                    row = rec_wT[k]
                    for i in range(n_post):
                        acc_rec[i] += row[i]
            for i in range(n_post):
                a_rec[i] = _shift32(acc_rec[i], rec_exp)
        # the learning Dense: output of this step's pre spikes with the current weights
        n_act = 0
        pre_s = pre[s]
        for j in range(n_pre):
            active_pre[n_act] = j
            n_act += pre_s[j] != 0
        _dense_output(w, active_pre, n_act, weight_exp, a_ff)
        # pre spikes: repeated ones add their impulse now (random 0), spike time = this step
        for q in range(n_act):
            j = active_pre[q]
            if tx[j] > 0:
                for k in range(2):
                    val = np.int64(x[k, j]) + x_int[k] + (1 if 0 < x_frac[k] else 0)
                    x[k, j] = min(max(val, 0), 127)
            tx[j] = within
        # post spikes (bAP): repeated ones add their impulse with the y impulse random
        r_imp = r_yimp[2 * s]
        for i in range(n_post):
            if spikes[i]:
                if ty[i] > 0:
                    for k in range(3):
                        val = np.int64(y[k, i]) + y_int[k] + (1 if r_imp < y_frac[k] else 0)
                        y[k, i] = min(max(val, 0), 127)
                ty[i] = within
        if three_factor:
            for k in range(3):
                for i in range(n_post):
                    y[k, i] = ny[k, i]
        if step % t_epoch == 0:
            e = counters[1]
            counters[1] += 1
            _learn(w, t2, t1, x, y, tx, ty, t_epoch, three_factor, step, r_w[e],
                   r_xdec[2 * s + 1], r_ximp[2 * s + 1], r_ydec[2 * s + 1], r_yimp[2 * s + 1],
                   x_keep, x_decaying, x_int, x_frac, y_keep, y_decaying, y_int, y_frac, sign_mode, flags,
                   p_target, p_dep, p_mant, p_rshift, p_lshift, p_kind, p_tdim_y0, p_fstart,
                   f_src, f_index, f_lut_start, f_lut_lo, f_lut_hi, lut, f_affine, has_target, read_syn, decimate,
                   hx, hy, x0, y0, active, colbuf, rowA, gtab, t_used, cols, sp_prod, col_zero, acc, raw, tv)
        if record_post:
            for i in range(n_post):
                rec_post[s, 0, i] = u[i]
                rec_post[s, 1, i] = v[i]
                rec_post[s, 2, i] = spikes[i]
                rec_post[s, 3, i] = y[0, i]
                rec_post[s, 4, i] = y[1, i]
                rec_post[s, 5, i] = y[2, i]
                rec_post[s, 6, i] = ty[i]
                rec_post[s, 7, i] = theta[i]
                rec_post[s, 8, i] = v_spike[i]
        if record_pre:
            for j in range(n_pre):
                rec_pre[s, 0, j] = x[0, j]
                rec_pre[s, 1, j] = x[1, j]
                rec_pre[s, 2, j] = tx[j]
        if record_syn:
            rec_syn[s, 0] = w
            rec_syn[s, 1] = t1
            rec_syn[s, 2] = t2
        if snap_after[s]:
            weights_after[counters[3]] = w
            counters[3] += 1
    counters[2] = flags[0]


# --------------------------------------------------------------------------- python side
class RandomStreams:
    """Lava's learning random streams (reference learning_randoms): x decay / impulse
    (rng_seed, +1), y decay / impulse (+2, +3), weight rounding (seed 2).  Each
    generator's first value is drawn at construction, as Lava's; ``draw`` returns the
    next values in order, as blocks."""

    def __init__(self, rng_seed: int):
        seeds = (rng_seed, rng_seed + 1, rng_seed + 2, rng_seed + 3, 2)
        self._rngs = [np.random.default_rng(seed=s) for s in seeds]
        for k in range(len(self._rngs)):
            self._take(k, 1)

    def _take(self, k: int, n: int) -> np.ndarray:
        if k in (1, 3):
            return self._rngs[k].integers(0, 2 ** R.W_TRACE, size=n, dtype=int)
        return self._rngs[k].random(n)

    def draw(self, steps: int, epochs: int):
        """Values for ``steps`` steps (two advances of each trace stream per step) and
        ``epochs`` learning phases."""
        x_dec, x_imp, y_dec, y_imp = (self._take(k, 2 * steps) for k in range(4))
        return x_dec, x_imp, y_dec, y_imp, self._take(4, epochs)


def _trace_params(taus, impulses):
    """(keep, decaying, impulse integer parts, fractions) as the reference computes them:
    exp(-1/tau) by the same numpy expression on the same array shape."""
    taus = np.asarray(taus, dtype=float)
    decaying = taus != 0
    keep = np.zeros(taus.size)
    if decaying.any():
        keep[decaying] = np.exp(-1 / taus[decaying][:, None])[:, 0]
    return (keep, decaying, np.array([i for i, _ in impulses], np.int64),
            np.array([f for _, f in impulses], np.int64))


class LearningEngine:
    """The compiled counterpart of ``learning.reference.ReferenceLayer`` (same program, same
    ``run`` interface); state carries over between ``run`` calls."""

    def __init__(self, program: LayerProgram):
        p = program
        weights = np.asarray(p.weights)
        n_post, n_pre = weights.shape
        for name, value in (("weights", weights), ("tag_1", p.tag_1), ("tag_2", p.tag_2)):
            if value is not None and np.abs(np.asarray(value)).max(initial=0) > VALUE_LIMIT:
                raise ValueError(f"{name}: |value| must be <= {VALUE_LIMIT}")
        rule, neurons = p.rule, p.neurons
        self.program, self.rule, self.sign_mode = p, rule, p.sign_mode
        self.code = compile_rule(rule)
        self.n_pre, self.n_post = n_pre, n_post
        self.weight_exp = int(p.weight_exp)
        zeros = lambda: np.zeros((n_post, n_pre), dtype=np.int16)  # noqa: E731
        self.weights = np.ascontiguousarray(R.truncate_weights(weights, p.sign_mode, p.num_weight_bits), dtype=np.int16)
        self.tag_1 = zeros() if p.tag_1 is None else np.ascontiguousarray(np.asarray(p.tag_1).astype(int), dtype=np.int16)
        self.tag_2 = zeros() if p.tag_2 is None else np.ascontiguousarray(np.asarray(p.tag_2).astype(int), dtype=np.int16)
        self.x = np.zeros((2, n_pre), np.int32)
        self.y = np.zeros((3, n_post), np.int32)
        self.tx = np.zeros(n_pre, np.int32)
        self.ty = np.zeros(n_post, np.int32)
        self.u = np.zeros(n_post, np.int32)
        self.v = neurons.v_init.astype(np.int32)
        self.theta = neurons.theta_0().astype(np.int32)
        self.a_ff = np.zeros(n_post, np.int32)
        self.a_rec = np.zeros(n_post, np.int32)
        self.previous_spikes = np.zeros(n_post, np.bool_)
        self.neuron_y = np.zeros((3, n_post), np.int32)
        self.unit = np.array([0, -1, 0], np.int64)   # k-WTA count, reward winner, reward steps left
        self.neuron_params = (
            neurons.du, neurons.dv, np.ascontiguousarray(R.effective_bias(neurons), dtype=np.int64), neurons.v_init,
            neurons.theta_0().astype(np.int64), neurons.dtheta, neurons.theta_step, neurons.adaptive,
            neurons.reset is Reset.ZERO, neurons.reset_sub, int(neurons.wta_k))
        unit = p.reward
        classes = unit.neuron_class if unit.neuron_class.size else np.zeros(1, np.int64)
        self.reward_params = (REWARD_KINDS[unit.kind], np.ascontiguousarray(classes, dtype=np.int64), int(unit.reward),
                              int(unit.punishment), int(unit.window))
        if p.recurrent is None:
            self.rec_wT, self.rec_exp, self.has_rec = np.zeros((1, 1), np.int64), 0, False
        else:
            self.rec_wT = np.ascontiguousarray(p.recurrent.stored().T, dtype=np.int64)
            self.rec_exp, self.has_rec = int(p.recurrent.weight_exp), True
        x_imp = [R.decompose_impulse(rule.x1_impulse), R.decompose_impulse(rule.x2_impulse)]
        y_imp = [R.decompose_impulse(getattr(rule, f"y{k}_impulse")) for k in (1, 2, 3)]
        self.x_params = _trace_params([rule.x1_tau, rule.x2_tau], x_imp)
        self.y_params = _trace_params([rule.y1_tau, rule.y2_tau, rule.y3_tau], y_imp)
        self.post_keep = float(np.exp(-1 / rule.post_trace_tau)) if rule.three_factor else 0.0
        self.post_imp = float(rule.post_trace_impulse)
        self.streams = RandomStreams(rule.rng_seed)
        self.step = 0
        limits = {"weights": {"mixed": (-256, 255), "excitatory": (0, 255), "inhibitory": (-255, 0)}[p.sign_mode],
                  "tag_2": (0, 255), "tag_1": (-256, 255)}
        self.not_fixed = any(((v < limits[n][0]) | (v > limits[n][1])).any()
                             for n, v in (("weights", self.weights), ("tag_2", self.tag_2), ("tag_1", self.tag_1))
                             if self.code.has_target[TARGETS.index(n)])

    def set_rates(self, reward: int, punishment: int) -> None:
        """The first-spike reward unit's y2 reward and y3 punishment from now on (reference ``set_rates``)."""
        kind, classes, _, _, window = self.reward_params
        self.reward_params = (kind, classes, int(reward), int(punishment), window)

    def reset_sample(self) -> None:
        """The reference's ``reset_sample``: u, v, Dense outputs, traces, spike times, the neuron's y."""
        for a in (self.u, self.a_ff, self.a_rec, self.x, self.y, self.tx, self.ty, self.neuron_y, self.previous_spikes):
            a[...] = 0
        self.v[...] = self.program.neurons.v_init
        self.unit[:] = (0, -1, 0)

    def run(self, pre_spikes, *, rewards=None, labels=None, resets: ty.Iterable[int] = (), snapshots: ty.Iterable[int] = (),
            record: ty.Iterable[str] = (), raster: bool = False) -> dict:
        """Step ``len(pre_spikes)`` steps (``ReferenceLayer.run``'s interface): ``rewards`` (steps,
        post) signed for a given reward; ``labels`` (steps,) for the first-spike rule; ``resets``:
        local steps before which the sample state is reset; ``snapshots``: local steps after which
        the weights are copied ("weights_after"); ``record``: names of ``reference.RECORDED`` to
        return per step. Also returns "spike_counts" (per post neuron), and with ``raster`` the post
        spikes (steps, post) as uint8."""
        pre = np.ascontiguousarray(np.asarray(pre_spikes) != 0, dtype=np.uint8)
        steps = pre.shape[0]
        if pre.ndim != 2 or pre.shape[1] != self.n_pre:
            raise ValueError(f"pre_spikes must be (steps, {self.n_pre})")
        kind = self.reward_params[0]
        reward = np.zeros((1, 1), np.int32)
        if kind == REWARD_GIVEN:
            if rewards is None:
                raise ValueError("a given reward needs the rewards (steps, n_post)")
            reward = np.ascontiguousarray(np.asarray(rewards).astype(np.int32).reshape(steps, self.n_post))
        label_row = np.zeros(1, np.int64)
        if kind == REWARD_FIRST_SPIKE:
            if labels is None:
                raise ValueError("the first-spike reward needs the labels (steps,)")
            label_row = np.ascontiguousarray(np.asarray(labels, dtype=np.int64).reshape(steps))
        reset_before = np.zeros(steps, np.uint8)
        reset_before[list(resets)] = 1
        snap_after = np.zeros(steps, np.uint8)
        snapshots = list(snapshots)
        snap_after[snapshots] = 1
        record = set(record)
        rec_post = np.zeros((steps, len(RECORD_POST), self.n_post) if record & set(RECORD_POST) else (0, len(RECORD_POST), 1), np.int32)
        rec_pre = np.zeros((steps, 3, self.n_pre) if record & set(RECORD_PRE) else (0, 3, 1), np.int32)
        rec_syn = np.zeros((steps, 3, self.n_post, self.n_pre) if record & set(RECORD_SYN) else (0, 3, 1, 1), np.int32)
        weights_after = np.zeros((len(snapshots), self.n_post, self.n_pre), np.int16)
        spike_counts = np.zeros(self.n_post, np.int64)
        spikes_out = np.zeros((steps, self.n_post) if raster else (0, 1), np.uint8)
        # time step, learning phases in this call, "some value is no zero-term fixed point", snapshots taken
        counters = np.array([self.step, 0, int(self.not_fixed), 0], np.int64)
        c = self.code
        for start in range(0, steps, CHUNK_STEPS):   # bounds the memory of the random blocks
            stop = min(steps, start + CHUNK_STEPS)
            step0 = int(counters[0])
            randoms = self.streams.draw(stop - start, (step0 + stop - start) // self.rule.t_epoch - step0 // self.rule.t_epoch)
            counters[1] = 0
            _run(pre[start:stop], reward[start:stop] if kind == REWARD_GIVEN else reward,
                 label_row[start:stop] if kind == REWARD_FIRST_SPIKE else label_row,
                 reset_before[start:stop], snap_after[start:stop],
                 self.weights, self.tag_2, self.tag_1, self.x, self.y, self.tx, self.ty, self.u, self.v, self.theta,
                 self.a_ff, self.a_rec, self.previous_spikes, self.neuron_y, counters, self.unit,
                 *self.neuron_params, *self.reward_params, self.weight_exp,
                 self.rec_wT, self.rec_exp, self.has_rec,
                 int(self.rule.t_epoch), bool(self.rule.three_factor), self.post_keep, self.post_imp,
                 *self.x_params, *self.y_params, SIGN_MODES[self.sign_mode],
                 c.p_target, c.p_dep, c.p_mant, c.p_rshift, c.p_lshift, c.p_kind, c.p_tdim_y0, c.p_fstart,
                 c.f_src, c.f_index, c.f_lut_start, c.f_lut_lo, c.f_lut_hi, c.lut, c.f_affine, c.has_target, c.read_syn,
                 c.decimate, *randoms, rec_post[start:stop] if rec_post.shape[0] else rec_post,
                 rec_pre[start:stop] if rec_pre.shape[0] else rec_pre,
                 rec_syn[start:stop] if rec_syn.shape[0] else rec_syn, weights_after, spike_counts,
                 spikes_out[start:stop] if raster else spikes_out)
        self.step = int(counters[0])
        self.not_fixed = bool(counters[2])
        out = {"spike_counts": spike_counts, "weights_after": weights_after.astype(np.int64)}
        if raster:
            out["raster"] = spikes_out
        sources = {name: (rec_post, k) for k, name in enumerate(RECORD_POST)}
        sources.update({name: (rec_pre, k) for k, name in enumerate(RECORD_PRE)})
        sources.update({name: (rec_syn, k) for k, name in enumerate(RECORD_SYN)})
        for name in record:
            array, k = sources[name]
            out[name] = array[:, k].astype(bool) if name == "spikes" else array[:, k].copy()
        return out
