"""Pass 1: NIR float graph -> normalised layers (neurons + the projections into them).

Every NIR neuron node becomes a layer. The synapse-side nodes between a layer and its
sources (the Input or other neuron nodes, itself included for recurrence) are composed
into one matrix per (source, delay): all paths are followed backwards through Affine,
Linear, Scale, Flatten, Conv1d/2d, SumPool2d, AvgPool2d and Delay nodes, and summed.
Biases are found by evaluating that linear part with all sources at zero.
Each neuron node is lowered to ``NeuronDynamics`` in the dialect of the framework that
wrote the file (``dialects/``: detected from the file, or ``--dialect``): NIR's own semantics
lowers it by its neuron model (``neurons/``: one module per NIR primitive, whose docstring
states its discretisation), continuous time discretised with the forward-Euler step ``dt``;
an exporter's dialect lowers it as that framework's simulator runs it (Sinabs: no dt, several
spikes per step; Rockpool: exact decays; Norse: tau = dt / tau_inv; snnTorch: its reset). A
Delay node of tau_d becomes round(tau_d / dt) extra steps on the synapses it lies on.

The model's input gain (e.g. (dt/tau) r for LIF) is folded into the rows of every
projection; biases and v_leak become the per-step ``bias`` (for CubaLIF the Affine bias
enters the current: ``current_bias``). A NIR ``v_reset`` is absorbed by measuring v
relative to it (threshold - v_reset, bias - (1-beta) v_reset, initial v = -v_reset), so
every layer resets to 0 as Loihi does.

Reset semantics: NIR resets to ``v_reset``. A node whose metadata says
``{"reset": "subtract"}`` (our snnTorch frontend writes it) subtracts the threshold; with
``"reset_delay": true`` (snnTorch's default) the subtraction of thr one step later equals
an immediate subtraction of thr / beta.

dt: the dialect's where it has its own rule (Rockpool: from r; Norse: --dt, else assumed),
else from the caller (``--dt``), else graph metadata ``dt``, else inferred from
``r = tau / dt`` (the snnTorch exporter's convention), else 1e-4 s (the convention of
snnTorch's exporter and the NIR paper); the choice and its origin are reported.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import nir
import numpy as np
from scipy import sparse

from ...dialects import Dialect, DialectOptions, resolve
from ...errors import InvalidValueError, UnsupportedModelError
from ...limits import check_memory
from ...neurons import NEURONS, Lowering, is_neuron, model_of
from ..operators import LINEAR_NODES, LinearOp, compose_geometries, convolution_matrix, operator_for
from ..stages import INPUT, FloatGraph, Geometry, NormalisedLayer, NormalisedNetwork, Projection

DEFAULT_DT = 1e-4
STRUCTURE = "Input, Output, Affine, Linear, Scale, Flatten, Conv1d, Conv2d, SumPool2d, AvgPool2d, Delay"
DENSE_ABOVE = 0.25  # a composed matrix denser than this is stored dense
BYTES_PER_NEURON = 256  # a neuron's parameters and identity paths in the float and integer stages (to refuse huge networks early)
MAX_DELAY_STEPS = 65535  # the largest max_synaptic_delay a profile may state (hardware/profile.py)


def normalise(float_graph: FloatGraph, dt: float | None = None, dialect: str | None = None, options: DialectOptions | None = None) -> NormalisedNetwork:
    """``dialect``: read the graph as that exporter's simulator runs it (None: detect it);
    ``options``: what the file cannot say, as the user gave it."""
    graph = float_graph.graph
    walker = _GraphWalker(graph)
    _check_finite(graph)
    rules, choice = resolve(float_graph, dialect, options)
    if dt is not None:
        _choose_dt(graph, dt)  # checks the value
    if dt is None:
        _check_metadata_dt(graph)  # a malformed file is refused even where the dialect ignores its dt
    dt_value, dt_source = rules.time_step(graph, dt) or _choose_dt(graph, dt)
    if dt_source.startswith("assumed"):
        choice = dataclasses.replace(choice, assumptions=(*choice.assumptions, f"dt = {dt_value:g} s {dt_source}"))
    choice = dataclasses.replace(choice, settings={**choice.settings, "dt_s": dt_value})
    walker.infer_shapes()
    layers = {name: walker.layer(name, dt_value, rules, choice.settings) for name in walker.neurons}
    _reject_graded_outputs_feeding_layers(layers, graph)
    order = _feed_forward_order(layers)
    notes = list(walker.notes)
    if dt_source.startswith("default") and choice.name == "nir":
        notes.append(f"dt = {dt_value:g} s assumed ({dt_source}); pass --dt to override")
    return NormalisedNetwork(
        input_shape=walker.shapes[walker.input],
        layers=tuple(layers[name] for name in order),
        output_layer_name=walker.output_layer(),
        dt=dt_value,
        dt_source=dt_source,
        source=float_graph,
        notes=tuple(notes),
        dialect=choice,
    )


# --------------------------------------------------------------------------- graph
@dataclass
class _Path:
    """Map from a node's output to the layer's input, per extra delay (steps)."""

    by_delay: dict[int, sparse.csr_matrix]
    geometries: tuple  # the path's operators in forward order: a Geometry, or None for a non-convolution
    nodes: tuple[str, ...]

    def geometry(self) -> Geometry | None:
        """The whole path as one shared-kernel convolution, if it is exactly one."""
        if not self.geometries or any(g is None for g in self.geometries):
            return None
        result = self.geometries[0]
        for nxt in self.geometries[1:]:
            result = compose_geometries(result, nxt)
            if result is None:
                return None
        return result


@dataclass
class _GraphWalker:
    graph: nir.NIRGraph
    preds: dict[str, list[str]] = field(default_factory=dict)
    succs: dict[str, list[str]] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # output shape of each node
    ops: dict[str, LinearOp] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    dt: float = DEFAULT_DT

    def __post_init__(self):
        nodes = self.graph.nodes
        for name, node in nodes.items():
            if isinstance(node, nir.NIRGraph):
                raise UnsupportedModelError(f"node {name!r} is a nested NIRGraph: inline subgraphs first")
            if not (isinstance(node, (nir.Input, nir.Output, nir.Delay) + LINEAR_NODES) or is_neuron(node)):
                raise UnsupportedModelError(
                    f"node {name!r} has type {type(node).__name__}, which neurodeploy cannot deploy "
                    f"(supported node types: {STRUCTURE}, {', '.join(n for n in NEURONS.names() if hasattr(nir, n))}, NIRGraph)"
                )
        self.preds = {n: [] for n in nodes}
        self.succs = {n: [] for n in nodes}
        for src, dst in self.graph.edges:
            for end in (src, dst):
                if end not in nodes:
                    raise UnsupportedModelError(f"edge ({src!r}, {dst!r}) refers to node {end!r}, which the graph lacks")
            if isinstance(nodes[src], nir.Output) or isinstance(nodes[dst], nir.Input):
                raise UnsupportedModelError(f"edge ({src!r}, {dst!r}): an Output feeds nothing and an Input receives nothing")
            self.succs[src].append(dst)
            self.preds[dst].append(src)
        inputs = [n for n, v in nodes.items() if isinstance(v, nir.Input)]
        outputs = [n for n, v in nodes.items() if isinstance(v, nir.Output)]
        if len(inputs) != 1 or len(outputs) != 1:
            raise UnsupportedModelError(
                f"the graph has {len(inputs)} Input and {len(outputs)} Output nodes: exactly one of each is supported"
            )
        self.input, self.output = inputs[0], outputs[0]
        self.neurons = [n for n, v in nodes.items() if is_neuron(v)]
        if not self.neurons:
            raise UnsupportedModelError("the graph has no neuron nodes: nothing to deploy")
        for name in self.neurons + [self.output]:
            if not self.preds[name]:
                raise UnsupportedModelError(f"node {name!r} ({type(nodes[name]).__name__}) has no incoming edge")

    # ------------------------------------------------------------------ shapes
    def infer_shapes(self) -> None:
        """Output shape of every node, propagated from the Input and from neuron parameters."""
        nodes = self.graph.nodes
        shape = tuple(int(x) for x in np.asarray(nodes[self.input].input_type["input"]).reshape(-1))
        if not shape or min(shape) <= 0:
            raise InvalidValueError(f"Input node {self.input!r} has an invalid shape {list(shape)}")
        self.shapes[self.input] = shape
        for name in self.neurons:
            params = model_of(nodes[name]).layer_shape(nodes[name])
            if params is not None and int(np.prod(params)) > 1:
                self.shapes[name] = params
        pending = [n for n in nodes if n not in self.shapes and not isinstance(nodes[n], nir.Output)]
        while pending:
            progressed = False
            for name in list(pending):
                incoming = [self.shapes[p] for p in self.preds[name] if p in self.shapes]
                if not incoming:
                    continue
                if len({int(np.prod(s)) for s in incoming}) > 1:
                    raise InvalidValueError(
                        f"node {name!r} receives signals of different sizes {[list(s) for s in incoming]}"
                    )
                self._set_shape(name, incoming[0])
                pending.remove(name)
                progressed = True
            if not progressed:
                raise UnsupportedModelError(
                    f"node(s) {', '.join(sorted(map(repr, pending)))} are not reachable from the Input "
                    "and their size cannot be inferred"
                )
        self._check_consistent_inputs()
        neurons = float(sum(np.prod(self.shapes[name], dtype=np.float64) for name in self.neurons))
        check_memory(neurons * BYTES_PER_NEURON, f"a network of {neurons:.0f} neurons", "use a smaller network or input shape")

    def _set_shape(self, name: str, in_shape: tuple[int, ...]) -> None:
        node = self.graph.nodes[name]
        if isinstance(node, LINEAR_NODES):
            self.ops[name] = operator_for(node, name, in_shape)
            self.shapes[name] = self.ops[name].out_shape
        else:  # Delay, or a neuron with scalar parameters
            self.shapes[name] = in_shape

    def _check_consistent_inputs(self) -> None:
        for name in self.neurons + [n for n, v in self.graph.nodes.items() if isinstance(v, nir.Delay)]:
            n = int(np.prod(self.shapes[name]))
            for pred in self.preds[name]:
                if int(np.prod(self.shapes[pred])) != n:
                    raise InvalidValueError(
                        f"node {name!r} ({type(self.graph.nodes[name]).__name__}) has {n} neurons/elements but "
                        f"receives {int(np.prod(self.shapes[pred]))} values from {pred!r}"
                    )
        for name, op in self.ops.items():
            for pred in self.preds[name]:
                if int(np.prod(self.shapes[pred])) != op.matrix.shape[1]:
                    raise InvalidValueError(
                        f"node {name!r} ({type(self.graph.nodes[name]).__name__}) takes {op.matrix.shape[1]} values "
                        f"but receives {int(np.prod(self.shapes[pred]))} from {pred!r}"
                    )

    # ------------------------------------------------------------------ layers
    def layer(self, name: str, dt: float, dialect: Dialect, settings) -> NormalisedLayer:
        self.dt = dt
        n = int(np.prod(self.shapes[name]))
        paths: dict[tuple[str, int], list[_Path]] = {}
        start = _Path({0: sparse.identity(n, format="csr")}, (), ())
        self._walk_back(name, start, (name,), paths)
        bias_in = self._bias_into(name, {})
        node = self.graph.nodes[name]
        low = Lowering(node, name, n, bias_in if bias_in.size == n else np.zeros(n), dt, recurrent=self._on_cycle(name))
        lowered = dialect.lower(model_of(node), low, settings)
        self.notes.extend(lowered.notes)
        projections = _projections(paths, lowered.gain, n)
        if not projections:
            raise UnsupportedModelError(f"node {name!r} receives nothing from the Input or another neuron node")
        nir_nodes = tuple(dict.fromkeys([node for p in projections for node in p.nir_nodes] + [name]))
        return NormalisedLayer(name, tuple(self.shapes[name]), projections, lowered.dynamics, nir_nodes, lowered.conventions)

    def _on_cycle(self, name: str) -> bool:
        """Whether the node's output reaches it again (a recurrent layer)."""
        seen, todo = set(), list(self.succs[name])
        while todo:
            node = todo.pop()
            if node == name:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(self.succs[node])
        return False

    def _walk_back(self, node: str, path: _Path, stack: tuple[str, ...], found: dict) -> None:
        nodes = self.graph.nodes
        for pred in self.preds[node]:
            kind = nodes[pred]
            if isinstance(kind, nir.Input) or is_neuron(kind):
                source = INPUT if pred == self.input else pred
                for delay, matrix in path.by_delay.items():
                    found.setdefault((source, delay), []).append(_Path({delay: matrix}, path.geometries, path.nodes))
                continue
            if pred in stack:
                raise UnsupportedModelError(
                    f"nodes {' -> '.join(reversed(stack[stack.index(pred):] + (pred,)))} form a cycle without a neuron: "
                    "an algebraic loop cannot be executed step by step"
                )
            if isinstance(kind, nir.Delay):
                self._walk_back(pred, self._through_delay(pred, path), stack + (pred,), found)
            elif isinstance(kind, LINEAR_NODES):
                op = self.ops[pred]
                flatten = isinstance(kind, nir.Flatten)
                by_delay = {d: (m @ op.matrix).tocsr() if sparse.issparse(op.matrix) else sparse.csr_matrix(m @ op.matrix) for d, m in path.by_delay.items()}
                geometries = path.geometries if flatten else (op.geometry,) + path.geometries
                self._walk_back(pred, _Path(by_delay, geometries, path.nodes + (pred,)), stack + (pred,), found)
            else:  # Output nodes do not feed anything
                raise UnsupportedModelError(f"node {pred!r} ({type(kind).__name__}) cannot feed {node!r}")

    def _through_delay(self, name: str, path: _Path) -> _Path:
        node = self.graph.nodes[name]
        n = int(np.prod(self.shapes[name]))
        seconds = np.broadcast_to(np.asarray(node.delay, float).reshape(-1), (n,)) if np.asarray(node.delay).size in (1, n) else None
        if seconds is None:
            raise InvalidValueError(f"node {name!r} (Delay): {np.asarray(node.delay).size} delays for a signal of {n}")
        if np.any(seconds < 0):
            raise InvalidValueError(f"node {name!r} (Delay): delays must be >= 0, got {seconds.min():g}")
        if np.any(seconds / self.dt > MAX_DELAY_STEPS):
            raise InvalidValueError(
                f"node {name!r} (Delay): a delay of {seconds.max():g} s is {seconds.max() / self.dt:.3g} steps of dt = {self.dt:g} s; "
                f"no chip delays more than {MAX_DELAY_STEPS} steps"
            )
        steps = np.round(seconds / self.dt).astype(int)
        if np.any(np.abs(steps * self.dt - seconds) > 1e-6 * np.maximum(seconds, self.dt)):
            self.notes.append(f"node {name!r} (Delay): delays rounded to whole steps of dt = {self.dt:g} s")
        by_delay: dict[int, sparse.csr_matrix] = {}
        for delay, matrix in path.by_delay.items():
            for value in np.unique(steps):
                columns = sparse.diags((steps == value).astype(float), format="csr")
                part = (matrix @ columns).tocsr()
                part.eliminate_zeros()
                if part.nnz:
                    by_delay[delay + int(value)] = by_delay.get(delay + int(value), 0) + part
        return _Path(by_delay, path.geometries + (None,) if np.any(steps) else path.geometries, path.nodes + (name,))

    def _bias_into(self, node: str, memo: dict) -> np.ndarray:
        """The node's input with every source at zero: the sum of biases carried to it."""
        total = np.zeros(0)
        for pred in self.preds[node]:
            value = self._bias_out_of(pred, memo)
            total = value if total.size == 0 else total + value
        return total

    def _bias_out_of(self, node: str, memo: dict) -> np.ndarray:
        if node not in memo:
            kind = self.graph.nodes[node]
            if isinstance(kind, nir.Input) or is_neuron(kind):
                memo[node] = np.zeros(int(np.prod(self.shapes[node])))
            else:
                upstream = self._bias_into(node, memo)
                if node in self.ops:
                    op = self.ops[node]
                    upstream = upstream if upstream.size else np.zeros(op.matrix.shape[1])
                    memo[node] = np.asarray(op.matrix @ upstream).reshape(-1) + op.bias
                else:  # Delay: a constant passes unchanged
                    memo[node] = upstream
        return memo[node]

    # ------------------------------------------------------------------ output
    def output_layer(self) -> str:
        node = self.output
        visited = []
        while True:
            preds = self.preds[node]
            if len(preds) != 1:
                raise UnsupportedModelError(f"the Output is fed by {len(preds)} nodes; connect it to one neuron node")
            node = preds[0]
            kind = self.graph.nodes[node]
            if is_neuron(kind):
                return node
            if not isinstance(kind, nir.Flatten) or node in visited:
                raise UnsupportedModelError(
                    f"the Output is fed by node {node!r} ({type(kind).__name__}), not by neurons: end the network "
                    "with a neuron node (e.g. an LI or LIF readout)"
                )
            visited.append(node)


