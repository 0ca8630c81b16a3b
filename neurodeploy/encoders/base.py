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

from ..errors import InputDataError
from ..ir.stages import InputEncoding, QuantisedNetwork
from ..limits import check_memory
from .params import EncoderError, Param, parse_params, spec_text


@dataclass
class InputBatch:
    """An encoder's output: the network input and what the report says about it."""

    values: np.ndarray  # (steps, batch, n_inputs): uint8 spikes, or float graded values
    encoding: InputEncoding
    description: dict[str, Any]  # the report's ``input`` section: source, steps, batch, shape, encoding, a one-line description, ...
    labels: np.ndarray | None = None  # one class per sample, where the data has them (then the report gives accuracy)
    notes: list[str] = field(default_factory=list)
    classes: tuple[str, ...] | None = None  # class names, where the data names them

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
    samples: Any = None  # the user's raw data to encode (--data): (samples, *shape) values, or a list of event streams
    samples_source: str = ""  # where the samples came from, for the report (a file, a built-in set)


class Encoder:
    """Raw data (or none) -> input of shape (steps, batch, n_inputs) and its description. A
    subclass sets the class attributes and implements ``encode``; ``shape_hint`` is optional."""

    name: str
    summary: str = ""  # one line for --help and the docs
    parameters: Mapping[str, Param | Callable[[str], Any]] = {}  # parameter -> its schema (Param), or a parser of its --encode text (int, float, str)
    needs_samples: bool = False  # encodes the user's data (EncodeRequest.samples), which must be given

    def encode(self, request: EncodeRequest) -> InputBatch:
        raise NotImplementedError

    def shape_hint(self, params: Mapping[str, Any]) -> tuple[int, ...] | None:
        """One sample's shape as the data has it, for models that cannot tell theirs (or None)."""
        return None


def parse_spec(text: str, encoder: Encoder) -> dict[str, Any]:
    """The parameters of ``NAME:key=value,key=value`` (the part after the colon), each parsed by
    the encoder's own schema; a one-line error naming any unknown key or bad value."""
    return parse_params(text, encoder.name, encoder.parameters)


class DataEncoder(Encoder):
    """An encoder of the user's raw data: ``function(samples, **params) -> (values, description)``
    with ``values`` (steps, batch, *shape) uint8 spikes or float32 graded input and a JSON-ready
    ``description`` (name, parameters in force, steps, batch, shape, encoding, what the values
    mean, the reference followed). ``encode`` fills ``steps`` and ``seed`` from --steps and
    --seed where the spec leaves them out, keeps the first --batch samples, and states it all
    in the report's input section."""

    needs_samples = True
    function: Callable[..., tuple[np.ndarray, dict[str, Any]]]  # (samples, **params) -> (values, description)

    def samples_axis(self, params: Mapping[str, Any]) -> int:
        """The axis of the data that holds the samples."""
        return 0

    def estimate_bytes(self, samples: Any, params: Mapping[str, Any]) -> float:
        """About the bytes the encoding holds at once, asked before it is made: ``steps`` times the
        samples' values, at most two channels of float32 each (on/off channels, graded output).
        Encoders whose output size the data alone tells (events) check inside their function."""
        steps = params.get("steps")
        if steps is None or isinstance(samples, (list, tuple)):
            return 0.0
        return float(steps) * float(np.prod(np.shape(samples), dtype=np.float64)) * 8

    def defaults(self, request: EncodeRequest) -> dict[str, Any]:
        """The parameters in force: the spec's, then --steps and --seed for the ones it leaves out."""
        params = dict(request.params)
        if "steps" in self.parameters and params.get("steps") is None and request.steps is not None:
            params["steps"] = request.steps
        if "seed" in self.parameters and "seed" not in params:
            params["seed"] = request.seed
        return params

    def encode(self, request: EncodeRequest) -> InputBatch:
        if request.samples is None:
            raise EncoderError(f"--encode {self.name} encodes data: give --data (a .npz with x and optional y, a folder of event "
                               "files, or a built-in set: digits, digits28, mnist1d)")
        params = self.defaults(request)
        samples = first_samples(request.samples, request.batch, self.samples_axis(params))
        check_memory(self.estimate_bytes(samples, params), f"--encode {self.name}: {params.get('steps')} steps of the data",
                     "lower steps or give fewer samples (--batch)")
        values, description = self.function(samples, **params)
        return fit(data_batch(values, description, request.samples_source, self.parameters), request.steps, None)


