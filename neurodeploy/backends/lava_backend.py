"""Lava simulator backend (``--target loihi-sim``).

Builds the quantised network as Lava processes and runs it with
``Loihi2SimCfg(select_tag="fixed_pt")``:

    MemmapSource (input) -> Dense | Sparse | Conv | DelayDense | DelaySparse -> LIF ...

Each projection is the Lava connection process the quantiser chose for it (recurrent
ones included: Lava's connections send last step's sums, so cycles cannot deadlock);
Conv gets its input and output reshaped between neurodeploy's flat (C, H, W) order and
Lava's (W, H, C). Neurons are Lava's own ``LIF`` where it can express the
layer (one du/dv/vth, reset to zero) and ``NeurodeployLIF`` otherwise (per-neuron
parameters, subtractive reset, non-spiking readout; see ``lava_processes/``). All
samples run in one compiled network, one after another in a single run (split into
chunks only to show progress): the process models in ``lava_processes/sampled_models.py``
are Lava's bit-accurate models, subclassed only to restore the initial state at each
sample start and to record spikes (and u, v) into memory-mapped files. Lava's runtime
is stopped in every case, errors and interrupts included, and none of its processes or
shared memory outlives the run (``lava_runtime.py``).

Activity counts come from the recorded spikes through the same synapse arithmetic the
CPU backend uses (``hardware/fixed_point.py``); updated neurons (``core_counts.py``) from the
recorded v of every layer; saturation counts need u and v, recorded only when
``record_state`` is set.
"""
from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from ..errors import BackendUnavailableError
from ..hardware import fixed_point as fx
from ..ir.stages import INPUT, MappedNetwork, QuantisedLayer, QuantisedNetwork, QuantisedProjection
from ..neurons import COMPARTMENTS, compartment_of
from ..neurons.cuba import lava_process
from . import lava_compat
from .core_counts import ArrivalBuffers, CorePlan, StepCounter, updated_mask
from .kernels import NeuronKernel, SynapticBuffers
from .lava_runtime import contained
from .results import LayerActivity, RunResult, fill_synops, raster_dtype
from .target import RunRequest, Target, recorded

# The integer formats Lava's fixed-point LIF/Dense models hard-code (lava/proc/lif/models.py).
LAVA_ARITHMETIC = {
    "decay_bits": 12,
    "threshold_shift": 6,
    "activation_shift": 6,
    "state_bits": 24,
    "weight_mantissa_bits": 8,
}
PROGRESS_CHUNKS = 50  # a run with a progress bar is split into about this many run() calls


def check_profile_matches_lava(network: QuantisedNetwork, profile_name: str) -> None:
    """Lava's models have fixed widths: a profile with other widths cannot run there."""
    arith = network.arithmetic
    different = [f"{key} = {getattr(arith, key)} (Lava: {value})" for key, value in LAVA_ARITHMETIC.items() if getattr(arith, key) != value]
    if different:
        raise BackendUnavailableError(
            f"profile {profile_name!r} uses {', '.join(different)}, but Lava's fixed-point models are built for "
            "Loihi's widths: use --target cpu for this profile"
        )


def uses_lava_lif(layer: QuantisedLayer) -> bool:
    """Lava's own LIF fits: reset to zero and one du, dv and vth for the whole layer
    (the CUBA compartment's choice, ``neurons/cuba.py``)."""
    return lava_process(layer.neurons) == "LIF"


@dataclass
class _Recording:
    """Memory-mapped files the neuron processes write into, one row per step."""

    directory: Path
    total_steps: int

    def create(self, name: str, n: int, dtype) -> str:
        path = self.directory / f"{name}.npy"
        np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(self.total_steps, n)).flush()
        return str(path)

    def read(self, path: str, steps: int, batch: int) -> np.ndarray:
        """(batch * steps, n) sample-major rows -> (steps, batch, n)."""
        rows = np.load(path)
        return rows.reshape(batch, steps, -1).transpose(1, 0, 2).copy()