# --------------------------------------------------------------------------- projections
def _projections(paths: dict[tuple[str, int], list[_Path]], gain: np.ndarray, n: int) -> tuple[Projection, ...]:
    by_source: dict[str, list[tuple[int, sparse.csr_matrix, Geometry | None, tuple[str, ...]]]] = {}
    for (source, delay), group in paths.items():
        matrix = sum((p.by_delay[delay] for p in group), start=sparse.csr_matrix(group[0].by_delay[delay].shape))
        matrix = sparse.csr_matrix(matrix)
        matrix.eliminate_zeros()
        if matrix.nnz == 0:
            continue
        geometry = group[0].geometry() if len(group) == 1 else None
        if geometry is not None:  # the matrix from the kernel itself, so that the two agree exactly
            matrix = convolution_matrix(geometry)
        nodes = tuple(dict.fromkeys(node for p in group for node in reversed(p.nodes)))
        by_source.setdefault(source, []).append((delay, matrix, geometry, nodes))
    scale = sparse.diags(gain, format="csr")
    projections = []
    for source, parts in by_source.items():
        for delay_parts in _disjoint_groups(parts):
            weight = scale @ sum((m for _, m, _, _ in delay_parts), start=sparse.csr_matrix(delay_parts[0][1].shape))
            weight = sparse.csr_matrix(weight)
            delays = None
            if any(d for d, _, _, _ in delay_parts):
                delays = sum(
                    (sparse.csr_matrix((np.full(m.nnz, d, dtype=np.int64), m.indices, m.indptr), shape=m.shape) for d, m, _, _ in delay_parts),
                    start=sparse.csr_matrix(weight.shape, dtype=np.int64),
                )
                delays = sparse.csr_matrix(delays)
            geometry = delay_parts[0][2] if len(delay_parts) == 1 else None
            geometry = _scaled_geometry(geometry, gain)
            nodes = tuple(dict.fromkeys(node for _, _, _, ns in delay_parts for node in ns))
            dense = weight.nnz > DENSE_ABOVE * weight.shape[0] * weight.shape[1] and geometry is None
            projections.append(
                Projection(
                    source=source,
                    weight=weight.toarray() if dense else weight,
                    delays=(delays.toarray() if dense and delays is not None else delays),
                    geometry=geometry,
                    nir_nodes=nodes,
                )
            )
    return tuple(projections)


