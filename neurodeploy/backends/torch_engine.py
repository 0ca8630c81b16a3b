"""The fixed-point arithmetic of ``hardware/fixed_point.py`` in torch: batched, on any device, and
differentiable with straight-through gradients.

Two uses share this one statement of Lava's arithmetic:

- a CPU-backend engine (``run_cpu(..., engine="torch", device="cuda")``) that runs the
  batch as whole tensors, step by step, on a GPU when one is present;
- the forward pass of quantisation-aware fine-tuning (``training/finetune.py``), where the same
  integer results carry gradients.

Every value is an exact integer held in float64 (all intermediate values stay far below
2**53: 24-bit states times 12-bit decays, 32-bit sums), so each Lava operation becomes
exact float arithmetic:

    wrap to b bits        x - 2**b * floor((x + 2**(b-1)) / 2**b)
    x >> e (arithmetic)   floor(x / 2**e);   x << e: x * 2**e (then the int32 wrap)
    decay                 trunc(x * keep / 2**12)           (rounds towards zero)

Straight-through gradients (``ste``): each rounding, wrap or clip passes the gradient
of its input unchanged; the value is always the exact integer (``exact + (s - s.detach())``
adds an exact zero). Spikes are the Heaviside step of ``v - vth << 6`` with the derivative
of a fast sigmoid (snnTorch's default surrogate) in float units of v. Synaptic sums are
exact integer products; where a caller provides a float ``gradient_path`` for a
projection (the float model's own weights applied to the same spikes, times the state
scale), its gradient flows to those weights: the straight-through estimator of weight
rounding.
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import sparse

from ..hardware import fixed_point as fx
from ..hardware.fixed_point import Reset
from ..ir.stages import INPUT, QuantisedNetwork, QuantisedProjection
from ..neurons import compartment_of
from .core_counts import CoreCounts, StepCounter
from .kernels import input_max, split_by_delay
from .target import recorded

SURROGATE_SLOPE = 25.0  # snnTorch's fast_sigmoid default

GradientPath = Callable[[str, int, torch.Tensor], "torch.Tensor | None"]


# --------------------------------------------------------------------------- exact ops
def ste(exact: torch.Tensor, smooth: torch.Tensor) -> torch.Tensor:
    """``exact`` as the value, the gradient of ``smooth``: exact + (smooth - smooth), an exact zero."""
    if not smooth.requires_grad:
        return exact
    return exact.detach() + (smooth - smooth.detach())


def wrap(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Two's-complement wrap of exact integers into ``bits`` bits (straight-through)."""
    span = float(2**bits)
    with torch.no_grad():
        exact = x - span * torch.floor((x + span / 2) / span)
    return ste(exact, x)


def shift(x: torch.Tensor, exponent: int) -> torch.Tensor:
    """``x * 2**exponent``: a left shift, or an arithmetic (floor) right shift."""
    if exponent >= 0:
        return x * float(2**exponent)
    with torch.no_grad():
        exact = torch.floor(x / float(2**-exponent))
    return ste(exact, x / float(2**-exponent))


def decay(x: torch.Tensor, keep: torch.Tensor, decay_bits: int) -> torch.Tensor:
    """``trunc(x * keep / 2**decay_bits)``: the state keeps keep/4096 of itself, towards zero."""
    scaled = x * keep / float(2**decay_bits)
    with torch.no_grad():
        exact = torch.trunc(scaled)
    return ste(exact, scaled)