def run_lava(
    network: QuantisedNetwork,
    inputs: np.ndarray,
    record_spikes: bool = False,
    record_state: bool = False,
    progress: bool = False,
    windows: dict[str, tuple[int, int]] | None = None,
    per_core: MappedNetwork | None = None,
    core_plan: CorePlan | None = None,
    spike_layers: Collection[str] | None = None,
    state_layers: Collection[str] | None = None,
) -> RunResult:
    """Run integer ``inputs`` (steps, batch, n_inputs) on Lava's fixed-point simulator;
    ``windows`` as in ``run_cpu``. ``per_core``: build the mapped network as it sits on
    the chip, one neuron process per layer slice (per core) and one connection process
    per slice and projection, instead of one per layer (same results, more processes).
    ``state_layers``: the layers whose state is recorded (None: every layer); every layer's
    spikes are recorded (the activity counts need them); the rasters of ``spike_layers`` and of the layers whose state is recorded are returned."""
    lava_compat.install()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    start = time.perf_counter()
    steps, batch = inputs.shape[:2]
    x_all = inputs.reshape(steps, batch, -1).astype(np.int32)
    names = [layer.name for layer in network.layers]
    traced = recorded(names, record_state, state_layers)
    with tempfile.TemporaryDirectory(prefix="neurodeploy-lava-") as tmp:
        recording = _Recording(Path(tmp), steps * batch)
        input_path = Path(tmp) / "input.npy"
        np.save(input_path, x_all.transpose(1, 0, 2).reshape(batch * steps, -1))  # sample after sample
        models = _model_map()
        if per_core is not None:
            anchor, files, gathers = _build_per_core(per_core, str(input_path), steps, recording, traced, core_plan is not None)
            models.update(gathers)
        else:
            anchor, files = _build(network, str(input_path), steps, recording, traced, core_plan is not None)
        run_cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=models)
        with contained() as lava:  # Lava's processes and shared memory end with the run, whatever ends it
            lava.anchor = anchor
            for samples in _chunks(batch, progress):
                anchor.run(condition=RunSteps(num_steps=samples * steps), run_cfg=run_cfg)
        read = _reader(network, files, recording, steps, batch)
        rasters = {layer.name: read(layer.name, "spikes").astype(raster_dtype(layer)) for layer in network.layers}
        traces = {name: {var: read(name, var) for var in _state_names(network.layer(name))} for name in names if name in traced} if record_state else None
        voltages = {layer.name: read(layer.name, "v") for layer in network.layers} if core_plan is not None else None
        out = network.output_layer
        out_v = read(out.name, "v")  # for graded (non-spiking) readouts
    counter = StepCounter(core_plan, batch, steps) if core_plan is not None else None
    activity = activity_from_rasters(network, x_all, rasters, traces, voltages, counter)
    for name, (first, last) in (windows or {}).items():
        activity[name].window = (first, last)
        activity[name].window_counts = rasters[name][first:last].sum(axis=0, dtype=np.int64)
    out_v_sum = out_v.astype(np.int64).sum(axis=0) / out.state_scale + steps * out.float_layer.neurons.v_offset
    kept = recorded(names, record_spikes, spike_layers) | traced  # rasters returned: those asked for, and where the state is
    return RunResult(
        target="loihi-sim",
        steps=steps,
        batch=batch,
        layers=activity,
        output_layer=out.name,
        output_v_sum=out_v_sum,
        rasters={name: raster for name, raster in rasters.items() if name in kept} if record_spikes or record_state else None,
        traces=traces,
        core_counts=counter.result() if counter is not None else None,
        input_events=np.count_nonzero(x_all, axis=(0, 1)).astype(np.int64),
        wall_s=time.perf_counter() - start,
    )