def _disjoint_groups(parts):
    """Delay components of one source that share no synapse can form one projection."""
    groups: list[list] = []
    for part in sorted(parts, key=lambda p: p[0]):
        for group in groups:
            support = sum((abs(g[1]) for g in group), start=sparse.csr_matrix(part[1].shape)).astype(bool)
            if support.multiply(abs(part[1]).astype(bool)).nnz == 0:
                group.append(part)
                break
        else:
            groups.append([part])
    return groups


def _scaled_geometry(geometry: Geometry | None, gain: np.ndarray) -> Geometry | None:
    """Shared kernels survive a per-neuron gain only if the gain is uniform per output channel."""
    if geometry is None:
        return None
    per_channel = gain.reshape(geometry.out_shape[0], -1)
    if not np.all(per_channel == per_channel[:, :1]):
        return None
    kernel = geometry.kernel * per_channel[:, 0][:, None, None, None]
    return Geometry(geometry.kind, geometry.in_shape, geometry.out_shape, kernel, geometry.stride, geometry.padding, geometry.dilation, geometry.groups)


# --------------------------------------------------------------------------- checks
def _reject_graded_outputs_feeding_layers(layers: dict[str, NormalisedLayer], graph: nir.NIRGraph) -> None:
    for layer in layers.values():
        for source in layer.sources:
            if source != INPUT and not layers[source].neurons.spiking:
                raise UnsupportedModelError(
                    f"non-spiking node {source!r} ({type(graph.nodes[source]).__name__}) feeds {layer.name!r}: its "
                    "output is graded, which neurodeploy does not route between cores; use spiking neurons there"
                )


