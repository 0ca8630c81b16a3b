"""Bit-accurate CPU backend (``--target cpu``): Lava's fixed-point semantics, batched.

Runs ``backends/fixed_point.py`` vectorised over neurons and batch. Every synapse adds
one step of delay (Lava's connection processes send what they accumulated in the step
before), so within a step every neuron update depends only on earlier spikes:

    for each layer:       a_in = sum over its projections of the buffer slot due now
                          u, v = neuron_step(u, v, a_in);  s, v = fire_and_reset(v)
    for each projection:  add its output for this step's source spikes into the slot
                          due 1 + delay steps later (one slot per distinct delay)

This holds for any graph, recurrent ones included, exactly as in Lava. Synaptic sums
are exact integers (a float BLAS product when it is provably exact: every partial sum
below 2**24 for float32, 2**53 for float64; else int64) that each connection then
shifts and wraps as its Lava process does.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ..ir.profile import ArithmeticSpec
from ..ir.stages import INPUT, QuantisedLayer, QuantisedNetwork, QuantisedProjection
from . import fixed_point as fx
from .results import LayerActivity, RunResult, count_window, fill_synops, open_windows


def input_max(projection: QuantisedProjection) -> int:
    """Largest |input value| a projection receives: 1 for spikes, 2**(bits-1) for graded input."""
    return (1 << (projection.graded_bits - 1)) if projection.graded_bits > 0 else 1


def _exact_dtype(weights, input_max: int):
    """Smallest type in which every partial sum of input x weight is an exact integer."""
    col = abs(weights).sum(axis=1)
    bound = float(np.asarray(col).max(initial=0.0)) * input_max
    if bound < 2**24:
        return np.float32
    if bound < 2**53:
        return np.float64
    return np.int64


@dataclass
class ProjectionKernel:
    """One projection: per distinct delay, the transposed weights for the exact sums."""

    projection: QuantisedProjection
    delays: list[int]
    weights_t: list  # per delay: (n_in, n_out) dense array or CSR, in an exact dtype
    weights_int_t: list  # per delay: the same as int64, for the event-driven gather path

    @classmethod
    def build(cls, projection: QuantisedProjection) -> "ProjectionKernel":
        parts = _split_by_delay(projection.weights, projection.delays)
        delays = sorted(parts)
        weights_t, weights_int_t = [], []
        for d in delays:
            w = parts[d]
            dtype = _exact_dtype(w, input_max(projection))
            if sparse.issparse(w):
                weights_t.append(sparse.csr_matrix(w.T.astype(dtype)))
                weights_int_t.append(sparse.csr_matrix(w.T.astype(np.int64)))
            else:
                weights_t.append(np.ascontiguousarray(w.T.astype(dtype)))
                weights_int_t.append(np.ascontiguousarray(w.T.astype(np.int64)))
        return cls(projection, delays, weights_t, weights_int_t)

    @property
    def max_delay(self) -> int:
        return max(self.delays) if self.delays else 0

    def outputs(self, src: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(delay, int32 output) for one step of source values (batch, n_in)."""
        p = self.projection
        graded = p.graded_bits > 0
        values = src if graded else (src != 0)
        return [
            (d, fx.synaptic_output(self._exact_sum(values, i), p.connection, p.weight_exp, graded))
            for i, d in enumerate(self.delays)
        ]

    def _exact_sum(self, values: np.ndarray, i: int) -> np.ndarray:
        w, w_int = self.weights_t[i], self.weights_int_t[i]
        if values.shape[0] == 1 and values.dtype == bool:
            active = np.flatnonzero(values[0])
            rows = w_int[active]
            summed = rows.sum(axis=0)
            return np.asarray(summed, dtype=np.int64).reshape(1, -1)
        if w.dtype == np.int64:
            product = values.astype(np.int64) @ w
        else:
            product = np.rint(values.astype(w.dtype) @ w)
        return np.asarray(product).astype(np.int64)


