"""The float reference's compiled kernels (numba, samples or rows in parallel).

Synaptic products, event-driven: for each row of source values (one sample at one step)
only the weight rows of its nonzero values are summed into the row's synaptic input. Spikes
are mostly zeros, so this reads a fraction of the weights a dense product reads
(``float_reference._add_product`` takes it for products of many rows; fewer rows get the same
sums from numpy and scipy, without loading numba). Values come in two
types, uint8 (spikes: the input's, and a layer's bool spikes viewed as bytes) and float64
(graded values, several-spike counts); weights are dense (n_in, n_out) rows, or sparse ones
as runs of consecutive targets per source, stored in float32 where that holds every weight
exactly (each is widened back to its float64 value before use), else float64. Every sum
runs over a row's nonzero values in source order, one source at a time, so the kernels'
floats are those of adding the weight rows one by one.

The neuron update of plain layers (``cuba_step``): numpy's operations on each element in
the same order, in one pass; a plain layer stepping alone (``cuba_chunk``) takes a chunk of
steps in one call, its recurrent sums added as the event-driven kernels add them; where its
input is one term of spikes through sparse float32 weights, ``fused_chunk`` makes that input in
the same call, per sample and step, with ``_sparse_rows``' sums, and counts the spikes.
``python -m neurodeploy.warmup`` compiles every combination (``warm``). The kernels release the GIL (``nogil``): another thread may run meanwhile.
"""
from __future__ import annotations

from contextlib import contextmanager

import numba
import numpy as np
from scipy import sparse

from ..hardware.fixed_point import Reset

ROWS_PER_TASK = 16  # rows a thread takes at a time (its buffers allocated once per task): a chunk of few rows still splits evenly
# values a call reads and writes from which it splits over the cores: a smaller call (a recurrent
# layer's step) runs on one, as waiting for the other threads costs more than they save, and far
# more on a machine busy with other work
PARALLEL_VALUES = 1 << 17


@contextmanager
def _cores_for(values: int):
    """The calling thread's kernels on every core numba has for a call of ``values``
    values from PARALLEL_VALUES, else on one."""
    if values >= PARALLEL_VALUES:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