def _reader(network: QuantisedNetwork, files: dict, recording: _Recording, steps: int, batch: int):
    """read(layer, var) -> (steps, batch, n): one file per layer, or one per slice
    (``files[layer] = [(neuron index, paths), ...]``) reassembled in neuron order."""

    def read(name: str, var: str) -> np.ndarray:
        entry = files[name]
        if isinstance(entry, dict):
            return recording.read(entry[var], steps, batch)
        parts = [(index, recording.read(paths[var], steps, batch)) for index, paths in entry]
        whole = np.zeros((steps, batch, network.layer(name).n_out), dtype=parts[0][1].dtype)
        for index, values in parts:
            whole[:, :, index] = values
        return whole

    return read


def _model_map() -> dict:
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.lif.process import LIF
    from lava.proc.sparse.process import DelaySparse, Sparse

    from .lava_processes import sampled_models as sm
    from .lava_processes.memmap_io import MemmapSource, PyMemmapSourceModel
    from .lava_processes.neurodeploy_lif import NeurodeployLIF

    models = {}
    for compartment in COMPARTMENTS:
        if compartment.name != "cuba":
            models.update(_compartment_module(compartment).sampled_models())
    return {
        **models,
        LIF: sm.PySampledLifModel,
        NeurodeployLIF: sm.PySampledNeurodeployLifModel,
        Dense: sm.PySampledDenseModel,
        Sparse: sm.PySampledSparseModel,
        DelayDense: sm.PySampledDelayDenseModel,
        DelaySparse: sm.PySampledDelaySparseModel,
        Conv: sm.PySampledConvModel,
        MemmapSource: PyMemmapSourceModel,
    }


def _build(network: QuantisedNetwork, input_path: str, steps: int, recording: _Recording, traced: Collection[str], count_updates: bool = False):
    """Processes and connections; returns (a process to run/stop, per-layer recording files).
    The layers ``traced`` record their whole state; every layer's v is recorded with
    ``count_updates`` (updated neurons need it), else the output's."""
    from lava.proc.lif.process import LIF

    from .lava_processes.memmap_io import MemmapSource
    from .lava_processes.neurodeploy_lif import NeurodeployLIF

    source = MemmapSource(path=input_path, n=network.n_inputs, name="input")
    outputs = {INPUT: source.s_out}
    neurons, files = {}, {}
    for layer in network.layers:
        files[layer.name] = {"spikes": recording.create(f"{layer.name}.spikes", layer.n_out, _spike_file_dtype(layer))}
        state = _state_names(layer) if layer.name in traced else ("v",) if count_updates or layer.name == network.output_layer.name else ()
        for var in state:
            files[layer.name][var] = recording.create(f"{layer.name}.{var}", layer.n_out, np.int32)
        neurons[layer.name] = _neuron_process(layer, LIF, NeurodeployLIF, sample_steps=steps, record=files[layer.name])
        outputs[layer.name] = neurons[layer.name].s_out
    for layer in network.layers:  # connections after all neurons exist: sources may come later (recurrence)
        for i, projection in enumerate(layer.projections):
            connection = _connection_process(projection, f"{layer.name}.{projection.source}.{i}", steps)
            _connect_source(outputs[projection.source], connection, projection)
            _connect_target(connection, neurons[layer.name], projection)
    return source, files