def _split_by_delay(weights, delays) -> dict[int, object]:
    if delays is None:
        return {0: weights}
    parts = {}
    if sparse.issparse(weights):
        w, d = sparse.csr_matrix(weights), sparse.csr_matrix(delays)
        rows, cols = w.nonzero()
        values = np.asarray(w[rows, cols]).reshape(-1)
        lags = np.asarray(d[rows, cols]).reshape(-1)
        for lag in np.unique(lags):
            keep = lags == lag
            parts[int(lag)] = sparse.csr_matrix((values[keep], (rows[keep], cols[keep])), shape=w.shape, dtype=np.int32)
        return parts or {0: w}
    lags = np.where(weights != 0, delays, 0)
    for lag in np.unique(lags):
        parts[int(lag)] = np.where(lags == lag, weights, 0).astype(np.int32)
    return parts


@dataclass
class NeuronKernel:
    layer: QuantisedLayer
    u_keep: np.ndarray
    v_keep: np.ndarray
    bias: np.ndarray
    vth_eff: np.ndarray
    reset_sub: np.ndarray

    @classmethod
    def build(cls, layer: QuantisedLayer, arith: ArithmeticSpec) -> "NeuronKernel":
        neu = layer.neurons
        return cls(
            layer,
            fx.current_keep(neu.du, arith),
            fx.voltage_keep(neu.dv, arith),
            fx.effective_bias(neu.bias_mant, neu.bias_exp),
            fx.effective_threshold(neu.vth, arith),
            neu.reset_sub.astype(np.int32),
        )


class SynapticBuffers:
    """Per layer, ring buffers of int32 synaptic input indexed by arrival step."""

    def __init__(self, network: QuantisedNetwork, batch: int):
        self.kernels = {
            layer.name: [ProjectionKernel.build(p) for p in layer.projections] for layer in network.layers
        }
        depth = 1 + max((k.max_delay for ks in self.kernels.values() for k in ks), default=0)
        self.depth = depth
        self.slots = {layer.name: np.zeros((depth, batch, layer.n_out), np.int32) for layer in network.layers}

    def take(self, name: str, t: int) -> np.ndarray:
        """The synaptic input arriving at step t (the slot is cleared for reuse)."""
        slot = self.slots[name][t % self.depth]
        a_in = slot.copy()
        slot[:] = 0
        return a_in

    def deliver(self, signals: dict[str, np.ndarray], t: int) -> None:
        """Every projection's output for step t's source values, due 1 + delay steps later."""
        for name, kernels in self.kernels.items():
            slots = self.slots[name]
            for kernel in kernels:
                for delay, output in kernel.outputs(signals[kernel.projection.source]):
                    target = slots[(t + 1 + delay) % self.depth]
                    np.add(target, output, out=target, casting="unsafe")  # int32 wrap, as Lava's buffers


ENGINES = ("compiled", "numpy", "torch")
_NOTED: set[str] = set()  # fallback notes already printed by this process


