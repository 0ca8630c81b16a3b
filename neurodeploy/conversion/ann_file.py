"""The ANN file ``--convert`` reads: weights and a declared architecture, no pickled code.

A ``.pt`` file written by ``save_ann`` (or by hand with ``torch.save``) holding one dict:

    {"format": "neurodeploy.ann", "version": 1,
     "input_shape": [1, 8, 8],                       one sample's shape
     "layers": [{"type": "Conv2d", "in_channels": 1, "out_channels": 8, "kernel_size": 3, "padding": 1},
                {"type": "BatchNorm2d", "num_features": 8}, {"type": "ReLU"}, {"type": "AvgPool2d", "kernel_size": 2},
                {"type": "Flatten"}, {"type": "Linear", "in_features": 128, "out_features": 10}],
     "state_dict": {"0.weight": tensor, ...}}         nn.Sequential(*layers).state_dict()

It is read with ``torch.load(weights_only=True)``, which rebuilds tensors and plain containers
and runs nothing. The architecture is rebuilt from ``LAYERS`` (torch.nn classes and the
keyword arguments each may take: numbers, booleans and lists of them), and the weights are
loaded into it with ``load_state_dict(strict=True)``. A whole pickled ``nn.Sequential``
(``torch.save(model)``) is refused, since unpickling can run any code the file carries, unless
the caller trusts the file (``trust_pickle``, ``--trust-pickle``: it is then unpickled as the
snnTorch frontend does, after a ``PickleWarning``); write the file with ``save_ann`` instead.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError, UnsupportedModelError
from ..limits import check_memory

FORMAT = "neurodeploy.ann"
VERSION = 1

_POOL = ("kernel_size", "stride", "padding")
LAYERS: dict[str, tuple[str, ...]] = {  # nn class -> the keyword arguments the file may give it
    "Linear": ("in_features", "out_features", "bias"),
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias"),
    "BatchNorm1d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "BatchNorm2d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "ReLU": (),
    "AvgPool2d": _POOL,
    "MaxPool2d": _POOL,
    "Flatten": ("start_dim", "end_dim"),
    "Dropout": ("p",),
    "Identity": (),
}


def save_ann(model, path: str | Path, input_shape: tuple[int, ...]) -> Path:
    """Write ``model`` (an ``nn.Sequential`` of ``LAYERS``, nested Sequentials allowed) and one
    sample's ``input_shape`` in the format above."""
    import torch

    layers = [describe_layer(module, name) for name, module in sequential_layers(model)]
    flat = torch.nn.Sequential(*(module for _, module in sequential_layers(model)))
    state = {key: value.detach().cpu().clone() for key, value in flat.state_dict().items()}
    path = Path(path)
    torch.save({"format": FORMAT, "version": VERSION, "input_shape": [int(n) for n in input_shape], "layers": layers,
                "state_dict": state}, path)
    return path


def sequential_layers(model) -> list[tuple[str, Any]]:
    """The leaf modules of an ``nn.Sequential`` (nested Sequentials flattened), with their names."""
    from torch import nn

    if not isinstance(model, nn.Sequential):
        raise UnsupportedModelError(f"--convert takes an nn.Sequential (layers in order), got {type(model).__name__}: "
                                    "write the network as nn.Sequential(...) of " + ", ".join(LAYERS))
    leaves: list[tuple[str, Any]] = []
    for name, module in model.named_children():
        if isinstance(module, nn.Sequential):
            leaves += [(f"{name}.{inner}", child) for inner, child in sequential_layers(module)]
        else:
            leaves.append((name, module))
    return leaves


def describe_layer(module, name: str) -> dict[str, Any]:
    kind = type(module).__name__
    if kind not in LAYERS or type(module).__module__.split(".")[0] != "torch":
        raise UnsupportedModelError(f"module {name!r} ({kind}): --convert takes {', '.join(LAYERS)}")
    entry: dict[str, Any] = {"type": kind}
    for key in LAYERS[kind]:
        value = getattr(module, key)
        if key == "bias":
            value = value is not None
        if isinstance(value, tuple):
            value = list(value)
        entry[key] = value
    return entry


def load_ann(path: str | Path, trust_pickle: bool = False):
    """(nn.Sequential in eval mode, one sample's input shape or None) from an ANN file (or, with
    ``trust_pickle``, a pickled nn.Sequential, whose input shape the caller must know); a
    one-line ModelLoadError for anything else."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such file (or not a regular file)")
    _check_archive_size(path)
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        if "Weights only load failed" in str(exc):
            if trust_pickle:
                from ..frontends.torch_file import load_torch_module

                return load_torch_module(path, trust_pickle=True).eval(), None
            raise ModelLoadError(f"{path}: holds pickled Python objects (a whole nn.Module?); unpickling can run code, so --convert reads "
                                 "weights and a declared architecture: write the file with neurodeploy.conversion.save_ann(model, "
                                 "path, input_shape), or pass --trust-pickle only if you trust this file") from None
        raise ModelLoadError(f"{path}: not a file written by torch.save ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ModelLoadError(f"{path}: not a neurodeploy ANN file (a dict with format={FORMAT!r}, layers, input_shape and state_dict); "
                             "write it with neurodeploy.conversion.save_ann(model, path, input_shape)")
    if content.get("version") != VERSION:
        raise ModelLoadError(f"{path}: ANN file version {content.get('version')!r}; this neurodeploy reads version {VERSION}")
    return build_ann(content, str(path)), _input_shape(content.get("input_shape"), path)


def build_ann(content: dict[str, Any], source: str):
    """The nn.Sequential the file declares, with its weights."""
    import torch
    from torch import nn

    layers = content.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ModelLoadError(f"{source}: 'layers' must be a non-empty list of {{'type': ..., arguments}}")
    modules = []
    for index, entry in enumerate(layers):
        if not isinstance(entry, dict) or entry.get("type") not in LAYERS:
            kind = entry.get("type") if isinstance(entry, dict) else entry
            raise UnsupportedModelError(f"{source}: layer {index} has type {kind!r}; --convert takes {', '.join(LAYERS)}")
        kind = entry["type"]
        args = {key: value for key, value in entry.items() if key != "type"}
        unknown = sorted(set(args) - set(LAYERS[kind]))
        if unknown or not all(_plain(value) for value in args.values()):
            raise ModelLoadError(f"{source}: layer {index} ({kind}): arguments {', '.join(unknown) or 'with values that are no numbers'}; "
                                 f"a {kind} takes {', '.join(LAYERS[kind]) or 'none'}")
        try:
            modules.append(getattr(nn, kind)(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}))
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{source}: layer {index} ({kind}): {exc}") from None
    model = nn.Sequential(*modules)
    state = content.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError(f"{source}: 'state_dict' must map parameter names to tensors (nn.Sequential(*layers).state_dict())")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"{source}: the weights do not fit the declared layers ({' '.join(str(exc).split())[:300]})") from None
    return model.eval()


def _plain(value: Any) -> bool:
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return isinstance(value, (bool, int, float)) or value is None


def _input_shape(value: Any, path: Path) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 1 << 20
                                                                     for n in value):
        raise ModelLoadError(f"{path}: input_shape {value!r} is not a list of whole sizes >= 1 (one sample's shape, e.g. [1, 8, 8])")
    return tuple(value)


def _check_archive_size(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip archive: torch.load says what it is
    check_memory(declared, f"{path}: its tensors (declared sizes)", "check the file")