def _build_per_core(mapped: MappedNetwork, input_path: str, steps: int, recording: _Recording, traced: Collection[str], count_updates: bool = False):
    """Processes per layer slice, as mapped: each slice's neurons, and for each of its
    projections one connection process holding the slice's rows, fed by the source
    layer's slices joined by a ``GatherSpikes`` process (``lava_processes/gather.py``),
    so every sum is formed and shifted exactly as in the unpartitioned network.
    Convolutions become ``Sparse`` (a slice of a feature map has no convolution shape of
    its own). Returns the anchor process, the recording files per slice, and the extra
    process-model map entries for the gather processes."""
    from lava.proc.lif.process import LIF

    from .lava_processes.memmap_io import MemmapSource
    from .lava_processes.neurodeploy_lif import NeurodeployLIF

    network = mapped.quantised
    source = MemmapSource(path=input_path, n=network.n_inputs, name="input")
    outputs = {INPUT: (source.s_out, np.arange(network.n_inputs))}
    models: dict = {}
    neurons, files = {}, {}
    for layer in network.layers:
        ports, order, files[layer.name] = [], [], []
        for piece in mapped.mapping(layer.name).slices:
            part = slice_layer(layer, piece.index)
            tag = f"{layer.name}.core{piece.core}.{len(files[layer.name])}"
            paths = {"spikes": recording.create(f"{tag}.spikes", part.n_out, _spike_file_dtype(part))}
            state = _state_names(layer) if layer.name in traced else ("v",) if count_updates or layer.name == network.output_layer.name else ()
            for var in state:
                paths[var] = recording.create(f"{tag}.{var}", part.n_out, np.int32)
            process = _neuron_process(part, LIF, NeurodeployLIF, sample_steps=steps, record=paths)
            process.name = f"{tag}.neurons"
            neurons[tag] = (process, part)
            files[layer.name].append((piece.index, paths))
            ports.append(process.s_out)
            order.append(piece.index)
        outputs[layer.name] = (_gathered(ports, f"{layer.name}.gather", models), np.concatenate(order))
    for tag, (process, part) in neurons.items():
        for i, projection in enumerate(part.projections):
            port, order = outputs[projection.source]
            projection = _reorder_sources(projection, order)
            connection = _connection_process(projection, f"{tag}.{projection.source}.{i}", steps)
            connection.a_out.connect(process.a_in)
            port.connect(connection.s_in)
    return source, files, models


def _gathered(ports: list, name: str, models: dict):
    """One out-port carrying all ``ports`` joined (the port itself when there is one)."""
    if len(ports) == 1:
        return ports[0]
    from .lava_processes.gather import gather_classes

    process_class, model_class = gather_classes(len(ports))
    models[process_class] = model_class
    gather = process_class(sizes=tuple(int(p.shape[0]) for p in ports), name=name)
    for i, port in enumerate(ports):
        port.connect(getattr(gather, f"in_{i}"))
    return gather.s_out


def slice_layer(layer: QuantisedLayer, index: np.ndarray) -> QuantisedLayer:
    """The neurons ``index`` of ``layer`` as a flat layer of their own: their parameters
    and their rows of every projection (convolutions as ``Sparse``)."""
    import dataclasses

    neurons = layer.neurons
    per_neuron = {
        f.name: getattr(neurons, f.name)[index]
        for f in dataclasses.fields(neurons)
        if isinstance(getattr(neurons, f.name), np.ndarray) and getattr(neurons, f.name).shape == (layer.n_out,)
    }
    projections = []
    for p in layer.projections:
        rows = p.weights[index] if not sparse.issparse(p.weights) else sparse.csr_matrix(p.weights)[index]
        delays = None if p.delays is None else (p.delays[index] if not sparse.issparse(p.delays) else sparse.csr_matrix(p.delays)[index])
        connection = "Sparse" if p.connection == "Conv" else p.connection
        projections.append(dataclasses.replace(p, weights=rows, delays=delays, connection=connection, geometry=None if connection != "Conv" else p.geometry))
    return dataclasses.replace(layer, shape=(int(index.size),), projections=tuple(projections), neurons=dataclasses.replace(neurons, **per_neuron))


def _reorder_sources(projection: QuantisedProjection, order: np.ndarray) -> QuantisedProjection:
    """Columns in the order of the source's concatenated slice outputs."""
    import dataclasses

    if np.array_equal(order, np.arange(order.size)):
        return projection
    pick = (lambda m: sparse.csr_matrix(m)[:, order]) if sparse.issparse(projection.weights) else (lambda m: m[:, order])
    delays = None if projection.delays is None else pick(projection.delays)
    return dataclasses.replace(projection, weights=pick(projection.weights), delays=delays)


