"""Encoder parameters: one schema per parameter (``Param``: kind, default, range, meaning), used
by the encoders themselves and by the ``--encode NAME:key=value,...`` parser alike, and the
checks every data encoder makes of its data.

Errors are ``EncoderError``: one line naming the encoder, the key, the value and what is
allowed (``latency: threshold=1.5 is out of range: threshold must be a number in (0, 1)``);
from the parser prefixed ``--encode``. Lists (DoG windows and sigmas, ``sensor_size``)
separate their items with ``/`` on the command line; optional parameters accept ``none``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputDataError


class EncoderError(InputDataError):
    """A bad encoder parameter, data array or event stream: one line saying what to change."""


@dataclass(frozen=True)
class Param:
    """One parameter: its kind, default, allowed range and meaning."""

    kind: str  # int | float | bool | choice | ints | floats | str
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is excluded
    high_open: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False  # None is allowed (and means "not set")

    def allowed(self) -> str:
        """What the parameter may be, in words (for error messages)."""
        if self.kind == "bool":
            text = "true or false"
        elif self.kind == "str":
            text = "text"
        elif self.kind == "choice":
            text = "one of " + ", ".join(self.choices)
        else:
            noun = {"int": "an integer", "float": "a number", "ints": "integers", "floats": "numbers"}[self.kind]
            bounds = []
            if self.low is not None and self.high is not None:
                left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
                bounds.append(f"in {left}{number_text(self.low)}, {number_text(self.high)}{right}")
            elif self.low is not None:
                bounds.append(f"{'>' if self.low_open else '>='} {number_text(self.low)}")
            elif self.high is not None:
                bounds.append(f"{'<' if self.high_open else '<='} {number_text(self.high)}")
            text = " ".join([noun] + bounds)
            if self.kind in ("ints", "floats"):
                text += " separated by '/'" if not bounds else ", separated by '/'"
        return text + (" (or none)" if self.optional else "")

    def check(self, encoder: str, key: str, value: Any) -> Any:
        """``value`` converted to the parameter's kind, or an EncoderError naming what is allowed."""
        if value is None and self.optional:
            return None
        try:
            converted = self._convert(value)
        except (TypeError, ValueError):
            raise EncoderError(f"{encoder}: {key}={value_text(value)} is not allowed: {key} must be {self.allowed()}") from None
        items = converted if self.kind in ("ints", "floats") else (converted,)
        if self.kind in ("int", "float", "ints", "floats"):
            for item in items:
                if not self._in_range(item):
                    raise EncoderError(f"{encoder}: {key}={value_text(value)} is out of range: {key} must be {self.allowed()}")
        return converted

    def parse(self, encoder: str, key: str, text: str) -> Any:
        """The parameter from its command-line text."""
        raw = text.strip()
        if self.optional and raw.lower() in ("none", ""):
            return None
        if self.kind == "bool":
            lowered = raw.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise EncoderError(f"{encoder}: {key}={raw} is not allowed: {key} must be {self.allowed()}")
        if self.kind in ("ints", "floats"):
            return self.check(encoder, key, [part for part in raw.split("/") if part.strip()] or raw)
        return self.check(encoder, key, raw)

    def _convert(self, value: Any) -> Any:
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise TypeError
        if self.kind == "str":
            if isinstance(value, (str, bytes)) or hasattr(value, "__fspath__"):
                return str(value if not isinstance(value, bytes) else value.decode())
            raise TypeError
        if self.kind == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            raise ValueError
        if self.kind == "int":
            return _to_int(value)
        if self.kind == "float":
            number = float(value)
            if isinstance(value, bool) or not math.isfinite(number):
                raise ValueError
            return number
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | np.ndarray):
            value = [value]
        if len(value) == 0:
            raise ValueError
        if self.kind == "ints":
            return tuple(_to_int(item) for item in value)
        numbers = tuple(float(item) for item in value)
        if not all(math.isfinite(item) for item in numbers):
            raise ValueError
        return numbers

    def _in_range(self, number: float) -> bool:
        below = self.low is not None and (number < self.low or (self.low_open and number == self.low))
        above = self.high is not None and (number > self.high or (self.high_open and number == self.high))
        return not (below or above)


def _to_int(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str):
        return int(value.strip())
    number = float(value)
    if not number.is_integer():
        raise ValueError
    return int(number)


