"""The bit-exact backend's numba engine: the arithmetic of ``hardware/fixed_point.py`` in compiled kernels.

The network is packed into flat arrays (neurons of all layers side by side, projections
as per-source synapse lists) and every sample is simulated independently for all steps
inside one compiled call, samples handed to the CPU's cores one at a time as each core
becomes free (``prange`` over workers, an atomic sample counter). Work is
event-driven: only the synapse lists of sources active at a step are read (the input and
every layer list their events once per step).

Every integer operation states Lava's width explicitly (``_wrap32``, the single 24-bit
wrap of u, the clip of v), since numba computes in int64 where numpy's int32 arrays wrap.
Loops index views from 0, so numba can drop its negative-index handling and vectorise.
The numpy step loop in ``cpu.py`` is the readable statement of the same arithmetic; the
tests hold this engine to it and to Lava, spike for spike and register for register.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic
from scipy import sparse

from ..hardware import fixed_point as fx
from ..hardware.fixed_point import Reset
from ..ir.stages import INPUT, QuantisedNetwork
from ..neurons.cuba import QuantisedNeurons
from .kernels import split_by_delay

# The compartments (neurons/compartment.py) this engine has kernels for; a layer's code in
# ``PackedNetwork.compartment`` is its index here. The kernels of the others than CUBA follow
# ``_update_neurons`` below (here, not in their compartment's module: numba's cache notices
# changes to the file of the function it compiled only).
NUMBA_COMPARTMENTS = ("cuba", "extended", "izhikevich")
EXTRA_PARAMS, EXTRA_STATE, LAYER_FLAGS = 5, 3, 5  # rows of x_param and x_state, columns of layer_flags

# How a connection turns the exact weighted sum into its output (see fixed_point.synaptic_output)
SHIFT_THEN_WRAP32, WRAP32_THEN_SHIFT, WRAP24_NO_SHIFT = 0, 1, 2
INPUT_SOURCE = -1


def connection_code(connection: str, graded: bool) -> int:
    if connection == "Conv":
        return WRAP24_NO_SHIFT
    if connection == "DelaySparse" or (graded and connection in ("Dense", "Sparse")):
        return WRAP32_THEN_SHIFT
    return SHIFT_THEN_WRAP32


@dataclass
class PackedNetwork:
    """Flat arrays describing a QuantisedNetwork for the compiled kernel."""

    n_inputs: int
    layer_start: np.ndarray  # (L+1,) neuron offsets
    reset_mode: np.ndarray  # (L,)
    spike_cap: np.ndarray  # (L,) spikes per step: 1, or the cap of a layer whose graded spikes carry counts
    floored: np.ndarray  # (L,) whether the layer clips v from below after the reset (v_floor)
    u_keep: np.ndarray  # (N,) int32 per neuron, as the rest
    v_keep: np.ndarray
    bias: np.ndarray
    vth_eff: np.ndarray  # v fires above this: fixed_point.firing_threshold (inclusive thresholds already lowered by 1)
    reset_sub: np.ndarray
    v_init: np.ndarray
    v_floor: np.ndarray
    u_init: np.ndarray  # (N,) u at each sample start (0 but for Izhikevich)
    compartment: np.ndarray  # (L,) index into NUMBA_COMPARTMENTS
    layer_flags: np.ndarray  # (L, LAYER_FLAGS) a compartment's per-layer settings (see _compartment_arrays)
    x_param: np.ndarray  # (EXTRA_PARAMS, N) int32: per-neuron parameters of compartments other than CUBA
    x_state_init: np.ndarray  # (EXTRA_STATE, N) int32: their extra state at each sample start
    # projections, one per (projection, delay):
    p_source: np.ndarray  # INPUT_SOURCE or a layer index
    p_target: np.ndarray  # layer index
    p_delay: np.ndarray
    p_code: np.ndarray
    p_exp: np.ndarray
    p_graded: np.ndarray
    p_dense: np.ndarray
    p_dense_start: np.ndarray  # offset into dense_w (n_src rows of p_dense_stride bytes), or -1
    p_dense_stride: np.ndarray  # a dense row's length: n_tgt padded with zero weights (see padded_row_length)
    p_ptr_start: np.ndarray  # offset into run_ptr (n_src + 1 entries), or -1
    p_factor: np.ndarray  # dense weights are stored in 8 bits: 2 (mixed, int8), 1 or -1 (uint8)
    dense_w: np.ndarray  # one byte per weight (see _eight_bits): a quarter of int32's memory traffic
    run_ptr: np.ndarray  # sparse synapse lists as runs: source j's runs are run_ptr[j]..run_ptr[j+1]
    runs: np.ndarray  # (n_runs, 3): first target, length, offset into sparse_w of a run of consecutive targets
    sparse_w: np.ndarray
    order: np.ndarray  # (N,) the network's index of the engine's neuron k (see neuron_order)
    depth: int  # ring-buffer slots: 1 + the longest synaptic delay
    state_bits: int
    decay_bits: int
    activation_shift: int
    state_max: int


def _eight_bits(weights: np.ndarray, sign_mode: str) -> tuple[np.ndarray, int]:
    """Dense weights in one byte each, and the factor that restores them: Lava's mixed-sign
    weights are even (2m, m in int8), single-sign ones fit 0..255 once the sign is dropped.
    Sums of the stored bytes times the factor are the exact weight sums."""
    if sign_mode == "mixed":
        return (weights // 2).astype(np.int8).view(np.uint8), 2
    if sign_mode == "inhibitory":
        return (-weights).astype(np.uint8), -1
    return weights.astype(np.uint8), 1


# Dense weight rows are padded with zero weights to a multiple of DENSE_ROW_ALIGN bytes: the
# length of the summing loop's widest vector pass (2 x 32 int16 lanes with AVX-512), so no
# row ends in the short passes and scalar remainder that vectorised loops fall back to. Rows
# shorter than that are padded to NARROW_ROW_ALIGN (one short pass), so that padding never
# more than doubles a row's bytes for rows of 16 targets or more.
DENSE_ROW_ALIGN, NARROW_ROW_ALIGN = 64, 16


def padded_row_length(n_targets: int) -> int:
    """A dense row's stored length: n_targets rounded up to a multiple of DENSE_ROW_ALIGN, or of
    NARROW_ROW_ALIGN below DENSE_ROW_ALIGN (a row ending in a partial vector pass sums markedly
    slower; docs/benchmarks.md)."""
    align = DENSE_ROW_ALIGN if n_targets > DENSE_ROW_ALIGN else NARROW_ROW_ALIGN
    return max(NARROW_ROW_ALIGN, -(-n_targets // align) * align)


def neuron_order(shape: tuple[int, ...]) -> np.ndarray:
    """The engine's order of a layer's neurons, as the layer's own indices: channels last for
    (channels, height, width) layers, so that a convolution's synapse list from one source
    is a few long runs of consecutive targets (one per kernel row: width x channels), not
    many runs of kernel-width length; the given order otherwise."""
    size = int(np.prod(shape))
    if len(shape) != 3:
        return np.arange(size)
    return np.arange(size).reshape(shape).transpose(1, 2, 0).reshape(-1)


def _reorder(weights, target_order: np.ndarray, source_order: np.ndarray):
    """weights (n_out, n_in) with rows and columns in the engine's neuron orders."""
    if _is_identity(target_order) and _is_identity(source_order):
        return weights
    if sparse.issparse(weights):
        return sparse.csr_matrix(weights)[target_order][:, source_order]
    return np.asarray(weights)[np.ix_(target_order, source_order)]


