"""Float reference: the normalised network's NIR semantics in float64 (``--target float``).

Runs the per-step equations of ``NeuronDynamics`` with no synaptic delay (NIR has
none), vectorised over neurons and batch. Its spikes show what quantisation and
Loihi's one-step synaptic delay change.
"""
from __future__ import annotations

import time

import numpy as np

from ..ir.stages import INPUT, NormalisedNetwork
from .results import LayerActivity, RunResult


def run_float(
    network: NormalisedNetwork, inputs: np.ndarray, record_spikes: bool = False, record_state: bool = False
) -> RunResult:
    """Simulate ``inputs`` of shape (steps, batch, n_inputs) (spikes or graded values)."""
    start = time.perf_counter()
    steps, batch = inputs.shape[:2]
    x_all = inputs.reshape(steps, batch, -1).astype(np.float64)
    activity = {l.name: LayerActivity(l.name, l.n_out, spike_counts=np.zeros((batch, l.n_out), np.int64)) for l in network.layers}
    u = {l.name: np.zeros((batch, l.n_out)) for l in network.layers}
    v = {l.name: np.tile(-l.neurons.v_offset, (batch, 1)) for l in network.layers}
    rasters = {l.name: np.zeros((steps, batch, l.n_out), bool) for l in network.layers} if record_spikes else None
    traces = (
        {l.name: {"u": np.zeros((steps, batch, l.n_out)), "v": np.zeros((steps, batch, l.n_out))} for l in network.layers}
        if record_state
        else None
    )
    out_name = network.output_layer.name
    out_v_sum = np.zeros((batch, network.output_layer.n_out))
    weights_t = {l.name: l.weight.T.copy() for l in network.layers}
    for t in range(steps):
        signals = {INPUT: x_all[t]}
        for layer in network.layers:
            dyn, name = layer.neurons, layer.name
            src = signals[layer.source]
            a = src @ weights_t[name]
            acts = activity[name]
            acts.synops += int(np.count_nonzero(src)) * layer.n_out
            acts.active_neuron_updates += int(np.count_nonzero(a))
            u[name] = dyn.alpha * u[name] + a + dyn.current_bias
            v[name] = dyn.beta * v[name] + u[name] + dyn.bias
            if dyn.spiking:
                s = v[name] > dyn.threshold
                if dyn.reset == "zero":
                    v[name] = np.where(s, 0.0, v[name])
                else:
                    v[name] = np.where(s, v[name] - dyn.reset_amount, v[name])
            else:
                s = np.zeros_like(v[name], dtype=bool)
            acts.spike_counts += s
            signals[name] = s.astype(np.float64)
            if rasters is not None:
                rasters[name][t] = s
            if traces is not None:
                traces[name]["u"][t], traces[name]["v"][t] = u[name], v[name]
        out_v_sum += v[out_name] + network.output_layer.neurons.v_offset
    for layer in network.layers:
        acts = activity[layer.name]
        acts.spikes = int(acts.spike_counts.sum())
        acts.neuron_updates = layer.n_out * steps * batch
    return RunResult(
        target="float",
        steps=steps,
        batch=batch,
        layers=activity,
        output_layer=out_name,
        output_v_sum=out_v_sum,
        rasters=rasters,
        traces=traces,
        wall_s=time.perf_counter() - start,
    )

