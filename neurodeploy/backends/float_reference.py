"""Float reference: the normalised network's NIR semantics in float64 (``--target float``).

Per step, layers run in feed-forward order. A projection from a source computed earlier
in the same step (or from the input) uses that step's values, ``a[t] += W s[t - delay]``;
a projection from a layer not yet computed this step (recurrence, including a layer
feeding itself) uses the previous step's spikes, as snnTorch's RLeaky/RSynaptic do.
There is no per-synapse delay: on Loihi (and in Lava and the CPU backend) every
feed-forward synapse adds one step.

How it runs: the steps are cut into chunks (``CHUNK_BYTES`` bounds a chunk's arrays,
``CHUNK_ROWS`` its samples x steps). Within
a chunk the layers run in order, and a layer's input from the network's input or from an
earlier layer is one matrix product over all of the chunk's steps and samples rather than one
small product per step, event-driven (spikes are mostly zeros): every product adds each row's
nonzero sources one at a time in source order, so a sample's floats are the same in any batch
or shard of samples.
Layers joined by recurrence (a projection from a layer not earlier in the order) step
together within the chunk. The neurons' updates are in place; a plain layer (one spike per
step) of many samples x neurons updates in one compiled pass (``float_kernels.cuba_step``),
giving numpy's floats; a plain layer stepping alone takes the chunk in one compiled call, its
input from spikes through sparse weights made in that call (``_LayerRun.run_fused``).

Updated neurons (``core_counts.py``) follow the same rule as on the fixed-point targets, with
this reference's timing: v nonzero before the step, an event through any stored synapse
(every synapse of a dense projection), a nonzero bias (of v or of the current), or a spike.
"""
from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ..hardware.fixed_point import Reset
from ..ir.stages import INPUT, NormalisedNetwork
from ..neurons import COMPARTMENTS, compartment_of
from .core_counts import CorePlan, StepCounter, updated_mask
from .kernels import split_by_delay
from .results import LayerActivity, RunResult, fill_synops, open_windows, raster_dtype
from .target import RunRequest, Target, recorded

CHUNK_BYTES = 32 << 20  # a chunk's synaptic input of the widest layer (float64, every sample)
# samples x steps a chunk holds at most: more saves no Python overhead, while a narrow layer's
# arrays of many steps outgrow the caches, and fresh memory costs more than the arithmetic
CHUNK_ROWS = 8192
EVENT_ROWS = 256  # rows of source values (samples x steps) from which the event-driven kernels pay for loading numba
# synapse-sample-steps of a run from which they do whatever its rows (a wide network's few samples):
# the cpu target's work threshold for loading numba (pipeline.NUMPY_ENGINE_WORK)
EVENT_WORK = 1e8
RECURRENT_DENSE = 1 << 22  # a layer's weights onto itself (terms x neurons squared) up to which a chunk runs in one compiled call, held dense
STEP_KERNEL_VALUES = 1 << 14  # a layer's samples x neurons from which its update runs in one compiled pass (float_kernels.cuba_step)


@dataclass
class _Term:
    """One projection (one of its delays) into a layer: ``a[t] += source[t - lag] @ weights``."""

    source: str
    lag: int
    weights: object  # (n_source, n) dense array or CSR
    structure: object | None  # CSR of the stored synapses (sparse weights); None: dense, every synapse stored
    internal: bool  # the source steps together with the layer (same recurrent group)
    target_shape: tuple[int, ...] = ()  # the layer's neuron shape (the sparse kernel's order of targets)
    kernel: object = None  # the weights as the event-driven kernels take them (``float_kernels.kernel_weights``), once used


