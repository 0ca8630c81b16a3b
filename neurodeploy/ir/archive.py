"""The compiled network's stages as plain data: a JSON-ready tree plus numpy arrays, and back.

``to_tree(obj) -> (tree, arrays)`` walks dataclasses (the stages, neuron parameters, the hardware
profile, NIR nodes), enums, numpy arrays, scipy sparse matrices and Python containers;
``from_tree(tree, arrays)`` rebuilds them. An object reached twice (a normalised layer that a
quantised layer also refers to) is written once and shared again after loading.

Loading runs no code from the data: objects are rebuilt by setting their stored attributes on an
instance made without calling its constructor, and only dataclasses and enums of neurodeploy and
nir can be named (``ALLOWED_PACKAGES``); anything else is an ``ArchiveError``. Arrays never hold
Python objects (the file format reads them with ``allow_pickle=False``).
"""
from __future__ import annotations

import dataclasses
import enum
import importlib
import math
from typing import Any

import numpy as np
from scipy import sparse

from ..errors import ModelLoadError

ALLOWED_PACKAGES = ("neurodeploy", "nir")
SPARSE_FORMATS = {"csr": sparse.csr_matrix, "csc": sparse.csc_matrix, "coo": sparse.coo_matrix}


class ArchiveError(ModelLoadError):
    """A stage cannot be written, or a saved tree names something it may not."""


def _type_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def to_tree(obj: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """(a JSON-ready tree, the arrays it refers to by key) for ``obj``."""
    arrays: dict[str, np.ndarray] = {}
    ids: dict[int, int] = {}
    keep: list[Any] = []  # objects written, kept alive so that their ids stay unique

    def array_ref(value: np.ndarray) -> dict:
        if value.dtype.hasobject:
            raise ArchiveError(f"cannot save an array of Python objects (dtype {value.dtype})")
        key = f"a{len(arrays)}"
        arrays[key] = np.ascontiguousarray(value)
        return {"$array": key}

    def walk(value: Any) -> Any:
        if value is None or isinstance(value, (bool, str, int)) and not isinstance(value, enum.Enum):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"$float": repr(value)}
        if isinstance(value, enum.Enum):
            return {"$enum": _type_name(type(value)), "name": value.name}
        if isinstance(value, np.generic):
            return {"$scalar": array_ref(np.asarray(value))}
        if isinstance(value, np.dtype):
            return {"$dtype": value.str}
        if isinstance(value, type) and issubclass(value, np.generic):
            return {"$dtype": np.dtype(value).str}
        if id(value) in ids:
            return {"$ref": ids[id(value)]}
        if isinstance(value, np.ndarray):
            return _shared(value, array_ref(value))
        if sparse.issparse(value):
            kind = value.format
            if kind not in SPARSE_FORMATS:
                value, kind = value.tocsr(), "csr"
            parts = {"csr": ("data", "indices", "indptr"), "csc": ("data", "indices", "indptr"), "coo": ("data", "row", "col")}[kind]
            return _shared(value, {"$sparse": kind, "shape": list(value.shape), **{name: array_ref(getattr(value, name)) for name in parts}})
        if isinstance(value, tuple):
            return {"$tuple": [walk(item) for item in value]}
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            return {"$dict": [[walk(k), walk(v)] for k, v in value.items()]}
        if isinstance(value, (set, frozenset)):
            return {"$set": [walk(item) for item in sorted(value, key=repr)], "frozen": isinstance(value, frozenset)}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            cls = type(value)
            if cls.__module__.split(".")[0] not in ALLOWED_PACKAGES:
                raise ArchiveError(f"cannot save a {_type_name(cls)}: only neurodeploy's and nir's own types are saved")
            ref = len(ids)
            ids[id(value)] = ref
            keep.append(value)
            state = vars(value) if hasattr(value, "__dict__") else {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            return {"$object": _type_name(cls), "id": ref, "state": {key: walk(item) for key, item in state.items()}}
        raise ArchiveError(f"cannot save a {type(value).__module__}.{type(value).__qualname__}")

    def _shared(value: Any, node: dict) -> dict:
        ref = len(ids)
        ids[id(value)] = ref
        keep.append(value)
        return {**node, "id": ref}

    return walk(obj), arrays


def _allowed_type(name: str) -> type:
    module_name, _, qualname = str(name).partition(":")
    if module_name.split(".")[0] not in ALLOWED_PACKAGES:
        raise ArchiveError(f"the saved network names {name!r}: only neurodeploy's and nir's own types are loaded")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        raise ArchiveError(f"the saved network names {name!r}, which this version of neurodeploy does not have") from None
    if not isinstance(target, type) or not (dataclasses.is_dataclass(target) or issubclass(target, enum.Enum)):
        raise ArchiveError(f"the saved network names {name!r}, which is not a data type")
    return target


def from_tree(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The objects ``to_tree`` wrote."""
    shared: dict[int, Any] = {}

    def array(node: dict) -> np.ndarray:
        key = node.get("$array")
        if key not in arrays:
            raise ArchiveError(f"the saved network refers to a missing array {key!r}")
        return arrays[key]

    def walk(node: Any) -> Any:
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            raise ArchiveError(f"the saved network holds an unreadable entry of type {type(node).__name__}")
        if "$ref" in node:
            if node["$ref"] not in shared:
                raise ArchiveError(f"the saved network refers to object {node['$ref']} before it is defined")
            return shared[node["$ref"]]
        if "$float" in node:
            return float(node["$float"])
        if "$enum" in node:
            return _allowed_type(node["$enum"])[node["name"]]
        if "$scalar" in node:
            return array(node["$scalar"])[()]
        if "$dtype" in node:
            return np.dtype(node["$dtype"])
        if "$array" in node:
            value = array(node)
            return _register(node, value)
        if "$sparse" in node:
            kind = node["$sparse"]
            if kind not in SPARSE_FORMATS:
                raise ArchiveError(f"the saved network holds an unknown sparse format {kind!r}")
            shape = tuple(node["shape"])
            if kind == "coo":
                value = sparse.coo_matrix((array(node["data"]), (array(node["row"]), array(node["col"]))), shape=shape)
            else:
                value = SPARSE_FORMATS[kind]((array(node["data"]), array(node["indices"]), array(node["indptr"])), shape=shape)
            return _register(node, value)
        if "$tuple" in node:
            return tuple(walk(item) for item in node["$tuple"])
        if "$dict" in node:
            return {_hashable(walk(k)): walk(v) for k, v in node["$dict"]}
        if "$set" in node:
            items = (_hashable(walk(item)) for item in node["$set"])
            return frozenset(items) if node.get("frozen") else set(items)
        if "$object" in node:
            cls = _allowed_type(node["$object"])
            value = object.__new__(cls)
            _register(node, value)
            for key, item in node["state"].items():
                object.__setattr__(value, key, walk(item))
            return value
        raise ArchiveError(f"the saved network holds an unreadable entry with keys {sorted(node)[:4]}")

    def _register(node: dict, value: Any) -> Any:
        if "id" in node:
            shared[node["id"]] = value
        return value

    return walk(tree)


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value
