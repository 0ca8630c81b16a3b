"""Frontends: turn a user's model (NIR file, saved snnTorch module) into a FloatGraph."""
from __future__ import annotations

from pathlib import Path

from ..errors import ModelLoadError
from ..ir.stages import FloatGraph

NIR_SUFFIXES = (".nir", ".h5", ".hdf5")
TORCH_SUFFIXES = (".pt", ".pth")


def load_model(path: str | Path, input_shape: tuple[int, ...] | None = None) -> FloatGraph:
    """Load ``path`` by its suffix (or, without a known suffix, by its content)."""
    from .nir_file import load_nir_file
    from .torch_file import load_torch_model

    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file")
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a directory, not a model file")
    suffix = path.suffix.lower()
    if suffix in NIR_SUFFIXES:
        return load_nir_file(path)
    if suffix in TORCH_SUFFIXES:
        return load_torch_model(path, input_shape)
    head = path.read_bytes()[:8]
    if head.startswith(b"\x89HDF"):
        return load_nir_file(path)
    if head.startswith(b"PK") or head[:1] == b"\x80":
        return load_torch_model(path, input_shape)
    raise ModelLoadError(
        f"{path}: not a NIR file (.nir, HDF5) or a saved snnTorch model (.pt); cannot tell what it is"
    )