def synapse_runs(indptr: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A CSC matrix's synapse lists (sorted targets) as runs of consecutive targets:
    (run_ptr, runs), where source j's runs are runs[run_ptr[j]:run_ptr[j+1]], each
    (first target, length, offset of its first weight in the CSC data)."""
    nnz = indices.size
    starts = np.ones(nnz, bool)
    starts[1:] = indices[1:] != indices[:-1] + 1
    column_starts = indptr[:-1]
    starts[column_starts[column_starts < nnz]] = True
    offsets = np.flatnonzero(starts)
    lengths = np.diff(np.append(offsets, nnz))
    runs = np.stack([indices[offsets], lengths, offsets], axis=1).astype(np.int64)
    return np.searchsorted(offsets, indptr).astype(np.int64), runs


def _cuba_inclusive(neurons) -> bool:
    """An inclusive CUBA threshold (v >= T, as v > T - 1); the extended kernel takes theta_0 = vth << 6 itself."""
    return bool(neurons.inclusive) and neurons.compartment == "cuba"


def unsupported_reason(network: QuantisedNetwork) -> str | None:
    """Why this engine's int32 arithmetic cannot run ``network`` exactly, or None. The engine
    keeps u, v and the decay products in int32 and sums a step's binary-spike weights in
    int32; profiles with wider formats run on the numpy engine instead (``run_cpu``)."""
    arith = network.arithmetic
    if arith.decay_bits > 15 or arith.state_max >= 2**30 or not 0 <= arith.activation_shift < 32:
        return (
            "the numba engine's int32 update needs decay_bits <= 15, state_bits <= 31 and 0 <= activation_shift < 32; "
            f"the profile has decay_bits {arith.decay_bits}, state_bits {arith.state_bits}, activation_shift {arith.activation_shift}"
        )
    for layer in network.layers:
        if layer.neurons.compartment not in NUMBA_COMPARTMENTS:
            return f"layer {layer.name!r}: the numba engine has no kernel for the {layer.neurons.compartment} compartment"
        for projection in layer.projections:
            if projection.graded_bits == 0 and projection.n_in * (1 << projection.mantissa_bits) >= 2**31:
                return f"layer {layer.name!r}: {projection.n_in} inputs could overflow the numba engine's int32 sums"
    return None


def _effective_bias(neurons) -> np.ndarray:
    """The bias added to v each step: CUBA's mantissa << exponent, Izhikevich's Q8 current."""
    if neurons.compartment == "izhikevich":
        return neurons.bias
    return fx.effective_bias(neurons.bias_mant, neurons.bias_exp)


def _compartment_arrays(layers, per_neuron, arith) -> dict[str, np.ndarray]:
    """The packed arrays of the compartments other than CUBA:

        extended     x_param rows: theta keep, r keep, theta_step, refractory, u bias;  state: theta, r, count
                     flags: zero reset, r_jump, hold_current, guard, inclusive
        izhikevich   x_param rows: a, b, c, d, v_peak;  u_init;  flags: substeps_log2, step_shift
    """
    unity = arith.decay_unity
    flags = np.zeros((len(layers), LAYER_FLAGS), np.int64)
    for i, layer in enumerate(layers):
        neu = layer.neurons
        if neu.compartment == "extended":
            flags[i] = [neu.reset is Reset.ZERO, neu.r_jump, neu.hold_current, neu.guard, neu.inclusive]
        elif neu.compartment == "izhikevich":
            flags[i, :2] = [neu.substeps_log2, neu.step_shift]

    def row(extended, izhikevich=None):
        def value(layer):
            if layer.neurons.compartment == "extended" and extended is not None:
                return extended(layer.neurons)
            if layer.neurons.compartment == "izhikevich" and izhikevich is not None:
                return izhikevich(layer.neurons)
            return np.zeros(layer.n_out, np.int64)

        return per_neuron(value)

    x_param = np.stack([
        row(lambda neu: unity - neu.dtheta.astype(np.int64), lambda neu: neu.a),
        row(lambda neu: unity - neu.dr.astype(np.int64), lambda neu: neu.b),
        row(lambda neu: neu.theta_step, lambda neu: neu.c),
        row(lambda neu: neu.refractory, lambda neu: neu.d),
        row(lambda neu: neu.u_bias, lambda neu: neu.v_peak),
    ])
    x_state_init = np.stack([row(lambda neu: fx.effective_threshold(neu.vth, arith)), row(None), row(None)])
    return {
        "u_init": row(None, lambda neu: neu.u_init),
        "compartment": np.array([NUMBA_COMPARTMENTS.index(layer.neurons.compartment) for layer in layers], np.int64),
        "layer_flags": flags,
        "x_param": np.ascontiguousarray(x_param),
        "x_state_init": np.ascontiguousarray(x_state_init),
    }


def pack(network: QuantisedNetwork) -> PackedNetwork:
    reason = unsupported_reason(network)
    if reason:
        raise ValueError(reason)
    arith = network.arithmetic
    layers = network.layers
    start = np.concatenate([[0], np.cumsum([layer.n_out for layer in layers])]).astype(np.int64)
    index = {layer.name: i for i, layer in enumerate(layers)}

    orders = {layer.name: neuron_order(layer.shape) for layer in layers}
    order = np.concatenate([start[i] + orders[layer.name] for i, layer in enumerate(layers)]).astype(np.int64)

    def per_neuron(f) -> np.ndarray:
        return np.concatenate([np.asarray(f(layer), dtype=np.int64).reshape(-1)[orders[layer.name]] for layer in layers]).astype(np.int32)

    def cuba(f):
        """A CUBA field (the extended compartment has them too), zeros for other compartments."""
        return lambda layer: f(layer) if isinstance(layer.neurons, QuantisedNeurons) else np.zeros(layer.n_out, np.int64)

    proj = {k: [] for k in ("source", "target", "delay", "code", "exp", "graded", "dense", "dense_start", "dense_stride", "ptr_start", "factor")}
    dense_parts, ptr_parts, run_parts, w_parts = [], [], [], []
    dense_len = ptr_len = nnz = 0
    for layer in layers:
        for projection in layer.projections:
            graded = projection.graded_bits > 0
            source_order = np.arange(projection.n_in) if projection.source == INPUT else orders[projection.source]
            for delay, weights in split_by_delay(projection.weights, projection.delays).items():
                weights = _reorder(weights, orders[layer.name], source_order)
                proj["source"].append(INPUT_SOURCE if projection.source == INPUT else index[projection.source])
                proj["target"].append(index[layer.name])
                proj["delay"].append(delay)
                proj["code"].append(connection_code(projection.connection, graded))
                proj["exp"].append(projection.weight_exp)
                proj["graded"].append(graded)
                if sparse.issparse(weights):
                    csc = sparse.csc_matrix(weights)  # column j: the synapse list of source j
                    csc.sort_indices()
                    run_ptr, runs = synapse_runs(csc.indptr, csc.indices)
                    proj["dense"].append(False)
                    proj["dense_start"].append(-1)
                    proj["dense_stride"].append(0)
                    proj["ptr_start"].append(ptr_len)
                    ptr_parts.append(run_ptr + sum(len(r) for r in run_parts))
                    run_parts.append(runs + np.array([0, 0, nnz]))
                    w_parts.append(csc.data)
                    ptr_len += run_ptr.size
                    nnz += csc.nnz
                    proj["factor"].append(1)
                else:
                    rows = np.asarray(weights).T  # (n_src, n_tgt): source j's row of weights
                    stride = padded_row_length(rows.shape[1])
                    padded = np.zeros((rows.shape[0], stride), rows.dtype)
                    padded[:, : rows.shape[1]] = rows
                    stored, factor = _eight_bits(padded.reshape(-1), projection.sign_mode)
                    proj["dense"].append(True)
                    proj["dense_start"].append(dense_len)
                    proj["dense_stride"].append(stride)
                    proj["ptr_start"].append(-1)
                    dense_parts.append(stored)
                    dense_len += stored.size
                    proj["factor"].append(factor)

    def cat(parts, dtype):
        return np.ascontiguousarray(np.concatenate(parts), dtype=dtype) if parts else np.zeros(1, dtype)

    return PackedNetwork(
        n_inputs=network.n_inputs,
        layer_start=start,
        reset_mode=np.array([int(layer.neurons.reset) for layer in layers], np.int64),  # Reset's values: 0 zero, 1 subtract, 2 none
        spike_cap=np.array([layer.neurons.max_spikes if layer.neurons.several_spikes else 1 for layer in layers], np.int64),
        floored=np.array([layer.neurons.v_floor is not None for layer in layers], np.bool_),
        u_keep=per_neuron(cuba(lambda layer: fx.current_keep(layer.neurons.du, arith))),
        v_keep=per_neuron(cuba(lambda layer: fx.voltage_keep(layer.neurons.dv, arith))),
        bias=per_neuron(lambda layer: _effective_bias(layer.neurons)),
        vth_eff=per_neuron(cuba(lambda layer: fx.firing_threshold(layer.neurons.vth, arith, _cuba_inclusive(layer.neurons)))),
        reset_sub=per_neuron(cuba(lambda layer: layer.neurons.reset_sub)),
        v_init=per_neuron(lambda layer: layer.neurons.v_init),
        v_floor=per_neuron(lambda layer: layer.neurons.v_floor if layer.neurons.v_floor is not None else np.zeros(layer.n_out)),
        **_compartment_arrays(layers, per_neuron, arith),
        **{f"p_{k}": np.array(v, dtype=np.bool_ if k in ("graded", "dense") else np.int64) for k, v in proj.items()},
        dense_w=cat(dense_parts, np.uint8),
        run_ptr=cat(ptr_parts, np.int64),
        runs=np.ascontiguousarray(np.concatenate(run_parts), dtype=np.int64) if run_parts else np.zeros((1, 3), np.int64),
        sparse_w=cat(w_parts, np.int16),
        order=order,
        depth=1 + max(proj["delay"], default=0),
        state_bits=arith.state_bits,
        decay_bits=arith.decay_bits,
        activation_shift=arith.activation_shift,
        state_max=arith.state_max,
    )


@dataclass
class PackedCounting:
    """A ``CorePlan`` for the kernel. Sources whose events increment the same counters by the
    same amounts (a dense layer's slice on one core, the input's neurons of one input core) form
    a group, and consecutive sources of one group a run: each step counts a source's events per
    run (a binary search in its sorted event list per run, or one pass over the events where
    runs outnumber them) and applies every touched group's counters once, times its events
    (CSR over groups: ``group_ptr``, ``group_counter``, ``group_inc``). Runs: ``run_stop`` (end,
    exclusive, in the source's own indices) and ``run_group``; source s (each layer in order, then
    the input) owns runs ``source_runs[s]`` to ``source_runs[s + 1]``. Each layer's update is
    split into segments of consecutive engine neurons on one core, whose updated neurons add to
    ``segment_counter``. Without a plan: no counters."""

    n_counters: int
    run_stop: np.ndarray
    run_group: np.ndarray
    source_runs: np.ndarray
    group_ptr: np.ndarray
    group_counter: np.ndarray
    group_inc: np.ndarray
    segment_start: np.ndarray  # (L+1,) each layer's first segment
    segment_lo: np.ndarray  # engine neuron ranges [lo, hi)
    segment_hi: np.ndarray
    segment_counter: np.ndarray


def pack_counting(packed: PackedNetwork, network: QuantisedNetwork | None = None, plan=None) -> PackedCounting:
    starts = packed.layer_start
    as64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)  # noqa: E731
    if plan is None:
        n = int(starts[-1])
        del n
        return PackedCounting(
            0, np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(starts.size + 1, np.int64), np.zeros(2, np.int64), np.zeros(1, np.int64),
            np.zeros(1, np.int64), np.arange(starts.size, dtype=np.int64), starts[:-1].copy(), starts[1:].copy(), np.full(starts.size - 1, -1, np.int64),
        )
    events = sparse.vstack([plan.spike_map[layer.name] for layer in network.layers] + [plan.spike_map[INPUT]]).tocsr()
    events = events[np.concatenate([packed.order, starts[-1] + np.arange(packed.n_inputs)])]
    group, rows = _row_groups(events)
    updated = np.concatenate([plan.updated_counter[layer.name] for layer in network.layers])[packed.order]
    segment_start, lo, hi, counter = [0], [], [], []
    for layer in range(starts.size - 1):
        values = updated[starts[layer] : starts[layer + 1]]
        cuts = np.flatnonzero(np.diff(values)) + 1
        firsts = starts[layer] + np.concatenate([[0], cuts])
        lasts = starts[layer] + np.concatenate([cuts, [values.size]])
        lo += firsts.tolist()
        hi += lasts.tolist()
        counter += values[firsts - starts[layer]].tolist()
        segment_start.append(len(lo))
    bounds = np.append(starts, starts[-1] + packed.n_inputs)  # each source's range in ``group``
    stops, groups, source_runs = [], [], [0]
    for first, last in zip(bounds[:-1], bounds[1:]):
        values = group[first:last]
        ends = np.append(np.flatnonzero(np.diff(values)) + 1, values.size)
        stops += ends.tolist()
        groups += values[ends - 1].tolist()
        source_runs.append(len(stops))
    return PackedCounting(
        plan.n_counters, as64(stops), as64(groups), as64(source_runs), as64(rows.indptr), as64(rows.indices), as64(rows.data),
        as64(segment_start), as64(lo), as64(hi), as64(counter),
    )


def _row_groups(matrix: sparse.csr_matrix) -> tuple[np.ndarray, sparse.csr_matrix]:
    """Each row's group (rows equal in every entry share one) and the groups' rows."""
    matrix.sort_indices()
    keys = [
        (tuple(matrix.indices[a:b].tolist()), tuple(matrix.data[a:b].tolist()))
        for a, b in zip(matrix.indptr[:-1], matrix.indptr[1:])
    ]
    index: dict = {}
    group = np.array([index.setdefault(key, len(index)) for key in keys], np.int64)
    firsts = np.zeros(len(index), np.int64)
    firsts[group[::-1]] = np.arange(group.size)[::-1]
    return group, matrix[firsts].tocsr()


@dataclass
class EngineOutput:
    spike_counts: np.ndarray  # (B, N)
    window_counts: np.ndarray  # (B, N)
    active: np.ndarray  # (B, L) neuron-steps with nonzero synaptic input
    updated: np.ndarray  # (B, L) neuron-steps updated in SANA-FE's sense (core_counts.py)
    u_wraps: np.ndarray  # (B, L)
    v_saturations: np.ndarray  # (B, L)
    out_v_sum: np.ndarray  # (B, n_out)
    input_events: np.ndarray  # (n_in,) nonzero inputs per input index, over all samples and steps
    count_totals: np.ndarray  # (n_counters,) a CorePlan's counters over all samples and steps (empty without one)
    rasters: np.ndarray | None  # (T, B, N'): 0/1, or spike counts where the network has layers firing several per step
    u_trace: np.ndarray | None  # (T, B, N''): rasters and traces hold the recorded layers' neurons only, in the network's order
    v_trace: np.ndarray | None
    event_counts: np.ndarray  # (B, N): steps in which a neuron of a counting layer fired (zeros elsewhere)
    x_trace: np.ndarray | None = None  # (T, B, EXTRA_STATE, N''): the extra state of compartments other than CUBA
    peaks: np.ndarray | None = None  # (B, L, 2): per sample and layer, the largest |u| and |v| after any step


def run_engine(
    packed: PackedNetwork,
    inputs: np.ndarray,
    out_layer: int,
    window_start: np.ndarray,
    window_stop: np.ndarray,
    record_spikes: bool,
    record_state: bool,
    core_counting: PackedCounting | None = None,
    step_counts: np.ndarray | None = None,
    first_sample: int = 0,
    record_peaks: bool = False,
    spike_layers: np.ndarray | None = None,
    state_layers: np.ndarray | None = None,
) -> EngineOutput:
    """Simulate ``inputs`` (steps, batch, n_inputs). With a plan in ``core_counting``, each step's
    counters of sample ``first_sample + b`` go to ``step_counts[first_sample + b]`` while that
    index is below ``len(step_counts)``. ``record_peaks``: each sample's largest |u| and |v| per
    layer (``EngineOutput.peaks``), taken in the step loop, without traces. ``spike_layers`` /
    ``state_layers``: per layer (bool), whether its raster / state is recorded (None: every layer);
    the recorded layers' neurons lie side by side in the rasters and traces (``recorded_offsets``)."""
    steps, batch = inputs.shape[:2]
    core_counting = core_counting if core_counting is not None else pack_counting(packed)
    step_counts = step_counts if step_counts is not None else np.zeros((0, 1, 1), np.int32)
    if steps >= 2**31:
        raise ValueError(f"{steps} steps: the engine counts spikes per sample in int32")
    x = inputs.reshape(steps, batch, -1)
    n = int(packed.layer_start[-1])
    layers = packed.reset_mode.size
    sizes = np.diff(packed.layer_start)
    raster_at, n_spiked = recorded_offsets(sizes, spike_layers if record_spikes else np.zeros(layers, bool))
    state_at, n_traced = recorded_offsets(sizes, state_layers if record_state else np.zeros(layers, bool))
    record_counts = record_spikes and bool(np.any(packed.spike_cap > 1))
    rasters = np.zeros((steps, batch, n_spiked) if record_spikes and not record_counts else (1, 1, 1), np.uint8)
    count_rasters = np.zeros((steps, batch, n_spiked) if record_counts else (1, 1, 1), np.int32)
    counting = bool(np.any(packed.spike_cap > 1))
    event_counts = np.zeros((batch, n) if counting else (1, 1), np.int64)
    u_trace = np.zeros((steps, batch, n_traced) if record_state else (1, 1, 1), np.int32)
    v_trace = np.zeros((steps, batch, n_traced) if record_state else (1, 1, 1), np.int32)
    extra = record_state and bool(np.any((packed.compartment != 0) & (state_at >= 0)))
    x_trace = np.zeros((steps, batch, EXTRA_STATE, n_traced) if extra else (1, 1, 1, 1), np.int32)
    spike_counts = np.zeros((batch, n), np.int64)
    window_counts = np.zeros((batch, n), np.int64)
    stats = np.zeros((batch, layers, 4), np.int64)  # active inputs, u wraps, v saturations, updated
    peaks = np.zeros((batch, layers, 2) if record_peaks else (1, 1, 2), np.int64)
    out_v_sum = np.zeros((batch, int(packed.layer_start[out_layer + 1] - packed.layer_start[out_layer])), np.int64)
    input_events = np.zeros((numba.get_num_threads(), x.shape[2]), np.int64)  # one row per thread
    count_totals = np.zeros((numba.get_num_threads(), max(core_counting.n_counters, 1)), np.int64)
    p, c = packed, core_counting
    _simulate(
        x,
        p.layer_start, p.reset_mode, p.spike_cap, p.floored, p.u_keep, p.v_keep, p.bias, p.vth_eff, p.reset_sub, p.v_init, p.v_floor,
        p.u_init, p.compartment, p.layer_flags, p.x_param, p.x_state_init,
        p.p_source, p.p_target, p.p_delay, p.p_code, p.p_exp, p.p_graded, p.p_dense, p.p_dense_start, p.p_dense_stride, p.p_ptr_start, p.p_factor,
        p.dense_w, p.dense_w.view(np.int8), p.run_ptr, p.runs, p.sparse_w,
        p.depth, p.state_bits, p.decay_bits, p.activation_shift, p.state_max,
        window_start, window_stop, out_layer, record_spikes and not record_counts, record_state, record_counts,
        rasters, count_rasters, u_trace, v_trace, spike_counts, window_counts, stats, out_v_sum, input_events, counting, event_counts,
        min(batch, numba.get_num_threads()), np.zeros(1, np.int64), x_trace, extra, raster_at, state_at,
        c.n_counters, c.run_stop, c.run_group, c.source_runs, c.group_ptr, c.group_counter, c.group_inc,
        c.segment_start, c.segment_lo, c.segment_hi, c.segment_counter, step_counts, first_sample, count_totals, record_peaks, peaks,
    )
    lo, hi = packed.layer_start[out_layer], packed.layer_start[out_layer + 1]
    restore = _restore(packed.order)  # per-neuron results back in the network's order (window counts: all zero without a window, left as they are)
    out_restore = _restore(packed.order[lo:hi] - lo)
    spiked, traced = _restore(_recorded_order(packed, raster_at)), _restore(_recorded_order(packed, state_at))
    return EngineOutput(
        restore(spike_counts),
        restore(window_counts) if np.any(window_start < window_stop) else window_counts,
        stats[:, :, 0],
        stats[:, :, 3],
        stats[:, :, 1],
        stats[:, :, 2],
        out_restore(out_v_sum),
        input_events.sum(axis=0),
        count_totals.sum(axis=0)[: core_counting.n_counters],
        (spiked(count_rasters) if record_counts else spiked(rasters)) if record_spikes else None,
        traced(u_trace) if record_state else None,
        traced(v_trace) if record_state else None,
        restore(event_counts) if counting else event_counts,
        traced(x_trace) if extra else None,
        peaks if record_peaks else None,
    )


def recorded_offsets(sizes: np.ndarray, selected: np.ndarray | None) -> tuple[np.ndarray, int]:
    """(per layer, where its neurons start in a recording of the ``selected`` layers (bool per
    layer; None: every layer), -1 for a layer not recorded; the recording's width)."""
    chosen = np.ones(sizes.size, bool) if selected is None else np.asarray(selected, bool)
    widths = np.where(chosen, sizes, 0)
    starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
    return np.where(chosen, starts, -1).astype(np.int64), int(widths.sum())


def _recorded_order(packed: PackedNetwork, at: np.ndarray) -> np.ndarray:
    """``packed.order`` for a recording of the layers with an offset in ``at`` (``recorded_offsets``)."""
    parts = [packed.order[lo:hi] - lo + at[i] for i, (lo, hi) in enumerate(zip(packed.layer_start[:-1], packed.layer_start[1:])) if at[i] >= 0]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def _is_identity(order: np.ndarray) -> bool:
    return bool(np.array_equal(order, np.arange(order.size)))


def _restore(order: np.ndarray):
    """A function taking arrays (..., N) in the engine's neuron order to the network's."""
    if _is_identity(order):
        return lambda values: values
    position = np.argsort(order)  # network index -> engine position
    return lambda values: values[..., position]


# --------------------------------------------------------------------------- kernels
I32, U64 = np.int32, np.uint64
# The step loop's kernels are inlined into _simulate (numba IR): a call passes every array as
# seven values, and a step makes a dozen calls, which dominated small networks' steps. The
# price is a longer first compilation (cached after the first run).


@intrinsic
def _fetch_add(typingctx, array, index, value):
    """array[index] += value as one atomic operation; returns the value before the addition
    (numba has no atomics: this is LLVM's ``atomicrmw add``). Lets the cores claim samples
    one at a time from a shared counter."""
    signature = array.dtype(array, index, value)

    def codegen(context, builder, sig, args):
        array_type = sig.args[0]
        pointer = cgutils.get_item_pointer(context, builder, array_type, context.make_array(array_type)(context, builder, args[0]), [args[1]])
        return builder.atomic_rmw("add", pointer, context.cast(builder, args[2], sig.args[2], array_type.dtype), "monotonic")

    return signature, codegen


@intrinsic
def _ashr32(typingctx, x, shift):
    """x >> shift in int32 (arithmetic), for 0 <= shift < 32. Numba computes every integer
    operation in int64, and LLVM cannot narrow a shift by a variable amount back to int32
    (it would have to know the amount is below 32), so a plain ``>>`` in a vectorised loop
    becomes int32-to-int64 conversions, a 64-bit shift and a conversion back, at twice the
    cost per element of int32 vectors. This emits LLVM's ``ashr i32``."""

    def codegen(context, builder, sig, args):
        return builder.ashr(context.cast(builder, args[0], sig.args[0], types.int32), context.cast(builder, args[1], sig.args[1], types.int32))

    return types.int32(x, shift), codegen


@intrinsic
def _shl32(typingctx, x, shift):
    """The low 32 bits of x << shift (``shl i32``), for 0 <= shift < 32; see ``_ashr32``."""

    def codegen(context, builder, sig, args):
        return builder.shl(context.cast(builder, args[0], sig.args[0], types.int32), context.cast(builder, args[1], sig.args[1], types.int32))

    return types.int32(x, shift), codegen


@numba.njit(inline="always")
def _wrap32(x):
    return ((x + 2147483648) & 4294967295) - 2147483648


@numba.njit(inline="always")
def _decay(x, keep, decay_bits, low_mask):
    """sign(x) * ((|x| * keep) >> decay_bits), rounding towards zero, in int32 alone: with
    |x| = hi * 2**decay_bits + lo, (|x| * keep) >> decay_bits = hi * keep + ((lo * keep) >> decay_bits),
    and both terms stay below 2**31 for |x| < 2**31, keep <= 2**decay_bits, decay_bits <= 15
    (``pack`` checks). Int32 lanes are twice as many per vector instruction as int64 or float64."""
    magnitude = I32(abs(x))
    kept = I32(I32(_ashr32(magnitude, decay_bits) * keep) + _ashr32(I32(I32(magnitude & low_mask) * keep), decay_bits))
    return I32(-kept) if x < 0 else kept


@numba.njit(cache=True, inline="always")
def _update_neurons(a_in, u, v, u_keep, v_keep, bias, vth_eff, reset_sub, mode, half, decay_bits, activation_shift, state_max, spikes, arrived, any_arrived,
                    keep_updated):
    """One step of one layer's neurons (every array is that layer's slice): Lava's CUBA
    update, element-wise and branch-free so that it vectorises, with every int32 wrap stated
    and the variable-width shifts in int32 (``_ashr32``, ``_shl32``): only the counters
    stay int64 vectors.
    Consumes the synaptic input ``a_in`` (its slot of the ring buffer) and the arrival marks
    ``arrived`` (a synaptic event reached the neuron through a sparse projection; through a
    dense one, ``any_arrived`` says so for all), writes ``spikes``, and leaves in ``arrived``
    whether each neuron was updated (v nonzero before, an event, a bias or a spike) if
    ``keep_updated`` is 1, else 0; returns (inputs nonzero, u wraps, v clips, updated neurons),
    counted in int32 (a layer has < 2**31 neurons)."""
    half32, neg_half, two_half = I32(half), I32(-half), I32(2 * half)
    limit, neg_limit = I32(state_max), I32(-state_max)
    low_mask = I32((1 << decay_bits) - 1)
    subtract, fires = mode == 1, mode != 2  # mode: the layer's Reset value (0 zero, 1 subtract, 2 none)
    n_active = n_wrapped = n_saturated = n_updated = I32(0)
    for i in range(a_in.size):
        current_in = a_in[i]
        a_in[i] = 0
        was_set = (v[i] != 0) | (arrived[i] != 0) | any_arrived | (bias[i] != 0)
        # u = wrap24_once(int32(decay(u) + int32(a_in << 6)))
        current = I32(_decay(u[i], u_keep[i], decay_bits, low_mask) + _shl32(current_in, activation_shift))
        above, below = current > half32, current <= neg_half
        current = I32(current - two_half) if above else (I32(current + two_half) if below else current)
        u[i] = current
        # v = clip(int32(decay(v) + u + bias)); spike if v > vth << 6; reset
        summed = I32(I32(_decay(v[i], v_keep[i], decay_bits, low_mask) + current) + bias[i])
        voltage = limit if summed > limit else (neg_limit if summed < neg_limit else summed)
        spike = (voltage > vth_eff[i]) & fires
        reset_to = I32(voltage - reset_sub[i]) if subtract else I32(0)
        v[i] = reset_to if spike else voltage
        spikes[i] = spike
        n_active += I32(current_in != 0)
        n_wrapped += I32(above | below)
        n_saturated += I32(summed != voltage)
        updated = I32(was_set | spike)
        arrived[i] = updated * keep_updated
        n_updated += updated
    return n_active, n_wrapped, n_saturated, n_updated


@numba.njit(cache=True)  # a call, not inlined like the others: only counting and floored layers pay for it, not _simulate's compile time
def _update_neurons_ext(
    a_in, u, v, u_keep, v_keep, bias, vth_eff, reset_sub, mode, half, decay_bits, activation_shift, state_max, spikes, cap, floored, v_floor, payload,
    arrived, any_arrived, keep_updated,
):
    """``_update_neurons`` for a layer with a membrane floor or several spikes per step, kept
    apart so that every other layer runs the plain loop. After the reset, v = max(v, v_floor)
    where the layer is ``floored``; with ``cap`` > 1 (subtractive reset) a neuron fires
    n = min(cap, 1 + (v - vth_eff - 1) // reset_sub) spikes and loses n * reset_sub, and
    ``payload`` holds n, what its graded spike carries (``fixed_point.fire_and_reset``).
    Updated neurons are counted and marked as by ``_update_neurons``."""
    half32, neg_half, two_half = I32(half), I32(-half), I32(2 * half)
    limit, neg_limit = I32(state_max), I32(-state_max)
    low_mask = I32((1 << decay_bits) - 1)
    subtract, fires = mode == 1, mode != 2
    n_active = n_wrapped = n_saturated = n_updated = I32(0)
    for i in range(a_in.size):
        current_in = a_in[i]
        a_in[i] = 0
        was_set = (v[i] != 0) | (arrived[i] != 0) | any_arrived | (bias[i] != 0)
        current = I32(_decay(u[i], u_keep[i], decay_bits, low_mask) + _shl32(current_in, activation_shift))
        above, below = current > half32, current <= neg_half
        current = I32(current - two_half) if above else (I32(current + two_half) if below else current)
        u[i] = current
        summed = I32(I32(_decay(v[i], v_keep[i], decay_bits, low_mask) + current) + bias[i])
        voltage = limit if summed > limit else (neg_limit if summed < neg_limit else summed)
        spike = (voltage > vth_eff[i]) & fires
        count = np.int64(0)
        after = np.int64(voltage)
        if spike:
            if cap > 1:
                count = min(cap, 1 + (np.int64(voltage) - vth_eff[i] - 1) // reset_sub[i])
                after = voltage - count * reset_sub[i]
            else:
                count = 1
                after = voltage - reset_sub[i] if subtract else 0
        if floored and after < v_floor[i]:
            after = v_floor[i]
        v[i] = I32(after)
        spikes[i] = spike
        payload[i] = I32(count)
        n_active += I32(current_in != 0)
        n_wrapped += I32(above | below)
        n_saturated += I32(summed != voltage)
        updated = I32(was_set | spike)
        arrived[i] = updated * keep_updated
        n_updated += updated
    return n_active, n_wrapped, n_saturated, n_updated


@numba.njit(cache=True)
def _decay64(x, keep, decay_bits):
    """sign(x keep) (|x keep| >> decay_bits), the product in int64 (exact for any int32 x)."""
    product = np.int64(x) * np.int64(keep)
    return -((-product) >> decay_bits) if product < 0 else product >> decay_bits


@numba.njit(cache=True)
def _update_extended(a_in, u, v, u_keep, v_keep, bias, theta_0, reset_sub, params, extra, flags, half, decay_bits, activation_shift, state_max, spikes,
                     arrived, any_arrived, keep_updated):
    """One step of one layer of the extended compartment (``neurons/extended.py``), in int64
    with every int32 wrap of Lava's registers stated (this compartment is not a hot path:
    exactness over lanes). ``params`` rows: theta keep, r keep, theta_step, refractory, u bias;
    ``extra`` rows: theta, r, count; ``flags``: zero reset, r_jump, hold_current, guard, inclusive.
    Updated neurons are counted and marked as by ``_update_neurons`` (the bias: v's or u's)."""
    zero_reset, r_jump, hold_current, guard, inclusive = flags[0] != 0, flags[1], flags[2] != 0, flags[3] != 0, flags[4] != 0
    theta, r, count = extra[0], extra[1], extra[2]
    n_active = n_wrapped = n_saturated = n_updated = 0
    for i in range(a_in.size):
        current_in = np.int64(a_in[i])
        a_in[i] = 0
        was_set = (v[i] != 0) | (arrived[i] != 0) | any_arrived | (bias[i] != 0) | (params[4, i] != 0)
        held = count[i] > 0
        over = guard and v[i] > theta[i]
        current = _wrap32(_decay64(u[i], u_keep[i], decay_bits) + _wrap32(current_in << activation_shift) + params[4, i])
        wrapped = current > half or current <= -half
        if current > half:
            current -= 2 * half
        elif current <= -half:
            current += 2 * half
        if held and hold_current:
            current = 0
        summed = _wrap32(_decay64(v[i], v_keep[i], decay_bits) + current + np.int64(bias[i]))
        voltage = min(max(summed, -state_max), state_max)
        if held:
            voltage = np.int64(v[i])
            count[i] -= 1
        elif voltage != summed:
            n_saturated += 1
        threshold = _wrap32(_wrap32(_decay64(_wrap32(np.int64(theta[i]) - theta_0[i]), params[0, i], decay_bits)) + theta_0[i])
        refractory_state = _wrap32(_decay64(r[i], params[1, i], decay_bits))
        level = _wrap32(voltage - refractory_state)
        limit = _wrap32(threshold * 2) if over else threshold
        fire = not held and (level >= limit if inclusive else level > limit)
        if fire:
            voltage = 0 if zero_reset else _wrap32(voltage - reset_sub[i])
            refractory_state = _wrap32(refractory_state + _wrap32(r_jump * threshold))
            threshold = _wrap32(threshold + params[2, i])
            count[i] = params[3, i]
            if hold_current:
                current = 0
                voltage = 0
        u[i] = current
        v[i] = voltage
        theta[i] = threshold
        r[i] = refractory_state
        spikes[i] = fire
        n_active += current_in != 0
        n_wrapped += wrapped
        updated = I32(was_set | fire)
        arrived[i] = updated * keep_updated
        n_updated += updated
    return n_active, n_wrapped, n_saturated, n_updated


@numba.njit(cache=True)
def _count_payload(events, payload, counts, window, in_window, values, sent):
    """``_count_events`` for a layer firing several spikes per step: each spiking neuron adds its
    count n (and one graded spike to ``sent``), and ``values`` (aligned with ``events``)
    receives n for the graded synapses."""
    for k in range(events.size):
        n = payload[events[k]]
        counts[events[k]] += n
        sent[events[k]] += 1
        values[k] = n
    if in_window:
        for k in range(events.size):
            window[events[k]] += payload[events[k]]


@numba.njit(cache=True)
def _record_counts(row, layer_start, spike_cap, spikes, payload, at):
    """One step's raster row as spike counts: a counting layer's payloads, the others' 0/1;
    each recorded layer's at its offset ``at`` (-1: not recorded)."""
    for layer in range(spike_cap.size):
        lo, hi, first = layer_start[layer], layer_start[layer + 1], at[layer]
        if first < 0:
            continue
        if spike_cap[layer] > 1:
            row[first : first + hi - lo] = payload[lo:hi]
        else:
            row[first : first + hi - lo] = spikes[lo:hi]


@numba.njit(cache=True)
def _record_layers(row, values, layer_start, at):
    """One step's values of the recorded layers into ``row``, each at its offset ``at`` (-1: not recorded)."""
    for layer in range(at.size):
        first = at[layer]
        if first >= 0:
            lo, hi = layer_start[layer], layer_start[layer + 1]
            row[first : first + hi - lo] = values[lo:hi]


@numba.njit(cache=True)
def _round_shift(x, s):
    """x / 2**s rounded half up (arithmetic shift); s = 0 returns x."""
    return x if s == 0 else (x + (np.int64(1) << (s - 1))) >> s


@numba.njit(cache=True)
def _update_izhikevich(a_in, u, v, bias, params, flags, spikes, arrived, any_arrived, keep_updated):
    """One step of one layer of the Izhikevich compartment (``neurons/izhikevich.py``), in
    int64; ``params`` rows: a, b, c, d, v_peak; ``flags``: substeps_log2, step_shift. Updated
    neurons are counted and marked as by ``_update_neurons``."""
    limit = np.int64((1 << 23) - 1)
    substeps, shift = 1 << flags[0], flags[1]
    n_active = n_saturated = n_updated = 0
    for i in range(a_in.size):
        current_in = np.int64(a_in[i])
        a_in[i] = 0
        was_set = (v[i] != 0) | (arrived[i] != 0) | any_arrived | (bias[i] != 0)
        raw = np.int64(bias[i]) + (current_in << 6)
        current = min(max(raw, -limit), limit)
        n_saturated += current != raw
        volt, rec = np.int64(v[i]), np.int64(u[i])
        a, b, c, d, peak = np.int64(params[0, i]), np.int64(params[1, i]), np.int64(params[2, i]), np.int64(params[3, i]), np.int64(params[4, i])
        fired = False
        for _ in range(substeps):
            square = _round_shift(_round_shift(volt * volt, 8) * 2621, 16)
            dv = square + 5 * volt + (140 << 8) - _round_shift(rec, 4) + current
            du = _round_shift(a * (_round_shift(b * volt, 12) - rec), 16)
            v_raw, u_raw = volt + _round_shift(dv, shift), rec + _round_shift(du, shift)
            volt, rec = min(max(v_raw, -limit), limit), min(max(u_raw, -limit), limit)
            n_saturated += (volt != v_raw) + (rec != u_raw)
            if volt >= peak:
                volt = c
                rec = min(max(rec + d, -limit), limit)
                fired = True
        u[i] = rec
        v[i] = volt
        spikes[i] = fired
        n_active += current_in != 0
        updated = I32(was_set | fired)
        arrived[i] = updated * keep_updated
        n_updated += updated
    return n_active, 0, n_saturated, n_updated


@numba.njit(cache=True)  # a call, not inlined: only runs that ask for peaks pay for it, not _simulate's compile time
def _take_peaks(u, v, peak):
    """peak[0] = max(peak[0], |u|), peak[1] = max(peak[1], |v|) over a layer's neurons (int64:
    |int32| may not fit int32)."""
    largest_u, largest_v = peak[0], peak[1]
    for i in range(u.size):
        largest_u = max(largest_u, abs(np.int64(u[i])))
        largest_v = max(largest_v, abs(np.int64(v[i])))
    peak[0], peak[1] = largest_u, largest_v


@numba.njit(cache=True, inline="always")
def _list_events(spikes, events):
    """Indices of the spiking neurons, into ``events``; returns how many. Branch-free (every
    index is written, the count advances on a spike): no mispredicted branches on random spikes."""
    count = 0
    for i in range(spikes.size):
        events[count] = i
        count += spikes[i] != 0
    return count


@numba.njit(cache=True, inline="always")
def _count_events(events, counts, window, in_window):
    """counts (and, in the layer's counting window, window) += 1 at each spiking neuron:
    one increment per spike, where counting in the update loop loaded and stored both counters
    for every neuron at every step."""
    for k in range(events.size):
        counts[events[k]] += 1
    if in_window:
        for k in range(events.size):
            window[events[k]] += 1


# Block lengths whose byte sums cannot overflow the 16-bit partial sums
ROWS_PER_INT16_SUM = 255  # signed bytes: 255 * -128 = -32640 >= -32768
ROWS_PER_UINT16_SUM = 257  # unsigned bytes: 257 * 255 = 65535


@numba.njit(cache=True, inline="always")
def _add_rows(rows, active, first, last, base, size, part):
    """part += rows active[first:last] (each ``size`` long from ``base``), four rows per pass:
    a quarter of the loads and stores of ``part``. Numba's store into the 16-bit ``part`` keeps the low 16 bits, which
    the caller's block length makes the exact sum."""
    k = first
    while k + 4 <= last:
        a = rows[base + active[k] * size : base + active[k] * size + size]
        b = rows[base + active[k + 1] * size : base + active[k + 1] * size + size]
        c = rows[base + active[k + 2] * size : base + active[k + 2] * size + size]
        d = rows[base + active[k + 3] * size : base + active[k + 3] * size + size]
        for i in range(size):
            part[i] = part[i] + a[i] + b[i] + c[i] + d[i]
        k += 4
    while k < last:
        a = rows[base + active[k] * size : base + active[k] * size + size]
        for i in range(size):
            part[i] = part[i] + a[i]
        k += 1


@numba.njit(cache=True, inline="always")
def _add_rows_in_blocks(rows, active, base, block, acc, part):
    """acc = the sum of the rows of ``active`` (each ``part.size`` long, padded past
    ``acc.size``; at least one row), summed in 16 bits over blocks of ``block`` rows."""
    stride = part.size
    for first in range(0, active.size, block):
        last = min(active.size, first + block)
        for i in range(stride):
            part[i] = 0
        _add_rows(rows, active, first, last, base, stride, part)
        if first == 0:  # the first block sets acc: no pass to zero it
            for i in range(acc.size):
                acc[i] = part[i]
        else:
            for i in range(acc.size):
                acc[i] += part[i]


@numba.njit(cache=True, inline="always")
def _accumulate_spikes(active, dense, factor, dense_w, dense_w_signed, base, stride, run_ptr, ptr, runs, sparse_w, acc, partial, partial_unsigned,
                       arrived, mark):
    """acc[i] = sum over the active sources j of the stored weight(j, i), in int32: exact,
    as a sum of at most n_src 8-bit weights (``pack`` checks the bound). Dense rows are
    ``stride`` bytes: signed (mixed sign, factor 2) or unsigned (factor 1 or -1); the weight
    is the stored byte times the factor, which ``_deliver`` applies. They are summed in 16
    bits (twice the lanes of int32 per vector instruction) over blocks short enough that
    the sum cannot overflow, then into acc. Sparse synapse lists are added run by run
    (consecutive targets: contiguous, so it vectorises); their weights are stored whole. With
    ``mark``, every target a sparse synapse list reaches is also marked in ``arrived``."""
    size = acc.size
    if dense and factor == 2:
        _add_rows_in_blocks(dense_w_signed, active, base, ROWS_PER_INT16_SUM, acc, partial[:stride])
    elif dense:
        _add_rows_in_blocks(dense_w, active, base, ROWS_PER_UINT16_SUM, acc, partial_unsigned[:stride])
    else:
        for i in range(size):
            acc[i] = 0
        for k in range(active.size):
            j = active[k]
            for r in range(run_ptr[ptr + j], run_ptr[ptr + j + 1]):
                # unsigned indices: numba adds no negative-index handling, so the run vectorises
                first, length, offset = U64(runs[r, 0]), U64(runs[r, 1]), U64(runs[r, 2])
                if mark:
                    for i in range(length):
                        acc[first + i] += sparse_w[offset + i]
                        arrived[first + i] = 1
                else:
                    for i in range(length):
                        acc[first + i] += sparse_w[offset + i]


@numba.njit(cache=True, inline="always")
def _accumulate_graded(active, values, dense, factor, dense_w, dense_w_signed, base, stride, run_ptr, ptr, runs, sparse_w, acc):
    """acc[i] = sum over the active sources j of weight(j, i) * value(j), exact in int64."""
    size = acc.size
    for i in range(size):
        acc[i] = 0
    for k in range(active.size):
        j, value = active[k], values[k]
        if dense:
            start = base + j * stride
            for i in range(size):
                stored = np.int64(dense_w_signed[start + i]) if factor == 2 else np.int64(dense_w[start + i])
                acc[i] += stored * factor * value
        else:
            for r in range(run_ptr[ptr + j], run_ptr[ptr + j + 1]):
                first, length, offset = U64(runs[r, 0]), U64(runs[r, 1]), U64(runs[r, 2])
                for i in range(length):
                    acc[first + i] += np.int64(sparse_w[offset + i]) * value


@numba.njit(cache=True, inline="always")
def _mark_arrivals(active, run_ptr, ptr, runs, arrived):
    """arrived[i] = 1 for every target i of the active sources' synapse lists (a memset per run)."""
    for k in range(active.size):
        j = active[k]
        for r in range(run_ptr[ptr + j], run_ptr[ptr + j + 1]):
            first, length = U64(runs[r, 0]), U64(runs[r, 1])
            for i in range(length):
                arrived[first + i] = I32(1)


@numba.njit(cache=True, inline="always")
def _deliver(totals, scale, target, code, exponent):
    """Add each connection output (of the exact weighted sums ``totals * scale``) into the
    ring-buffer slot, wrapping as Lava's int32 buffers. The connection and the exponent's
    sign are decided outside the loops."""
    if code == 2:  # Conv: 24-bit wrap, no exponent
        for i in range(target.size):
            target[i] = _wrap32(np.int64(target[i]) + ((np.int64(totals[i]) * scale + 8388608) & 16777215) - 8388608)
    elif code == 1 and exponent >= 0:  # an int32 product, then a left shift in int32
        for i in range(target.size):
            target[i] = _wrap32(np.int64(target[i]) + _wrap32(_wrap32(np.int64(totals[i]) * scale) << exponent))
    elif code == 1:
        for i in range(target.size):
            target[i] = _wrap32(np.int64(target[i]) + (_wrap32(np.int64(totals[i]) * scale) >> (-exponent)))
    elif exponent >= 0:  # the int64 sum shifted, then the int32 channel
        for i in range(target.size):
            target[i] = _wrap32(np.int64(target[i]) + _wrap32(np.int64(totals[i]) * scale << exponent))
    else:
        for i in range(target.size):
            target[i] = _wrap32(np.int64(target[i]) + _wrap32(np.int64(totals[i]) * scale >> (-exponent)))


@numba.njit(cache=True, inline="always")
def _list_inputs(x, events, values, graded):
    """Indices of the nonzero inputs of one step into ``events`` (and, for graded input, their
    values into ``values``); returns how many. Branch-free, as ``_list_events``."""
    count = 0
    if graded:
        for j in range(x.size):
            events[count] = j
            values[count] = x[j]
            count += x[j] != 0
    else:
        for j in range(x.size):
            events[count] = j
            count += x[j] != 0
    return count


@numba.njit(cache=True, inline="always")
def _take_marks(marks):
    """How many of ``marks`` are set (the updated neurons the update left), clearing them."""
    total = 0
    for i in range(marks.size):
        total += marks[i]
        marks[i] = 0
    return total


@numba.njit(cache=True, inline="always")
def _count_groups(events, run_stop, run_group, group_events, touched, n_touched):
    """group_events[g] += the events (sorted source indices) of each run's group g, listing each
    newly touched group in ``touched``; returns how many are listed. Few runs: a binary search
    for each run's end; else one pass, the current run's end in a register."""
    n_runs, n = run_stop.size, events.size
    if n == 0:
        return n_touched
    if n_runs <= n:
        done = 0
        for r in range(n_runs):
            low, high, stop = done, n, run_stop[r]
            while low < high:
                middle = (low + high) >> 1
                if events[middle] < stop:
                    low = middle + 1
                else:
                    high = middle
            if low > done:
                n_touched = _add_to_group(run_group[r], low - done, group_events, touched, n_touched)
                done = low
            if done == n:
                break
        return n_touched
    r, run = 0, 0
    for k in range(n):
        while events[k] >= run_stop[r]:
            if run:
                n_touched = _add_to_group(run_group[r], run, group_events, touched, n_touched)
                run = 0
            r += 1
        run += 1
    return _add_to_group(run_group[r], run, group_events, touched, n_touched)


@numba.njit(cache=True, inline="always")
def _add_to_group(g, count, group_events, touched, n_touched):
    if group_events[g] == 0:
        touched[n_touched] = g
        n_touched += 1
    group_events[g] += count
    return n_touched


@numba.njit(cache=True, inline="always")
def _count_on_cores(events, n_events, layer_start, inputs, run_stop, run_group, source_runs, group_ptr, group_counter, group_inc,
                    group_events, touched, row, totals, step_counts, sample, t):
    """Add the counters of this step's events (every layer's spikes, the nonzero inputs) to the
    step's row (which holds its updated neurons already): each event counts for its group, then
    each touched group's counters are added times its events. Then the row to the thread's
    totals and, for a kept sample, to ``step_counts``."""
    n_touched = 0
    for source in range(n_events.size + 1):  # every layer, then the input
        a, z = source_runs[source], source_runs[source + 1]
        if source < n_events.size:
            lo = layer_start[source]
            n_touched = _count_groups(events[lo : lo + n_events[source]], run_stop[a:z], run_group[a:z], group_events, touched, n_touched)
        else:
            n_touched = _count_groups(inputs, run_stop[a:z], run_group[a:z], group_events, touched, n_touched)
    for i in range(n_touched):
        g = touched[i]
        count = group_events[g]
        group_events[g] = 0
        for e in range(group_ptr[g], group_ptr[g + 1]):
            row[group_counter[e]] += group_inc[e] * count
    for i in range(row.size):
        totals[i] += row[i]
    if sample < step_counts.shape[0]:
        for i in range(row.size):
            step_counts[sample, t, i] = row[i]


@numba.njit(parallel=True, cache=True, nogil=True)  # nogil: the float reference may run in another thread meanwhile
def _simulate(
    x,
    layer_start, reset_mode, spike_cap, floored, u_keep, v_keep, bias, vth_eff, reset_sub, v_init, v_floor,
    u_init, compartment, layer_flags, x_param, x_state_init,
    p_source, p_target, p_delay, p_code, p_exp, p_graded, p_dense, p_dense_start, p_dense_stride, p_ptr_start, p_factor,
    dense_w, dense_w_signed, run_ptr, runs, sparse_w,
    depth, state_bits, decay_bits, activation_shift, state_max,
    window_start, window_stop, out_layer, record_spikes, record_state, record_counts,
    rasters, count_rasters, u_trace, v_trace, spike_counts, window_counts, stats, out_v_sum, input_events, counting, event_counts,
    n_workers, next_sample, x_trace, record_extra, raster_at, state_at,
    n_counters, run_stop, run_group, source_runs, group_ptr, group_counter, group_inc,
    segment_start, segment_lo, segment_hi, segment_counter, step_counts, first_sample, count_totals, record_peaks, peaks,
):
    """Every sample independently for all steps. Each of ``n_workers`` (one per thread) claims
    the next unsimulated sample from the counter ``next_sample`` until none is left: a core
    slowed by another process, or given costlier samples, does fewer of them, where an equal
    split of the batch would leave the other core waiting. With ``n_counters`` > 0, each step's
    events and updated neurons are also counted per core (``PackedCounting``)."""
    per_core = n_counters > 0  # sparse arrivals are marked only then: updated neurons are counted with a plan
    keep_updated = I32(1 if per_core else 0)
    steps, batch, n_in = x.shape
    n = layer_start[-1]
    n_layers = reset_mode.size
    half = np.int64(1) << (state_bits - 1)
    widest = 1
    for layer in range(n_layers):
        widest = max(widest, layer_start[layer + 1] - layer_start[layer])
    widest_row = 1
    for p in range(p_dense_stride.size):
        widest_row = max(widest_row, p_dense_stride[p])
    out_lo, out_hi = layer_start[out_layer], layer_start[out_layer + 1]
    graded_input = False  # graded values to list from the input (layers' graded spikes: from their counts)
    for p in range(p_source.size):
        graded_input |= p_graded[p] and p_source[p] == -1
    extended = np.zeros(n_layers, np.bool_)  # layers that run _update_neurons_ext
    for layer in range(n_layers):
        extended[layer] = spike_cap[layer] > 1 or floored[layer]
    for _worker in numba.prange(n_workers):
        u = np.zeros(n, np.int32)  # Lava's registers are int32; every update states its own wraps
        v = np.zeros(n, np.int32)
        xs = np.zeros((x_state_init.shape[0], n), np.int32)  # extra state of compartments other than CUBA
        slots = np.zeros((depth, n), np.int32)
        arrived = np.zeros((depth, n), np.int32)  # a sparse projection's event reaches the neuron (int32: the update loop's width)
        layer_arrived = np.zeros((depth, n_layers), np.uint8)  # a dense projection's event reaches the layer
        step_row = np.zeros(max(n_counters, 1), np.int64)
        group_events = np.zeros(group_ptr.size - 1, np.int64)
        touched = np.zeros(group_ptr.size - 1, np.int64)
        spikes = np.zeros(n, np.uint8)
        events = np.zeros(n, np.int64)
        n_events = np.zeros(n_layers, np.int64)
        acc = np.zeros(widest, np.int64)
        acc32 = np.zeros(widest, np.int32)
        partial = np.zeros(widest_row, np.int16)
        partial_unsigned = np.zeros(widest_row, np.uint16)
        counts = np.zeros(n, np.int32)  # run_engine checks steps < 2**31
        window = np.zeros(n, np.int32)
        local = np.zeros((n_layers, 4), np.int64)
        peak = np.zeros((n_layers, 2), np.int64)
        in_events = np.zeros(n_in, np.int64)
        in_values = np.zeros(n_in, np.int64)
        payload = np.zeros(n, np.int32)  # spike counts of the layers firing several per step
        event_values = np.zeros(n, np.int64)  # their counts, aligned with ``events``
        sent = np.zeros(n, np.int32)  # their graded spikes (steps with a spike)
        while True:
            b = _fetch_add(next_sample, 0, 1)
            if b >= batch:
                break
            u[:] = u_init
            v[:] = v_init
            xs[:] = x_state_init
            slots[:] = 0
            arrived[:] = 0
            layer_arrived[:] = 0
            counts[:] = 0
            sent[:] = 0
            window[:] = 0
            local[:] = 0
            peak[:] = 0
            for t in range(steps):
                slot = slots[t % depth]
                arrived_now = arrived[t % depth]
                if n_counters > 0:
                    step_row[:] = 0
                for layer in range(n_layers):
                    lo, hi = layer_start[layer], layer_start[layer + 1]
                    in_window = window_start[layer] <= t < window_stop[layer]
                    any_arrived = layer_arrived[t % depth, layer] != 0
                    layer_arrived[t % depth, layer] = 0
                    split = segment_start[layer + 1] - segment_start[layer] > 1  # on several cores
                    if compartment[layer] == 0 and extended[layer]:
                        n_active, n_wrapped, n_saturated, n_updated = _update_neurons_ext(
                            slot[lo:hi], u[lo:hi], v[lo:hi], u_keep[lo:hi], v_keep[lo:hi], bias[lo:hi], vth_eff[lo:hi],
                            reset_sub[lo:hi], reset_mode[layer], half, decay_bits, activation_shift, state_max, spikes[lo:hi],
                            spike_cap[layer], floored[layer], v_floor[lo:hi], payload[lo:hi],
                            arrived_now[lo:hi], any_arrived, keep_updated if split else I32(0),
                        )
                    elif compartment[layer] == 0:
                        n_active, n_wrapped, n_saturated, n_updated = _update_neurons(
                            slot[lo:hi], u[lo:hi], v[lo:hi], u_keep[lo:hi], v_keep[lo:hi], bias[lo:hi], vth_eff[lo:hi],
                            reset_sub[lo:hi], reset_mode[layer], half, decay_bits, activation_shift, state_max, spikes[lo:hi],
                            arrived_now[lo:hi], any_arrived, keep_updated if split else I32(0),
                        )
                    elif compartment[layer] == 1:
                        n_active, n_wrapped, n_saturated, n_updated = _update_extended(
                            slot[lo:hi], u[lo:hi], v[lo:hi], u_keep[lo:hi], v_keep[lo:hi], bias[lo:hi], vth_eff[lo:hi], reset_sub[lo:hi],
                            x_param[:, lo:hi], xs[:, lo:hi], layer_flags[layer], half, decay_bits, activation_shift, state_max, spikes[lo:hi],
                            arrived_now[lo:hi], any_arrived, keep_updated if split else I32(0),
                        )
                    else:
                        n_active, n_wrapped, n_saturated, n_updated = _update_izhikevich(
                            slot[lo:hi], u[lo:hi], v[lo:hi], bias[lo:hi], x_param[:, lo:hi], layer_flags[layer], spikes[lo:hi],
                            arrived_now[lo:hi], any_arrived, keep_updated if split else I32(0),
                        )
                    if record_peaks:
                        _take_peaks(u[lo:hi], v[lo:hi], peak[layer])
                    local[layer, 0] += n_active
                    local[layer, 1] += n_wrapped
                    local[layer, 2] += n_saturated
                    local[layer, 3] += n_updated
                    if keep_updated and split:  # each core's updated neurons, from the marks the update left
                        for g in range(segment_start[layer], segment_start[layer + 1]):
                            step_row[segment_counter[g]] += _take_marks(arrived_now[segment_lo[g] : segment_hi[g]])
                    elif keep_updated:
                        step_row[segment_counter[segment_start[layer]]] += n_updated
                    n_events[layer] = _list_events(spikes[lo:hi], events[lo:hi])
                    if spike_cap[layer] > 1:
                        _count_payload(
                            events[lo : lo + n_events[layer]], payload[lo:hi], counts[lo:hi], window[lo:hi], in_window, event_values[lo:hi], sent[lo:hi]
                        )
                    else:
                        _count_events(events[lo : lo + n_events[layer]], counts[lo:hi], window[lo:hi], in_window)
                if record_spikes:
                    _record_layers(rasters[t, b], spikes, layer_start, raster_at)
                if record_counts:
                    _record_counts(count_rasters[t, b], layer_start, spike_cap, spikes, payload, raster_at)
                if record_state:
                    _record_layers(u_trace[t, b], u, layer_start, state_at)
                    _record_layers(v_trace[t, b], v, layer_start, state_at)
                if record_extra:
                    for row in range(xs.shape[0]):
                        _record_layers(x_trace[t, b, row], xs[row], layer_start, state_at)
                for i in range(out_hi - out_lo):  # a loop: ``+= v[lo:hi]`` would allocate every step
                    out_v_sum[b, i] += v[out_lo + i]
                n_inputs = _list_inputs(x[t, b], in_events, in_values, graded_input)
                thread_events = input_events[numba.get_thread_id()]
                for k in range(n_inputs):  # for the synops: counted from the event list, not in a pass over the whole input
                    thread_events[in_events[k]] += 1
                if n_counters > 0:
                    _count_on_cores(
                        events, n_events, layer_start, in_events[:n_inputs], run_stop, run_group, source_runs, group_ptr, group_counter, group_inc,
                        group_events, touched, step_row, count_totals[numba.get_thread_id()], step_counts, first_sample + b, t,
                    )
                for p in range(p_source.size):
                    source = p_source[p]
                    if source == -1:
                        active = in_events[:n_inputs]
                    else:
                        active = events[layer_start[source] : layer_start[source] + n_events[source]]
                    if active.size == 0:
                        continue
                    lo, hi = layer_start[p_target[p]], layer_start[p_target[p] + 1]
                    target = slots[(t + 1 + p_delay[p]) % depth, lo:hi]
                    if p_dense[p]:
                        layer_arrived[(t + 1 + p_delay[p]) % depth, p_target[p]] = 1
                    elif p_graded[p] and per_core:
                        _mark_arrivals(active, run_ptr, p_ptr_start[p], runs, arrived[(t + 1 + p_delay[p]) % depth, lo:hi])
                    if p_graded[p]:  # graded input values, or the spike counts of a layer firing several per step
                        totals = acc[: hi - lo]
                        if source == -1:
                            values = in_values[:n_inputs]
                        else:
                            values = event_values[layer_start[source] : layer_start[source] + n_events[source]]
                        _accumulate_graded(
                            active,
                            values,
                            p_dense[p],
                            p_factor[p],
                            dense_w,
                            dense_w_signed,
                            p_dense_start[p],
                            p_dense_stride[p],
                            run_ptr,
                            p_ptr_start[p],
                            runs,
                            sparse_w,
                            totals,
                        )
                        _deliver(totals, 1, target, p_code[p], p_exp[p])
                    else:
                        totals32 = acc32[: hi - lo]
                        _accumulate_spikes(
                            active,
                            p_dense[p],
                            p_factor[p],
                            dense_w,
                            dense_w_signed,
                            p_dense_start[p],
                            p_dense_stride[p],
                            run_ptr,
                            p_ptr_start[p],
                            runs,
                            sparse_w,
                            totals32,
                            partial,
                            partial_unsigned,
                            arrived[(t + 1 + p_delay[p]) % depth, lo:hi],
                            per_core,
                        )
                        _deliver(totals32, p_factor[p], target, p_code[p], p_exp[p])
            stats[b] = local
            if record_peaks:
                peaks[b] = peak
            spike_counts[b] = counts
            window_counts[b] = window
            if counting:
                event_counts[b] = sent
