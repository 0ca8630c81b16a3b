"""What a dialect is: the interface every entry of ``DIALECTS`` implements, the options a file
cannot carry, and what the normalise pass records about the dialect it used.

A dialect answers, for the files one framework writes:

    writes          the NIR neuron node types the framework writes (others: not its file)
    settings        what the file cannot say, from the user's ``DialectOptions`` or else the
                    framework's default, each default an assumption the report states loudly
    time_step       dt, where the framework's rule needs one and the file does not hold it
    lower           one neuron node as ``NeuronDynamics`` (neurons/base.py): decays, input
                    gain, biases, threshold test, spikes per step, reset, floor, initial v;
                    and the conventions it applied, one sentence each with its source
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import nir
import numpy as np

from ..errors import InvalidValueError, UnsupportedModelError
from ..neurons.base import Lowering, NeuronDynamics, NeuronModel

RESETS = ("subtract", "zero")


@dataclass(frozen=True)
class DialectOptions:
    """What a NIR file cannot carry, as the user gave it (None: not given, so the dialect
    assumes its framework's default and says so). ``dt`` is the deployment's ``--dt``."""

    reset: str | None = None  # snnTorch (and Norse LIFBox): "subtract" or "zero"
    reset_delay: bool | None = None  # snnTorch: the subtraction or zeroing happens one step later
    min_v_mem: float | str | None = None  # Sinabs IF: "threshold" (-v_threshold), "none", or a number
    norm_input: bool | None = None  # Sinabs LIF: input scaled by 1 - exp(-1/tau)

    def __post_init__(self):
        if self.reset is not None and self.reset not in RESETS:
            raise InvalidValueError(f"--reset {self.reset}: choose one of {', '.join(RESETS)}")
        floor = self.min_v_mem
        if isinstance(floor, str) and floor not in ("threshold", "none"):
            try:
                object.__setattr__(self, "min_v_mem", float(floor))
            except ValueError:
                raise InvalidValueError(f"--min-v-mem {floor}: give 'threshold', 'none' or a number") from None
        if isinstance(self.min_v_mem, float) and not np.isfinite(self.min_v_mem):
            raise InvalidValueError(f"--min-v-mem {floor}: must be a finite number")

    def given(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if value is not None}


@dataclass(frozen=True)
class DialectChoice:
    """The dialect a network was read in, for the report (``load.dialect``): how it was chosen,
    the evidence, other dialects the file fits as well, the settings the lowering used and the
    ones assumed because neither the file nor the user gave them."""

    name: str
    framework: str
    chosen_by: str  # "--dialect", "graph metadata" or "detected"
    evidence: tuple[str, ...]
    ambiguous_with: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    assumptions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "framework": self.framework,
            "chosen_by": self.chosen_by,
            "evidence": list(self.evidence),
            "ambiguous_with": list(self.ambiguous_with),
            "settings": dict(self.settings),
            "assumptions": list(self.assumptions),
        }


@dataclass(frozen=True)
class Lowered:
    """One neuron node as its dialect reads it: its dynamics, the input gain folded into its
    projections, the conventions applied (one sentence each, with the framework source) and
    notes where neurodeploy's reading is not exactly the framework's (for the report)."""

    dynamics: NeuronDynamics
    gain: np.ndarray
    conventions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


class Dialect:
    """One exporter. A subclass sets the class attributes and implements ``lower``; registering
    it is one line in ``dialects/__init__.py``."""

    name: ClassVar[str]  # its key in DIALECTS, the --dialect choice
    framework: ClassVar[str]  # the framework and version whose simulator it reproduces
    summary: ClassVar[str]  # one line for --help
    writes: ClassVar[tuple[str, ...] | None] = None  # NIR neuron node types it writes (None: any)

    def settings(self, graph: nir.NIRGraph, options: DialectOptions) -> tuple[dict[str, Any], list[str]]:
        """(the settings ``lower`` uses, the assumptions made): an option the user gave, else the
        framework's default, each default one sentence in the assumptions."""
        return {}, []

    def time_step(self, graph: nir.NIRGraph, dt: float | None) -> tuple[float, str] | None:
        """(dt in seconds, where it came from), or None for NIR's rule (``--dt``, graph metadata,
        r = tau / dt, else 1e-4 s; ``ir/passes/normalise.py``)."""
        return None

    def lower(self, model: NeuronModel, low: Lowering, settings: Mapping[str, Any]) -> Lowered:
        raise NotImplementedError

    def check_node(self, model: NeuronModel, low: Lowering) -> None:
        """A one-line error for a node type the framework never writes."""
        if self.writes is not None and model.name not in self.writes:
            raise UnsupportedModelError(
                f"node {low.name!r} is a {model.name}, which {self.framework} never writes ({', '.join(self.writes)} only): "
                f"the file was not written by {self.name}; choose another --dialect (nir: NIR's own semantics)"
            )


def rate(low: Lowering, what: str, value: np.ndarray) -> np.ndarray:
    """A per-step fraction in [0, 1] (a decay or an Euler step), or a one-line error naming the node."""
    if np.any(~np.isfinite(value)) or np.any(value < 0) or np.any(value > 1):
        worst = value[~np.isfinite(value) | (value < 0) | (value > 1)][0]
        raise InvalidValueError(f"node {low.name!r}: {what} = {worst:g} per step is outside [0, 1]; check the time constants and dt")
    return value


def positive(low: Lowering, field_name: str) -> np.ndarray:
    value = low.param(field_name)
    if np.any(value <= 0):
        raise InvalidValueError(f"node {low.name!r}: {field_name} must be > 0, got {value.min():g}")
    return value