def _connection_process(projection: QuantisedProjection, name: str, steps: int):
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.sparse.process import DelaySparse, Sparse
    from lava.utils.weightutils import SignMode

    sign_modes = {"mixed": SignMode.MIXED, "excitatory": SignMode.EXCITATORY, "inhibitory": SignMode.INHIBITORY}
    common = dict(
        weight_exp=projection.weight_exp,
        num_weight_bits=projection.mantissa_bits,
        sign_mode=sign_modes[projection.sign_mode],
        num_message_bits=projection.graded_bits,
        name=name,
        sample_steps=steps,
    )
    kind = projection.connection
    if kind == "Conv":
        g = projection.geometry
        # Lava's Conv: WHC tensors, kernel (out, x, y, in/groups), and a true convolution
        # (flipped kernel) where PyTorch and NIR correlate.
        weight = g.kernel.transpose(0, 3, 2, 1)[:, ::-1, ::-1, :].astype(np.int32).copy()
        conv = Conv(
            weight=weight,
            input_shape=(g.in_shape[2], g.in_shape[1], g.in_shape[0]),
            padding=(g.padding[1], g.padding[0]),
            stride=(g.stride[1], g.stride[0]),
            dilation=(g.dilation[1], g.dilation[0]),
            groups=g.groups,
            weight_exp=0,
            num_weight_bits=projection.mantissa_bits,
            num_message_bits=projection.graded_bits,
            name=name,
        )
        conv.proc_params["sample_steps"] = steps  # Conv takes no extra keyword arguments
        return conv
    weights = projection.weights
    if kind == "Dense":
        return Dense(weights=np.asarray(weights, np.int32), **common)
    if kind == "Sparse":
        return Sparse(weights=sparse.csr_matrix(weights, dtype=np.int32), **common)
    if kind == "DelayDense":
        # Lava checks ``delays.dtype == int`` (int64)
        return DelayDense(weights=np.asarray(weights, np.int32), delays=np.asarray(projection.delays, np.int64), **common)
    if kind == "DelaySparse":
        w = sparse.csr_matrix(weights, dtype=np.int32)
        d = sparse.csr_matrix(projection.delays, dtype=np.int64)
        return DelaySparse(weights=w, delays=d, **common)
    raise BackendUnavailableError(f"no Lava process for connection {kind!r}")  # pragma: no cover


def _connect_source(port, connection, projection: QuantisedProjection) -> None:
    if projection.connection == "Conv":
        c, h, w = projection.geometry.in_shape
        port.reshape((c, h, w)).transpose((2, 1, 0)).connect(connection.s_in)
    else:
        port.connect(connection.s_in)


def _connect_target(connection, neurons, projection: QuantisedProjection) -> None:
    if projection.connection == "Conv":
        connection.a_out.transpose((2, 1, 0)).flatten().connect(neurons.a_in)
    else:
        connection.a_out.connect(neurons.a_in)


def _state_names(layer: QuantisedLayer) -> tuple[str, ...]:
    return compartment_of(layer.neurons).state


def _compartment_module(compartment):
    """The module in lava_processes/ that builds a compartment's process (``Compartment.lava_module``)."""
    import importlib

    return importlib.import_module(f"{__package__}.lava_processes.{compartment.lava_module}")


