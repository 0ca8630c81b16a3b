"""Pass 1: NIR float graph -> normalised layers (one layer = synapses + neurons).

Each NIR neuron node, together with the Affine/Linear/Scale/Flatten nodes in front of
it, becomes one ``NormalisedLayer``. Continuous-time NIR dynamics are discretised with
the forward-Euler step ``dt`` that snnTorch, Norse and the NIR paper use:

    LIF      tau dv/dt = (v_leak - v) + r I
             v[t] = beta v[t-1] + (dt/tau)(v_leak + r I[t]),   beta = 1 - dt/tau
    CubaLIF  tau_syn dI/dt = -I + w_in S,  tau_mem dv/dt = (v_leak - v) + r I
             u := (dt/tau_mem) r I   (the current, in voltage units per step)
             u[t] = alpha u[t-1] + (dt/tau_mem) r (dt/tau_syn) w_in S[t],  alpha = 1 - dt/tau_syn
             v[t] = beta v[t-1] + (dt/tau_mem) v_leak + u[t],              beta  = 1 - dt/tau_mem
    IF       dv/dt = r I         ->  v[t] = v[t-1] + dt r I[t]
    LI       as LIF, without spikes

The input gain (dt/tau) r (and, for CubaLIF, (dt/tau_syn) w_in) is folded into the rows
of the weight matrix; the Affine bias and v_leak become the per-step ``bias`` (for
CubaLIF the Affine bias enters the current: ``current_bias``). A NIR ``v_reset`` is
absorbed by measuring v relative to it (threshold - v_reset, bias - (1-beta) v_reset,
initial v = -v_reset), so every layer resets to 0 as Loihi does.

Reset semantics: NIR resets to ``v_reset``. A node whose metadata says
``{"reset": "subtract"}`` (written by our snnTorch frontend for
``reset_mechanism="subtract"``) subtracts the threshold instead.

dt: from the caller (``--dt``), else graph metadata ``dt``, else inferred from
``r = tau / dt`` (the snnTorch exporter's convention), else 1e-4 s (the convention of
snnTorch's exporter and the NIR paper); the choice and its origin are reported.
"""
from __future__ import annotations

from dataclasses import dataclass

import nir
import numpy as np

from ...errors import InvalidValueError, UnsupportedModelError
from ..stages import INPUT, FloatGraph, NeuronDynamics, NormalisedLayer, NormalisedNetwork

DEFAULT_DT = 1e-4
SYNAPSE_NODES = (nir.Affine, nir.Linear, nir.Scale, nir.Flatten)
NEURON_NODES = (nir.LIF, nir.CubaLIF, nir.IF, nir.LI)
SUPPORTED = "Input, Output, Affine, Linear, Scale, Flatten, LIF, CubaLIF, IF, LI"


