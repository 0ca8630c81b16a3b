"""The torch engine's inference path as fixed-address steps, captured in CUDA graphs on a GPU.

``torch_engine.simulate`` launches a few dozen small kernels per layer per step from Python,
so on a GPU it is bound by launches, not arithmetic. Here every tensor a step touches is
allocated once (state, counters, a ring of pending synaptic input per layer, the whole input,
the recordings), and the step index is itself a tensor on the device that the step advances:
the step reads ``x[t]``, takes the ring slot ``t % D`` and writes rasters at ``t`` through
index operations, so one step is the same sequence of kernels on the same addresses at every
``t``. On CUDA a graph of ``STEPS_PER_GRAPH`` such steps is captured once and replayed (one
launch per graph instead of hundreds); elsewhere the same steps run eagerly (that is how the
test suite checks them on a CPU). The arithmetic is ``torch_engine.update_neurons`` and
``synaptic_output``, unchanged: the results are the eager engine's, bit for bit.

The ring replaces the eager engine's dict of pending sums: slot ``t % D`` (D = longest delay
+ 2) is read and cleared when step t consumes it, and a projection adds its output to slot
``(t + 1 + delay) % D`` with the 32-bit wrap; a slot starts at zero and a connection's output
already lies within 32 bits, so the first addition is the eager engine's plain assignment.
If a graph cannot be captured (an operation that synchronises with the host), the eager
engine runs instead.
"""
from __future__ import annotations

import numpy as np
import torch

from ..ir.stages import INPUT, QuantisedNetwork
from .kernels import input_max, split_by_delay
from .target import recorded
from .torch_engine import TorchProjection, TorchRun, _weights_on, build, count_input_events, simulate, synaptic_output, update_neurons, wrap

STEPS_PER_GRAPH = 16  # steps unrolled in one captured graph: fewer replays, a longer capture


def has_sparse(network: QuantisedNetwork) -> bool:
    """Whether a projection stores sparse weights (a convolution): its float64 sparse product,
    not the launches, bounds such a network, and the eager loop runs it faster."""
    from scipy import sparse

    return any(sparse.issparse(p.weights) for layer in network.layers for p in layer.projections)


