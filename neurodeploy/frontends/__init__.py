"""Frontends: turn a user's model (NIR file, saved snnTorch module, the built-in demo) into a
``LoadedModel``: its FloatGraph, and where there is one the trainable module and the data
that come with it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from ..ir.stages import FloatGraph
from .model import LoadedModel

NIR_SUFFIXES = (".nir", ".h5", ".hdf5")
TORCH_SUFFIXES = (".pt", ".pth")


def load(path: Any, input_shape: tuple[int, ...] | None = None, *, keep_module: bool = False, seed: int = 0, trust_pickle: bool = False,
         model_class: str | type | None = None, model_args: Any = None, shape_hints: tuple[tuple[int, ...], ...] = ()) -> LoadedModel:
    """The model at ``path`` (None: the built-in demo, trained with ``seed``; an ``nn.Module``: that
    module, in memory); ``keep_module``: keep a saved snnTorch model's module too (for
    fine-tuning); ``trust_pickle``: allow a ``.pt`` file that holds a pickled module (unpickling
    can run code: ``torch_file.py``); ``model_class`` / ``model_args``: ``path`` holds a
    state_dict of that class (``model_class.py``, read with weights_only=True); ``shape_hints``:
    sample shapes the data has, tried where the model cannot tell its input shape."""
    if path is None:
        from .demo import load_demo

        return load_demo(seed)
    in_memory = not isinstance(path, (str, Path)) and hasattr(path, "named_modules")  # an nn.Module (torch stays unimported for NIR files)
    if in_memory or model_class is not None:
        from .snntorch_model import snntorch_to_float_graph

        if in_memory:
            module, source = path, f"{type(path).__name__} (in memory)"
        else:
            from .model_class import load_state_dict_model

            module, source = load_state_dict_model(path, model_class, model_args), str(path)
        return LoadedModel(snntorch_to_float_graph(module, input_shape=input_shape, source=source, shape_hints=shape_hints), module=module)
    if model_args is not None:
        raise ModelLoadError("--model-args are the constructor arguments of --model-class: give the class too")
    if is_brian2_spec(path):
        from .brian2_model import load_brian2_file

        return load_brian2_file(str(path))
    if keep_module and Path(path).suffix.lower() in TORCH_SUFFIXES:
        from .snntorch_model import snntorch_to_float_graph
        from .torch_file import load_torch_module

        module = load_torch_module(path, trust_pickle)
        return LoadedModel(snntorch_to_float_graph(module, input_shape=input_shape, source=str(path), shape_hints=shape_hints), module=module)
    return LoadedModel(load_model(path, input_shape, trust_pickle, shape_hints))


def is_brian2_spec(path) -> bool:
    """``FILE.py:FUNCTION`` (or ``FILE.py``, refused with the form to use): a Brian2 model."""
    text = str(path)
    return text.endswith(".py") or (".py:" in text and text.rpartition(":")[0].endswith(".py"))


def load_model(path: str | Path, input_shape: tuple[int, ...] | None = None, trust_pickle: bool = False,
               shape_hints: tuple[tuple[int, ...], ...] = ()) -> FloatGraph:
    """Load ``path`` by its suffix (or, without a known suffix, by its content)."""
    from .nir_file import load_nir_file
    from .torch_file import load_torch_model

    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file")
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a directory, not a model file")
    if not path.is_file():
        raise ModelLoadError(f"{path}: not a regular file (a device, pipe or socket), not a model file")
    suffix = path.suffix.lower()
    if suffix in NIR_SUFFIXES:
        return load_nir_file(path)
    if suffix in TORCH_SUFFIXES:
        return load_torch_model(path, input_shape, trust_pickle, shape_hints)
    head = _head(path)
    if head.startswith(b"\x89HDF"):
        return load_nir_file(path)
    if head.startswith(b"PK") or head[:1] == b"\x80":
        return load_torch_model(path, input_shape, trust_pickle, shape_hints)
    raise ModelLoadError(
        f"{path}: not a NIR file (.nir, HDF5) or a saved snnTorch model (.pt); cannot tell what it is"
    )


def _head(path: Path) -> bytes:
    """The first bytes of the file (its format's magic number)."""
    try:
        with path.open("rb") as handle:
            return handle.read(8)
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot be read ({exc.strerror or exc})") from None
