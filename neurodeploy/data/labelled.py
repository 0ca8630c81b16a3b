"""Labelled data as neurodeploy holds it (``LabelledData``), its layouts, labels and classes."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputDataError
from ..limits import check_memory

LAYOUTS = ("samples", "steps-first", "samples-first")
ENCODED_LAYOUTS = ("steps-first", "samples-first")


@dataclass(frozen=True)
class LabelledData:
    """Samples and (where known) their classes."""

    x: Any  # (samples, *shape) or (steps, samples, *shape) / (samples, steps, *shape) per layout; or a list of event streams
    y: np.ndarray | None  # one integer class per sample
    source: str  # the file, folder or built-in set
    layout: str = "samples"
    classes: tuple[str, ...] | None = None  # class names where the data names them (folders), in class order
    details: dict[str, Any] = field(default_factory=dict)  # what the report's input.data section adds (split, scaling, ...)

    @property
    def count(self) -> int:
        if isinstance(self.x, list):
            return len(self.x)
        return int(np.shape(self.x)[1 if self.layout == "steps-first" else 0])

    @property
    def is_events(self) -> bool:
        return isinstance(self.x, list)

    def section(self) -> dict[str, Any]:
        """The report's ``input.data`` section."""
        section: dict[str, Any] = {"source": self.source, "samples": self.count, "layout": self.layout, "labelled": self.y is not None}
        if self.is_events:
            section["kind"] = "events"
        else:
            section["sample_shape"] = [int(n) for n in np.shape(self.x)[2 if self.layout in ENCODED_LAYOUTS else 1:]]
        if self.y is not None:
            section["classes"] = list(self.classes) if self.classes is not None else int(self.y.max()) + 1
        section.update(self.details)
        return section

    def first(self, count: int | None) -> LabelledData:
        """The first ``count`` samples (all for None)."""
        if count is None:
            return self
        if count < 1:
            raise InputDataError(f"--batch must be >= 1, got {count}")
        if count > self.count:
            raise InputDataError(f"--batch {count} but {self.source} holds {self.count} sample(s)")
        if self.is_events:
            x = self.x[:count]
        elif self.layout == "steps-first":
            x = self.x[:, :count]
        else:
            x = self.x[:count]
        return replace(self, x=x, y=None if self.y is None else self.y[:count])


def from_arrays(x: Any, y: Any = None, layout: str | None = None, source: str = "data") -> LabelledData:
    """The API's ``data=``/``labels=``: an array of samples, or a list of event streams."""
    if isinstance(x, (list, tuple)) and x and getattr(getattr(x[0], "dtype", None), "names", None):
        data = LabelledData(x=list(x), y=None, source=source)
    elif isinstance(x, np.ndarray) and x.dtype.names is not None:
        data = LabelledData(x=[x], y=None, source=source)
    else:
        array = np.asarray(x)
        if array.dtype.kind not in "biuf":
            raise InputDataError(f"{source}: data must be numbers (or a list of (x, y, t, p) event arrays), got dtype {array.dtype}")
        if array.ndim < 2:
            raise InputDataError(f"{source}: data of shape {list(array.shape)} has no samples axis: give (samples, *shape), "
                                 f"e.g. shape (1, {', '.join(map(str, array.shape))}) for one sample")
        data = LabelledData(x=array, y=None, source=source)
    data = with_layout(data, layout or "samples")
    return with_labels(data, y) if y is not None else data


def with_layout(data: LabelledData, layout: str) -> LabelledData:
    if layout not in LAYOUTS:
        raise InputDataError(f"--layout {layout}: choose one of {', '.join(LAYOUTS)}")
    if data.is_events and layout != "samples":
        raise InputDataError(f"--layout {layout}: {data.source} holds event streams, which are samples (encode them with --encode events:...)")
    if layout in ENCODED_LAYOUTS and np.ndim(data.x) < 3:
        raise InputDataError(f"--layout {layout}: {data.source} has shape {list(np.shape(data.x))}, which has no steps axis "
                             "(an encoded array is (steps, samples, *shape) or (samples, steps, *shape))")
    return replace(data, layout=layout)


def with_labels(data: LabelledData, labels: Any) -> LabelledData:
    """``labels`` (a .npy file, or an array of integers or names) as the classes of ``data``'s samples."""
    source = "labels"
    if isinstance(labels, str) or hasattr(labels, "__fspath__"):
        source, labels = str(labels), load_npy(labels, "--labels")
    y, classes = class_indices(np.asarray(labels), source)
    if len(y) != data.count:
        raise InputDataError(f"{source}: {len(y)} labels for {data.count} samples of {data.source}: give one label per sample")
    return replace(data, y=y, classes=classes if classes is not None else data.classes)


def class_indices(labels: np.ndarray, source: str) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Integer classes from labels: integers as they are (>= 0), names as their index in sorted order."""
    labels = labels.reshape(-1) if labels.ndim == 2 and 1 in labels.shape else labels
    if labels.ndim != 1:
        raise InputDataError(f"{source}: labels must be one class per sample (1-D), got shape {list(labels.shape)}")
    if labels.dtype.kind in "US":
        names = tuple(sorted({str(v) for v in labels}))
        return np.array([names.index(str(v)) for v in labels], np.int64), names
    if labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iub":
        raise InputDataError(f"{source}: labels must be integer classes or names, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise InputDataError(f"{source}: labels must be classes >= 0, got {int(labels.min())}")
    return labels.astype(np.int64), None


def load_npy(path: Any, option: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{option} {path}: no such file")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)  # the header first: the size is checked before the data is read
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise InputDataError(f"{option} {path}: not a .npy array ({type(exc).__name__}: {exc})") from None
    if not isinstance(array, np.ndarray):
        raise InputDataError(f"{option} {path}: a .npz archive, not one .npy array")
    check_memory(array.nbytes, f"{option} {path}", "give a smaller file")
    return np.array(array)