@numba.njit(parallel=True, cache=True, nogil=True)
def _dense_rows(values, weights, out):
    """Each row's nonzero sources listed first, then their weight rows added four per pass
    over the row's sums: a quarter of the loads and stores of ``out``. Every sum still adds
    one source at a time in source order (``s + a + b`` is ``(s + a) + b``), so the results
    are those of adding the rows one by one."""
    n_in, n_out = weights.shape
    rows = values.shape[0]
    for task in numba.prange((rows + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        sources = np.empty(n_in, np.int64)
        scales = np.empty(n_in, np.float64)
        for r in range(task * ROWS_PER_TASK, min(rows, (task + 1) * ROWS_PER_TASK)):
            m = 0
            for j in range(n_in):
                x = values[r, j]
                sources[m] = j
                scales[m] = np.float64(x)
                m += x != 0
            row = out[r]
            k = 0
            while k + 4 <= m:
                a, b, c, d = weights[sources[k]], weights[sources[k + 1]], weights[sources[k + 2]], weights[sources[k + 3]]
                sa, sb, sc, sd = scales[k], scales[k + 1], scales[k + 2], scales[k + 3]
                if sa == 1.0 and sb == 1.0 and sc == 1.0 and sd == 1.0:  # spikes: 1.0 * w is w
                    for i in range(n_out):
                        row[i] = row[i] + np.float64(a[i]) + np.float64(b[i]) + np.float64(c[i]) + np.float64(d[i])
                else:
                    for i in range(n_out):
                        row[i] = row[i] + sa * a[i] + sb * b[i] + sc * c[i] + sd * d[i]
                k += 4
            while k < m:
                a, sa = weights[sources[k]], scales[k]
                for i in range(n_out):
                    row[i] = row[i] + sa * a[i]
                k += 1


@numba.njit(parallel=True, cache=True, nogil=True)
def _sparse_rows(values, run_ptr, runs, data, order, permuted, out, zeroed):
    """Sparse weights as runs of consecutive targets (``kernel_weights``) in the engine's
    neuron order ``order`` (channels last: a convolution's synapse list is a few long runs):
    each row with events is gathered into that order (zeros where ``out`` is ``zeroed``: the
    gather reads the whole row in a scattered order), its sources' runs added (vectorised
    loops), and scattered back. Each sum still adds one source at a time in source order."""
    rows, n_in = values.shape
    n = order.size
    for task in numba.prange((rows + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        buffer = np.empty(n if permuted else 0, np.float64)
        for r in range(task * ROWS_PER_TASK, min(rows, (task + 1) * ROWS_PER_TASK)):
            events = 0
            for j in range(n_in):
                events += values[r, j] != 0
            if events == 0:
                continue
            row = out[r]
            sums = buffer if permuted else row
            if permuted and zeroed:
                sums[:] = 0.0
            elif permuted:
                for k in range(n):
                    sums[k] = row[order[k]]
            for j in range(n_in):
                x = values[r, j]
                if x != 0:
                    scale = np.float64(x)
                    for q in range(run_ptr[j], run_ptr[j + 1]):
                        first, length, offset = runs[q, 0], runs[q, 1], runs[q, 2]
                        target, weights = sums[first : first + length], data[offset : offset + length]
                        for i in range(length):
                            target[i] = target[i] + scale * weights[i]
            if permuted:
                for k in range(n):
                    row[order[k]] = sums[k]


@numba.njit(parallel=True, cache=True, nogil=True)
def _cuba_step(a, u, v, alpha, beta, current_bias, bias, threshold, reset_amount, floor, decays, spiking, inclusive, subtract, floored,
               spikes, active):
    """``float_reference._LayerRun.step`` for a layer of one spike per step, one pass per
    sample: the same operations on every element in the same order (u = alpha u + a +
    current_bias; v = beta v + u + bias; the threshold test, the reset, the floor), so the
    same values; ``active[b]``: sample b's neurons with nonzero input."""
    batch, n = a.shape
    for b in numba.prange(batch):
        count = 0
        for i in range(n):
            x = a[b, i]
            count += x != 0
            current = u[b, i] * alpha[i] + x if decays else x
            current = current + current_bias[i]
            voltage = v[b, i] * beta[i]
            voltage = voltage + current
            voltage = voltage + bias[i]
            fired = False
            if spiking:
                fired = voltage >= threshold[i] if inclusive else voltage > threshold[i]
                if fired:
                    voltage = voltage - reset_amount[i] if subtract else 0.0
                if floored and voltage < floor[i]:
                    voltage = floor[i]
            u[b, i] = current
            v[b, i] = voltage
            spikes[b, i] = fired
        active[b] = count


def cuba_step(dyn, u: np.ndarray, v: np.ndarray, a: np.ndarray, spikes: np.ndarray) -> int:
    """One step of a ``NeuronDynamics`` layer of one spike per step (``max_spikes`` 1) on
    ``a`` (batch, n), ``u``, ``v`` and ``spikes`` (bool) written in place; returns the
    neuron-steps with nonzero input."""
    active = np.zeros(a.shape[0], np.int64)
    floor = dyn.floor if dyn.floor is not None else dyn.bias
    with _cores_for(a.size):
        _cuba_step(
            a, u, v, dyn.alpha, dyn.beta, dyn.current_bias, dyn.bias, dyn.threshold, dyn.reset_amount, floor, bool(np.any(dyn.alpha != 0)),
            dyn.spiking, bool(dyn.inclusive), dyn.reset is Reset.SUBTRACT, dyn.floor is not None, spikes, active,
        )
    return int(active.sum())


@numba.njit(parallel=True, cache=True, nogil=True)
def _cuba_chunk(a, line, history, first_step, recurrent, lags, alpha, beta, current_bias, bias, threshold, reset_amount, floor, decays, spiking,
                inclusive, subtract, floored, u, v, offset, v_sum, summing, active):
    """``cuba_chunk``: each sample's steps in turn (samples in parallel); per step the layer's
    own earlier spikes (``line``) add their rows of ``recurrent`` one source at a time in
    source order (as ``_dense_rows`` does), then ``_cuba_step``'s update."""
    steps, batch, n = a.shape
    for b in numba.prange(batch):
        count = 0
        for j in range(steps):
            x = a[j, b]
            _add_recurrent(x, line, history, first_step, j, b, recurrent, lags)
            count += _update_row(x, u[b], v[b], line[history + j, b], alpha, beta, current_bias, bias, threshold, reset_amount, floor, decays,
                                 spiking, inclusive, subtract, floored)
            if summing:
                for i in range(n):
                    v_sum[b, i] = v_sum[b, i] + (v[b, i] + offset[i])
        active[b] = count


@numba.njit(inline="always")
def _add_recurrent(x, line, history, first_step, j, b, recurrent, lags):
    """Into sample b's sums ``x`` of chunk step j: the layer's own spikes of ``lags`` steps
    before, their rows of ``recurrent`` one source at a time in source order."""
    for k in range(lags.size):
        if first_step + j - lags[k] < 0:
            continue
        s, w = line[history + j - lags[k], b], recurrent[k]
        for p in range(s.size):
            if s[p]:
                for i in range(x.size):
                    x[i] = x[i] + np.float64(w[p, i])


@numba.njit(inline="always")
def _update_row(x, ub, vb, out, alpha, beta, current_bias, bias, threshold, reset_amount, floor, decays, spiking, inclusive, subtract, floored):
    """One sample's step on its sums ``x``: ``_cuba_step``'s update of u ``ub`` and v ``vb``,
    spikes into ``out``; returns the neurons with nonzero input."""
    count = 0
    for i in range(x.size):  # selects rather than branches, so that the loop vectorises
        count += x[i] != 0
        current = ub[i] * alpha[i] + x[i] if decays else x[i]
        current = current + current_bias[i]
        voltage = vb[i] * beta[i]
        voltage = voltage + current
        voltage = voltage + bias[i]
        fired = spiking and (voltage >= threshold[i] if inclusive else voltage > threshold[i])
        reset = voltage - reset_amount[i] if subtract else 0.0
        voltage = reset if fired else voltage
        voltage = floor[i] if spiking and floored and voltage < floor[i] else voltage
        ub[i] = current
        vb[i] = voltage
        out[i] = fired
    return count


def cuba_chunk(dyn, u, v, a, line, history: int, first_step: int, recurrent, lags, v_sum=None, v_offset=None) -> int:
    """A plain layer (``cuba_step``'s) stepping alone through the chunk of steps that starts at
    ``first_step``: ``a`` (steps, batch, n) its input from earlier layers (consumed), ``line``
    its spikes (bool; ``history`` earlier steps first, written from there on), ``recurrent``
    (k, n, n) its weights onto itself with their ``lags`` (k,) in steps; ``v_sum`` (batch, n),
    if given, gets v + ``v_offset`` of every step. Returns the neuron-steps with nonzero input.

    Why: a layer that feeds itself steps one step at a time, and with the step loop in Python
    its small products and dozen numpy passes per step cost far more than their arithmetic;
    here one call takes the whole chunk, each sample's steps in turn (its u and v stay in
    cache through the chunk, which pays for a layer without recurrence too), with the floats
    of the one-step path (the event-driven kernels' sums, then ``cuba_step``)."""
    active = np.zeros(a.shape[1], np.int64)
    floor = dyn.floor if dyn.floor is not None else dyn.bias
    summing = v_sum is not None
    if not summing:
        v_sum, v_offset = np.zeros((1, 1)), np.zeros(1)
    with _cores_for(a.size):
        _cuba_chunk(
            a, line, history, first_step, recurrent, lags, dyn.alpha, dyn.beta, dyn.current_bias, dyn.bias, dyn.threshold, dyn.reset_amount, floor,
            bool(np.any(dyn.alpha != 0)), dyn.spiking, bool(dyn.inclusive), dyn.reset is Reset.SUBTRACT, dyn.floor is not None, u, v,
            _per_neuron(v_offset, v.shape[1]) if summing else v_offset, v_sum, summing, active,
        )
    return int(active.sum())


@numba.njit(parallel=True, cache=True, nogil=True)
def _fused_chunk(values, skip, steps, run_ptr, runs, data, order, permuted, line, history, first_step, recurrent, lags, alpha, beta, current_bias, bias,
                 threshold, reset_amount, floor, decays, spiking, inclusive, subtract, floored, u, v, offset, v_sum, summing, counts, active):
    """``fused_chunk``: ``_cuba_chunk`` with its input from one source through sparse weights
    summed per sample and step into a buffer of one row (``_sparse_rows``' sums, in its target
    order, then scattered), and each sample's spikes counted into ``counts``."""
    batch, n, n_in = line.shape[1], line.shape[2], values.shape[2]
    for b in numba.prange(batch):
        x = np.zeros(n, np.float64)
        sums = np.zeros(n if permuted else 0, np.float64)
        count = 0
        for j in range(steps):
            if permuted:
                target = sums
            else:
                x[:] = 0.0
                target = x
            if j >= skip:
                s = values[j - skip, b]
                for p in range(n_in):
                    if s[p] != 0:
                        scale = np.float64(s[p])
                        for q in range(run_ptr[p], run_ptr[p + 1]):
                            first, length, at = runs[q, 0], runs[q, 1], runs[q, 2]
                            t, w = target[first : first + length], data[at : at + length]
                            for i in range(length):
                                t[i] = t[i] + scale * w[i]
            if permuted:  # into the neurons' order, the buffer zeroed for the next step
                for k in range(n):
                    x[order[k]] = sums[k]
                    sums[k] = 0.0
            _add_recurrent(x, line, history, first_step, j, b, recurrent, lags)
            out = line[history + j, b]
            count += _update_row(x, u[b], v[b], out, alpha, beta, current_bias, bias, threshold, reset_amount, floor, decays, spiking, inclusive,
                                 subtract, floored)
            for i in range(n):
                counts[b, i] += out[i]
            if summing:
                for i in range(n):
                    v_sum[b, i] = v_sum[b, i] + (v[b, i] + offset[i])
        active[b] = count


def fused_chunk(dyn, u, v, steps: int, values, skip: int, weights, line, history: int, first_step: int, recurrent, lags, counts, v_sum=None,
                v_offset=None) -> int:
    """``cuba_chunk`` with the layer's input made in the same call: ``values`` (steps - skip,
    batch, n_in) uint8 the source of the chunk's ``steps`` from ``skip`` on (the steps before receive
    nothing), through ``weights`` (``kernel_weights``' sparse runs, float32), added as
    ``add_product`` adds them into zeros; the chunk's spikes added to ``counts`` (batch, n) int64.

    Why: a chunk's input made ahead for every step and sample is a buffer of steps x samples x
    neurons, zeroed, written and read again from memory; made per sample and step it is one
    row, in cache, and the spikes are counted while still in registers."""
    batch, n = line.shape[1], line.shape[2]
    active = np.zeros(batch, np.int64)
    floor = dyn.floor if dyn.floor is not None else dyn.bias
    summing = v_sum is not None
    if not summing:
        v_sum, v_offset = np.zeros((1, 1)), np.zeros(1)
    with _cores_for(steps * batch * n):
        _fused_chunk(
            values, skip, steps, *weights, line, history, first_step, recurrent, lags, dyn.alpha, dyn.beta, dyn.current_bias, dyn.bias, dyn.threshold,
            dyn.reset_amount, floor, bool(np.any(dyn.alpha != 0)), dyn.spiking, bool(dyn.inclusive), dyn.reset is Reset.SUBTRACT, dyn.floor is not None,
            u, v, _per_neuron(v_offset, v.shape[1]) if summing else v_offset, v_sum, summing,
            counts, active,
        )
    return int(active.sum())


def _per_neuron(value, n: int) -> np.ndarray:
    """``value`` (a scalar or one per neuron) as a writable float64 array of n: a read-only one
    (a broadcast view) is another numba type, compiled again at a user's first command."""
    return np.array(np.broadcast_to(np.asarray(value, np.float64), (n,)))


def kernel_values(values: np.ndarray) -> np.ndarray:
    """Source values in one of the kernels' two types (bool and uint8 without a copy)."""
    if values.dtype == np.bool_:
        return values.view(np.uint8)
    if values.dtype == np.uint8:
        return values
    return values.astype(np.float64, copy=False)


def kernel_weights(weights, target_shape: tuple[int, ...] | None = None):
    """Weights (n_in, n_out) as the kernels take them: a C-contiguous float64 array, or for
    sparse weights each source's synapses as runs of consecutive targets in the numba engine's
    neuron order of ``target_shape`` (``numba_engine.neuron_order``: channels last for
    (channels, height, width) layers): (run_ptr, runs, data, order, whether it permutes)."""
    if not sparse.issparse(weights):
        return np.ascontiguousarray(_narrowest(np.asarray(weights, dtype=np.float64)))
    from .numba_engine import neuron_order, synapse_runs

    n_out = weights.shape[1]
    order = neuron_order(tuple(target_shape)) if target_shape is not None and int(np.prod(target_shape)) == n_out else np.arange(n_out)
    w = sparse.csr_matrix(weights)
    position = np.empty_like(order)
    position[order] = np.arange(n_out)
    w = sparse.csr_matrix((w.data.copy(), position[w.indices], w.indptr.copy()), shape=w.shape)  # column k: target order[k]; sorted apart from ``weights``
    w.sort_indices()
    run_ptr, runs = synapse_runs(w.indptr, w.indices)
    _share_repeated_rows(w, run_ptr, runs)
    permuted = not np.array_equal(order, np.arange(n_out))
    return (run_ptr, runs, _narrowest(w.data.astype(np.float64)), order.astype(np.int64), permuted)


def _share_repeated_rows(w, run_ptr: np.ndarray, runs: np.ndarray) -> None:
    """Point the runs of each source whose synapses (targets and weights) repeat an earlier
    source's at that source's weights (``runs``' offsets, in place). Why: a pooling folded into
    a convolution gives every source of a pooling window the same synapses, and the weights
    the kernels read shrink by the window's size, into the caches; the values are the same."""
    indptr, lengths = w.indptr.astype(np.int64), np.diff(w.indptr).astype(np.int64)
    rows = np.flatnonzero(lengths)
    if rows.size < 2:
        return
    first = rows[_first_alike(w, rows)]  # per source with synapses, the first source whose row hashes alike
    same = _rows_equal(w, rows, first)  # alike in fact (a hash may collide)
    moved = np.zeros(w.shape[0], np.int64)
    moved[rows[same]] = indptr[first[same]] - indptr[rows[same]]
    runs[:, 2] += np.repeat(moved, np.diff(run_ptr))


def _first_alike(w, rows: np.ndarray) -> np.ndarray:
    """Per row of ``rows`` (sources with synapses), the position in ``rows`` of the first one
    whose targets, weights and length hash alike (64-bit, wrapping)."""
    lengths = np.diff(w.indptr)[rows]
    entry = np.arange(w.nnz, dtype=np.uint64) - np.repeat(w.indptr[:-1].astype(np.uint64), np.diff(w.indptr))  # position in its row
    bits = np.ascontiguousarray(w.data, np.float64).view(np.uint64)
    mixed = (w.indices.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (bits * np.uint64(0xC2B2AE3D27D4EB4F))
    mixed = (mixed ^ (entry * np.uint64(0x165667B19E3779F9))) * np.uint64(0xFF51AFD7ED558CCD)
    hashes = np.add.reduceat(mixed, w.indptr[rows]) ^ (lengths.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93))
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    return first[inverse]


def _rows_equal(w, rows: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Per row of ``rows``, whether its synapses (targets and weights) equal those of row ``first``."""
    lengths = np.diff(w.indptr)
    same = lengths[rows] == lengths[first]
    candidates = np.flatnonzero(same & (rows != first))
    if candidates.size == 0:
        return same & (rows != first)
    counts = lengths[rows[candidates]]
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    a = np.repeat(w.indptr[rows[candidates]], counts) + offset
    b = np.repeat(w.indptr[first[candidates]], counts) + offset
    bits = np.ascontiguousarray(w.data, np.float64).view(np.uint64)  # the same weights to the bit (a zero's sign too)
    equal = (w.indices[a] == w.indices[b]) & (bits[a] == bits[b])
    ok = np.logical_and.reduceat(equal, np.cumsum(counts) - counts)
    result = np.zeros(rows.size, bool)
    result[candidates[ok]] = True
    return result


def _narrowest(weights: np.ndarray) -> np.ndarray:
    """float64 weights as float32 where every one of them is a float32 value (weights trained
    in float32 are): the kernels widen each back to the same float64 before using it, so the
    sums are the same, and the products read half the bytes."""
    narrow = weights.astype(np.float32)
    return narrow if np.array_equal(narrow, weights) else weights


def add_product(values: np.ndarray, weights, out: np.ndarray, zeroed: bool = False) -> None:
    """out (rows, n_out) += values (rows, n_in) @ weights, ``weights`` from ``kernel_weights``
    (``zeroed``: out is all zeros)."""
    values = np.ascontiguousarray(kernel_values(values))
    with _cores_for(values.size + out.size):
        if isinstance(weights, tuple):
            _sparse_rows(values, *weights, out, zeroed)
        else:
            _dense_rows(values, weights, out)


def warm() -> None:
    """Compile (or load) every kernel for both value types, and the neuron update (``fused_chunk``:
    its one type, spikes through float32 weights)."""
    halves, tenths = np.full((3, 2), 0.5), np.full((3, 2), 0.1)  # float32 values, and not: both weight types
    weights = [kernel_weights(w) for w in (halves, tenths, sparse.csr_matrix(halves), sparse.csr_matrix(tenths))]
    for values in (np.ones((2, 3), np.uint8), np.ones((2, 3))):
        for w in weights:
            add_product(values, w, np.zeros((2, 2)), True)
    state, params = np.zeros((2, 3)), np.ones(3)
    _cuba_step(state, state.copy(), state.copy(), *[params] * 7, True, True, False, True, False, np.zeros((2, 3), bool), np.zeros(2, np.int64))
    line = np.zeros((3, 2, 3), bool)
    _cuba_chunk(np.zeros((2, 2, 3)), line, 1, 0, np.zeros((1, 3, 3)), np.ones(1, np.int64), *[params] * 7, True, True, False, True, False,
                state.copy(), state.copy(), params, state.copy(), True, np.zeros(2, np.int64))
    _fused_chunk(np.ones((1, 2, 3), np.uint8), 1, 2, *weights[2], line, 1, 0, np.zeros((1, 3, 3)), np.ones(1, np.int64), *[params] * 7, True, True,
                 False, True, False, state.copy(), state.copy(), params, state.copy(), True, np.zeros((2, 3), np.int64), np.zeros(2, np.int64))
