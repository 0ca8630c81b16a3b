"""Network input: from a .npy file, or seeded random spikes; and its integer form for the chip.

Shapes: a file holds (steps, batch, *input_shape) or (steps, *input_shape); inside
neurodeploy inputs are (steps, batch, n_inputs), flattened in C order.
Values that are all 0/1 are spikes; anything else is graded input, scaled to the
integer range of graded spikes by the quantiser (``InputEncoding``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputDataError
from .ir.stages import InputEncoding, QuantisedNetwork

DEFAULT_RATE = 0.1  # spike probability per input per step of the random input
DEFAULT_STEPS = 100  # steps of the random input


@dataclass
class InputBatch:
    values: np.ndarray  # (steps, batch, n_inputs): uint8 spikes, or float graded values
    encoding: InputEncoding
    description: dict[str, Any]
    labels: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return int(self.values.shape[0])

    @property
    def batch(self) -> int:
        return int(self.values.shape[1])


def encoding_of(values: np.ndarray) -> InputEncoding:
    if np.all((values == 0) | (values == 1)):
        return InputEncoding(kind="spikes")
    return InputEncoding(kind="graded", max_abs=float(np.abs(values).max()))


def load_input_file(
    path: str | Path, input_shape: tuple[int, ...], steps: int | None, samples: int | None
) -> InputBatch:
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"--input {path}: no such file")
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise InputDataError(f"--input {path}: not a .npy array ({type(exc).__name__}: {exc})") from None
    if array.dtype.kind not in "biuf":
        raise InputDataError(f"--input {path}: values must be numbers or booleans, got dtype {array.dtype}")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise InputDataError(f"--input {path}: contains NaN or infinite values")
    ndim = len(input_shape)
    if array.ndim == ndim + 1 and tuple(array.shape[1:]) == tuple(input_shape):
        array = array[:, None]
    elif not (array.ndim == ndim + 2 and tuple(array.shape[2:]) == tuple(input_shape)):
        raise InputDataError(
            f"--input {path}: shape {list(array.shape)} does not match the model input {list(input_shape)}: "
            f"expected (steps, batch, {', '.join(map(str, input_shape))}) or (steps, {', '.join(map(str, input_shape))})"
        )
    values = array.reshape(array.shape[0], array.shape[1], -1)
    encoding = encoding_of(values)
    values = values.astype(np.uint8) if encoding.kind == "spikes" else values.astype(np.float64)
    description = {
        "source": "file",
        "path": str(path),
        "steps": values.shape[0],
        "batch": values.shape[1],
        "shape": list(input_shape),
        "encoding": encoding.kind,
        "description": f"{path}: {values.shape[1]} sample(s) x {values.shape[0]} steps, {encoding.kind}",
    }
    batch = fit(InputBatch(values=values, encoding=encoding, description=description), steps, samples)
    batch.description["description"] = f"{path}: {batch.batch} sample(s) x {batch.steps} steps, {encoding.kind}"
    return batch


def fit(batch: InputBatch, steps: int | None, samples: int | None) -> InputBatch:
    """Keep the first ``samples`` samples; cut or zero-pad to ``steps`` steps (noted in the report)."""
    values, labels, notes = batch.values, batch.labels, list(batch.notes)
    if samples is not None:
        if samples < 1:
            raise InputDataError(f"--batch must be >= 1, got {samples}")
        if samples > values.shape[1]:
            raise InputDataError(f"--batch {samples} but the input holds {values.shape[1]} sample(s)")
        values = values[:, :samples]
        labels = None if labels is None else labels[:samples]
    if steps is not None:
        if steps < 1:
            raise InputDataError(f"--steps must be >= 1, got {steps}")
        if steps < values.shape[0]:
            values = values[:steps]
        elif steps > values.shape[0]:
            notes.append(f"input padded with {steps - values.shape[0]} step(s) of zeros to --steps {steps}")
            values = np.concatenate([values, np.zeros((steps - values.shape[0], *values.shape[1:]), values.dtype)])
    description = dict(batch.description, steps=int(values.shape[0]), batch=int(values.shape[1]))
    return InputBatch(values=values, encoding=batch.encoding, description=description, labels=labels, notes=notes)


def random_spikes(input_shape: tuple[int, ...], steps: int | None, batch: int | None, rate: float, seed: int) -> InputBatch:
    """Bernoulli spikes: each input fires with probability ``rate`` at each step (seeded)."""
    steps = DEFAULT_STEPS if steps is None else steps
    batch = 1 if batch is None else batch
    if steps < 1 or batch < 1:
        raise InputDataError(f"--steps and --batch must be >= 1, got {steps} and {batch}")
    if not 0.0 <= rate <= 1.0:
        raise InputDataError(f"--rate must be a probability in [0, 1], got {rate}")
    n = int(np.prod(input_shape))
    values = _bernoulli(np.random.default_rng(seed), (steps, batch, n), rate)
    description = {
        "source": "random",
        "steps": steps,
        "batch": batch,
        "shape": list(input_shape),
        "encoding": "spikes",
        "rate": rate,
        "seed": seed,
        "description": f"random spikes (no --input given): rate {rate} per step, {steps} steps, "
        f"{batch} sample(s), seed {seed}",
    }
    return InputBatch(values=values, encoding=InputEncoding(kind="spikes"), description=description)


def _bernoulli(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> np.ndarray:
    """uint8 spikes, drawn one step at a time so that no float array of the whole input exists."""
    spikes = np.empty(shape, np.uint8)
    for t in range(shape[0]):
        spikes[t] = rng.random(shape[1:], dtype=np.float32) < rate
    return spikes


def to_integer_input(batch: InputBatch, network: QuantisedNetwork) -> np.ndarray:
    """The input as the chip receives it: 0/1 spikes (uint8), or graded values scaled and
    rounded (int32)."""
    encoding = network.input_encoding
    if encoding.kind == "spikes":
        return batch.values if batch.values.dtype == np.uint8 else (batch.values != 0).astype(np.uint8)
    limit = 2 ** (encoding.bits - 1) - 1
    return np.clip(np.round(batch.values * encoding.scale), -limit, limit).astype(np.int32)
