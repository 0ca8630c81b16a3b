"""Lava simulator backend (``--target loihi-sim``).

Builds the quantised network as Lava processes and runs it with
``Loihi2SimCfg(select_tag="fixed_pt")``:

    RingBuffer (input) -> Dense -> LIF -> Dense -> LIF ... ; every neuron layer -> sink RingBuffer

Neurons use Lava's own ``LIF`` where it can express the layer (one du/dv/vth, reset to
zero) and ``NeurodeployLIF`` otherwise (see ``lava_processes/neurodeploy_lif.py``). The network is
compiled once; each sample is one ``run`` of ``steps`` steps, after which u, v and the
Dense buffers are reset and the next sample's input is written into the source.
Lava's runtime is stopped in every case, errors included.

Activity counts come from the recorded spikes through the same synapse arithmetic the
CPU backend uses (``fixed_point.py``); u and v (and with them the saturation counts) are
observed with Lava ``Monitor`` processes only when ``record_state`` is set.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import BackendUnavailableError
from ..ir.stages import INPUT, QuantisedLayer, QuantisedNetwork
from . import fixed_point as fx
from . import lava_compat
from .results import LayerActivity, RunResult

# The integer formats Lava's fixed-point LIF/Dense models hard-code (lava/proc/lif/models.py).
LAVA_ARITHMETIC = {
    "decay_bits": 12,
    "threshold_shift": 6,
    "activation_shift": 6,
    "state_bits": 24,
    "weight_mantissa_bits": 8,
}


def check_profile_matches_lava(network: QuantisedNetwork, profile_name: str) -> None:
    """Lava's models have fixed widths: a profile with other widths cannot run there."""
    arith = network.arithmetic
    different = [f"{key} = {getattr(arith, key)} (Lava: {value})" for key, value in LAVA_ARITHMETIC.items() if getattr(arith, key) != value]
    if different:
        raise BackendUnavailableError(
            f"profile {profile_name!r} uses {', '.join(different)}, but Lava's fixed-point models are built for "
            "Loihi's widths: use --target cpu for this profile"
        )


@dataclass
class _LavaNetwork:
    source: object
    dense: dict
    neurons: dict
    sinks: dict
    monitors: dict  # layer -> {"u": Monitor, "v": Monitor}


def run_lava(
    network: QuantisedNetwork,
    inputs: np.ndarray,
    record_spikes: bool = False,
    record_state: bool = False,
    progress: bool = False,
) -> RunResult:
    """Run integer ``inputs`` (steps, batch, n_inputs) on Lava's fixed-point simulator."""
    lava_compat.install()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    from .lava_processes.neurodeploy_lif import NeurodeployLIF, PyNeurodeployLifModel

    start = time.perf_counter()
    steps, batch = inputs.shape[:2]
    x_all = inputs.reshape(steps, batch, -1).astype(np.int32)
    lava_net = _build(network, _sample_data(x_all, 0), steps, batch, record_state)
    run_cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={NeurodeployLIF: PyNeurodeployLifModel})
    rasters = {layer.name: np.zeros((steps, batch, layer.n_out), bool) for layer in network.layers}
    anchor = lava_net.source
    try:
        for b in _sample_range(batch, progress):
            if b > 0:  # a Var can only be set once the runtime exists, i.e. after the first run
                _reset_state(network, lava_net)
                lava_net.source.data.set(_sample_data(x_all, b))
            anchor.run(condition=RunSteps(num_steps=steps), run_cfg=run_cfg)
            for layer in network.layers:
                rasters[layer.name][:, b, :] = lava_net.sinks[layer.name].data.get().T.astype(bool)
        traces = _read_traces(network, lava_net, steps, batch) if record_state else None
    finally:
        _stop(anchor)
    activity = activity_from_rasters(network, x_all, rasters, traces)
    out = network.output_layer
    out_v_sum = (
        traces[out.name]["v"].astype(np.int64).sum(axis=0) / out.state_scale + steps * out.float_layer.neurons.v_offset
        if traces
        else np.zeros((batch, out.n_out))
    )
    return RunResult(
        target="loihi-sim",
        steps=steps,
        batch=batch,
        layers=activity,
        output_layer=out.name,
        output_v_sum=out_v_sum,
        rasters=rasters if record_spikes else None,
        traces=traces,
        wall_s=time.perf_counter() - start,
    )


def _sample_data(x_all: np.ndarray, b: int) -> np.ndarray:
    """One sample's input as the source RingBuffer holds it: (n_inputs, steps)."""
    return np.ascontiguousarray(x_all[:, b, :].T)


def _build(network: QuantisedNetwork, first_sample: np.ndarray, steps: int, batch: int, record_state: bool) -> _LavaNetwork:
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor
    from lava.utils.weightutils import SignMode

    from .lava_processes.neurodeploy_lif import NeurodeployLIF

    sign_modes = {"mixed": SignMode.MIXED, "excitatory": SignMode.EXCITATORY, "inhibitory": SignMode.INHIBITORY}
    source = Source(data=first_sample)
    outputs = {INPUT: source.s_out}
    dense, neurons, sinks, monitors = {}, {}, {}, {}
    for layer in network.layers:
        syn = layer.synapses
        dense[layer.name] = Dense(
            weights=syn.weights.astype(np.int32),
            weight_exp=syn.weight_exp,
            num_weight_bits=syn.mantissa_bits,
            sign_mode=sign_modes[syn.sign_mode],
            num_message_bits=syn.graded_bits,
            name=f"{layer.name}.dense",
        )
        neurons[layer.name] = _neuron_process(layer, LIF, NeurodeployLIF)
        outputs[layer.source].connect(dense[layer.name].s_in)
        dense[layer.name].a_out.connect(neurons[layer.name].a_in)
        sinks[layer.name] = Sink(shape=(layer.n_out,), buffer=steps)
        neurons[layer.name].s_out.connect(sinks[layer.name].a_in)
        outputs[layer.name] = neurons[layer.name].s_out
        if record_state:
            monitors[layer.name] = {}
            for var in ("u", "v"):
                monitor = Monitor()
                monitor.probe(getattr(neurons[layer.name], var), steps * batch)
                monitors[layer.name][var] = monitor
    return _LavaNetwork(source, dense, neurons, sinks, monitors)


