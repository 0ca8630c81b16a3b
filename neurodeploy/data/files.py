"""``--data`` from files: a ``.npz`` with ``x`` and optional ``y``; a ``.npy`` (``x`` alone, or a
structured event array); one event file; a folder of event files, one subfolder per class
(``root/<class>/*``: integer folder names are the classes, other names are numbered in sorted
order), or event files directly in the folder (unlabelled). Arrays are read with
``allow_pickle=False``: a data file never runs code."""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputDataError
from ..limits import check_memory
from .event_files import EVENT_SUFFIXES, read_events
from .labelled import LabelledData, class_indices, load_npy

ARRAY_KEYS = ("x", "y")


def load_file(spec: Any) -> LabelledData:
    path = Path(spec)
    if not path.exists():
        raise InputDataError(f"--data {path}: no such file or folder (or a built-in set: digits, digits28, mnist1d)")
    if path.is_dir():
        return load_event_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return load_npz(path)
    if suffix == ".npy":
        array = load_npy(path, "--data")
        if array.dtype.names is not None:
            return LabelledData(x=[read_events(path)], y=None, source=str(path))
        return LabelledData(x=checked_numbers(array, path, "x"), y=None, source=str(path))
    if suffix in EVENT_SUFFIXES:
        return LabelledData(x=[read_events(path)], y=None, source=str(path))
    raise InputDataError(f"--data {path}: unknown kind of file {suffix!r}: give a .npz (x, optional y), a .npy, an event file "
                         f"({', '.join(EVENT_SUFFIXES)}) or a folder of event files")


def load_npz(path: Path) -> LabelledData:
    arrays, keys = read_npz(path, ARRAY_KEYS, "--data")
    if "x" not in arrays:
        raise InputDataError(f"--data {path}: holds {', '.join(keys) or 'no arrays'}; it needs x (the samples) and optionally y (their classes)")
    x = checked_numbers(arrays["x"], path, "x")
    data = LabelledData(x=x, y=None, source=str(path))
    if "y" in arrays:
        y, classes = class_indices(arrays["y"], f"{path}: y")
        data = LabelledData(x=x, y=y, source=str(path), classes=classes)
    return data


def read_npz(path: Path, keys: tuple[str, ...], option: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays named ``keys`` that the ``.npz`` at ``path`` holds, and the names of all it
    holds; read with ``allow_pickle=False`` once their declared (uncompressed) sizes fit the
    memory limit. ``option`` names the file in errors (``--data``, ``--calibration-data``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist() if info.filename in {f"{key}.npy" for key in keys})
    except (zipfile.BadZipFile, OSError, ValueError):
        declared = 0  # not a zip archive: np.load says what it is
    check_memory(declared, f"{option} {path}: {', '.join(keys)} (declared sizes)", "give a smaller file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files if key in keys}, list(archive.files)
    except Exception as exc:  # noqa: BLE001 - any unreadable file (object arrays included) is the user's to fix
        raise InputDataError(f"{option} {path}: not a readable .npz of numeric arrays ({type(exc).__name__}: {exc})") from None


def checked_numbers(array: np.ndarray, path: Path, key: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise InputDataError(f"--data {path}: {key} must be numbers, got dtype {array.dtype}")
    if array.ndim < 2:
        raise InputDataError(f"--data {path}: {key} has shape {list(array.shape)}: give (samples, *shape) "
                             "(or an encoded (steps, samples, *shape) with --layout steps-first)")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise InputDataError(f"--data {path}: {key} contains NaN or infinite values")
    return array


def load_event_folder(root: Path) -> LabelledData:
    """Event files in class subfolders (labelled) or directly in ``root`` (unlabelled), sorted by name."""
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in EVENT_SUFFIXES)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if files and folders:
        raise InputDataError(f"--data {root}: holds both event files and subfolders: put every file in its class's subfolder "
                             "(root/<class>/...), or all files in root (unlabelled)")
    if files:
        return LabelledData(x=[read_events(p) for p in files], y=None, source=str(root), details={"files": len(files)})
    if not folders:
        raise InputDataError(f"--data {root}: no event files ({', '.join(EVENT_SUFFIXES)}) and no class subfolders")
    names = [p.name for p in folders]
    numeric = all(name.isdigit() for name in names)
    if numeric:
        folders = sorted(folders, key=lambda p: int(p.name))
    streams, labels = [], []
    for index, folder in enumerate(folders):
        members = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EVENT_SUFFIXES)
        if not members:
            raise InputDataError(f"--data {root}: class folder {folder.name!r} holds no event files ({', '.join(EVENT_SUFFIXES)})")
        streams += [read_events(p) for p in members]
        labels += [int(folder.name) if numeric else index] * len(members)
    classes = None if numeric else tuple(p.name for p in folders)
    return LabelledData(x=streams, y=np.array(labels, np.int64), source=str(root), classes=classes,
                        details={"files": len(streams), "labels_from": "class subfolders"})
