"""Float reference: the normalised network's NIR semantics in float64 (``--target float``).

Per step, layers run in feed-forward order. A projection from a source computed earlier
in the same step (or from the input) uses that step's values, ``a[t] += W s[t - delay]``;
a projection from a layer not yet computed this step (recurrence, including a layer
feeding itself) uses the previous step's spikes, as snnTorch's RLeaky/RSynaptic do.
There is no per-synapse delay: on Loihi (and in Lava and the CPU backend) every
feed-forward synapse adds one step.

Updated neurons (``core_counts.py``) follow the same rule as on the fixed-point targets, with
this reference's timing: v nonzero before the step, an event through any stored synapse
(every synapse of a dense projection), a nonzero bias (of v or of the current), or a spike.
"""
from __future__ import annotations

import time

import numpy as np
from scipy import sparse

from ..hardware.fixed_point import Reset
from ..ir.stages import INPUT, NormalisedNetwork
from ..neurons import COMPARTMENTS, compartment_of
from .core_counts import CorePlan, StepCounter, updated_mask
from .kernels import split_by_delay
from .results import LayerActivity, RunResult, count_window, fill_synops, open_windows, raster_dtype
from .target import RunRequest, Target


def run_float(
    network: NormalisedNetwork,
    inputs: np.ndarray,
    record_spikes: bool = False,
    record_state: bool = False,
    windows: dict[str, tuple[int, int]] | None = None,
    core_plan: CorePlan | None = None,
) -> RunResult:
    """Simulate ``inputs`` of shape (steps, batch, n_inputs) (spikes or graded values);
    ``windows`` and ``core_plan`` as in ``run_cpu``."""
    start = time.perf_counter()
    steps, batch = inputs.shape[:2]
    x_all = inputs.reshape(steps, batch, -1)
    order = [layer.name for layer in network.layers]
    position = {name: i for i, name in enumerate(order)}
    # (source, lag in steps, W^T) per layer; lag 0 means "this step's value"
    terms = {}
    max_lag = 0
    for layer in network.layers:
        terms[layer.name] = []
        for p in layer.projections:
            back_edge = p.source != INPUT and position[p.source] >= position[layer.name]
            for delay, w in split_by_delay(p.weight, p.delays).items():
                lag = delay + (1 if back_edge else 0)
                max_lag = max(max_lag, lag)
                w_t = w.T.tocsr() if sparse.issparse(w) else np.ascontiguousarray(w.T)
                structure = (w_t != 0).astype(np.int32) if sparse.issparse(w) else None  # dense: every synapse is stored
                terms[layer.name].append((p.source, lag, w_t, structure))
    history = max_lag + 1
    past = {name: np.zeros((history, batch, n)) for name, n in [(INPUT, network.n_inputs)] + [(layer.name, layer.n_out) for layer in network.layers]}
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
    u = {layer.name: np.zeros((batch, layer.n_out)) for layer in network.layers}
    v = {layer.name: np.tile(layer.neurons.v_initial, (batch, 1)) for layer in network.layers}
    # layers of another compartment than CUBA keep their state in the compartment's float form
    other = {layer.name: compartment_of(layer.neurons) for layer in network.layers if layer.neurons.compartment != "cuba"}
    states = {name: compartment.float_init(network.layer(name).neurons, batch) for name, compartment in other.items()}
    for name, state in states.items():
        u[name], v[name] = state["u"], state["v"]
    rasters = {layer.name: np.zeros((steps, batch, layer.n_out), raster_dtype(layer)) for layer in network.layers} if record_spikes else None
    traces = (
        {layer.name: {"u": np.zeros((steps, batch, layer.n_out)), "v": np.zeros((steps, batch, layer.n_out))} for layer in network.layers}
        if record_state
        else None
    )
    out = network.output_layer
    out_v_sum = np.zeros((batch, out.n_out))
    counter = StepCounter(core_plan, batch, steps) if core_plan is not None else None
    for t in range(steps):
        past[INPUT][t % history] = x_all[t]  # (float64 history: one step of the input at a time)
        if counter is not None:
            counter.events(t, INPUT, x_all[t])
        for layer in network.layers:
            dyn, name = layer.neurons, layer.name
            a = np.zeros((batch, layer.n_out))
            arrived = np.zeros((batch, layer.n_out), bool)
            for source, lag, w_t, structure in terms[name]:
                if t - lag >= 0:
                    src = past[source][(t - lag) % history]
                    a += np.asarray(src @ w_t)
                    if counter is not None:
                        events = src != 0
                        arrived |= events.any(axis=1, keepdims=True) if structure is None else np.asarray(events.astype(np.int32) @ structure) > 0
            activity[name].active_neuron_updates += int(np.count_nonzero(a))
            v_before = v[name]
            if name in other:
                s = other[name].float_step(dyn, states[name], a)
                u[name], v[name] = states[name]["u"], states[name]["v"]
                if counter is not None:
                    _count_updates(activity[name], counter, t, name, dyn, v_before, arrived, s)
                _record(activity[name], past[name], rasters, traces, name, t, s, u[name], v[name], history)
                continue
            u[name] = dyn.alpha * u[name] + a + dyn.current_bias
            v[name] = dyn.beta * v[name] + u[name] + dyn.bias
            if dyn.spiking:
                s, v[name] = fire_and_reset(dyn, v[name])
            else:
                s = np.zeros_like(v[name], dtype=bool)
            if counter is not None:
                _count_updates(activity[name], counter, t, name, dyn, v_before, arrived, s)
            activity[name].spike_counts += s
            if activity[name].event_counts is not None:
                activity[name].event_counts += s > 0
            count_window(activity[name], t, s)
            past[name][t % history] = s
            if rasters is not None:
                rasters[name][t] = s
            if traces is not None:
                traces[name]["u"][t], traces[name]["v"][t] = u[name], v[name]
        out_v_sum += v[out.name] + out.neurons.v_offset
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


