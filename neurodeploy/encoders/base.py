"""The interface of an encoder (``Encoder``), what it is asked (``EncodeRequest``) and what it
returns (``InputBatch``); and the input's integer form for the chip.

Inside neurodeploy inputs are (steps, batch, n_inputs), flattened in C order. Values that
are all 0/1 are spikes; anything else is graded input, scaled to the integer range of
graded spikes by the quantiser (``InputEncoding``). The registry of encoders is
``ENCODERS`` in ``encoders/__init__.py``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputDataError, UserError
from ..ir.stages import InputEncoding, QuantisedNetwork
from ..limits import check_memory


@dataclass
class InputBatch:
    """An encoder's output: the network input and what the report says about it."""

    values: np.ndarray  # (steps, batch, n_inputs): uint8 spikes, or float graded values
    encoding: InputEncoding
    description: dict[str, Any]  # the report's ``input`` section: source, steps, batch, shape, encoding, a one-line description, ...
    labels: np.ndarray | None = None  # one class per sample, where the data has them (then the report gives accuracy)
    notes: list[str] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return int(self.values.shape[0])

    @property
    def batch(self) -> int:
        return int(self.values.shape[1])


@dataclass(frozen=True)
class EncodeRequest:
    """What an encoder is asked for."""

    shape: tuple[int, ...]  # one sample's shape, as the model takes it
    steps: int | None = None  # --steps; None leaves it to the encoder (or its data)
    batch: int | None = None  # --batch; None leaves it to the encoder (or its data)
    seed: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)  # the encoder's own parameters (--encode NAME:key=value,...), parsed
    data: Any = None  # data that came with the model (the demo's digits), else None


class Encoder:
    """Raw data (or none) -> input of shape (steps, batch, n_inputs) and its description. A
    subclass sets the class attributes and implements ``encode``; ``shape_hint`` is optional."""

    name: str
    summary: str = ""  # one line for --help and the docs
    parameters: Mapping[str, Callable[[str], Any]] = {}  # parameter -> parser of its --encode text (float, int, str)

    def encode(self, request: EncodeRequest) -> InputBatch:
        raise NotImplementedError

    def shape_hint(self, params: Mapping[str, Any]) -> tuple[int, ...] | None:
        """One sample's shape as the data has it, for models that cannot tell theirs (or None)."""
        return None


def parse_spec(text: str, encoder: Encoder) -> dict[str, Any]:
    """The parameters of ``NAME:key=value,key=value`` (the part after the colon), each parsed by
    the encoder's own parser; a one-line error naming any unknown key or bad value."""
    _, _, rest = text.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in encoder.parameters:
            known = ", ".join(encoder.parameters) or "none"
            raise UserError(f"--encode {text}: {item!r} is not key=value with a parameter of {encoder.name} ({known})")
        try:
            params[key] = encoder.parameters[key](value)
        except ValueError:
            raise UserError(f"--encode {text}: {key}={value!r} is not a valid {encoder.parameters[key].__name__}") from None
    return params


def encoding_of(values: np.ndarray) -> InputEncoding:
    if np.all((values == 0) | (values == 1)):
        return InputEncoding(kind="spikes")
    return InputEncoding(kind="graded", max_abs=float(np.abs(values).max()))


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
            check_memory(steps * values.shape[1] * values.shape[2] * values.itemsize, f"--steps {steps}", "lower --steps or --batch")
            notes.append(f"input padded with {steps - values.shape[0]} step(s) of zeros to --steps {steps}")
            values = np.concatenate([values, np.zeros((steps - values.shape[0], *values.shape[1:]), values.dtype)])
    description = dict(batch.description, steps=int(values.shape[0]), batch=int(values.shape[1]))
    return InputBatch(values=values, encoding=batch.encoding, description=description, labels=labels, notes=notes)


def to_integer_input(batch: InputBatch, network: QuantisedNetwork) -> np.ndarray:
    """The input as the chip receives it: 0/1 spikes (uint8), or graded values scaled and
    rounded (int32)."""
    encoding = network.input_encoding
    if encoding.kind == "spikes":
        return batch.values if batch.values.dtype == np.uint8 else (batch.values != 0).astype(np.uint8)
    limit = 2 ** (encoding.bits - 1) - 1
    return np.clip(np.round(batch.values * encoding.scale), -limit, limit).astype(np.int32)
