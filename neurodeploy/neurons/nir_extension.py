"""neurodeploy's NIR extension: neuron models NIR has no node for, carried as metadata on
standard NIR neuron nodes, so that ``nir.write`` and ``nir.read`` keep them unchanged and
every other NIR tool still reads the graph (as the standard node underneath).

    node.metadata["neurodeploy"] = {"version": 1, "neuron": <model>, <the model's fields>}

``version`` is this format's version (``VERSION``); a file of a newer version is refused
rather than misread. The models (their fields, units and defaults: docs/nir_extension.md):

    "Refractory"          on LIF, CubaLIF, IF: t_ref (s), hold_current
    "AdaptiveThreshold"   on LIF, CubaLIF, IF: theta_step, tau_theta (s), t_ref (s),
                          refractory_state, tau_r (s)
    "Izhikevich"          on IF: a, b, d, bias, v_init, u_init, substeps, time_unit (s)

Per-neuron fields are one value or one per neuron; times are seconds, turned into steps
with the deployment's dt.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InvalidValueError, UnsupportedModelError

KEY = "neurodeploy"
VERSION = 1


def extension_of(node) -> dict[str, Any] | None:
    """The node's extension entry, or None for a plain NIR node; an error for an entry this
    version cannot read."""
    meta = getattr(node, "metadata", None) or {}
    entry = meta.get(KEY)
    if entry is None:
        return None
    if not isinstance(entry, Mapping) or "version" not in entry or "neuron" not in entry:
        raise UnsupportedModelError(f"a {type(node).__name__} node's metadata[{KEY!r}] lacks 'version' or 'neuron': not a neurodeploy extension")
    version = int(np.asarray(entry["version"]).reshape(-1)[0])
    if version > VERSION:
        raise UnsupportedModelError(
            f"a {type(node).__name__} node uses neurodeploy NIR extension version {version}; this neurodeploy reads up to {VERSION}: upgrade it"
        )
    return dict(entry)


def neuron_of(node) -> str | None:
    """The extension's neuron model name, or None."""
    entry = extension_of(node)
    if entry is None:
        return None
    value = entry["neuron"]
    return value.decode() if isinstance(value, bytes) else str(value)


def with_extension(node, neuron: str, **fields):
    """``node`` with its metadata carrying the extension (``fields`` as arrays or scalars);
    the node is changed in place and returned."""
    entry = {"version": VERSION, "neuron": neuron}
    for key, value in fields.items():
        if value is not None:
            entry[key] = _storable(value)
    node.metadata = {**(node.metadata or {}), KEY: entry}
    return node


def _storable(value):
    """A value ``nir.write`` stores: bool, str and int as they are, other one-value fields as a
    float (HDF5 cannot compress 0-d arrays), arrays as float64."""
    if isinstance(value, (bool, str, int, np.bool_)):
        return value.item() if isinstance(value, np.bool_) else value
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array


REQUIRED = object()  # a field of ``extension_fields``' spec without a default


def extension_fields(low, spec: Mapping[str, Any], per_neuron: tuple[str, ...] = (), unbounded: tuple[str, ...] = ()) -> dict[str, Any]:
    """The extension's fields of the node being lowered (``low``: a ``Lowering``): each key of
    ``spec`` with the file's value or the spec's default (``REQUIRED``: none; None: absent
    unless given); fields named in ``per_neuron`` become one float per neuron, finite unless
    named in ``unbounded``; unknown keys are errors."""
    entry = extension_of(low.node) or {}
    model = entry.get("neuron")
    unknown = sorted(set(entry) - set(spec) - {"version", "neuron"})
    if unknown:
        raise UnsupportedModelError(f"node {low.name!r}: neurodeploy extension {model!r} has no field(s) {', '.join(unknown)} (known: {', '.join(spec)})")
    values = {}
    for name, default in spec.items():
        value = entry.get(name, default)
        if value is REQUIRED:
            raise InvalidValueError(f"node {low.name!r}: neurodeploy extension {model!r} needs field {name!r}")
        if name in per_neuron and value is not None:
            flat = np.asarray(value, dtype=np.float64).reshape(-1)
            if flat.size not in (1, low.n):
                raise InvalidValueError(f"node {low.name!r}: extension field {name} has {flat.size} values for a layer of {low.n} neurons")
            if name not in unbounded and not np.all(np.isfinite(flat)):
                raise InvalidValueError(f"node {low.name!r}: extension field {name} must be finite")
            value = np.broadcast_to(flat, (low.n,)).astype(np.float64).copy()
        elif isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(-1)[0].item()
        elif isinstance(value, np.generic):
            value = value.item()
        values[name] = value
    return values


def steps_of(low, seconds: np.ndarray, field: str, notes: list[str] | None = None) -> np.ndarray:
    """A duration per neuron in whole steps of dt (rounded; a note when that changes it)."""
    if np.any(seconds < 0):
        raise InvalidValueError(f"node {low.name!r}: extension field {field} must be >= 0, got {seconds.min():g}")
    steps = np.round(seconds / low.dt).astype(np.int64)
    if notes is not None and np.any(np.abs(steps * low.dt - seconds) > 1e-6 * np.maximum(seconds, low.dt)):
        notes.append(f"node {low.name!r}: {field} rounded to whole steps of dt = {low.dt:g} s")
    return steps


def keep_factor(low, tau: np.ndarray, field: str) -> np.ndarray:
    """The per-step keep factor 1 - dt / tau of a relaxation time constant (forward Euler, as
    the neurons' own decays; tau = inf: 1, no relaxation)."""
    if np.any(tau <= 0):
        raise InvalidValueError(f"node {low.name!r}: extension field {field} must be > 0, got {tau.min():g}")
    fraction = np.where(np.isinf(tau), 0.0, low.dt / np.where(np.isinf(tau), 1.0, tau))
    if np.any(fraction > 1):
        raise InvalidValueError(f"node {low.name!r}: {field} = {tau.min():g} s is shorter than dt = {low.dt:g} s (pass a smaller --dt)")
    return 1.0 - fraction
