"""Bit-accurate CPU backend (``--target cpu``): Lava's fixed-point semantics, batched.

Runs ``backends/fixed_point.py`` vectorised over neurons and batch. Per step, in layer
order (every layer's synapses see the current step's spikes of their source):

    a_in      = buffer[layer]                  # Dense's one-step delay, as in Lava
    buffer    = Dense(spikes of source, now)   # sum of weights of active inputs, shifted
    u, v      = neuron_step(u, v, a_in)        # 24-bit CUBA update, int32 wrap rules
    s, v      = fire_and_reset(v)

so a network of L layers answers L steps after its input, exactly like Lava's
``Dense -> LIF`` chains. Synaptic sums use a float BLAS product when it is provably
exact (every partial sum below 2**24 for float32, 2**53 for float64), else int64.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np

from ..ir.profile import ArithmeticSpec
from ..ir.stages import INPUT, QuantisedLayer, QuantisedNetwork
from . import fixed_point as fx
from .results import LayerActivity, RunResult


@dataclass
class _LayerKernel:
    """Constant per-layer arrays, prepared once per run."""

    layer: QuantisedLayer
    weights_t: np.ndarray  # (n_in, n_out) in the exact dtype chosen for the product
    weights_int_t: np.ndarray  # (n_in, n_out) int64, for the event-driven gather path
    graded: bool
    u_keep: np.ndarray
    v_keep: np.ndarray
    bias: np.ndarray
    vth_eff: np.ndarray
    reset_sub: np.ndarray

    def synaptic_input(self, src: np.ndarray) -> np.ndarray:
        """Dense output (int32, as it leaves Lava's channel) for one step of source values."""
        exp = self.layer.synapses.weight_exp
        if self.graded:
            return fx.synaptic_input_graded(self._weighted_sum(src), exp)
        return fx.synaptic_input_binary(self._weighted_sum(src != 0), exp)

    def _weighted_sum(self, src: np.ndarray) -> np.ndarray:
        if src.shape[0] == 1 and not self.graded:
            active = np.flatnonzero(src[0])
            return self.weights_int_t[active].sum(axis=0, dtype=np.int64)[None, :]
        if self.weights_t.dtype == np.int64:
            return src.astype(np.int64) @ self.weights_t
        return np.rint(src.astype(self.weights_t.dtype) @ self.weights_t).astype(np.int64)


def _exact_product_dtype(weights: np.ndarray, input_max: int) -> type:
    """Smallest float type in which every partial sum of input x weight is an exact integer."""
    bound = float(np.abs(weights.astype(np.float64)).sum(axis=1).max(initial=0.0)) * input_max
    if bound < 2**24:
        return np.float32
    if bound < 2**53:
        return np.float64
    return np.int64


def prepare_kernels(network: QuantisedNetwork) -> list[_LayerKernel]:
    arith = network.arithmetic
    kernels = []
    for layer in network.layers:
        syn, neu = layer.synapses, layer.neurons
        graded = syn.graded_bits > 0
        input_max = (1 << (syn.graded_bits - 1)) if graded else 1
        dtype = _exact_product_dtype(syn.weights, input_max)
        kernels.append(
            _LayerKernel(
                layer=layer,
                weights_t=np.ascontiguousarray(syn.weights.T.astype(dtype)),
                weights_int_t=np.ascontiguousarray(syn.weights.T.astype(np.int64)),
                graded=graded,
                u_keep=fx.current_keep(neu.du, arith),
                v_keep=fx.voltage_keep(neu.dv, arith),
                bias=fx.effective_bias(neu.bias_mant, neu.bias_exp),
                vth_eff=fx.effective_threshold(neu.vth, arith),
                reset_sub=neu.reset_sub.astype(np.int32),
            )
        )
    return kernels


def run_cpu(
    network: QuantisedNetwork,
    inputs: np.ndarray,
    record_spikes: bool = False,
    record_state: bool = False,
    progress: bool = False,
) -> RunResult:
    """Simulate integer ``inputs`` of shape (steps, batch, n_inputs) bit-exactly as Lava would."""
    start = time.perf_counter()
    steps, batch = inputs.shape[:2]
    x_all = inputs.reshape(steps, batch, -1)
    arith: ArithmeticSpec = network.arithmetic
    kernels = prepare_kernels(network)
    state = {
        k.layer.name: {
            "u": np.zeros((batch, k.layer.n_out), np.int32),
            "v": np.tile(k.layer.neurons.v_init.astype(np.int32), (batch, 1)),
            "buffer": np.zeros((batch, k.layer.n_out), np.int32),
        }
        for k in kernels
    }
    activity = {
        k.layer.name: LayerActivity(
            k.layer.name, k.layer.n_out, spike_counts=np.zeros((batch, k.layer.n_out), np.int64),
            saturations={"u_wrap": 0, "v_saturate": 0},
        )
        for k in kernels
    }
    rasters = {k.layer.name: np.zeros((steps, batch, k.layer.n_out), bool) for k in kernels} if record_spikes else None
    traces = (
        {k.layer.name: {"u": np.zeros((steps, batch, k.layer.n_out), np.int32), "v": np.zeros((steps, batch, k.layer.n_out), np.int32)} for k in kernels}
        if record_state
        else None
    )
    out = network.output_layer
    out_v_sum = np.zeros((batch, out.n_out), np.int64)
    for t in _step_range(steps, batch, progress):
        signals = {INPUT: x_all[t]}
        for kernel in kernels:
            layer, st, acts = kernel.layer, state[kernel.layer.name], activity[kernel.layer.name]
            src = signals[layer.source]
            a_in = st["buffer"]
            st["buffer"] = kernel.synaptic_input(src)
            u, v, u_wrapped, v_saturated = fx.neuron_step(st["u"], st["v"], a_in, kernel.u_keep, kernel.v_keep, kernel.bias, arith)
            if layer.neurons.spiking:
                spikes, v = fx.fire_and_reset(v, kernel.vth_eff, layer.neurons.reset, kernel.reset_sub)
                acts.spike_counts += spikes
            else:
                spikes = np.zeros(v.shape, bool)
            st["u"], st["v"] = u, v
            acts.synops += int(np.count_nonzero(src)) * layer.n_out
            acts.active_neuron_updates += int(np.count_nonzero(a_in))
            acts.saturations["u_wrap"] += int(np.count_nonzero(u_wrapped))
            acts.saturations["v_saturate"] += int(np.count_nonzero(v_saturated))
            signals[layer.name] = spikes
            if rasters is not None:
                rasters[layer.name][t] = spikes
            if traces is not None:
                traces[layer.name]["u"][t], traces[layer.name]["v"][t] = u, v
        out_v_sum += state[out.name]["v"]
    for kernel in kernels:
        acts = activity[kernel.layer.name]
        acts.spikes = int(acts.spike_counts.sum())
        acts.neuron_updates = kernel.layer.n_out * steps * batch
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


def _step_range(steps: int, batch: int, progress: bool):
    if not progress or not sys.stderr.isatty():
        return range(steps)
    from tqdm import tqdm

    return tqdm(range(steps), desc="cpu", unit="step", unit_scale=batch, leave=False)