def normalise(float_graph: FloatGraph, dt: float | None = None) -> NormalisedNetwork:
    graph = float_graph.graph
    _reject_nested_graphs(graph)
    chain = _linear_chain(graph)
    input_shape = _input_shape(graph, chain[0])
    _check_finite(graph)
    dt_value, dt_source = _choose_dt(graph, dt)
    layers: list[NormalisedLayer] = []
    notes: list[str] = []
    pending = _AffineMap.identity(int(np.prod(input_shape)))
    pending_nodes: list[str] = []
    source = INPUT
    for name in chain[1:-1]:
        node = graph.nodes[name]
        if isinstance(node, SYNAPSE_NODES):
            pending = pending.then(node, name)
            pending_nodes.append(name)
        elif isinstance(node, NEURON_NODES):
            layer = _make_layer(name, node, pending, source, tuple(pending_nodes), dt_value)
            layers.append(layer)
            source, pending, pending_nodes = name, _AffineMap.identity(layer.n_out), []
        else:
            raise UnsupportedModelError(
                f"node {name!r} has type {type(node).__name__}, which this version cannot deploy "
                f"(supported node types: {SUPPORTED})"
            )
    if pending_nodes:
        raise UnsupportedModelError(
            f"node(s) {', '.join(map(repr, pending_nodes))} feed the Output without a neuron layer after them: "
            "end the network with neurons (e.g. an LI or LIF readout)"
        )
    if not layers:
        raise UnsupportedModelError("the graph has no neuron nodes: nothing to deploy")
    if dt_source.startswith("default"):
        notes.append(f"dt = {dt_value:g} s assumed ({dt_source}); pass --dt to override")
    return NormalisedNetwork(
        input_shape=input_shape,
        layers=tuple(layers),
        dt=dt_value,
        dt_source=dt_source,
        source=float_graph,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- graph walk
def _reject_nested_graphs(graph: nir.NIRGraph) -> None:
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise UnsupportedModelError(
                f"node {name!r} is a nested NIRGraph (subgraph): this version deploys flat feed-forward graphs"
            )


def _linear_chain(graph: nir.NIRGraph) -> list[str]:
    """Node names from the Input to the Output; anything but a simple chain is rejected."""
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    outputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedModelError(
            f"the graph has {len(inputs)} Input and {len(outputs)} Output nodes: exactly one of each is supported"
        )
    successors: dict[str, list[str]] = {n: [] for n in graph.nodes}
    predecessors: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for src, dst in graph.edges:
        for end in (src, dst):
            if end not in graph.nodes:
                raise UnsupportedModelError(f"edge ({src!r}, {dst!r}) refers to node {end!r}, which the graph lacks")
        successors[src].append(dst)
        predecessors[dst].append(src)
    chain = [inputs[0]]
    while not isinstance(graph.nodes[chain[-1]], nir.Output):
        here = chain[-1]
        nxt = successors[here]
        if len(nxt) != 1:
            what = "no outgoing edge" if not nxt else f"{len(nxt)} outgoing edges ({', '.join(nxt)})"
            raise UnsupportedModelError(
                f"node {here!r} ({type(graph.nodes[here]).__name__}) has {what}: this version deploys "
                "feed-forward chains (Input -> ... -> Output) only"
            )
        if len(predecessors[nxt[0]]) != 1 or nxt[0] in chain:
            raise UnsupportedModelError(
                f"node {nxt[0]!r} ({type(graph.nodes[nxt[0]]).__name__}) has {len(predecessors[nxt[0]])} incoming "
                "edges or closes a cycle: recurrent and merging graphs are not supported in this version"
            )
        chain.append(nxt[0])
    unused = set(graph.nodes) - set(chain)
    if unused:
        raise UnsupportedModelError(
            f"node(s) {', '.join(sorted(map(repr, unused)))} are not on the path from Input to Output"
        )
    return chain


def _input_shape(graph: nir.NIRGraph, name: str) -> tuple[int, ...]:
    shape = tuple(int(x) for x in np.asarray(graph.nodes[name].input_type["input"]).reshape(-1))
    if not shape or any(s <= 0 for s in shape):
        raise InvalidValueError(f"Input node {name!r} has an invalid shape {list(shape)}")
    return shape


def _check_finite(graph: nir.NIRGraph) -> None:
    for name, node in graph.nodes.items():
        for field_name, value in vars(node).items():
            if field_name in ("input_type", "output_type", "metadata"):
                continue
            array = np.asarray(value) if isinstance(value, (np.ndarray, float, int, list)) else None
            if array is None or array.dtype.kind not in "fiu":
                continue
            bad = ~np.isfinite(array.astype(np.float64))
            if bad.any():
                index = tuple(int(i) for i in np.argwhere(bad)[0])
                raise InvalidValueError(
                    f"node {name!r} ({type(node).__name__}): {field_name}{list(index)} is "
                    f"{array[index] if array.ndim else array}; every parameter must be a finite number"
                )


def _choose_dt(graph: nir.NIRGraph, dt: float | None) -> tuple[float, str]:
    if dt is not None:
        if not (np.isfinite(dt) and dt > 0):
            raise InvalidValueError(f"--dt must be a positive number of seconds, got {dt}")
        return float(dt), "command line (--dt)"
    meta_dt = (graph.metadata or {}).get("dt")
    if meta_dt is not None and np.isfinite(float(meta_dt)) and float(meta_dt) > 0:
        return float(meta_dt), "graph metadata"
    inferred = set()
    for node in graph.nodes.values():
        if isinstance(node, (nir.LIF, nir.LI)):
            taus, rs = np.asarray(node.tau, float), np.asarray(node.r, float)
        elif isinstance(node, nir.CubaLIF):
            taus, rs = np.asarray(node.tau_mem, float), np.asarray(node.r, float)
        else:
            continue
        if np.all(rs != 1.0) and np.all(rs > 0):
            inferred.update(np.round(taus / rs, 12).reshape(-1).tolist())
    if len(inferred) == 1:
        return float(inferred.pop()), "inferred from r = tau / dt (snnTorch's convention)"
    return DEFAULT_DT, "default: not in graph metadata and not inferable from r = tau / dt"


# --------------------------------------------------------------------------- synapses
@dataclass(frozen=True)
class _AffineMap:
    """y = weight @ x + bias: the composition of the synapse nodes in front of a neuron.

    ``weight is None`` stands for the identity (no synapse node yet), so that a large
    input is never multiplied by an explicit identity matrix.
    """

    n_out: int
    weight: np.ndarray | None
    bias: np.ndarray

    @staticmethod
    def identity(n: int) -> "_AffineMap":
        return _AffineMap(n, None, np.zeros(n))

    def matrix(self) -> np.ndarray:
        return np.eye(self.n_out) if self.weight is None else self.weight

    def then(self, node: nir.NIRNode, name: str) -> "_AffineMap":
        if isinstance(node, nir.Flatten):
            return self  # layers hold flat (C-order) vectors already
        if isinstance(node, nir.Scale):
            scale = _per_neuron(np.asarray(node.scale, float), self.n_out, name, "scale")
            return _AffineMap(self.n_out, scale[:, None] * self.matrix(), scale * self.bias)
        weight = np.asarray(node.weight, dtype=np.float64)
        if weight.ndim != 2:
            raise InvalidValueError(f"node {name!r} ({type(node).__name__}): weight must be 2-D, got shape {weight.shape}")
        if weight.shape[1] != self.n_out:
            raise InvalidValueError(
                f"node {name!r} ({type(node).__name__}): weight has {weight.shape[1]} inputs but receives {self.n_out} values"
            )
        bias = np.asarray(node.bias, dtype=np.float64).reshape(-1) if isinstance(node, nir.Affine) else 0.0
        if isinstance(node, nir.Affine) and bias.shape[0] != weight.shape[0]:
            raise InvalidValueError(
                f"node {name!r} (Affine): bias has {bias.shape[0]} entries for {weight.shape[0]} outputs"
            )
        composed = weight if self.weight is None else weight @ self.weight
        return _AffineMap(weight.shape[0], composed, weight @ self.bias + bias)


def _per_neuron(value: np.ndarray, n: int, node: str, field_name: str) -> np.ndarray:
    flat = np.asarray(value, dtype=np.float64).reshape(-1)
    if flat.size == n:
        return flat
    if flat.size == 1:
        return np.full(n, flat[0])
    raise InvalidValueError(f"node {node!r}: {field_name} has {flat.size} values for a layer of {n} neurons")


# --------------------------------------------------------------------------- neurons
def _make_layer(
    name: str, node: nir.NIRNode, synapses: _AffineMap, source: str, synapse_nodes: tuple[str, ...], dt: float
) -> NormalisedLayer:
    n = synapses.n_out

    def param(field_name: str) -> np.ndarray:
        return _per_neuron(getattr(node, field_name), n, name, field_name)

    def step_fraction(tau_field: str) -> np.ndarray:
        tau = param(tau_field)
        if np.any(tau <= 0):
            raise InvalidValueError(f"node {name!r}: {tau_field} must be > 0, got {tau.min():g}")
        fraction = dt / tau
        if np.any(fraction > 1):
            raise InvalidValueError(
                f"node {name!r}: {tau_field} = {tau.min():g} s is shorter than dt = {dt:g} s; "
                "the Euler step would be unstable (pass a smaller --dt)"
            )
        return fraction

    zeros = np.zeros(n)
    if isinstance(node, (nir.LIF, nir.LI)):
        k = step_fraction("tau")
        gain, alpha, beta = k * param("r"), zeros, 1.0 - k
        bias, current_bias = k * param("v_leak") + gain * synapses.bias, zeros
    elif isinstance(node, nir.CubaLIF):
        k_mem, k_syn = step_fraction("tau_mem"), step_fraction("tau_syn")
        gain = k_mem * param("r") * k_syn * param("w_in")
        alpha, beta = 1.0 - k_syn, 1.0 - k_mem
        bias, current_bias = k_mem * param("v_leak"), gain * synapses.bias
    elif isinstance(node, nir.IF):
        gain, alpha, beta = dt * param("r"), zeros, np.ones(n)
        bias, current_bias = gain * synapses.bias, zeros
    else:  # pragma: no cover - guarded by NEURON_NODES
        raise UnsupportedModelError(f"node {name!r}: unsupported neuron type {type(node).__name__}")

    spiking = not isinstance(node, nir.LI)
    if spiking:
        threshold, v_reset = param("v_threshold"), param("v_reset")
        reset, delayed = _reset_mechanism(node, name)
        reset_amount = threshold - v_reset
        if reset == "subtract":
            if np.any(v_reset != 0):
                raise UnsupportedModelError(
                    f"node {name!r}: subtractive reset with a nonzero v_reset is ambiguous; use v_reset = 0"
                )
            if delayed:
                reset_amount = _delayed_subtraction(threshold, beta, name)
    else:
        threshold, v_reset, reset = np.full(n, np.inf), zeros, "none"
        reset_amount = zeros
    dynamics = NeuronDynamics(
        kind=type(node).__name__,
        alpha=alpha,
        beta=beta,
        threshold=threshold - v_reset,
        bias=bias - (1.0 - beta) * v_reset,
        current_bias=current_bias,
        v_offset=v_reset,
        reset=reset,
        reset_amount=reset_amount,
    )
    return NormalisedLayer(
        name=name,
        source=source,
        weight=gain[:, None] * synapses.matrix(),
        neurons=dynamics,
        nir_nodes=synapse_nodes + (name,),
    )


def _reset_mechanism(node: nir.NIRNode, name: str) -> tuple[str, bool]:
    """(mechanism, delayed) from node metadata; NIR's own semantics is an immediate reset to v_reset."""
    meta = node.metadata or {}
    value = meta.get("reset", meta.get("reset_mechanism", "zero"))
    value = value.decode() if isinstance(value, bytes) else str(value)
    if value not in ("zero", "subtract"):
        raise UnsupportedModelError(f"node {name!r}: reset mechanism {value!r} is not supported (zero or subtract)")
    return value, bool(meta.get("reset_delay", False))


def _delayed_subtraction(threshold: np.ndarray, beta: np.ndarray, name: str) -> np.ndarray:
    """snnTorch's delayed subtraction  v[t] = beta v[t-1] + u[t] - thr s[t-1]  equals an
    immediate subtraction of thr / beta at the spike: beta (v - thr/beta) = beta v - thr."""
    if np.any(beta <= 0):
        raise UnsupportedModelError(
            f"node {name!r}: a delayed subtractive reset (snnTorch reset_delay=True) with beta = 0 cannot be "
            "expressed as Loihi's immediate reset; retrain with reset_delay=False or beta > 0"
        )
    return threshold / beta
