"""Read NIR files, including the ones ``nir.read`` rejects.

Files written by Norse, Rockpool or older ``nir`` versions often carry a batch
dimension in parameter arrays and Input/Output shapes, or lack fields that newer
versions require. ``load_nir_file`` first tries ``nir.read``; if that fails, it
reads the raw HDF5 tree with ``nir.serialization.hdf2dict``, repairs what can be
inferred, and builds the graph with ``nir.dict2NIRNode``. Every repair is
recorded as one line in ``FloatGraph.fixes`` and shown in the report.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np
from nir.serialization import hdf2dict

from ..errors import ModelLoadError, UnsupportedModelError
from ..ir.stages import FloatGraph

# Parameter arrays of neuron-like nodes: one value per neuron.
_NEURON_PARAMS = {
    "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    "LI": ("tau", "r", "v_leak"),
    "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
    "IF": ("r", "v_threshold", "v_reset"),
    "I": ("r",),
    "Threshold": ("threshold",),
    "Scale": ("scale",),
}
# Fields older writers leave out, with the value NIR's own semantics implies.
_DEFAULTS = {
    "LIF": {"v_reset": 0.0, "v_leak": 0.0, "r": 1.0},
    "CubaLIF": {"v_reset": 0.0, "v_leak": 0.0, "r": 1.0, "w_in": 1.0},
    "LI": {"v_leak": 0.0, "r": 1.0},
    "CubaLI": {"v_leak": 0.0, "r": 1.0, "w_in": 1.0},
    "IF": {"v_reset": 0.0, "r": 1.0},
}
# Entries that are not NIR fields and that nir.dict2NIRNode would reject.
_NOT_FIELDS = ("input_shape_inferred",)


def load_nir_file(path: str | Path) -> FloatGraph:
    """Load a ``.nir`` file as a FloatGraph; a clear ModelLoadError if it is not one."""
    path = Path(path)
    _check_is_hdf5(path)
    try:
        graph = nir.read(str(path))
        return FloatGraph(graph=_as_graph(graph), source=str(path), format="nir")
    except Exception as strict_error:  # noqa: BLE001 - any failure means: try to repair
        first_problem = _one_line(strict_error)
    with h5py.File(path, "r") as handle:
        if "node" not in handle:
            raise ModelLoadError(f"{path}: HDF5 file without a 'node' group: not a NIR file")
        raw = hdf2dict(handle["node"])
    fixes: list[str] = []
    repaired = _repair_node(raw, "", fixes)
    graph = _build(repaired, path, fixes, first_problem)
    return FloatGraph(graph=_as_graph(graph), source=str(path), format="nir", fixes=tuple(fixes))


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
    for type_check in (True, False):
        try:
            node = nir.dict2NIRNode({**raw, "type_check": type_check} if raw.get("type") == "NIRGraph" else raw)
        except Exception as exc:  # noqa: BLE001
            last_problem = _one_line(exc)
            continue
        if not type_check:
            fixes.append("graph built without NIR's type check (node shapes are checked during normalisation)")
        return node
    raise ModelLoadError(
        f"{path}: nir.read failed ({first_problem}) and the file could not be repaired ({last_problem})"
    )


def _repair_node(node: dict[str, Any], name: str, fixes: list[str]) -> dict[str, Any]:
    node = dict(node)
    kind = node.get("type")
    if name and not _known_type(kind):
        raise UnsupportedModelError(
            f"node {name!r} has type {kind!r}, which neither nir {nir.version} nor neurodeploy can read"
        )
    for key in _NOT_FIELDS:
        node.pop(key, None)
    if kind == "NIRGraph":
        node["nodes"] = {k: _repair_node(v, f"{name}.{k}" if name else k, fixes) for k, v in node["nodes"].items()}
        node["edges"] = [tuple(_text(x) for x in e) for e in np.asarray(node["edges"]).reshape(-1, 2)]
        node["nodes"] = _strip_io_batch_dims(node["nodes"], node["edges"], fixes)
        return node
    if kind in _NEURON_PARAMS:
        for key in _NEURON_PARAMS[kind]:
            if key in node:
                node[key] = _squeeze_batch(np.asarray(node[key]), f"node {name!r} ({kind}) field {key}", fixes)
        reference = next((np.asarray(node[k]) for k in _NEURON_PARAMS[kind] if k in node), None)
        for key, value in _DEFAULTS.get(kind, {}).items():
            if key not in node and reference is not None:
                node[key] = np.full(reference.shape, value, dtype=np.float32)
                fixes.append(f"node {name!r} ({kind}): missing field {key}, set to {value:g} (NIR default)")
    if kind == "Affine" and "bias" not in node and "weight" in node:
        node["bias"] = np.zeros(np.asarray(node["weight"]).shape[0], dtype=np.float32)
        fixes.append(f"node {name!r} (Affine): missing bias, set to zeros")
    return node


def _squeeze_batch(value: np.ndarray, what: str, fixes: list[str]) -> np.ndarray:
    """A parameter array of shape (1, n...) carries a batch dimension: drop it."""
    if value.ndim >= 2 and value.shape[0] == 1:
        fixes.append(f"{what}: removed batch dimension {tuple(value.shape)} -> {tuple(value.shape[1:])}")
        return value.reshape(value.shape[1:])
    return value


def _strip_io_batch_dims(nodes: dict[str, dict], edges: list[tuple[str, str]], fixes: list[str]) -> dict[str, dict]:
    """Drop a leading batch entry from Input/Output shapes when the connected node expects
    one dimension fewer (e.g. Input shape [1, 784] feeding an Affine with 784 inputs)."""
    nodes = dict(nodes)
    for name, node in nodes.items():
        if node.get("type") not in ("Input", "Output") or "shape" not in node:
            continue
        shape = np.asarray(node["shape"]).reshape(-1)
        neighbours = [b for a, b in edges if a == name] + [a for a, b in edges if b == name]
        expected = {_expected_ndim(nodes[n], node["type"]) for n in neighbours if n in nodes}
        expected.discard(None)
        if len(shape) >= 2 and expected and len(shape) - 1 in expected and len(shape) not in expected:
            nodes[name] = {**node, "shape": shape[1:]}
            fixes.append(
                f"node {name!r} ({node['type']}): removed batch dimension from shape {shape.tolist()} -> {shape[1:].tolist()}"
            )
    return nodes


def _expected_ndim(node: dict, io_type: str) -> int | None:
    """Number of dimensions a node expects on the side facing an Input (or Output) node."""
    kind = node.get("type")
    if kind in ("Affine", "Linear"):
        return 1
    if kind == "Conv2d":
        return 3 if io_type == "Input" else 3
    if kind == "Conv1d":
        return 2
    if kind in _NEURON_PARAMS:
        params = [np.asarray(node[k]) for k in _NEURON_PARAMS[kind] if k in node]
        return params[0].ndim if params else None
    return None


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
