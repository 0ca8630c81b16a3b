"""Read NIR files, including the ones ``nir.read`` rejects.

``load_nir_file`` first tries ``nir.read``; if that fails, it reads the raw HDF5 tree
with ``nir.serialization.hdf2dict``, repairs what can be inferred, and builds the graph
itself (``type_check=False`` at every level: ``nir.read`` checks nested subgraphs even
when told not to). Every repair is one line in ``FloatGraph.fixes``, shown in the report.

Quirks repaired, by who writes them (see tests/test_nir_file.py, which writes each):

    batch (and time) dimensions on Input/Output    Rockpool, snnTorch without ignore_dims,
      shapes and on parameters                     Norse 1.1, nir < 1.0 files
    0-d neuron parameters (one value for a layer)  Sinabs, Norse defaults, snnTorch scalars
    Output without a shape, integer edges,         nir <= 0.0.6
      nodes stored as a list
    Conv1d/Conv2d without input_shape              nir <= 0.2, Sinabs, Norse, snnTorch, lava
    Flatten without input_type                     nir 0.1, Sinabs
    missing v_reset, w_in, r, v_leak, bias         nir < 1.0.6, Rockpool, hand-written files
    pooling sizes stored as one int or 0-d         snnTorch AvgPool2d, Sinabs SumPool2d
    subgraph Input/Output shapes that disagree     Rockpool (braille.nir)
      with the neurons they connect
    edges naming a node by a prefix of its name    NIR paper's *_subgraph.nir ('lif' for 'lif1')
    keys that are no field of the node type        any newer or older writer

Shapes are inferred node by node from the Input (``_infer_shapes``). What cannot be
inferred stops with an error naming the node. Files never store dt or the reset mode: those
come from the metadata, the CLI or the normaliser's inference, as the report states.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np
from nir.serialization import hdf2dict

from ..errors import InvalidValueError, ModelLoadError, UnsupportedModelError, UserError
from ..ir.stages import FloatGraph
from ..limits import check_memory
from ..neurons import NEURONS


def _parameter_tables() -> tuple[dict[str, tuple[str, ...]], dict[str, dict[str, float]]]:
    """Per node type: its per-neuron parameter arrays (every neuron model's fields, and
    Scale's), and the fields older writers leave out with the value NIR's own semantics
    implies (the neuron models' defaults)."""
    params = {model.name: tuple(model.fields) for model in NEURONS}
    params["Scale"] = ("scale",)
    defaults = {model.name: dict(model.defaults) for model in NEURONS if model.defaults}
    return params, defaults


_NEURON_PARAMS, _DEFAULTS = _parameter_tables()

# Entries that are not NIR fields and that nir.dict2NIRNode would reject.
_NOT_FIELDS = ("input_shape_inferred",)


# What an HDF5 file may hold before it is read (see _check_hdf5_tree).
MAX_HDF5_DEPTH = 64
MAX_HDF5_OBJECTS = 100_000
MAX_INPUT_VALUES = 1 << 48  # per sample: beyond any memory, and within int64 products of shapes


def load_nir_file(path: str | Path) -> FloatGraph:
    """Load a ``.nir`` file as a FloatGraph; a clear ModelLoadError if it is not one.
    The file's structure and declared sizes are checked before any of it is read, and the
    graph (fields, types, Input shape) after it is built."""
    path = Path(path)
    _check_is_hdf5(path)
    _check_hdf5_tree(path)
    try:
        graph = nir.read(str(path))
        loaded = FloatGraph(graph=_as_graph(graph), source=str(path), format="nir")
        _check_graph(loaded.graph, path)
        return loaded
    except UserError:
        raise
    except Exception as strict_error:  # noqa: BLE001 - any failure means: try to repair
        first_problem = _one_line(strict_error)
    raw = _read_raw(path)
    fixes: list[str] = []
    try:
        repaired = _repair_node(raw, "", fixes)
    except UserError as error:
        if str(path) not in str(error):
            error.args = (f"{path}: {error}",)
        raise
    except Exception as exc:  # noqa: BLE001 - a field of the wrong kind anywhere in a hand-made file
        raise ModelLoadError(f"{path}: not a valid NIR graph: nir.read failed ({first_problem}) and repairing it failed ({_one_line(exc)})") from None
    graph = _build(repaired, path, fixes, first_problem)
    loaded = FloatGraph(graph=_as_graph(graph), source=str(path), format="nir", fixes=tuple(fixes))
    _check_graph(loaded.graph, path)
    return loaded


def _read_raw(path: Path) -> dict:
    """The file's 'node' group as nested dicts (nir's hdf2dict)."""
    try:
        with h5py.File(path, "r") as handle:
            if "node" not in handle or not isinstance(handle["node"], h5py.Group):
                raise ModelLoadError(f"{path}: HDF5 file without a 'node' group: not a NIR file")
            return hdf2dict(handle["node"])
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py raises many kinds for a damaged file
        raise ModelLoadError(f"{path}: damaged HDF5 file ({_one_line(exc)}); write it again") from None


def _check_hdf5_tree(path: Path) -> None:
    """Before anything is read: the file opens, links to no other file or object, is at most
    MAX_HDF5_DEPTH groups deep with at most MAX_HDF5_OBJECTS objects, and all its datasets
    together fit the memory limit by their declared sizes (a compressed, or never written,
    dataset can declare far more than the file holds)."""
    try:
        with h5py.File(path, "r") as handle:
            total, count = 0, 0
            stack = [(handle, 0)]
            while stack:
                group, depth = stack.pop()
                for name in group:
                    where = f"{group.name.rstrip('/')}/{_text(name)}"
                    link = group.get(name, getlink=True)
                    if not isinstance(link, h5py.HardLink):
                        raise ModelLoadError(f"{path}: {where} is a {type(link).__name__}; a NIR file holds its data itself, without links")
                    count += 1
                    if count > MAX_HDF5_OBJECTS:
                        raise ModelLoadError(f"{path}: more than {MAX_HDF5_OBJECTS} HDF5 objects; not a NIR file neurodeploy can read")
                    item = group[name]
                    if isinstance(item, h5py.Group):
                        if depth + 1 > MAX_HDF5_DEPTH:
                            raise ModelLoadError(f"{path}: {where} is nested more than {MAX_HDF5_DEPTH} groups deep")
                        stack.append((item, depth + 1))
                    elif isinstance(item, h5py.Dataset):
                        if item.is_virtual or item.external:
                            raise ModelLoadError(f"{path}: dataset {where} keeps its data in other files; a NIR file holds its data itself")
                        total += int(item.size or 0) * item.dtype.itemsize
            check_memory(total, f"{path}: reading its arrays (declared sizes)", "check the file's array sizes")
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py raises many kinds for a damaged file
        raise ModelLoadError(f"{path}: damaged HDF5 file ({_one_line(exc)}); write it again") from None


def _check_is_hdf5(path: Path) -> None:
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file")
    if not path.is_file():
        raise ModelLoadError(f"{path}: not a file")
    if not h5py.is_hdf5(str(path)):
        raise ModelLoadError(f"{path}: not a NIR file (NIR files are HDF5; this one is not)")


def _as_graph(node: nir.NIRNode) -> nir.NIRGraph:
    if isinstance(node, nir.NIRGraph):
        return node
    return nir.NIRGraph.from_list(node)


def _build(raw: dict, path: Path, fixes: list[str], first_problem: str) -> nir.NIRNode:
    try:
        node = _build_node(raw)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(
            f"{path}: nir.read failed ({first_problem}) and the file could not be repaired ({_one_line(exc)})"
        ) from None
    fixes.append("graph built without NIR's type check (node shapes are checked during normalisation)")
    return node


def _build_node(raw: dict) -> nir.NIRNode:
    """nir node from a repaired dict; graphs (nested too) without NIR's type check."""
    if raw.get("type") != "NIRGraph":
        return nir.dict2NIRNode(raw)
    nodes = {name: _build_node(child) for name, child in raw["nodes"].items()}
    return nir.NIRGraph(nodes=nodes, edges=list(raw["edges"]), metadata=dict(raw.get("metadata") or {}), type_check=False)


def _repair_node(node: dict[str, Any], name: str, fixes: list[str]) -> dict[str, Any]:
    node = dict(node)
    kind = _text(node.get("type"))
    node["type"] = kind
    if name and not _known_type(kind):
        raise UnsupportedModelError(
            f"node {name!r} has type {kind!r}, which neither nir {nir.version} nor neurodeploy can read"
        )
    if kind == "NIRGraph":
        _check_required(node, name, kind, ("nodes", "edges"))
        return _repair_graph(node, name, fixes)
    _drop_unknown_keys(node, name, kind, fixes)
    _check_required(node, name, kind, _required_fields(kind))
    if kind in _NEURON_PARAMS:
        for key in _NEURON_PARAMS[kind]:
            if key in node:
                node[key] = _squeeze_batch(np.asarray(node[key]), f"node {name!r} ({kind}) field {key}", fixes)
    if kind == "Affine" and "bias" not in node and "weight" in node:
        node["bias"] = np.zeros(np.asarray(node["weight"]).shape[0], dtype=np.float32)
        fixes.append(f"node {name!r} (Affine): missing bias, set to zeros")
    if kind in ("SumPool2d", "AvgPool2d"):
        for key in ("kernel_size", "stride", "padding"):
            value = np.asarray(node.get(key, 0 if key == "padding" else node.get("kernel_size")))
            if value.size == 1:
                node[key] = np.full(2, int(value.reshape(-1)[0]))
                fixes.append(f"node {name!r} ({kind}): {key} {value.reshape(-1)[0]} -> {node[key].tolist()}")
    return node


# Fields nir requires that the repairs below fill in when a file lacks them.
_REPAIRED = {"Affine": ("bias",), "Conv1d": ("input_shape",), "Conv2d": ("input_shape",), "SumPool2d": ("stride", "padding"),
             "AvgPool2d": ("stride", "padding")}


def _required_fields(kind: str) -> tuple[str, ...]:
    """The fields a node of ``kind`` must carry in the file: nir's required fields, less the
    ones a repair can supply; an Input stores its shape as ``shape``."""
    if kind == "Input":
        return ("shape",)
    required = [f.name for f in dataclasses.fields(nir.ir.str2NIRNode(kind))
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    repaired = {"input_type", "output_type", "metadata", *_DEFAULTS.get(kind, {}), *_REPAIRED.get(kind, ())}
    return tuple(field for field in required if field not in repaired)


def _check_required(node: dict, name: str, kind: str, required: tuple[str, ...]) -> None:
    missing = [field for field in required if field not in node]
    if missing:
        where = f"node {name!r} ({kind})" if name else f"the top-level graph ({kind})"
        raise ModelLoadError(f"{where} lacks the field(s) {', '.join(missing)} that a {kind} must have")


def _drop_unknown_keys(node: dict, name: str, kind: str, fixes: list[str]) -> None:
    """Remove entries that are no field of the node's type (nir would reject them)."""
    cls = nir.ir.str2NIRNode(kind)
    allowed = {f.name for f in dataclasses.fields(cls)} | {"type"}
    for key in sorted(set(node) - allowed):
        if key in ("shape",) and kind in ("Input", "Output"):
            continue  # stored as shape, a constructor argument
        node.pop(key)
        if key not in _NOT_FIELDS:
            fixes.append(f"node {name!r} ({kind}): dropped {key!r}, which is no field of {kind} in nir {nir.version}")


def _repair_graph(node: dict, name: str, fixes: list[str]) -> dict:
    prefix = f"{name}." if name else ""
    nodes = node["nodes"]
    if isinstance(nodes, (list, tuple)):  # nir <= 0.0.6 stored nodes as a list
        nodes = {str(i): child for i, child in enumerate(nodes)}
    node["nodes"] = {_text(k): _repair_node(v, f"{prefix}{_text(k)}", fixes) for k, v in nodes.items()}
    edges = [tuple(_text(x) for x in e) for e in np.asarray(node["edges"]).reshape(-1, 2)]
    node["edges"] = _repair_edges(edges, node["nodes"], name, fixes)
    node["nodes"] = _strip_io_batch_dims(node["nodes"], node["edges"], fixes, prefix)
    _infer_shapes(node["nodes"], node["edges"], fixes, prefix)
    node.pop("metadata", None) if not isinstance(node.get("metadata"), dict) else None
    for key in set(node) - {"type", "nodes", "edges", "metadata"}:
        node.pop(key)
    return node


def _repair_edges(edges: list[tuple[str, str]], nodes: dict, graph: str, fixes: list[str]) -> list[tuple[str, str]]:
    """Edges must name nodes; an end that names none but is the prefix of exactly one
    node's name (the NIR paper's subgraphs say 'lif' for 'lif1') is redirected."""
    repaired = []
    for edge in edges:
        ends = []
        for end in edge:
            if not _names_node(end, nodes):
                matches = [n for n in nodes if n.startswith(end)]
                where = f"graph {graph!r}" if graph else "the graph"
                if len(matches) != 1:
                    raise ModelLoadError(f"edge {edge} in {where} names node {end!r}, which does not exist")
                fixes.append(f"edge {edge} in {where}: {end!r} is no node; taken to mean {matches[0]!r}")
                end = matches[0]
            ends.append(end)
        repaired.append(tuple(ends))
    return repaired


def _names_node(end: str, nodes: dict) -> bool:
    """A node of this graph, or 'sub.node' inside one of its subgraphs."""
    if end in nodes:
        return True
    head, _, rest = end.partition(".")
    child = nodes.get(head)
    return bool(rest) and isinstance(child, dict) and child.get("type") == "NIRGraph" and _names_node(rest, child["nodes"])


def _squeeze_batch(value: np.ndarray, what: str, fixes: list[str]) -> np.ndarray:
    """A parameter array of shape (1, n...) carries a batch dimension: drop it."""
    if value.ndim >= 2 and value.shape[0] == 1:
        fixes.append(f"{what}: removed batch dimension {tuple(value.shape)} -> {tuple(value.shape[1:])}")
        return value.reshape(value.shape[1:])
    return value


def _strip_io_batch_dims(nodes: dict[str, dict], edges: list[tuple[str, str]], fixes: list[str], prefix: str = "") -> dict[str, dict]:
    """Drop leading size-1 (batch, time) entries from Input/Output shapes when the
    connected node expects fewer dimensions (e.g. Input [1, 784] feeding an Affine with
    784 inputs; Rockpool's Output [1, 1, 4])."""
    nodes = dict(nodes)
    for name, node in nodes.items():
        if node.get("type") not in ("Input", "Output") or "shape" not in node:
            continue
        shape = np.asarray(node["shape"]).reshape(-1)
        neighbours = [b for a, b in edges if a == name] + [a for a, b in edges if b == name]
        expected = {_expected_ndim(nodes[n], node["type"]) for n in neighbours if n in nodes}
        expected.discard(None)
        if not expected or len(shape) in expected:
            continue
        trimmed = shape
        while len(trimmed) >= 2 and trimmed[0] == 1 and len(trimmed) not in expected:
            trimmed = trimmed[1:]
        if len(trimmed) in expected:
            nodes[name] = {**node, "shape": trimmed}
            fixes.append(
                f"node {prefix + name!r} ({node['type']}): removed batch dimension from shape {shape.tolist()} -> {trimmed.tolist()}"
            )
    return nodes


def _expected_ndim(node: dict, io_type: str) -> int | None:
    """Number of dimensions a node expects on the side facing an Input (or Output) node."""
    kind = node.get("type")
    if kind in ("Affine", "Linear"):
        return 1
    if kind == "Conv2d":
        return 3
    if kind == "Conv1d":
        return 2
    if kind in _NEURON_PARAMS:
        params = [np.asarray(node[k]) for k in _NEURON_PARAMS[kind] if k in node]
        return params[0].ndim if params and params[0].ndim else None
    return None


# --------------------------------------------------------------------------- shapes
def _infer_shapes(nodes: dict[str, dict], edges: list[tuple[str, str]], fixes: list[str], prefix: str) -> None:
    """Propagate output shapes from the Input through the graph (recurrent edges
    included: repeated until nothing changes) and fill in what older writers left out:
    Output shapes, Conv input_shape, Flatten input_type, 0-d neuron parameters, default
    fields, and subgraph Input/Output shapes that contradict their neurons."""
    shapes: dict[str, np.ndarray | None] = {}
    for _ in range(len(nodes) + 1):
        changed = False
        for name, node in nodes.items():
            sources = [a for a, b in edges if b == name and shapes.get(a) is not None]
            incoming = shapes[sources[0]] if sources else None
            out = _out_shape(node, incoming, f"{prefix}{name}", fixes)
            if out is not None and (shapes.get(name) is None or not np.array_equal(shapes[name], out)):
                shapes[name], changed = out, True
        if not changed:
            break
    for name, node in nodes.items():
        if node.get("type") == "Output" and "shape" not in node:
            source = next((a for a, b in edges if b == name and shapes.get(a) is not None), None)
            if source is None:
                raise ModelLoadError(f"node {prefix + name!r} (Output) has no shape and none can be inferred from the nodes before it")
            node["shape"] = shapes[source]
            fixes.append(f"node {prefix + name!r} (Output): missing shape, set to {shapes[source].tolist()} from {source!r}")
    _match_io_to_neurons(nodes, edges, fixes, prefix)


def _out_shape(node: dict, incoming: np.ndarray | None, name: str, fixes: list[str]) -> np.ndarray | None:
    kind = node.get("type")
    if kind == "Input":
        return np.asarray(node["shape"]).reshape(-1)
    if kind in ("Affine", "Linear"):
        return np.array([np.asarray(node["weight"]).shape[0]])
    if kind in ("Conv1d", "Conv2d"):
        return _conv_shape(node, incoming, name, fixes)
    if kind in ("SumPool2d", "AvgPool2d"):
        if incoming is None:
            return None
        k, s, p = (np.asarray(node[key]).reshape(-1) for key in ("kernel_size", "stride", "padding"))
        return np.array([incoming[0], *((incoming[1:] + 2 * p - k) // s + 1)])
    if kind == "Flatten":
        if node.get("input_type") is None and incoming is not None:
            node["input_type"] = incoming
            fixes.append(f"node {name!r} (Flatten): missing input_type, set to {incoming.tolist()} from the node before it")
        if node.get("input_type") is None:
            return None
        shape = np.asarray(node["input_type"]).reshape(-1)
        start, end = int(node.get("start_dim", 0)), int(node.get("end_dim", -1)) % len(shape)
        return np.array([*shape[:start], int(np.prod(shape[start : end + 1])), *shape[end + 1 :]])
    if kind in _NEURON_PARAMS:
        return _neuron_shape(node, incoming, name, fixes)
    if kind == "Delay":
        return np.asarray(np.asarray(node["delay"]).shape) if np.asarray(node["delay"]).ndim else incoming
    if kind == "Output":
        return incoming
    return None


def _conv_shape(node: dict, incoming: np.ndarray | None, name: str, fixes: list[str]) -> np.ndarray | None:
    weight = np.asarray(node["weight"])
    spatial = weight.ndim - 2
    if node.get("input_shape") is None:
        if incoming is None:
            return None
        node["input_shape"] = np.asarray(incoming[1:])
        fixes.append(f"node {name!r} ({node['type']}): missing input_shape, set to {incoming[1:].tolist()} from the node before it")
    size = np.asarray(node["input_shape"]).reshape(-1)
    stride, padding, dilation = (
        np.broadcast_to(np.asarray(node.get(k, d)).reshape(-1), (spatial,)) for k, d in (("stride", 1), ("padding", 0), ("dilation", 1))
    )
    if isinstance(node.get("padding"), (str, bytes)):
        return None  # 'same' / 'valid': nir computes these
    out = (size + 2 * padding - dilation * (np.asarray(weight.shape[2:]) - 1) - 1) // stride + 1
    return np.array([weight.shape[0], *out])


def _neuron_shape(node: dict, incoming: np.ndarray | None, name: str, fixes: list[str]) -> np.ndarray | None:
    """A neuron layer's shape: its parameters', or the incoming one when they are 0-d (then
    broadcast to it); missing fields get NIR's defaults."""
    kind = node["type"]
    present = [k for k in _NEURON_PARAMS[kind] if k in node]
    shaped = [np.asarray(node[k]) for k in present if np.asarray(node[k]).ndim]
    shape = np.asarray(shaped[0].shape) if shaped else incoming
    if shape is None:
        return None
    check_memory(float(np.prod(shape, dtype=np.float64)) * 4 * len(_NEURON_PARAMS[kind]), f"node {name!r} ({kind}): parameters for "
                 f"{float(np.prod(shape, dtype=np.float64)):.0f} neurons", "check the shapes the file declares")
    for key in present:
        value = np.asarray(node[key])
        if value.ndim == 0:
            node[key] = np.full(tuple(shape), float(value), dtype=np.float32)
            fixes.append(f"node {name!r} ({kind}) field {key}: one value {float(value):g} for the layer, broadcast to shape {shape.tolist()}")
    for key, value in _DEFAULTS.get(kind, {}).items():
        if key not in node:
            node[key] = np.full(tuple(shape), value, dtype=np.float32)
            fixes.append(f"node {name!r} ({kind}): missing field {key}, set to {value:g} (NIR default)")
    return shape


def _match_io_to_neurons(nodes: dict[str, dict], edges: list[tuple[str, str]], fixes: list[str], prefix: str) -> None:
    """Inside a subgraph, an Input or Output wired straight to a neuron layer must have
    its size (Rockpool writes the subgraph Input with the size of the layer before the
    synapses)."""
    if not prefix:
        return
    for name, node in nodes.items():
        if node.get("type") not in ("Input", "Output") or "shape" not in node:
            continue
        neighbours = [b for a, b in edges if a == name] + [a for a, b in edges if b == name]
        for other in neighbours:
            neuron = nodes.get(other, {})
            if neuron.get("type") not in _NEURON_PARAMS:
                continue
            params = [np.asarray(neuron[k]) for k in _NEURON_PARAMS[neuron["type"]] if k in neuron and np.asarray(neuron[k]).ndim]
            if params and int(np.prod(node["shape"])) != params[0].size:
                fixes.append(f"node {prefix + name!r} ({node['type']}): shape {np.asarray(node['shape']).tolist()} contradicts "
                             f"neuron layer {prefix + other!r} of shape {list(params[0].shape)}; set to the layer's")
                node["shape"] = np.asarray(params[0].shape)
                break


# --------------------------------------------------------------------------- checks of the built graph
_NOT_PARAMETERS = ("input_type", "output_type", "metadata", "nodes", "edges")


def _check_graph(graph: nir.NIRGraph, path: Path, prefix: str = "") -> None:
    """What the passes rely on, whichever way the graph was read: every parameter holds real
    numbers (not text, objects or complex values), edges name nodes, and the Input's shape is
    whole positive sizes. Values themselves (NaN, ranges) are the normaliser's to check."""
    for name, node in graph.nodes.items():
        where = f"node {prefix + name!r} ({type(node).__name__})"
        if isinstance(node, nir.NIRGraph):
            _check_graph(node, path, f"{prefix}{name}.")
            continue
        for field, value in vars(node).items():
            if field in _NOT_PARAMETERS or value is None or (field == "padding" and isinstance(value, (str, bytes))):
                continue  # (a convolution's padding may be "same" or "valid")
            array = _as_array(value)
            if array is None or array.dtype.kind not in "biuf":
                raise InvalidValueError(f"{path}: {where}: field {field} holds {_kind_of(value)}; NIR parameters are arrays of real numbers")
        if isinstance(node, nir.Input):
            _check_input_shape(node, where, path)
    for edge in graph.edges:
        if len(edge) != 2 or not all(isinstance(end, str) for end in edge):
            raise ModelLoadError(f"{path}: edge {edge!r} is not a pair of node names")


def _check_input_shape(node: nir.Input, where: str, path: Path) -> None:
    shape = np.asarray(node.input_type.get("input") if isinstance(node.input_type, dict) else None)
    ok = shape.ndim == 1 and shape.size >= 1 and shape.dtype.kind in "iuf"
    ok = ok and bool(np.all(np.isfinite(shape))) and bool(np.all(shape >= 1)) and bool(np.all(shape == np.round(shape)))
    if not ok:
        raise InvalidValueError(f"{path}: {where}: shape {_shown(shape)} is not a list of whole sizes >= 1")
    values = math.prod(int(x) for x in shape)
    if values > MAX_INPUT_VALUES:
        raise InvalidValueError(f"{path}: {where}: shape {_shown(shape)} declares {values} values per sample; no network takes more than "
                                f"{MAX_INPUT_VALUES}")


def _as_array(value: Any) -> np.ndarray | None:
    if not isinstance(value, (np.ndarray, list, tuple, int, float, np.number)):
        return None
    try:
        return np.asarray(value)
    except (ValueError, TypeError):  # ragged nesting
        return None


def _kind_of(value: Any) -> str:
    array = _as_array(value) if isinstance(value, (np.ndarray, list, tuple)) else None
    return f"an array of dtype {array.dtype}" if array is not None else f"a {type(value).__name__}"


def _shown(value: Any) -> str:
    text = np.array2string(np.asarray(value), threshold=8) if isinstance(value, np.ndarray) else repr(value)
    return " ".join(text.split())[:80]


def _known_type(kind: Any) -> bool:
    try:
        nir.ir.str2NIRNode(str(kind))
        return True
    except Exception:  # noqa: BLE001 - nir raises different errors for unknown names
        return False


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}".rstrip(": ")