def run_float(
    network: NormalisedNetwork,
    inputs: np.ndarray,
    record_spikes: bool = False,
    record_state: bool = False,
    windows: dict[str, tuple[int, int]] | None = None,
    core_plan: CorePlan | None = None,
    spike_layers: Collection[str] | None = None,
    state_layers: Collection[str] | None = None,
) -> RunResult:
    """Simulate ``inputs`` of shape (steps, batch, n_inputs) (spikes or graded values);
    ``windows`` and ``core_plan`` as in ``run_cpu``; ``spike_layers`` / ``state_layers``: the
    layers whose rasters / u and v are recorded (None: every layer). A layer whose state is not
    recorded keeps its compiled chunk."""
    start = time.perf_counter()
    steps, batch = inputs.shape[:2]
    x_all = inputs.reshape(steps, batch, -1)
    groups = recurrent_groups(network)
    terms, history = _terms(network, groups)
    widest = max([network.n_inputs, *(layer.n_out for layer in network.layers)])
    chunk = int(max(1, min(steps, CHUNK_BYTES // max(1, batch * widest * 8), CHUNK_ROWS // batch)))
    activity = {
        layer.name: LayerActivity(
            layer.name, layer.n_out, spike_counts=np.zeros((batch, layer.n_out), np.int64), updated_neuron_updates=0 if core_plan is not None else None,
        )
        for layer in network.layers
    }
    for layer in network.layers:
        if layer.neurons.several_spikes:
            activity[layer.name].event_counts = np.zeros((batch, layer.n_out), np.int64)
    open_windows(activity, windows)
    names = [layer.name for layer in network.layers]
    spiked, traced = recorded(names, record_spikes, spike_layers), recorded(names, record_state, state_layers)
    rasters = (
        {layer.name: np.zeros((steps, batch, layer.n_out), raster_dtype(layer)) for layer in network.layers if layer.name in spiked}
        if record_spikes
        else None
    )
    traces = (
        {layer.name: {"u": np.zeros((steps, batch, layer.n_out)), "v": np.zeros((steps, batch, layer.n_out))}
         for layer in network.layers if layer.name in traced}
        if record_state
        else None
    )
    out = network.output_layer
    out_v_sum = np.zeros((batch, out.n_out))
    counter = StepCounter(core_plan, batch, steps) if core_plan is not None else None
    synapses = sum(term.weights.nnz if sparse.issparse(term.weights) else np.count_nonzero(term.weights) for layer_terms in terms.values()
                   for term in layer_terms)
    event_driven = batch * chunk >= EVENT_ROWS or float(synapses) * steps * batch >= EVENT_WORK
    runs = {layer.name: _LayerRun(layer, batch, chunk, history[layer.name], activity[layer.name], event_driven) for layer in network.layers}
    for c0 in range(0, steps, chunk):
        c1 = min(steps, c0 + chunk)
        if counter is not None:
            for t in range(c0, c1):
                counter.events(t, INPUT, x_all[t])
        for group in groups:
            if len(group) == 1 and counter is None and group[0] not in (traces or {}) and runs[group[0]].chunked(terms[group[0]]):
                name = group[0]
                v_sum = out_v_sum if name == out.name else None
                if not runs[name].run_fused(terms[name], x_all, runs, c0, c1, v_sum, out.neurons.v_offset):
                    runs[name].run_chunk(_external_input(terms[name], runs[name], x_all, runs, c0, c1), terms[name], c0, v_sum, out.neurons.v_offset)
                continue
            external = {name: _external_input(terms[name], runs[name], x_all, runs, c0, c1) for name in group}
            for t in range(c0, c1):
                for name in group:
                    run = runs[name]
                    a = external[name][t - c0]
                    for term in terms[name]:
                        if term.internal and t - term.lag >= 0:
                            _add_product(_source_at(term, t, c0, x_all, runs), term, a, False, run.event_driven)
                    arrived = _arrived(terms[name], t, c0, x_all, runs, a.shape) if counter is not None else None
                    v_before = run.v.copy() if counter is not None else None
                    s = run.step(a, t - c0)
                    if counter is not None:
                        _count_updates(activity[name], counter, t, name, run.dyn, v_before, arrived, s)
                    if traces is not None and name in traces:
                        traces[name]["u"][t], traces[name]["v"][t] = run.u, run.v
                    if name == out.name:
                        out_v_sum += run.v + out.neurons.v_offset
        for run in runs.values():
            run.close_chunk(c0, c1, rasters)
    for layer in network.layers:
        acts = activity[layer.name]
        acts.spikes = int(acts.spike_counts.sum())
        acts.neuron_updates = layer.n_out * steps * batch
    input_events = fill_synops(network, x_all, activity)
    return RunResult(
        target="float",
        steps=steps,
        batch=batch,
        layers=activity,
        output_layer=out.name,
        output_v_sum=out_v_sum,
        rasters=rasters,
        traces=traces,
        core_counts=counter.result() if counter is not None else None,
        input_events=input_events,
        wall_s=time.perf_counter() - start,
    )


def recurrent_groups(network: NormalisedNetwork) -> list[list[str]]:
    """The layers in order, cut into runs that step together: a layer fed by a layer not
    earlier than itself (recurrence) joins every layer up to that one."""
    layers = network.layers
    position = {layer.name: i for i, layer in enumerate(layers)}
    groups, first = [], 0
    while first < len(layers):
        last = index = first
        while index <= last:
            for p in layers[index].projections:
                if p.source != INPUT and position[p.source] >= index:
                    last = max(last, position[p.source])
            index += 1
        groups.append([layer.name for layer in layers[first : last + 1]])
        first = last + 1
    return groups


def _terms(network: NormalisedNetwork, groups: list[list[str]]) -> tuple[dict[str, list[_Term]], dict[str, int]]:
    """Per layer its terms; per layer the steps of its spikes its consumers read back (the largest lag)."""
    position = {layer.name: i for i, layer in enumerate(network.layers)}
    group_of = {name: g for g, names in enumerate(groups) for name in names}
    terms, history = {}, {layer.name: 0 for layer in network.layers}
    for layer in network.layers:
        terms[layer.name] = []
        for p in layer.projections:
            back_edge = p.source != INPUT and position[p.source] >= position[layer.name]
            internal = p.source != INPUT and group_of[p.source] == group_of[layer.name]
            for delay, w in split_by_delay(p.weight, p.delays).items():
                lag = delay + (1 if back_edge else 0)
                if p.source != INPUT:
                    history[p.source] = max(history[p.source], lag)
                w_t = sparse.csr_matrix(w.T, copy=True) if sparse.issparse(w) else np.ascontiguousarray(w.T)  # a copy: summed apart from the stage
                if sparse.issparse(w_t):
                    w_t.sum_duplicates()  # one entry per synapse: the numpy products add a pass's targets at once
                structure = (w_t != 0).astype(np.int32) if sparse.issparse(w) else None  # dense: every synapse is stored
                terms[layer.name].append(_Term(p.source, lag, w_t, structure, internal, tuple(layer.shape)))
    return terms, history


class _LayerRun:
    """One layer's state during a run, and its spikes of the current chunk after the last
    ``history`` steps of the chunk before (``line``: what its consumers read)."""

    def __init__(self, layer, batch: int, chunk: int, history: int, activity: LayerActivity, event_driven: bool):
        self.name, self.dyn, self.activity, self.history = layer.name, layer.neurons, activity, history
        self.compartment = compartment_of(self.dyn) if self.dyn.compartment != "cuba" else None
        if self.compartment is not None:  # a compartment's state, in its float form
            self.state = self.compartment.float_init(self.dyn, batch)
        else:
            self.state = {"u": np.zeros((batch, layer.n_out)), "v": np.tile(self.dyn.v_initial, (batch, 1))}
            self.fired = np.zeros((batch, layer.n_out), bool)
            self.decays = bool(np.any(self.dyn.alpha != 0))
        self.compiled = event_driven and self.compartment is None and not self.dyn.several_spikes and batch * layer.n_out >= STEP_KERNEL_VALUES
        self.line = np.zeros((history + chunk, batch, layer.n_out), raster_dtype(layer))
        # every product in the event-driven kernels, a step's too, where the run is large enough to pay
        # for loading numba (``run_float``): a wide layer's step in a batch is far faster there than in numpy
        self.event_driven = event_driven
        self.recurrent = None  # (weights (k, n, n), lags (k,)) of its terms onto itself, for ``run_chunk`` and ``run_fused``
        self.buffer = None  # the synaptic input of a chunk, reused from chunk to chunk
        self.counted = False  # the chunk's spikes already in the counts (``run_fused``)

    def input_buffer(self, steps: int) -> np.ndarray:
        """(steps, batch, n) zeros for a chunk's synaptic input, in the memory of the chunk before:
        fresh memory of a wide layer's chunk costs more to map than its arithmetic."""
        if self.buffer is None or self.buffer.shape[0] < steps:
            self.buffer = np.zeros((steps, *self.line.shape[1:]))
            return self.buffer
        a = self.buffer[:steps]
        a.fill(0.0)
        return a

    def chunked(self, terms: list[_Term]) -> bool:
        """Whether the layer, stepping alone, takes each chunk in one compiled call
        (``float_kernels.cuba_chunk``): a plain layer, its weights onto itself (``terms``' internal
        ones) small enough to hold dense, in a run large enough to pay for loading numba."""
        onto_itself = sum(term.internal for term in terms) * self.line.shape[2] ** 2
        return self.compartment is None and not self.dyn.several_spikes and self.event_driven and onto_itself <= RECURRENT_DENSE

    def run_chunk(self, a: np.ndarray, terms: list[_Term], c0: int, v_sum: np.ndarray | None, v_offset) -> None:
        """The chunk starting at step ``c0`` on input ``a`` (steps, batch, n) from earlier layers
        (consumed): the neurons updated, their spikes into ``line``, v + ``v_offset`` of each
        step added to ``v_sum`` if given."""
        from .float_kernels import cuba_chunk

        u, v = self.state["u"], self.state["v"]
        self.activity.active_neuron_updates += cuba_chunk(self.dyn, u, v, a, self.line, self.history, c0, *self.onto_itself(terms), v_sum, v_offset)

    def onto_itself(self, terms: list[_Term]) -> tuple[np.ndarray, np.ndarray]:
        """(weights (k, n, n), lags (k,)) of the layer's ``terms`` onto itself, made once."""
        if self.recurrent is None:
            internal = [term for term in terms if term.internal]
            n = self.line.shape[2]
            weights = [term.weights.toarray() if sparse.issparse(term.weights) else np.asarray(term.weights) for term in internal]
            self.recurrent = (np.array(weights, np.float64).reshape(len(internal), n, n), np.array([term.lag for term in internal], np.int64))
        return self.recurrent

    def run_fused(self, terms: list[_Term], x_all: np.ndarray, runs: dict[str, "_LayerRun"], c0: int, c1: int, v_sum, v_offset) -> bool:
        """``run_chunk`` with its input made in the same compiled call (``float_kernels.fused_chunk``),
        and the spikes counted there, where the layer's input from earlier layers is one term of
        spikes (uint8 or bool) through sparse weights held exactly in float32 (the event-driven
        kernel's one path whose sums it repeats; the numba specialisations stay few); returns
        whether it ran."""
        external = [term for term in terms if not term.internal]
        if len(external) != 1 or not sparse.issparse(external[0].weights):
            return False
        term = external[0]
        source = x_all if term.source == INPUT else runs[term.source].line
        if source.dtype not in (np.uint8, np.bool_):
            return False
        first = max(c0, term.lag)
        from . import float_kernels

        if term.kernel is None:
            term.kernel = float_kernels.kernel_weights(term.weights, term.target_shape)
        if term.kernel[2].dtype != np.float32:
            return False
        if term.source == INPUT:
            rows = x_all[min(first, c1) - term.lag : c1 - term.lag]
        else:
            at = runs[term.source].history - term.lag - c0
            rows = source[at + min(first, c1) : at + c1]
        values = np.ascontiguousarray(float_kernels.kernel_values(rows))
        u, v = self.state["u"], self.state["v"]
        self.activity.active_neuron_updates += float_kernels.fused_chunk(
            self.dyn, u, v, c1 - c0, values, min(first, c1) - c0, term.kernel, self.line, self.history, c0, *self.onto_itself(terms),
            self.activity.spike_counts, v_sum, v_offset,
        )
        self.counted = True
        return True

    @property
    def u(self) -> np.ndarray:
        return self.state["u"]

    @property
    def v(self) -> np.ndarray:
        return self.state["v"]

    def step(self, a: np.ndarray, j: int) -> np.ndarray:
        """One step on synaptic input ``a`` (batch, n) (consumed), at position ``j`` of the chunk:
        the neurons updated, their spikes into ``line``; returns the spikes."""
        dyn = self.dyn
        if self.compiled:  # the same arithmetic in one pass over the layer, samples in parallel
            from .float_kernels import cuba_step

            s = self.line[self.history + j]
            self.activity.active_neuron_updates += cuba_step(dyn, self.state["u"], self.state["v"], a, s)
            return s
        self.activity.active_neuron_updates += int(np.count_nonzero(a))
        if self.compartment is not None:
            s = self.compartment.float_step(dyn, self.state, a)
        else:  # u = alpha u + a + current_bias;  v = beta v + u + bias: in place, in this order
            u, v = self.state["u"], self.state["v"]
            if self.decays:
                u *= dyn.alpha
                u += a
            else:
                np.copyto(u, a)
            u += dyn.current_bias
            v *= dyn.beta
            v += u
            v += dyn.bias
            s = fire_and_reset(dyn, v, self.fired)[0] if dyn.spiking else np.zeros(v.shape, bool)
        self.line[self.history + j] = s
        return s

    def close_chunk(self, c0: int, c1: int, rasters) -> None:
        """The chunk's spikes into the counts and the raster; its last steps kept as history."""
        acts, slab = self.activity, self.line[self.history : self.history + c1 - c0]
        if not self.counted:
            acts.spike_counts += slab.sum(axis=0, dtype=np.int64)
        self.counted = False
        if acts.event_counts is not None:
            acts.event_counts += np.count_nonzero(slab, axis=0)
        if acts.window is not None:
            lo, hi = max(acts.window[0], c0), min(acts.window[1], c1)
            if lo < hi:
                acts.window_counts += slab[lo - c0 : hi - c0].sum(axis=0, dtype=np.int64)
        if rasters is not None and self.name in rasters:
            rasters[self.name][c0:c1] = slab
        if self.history:
            self.line[: self.history] = self.line[c1 - c0 : c1 - c0 + self.history].copy()


def _external_input(terms: list[_Term], run: _LayerRun, x_all: np.ndarray, runs: dict[str, _LayerRun], c0: int, c1: int) -> np.ndarray:
    """(c1 - c0, batch, n) a layer's synaptic input of steps c0..c1 from the input and from
    layers that ran before its group: one product per term over all those steps."""
    a = run.input_buffer(c1 - c0)
    n, zeroed = a.shape[2], True
    for term in terms:
        if term.internal:
            continue
        first = max(c0, term.lag)  # steps before the lag receive nothing
        if first >= c1:
            continue
        if term.source == INPUT:
            rows = x_all[first - term.lag : c1 - term.lag]
        else:
            source = runs[term.source]
            rows = source.line[source.history + first - term.lag - c0 : source.history + c1 - term.lag - c0]
        zeroed = _add_product(rows.reshape(-1, rows.shape[-1]), term, a[first - c0 :].reshape(-1, n), zeroed, run.event_driven) and zeroed
    return a


def _source_at(term: _Term, t: int, c0: int, x_all: np.ndarray, runs: dict[str, _LayerRun]) -> np.ndarray:
    """(batch, n_source) the term's source at step t - lag (t - lag >= 0)."""
    if term.source == INPUT:
        return x_all[t - term.lag]
    source = runs[term.source]
    return source.line[source.history + t - term.lag - c0]


def _add_product(values: np.ndarray, term: _Term, out: np.ndarray, zeroed: bool, event_driven: bool) -> bool:
    """out (rows, n) += values (rows, n_source) @ the term's weights, each row's sums in one
    order whatever rows come with it (the batch, a shard): the row's nonzero sources in source
    order, one at a time (out + value * weight row), so a sample's floats do not depend on how
    many samples run beside it: in the event-driven kernels (numba) where ``event_driven`` (a
    run large enough to load numba: ``run_float``), else in ``_ordered_product`` (the same floats
    without loading numba); ``zeroed``: out is all zeros.
    Returns whether out is unchanged (no nonzero value)."""
    if not np.any(values):
        return True
    if event_driven:
        _event_product(values, term, out, zeroed=zeroed)
    else:
        _ordered_product(values, term.weights, out, zeroed)
    return False


def _ordered_product(values: np.ndarray, weights, out: np.ndarray, zeroed: bool) -> None:
    """out += values @ weights in the event-driven kernels' order, in numpy and scipy. Into zeros:
    scipy's sparse product, which sums each row's products from zero in the order of the row's
    values (a CSR row's sources in order). Onto sums already there (a layer's later terms, a
    step's recurrent input): one row's sources one at a time; several rows' in passes, pass k
    adding each row's k-th source (a row, and so each of its targets, once per pass)."""
    if zeroed:
        product = sparse.csr_matrix(values, dtype=np.float64) @ weights
        out += product.toarray() if sparse.issparse(product) else product
        return
    rows, sources = np.nonzero(values)  # row by row, each row's sources in order
    scales = values[rows, sources].astype(np.float64)
    if out.shape[0] == 1 and not sparse.issparse(weights):
        for j, scale in zip(sources.tolist(), scales.tolist()):
            out[0] += weights[j] if scale == 1.0 else np.multiply(scale, weights[j], dtype=np.float64)  # a spike adds w itself
        return
    unit = bool(np.all(scales == 1.0))
    counts = np.bincount(rows, minlength=out.shape[0])
    rank = np.arange(rows.size) - (np.cumsum(counts) - counts)[rows]  # a value's place among its row's
    order = np.argsort(rank, kind="stable")  # by pass; within one, rows in order
    bounds = np.searchsorted(rank[order], np.arange(rank[order[-1]] + 2))
    for k in range(bounds.size - 1):
        e = order[bounds[k] : bounds[k + 1]]
        if sparse.issparse(weights):  # each source's stored synapses
            starts = weights.indptr[sources[e]]
            fan_out = weights.indptr[sources[e] + 1] - starts
            synapses = np.arange(int(fan_out.sum())) + np.repeat(starts - np.cumsum(fan_out) + fan_out, fan_out)
            add = weights.data[synapses] if unit else weights.data[synapses] * np.repeat(scales[e], fan_out)
            out[np.repeat(rows[e], fan_out), weights.indices[synapses]] += add
        elif e.size == out.shape[0]:  # every row (in order)
            out += weights[sources[e]] if unit else scales[e, None] * weights[sources[e]]
        else:
            out[rows[e]] += weights[sources[e]] if unit else scales[e, None] * weights[sources[e]]


def _event_product(values: np.ndarray, term: _Term, out: np.ndarray, zeroed: bool = False) -> None:
    """out += values @ the term's weights in the event-driven kernels (numba, imported here:
    a small run does without it)."""
    from . import float_kernels

    if term.kernel is None:
        term.kernel = float_kernels.kernel_weights(term.weights, term.target_shape)
    float_kernels.add_product(values, term.kernel, out, zeroed)


def _arrived(terms: list[_Term], t: int, c0: int, x_all: np.ndarray, runs: dict[str, _LayerRun], shape) -> np.ndarray:
    """(batch, n) neurons a synaptic event reaches at step t (over any stored synapse)."""
    arrived = np.zeros(shape, bool)
    for term in terms:
        if t - term.lag < 0:
            continue
        events = _source_at(term, t, c0, x_all, runs) != 0
        arrived |= events.any(axis=1, keepdims=True) if term.structure is None else np.asarray(events.astype(np.int32) @ term.structure) > 0
    return arrived


def fire_and_reset(dyn, v: np.ndarray, fired: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(spikes, v) after the threshold test, the reset and the floor of ``NeuronDynamics``,
    ``v`` updated in place (``fired``: an optional (batch, n) bool array for the test):
    spikes are booleans, or counts (int32) where a neuron fires several spikes per step,
    n = 1 + floor((v - threshold) / reset_amount), computed as floor(v / threshold) where
    the two are equal, the way Sinabs and Rockpool compute it."""
    fired = (np.greater_equal if dyn.inclusive else np.greater)(v, dyn.threshold, out=fired)
    if dyn.several_spikes:
        same = dyn.reset_amount == dyn.threshold
        count = np.where(same, np.floor(v / dyn.threshold), 1.0 + np.floor((v - dyn.threshold) / dyn.reset_amount))
        count = np.where(fired, np.minimum(count, dyn.max_spikes), 0.0)
        v -= count * dyn.reset_amount
        spikes = count.astype(np.int32)
    else:
        if dyn.reset is Reset.ZERO:
            np.copyto(v, 0.0, where=fired)
        else:
            np.subtract(v, dyn.reset_amount, out=v, where=fired)
        spikes = fired
    if dyn.floor is not None:
        np.maximum(v, dyn.floor, out=v)
    return spikes, v


def _count_updates(activity, counter, t, name, dyn, v_before, arrived, s) -> None:
    """A layer's updated neurons and spikes of step ``t`` into the per-core counters."""
    updated = updated_mask(v_before, arrived, (dyn.bias != 0) | (dyn.current_bias != 0), s)
    activity.updated_neuron_updates += int(np.count_nonzero(updated))
    counter.updates(t, name, updated)
    counter.events(t, name, s)


class FloatReference(Target):
    name = "float"
    stage = "normalised"
    bit_exact = False
    summary = "the NIR semantics in floating point: the reference of the report's fidelity section"

    @property
    def compartments(self) -> frozenset[str]:
        """Every registered compartment: each brings its float form."""
        return frozenset(COMPARTMENTS.names())

    def run(self, stage: NormalisedNetwork, inputs: np.ndarray, request: RunRequest) -> RunResult:
        return run_float(
            stage, inputs, record_spikes=request.record_spikes, record_state=request.record_state, windows=request.windows, core_plan=request.core_plan,
            spike_layers=request.spike_layers, state_layers=request.state_layers,
        )

    def learner(self, lowered, compiled, *, sample_steps: int, total_samples: int):
        """The float rule on the layer's float dynamics (``learning_float.py``)."""
        from .learners import FloatLearner

        return FloatLearner(lowered, sample_steps, compiled.normalised.layer(lowered.name))


FLOAT = FloatReference()
