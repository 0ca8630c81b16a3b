"""An snnTorch model saved as users save it: its ``state_dict`` (``torch.save(model.state_dict(),
path)``) and its class, named ``pkg.module:Net`` or ``path/to/file.py:Net`` (``--model-class``),
built with the constructor arguments of ``--model-args`` (a JSON object of keyword arguments, or
a list of positional ones), then filled with the saved weights.

The weights are read with ``torch.load(weights_only=True)``: tensors and plain containers only,
never code from the file. The class's own module is imported, which runs that module's code:
it is the user's own, named by the user. A checkpoint dict holding the weights under
``state_dict`` or ``model_state_dict`` (PyTorch Lightning, most training scripts) is accepted.

``save_model`` writes a module for deployment, or says on one line what to do where it cannot
be pickled (snnTorch's default surrogate gradients are closures, which pickle cannot store).
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError, UserError

CHECKPOINT_KEYS = ("state_dict", "model_state_dict")
SHOWN = 4  # names listed in a key-mismatch error


def import_model_class(spec: str):
    """The class named by ``module:Class`` (``module`` a dotted module importable from here or the
    working directory, or a .py file); a one-line ModelLoadError otherwise."""
    from torch import nn

    module_name, sep, qualname = str(spec).partition(":")
    if not sep or not module_name or not qualname:
        raise ModelLoadError(f"--model-class {spec}: give the class as pkg.module:Net or path/to/file.py:Net")
    try:
        module = _import_file(module_name) if module_name.endswith(".py") or os.sep in module_name else _import_module(module_name)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's module failed to import: say why, in one line
        raise ModelLoadError(f"--model-class {spec}: cannot import {module_name} ({type(exc).__name__}: {_one_line(exc)})") from None
    target: Any = module
    for part in qualname.split("."):
        if not hasattr(target, part):
            raise ModelLoadError(f"--model-class {spec}: {module_name} has no attribute {qualname!r}")
        target = getattr(target, part)
    if not (isinstance(target, type) and issubclass(target, nn.Module)):
        raise ModelLoadError(f"--model-class {spec}: {qualname} is not a torch.nn.Module class")
    return target


def _import_module(name: str):
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _import_file(path_text: str):
    path = Path(path_text)
    if not path.is_file():
        raise ModelLoadError(f"--model-class {path}: no such file")
    name = f"neurodeploy_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look classes up by module name
    spec.loader.exec_module(module)
    return module


def model_arguments(args: Any) -> tuple[list, dict]:
    """(positional, keyword) constructor arguments from ``--model-args``: JSON text, a dict, a list, or None."""
    if args is None:
        return [], {}
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"--model-args {args}: not JSON ({exc.msg}); give an object of keyword arguments, "
                                 "e.g. '{\"hidden\": 1000}', or a list of positional ones") from None
    if isinstance(args, Mapping):
        return [], dict(args)
    if isinstance(args, Sequence) and not isinstance(args, (str, bytes)):
        return list(args), {}
    raise ModelLoadError(f"--model-args {args!r}: give an object of keyword arguments or a list of positional ones")


def load_state_dict_model(path: str | Path, model_class: str | type, model_args: Any = None):
    """The module of class ``model_class`` built with ``model_args`` and filled with the state_dict
    saved at ``path`` (read with weights_only=True), in eval mode."""
    import torch

    from .torch_file import _check_archive_size

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file, not a state_dict file")
    cls = model_class if isinstance(model_class, type) else import_model_class(model_class)
    name = f"{cls.__module__}:{cls.__qualname__}"
    positional, keywords = model_arguments(model_args)
    try:
        module = cls(*positional, **keywords)
    except Exception as exc:  # noqa: BLE001 - the user's constructor failed: say why, in one line
        raise ModelLoadError(f"--model-class {name}: building it with --model-args {json.dumps(keywords or positional)} failed "
                             f"({type(exc).__name__}: {_one_line(exc)})") from None
    _check_archive_size(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - weights_only refuses anything but tensors and containers
        raise ModelLoadError(f"{path}: not a state_dict that torch.load(weights_only=True) can read ({type(exc).__name__}: "
                             f"{_one_line(exc)}); save it with torch.save(model.state_dict(), path)") from None
    state = _weights(state, path)
    result = _load_into(module, state, path, name)
    module.eval()
    return result


def _weights(state: Any, path: Path) -> Mapping[str, Any]:
    if isinstance(state, Mapping):
        for key in CHECKPOINT_KEYS:
            if isinstance(state.get(key), Mapping):
                return state[key]
        return state
    raise ModelLoadError(f"{path}: holds a {type(state).__name__}, not a state_dict (a dict of tensors)")


def _load_into(module, state: Mapping[str, Any], path: Path, name: str):
    own = module.state_dict()
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_names(missing)}")
        if unexpected:
            parts.append(f"unexpected {_names(unexpected)}")
        raise ModelLoadError(f"{path}: the state_dict does not fit {name} built with these --model-args ({'; '.join(parts)}): "
                             "check the class and its constructor arguments")
    for key, value in state.items():
        expected = tuple(own[key].shape)
        got = tuple(getattr(value, "shape", ()))
        if expected != got:
            raise ModelLoadError(f"{path}: {key} has shape {list(got)} but {name} built with these --model-args expects "
                                 f"{list(expected)}: check the constructor arguments")
    module.load_state_dict(state, strict=True)
    return module


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN])
    return shown + (f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else "")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def class_spec(module) -> str:
    """``module:Class`` of a module's class, as --model-class takes it (``file.py:Class`` for a
    class defined in a script run as ``__main__``)."""
    import inspect

    cls = type(module)
    if cls.__module__ == "__main__":
        try:
            source = inspect.getsourcefile(cls)
        except (TypeError, OSError):
            source = None
        if source and source.endswith(".py") and Path(source).is_file():
            return f"{source}:{cls.__qualname__}"
    return f"{cls.__module__}:{cls.__qualname__}"


def save_model(module, path: str | Path, whole: bool = False) -> str:
    """Save ``module`` for deployment: its state_dict (default; deploy it with ``--model-class``), or
    with ``whole=True`` the whole module as ``torch.save(module)`` pickles it (loading it again
    unpickles it, which needs ``--trust-pickle``). Returns the command-line options that deploy
    the file. A module that cannot be pickled (snnTorch's default
    surrogate gradients are closures) raises a one-line UserError saying which of the other ways to take."""
    import io

    import torch

    path = Path(path)
    spec = class_spec(module)
    if not whole:
        torch.save(module.state_dict(), path)
        return f"{path} --model-class {spec}"
    buffer = io.BytesIO()
    try:
        torch.save(module, buffer)
    except Exception as exc:  # noqa: BLE001 - pickling fails with AttributeError, PicklingError or TypeError
        raise UserError(
            f"{spec} cannot be pickled ({type(exc).__name__}: {_one_line(exc)}; snnTorch's default surrogate gradient is a closure): "
            f"save its weights instead, save_model(model, {str(path)!r}) or torch.save(model.state_dict(), {str(path)!r}), and deploy "
            f"with --model-class {spec} (plus --model-args for its constructor); or pass the module itself to neurodeploy.deploy(); "
            "or build its neurons with spike_grad=functools.partial(snntorch.surrogate.ATan.apply, alpha=2.0)"
        ) from None
    path.write_bytes(buffer.getvalue())
    return f"{path} --trust-pickle"
