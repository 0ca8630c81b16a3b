"""``--convert``: the ANN, its calibration samples and the labelled samples it is evaluated on,
as the pipeline's model and input.

``--calibration-data`` is a ``.npz`` (read with ``allow_pickle=False``) holding

    x                 calibration samples (samples, *input_shape), raw values: the weights
                      are normalised on the ANN's activations over them
    y                 (optional) their classes
    x_test, y_test    (optional) labelled samples to evaluate on: ANN, float SNN and target
                      accuracy; without them (and without --data, which may name the samples
                      to evaluate on instead: any raw, unencoded data --data reads) the
                      calibration samples (with y) are used, and the report says so

In the Python API ``calibration_data`` may also be a dict of these arrays, and the model an
``nn.Sequential`` in memory (``DeployOptions(model=net, convert="", calibration_data={...})``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import LabelledData
from ..data.files import read_npz
from ..encoders.base import InputBatch, encoding_of
from ..errors import InputDataError, UserError
from ..frontends.model import LoadedModel
from .ann_file import load_ann
from .convert import Conversion, ConvertSpec, convert

DEFAULT_STEPS = 100
ARRAYS = ("x", "y", "x_test", "y_test")
CALIBRATION_RUN_SAMPLES = 64  # calibration samples the quantiser's ranges and the overflow analysis observe


@dataclass
class Converted:
    """What ``--convert`` hands the pipeline."""

    model: LoadedModel  # the converted network
    batch: InputBatch  # the labelled samples, encoded
    calibration: InputBatch  # calibration samples, encoded: the quantiser's ranges and the overflow analysis
    conversion: Conversion
    ann_accuracy: dict[str, float] | None  # the ANN's own accuracy on the same samples (None without labels)
    calibration_activations: dict[str, np.ndarray]  # per layer, the ANN's activations on the calibration run's samples


def load_converted(options, data: LabelledData | None = None) -> Converted:
    """The converted network and its inputs (see the module docstring); ``data``: --data's
    labelled samples (the pipeline's ``labelled_data``), evaluated on instead of x_test, y_test."""
    spec = ConvertSpec.parse(options.convert)
    if options.model is None:
        raise UserError("--convert converts a trained ANN: give its file (see docs/conversion.md for the format)")
    if not isinstance(options.convert, str) or "\x00" in options.convert:
        raise UserError(f"--convert {options.convert!r}: must be a text of key=value settings (empty for the defaults)")
    if options.calibration_data is None:
        raise UserError("--convert needs --calibration-data x.npz: samples (x) whose activations normalise the weights")
    if options.finetune_epochs:
        raise UserError("--finetune trains snnTorch models through the fixed-point forward pass; a converted ANN is not one (train the ANN instead)")
    if options.encode is not None or options.input is not None:
        raise UserError("--convert encodes the samples itself: choose rate or direct input with --convert input=rate|current")
    if hasattr(options.model, "named_children"):
        ann, source = options.model, f"{type(options.model).__name__} (in memory)"
        input_shape = options.input_shape
    else:
        (ann, input_shape), source = load_ann(options.model, options.trust_pickle), str(options.model)
        input_shape = options.input_shape or input_shape
    arrays, data_source = _arrays(options.calibration_data)
    if input_shape is None:
        input_shape = tuple(arrays["x"].shape[1:])
    conversion = convert(ann, arrays["x"], tuple(input_shape), spec, source)
    steps = options.steps if options.steps is not None else DEFAULT_STEPS
    if steps < 1:
        raise InputDataError(f"--steps must be >= 1, got {steps}")
    x, y, split = _evaluation(arrays, data_source)
    classes, evaluated = None, f"{data_source} ({split})"
    if data is not None:
        x, y, classes, split, evaluated = *_samples(data, arrays, data_source), "--data", data.source
    if options.batch is not None:
        if not 1 <= options.batch <= len(x):
            raise InputDataError(f"--batch {options.batch}: {data_source} holds {len(x)} samples to evaluate")
        x, y = x[: options.batch], None if y is None else y[: options.batch]
    batch = _batch(conversion, x, y, steps, options.seed + 1, evaluated)
    batch.classes = classes
    calibration = _batch(conversion, arrays["x"][:CALIBRATION_RUN_SAMPLES], None, steps, options.seed, f"{data_source} (x)")

    notes = [] if split != "x" else [f"accuracy is measured on the calibration samples ({data_source} has no x_test, y_test)"]
    batch.notes.extend(notes)
    return Converted(LoadedModel(conversion.graph), batch, calibration, conversion, _ann_accuracy(ann, conversion, x, y),
                     conversion.activations(arrays["x"][:CALIBRATION_RUN_SAMPLES]))


def _ann_accuracy(ann, conversion: Conversion, x: np.ndarray, y: np.ndarray | None) -> dict[str, float] | None:
    if y is None:
        return None
    from .convert import ann_outputs

    x = np.asarray(x, dtype=np.float32).reshape(len(x), *conversion.graph.input_shape)
    accuracy = {"ann": float(np.mean(np.argmax(ann_outputs(copy.deepcopy(ann).eval(), x), axis=1) == y))}
    if conversion.spec.maxpool == "avg" and any(type(m).__name__ == "MaxPool2d" for m in ann.modules()):
        accuracy["ann_as_converted"] = float(np.mean(conversion.ann_predictions(x) == y))
    return accuracy


def _arrays(spec: Any) -> tuple[dict[str, np.ndarray], str]:
    if isinstance(spec, dict):
        arrays, source = {k: np.asarray(v) for k, v in spec.items() if k in ARRAYS and v is not None}, "calibration_data"
    elif isinstance(spec, np.ndarray):
        arrays, source = {"x": spec}, "calibration_data"
    else:
        path = Path(spec)
        if not path.is_file():
            raise InputDataError(f"--calibration-data {path}: no such file")
        arrays, source = read_npz(path, ARRAYS, "--calibration-data")[0], str(path)
    if "x" not in arrays:
        raise InputDataError(f"--calibration-data {source}: needs x (calibration samples); y, x_test and y_test are optional")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise InputDataError(f"--calibration-data {source}: x_test and y_test come together (labelled samples to evaluate on)")
    for key in ("y", "y_test"):
        if key in arrays:
            arrays[key] = _labels(arrays[key], len(arrays[key.replace("y", "x")]), f"{source}: {key}")
    return arrays, source


def _labels(y: np.ndarray, count: int, what: str) -> np.ndarray:
    y = np.asarray(y).reshape(-1)
    if y.dtype.kind not in "iu" or len(y) != count or (y.size and y.min() < 0):
        raise InputDataError(f"{what}: one integer class >= 0 per sample ({count})")
    return y.astype(np.int64)


def _samples(data: LabelledData, arrays: dict[str, np.ndarray], source: str) -> tuple[np.ndarray, np.ndarray | None, tuple | None]:
    """--data's raw samples, their classes and class names, to evaluate on."""
    if "x_test" in arrays:
        raise UserError(f"--data and x_test in --calibration-data {source}: give the samples to evaluate on in one of them")
    if data.is_events or data.layout != "samples":
        raise UserError(f"--data {data.source}: --convert encodes raw samples (samples, *shape) itself; give them unencoded, not "
                        f"{'events' if data.is_events else data.layout}")
    x = np.asarray(data.x)
    return x, None if data.y is None else _labels(data.y, len(x), f"--data {data.source}: y"), data.classes


def _evaluation(arrays: dict[str, np.ndarray], source: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    if "x_test" in arrays:
        return arrays["x_test"], arrays["y_test"], "x_test"
    return arrays["x"], arrays.get("y"), "x"


def _batch(conversion: Conversion, x: np.ndarray, y: np.ndarray | None, steps: int, seed: int, source: str) -> InputBatch:
    from .convert import _checked_samples

    x = _checked_samples(x, conversion.graph.input_shape, conversion.spec, source)
    values = conversion.encode(x, steps, seed)
    kind = "rate" if conversion.spec.input == "rate" else "direct current"
    description = {
        "source": source, "steps": steps, "batch": int(values.shape[1]), "shape": list(conversion.graph.input_shape),
        "encoding": "spikes" if conversion.spec.input == "rate" else "graded", "seed": seed,
        "description": f"{len(x)} samples, {kind} input of x / {conversion.input_scale:g} over {steps} steps"
                       + (f" (Bernoulli, seed {seed})" if conversion.spec.input == "rate" else ""),
    }
    return InputBatch(values=values, encoding=encoding_of(values), description=description, labels=y)
