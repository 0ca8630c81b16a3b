"""A compiled deployment in one versioned file (``.ndz``): every stage of the compiled network
(the NIR graph as loaded, normalised, quantised and mapped onto cores, with its hardware profile),
the encoder it was compiled for, and how it was compiled, so that it runs on any target without
compiling again (``neurodeploy.load``, or ``deploy.py net.ndz``).

The file is a zip of numpy arrays (``numpy.savez_compressed``): ``neurodeploy.npy`` holds the
manifest as UTF-8 JSON bytes (``format``, ``version``, the neurodeploy version that wrote it, the
stages as a tree, ``ir/archive.py``), the other entries the arrays the tree refers to. It is read
with ``allow_pickle=False``: loading runs no code from the file. A file of another format
version is refused with a one-line error saying what to do.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ModelLoadError
from ..ir.archive import ArchiveError, from_tree, to_tree
from ..ir.passes import CompiledNetwork
from ..limits import check_memory

FORMAT = "neurodeploy-compiled-network"
VERSION = 1
SUFFIX = ".ndz"
MANIFEST = "neurodeploy"  # the manifest's entry in the zip (neurodeploy.npy)


@dataclass(frozen=True)
class SavedNetwork:
    """A compiled network and what it was compiled for."""

    compiled: CompiledNetwork
    encode: str | None = None  # the --encode spec of the data it was compiled for (None: encoded input or random spikes)
    settings: dict[str, Any] = field(default_factory=dict)  # weight_scaling, calibration, decision, dt
    input: dict[str, Any] = field(default_factory=dict)  # the input section of the data it was compiled with
    path: str | None = None  # the file it was read from

    @property
    def profile(self):
        return self.compiled.mapped.profile


def is_saved_network(path: Any) -> bool:
    """Whether ``path`` is a file this module wrote (by content, whatever its suffix)."""
    try:
        path = Path(path)
        if not path.is_file() or not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            return f"{MANIFEST}.npy" in archive.namelist()
    except (OSError, TypeError, zipfile.BadZipFile):
        return False


def write_saved_network(saved: SavedNetwork, path: str | Path) -> Path:
    """Write ``saved`` to ``path`` (the suffix .ndz is added where there is none)."""
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(SUFFIX)
    tree, arrays = to_tree(saved.compiled)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "neurodeploy_version": __version__,
        "encode": saved.encode,
        "settings": saved.settings,
        "input": saved.input,
        "stages": tree,
    }
    text = json.dumps(manifest, allow_nan=False).encode()
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{MANIFEST: np.frombuffer(text, np.uint8)}, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)
    return path


def read_saved_network(path: str | Path) -> SavedNetwork:
    """The SavedNetwork in ``path``; a one-line ModelLoadError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such file")
    _check_declared_size(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if MANIFEST not in archive.files:
                raise ModelLoadError(f"{path}: not a compiled network saved by neurodeploy (no {MANIFEST} manifest)")
            manifest = json.loads(archive[MANIFEST].tobytes().decode())
            _check_version(manifest, path)
            arrays = {key: archive[key] for key in archive.files if key != MANIFEST}
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file is the user's to replace
        raise ModelLoadError(f"{path}: not a readable compiled network ({type(exc).__name__}: {exc})") from None
    try:
        compiled = from_tree(manifest["stages"], arrays)
    except ArchiveError as exc:
        raise ModelLoadError(f"{path}: {exc}") from None
    except (RecursionError, KeyError, TypeError, ValueError, AttributeError) as exc:  # a tree this module did not write
        raise ModelLoadError(f"{path}: a damaged compiled network ({type(exc).__name__}); compile it again from the model") from None
    if not isinstance(compiled, CompiledNetwork):
        raise ModelLoadError(f"{path}: holds a {type(compiled).__name__}, not a compiled network")
    return SavedNetwork(compiled=compiled, encode=manifest.get("encode"), settings=dict(manifest.get("settings") or {}),
                        input=dict(manifest.get("input") or {}), path=str(path))


def _check_declared_size(path: Path) -> None:
    """The arrays' declared (uncompressed) sizes must fit the memory limit before any is read."""
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip archive: np.load says what it is
    check_memory(declared, f"{path}: the compiled network's arrays (declared sizes)", "check the file")


def _check_version(manifest: Any, path: Path) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelLoadError(f"{path}: not a compiled network saved by neurodeploy (format {manifest.get('format') if isinstance(manifest, dict) else None!r})")
    version = manifest.get("version")
    if version != VERSION:
        raise ModelLoadError(
            f"{path}: compiled network format version {version} (written by neurodeploy {manifest.get('neurodeploy_version')}); "
            f"this neurodeploy {__version__} reads version {VERSION}: compile it again from the model "
            "(neurodeploy.compile(model, ...).save(path))"
        )