def _feed_forward_order(layers: dict[str, NormalisedLayer]) -> list[str]:
    """Layers in order of distance from the input (recurrent edges ignored)."""
    order, placed = [], {INPUT}
    remaining = list(layers)
    while remaining:
        ready = [n for n in remaining if all(s in placed or s == n for s in layers[n].sources)]
        if not ready:  # a cycle between layers: place the one with most inputs already available
            ready = [max(remaining, key=lambda n: sum(s in placed for s in layers[n].sources))]
        for name in ready:
            order.append(name)
            placed.add(name)
            remaining.remove(name)
    return order


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


def _metadata_dt(value) -> float:
    """The graph metadata's dt in seconds: one finite positive number, or an error naming it."""
    array = np.asarray(value.decode("utf8", "replace") if isinstance(value, bytes) else value)
    seconds = None
    if array.size == 1 and array.dtype.kind in "iufU":
        try:  # a number, or a number written as text
            seconds = float(array.reshape(-1)[0])
        except ValueError:
            seconds = None
    if seconds is None or not (np.isfinite(seconds) and seconds > 0):
        shown = " ".join(np.array2string(array, threshold=4).split())[:40] if array.dtype.kind != "U" else repr(str(array))[:40]
        raise InvalidValueError(f"graph metadata dt = {shown} is not a positive number of seconds: fix the file's metadata, or give --dt")
    return seconds