def _neuron_process(layer: QuantisedLayer, lif_cls, custom_cls, **extra):
    neu = layer.neurons
    if neu.compartment != "cuba":
        return _compartment_module(compartment_of(neu)).build_process(layer, name=f"{layer.name}.neurons", **extra)
    shape = (layer.n_out,)
    common = dict(
        shape=shape,
        u=np.zeros(shape, np.int32),
        v=neu.v_init.astype(np.int32),
        bias_mant=neu.bias_mant.astype(np.int32),
        bias_exp=neu.bias_exp.astype(np.int32),
        name=f"{layer.name}.neurons",
        **extra,
    )
    if uses_lava_lif(layer):
        return lif_cls(du=int(neu.du[0]), dv=int(neu.dv[0]), vth=int(neu.vth[0]), **common)
    return custom_cls(
        du=neu.du.astype(np.int32),
        dv=neu.dv.astype(np.int32),
        vth=neu.vth.astype(np.int32),
        reset_sub=neu.reset_sub.astype(np.int32),
        reset=neu.reset,
        inclusive=neu.inclusive,
        max_spikes=neu.max_spikes,
        v_floor=None if neu.v_floor is None else neu.v_floor.astype(np.int32),
        **common,
    )


def _spike_file_dtype(layer: QuantisedLayer):
    """Recorded spikes: 0/1 bytes, or int32 counts for a layer that fires several per step."""
    return np.int32 if layer.neurons.several_spikes else np.uint8


