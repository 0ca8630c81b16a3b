"""Load a saved snnTorch model (``torch.save(model, path)`` of the whole ``nn.Module``)."""
from __future__ import annotations

from pathlib import Path

from ..errors import ModelLoadError
from ..ir.stages import FloatGraph


def load_torch_model(path: str | Path, input_shape: tuple[int, ...] | None = None) -> FloatGraph:
    from .snntorch_model import snntorch_to_float_graph

    return snntorch_to_float_graph(load_torch_module(path), input_shape=input_shape, source=str(path))


def load_torch_module(path: str | Path):
    """The nn.Module saved at ``path``, with a clear error for anything else."""
    import torch
    from torch import nn

    path = Path(path)
    try:
        # A full module pickle needs weights_only=False: only load files you trust, as with torch.load.
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except (AttributeError, ModuleNotFoundError) as exc:
        raise ModelLoadError(
            f"{path}: the model's class cannot be imported here ({exc}); make the module that defines it "
            "importable (e.g. run from its directory) or save an nn.Sequential"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise ModelLoadError(f"{path}: not a model saved with torch.save ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, dict):
        raise ModelLoadError(
            f"{path}: holds a state_dict (parameters only), not a model: save the module itself with torch.save(model, path)"
        )
    if not isinstance(obj, nn.Module):
        raise ModelLoadError(f"{path}: holds a {type(obj).__name__}, not a torch.nn.Module")
    return obj