class StaticRun:
    """One simulation's tensors at fixed addresses and the step that advances them."""

    def __init__(self, network: QuantisedNetwork, inputs: torch.Tensor, windows, record_spikes: bool, record_state: bool, record_peaks: bool = False,
                 spike_layers=None, state_layers=None):
        self.network, self.arith = network, network.arithmetic
        dev = inputs.device
        self.steps, self.batch = inputs.shape[:2]
        self.x = inputs.reshape(self.steps, self.batch, -1)
        self.layers = build(network, dev)
        self.weights = {  # per layer: (source, projection, [(delay, transposed weights: dense, or sparse float64)])
            layer.name: [(p.source, p, [(d, _weights_on(w, dev, input_max(p))) for d, w in sorted(split_by_delay(p.weights, p.delays).items())])
                         for p in layer.projections]
            for layer in network.layers
        }
        self.depth = 2 + max((d for entries in self.weights.values() for _, _, by_delay in entries for d, _ in by_delay), default=0)
        b = self.batch

        def zeros(*shape, dtype=torch.float64):
            return torch.zeros(*shape, dtype=dtype, device=dev)

        self.t = zeros(1, dtype=torch.int64)
        self.u = {layer.name: zeros(b, layer.n) for layer in self.layers}
        self.v = {layer.name: zeros(b, layer.n) for layer in self.layers}
        self.s = {layer.name: zeros(b, layer.n) for layer in self.layers}
        self.ring = {layer.name: zeros(self.depth, b, layer.n) for layer in self.layers}
        self.counts = {layer.name: zeros(b, layer.n) for layer in self.layers}
        self.window_counts = {layer.name: zeros(b, layer.n) for layer in self.layers}
        self.event_counts = {layer.name: zeros(b, layer.n) for layer in self.layers if layer.max_spikes > 1}
        self.in_window = {}
        for name, (first, last) in (windows or {}).items():
            flags = np.zeros(self.steps)
            flags[max(first, 0):max(min(last, self.steps), 0)] = 1.0
            self.in_window[name] = torch.as_tensor(flags, device=dev)
        self.stats = {key: {layer.name: zeros((), dtype=torch.int64) for layer in self.layers} for key in ("active", "u", "v")}
        out = network.output_layer
        self.out_name = out.name
        self.out_v_sum = zeros(b, out.n_out)
        names = [layer.name for layer in self.layers]
        spiked, traced = recorded(names, record_spikes, spike_layers), recorded(names, record_state, state_layers)
        self.rasters = (
            {layer.name: zeros(self.steps, b, layer.n, dtype=torch.int32 if layer.max_spikes > 1 else torch.bool) for layer in self.layers
             if layer.name in spiked}
            if record_spikes else None
        )
        self.traces = (
            {layer.name: {k: zeros(self.steps, b, layer.n, dtype=torch.int32) for k in ("u", "v")} for layer in self.layers if layer.name in traced}
            if record_state else None
        )
        self.peaks = {layer.name: zeros(2) for layer in self.layers} if record_peaks else None  # the largest |u| and |v|
        self.reset()

    def reset(self) -> None:
        """Every state and counter back to its value before step 0."""
        self.t.zero_()
        for layer in self.layers:
            name = layer.name
            for tensors in (self.u, self.s, self.ring, self.counts, self.window_counts, self.event_counts):
                if name in tensors:
                    tensors[name].zero_()
            self.v[name].copy_(layer.v_init.expand(self.batch, layer.n))
            for key in self.stats:
                self.stats[key][name].zero_()
            if self.peaks is not None:
                self.peaks[name].zero_()
        self.out_v_sum.zero_()

    def step(self) -> None:
        """Step ``t`` (the tensor), then t += 1: the eager engine's step, at fixed addresses."""
        arith, t = self.arith, self.t
        slot = torch.remainder(t, self.depth)
        for layer in self.layers:
            name = layer.name
            a_in = self.ring[name].index_select(0, slot)[0]
            self.ring[name].index_fill_(0, slot, 0.0)
            current, voltage, spike, n_active, n_wrapped, n_saturated = update_neurons(
                a_in, self.u[name], self.v[name], layer.u_keep, layer.v_keep, layer.bias, layer.vth_eff, layer.reset_sub, layer.unit,
                layer.reset, arith.activation_shift, arith.decay_bits, arith.state_bits, arith.state_max,
                max_spikes=layer.max_spikes, v_floor=layer.v_floor,
            )
            self.u[name].copy_(current)
            self.v[name].copy_(voltage)
            self.s[name].copy_(spike)
            self.counts[name].add_(spike)
            if name in self.event_counts:
                self.event_counts[name].add_(spike > 0)
            if name in self.in_window:
                self.window_counts[name].add_(spike * self.in_window[name].index_select(0, t))
            self.stats["active"][name].add_(n_active)
            self.stats["u"][name].add_(n_wrapped)
            self.stats["v"][name].add_(n_saturated)
            if self.rasters is not None and name in self.rasters:
                self.rasters[name].index_copy_(0, t, (spike.to(torch.int32) if layer.max_spikes > 1 else spike > 0).unsqueeze(0))
            if self.traces is not None and name in self.traces:
                self.traces[name]["u"].index_copy_(0, t, current.to(torch.int32).unsqueeze(0))
                self.traces[name]["v"].index_copy_(0, t, voltage.to(torch.int32).unsqueeze(0))
            if self.peaks is not None:
                torch.maximum(self.peaks[name], torch.stack((current.abs().amax(), voltage.abs().amax())), out=self.peaks[name])
        self.out_v_sum.add_(self.v[self.out_name])
        sources = {INPUT: self.x.index_select(0, t)[0].to(torch.float64), **self.s}
        for layer in self.layers:
            ring = self.ring[layer.name]
            for source, p, by_delay in self.weights[layer.name]:
                graded = p.graded_bits > 0
                values = sources[source] if graded else (sources[source] != 0).to(torch.float64)
                for delay, weights_t in by_delay:
                    exact = TorchProjection.exact_sum(None, weights_t, values)
                    output = synaptic_output(exact, p.connection, p.weight_exp, graded)
                    due = torch.remainder(t + 1 + delay, self.depth)
                    ring.index_copy_(0, due, wrap(ring.index_select(0, due)[0] + output, 32).unsqueeze(0))
        t.add_(1)

    def result(self) -> TorchRun:
        return TorchRun(
            spike_counts=self.counts, window_counts=self.window_counts, output_v_sum=self.out_v_sum,
            active={k: int(c) for k, c in self.stats["active"].items()},
            u_wraps={k: int(c) for k, c in self.stats["u"].items()},
            v_saturations={k: int(c) for k, c in self.stats["v"].items()},
            rasters=self.rasters, traces=self.traces, event_counts=self.event_counts, peaks=self.peaks,
            updated={layer.name: None for layer in self.layers},  # SANA-FE's updated neurons: counted by the eager loop only
        )