def first_samples(samples: Any, count: int | None, axis: int = 0) -> Any:
    """The first ``count`` samples (all for None) of an array (along ``axis``) or a list of event streams."""
    if count is None:
        return samples
    if count < 1:
        raise InputDataError(f"--batch must be >= 1, got {count}")
    total = len(samples) if isinstance(samples, (list, tuple)) else np.shape(samples)[axis] if np.ndim(samples) > axis else 0
    if count > total:
        raise InputDataError(f"--batch {count} but the data holds {total} sample(s)")
    if isinstance(samples, (list, tuple)):
        return list(samples[:count])
    return np.take(np.asarray(samples), np.arange(count), axis=axis)


def _is_default(schema: Mapping[str, Any] | None, key: str, value: Any) -> bool:
    param = (schema or {}).get(key)
    if not isinstance(param, Param):
        return False
    default = param.default
    return value == (list(default) if isinstance(default, tuple) and isinstance(value, list) else default)


SUMMARISED = 8  # per-sample lists in an encoder's description longer than this become KEY_range: [min, max]


def data_batch(values: np.ndarray, description: Mapping[str, Any], source: str = "", schema: Mapping[str, Any] | None = None) -> InputBatch:
    """An InputBatch from a data encoder's (values, description): values flattened to
    (steps, batch, n); the report's input section says what was encoded, how (every parameter in
    force; the spec names those that differ from their defaults in ``schema``) and from where."""
    steps, batch = int(values.shape[0]), int(values.shape[1])
    flat = values.reshape(steps, batch, -1)
    if values.dtype == np.uint8:
        encoding = InputEncoding(kind="spikes")
    else:
        peak = float(np.abs(flat).max()) if flat.size else 0.0
        encoding = InputEncoding(kind="graded", max_abs=peak if peak > 0 else 1.0)
    name = description["name"]
    parameters = description.get("parameters", {})
    spec = spec_text(name, {key: value for key, value in parameters.items() if not _is_default(schema, key, value)})
    shape = [int(n) for n in values.shape[2:]]
    section: dict[str, Any] = {
        "source": "data",
        "encoder": name,
        "spec": spec,
        "parameters": dict(description.get("parameters", {})),
        "steps": steps,
        "batch": batch,
        "shape": shape,
        "encoding": encoding.kind,
        "values": description.get("values", ""),
        "reference": description.get("reference", ""),
        "description": f"{source or 'data'}: {batch} sample(s) encoded by --encode {spec} into {steps} steps of "
        f"{'x'.join(map(str, shape))} {encoding.kind}",
    }
    for key, value in description.items():
        if key in section or key in ("name", "dtype"):
            continue
        if isinstance(value, list) and len(value) > SUMMARISED:
            section[f"{key}_range"] = [min(value), max(value)]
        else:
            section[key] = value
    return InputBatch(values=flat, encoding=encoding, description=section)


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
    return InputBatch(values=values, encoding=batch.encoding, description=description, labels=labels, notes=notes, classes=batch.classes)


def to_integer_input(batch: InputBatch, network: QuantisedNetwork) -> np.ndarray:
    """The input as the chip receives it: 0/1 spikes (uint8), or graded values scaled and
    rounded (int32)."""
    encoding = network.input_encoding
    if encoding.kind == "spikes":
        return batch.values if batch.values.dtype == np.uint8 else (batch.values != 0).astype(np.uint8)
    limit = 2 ** (encoding.bits - 1) - 1
    return np.clip(np.round(batch.values * encoding.scale), -limit, limit).astype(np.int32)