def wrap_once(x: torch.Tensor, state_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lava's single wrap of u into the state range (``fixed_point.wrap_current``)."""
    half = float(2 ** (state_bits - 1))
    above, below = x > half, x <= -half
    with torch.no_grad():
        exact = x - 2 * half * above + 2 * half * below
    return ste(exact, x), above | below


def clip(x: torch.Tensor, limit: float) -> tuple[torch.Tensor, torch.Tensor]:
    """v saturates at +-limit (straight-through). Returns (v, saturated mask)."""
    with torch.no_grad():
        exact = torch.clamp(x, -limit, limit)
    return ste(exact, x), exact != x


class _Spike(torch.autograd.Function):
    """Heaviside(v - vth) forward; fast-sigmoid derivative in float units of v backward."""

    @staticmethod
    def forward(ctx, v, vth, unit):
        ctx.save_for_backward(v, vth, unit)
        return (v > vth).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        v, vth, unit = ctx.saved_tensors
        x = (v - vth) / unit
        return grad / (SURROGATE_SLOPE * x.abs() + 1.0) ** 2 / unit, None, None


def fire(v: torch.Tensor, vth_eff: torch.Tensor, unit: torch.Tensor) -> torch.Tensor:
    if v.requires_grad:
        return _Spike.apply(v, vth_eff, unit)
    return (v > vth_eff).to(v.dtype)


def synaptic_output(exact_sum: torch.Tensor, connection: str, weight_exp: int, graded: bool) -> torch.Tensor:
    """What a Lava connection process emits for an exact integer sum (``fixed_point.synaptic_output``)."""
    if connection == "Conv":
        return wrap(exact_sum, 24)
    if connection == "DelaySparse" or (graded and connection in ("Dense", "Sparse")):
        wrapped = wrap(exact_sum, 32)
        return wrap(shift(wrapped, weight_exp), 32) if weight_exp > 0 else shift(wrapped, weight_exp)
    if connection in ("Dense", "Sparse", "DelayDense"):
        return wrap(shift(exact_sum, weight_exp), 32)
    raise ValueError(f"unknown connection {connection!r}")


# --------------------------------------------------------------------------- network on a device
@dataclass
class TorchProjection:
    source: str
    index: int  # position among the layer's projections (for gradient paths)
    quantised: QuantisedProjection
    by_delay: list[tuple[int, torch.Tensor]]  # (delay, transposed weights (n_in, n_out)), dense or sparse

    def exact_sum(self, weights_t: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        """Exact integer sum src @ W.T (float64 result): products of small integers, summed
        in float32 where every partial sum stays below 2**24 (``_weights_on``), else float64."""
        if weights_t.is_sparse:
            return torch.sparse.mm(weights_t.t(), src.t()).t()
        return (src.to(weights_t.dtype) @ weights_t).to(torch.float64)


@dataclass
class TorchLayer:
    name: str
    n: int
    projections: list[TorchProjection]
    u_keep: torch.Tensor | None
    v_keep: torch.Tensor | None
    bias: torch.Tensor | None
    vth_eff: torch.Tensor | None
    reset: Reset | None
    reset_sub: torch.Tensor | None
    v_init: torch.Tensor | None
    unit: torch.Tensor  # state units per float unit of v (the layer's state scale)
    max_spikes: int = 1  # > 1: spikes per step as counts (graded spikes)
    v_floor: torch.Tensor | None = None  # v = max(v, v_floor) after the reset
    compartment: object = None  # a compartment other than CUBA: its torch_step runs the layer (no gradients)
    params: dict | None = None


def _as_tensor(values, device) -> torch.Tensor:
    return torch.as_tensor(np.array(values, dtype=np.float64), device=device)


def _weights_on(weights, device, input_max: int) -> torch.Tensor:
    """Transposed integer weights (n_in, n_out): sparse float64 when stored sparse; dense
    float32 when every partial sum of |input| x |weight| is below 2**24 (exact, as in
    ``kernels.exact_dtype``), else float64. Exact float32 products need full-precision matmuls
    (``torch.backends.cuda.matmul.allow_tf32`` stays False, its default)."""
    if sparse.issparse(weights):
        coo = sparse.coo_matrix(weights.T)
        index = torch.as_tensor(np.vstack([coo.row, coo.col]).astype(np.int64))
        values = torch.as_tensor(coo.data.astype(np.float64))
        return torch.sparse_coo_tensor(index, values, coo.shape, check_invariants=True).coalesce().to(device)
    dense = np.asarray(weights)
    bound = float(np.abs(dense).sum(axis=1).max(initial=0.0)) * input_max
    dtype = torch.float32 if bound < 2**24 else torch.float64
    return _as_tensor(dense.T, device).to(dtype).contiguous()


def build(network: QuantisedNetwork, device: str | torch.device = "cpu") -> list[TorchLayer]:
    """The quantised network's integer parameters as tensors on ``device``."""
    arith = network.arithmetic
    layers = []
    for layer in network.layers:
        neu = layer.neurons
        projections = [
            TorchProjection(p.source, i, p, [(d, _weights_on(w, device, input_max(p))) for d, w in sorted(split_by_delay(p.weights, p.delays).items())])
            for i, p in enumerate(layer.projections)
        ]
        unit = _as_tensor(np.broadcast_to(layer.state_scale, (layer.n_out,)), device)
        if neu.compartment != "cuba":
            compartment = compartment_of(neu)
            bias = _as_tensor(compartment.update_bias(neu), device)  # for the updated-neuron count only: torch_step has its own
            layers.append(TorchLayer(layer.name, layer.n_out, projections, None, None, bias, None, None, None, None, unit,
                                     compartment=compartment, params=compartment.torch_params(neu, arith, device)))
            continue
        layers.append(
            TorchLayer(
                name=layer.name,
                n=layer.n_out,
                projections=projections,
                u_keep=_as_tensor(fx.current_keep(neu.du, arith), device),
                v_keep=_as_tensor(fx.voltage_keep(neu.dv, arith), device),
                bias=_as_tensor(fx.effective_bias(neu.bias_mant, neu.bias_exp), device),
                vth_eff=_as_tensor(fx.firing_threshold(neu.vth, arith, neu.inclusive), device),
                reset=neu.reset,
                reset_sub=_as_tensor(neu.reset_sub, device),
                v_init=_as_tensor(neu.v_init, device),
                unit=unit,
                max_spikes=neu.max_spikes,
                v_floor=None if neu.v_floor is None else _as_tensor(neu.v_floor, device),
            )
        )
    return layers


@dataclass
class TorchRun:
    """A simulation's results as tensors (batch first unless stated)."""

    spike_counts: dict[str, torch.Tensor]  # (B, n); carries gradients in training
    window_counts: dict[str, torch.Tensor]
    output_v_sum: torch.Tensor  # (B, n) of the output layer, state units; carries gradients
    active: dict[str, int] = field(default_factory=dict)  # neuron-steps with nonzero synaptic input
    updated: dict[str, int | None] = field(default_factory=dict)  # neuron-steps updated in SANA-FE's sense (None: not counted)
    core_counts: CoreCounts | None = None  # with a core_plan
    u_wraps: dict[str, int] = field(default_factory=dict)
    v_saturations: dict[str, int] = field(default_factory=dict)
    rasters: dict[str, torch.Tensor] | None = None  # (T, B, n)
    traces: dict[str, dict[str, torch.Tensor]] | None = None
    peaks: dict[str, torch.Tensor] | None = None  # per layer (2,): the largest |u| and |v| over steps, samples and neurons
    event_counts: dict[str, torch.Tensor] = field(default_factory=dict)  # (B, n) steps with a graded spike, layers firing several per step
    input_events: torch.Tensor | None = None  # (n_inputs,) nonzero inputs per input index, where counted


def simulate(
    network: QuantisedNetwork,
    inputs: torch.Tensor,
    layers: list[TorchLayer] | None = None,
    *,
    windows: dict[str, tuple[int, int]] | None = None,
    record_spikes: bool = False,
    record_state: bool = False,
    gradient_path: GradientPath | None = None,
    count_updates: bool = False,
    core_plan=None,
    record_peaks: bool = False,
    spike_layers: Collection[str] | None = None,
    state_layers: Collection[str] | None = None,
) -> TorchRun:
    """Run integer ``inputs`` (steps, batch, n_inputs) through the network, all samples at once.

    The step order is ``cpu.py``'s (and Lava's): every layer's neurons consume the synaptic
    input due now, then every projection delivers this step's source values 1 + delay
    steps later. ``gradient_path(layer, projection_index, source)`` may return a float
    synaptic input in integer units whose gradient is added straight through.

    Every step runs a few dozen small kernels per layer; fusing them with ``torch.compile``
    was tried and rejected: on an H100 its kernels were not bit-exact (u differed from
    the first step), so the engine stays eager.

    ``count_updates`` also counts SANA-FE's updated neurons (on the device), and a ``core_plan``
    every core's work per step (``core_counts.py``; on the host, from each step's masks).
    ``record_peaks``: each layer's largest |u| and |v| (``TorchRun.peaks``), kept on the device.
    ``spike_layers`` / ``state_layers``: the layers whose rasters / state are recorded (None: every layer)."""
    arith = network.arithmetic
    layers = layers if layers is not None else build(network, inputs.device)
    steps, batch = inputs.shape[:2]
    x = inputs.reshape(steps, batch, -1).to(torch.float64)
    dev = x.device
    zeros = {layer.name: torch.zeros(batch, layer.n, dtype=torch.float64, device=dev) for layer in layers}
    u = dict(zeros)
    states = {layer.name: layer.compartment.torch_init(layer.params, batch) for layer in layers if layer.compartment is not None}
    v = {layer.name: states[layer.name]["v"].to(torch.float64) if layer.name in states else layer.v_init.expand(batch, layer.n).clone() for layer in layers}
    spikes = dict(zeros)
    pending: dict[str, dict[int, torch.Tensor]] = {layer.name: {} for layer in layers}
    counts = {layer.name: torch.zeros(batch, layer.n, dtype=torch.float64, device=dev) for layer in layers}
    window_counts = {name: torch.zeros_like(c) for name, c in counts.items()}
    event_counts = {layer.name: torch.zeros_like(counts[layer.name]) for layer in layers if layer.max_spikes > 1}
    stats = {key: {layer.name: torch.zeros((), dtype=torch.int64, device=dev) for layer in layers} for key in ("active", "u", "v")}
    out_name = network.output_layer.name
    out_v_sum = torch.zeros_like(zeros[out_name])
    names = [layer.name for layer in layers]
    spiked, traced = recorded(names, record_spikes, spike_layers), recorded(names, record_state, state_layers)
    rasters = {layer.name: [] for layer in layers if layer.name in spiked} if record_spikes else None
    traces = (
        {layer.name: {var: [] for var in (layer.compartment.state if layer.compartment else ("u", "v"))} for layer in layers if layer.name in traced}
        if record_state else None
    )
    peaks = {layer.name: torch.zeros(2, dtype=torch.float64, device=dev) for layer in layers} if record_peaks else None
    count_updates = count_updates or core_plan is not None
    arrivals = _Arrivals(layers, batch, dev) if count_updates else None
    counter = StepCounter(core_plan, batch, steps) if core_plan is not None else None
    updated = {layer.name: torch.zeros((), dtype=torch.int64, device=dev) for layer in layers}
    for t in range(steps):
        for layer in layers:
            name = layer.name
            v_before = v[name]
            a_in = pending[name].pop(t, zeros[name])
            if layer.compartment is not None:
                spike, n_active, n_wrapped, n_saturated = layer.compartment.torch_step(layer.params, states[name], a_in.detach())
                current, voltage = states[name]["u"].to(torch.float64), states[name]["v"].to(torch.float64)
            else:
                current, voltage, spike, n_active, n_wrapped, n_saturated = update_neurons(
                    a_in, u[name], v[name], layer.u_keep, layer.v_keep, layer.bias, layer.vth_eff, layer.reset_sub, layer.unit,
                    layer.reset, arith.activation_shift, arith.decay_bits, arith.state_bits, arith.state_max,
                    max_spikes=layer.max_spikes, v_floor=layer.v_floor,
                )
            u[name], v[name], spikes[name] = current, voltage, spike
            counts[name] = counts[name] + spike
            if name in event_counts:
                event_counts[name] = event_counts[name] + (spike.detach() > 0)
            if windows and name in windows and windows[name][0] <= t < windows[name][1]:
                window_counts[name] = window_counts[name] + spike
            stats["active"][name] += n_active
            stats["u"][name] += n_wrapped
            stats["v"][name] += n_saturated
            if rasters is not None and name in rasters:
                rasters[name].append(spike.detach().to(torch.int32) if layer.max_spikes > 1 else spike.detach() > 0)
            if traces is not None and name in traces:
                values = states[name] if name in states else {"u": current, "v": voltage}
                for var, trace in traces[name].items():
                    trace.append(values[var].detach().to(torch.int32))
            if peaks is not None:
                torch.maximum(peaks[name], torch.stack((current.detach().abs().amax(), voltage.detach().abs().amax())), out=peaks[name])
            if arrivals is not None:
                mask = (v_before != 0) | arrivals.take(name, t) | (layer.bias != 0) | (spike.detach() != 0)
                updated[name] += torch.count_nonzero(mask)
                if counter is not None:
                    counter.updates(t, name, _host(mask))
        out_v_sum = out_v_sum + v[out_name]
        sources = {INPUT: x[t], **spikes}
        if arrivals is not None:
            arrivals.deliver(sources, t)
        if counter is not None:
            for source, values in sources.items():
                counter.events(t, source, _host(values))
        for layer in layers:
            for projection in layer.projections:
                _deliver(layer, projection, sources[projection.source], t, pending[layer.name], gradient_path)
    return TorchRun(
        spike_counts=counts,
        window_counts=window_counts,
        output_v_sum=out_v_sum,
        active={k: int(c) for k, c in stats["active"].items()},
        updated={k: int(c) if arrivals is not None else None for k, c in updated.items()},
        core_counts=counter.result() if counter is not None else None,
        u_wraps={k: int(c) for k, c in stats["u"].items()},
        v_saturations={k: int(c) for k, c in stats["v"].items()},
        rasters={k: torch.stack(r) for k, r in rasters.items()} if rasters is not None else None,
        traces={k: {s: torch.stack(r) for s, r in tr.items()} for k, tr in traces.items()} if traces is not None else None,
        event_counts=event_counts,
        peaks=peaks,
    )


def _host(values: torch.Tensor) -> np.ndarray:
    return values.detach().cpu().numpy()


class _Arrivals:
    """Which neurons a synaptic event reaches at each step (``core_counts.ArrivalBuffers`` on the
    device): any stored synapse from a source that spiked 1 + delay steps before; a dense
    projection's event reaches every target."""

    def __init__(self, layers: list[TorchLayer], batch: int, device):
        self.paths = {
            layer.name: [
                (projection.source, delay, None if not weights_t.is_sparse else _structure(weights_t))
                for projection in layer.projections
                for delay, weights_t in projection.by_delay
            ]
            for layer in layers
        }
        self.pending: dict[str, dict[int, torch.Tensor]] = {layer.name: {} for layer in layers}
        self.empty = {layer.name: torch.zeros(batch, layer.n, dtype=torch.bool, device=device) for layer in layers}

    def take(self, name: str, t: int) -> torch.Tensor:
        return self.pending[name].pop(t, self.empty[name])

    def deliver(self, sources: dict[str, torch.Tensor], t: int) -> None:
        for name, paths in self.paths.items():
            for source, delay, structure in paths:
                events = sources[source].detach() != 0
                reached = events.any(dim=1, keepdim=True) if structure is None else torch.sparse.mm(structure, events.t().to(torch.float64)).t() > 0
                due = t + 1 + delay
                self.pending[name][due] = self.pending[name].get(due, self.empty[name]) | reached


def _structure(weights_t: torch.Tensor) -> torch.Tensor:
    """(n_out, n_in) ones where a synapse is stored, from transposed sparse weights (n_in, n_out)."""
    coalesced = weights_t.coalesce()
    index = coalesced.indices()[[1, 0]]
    ones = torch.ones(index.shape[1], dtype=torch.float64, device=weights_t.device)
    return torch.sparse_coo_tensor(index, ones, (weights_t.shape[1], weights_t.shape[0]), check_invariants=True).coalesce()


def update_neurons(
    a_in, u, v, u_keep, v_keep, bias, vth_eff, reset_sub, unit, reset: Reset, activation_shift: int, decay_bits: int, state_bits: int, state_max: int,
    *, max_spikes: int = 1, v_floor: torch.Tensor | None = None,
):
    """One step of one layer's CUBA neurons (``fixed_point.neuron_step`` and ``fire_and_reset``):

        u = wrap24_once(wrap32(decay(u) + wrap32(a_in << 6)))
        v = clip(wrap32(decay(v) + u + bias));  spike = v > vth_eff;  reset v;  v = max(v, v_floor)

    ``vth_eff`` is ``fixed_point.firing_threshold``; with ``max_spikes > 1`` the spike is the
    count min(max_spikes, 1 + (v - vth_eff - 1) // reset_sub) and v loses count * reset_sub.
    Returns (u, v, spikes, inputs nonzero, u wraps, v clips); the counts are 0-d tensors."""
    activation = wrap(a_in * float(2**activation_shift), 32)
    current, wrapped = wrap_once(wrap(decay(u, u_keep, decay_bits) + activation, 32), state_bits)
    voltage, saturated = clip(wrap(decay(v, v_keep, decay_bits) + current + bias, 32), float(state_max))
    if reset is Reset.NONE:
        spike = torch.zeros_like(voltage)
    else:
        spike = fire(voltage, vth_eff, unit)
        if max_spikes > 1:
            with torch.no_grad():
                over = torch.floor((voltage - vth_eff - 1) / reset_sub)
                count = torch.where(voltage > vth_eff, torch.clamp(over + 1, max=float(max_spikes)), torch.zeros_like(voltage))
            spike = ste(count, spike)
        fired = spike.detach()  # the reset passes no gradient (snnTorch's default)
        voltage = voltage * (1 - fired) if reset is Reset.ZERO else voltage - fired * reset_sub
        if v_floor is not None:
            with torch.no_grad():
                floored = torch.maximum(voltage, v_floor)
            voltage = ste(floored, voltage)
    return current, voltage, spike, torch.count_nonzero(a_in.detach()), torch.count_nonzero(wrapped), torch.count_nonzero(saturated)


def _deliver(layer: TorchLayer, projection: TorchProjection, source: torch.Tensor, t: int, pending: dict, gradient_path) -> None:
    """Add the projection's output for this step's source values into the step it is due."""
    p = projection.quantised
    graded = p.graded_bits > 0
    values = source.detach() if graded else (source.detach() != 0).to(torch.float64)
    smooth = gradient_path(layer.name, projection.index, source) if gradient_path is not None else None
    if smooth is None and values.device.type == "cpu" and not torch.any(values):
        return  # no event: Lava's connection sends zeros (checked on the CPU only: on a GPU the test would wait for it)
    for i, (delay, weights_t) in enumerate(projection.by_delay):
        output = synaptic_output(projection.exact_sum(weights_t, values), p.connection, p.weight_exp, graded)
        if smooth is not None and i == 0:
            output = ste(output, smooth)
        due = t + 1 + delay
        pending[due] = wrap(pending[due] + output, 32) if due in pending else output


# --------------------------------------------------------------------------- as a CPU-backend engine
def run_engine(network: QuantisedNetwork, inputs: np.ndarray, device: str, windows, record_spikes: bool, record_state: bool, core_plan=None,
               record_peaks: bool = False, spike_layers: Collection[str] | None = None, state_layers: Collection[str] | None = None) -> TorchRun:
    """Simulation without gradients, the eager step loop (``torch_graphs.run_engine`` chooses
    between it and CUDA graphs for ``run_cpu(engine="torch")``)."""
    with torch.no_grad():
        x = torch.as_tensor(np.asarray(inputs), device=device)
        run = simulate(network, x, windows=windows, record_spikes=record_spikes, record_state=record_state, core_plan=core_plan, record_peaks=record_peaks,
                       spike_layers=spike_layers, state_layers=state_layers)
        run.input_events = count_input_events(x)
        return run


def count_input_events(x: torch.Tensor) -> torch.Tensor:
    """Nonzero inputs per input index, counted on the device: synaptic operations need no host pass over the input."""
    return torch.count_nonzero(x.reshape(x.shape[0], x.shape[1], -1), dim=(0, 1))