def fire_and_reset(dyn, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(spikes, v) after the threshold test, the reset and the floor of ``NeuronDynamics``:
    spikes are booleans, or counts (int32) where a neuron fires several spikes per step,
    n = 1 + floor((v - threshold) / reset_amount), computed as floor(v / threshold) where
    the two are equal, the way Sinabs and Rockpool compute it."""
    fired = v >= dyn.threshold if dyn.inclusive else v > dyn.threshold
    if dyn.several_spikes:
        same = dyn.reset_amount == dyn.threshold
        count = np.where(same, np.floor(v / dyn.threshold), 1.0 + np.floor((v - dyn.threshold) / dyn.reset_amount))
        count = np.where(fired, np.minimum(count, dyn.max_spikes), 0.0)
        v = v - count * dyn.reset_amount
        spikes = count.astype(np.int32)
    else:
        v = np.where(fired, 0.0, v) if dyn.reset is Reset.ZERO else np.where(fired, v - dyn.reset_amount, v)
        spikes = fired
    if dyn.floor is not None:
        v = np.maximum(v, dyn.floor)
    return spikes, v


def _count_updates(activity, counter, t, name, dyn, v_before, arrived, s) -> None:
    """A layer's updated neurons and spikes of step ``t`` into the per-core counters."""
    updated = updated_mask(v_before, arrived, (dyn.bias != 0) | (dyn.current_bias != 0), s)
    activity.updated_neuron_updates += int(np.count_nonzero(updated))
    counter.updates(t, name, updated)
    counter.events(t, name, s)


def _record(activity, past, rasters, traces, name, t, s, u, v, history) -> None:
    """A layer's step into its counts, its history and the recordings."""
    activity.spike_counts += s
    count_window(activity, t, s)
    past[t % history] = s
    if rasters is not None:
        rasters[name][t] = s
    if traces is not None:
        traces[name]["u"][t], traces[name]["v"][t] = u, v


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
        )

    def learner(self, lowered, compiled, *, sample_steps: int, total_samples: int):
        """The float rule on the layer's float dynamics (``learning_float.py``)."""
        from .learners import FloatLearner

        return FloatLearner(lowered, sample_steps, compiled.normalised.layer(lowered.name))


FLOAT = FloatReference()