def run_cpu(
    network: QuantisedNetwork,
    inputs: np.ndarray,
    record_spikes: bool = False,
    record_state: bool = False,
    progress: bool = False,
    windows: dict[str, tuple[int, int]] | None = None,
    engine: str = "compiled",
    device: str = "cpu",
) -> RunResult:
    """Simulate integer ``inputs`` of shape (steps, batch, n_inputs) bit-exactly as Lava would.

    ``windows`` optionally names, per layer, steps [start, stop) whose spikes are also
    counted separately (``LayerActivity.window_counts``). ``engine`` "compiled" runs the
    numba kernel of ``cpu_engine.py`` (or, with a note on stderr, the numpy engine where the
    profile's formats are wider than the kernel's int32 arithmetic); "numpy" runs the step
    loop below, the readable statement of the same arithmetic (both are tested against Lava
    and each other); "torch" runs ``torch_engine.py`` on ``device`` (e.g. "cuda"), the whole
    batch as tensors."""
    if engine == "compiled":
        from .cpu_engine import unsupported_reason

        reason = unsupported_reason(network)
        if reason is None:
            return _run_compiled(network, inputs, record_spikes, record_state, windows, progress)
        if reason not in _NOTED:
            print(f"note: {reason}: running the numpy engine (the same results, slower)", file=sys.stderr)
            _NOTED.add(reason)
        engine = "numpy"
    if engine == "torch":
        return _run_torch(network, inputs, record_spikes, record_state, windows, device)
    if engine != "numpy":
        raise ValueError(f"unknown CPU engine {engine!r}: {ENGINES}")
    start = time.perf_counter()
    steps, batch = inputs.shape[:2]
    x_all = inputs.reshape(steps, batch, -1)
    arith: ArithmeticSpec = network.arithmetic
    neurons = [NeuronKernel.build(layer, arith) for layer in network.layers]
    buffers = SynapticBuffers(network, batch)
    state = {
        k.layer.name: {
            "u": np.zeros((batch, k.layer.n_out), np.int32),
            "v": np.tile(k.layer.neurons.v_init.astype(np.int32), (batch, 1)),
            "s": np.zeros((batch, k.layer.n_out), bool),
        }
        for k in neurons
    }
    activity = {
        k.layer.name: LayerActivity(
            k.layer.name, k.layer.n_out, spike_counts=np.zeros((batch, k.layer.n_out), np.int64),
            saturations={"u_wrap": 0, "v_saturate": 0},
        )
        for k in neurons
    }
    open_windows(activity, windows)
    rasters = {k.layer.name: np.zeros((steps, batch, k.layer.n_out), bool) for k in neurons} if record_spikes else None
    traces = (
        {k.layer.name: {"u": np.zeros((steps, batch, k.layer.n_out), np.int32), "v": np.zeros((steps, batch, k.layer.n_out), np.int32)} for k in neurons}
        if record_state
        else None
    )
    out = network.output_layer
    out_v_sum = np.zeros((batch, out.n_out), np.int64)
    for t in _step_range(steps, batch, progress):
        for kernel in neurons:
            name = kernel.layer.name
            st, acts = state[name], activity[name]
            a_in = buffers.take(name, t)
            u, v, u_wrapped, v_saturated = fx.neuron_step(st["u"], st["v"], a_in, kernel.u_keep, kernel.v_keep, kernel.bias, arith)
            if kernel.layer.neurons.spiking:
                spikes, v = fx.fire_and_reset(v, kernel.vth_eff, kernel.layer.neurons.reset, kernel.reset_sub)
                acts.spike_counts += spikes
                count_window(acts, t, spikes)
            else:
                spikes = np.zeros(v.shape, bool)
            st["u"], st["v"], st["s"] = u, v, spikes
            acts.active_neuron_updates += int(np.count_nonzero(a_in))
            acts.saturations["u_wrap"] += int(np.count_nonzero(u_wrapped))
            acts.saturations["v_saturate"] += int(np.count_nonzero(v_saturated))
            if rasters is not None:
                rasters[name][t] = spikes
            if traces is not None:
                traces[name]["u"][t], traces[name]["v"][t] = u, v
        signals = {INPUT: x_all[t], **{name: st["s"] for name, st in state.items()}}
        buffers.deliver(signals, t)
        out_v_sum += state[out.name]["v"]
    for kernel in neurons:
        acts = activity[kernel.layer.name]
        acts.spikes = int(acts.spike_counts.sum())
        acts.neuron_updates = kernel.layer.n_out * steps * batch
    return _result(network, x_all, activity, out_v_sum, rasters, traces, start)


def _run_torch(network, inputs, record_spikes, record_state, windows, device) -> RunResult:
    from .torch_engine import run_engine

    start = time.perf_counter()
    steps, batch = inputs.shape[:2]
    x = inputs.reshape(steps, batch, -1)
    run = run_engine(network, x, device, windows, record_spikes, record_state)
    activity = {
        layer.name: _layer_activity(
            layer, steps, batch, run.spike_counts[layer.name].cpu().numpy(), run.active[layer.name], run.u_wraps[layer.name],
            run.v_saturations[layer.name], windows, run.window_counts[layer.name].cpu().numpy(),
        )
        for layer in network.layers
    }
    rasters = {k: r.cpu().numpy() for k, r in run.rasters.items()} if run.rasters is not None else None
    traces = {k: {s: a.cpu().numpy() for s, a in tr.items()} for k, tr in run.traces.items()} if run.traces is not None else None
    return _result(network, x, activity, run.output_v_sum.cpu().numpy(), rasters, traces, start)


def _layer_activity(layer, steps, batch, spike_counts, active, u_wrap, v_saturate, windows, window_counts) -> LayerActivity:
    """A layer's activity from an engine's per-sample counters."""
    acts = LayerActivity(layer.name, layer.n_out, spike_counts=np.asarray(spike_counts).astype(np.int64))
    acts.spikes = int(acts.spike_counts.sum())
    acts.neuron_updates = layer.n_out * steps * batch
    acts.active_neuron_updates = int(active)
    acts.saturations = {"u_wrap": int(u_wrap), "v_saturate": int(v_saturate)}
    if windows and layer.name in windows:
        acts.window, acts.window_counts = windows[layer.name], np.asarray(window_counts).astype(np.int64)
    return acts


