"""``file``: an array the user encoded already, from a .npy file (``--input FILE`` is
``--encode file:path=FILE``).

The file holds (steps, batch, *input_shape) (``layout=steps-first``, the default) or
(batch, steps, *input_shape) (``layout=samples-first``); all-0/1 values are spikes, anything else
graded input. An array with one axis fewer than that, (N, *input_shape), is ambiguous (one
sample of N steps, or N raw samples to encode) and refused with a line saying what to give.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputDataError
from ..ir.stages import InputEncoding
from ..limits import check_memory
from .base import Encoder, EncodeRequest, InputBatch, fit
from .params import Param


class InputFile(Encoder):
    name = "file"
    summary = "an encoded array from a .npy file, (steps, batch, *shape); 0/1 values are spikes, others graded (path=FILE, layout=steps-first)"
    parameters = {
        "path": Param("str", None, "the .npy file"),
        "layout": Param("choice", "steps-first", "steps-first: (steps, batch, *shape); samples-first: (batch, steps, *shape)",
                        choices=("steps-first", "samples-first")),
    }

    def encode(self, request: EncodeRequest) -> InputBatch:
        if "path" not in request.params:
            raise InputDataError("--encode file needs its path: --encode file:path=FILE.npy (or --input FILE.npy)")
        return load_input_file(request.params["path"], request.shape, request.steps, request.batch, request.params.get("layout", "steps-first"))

    def shape_hint(self, params: Mapping[str, Any]) -> tuple[int, ...] | None:
        """The per-sample shape of the file's array read as (steps, batch, *shape)."""
        try:
            shape = np.load(params.get("path"), mmap_mode="r", allow_pickle=False).shape
        except Exception:  # noqa: BLE001 - the file is checked properly when encoded
            return None
        return tuple(int(x) for x in shape[2:]) if len(shape) >= 3 else None


FILE = InputFile()


def _input_values(values: np.ndarray, path: Path) -> tuple[np.ndarray, InputEncoding]:
    """(the values as the runs take them, their encoding): uint8 spikes where every value is 0 or
    1 (``encoding_of``), else float64 graded values, which must be finite. Spikes, the common
    case, take two passes over the file's values: their uint8 copy, and its comparison with them."""
    with np.errstate(invalid="ignore"):  # NaN, infinities and negatives cast to some byte, found unequal below
        spikes = values.astype(np.uint8)
    if spikes.max(initial=0) <= 1 and np.array_equal(spikes, values):
        return spikes, InputEncoding(kind="spikes")
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise InputDataError(f"--input {path}: contains NaN or infinite values")
    values = values.astype(np.float64)
    return values, InputEncoding(kind="graded", max_abs=float(np.abs(values).max()))


def _open_array(path: Path) -> np.ndarray:
    """The .npy array in ``path``, memory-mapped (its data is read when used), or a clear error."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise InputDataError(f"--input {path}: not a .npy array ({type(exc).__name__}: {exc})") from None
    if not isinstance(array, np.ndarray):  # np.load gives an NpzFile for .npz archives
        raise InputDataError(f"--input {path}: a .npz archive of arrays, not one .npy array: save the input with np.save")
    if array.dtype.kind not in "biuf":
        raise InputDataError(f"--input {path}: values must be numbers or booleans, got dtype {array.dtype}")
    return array


def load_input_file(
    path: str | Path, input_shape: tuple[int, ...], steps: int | None, samples: int | None, layout: str = "steps-first"
) -> InputBatch:
    """The array in ``path`` as the model's input, cut or padded to ``steps`` and ``samples``.
    Only the header is read before the size is checked, and only the part used is read."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"--input {path}: no such file")
    array = _open_array(path)
    ndim = len(input_shape)
    sizes = ", ".join(map(str, input_shape))
    if array.ndim == ndim + 1 and tuple(array.shape[1:]) == tuple(input_shape):
        n = array.shape[0]
        raise InputDataError(
            f"--input {path}: shape {list(array.shape)} is ambiguous for the model input {list(input_shape)}: one sample of {n} steps, "
            f"or {n} samples of raw values? For one sample save it as ({n}, 1, {sizes}); to encode {n} samples give "
            f"--data {path} --encode NAME:... (e.g. rate:steps=25)"
        )
    if not (array.ndim == ndim + 2 and tuple(array.shape[2:]) == tuple(input_shape)):
        order = "(steps, batch, " if layout == "steps-first" else "(batch, steps, "
        raise InputDataError(
            f"--input {path}: shape {list(array.shape)} does not match the model input {list(input_shape)}: "
            f"expected {order}{sizes}) (layout {layout})"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputDataError(f"--input {path}: shape {list(array.shape)} holds no input (0 steps or 0 samples)")
    if layout == "samples-first":
        array = np.swapaxes(array, 0, 1)
    used = array[: steps or None, : samples or None]
    check_memory((steps or used.shape[0]) * used.shape[1] * math.prod(int(x) for x in input_shape) * 8, f"--input {path}",
                 "lower --steps or --batch")
    values, encoding = _input_values(used.reshape(used.shape[0], used.shape[1], -1), path)
    description = {
        "source": "file",
        "path": str(path),
        "steps": values.shape[0],
        "batch": values.shape[1],
        "shape": list(input_shape),
        "encoding": encoding.kind,
        "layout": layout,
        "description": f"{path}: {values.shape[1]} sample(s) x {values.shape[0]} steps, {encoding.kind}",
    }
    batch = fit(InputBatch(values=values, encoding=encoding, description=description), steps, samples)
    batch.description["description"] = f"{path}: {batch.batch} sample(s) x {batch.steps} steps, {encoding.kind}"
    return batch
