"""The bit-exact backend (targets ``cpu``, ``cpu-numpy``, ``torch``): Lava's fixed-point semantics, batched.

Runs ``hardware/fixed_point.py`` vectorised over neurons and batch. Every synapse adds
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

import dataclasses
import sys
import time
from collections.abc import Collection

import numpy as np

from ..errors import UserError
from ..hardware import fixed_point as fx
from ..hardware.profile import ArithmeticSpec
from ..ir.stages import INPUT, QuantisedNetwork
from ..neurons import COMPARTMENTS, compartment_of
from .core_counts import ArrivalBuffers, CorePlan, StepCounter, updated_mask
from .kernels import NeuronKernel, SynapticBuffers
from .results import LayerActivity, RunResult, count_window, fill_synops, open_windows, raster_dtype
from .target import RunRequest, Target, recorded

ENGINES = ("numba", "numpy", "torch")


def run_cpu(
    network: QuantisedNetwork,
    inputs: np.ndarray,
    record_spikes: bool = False,
    record_state: bool = False,
    progress: bool = False,
    windows: dict[str, tuple[int, int]] | None = None,
    engine: str = "numba",
    device: str = "cpu",
    core_plan: CorePlan | None = None,
    record_peaks: bool = False,
    spike_layers: Collection[str] | None = None,
    state_layers: Collection[str] | None = None,
) -> RunResult:
    """Simulate integer ``inputs`` of shape (steps, batch, n_inputs) bit-exactly as Lava would.

    ``windows`` optionally names, per layer, steps [start, stop) whose spikes are also
    counted separately (``LayerActivity.window_counts``). ``engine`` "numba" runs the
    kernel of ``numba_engine.py`` (or, with a note in ``RunResult.notes``, the numpy engine
    where the profile's formats are wider than the kernel's int32 arithmetic); "numpy" runs
    the step loop below, the readable statement of the same arithmetic (both are tested
    against Lava and each other); "torch" runs ``torch_engine.py`` on ``device`` (e.g.
    "cuda"), the whole batch as tensors. ``core_plan``: also count every core's work per step
    (``RunResult.core_counts``, see ``core_counts.py``). ``record_peaks``: every layer's largest
    |u| and |v| over steps, samples and neurons (``RunResult.peaks``), taken as the engine steps,
    without recording traces. ``spike_layers`` / ``state_layers``: the layers whose rasters / state
    are recorded (None: every layer)."""
    selection = Selection.of(network, record_spikes, record_state, spike_layers, state_layers)
    if engine == "numba":
        from .numba_engine import unsupported_reason

        reason = unsupported_reason(network)
        if reason is None:
            return _run_numba(network, inputs, selection, windows, progress, core_plan, record_peaks)
        result = _run_numpy(network, inputs, selection, windows, progress, core_plan, record_peaks)
        return dataclasses.replace(result, notes=[*result.notes, f"{reason}: running the numpy engine (the same results, slower)"])
    if engine == "torch":
        return _run_torch(network, inputs, selection, windows, device, core_plan, record_peaks)
    if engine != "numpy":
        raise ValueError(f"unknown CPU engine {engine!r}: {ENGINES}")
    return _run_numpy(network, inputs, selection, windows, progress, core_plan, record_peaks)


@dataclasses.dataclass(frozen=True)
class Selection:
    """What an engine records: the layers whose rasters (``spikes``) and whose state (``state``)
    it keeps; None: no rasters / no state at all."""

    spikes: frozenset[str] | None
    state: frozenset[str] | None

    @classmethod
    def of(cls, network, record_spikes: bool, record_state: bool, spike_layers=None, state_layers=None) -> Selection:
        names = [layer.name for layer in network.layers]
        return cls(recorded(names, True, spike_layers) if record_spikes else None, recorded(names, True, state_layers) if record_state else None)


def _run_numpy(network, inputs, selection: Selection, windows, progress, core_plan=None, record_peaks=False) -> RunResult:
    """The numpy engine: the step loop of the module docstring. CUBA layers run
    ``hardware/fixed_point.py``; layers of other compartments their compartment's ``step``."""
    start = time.perf_counter()
    steps, batch = inputs.shape[:2]
    x_all = inputs.reshape(steps, batch, -1)
    arith: ArithmeticSpec = network.arithmetic
    kernels = {layer.name: NeuronKernel.build(layer, arith) for layer in network.layers if layer.neurons.compartment == "cuba"}
    others = {layer.name: compartment_of(layer.neurons) for layer in network.layers if layer.name not in kernels}
    buffers = SynapticBuffers(network, batch)
    arrivals = ArrivalBuffers(network, batch) if core_plan is not None else None
    counter = StepCounter(core_plan, batch, steps) if core_plan is not None else None
    biases = {layer.name: compartment_of(layer.neurons).update_bias(layer.neurons) for layer in network.layers}
    state = {}
    for layer in network.layers:
        if layer.name in kernels:
            state[layer.name] = {"u": np.zeros((batch, layer.n_out), np.int32), "v": np.tile(layer.neurons.v_init.astype(np.int32), (batch, 1))}
        else:
            state[layer.name] = others[layer.name].init_state(layer.neurons, batch, arith)
        state[layer.name]["s"] = np.zeros((batch, layer.n_out), bool)
    activity = {
        layer.name: LayerActivity(
            layer.name, layer.n_out, spike_counts=np.zeros((batch, layer.n_out), np.int64), saturations={"u_wrap": 0, "v_saturate": 0},
            updated_neuron_updates=0 if core_plan is not None else None,
        )
        for layer in network.layers
    }
    open_windows(activity, windows)
    for layer in network.layers:
        if layer.neurons.several_spikes:
            activity[layer.name].event_counts = np.zeros((batch, layer.n_out), np.int64)
    rasters = (
        {layer.name: np.zeros((steps, batch, layer.n_out), raster_dtype(layer)) for layer in network.layers if layer.name in selection.spikes}
        if selection.spikes is not None
        else None
    )
    traces = (
        {layer.name: {var: np.zeros((steps, batch, layer.n_out), np.int32) for var in _state_names(layer)} for layer in network.layers
         if layer.name in selection.state}
        if selection.state is not None
        else None
    )
    peaks = {layer.name: {"u": 0, "v": 0} for layer in network.layers} if record_peaks else None
    out = network.output_layer
    out_v_sum = np.zeros((batch, out.n_out), np.int64)
    for t in _step_range(steps, batch, progress):
        for layer in network.layers:
            name = layer.name
            st, acts = state[name], activity[name]
            a_in = buffers.take(name, t)
            v_before = st["v"]
            if name in others:
                spikes, n_wrapped, n_saturated = others[name].step(layer.neurons, st, a_in, arith)
                acts.spike_counts += spikes
                if acts.event_counts is not None:
                    acts.event_counts += spikes > 0
                count_window(acts, t, spikes)
                st["s"] = spikes
                acts.saturations["u_wrap"] += n_wrapped
                acts.saturations["v_saturate"] += n_saturated
            else:
                kernel = kernels[name]
                u, v, u_wrapped, v_saturated = fx.neuron_step(st["u"], st["v"], a_in, kernel.u_keep, kernel.v_keep, kernel.bias, arith)
                if layer.neurons.spiking:
                    spikes, v = kernel.fire_and_reset(v)
                    acts.spike_counts += spikes
                    if acts.event_counts is not None:
                        acts.event_counts += spikes > 0
                    count_window(acts, t, spikes)
                else:
                    spikes = np.zeros(v.shape, bool)
                st["u"], st["v"], st["s"] = u, v, spikes
                acts.saturations["u_wrap"] += int(np.count_nonzero(u_wrapped))
                acts.saturations["v_saturate"] += int(np.count_nonzero(v_saturated))
            if counter is not None:
                updated = updated_mask(v_before, arrivals.take(name, t), biases[name], spikes)
                acts.updated_neuron_updates += int(np.count_nonzero(updated))
                counter.updates(t, name, updated)
            acts.active_neuron_updates += int(np.count_nonzero(a_in))
            if rasters is not None and name in rasters:
                rasters[name][t] = spikes
            if traces is not None and name in traces:
                for var, trace in traces[name].items():
                    trace[t] = st[var]
            if peaks is not None:
                for var, peak in peaks[name].items():
                    peaks[name][var] = max(peak, int(np.abs(st[var].astype(np.int64)).max(initial=0)))
        signals = {INPUT: x_all[t], **{name: st["s"] for name, st in state.items()}}
        buffers.deliver(signals, t)
        if counter is not None:
            arrivals.deliver(signals, t)
            for name, values in signals.items():
                counter.events(t, name, values)
        out_v_sum += state[out.name]["v"]
    for layer in network.layers:
        acts = activity[layer.name]
        acts.spikes = int(acts.spike_counts.sum())
        acts.neuron_updates = layer.n_out * steps * batch
    return _result(network, x_all, activity, out_v_sum, rasters, traces, start, core_counts=counter.result() if counter is not None else None, peaks=peaks)