def _result(network: QuantisedNetwork, x: np.ndarray, activity, out_v_sum, rasters, traces, start: float, input_events=None) -> RunResult:
    """The RunResult of a CPU-backend run: synops from the events, the output's v in float units."""
    steps, batch = x.shape[:2]
    fill_synops(network, x, activity, input_events)
    out = network.output_layer
    return RunResult(
        target="cpu",
        steps=steps,
        batch=batch,
        layers=activity,
        output_layer=out.name,
        output_v_sum=out_v_sum / out.state_scale + steps * out.float_layer.neurons.v_offset,
        rasters=rasters,
        traces=traces,
        wall_s=time.perf_counter() - start,
    )


PROGRESS_CHUNKS = 50  # with a progress bar, samples run in about this many calls


def _run_compiled(network, inputs, record_spikes, record_state, windows, progress=False) -> RunResult:
    from .cpu_engine import pack, run_engine

    start = time.perf_counter()
    steps, batch = inputs.shape[:2]
    x = inputs.reshape(steps, batch, -1)
    if x.dtype.kind not in "iub":
        x = x.astype(np.int32)
    packed = pack(network)
    names = [layer.name for layer in network.layers]
    offsets = dict(zip(names, packed.layer_start[:-1].tolist()))
    window_start = np.array([(windows or {}).get(n, (0, 0))[0] for n in names], np.int64)
    window_stop = np.array([(windows or {}).get(n, (0, 0))[1] for n in names], np.int64)
    out = network.output_layer
    parts = []
    for first, last in _sample_chunks(steps, batch, progress):
        parts.append(run_engine(packed, np.ascontiguousarray(x[:, first:last]), names.index(out.name), window_start, window_stop, record_spikes, record_state))
    result = _join(parts)
    activity, rasters, traces = {}, ({} if record_spikes else None), ({} if record_state else None)
    for i, layer in enumerate(network.layers):
        cut = slice(offsets[layer.name], offsets[layer.name] + layer.n_out)
        activity[layer.name] = _layer_activity(
            layer, steps, batch, result.spike_counts[:, cut], result.active[:, i].sum(), result.u_wraps[:, i].sum(),
            result.v_saturations[:, i].sum(), windows, result.window_counts[:, cut],
        )
        if rasters is not None:
            rasters[layer.name] = result.rasters[:, :, cut].astype(bool)
        if traces is not None:
            traces[layer.name] = {"u": result.u_trace[:, :, cut].copy(), "v": result.v_trace[:, :, cut].copy()}
    return _result(network, x, activity, result.out_v_sum, rasters, traces, start, result.input_events)


def _sample_chunks(steps: int, batch: int, progress: bool):
    """[first, last) sample ranges: one, or about PROGRESS_CHUNKS behind a progress bar."""
    if not progress or not sys.stderr.isatty() or batch < 2:
        yield 0, batch
        return
    from tqdm import tqdm

    size = max(1, -(-batch // PROGRESS_CHUNKS))
    with tqdm(total=batch * steps, desc="cpu", unit="sample-step", unit_scale=True, leave=False) as bar:
        for first in range(0, batch, size):
            last = min(batch, first + size)
            yield first, last
            bar.update((last - first) * steps)


def _join(parts):
    """One EngineOutput from per-chunk outputs (batch is axis 0, or axis 1 for rasters/traces)."""
    if len(parts) == 1:
        return parts[0]
    from .cpu_engine import EngineOutput

    def cat(name, axis):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else np.concatenate(values, axis=axis)

    return EngineOutput(
        *(cat(name, 0) for name in ("spike_counts", "window_counts", "active", "u_wraps", "v_saturations", "out_v_sum")),
        sum(p.input_events for p in parts),
        *(cat(name, 1) for name in ("rasters", "u_trace", "v_trace")),
    )


def _step_range(steps: int, batch: int, progress: bool):
    if not progress or not sys.stderr.isatty():
        return range(steps)
    from tqdm import tqdm

    return tqdm(range(steps), desc="cpu", unit="step", unit_scale=batch, leave=False)