def simulate_static(network: QuantisedNetwork, inputs: torch.Tensor, windows=None, record_spikes: bool = False,
                    record_state: bool = False, record_peaks: bool = False, spike_layers=None, state_layers=None) -> TorchRun | None:
    """``torch_engine.simulate`` without gradients, as fixed-address steps: replayed from CUDA
    graphs where the input lies on a CUDA device, else run eagerly; None if the graphs could not
    be captured."""
    with torch.no_grad():
        run = StaticRun(network, inputs, windows, record_spikes, record_state, record_peaks, spike_layers, state_layers)
        if inputs.device.type != "cuda":
            for _ in range(run.steps):
                run.step()
            return run.result()
        chunks, rest = divmod(run.steps, STEPS_PER_GRAPH)
        stream = torch.cuda.Stream(device=inputs.device)
        stream.wait_stream(torch.cuda.current_stream(inputs.device))
        with torch.cuda.stream(stream):  # warm-up outside capture (cuBLAS sets up its workspace), then back to step 0
            run.step()
        torch.cuda.current_stream(inputs.device).wait_stream(stream)
        run.reset()
        pool = torch.cuda.graph_pool_handle()
        graphs_by_length = {}
        try:
            for length in {STEPS_PER_GRAPH if chunks else 0, 1 if rest else 0} - {0}:
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=pool):
                    for _ in range(length):
                        run.step()
                graphs_by_length[length] = graph
        except Exception:  # noqa: BLE001 - not capturable here (e.g. a sparse product that synchronises): the eager engine
            torch.cuda.synchronize(inputs.device)
            return None
        for _ in range(chunks):
            graphs_by_length[STEPS_PER_GRAPH].replay()
        for _ in range(rest):
            graphs_by_length[1].replay()
        torch.cuda.synchronize(inputs.device)
        return run.result()


def run_engine(
    network: QuantisedNetwork, inputs: np.ndarray, device: str, windows, record_spikes: bool, record_state: bool, core_plan=None,
    static: bool | None = None, record_peaks: bool = False, spike_layers=None, state_layers=None,
) -> TorchRun:
    """The torch engine without gradients, for ``run_cpu(engine="torch")``. ``static`` (default:
    on a CUDA device, for networks without sparse weights, where it is faster; docs/benchmarks.md)
    runs the fixed-address steps, replayed from CUDA graphs on a CUDA device (the same results);
    False, a ``core_plan`` (per-core counts are gathered on the host at every step) or a layer of
    another compartment than CUBA runs ``torch_engine.simulate``'s eager step loop. ``spike_layers`` /
    ``state_layers``: the layers whose rasters / state are recorded (None: every layer)."""
    with torch.no_grad():
        x = torch.as_tensor(np.asarray(inputs), device=device)
        run = None
        only_cuba = all(layer.neurons.compartment == "cuba" for layer in network.layers)  # the fixed-address steps run CUBA's update only
        if core_plan is None and only_cuba and (static or (static is None and x.device.type == "cuda" and not has_sparse(network))):
            run = simulate_static(network, x, windows, record_spikes, record_state, record_peaks, spike_layers, state_layers)
        if run is None:
            run = simulate(network, x, windows=windows, record_spikes=record_spikes, record_state=record_state, core_plan=core_plan,
                           record_peaks=record_peaks, spike_layers=spike_layers, state_layers=state_layers)
        run.input_events = count_input_events(x)
        return run