def uses_lava_lif(layer: QuantisedLayer) -> bool:
    """Lava's own LIF fits: reset to zero and one du, dv and vth for the whole layer."""
    return layer.neurons.reset == "zero" and layer.neurons.has_uniform_parameters


def _neuron_process(layer: QuantisedLayer, lif_cls, custom_cls):
    neu = layer.neurons
    shape = (layer.n_out,)
    common = dict(
        shape=shape,
        u=np.zeros(shape, np.int32),
        v=neu.v_init.astype(np.int32),
        bias_mant=neu.bias_mant.astype(np.int32),
        bias_exp=neu.bias_exp.astype(np.int32),
        name=f"{layer.name}.neurons",
    )
    if uses_lava_lif(layer):
        return lif_cls(du=int(neu.du[0]), dv=int(neu.dv[0]), vth=int(neu.vth[0]), **common)
    return custom_cls(
        du=neu.du.astype(np.int32),
        dv=neu.dv.astype(np.int32),
        vth=neu.vth.astype(np.int32),
        reset_sub=neu.reset_sub.astype(np.int32),
        reset=neu.reset,
        **common,
    )


def _reset_state(network: QuantisedNetwork, lava_net: _LavaNetwork) -> None:
    """Between samples: u = 0, v = v_init, and no synaptic input in flight."""
    for layer in network.layers:
        proc = lava_net.neurons[layer.name]
        proc.u.set(np.zeros(layer.n_out, np.int32))
        proc.v.set(layer.neurons.v_init.astype(np.int32))
        lava_net.dense[layer.name].a_buff.set(np.zeros(layer.n_out, np.int32))


def _read_traces(network: QuantisedNetwork, lava_net: _LavaNetwork, steps: int, batch: int) -> dict:
    traces = {}
    for layer in network.layers:
        proc = lava_net.neurons[layer.name]
        traces[layer.name] = {}
        for var, monitor in lava_net.monitors[layer.name].items():
            data = monitor.get_data()[proc.name][var]  # (batch * steps, n), float
            traces[layer.name][var] = data.reshape(batch, steps, layer.n_out).transpose(1, 0, 2).astype(np.int32)
    return traces


def _stop(anchor) -> None:
    runtime = getattr(anchor, "runtime", None)
    if runtime is not None:
        anchor.stop()


def activity_from_rasters(
    network: QuantisedNetwork, inputs: np.ndarray, rasters: dict[str, np.ndarray], traces: dict | None
) -> dict[str, LayerActivity]:
    """Counts from recorded spikes; a_in re-derived with the Dense arithmetic of fixed_point.py."""
    steps, batch = inputs.shape[:2]
    from .cpu import prepare_kernels

    activity = {}
    for kernel in prepare_kernels(network):
        layer = kernel.layer
        src = inputs if layer.source == INPUT else rasters[layer.source]
        acts = LayerActivity(layer.name, layer.n_out)
        acts.spike_counts = rasters[layer.name].sum(axis=0, dtype=np.int64)
        acts.spikes = int(acts.spike_counts.sum())
        acts.synops = int(np.count_nonzero(src)) * layer.n_out
        acts.neuron_updates = layer.n_out * steps * batch
        acts.active_neuron_updates = sum(
            int(np.count_nonzero(kernel.synaptic_input(src[t]))) for t in range(steps - 1)
        )
        if traces:
            acts.saturations = _saturations_from_traces(network, layer, kernel, traces, src)
        activity[layer.name] = acts
    return activity


def _saturations_from_traces(network, layer, kernel, traces, src) -> dict[str, int]:
    """Replays each step's update from the observed previous state to count wraps and clips."""
    arith = network.arithmetic
    u_trace, v_trace = traces[layer.name]["u"], traces[layer.name]["v"]
    steps = u_trace.shape[0]
    u_prev = np.zeros_like(u_trace[0])
    v_prev = np.tile(layer.neurons.v_init.astype(np.int32), (u_trace.shape[1], 1))
    a_in = np.zeros_like(u_trace[0])
    counts = {"u_wrap": 0, "v_saturate": 0}
    for t in range(steps):
        _, _, wrapped, saturated = fx.neuron_step(u_prev, v_prev, a_in, kernel.u_keep, kernel.v_keep, kernel.bias, arith)
        counts["u_wrap"] += int(np.count_nonzero(wrapped))
        counts["v_saturate"] += int(np.count_nonzero(saturated))
        a_in = kernel.synaptic_input(src[t])
        u_prev, v_prev = u_trace[t], v_trace[t]
    return counts


def _sample_range(batch: int, progress: bool):
    import sys

    if not progress or not sys.stderr.isatty():
        return range(batch)
    from tqdm import tqdm

    return tqdm(range(batch), desc="loihi-sim", unit="sample", leave=False)