def _state_names(layer) -> tuple[str, ...]:
    """The integer registers a layer records: u and v, and its compartment's others."""
    return compartment_of(layer.neurons).state


def _run_torch(network, inputs, selection: Selection, windows, device, core_plan=None, record_peaks=False) -> RunResult:
    from .torch_graphs import run_engine

    start = time.perf_counter()
    steps, batch = inputs.shape[:2]
    x = inputs.reshape(steps, batch, -1)
    run = run_engine(network, x, device, windows, selection.spikes is not None, selection.state is not None, core_plan, record_peaks=record_peaks,
                     spike_layers=selection.spikes, state_layers=selection.state)
    activity = {
        layer.name: _layer_activity(
            layer, steps, batch, run.spike_counts[layer.name].cpu().numpy(), run.active[layer.name], run.u_wraps[layer.name],
            run.v_saturations[layer.name], windows, run.window_counts[layer.name].cpu().numpy(), run.updated[layer.name],
            run.event_counts[layer.name].cpu().numpy() if layer.name in run.event_counts else None,
        )
        for layer in network.layers
    }
    rasters = {k: r.cpu().numpy() for k, r in run.rasters.items()} if run.rasters is not None else None
    traces = {k: {s: a.cpu().numpy() for s, a in tr.items()} for k, tr in run.traces.items()} if run.traces is not None else None
    input_events = run.input_events.cpu().numpy() if run.input_events is not None else None
    peaks = {k: {s: int(value) for s, value in zip(("u", "v"), p.cpu().tolist())} for k, p in run.peaks.items()} if run.peaks is not None else None
    return _result(network, x, activity, run.output_v_sum.cpu().numpy(), rasters, traces, start, input_events, core_counts=run.core_counts, peaks=peaks)