def number_text(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def value_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "/".join(str(item) for item in value)
    return str(value)



STEPS = Param("int", None, "number of time steps (default: --steps)", low=1)
SEED = Param("int", 0, "seed of numpy.random.default_rng (default: --seed)", low=0)


def checked(encoder: str, schema: Mapping[str, Param], **values: Any) -> dict[str, Any]:
    """Every parameter checked against the encoder's schema (None for a required one is an error)."""
    out = {}
    for key, value in values.items():
        param = schema[key]
        if value is None and not param.optional:
            raise EncoderError(f"{encoder}: {key} is required: {key} must be {param.allowed()}")
        out[key] = param.check(encoder, key, value)
    return out


def parse_params(text: str, encoder: str, schema: Mapping[str, "Param | Callable[[str], Any]"]) -> dict[str, Any]:
    """The parameters of ``NAME:key=value,key=value`` (the part after the colon), each parsed by
    its schema (a ``Param``, or a plain converter such as ``int``); one line naming an unknown
    key (with the keys the encoder takes), a bad value (with what is allowed), a key given twice,
    or an item that is not ``key=value``."""
    _, _, rest = text.strip().partition(":")
    params: dict[str, Any] = {}
    takes = ", ".join(schema) or "no parameters"
    for item in (part.strip() for part in rest.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise EncoderError(f"--encode {text}: {item!r} is not key=value ({encoder} takes {takes})")
        if key not in schema:
            raise EncoderError(f"--encode {text}: {encoder} has no parameter {key!r} ({encoder} takes {takes})")
        if key in params:
            raise EncoderError(f"--encode {text}: {key} is given twice")
        parser = schema[key]
        try:
            if isinstance(parser, Param):
                params[key] = parser.parse(encoder, key, value)
            else:
                params[key] = parser(value.strip())
        except EncoderError as exc:
            raise EncoderError(f"--encode {exc}") from None
        except ValueError:
            name = getattr(parser, "__name__", "value")
            raise EncoderError(f"--encode {text}: {encoder}: {key}={value.strip()!r} is not a valid {name}") from None
    return params


def spec_text(name: str, params: Mapping[str, Any]) -> str:
    """The ``--encode`` form of an encoder and its parameters, e.g. ``latency:steps=50,tau=5``."""
    items = [f"{key}={_spec_value(value)}" for key, value in params.items() if value is not None]
    return name + (":" + ",".join(items) if items else "")


def _spec_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "/".join(_spec_value(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}" if float(f"{value:g}") == value else repr(value)
    return str(value)


# --------------------------------------------------------------------------------------------
# Data checks
# --------------------------------------------------------------------------------------------

def samples_array(encoder: str, data: Any, *, min_ndim: int = 2, dtype=np.float32, low: float | None = None,
             high: float | None = None, what: str = "(batch, *shape)") -> np.ndarray:
    """``data`` as an array of ``dtype`` with at least ``min_ndim`` axes, finite, within [low, high]."""
    array = np.asarray(data)
    if array.dtype.kind not in "biuf":
        raise EncoderError(f"{encoder}: data must be numbers, got dtype {array.dtype}")
    if array.ndim < min_ndim or array.shape[0] == 0:
        hint = f" (give shape (1, {', '.join(map(str, array.shape))}) for one sample)" if array.ndim == min_ndim - 1 else ""
        raise EncoderError(f"{encoder}: data must be {what} with at least one sample, got shape {list(array.shape)}{hint}")
    array = array.astype(dtype, copy=False)
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise EncoderError(f"{encoder}: data contains NaN or infinite values")
    if array.size and low is not None and float(array.min()) < low:
        raise EncoderError(f"{encoder}: data must lie in [{number_text(low)}, {number_text(high) if high is not None else 'inf'}], "
                           f"got a minimum of {float(array.min()):g}")
    if array.size and high is not None and float(array.max()) > high:
        hint = " (divide by the data's maximum, e.g. 255 for 8-bit pixels)" if high == 1 else ""
        raise EncoderError(f"{encoder}: data must lie in [{number_text(low) if low is not None else '-inf'}, {number_text(high)}], "
                           f"got a maximum of {float(array.max()):g}{hint}")
    return array


def describe(name: str, params: Mapping[str, Any], values: np.ndarray, meaning: str, reference: str,
              **extra: Any) -> dict[str, Any]:
    description = {
        "name": name,
        "parameters": {key: (list(value) if isinstance(value, tuple) else value) for key, value in params.items()},
        "steps": int(values.shape[0]),
        "batch": int(values.shape[1]),
        "shape": [int(n) for n in values.shape[2:]],
        "dtype": str(values.dtype),
        "encoding": "spikes" if values.dtype == np.uint8 else "graded",
        "values": meaning,
        "reference": reference,
    }
    description.update(extra)
    return description