def _check_metadata_dt(graph: nir.NIRGraph) -> None:
    meta_dt = graph.metadata.get("dt") if isinstance(graph.metadata, dict) else None
    if meta_dt is not None:
        _metadata_dt(meta_dt)


def _choose_dt(graph: nir.NIRGraph, dt: float | None) -> tuple[float, str]:
    if dt is not None:
        if not (np.isfinite(dt) and dt > 0):
            raise InvalidValueError(f"--dt must be a positive number of seconds, got {dt}")
        return float(dt), "command line (--dt)"
    meta_dt = (graph.metadata or {}).get("dt") if isinstance(graph.metadata, dict) else None
    if meta_dt is not None:
        return _metadata_dt(meta_dt), "graph metadata"
    inferred = set()
    for node in graph.nodes.values():
        model = model_of(node)
        hint = model.dt_hint(node) if model is not None else None
        if hint is None:
            continue
        taus, rs = np.asarray(hint[0], float), np.asarray(hint[1], float)
        if np.all(rs != 1.0) and np.all(rs > 0):
            inferred.update(np.round(taus / rs, 12).reshape(-1).tolist())
    if len(inferred) == 1:
        return float(inferred.pop()), "inferred from r = tau / dt (snnTorch's convention)"
    return DEFAULT_DT, "default: not in graph metadata and not inferable from r = tau / dt"