def _layer_activity(layer, steps, batch, spike_counts, active, u_wrap, v_saturate, windows, window_counts, updated, event_counts=None) -> LayerActivity:
    """A layer's activity from an engine's per-sample counters (``event_counts``: for a layer
    firing several spikes per step, the steps it fired in)."""
    acts = LayerActivity(layer.name, layer.n_out, spike_counts=np.asarray(spike_counts).astype(np.int64))
    if layer.neurons.several_spikes and event_counts is not None:
        acts.event_counts = np.asarray(event_counts).astype(np.int64)
    acts.spikes = int(acts.spike_counts.sum())
    acts.neuron_updates = layer.n_out * steps * batch
    acts.active_neuron_updates = int(active)
    acts.updated_neuron_updates = int(updated) if updated is not None else None
    acts.saturations = {"u_wrap": int(u_wrap), "v_saturate": int(v_saturate)}
    if windows and layer.name in windows:
        acts.window, acts.window_counts = windows[layer.name], np.asarray(window_counts).astype(np.int64)
    return acts


def _result(network: QuantisedNetwork, x: np.ndarray, activity, out_v_sum, rasters, traces, start: float, input_events=None, core_counts=None,
            peaks=None) -> RunResult:
    """The RunResult of a CPU-backend run: synops from the events, the output's v in float units."""
    steps, batch = x.shape[:2]
    input_events = fill_synops(network, x, activity, input_events)
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
        peaks=peaks,
        core_counts=core_counts,
        input_events=input_events,
        wall_s=time.perf_counter() - start,
    )


PROGRESS_CHUNKS = 50  # with a progress bar, samples run in about this many calls


