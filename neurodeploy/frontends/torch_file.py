"""Load a saved snnTorch model (``torch.save(model, path)`` of the whole ``nn.Module``).

A ``.pt`` file is a pickle, and unpickling can run any code the file carries. Files are read
with ``torch.load(weights_only=True)``, which rebuilds only tensors and plain containers and
runs nothing; a file that holds a pickled module is refused unless the caller trusts it
(``trust_pickle``, ``--trust-pickle``), and then a ``PickleWarning`` is issued before it is
unpickled.
"""
from __future__ import annotations

import re
import warnings
import zipfile
from pathlib import Path

from ..errors import ModelLoadError, PickleWarning
from ..ir.stages import FloatGraph
from ..limits import check_memory


def load_torch_model(path: str | Path, input_shape: tuple[int, ...] | None = None, trust_pickle: bool = False,
                     shape_hints: tuple[tuple[int, ...], ...] = ()) -> FloatGraph:
    from .snntorch_model import snntorch_to_float_graph

    return snntorch_to_float_graph(load_torch_module(path, trust_pickle), input_shape=input_shape, source=str(path), shape_hints=shape_hints)


def load_torch_module(path: str | Path, trust_pickle: bool = False):
    """The nn.Module saved at ``path``, with a clear error for anything else."""
    import torch
    from torch import nn

    path = Path(path)
    _check_archive_size(path)
    if trust_pickle:
        warnings.warn(f"--trust-pickle: unpickling {path} with torch.load(weights_only=False), which runs any code the file carries",
                      PickleWarning, stacklevel=2)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except (AttributeError, ModuleNotFoundError) as exc:
        raise ModelLoadError(
            f"{path}: the model's class cannot be imported here ({exc}); save its state_dict instead "
            "(torch.save(model.state_dict(), path)) and give the class with --model-class pkg.module:Net or file.py:Net"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        if not trust_pickle and "Weights only load failed" in str(exc):
            raise _pickled_objects(path, exc) from None
        raise ModelLoadError(f"{path}: not a model saved with torch.save ({type(exc).__name__}: {_first_line(exc)})") from None
    if isinstance(obj, dict):
        raise ModelLoadError(
            f"{path}: holds a state_dict (parameters only): give the model's class with --model-class pkg.module:Net "
            "(or file.py:Net) and its constructor arguments with --model-args JSON"
        )
    if not isinstance(obj, nn.Module):
        raise ModelLoadError(f"{path}: holds a {type(obj).__name__}, not a torch.nn.Module")
    return obj


def _pickled_objects(path: Path, exc: Exception) -> ModelLoadError:
    """What torch.load(weights_only=True) refused: Python objects (named where torch names one)."""
    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    named = f" ({found.group(1)})" if found else ""
    return ModelLoadError(
        f"{path}: holds pickled Python objects{named}, such as a whole nn.Module from torch.save(model); unpickling can run any "
        "code a file carries, so neurodeploy loads .pt files with torch.load(weights_only=True): pass --trust-pickle only if "
        "you trust this file, or save the weights (torch.save(model.state_dict(), path)) and give the class with --model-class"
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


def _check_archive_size(path: Path) -> None:
    """A torch.save zip archive's declared (uncompressed) size must fit the memory limit."""
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip archive (an older torch.save format, or no model at all): torch.load says which
    check_memory(declared, f"{path}: its tensors (declared sizes)", "check the file")