def _chunks(batch: int, progress: bool) -> list[int]:
    """Samples per run() call: one call, or about PROGRESS_CHUNKS calls behind a progress bar."""
    if not progress or not sys.stderr.isatty() or batch == 1:
        return [batch]
    size = max(1, -(-batch // PROGRESS_CHUNKS))
    sizes = [size] * (batch // size) + ([batch % size] if batch % size else [])
    from tqdm import tqdm

    bar = tqdm(total=batch, desc="loihi-sim", unit="sample", leave=False)

    def advance():
        for chunk in sizes:
            yield chunk
            bar.update(chunk)
        bar.close()

    return advance()


def activity_from_rasters(
    network: QuantisedNetwork, inputs: np.ndarray, rasters: dict[str, np.ndarray], traces: dict | None,
    voltages: dict[str, np.ndarray] | None = None, counter: StepCounter | None = None,
) -> dict[str, LayerActivity]:
    """Counts from recorded spikes; the synaptic input a_in of every step is re-derived with
    the connection arithmetic of hardware/fixed_point.py (the CPU backend's buffers, driven by the
    recorded spikes), which also replays each neuron update to count saturations. Updated
    neurons need every layer's recorded v (``voltages``, (steps, batch, n)); ``counter`` also
    counts every core's work per step."""
    steps, batch = inputs.shape[:2]
    arith = network.arithmetic
    buffers = SynapticBuffers(network, batch)
    arrivals = ArrivalBuffers(network, batch)
    kernels = {layer.name: NeuronKernel.build(layer, arith) for layer in network.layers if layer.neurons.compartment == "cuba"}
    others = {layer.name: compartment_of(layer.neurons) for layer in network.layers if layer.name not in kernels}
    biases = {layer.name: compartment_of(layer.neurons).update_bias(layer.neurons) for layer in network.layers}
    activity = {}
    for layer in network.layers:
        acts = LayerActivity(layer.name, layer.n_out, updated_neuron_updates=0 if voltages is not None else None)
        acts.spike_counts = rasters[layer.name].sum(axis=0, dtype=np.int64)
        if layer.neurons.several_spikes:
            acts.event_counts = (rasters[layer.name] > 0).sum(axis=0, dtype=np.int64)
        acts.spikes = int(acts.spike_counts.sum())
        acts.neuron_updates = layer.n_out * steps * batch
        acts.saturations = {"u_wrap": 0, "v_saturate": 0} if traces and layer.name in traces else None
        activity[layer.name] = acts
    previous = {
        layer.name: (np.zeros((batch, layer.n_out), np.int32), np.tile(layer.neurons.v_init.astype(np.int32), (batch, 1)))
        for layer in network.layers if layer.name in kernels
    }
    previous.update({name: compartment.init_state(network.layer(name).neurons, batch, arith) for name, compartment in others.items()})
    for t in range(steps):
        for layer in network.layers:
            a_in = buffers.take(layer.name, t)
            acts = activity[layer.name]
            acts.active_neuron_updates += int(np.count_nonzero(a_in))
            arrived = arrivals.take(layer.name, t)
            if voltages is not None:
                v_before = voltages[layer.name][t - 1] if t > 0 else np.broadcast_to(layer.neurons.v_init, arrived.shape)
                updated = updated_mask(v_before, arrived, biases[layer.name], rasters[layer.name][t])
                acts.updated_neuron_updates += int(np.count_nonzero(updated))
                if counter is not None:
                    counter.updates(t, layer.name, updated)
            traced = traces is not None and layer.name in traces  # saturations are counted where the state was recorded
            if traced and layer.name in others:  # replay the compartment's step from the recorded state
                state = {var: values.copy() for var, values in previous[layer.name].items()}
                _, wrapped, saturated = others[layer.name].step(layer.neurons, state, a_in, arith)
                acts.saturations["u_wrap"] += wrapped
                acts.saturations["v_saturate"] += saturated
                previous[layer.name] = {var: traces[layer.name][var][t] for var in previous[layer.name]}
            elif traced:
                k = kernels[layer.name]
                u_prev, v_prev = previous[layer.name]
                _, _, wrapped, saturated = fx.neuron_step(u_prev, v_prev, a_in, k.u_keep, k.v_keep, k.bias, arith)
                acts.saturations["u_wrap"] += int(np.count_nonzero(wrapped))
                acts.saturations["v_saturate"] += int(np.count_nonzero(saturated))
                previous[layer.name] = (traces[layer.name]["u"][t], traces[layer.name]["v"][t])
        signals = {INPUT: inputs[t], **{name: raster[t] for name, raster in rasters.items()}}
        buffers.deliver(signals, t)
        arrivals.deliver(signals, t)
        if counter is not None:
            for name, values in signals.items():
                counter.events(t, name, values)
    fill_synops(network, inputs, activity)
    return activity


class LavaSimulator(Target):
    """``--target loihi-sim``: the mapped network on Lava's fixed-point simulator (``run_lava``)."""

    name = "loihi-sim"
    stage = "mapped"
    bit_exact = True
    summary = "Lava's fixed-point simulator (Loihi2SimCfg, fixed_pt)"

    @property
    def compartments(self) -> frozenset[str]:
        """The registered compartments with a Lava process (``Compartment.lava_module``)."""
        return frozenset(c.name for c in COMPARTMENTS if c.lava_module)

    def check_network(self, stage: MappedNetwork) -> None:
        super().check_network(stage)
        check_profile_matches_lava(stage.quantised, stage.profile.name)

    def run(self, stage: MappedNetwork, inputs: np.ndarray, request: RunRequest) -> RunResult:
        return run_lava(
            stage.quantised, inputs, record_spikes=request.record_spikes, record_state=request.record_state, progress=request.progress,
            windows=request.windows, per_core=stage if request.per_core else None, core_plan=request.core_plan,
            spike_layers=request.spike_layers, state_layers=request.state_layers,
        )

    def layer_details(self, layer: QuantisedLayer) -> dict:
        if layer.neurons.compartment == "extended":
            from ..neurons.extended import lava_process as extended_process

            return {"lava_process": extended_process(layer.neurons)}
        if layer.neurons.compartment == "izhikevich":
            return {"lava_process": "NeurodeployIzhikevich"}
        return {"lava_process": lava_process(layer.neurons)}

    def learner(self, lowered, compiled, *, sample_steps: int, total_samples: int):
        """Lava's ``LearningDense`` with neurodeploy's learning post neurons (``lava_learning.py``)."""
        from .learners import LavaLearner

        return LavaLearner(lowered, sample_steps, total_samples)


LOIHI_SIM = LavaSimulator()