def _run_numba(network, inputs, selection: Selection, windows, progress=False, core_plan=None, record_peaks=False) -> RunResult:
    from .core_counts import CoreCounts
    from .numba_engine import pack, pack_counting, recorded_offsets, run_engine

    start = time.perf_counter()
    steps, batch = inputs.shape[:2]
    x = inputs.reshape(steps, batch, -1)
    if x.dtype.kind not in "iub":
        x = x.astype(np.int32)
    packed = pack(network)
    counting = pack_counting(packed, network, core_plan)
    kept = core_plan.step_samples(batch, steps) if core_plan is not None else 0
    step_counts = np.zeros((kept, steps, max(counting.n_counters, 1)), np.int32)
    names = [layer.name for layer in network.layers]
    offsets = dict(zip(names, packed.layer_start[:-1].tolist()))
    window_start = np.array([(windows or {}).get(n, (0, 0))[0] for n in names], np.int64)
    window_stop = np.array([(windows or {}).get(n, (0, 0))[1] for n in names], np.int64)
    out = network.output_layer
    record_spikes, record_state = selection.spikes is not None, selection.state is not None
    spiked = np.array([name in (selection.spikes or ()) for name in names])
    traced = np.array([name in (selection.state or ()) for name in names])
    sizes = np.array([layer.n_out for layer in network.layers], np.int64)
    raster_at, trace_at = recorded_offsets(sizes, spiked)[0], recorded_offsets(sizes, traced)[0]
    parts = []
    for first, last in _sample_chunks(steps, batch, progress):
        parts.append(run_engine(
            packed, np.ascontiguousarray(x[:, first:last]), names.index(out.name), window_start, window_stop, record_spikes, record_state,
            counting, step_counts, first, record_peaks, spiked, traced,
        ))
    result = _join(parts)
    activity, rasters, traces = {}, ({} if record_spikes else None), ({} if record_state else None)
    peaks = {} if record_peaks else None
    for i, layer in enumerate(network.layers):
        cut = slice(offsets[layer.name], offsets[layer.name] + layer.n_out)
        activity[layer.name] = _layer_activity(
            layer, steps, batch, result.spike_counts[:, cut], result.active[:, i].sum(), result.u_wraps[:, i].sum(),
            result.v_saturations[:, i].sum(), windows, result.window_counts[:, cut],
            result.updated[:, i].sum() if core_plan is not None else None, result.event_counts[:, cut] if layer.neurons.several_spikes else None,
        )
        if rasters is not None and raster_at[i] >= 0:
            rasters[layer.name] = result.rasters[:, :, raster_at[i] : raster_at[i] + layer.n_out].astype(raster_dtype(layer))
        if traces is not None and trace_at[i] >= 0:
            # views of the engine's traces (a copy per layer doubled their memory and took longer than the run)
            kept = slice(trace_at[i], trace_at[i] + layer.n_out)
            traces[layer.name] = {"u": result.u_trace[:, :, kept], "v": result.v_trace[:, :, kept]}
            for row, var in enumerate(_state_names(layer)[2:]):  # compartments with more state (numba_engine.EXTRA_STATE rows)
                traces[layer.name][var] = result.x_trace[:, :, row, kept]
        if peaks is not None:
            peaks[layer.name] = {"u": int(result.peaks[:, i, 0].max(initial=0)), "v": int(result.peaks[:, i, 1].max(initial=0))}
    counts = CoreCounts(core_plan, result.count_totals, step_counts) if core_plan is not None else None
    return _result(network, x, activity, result.out_v_sum, rasters, traces, start, result.input_events, counts, peaks)


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
    from .numba_engine import EngineOutput

    def cat(name, axis):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else np.concatenate(values, axis=axis)

    return EngineOutput(
        *(cat(name, 0) for name in ("spike_counts", "window_counts", "active", "updated", "u_wraps", "v_saturations", "out_v_sum")),
        sum(p.input_events for p in parts),
        sum(p.count_totals for p in parts),
        *(cat(name, 1) for name in ("rasters", "u_trace", "v_trace")),
        cat("event_counts", 0),
        cat("x_trace", 1),
        cat("peaks", 0),
    )


def _step_range(steps: int, batch: int, progress: bool):
    if not progress or not sys.stderr.isatty():
        return range(steps)
    from tqdm import tqdm

    return tqdm(range(steps), desc="cpu", unit="step", unit_scale=batch, leave=False)


# --------------------------------------------------------------------------- targets
class BitExactBackend(Target):
    """The bit-exact backend with one of its engines, as a target."""

    stage = "quantised"
    bit_exact = True

    def __init__(self, name: str, engine: str, summary: str):
        self.name, self.engine, self.summary = name, engine, summary
        self.uses_device = engine == "torch"

    @property
    def compartments(self) -> frozenset[str]:
        """Every registered compartment: each brings its numpy and torch steps (numba: its
        kernel, or the numpy engine with a note)."""
        return frozenset(COMPARTMENTS.names())

    def check(self, request: RunRequest) -> None:
        if self.uses_device and request.device != "cpu":
            import torch

            try:  # a device that holds no data (meta) accepts tensors but cannot give results back
                (torch.zeros(1, dtype=torch.float64, device=request.device) + 1).cpu()
            except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a device it cannot use
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise UserError(f"--device {request.device}: torch cannot run the engine there ({reason}); use cpu or a GPU torch can use") from None

    def run(self, stage: QuantisedNetwork, inputs: np.ndarray, request: RunRequest) -> RunResult:
        result = run_cpu(
            stage, inputs, record_spikes=request.record_spikes, record_state=request.record_state, progress=request.progress,
            windows=request.windows, engine=self.engine, device=request.device, core_plan=request.core_plan, record_peaks=request.record_peaks,
            spike_layers=request.spike_layers, state_layers=request.state_layers,
        )
        return dataclasses.replace(result, target=self.name)

    def learner(self, lowered, compiled, *, sample_steps: int, total_samples: int):
        from .learners import CpuLearner, ReferenceLearner

        if self.engine == "torch":
            return super().learner(lowered, compiled, sample_steps=sample_steps, total_samples=total_samples)
        return (CpuLearner if self.engine == "numba" else ReferenceLearner)(lowered, sample_steps)


CPU = BitExactBackend("cpu", "numba", "the bit-exact backend (Lava's integers, far faster), numba engine")
CPU_NUMPY = BitExactBackend("cpu-numpy", "numpy", "the bit-exact backend, numpy engine: the readable statement of its arithmetic")
TORCH = BitExactBackend("torch", "torch", "the bit-exact backend, torch engine: whole batches as tensors on --device (cpu, cuda, ...)")
