"""The compiler's passes, in the one order they run, each followed by its check.

    load (frontend) -> inline_subgraphs -> normalise -> quantise -> map_cores

``compile_network`` runs them, times each, and stops at the first failing check
with an error naming the pass and the node. With ``--calibration data`` the caller hands in
``calibrate``, which observes the normalised network (a float run, done by the backends);
the quantise pass receives the observed ranges and runs no simulation itself.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...dialects.base import DialectOptions
from ...hardware.profile import HardwareProfile
from ..checks import PassCheckError, check_float_graph, check_mapped, check_normalised, check_quantised
from ..stages import FloatGraph, InputEncoding, MappedNetwork, NormalisedNetwork, QuantisedNetwork
from .inline_subgraphs import inline_subgraphs
from .map_cores import map_cores
from .normalise import normalise
from .quantise import ObservedRange, WeightBound, quantise


@dataclass(frozen=True)
class CompileOptions:
    profile: HardwareProfile
    dt: float | None = None
    input_encoding: InputEncoding = field(default_factory=InputEncoding)
    weight_scaling: str = "channel"  # "channel": one state scale per neuron / output channel; "layer": one per layer
    dialect: str | None = None  # the exporter's dialect to read the graph in (None: detected; dialects/)
    dialect_options: DialectOptions = field(default_factory=DialectOptions)  # what the file cannot say (--reset, ...)
    weight_bounds: Mapping[tuple[str, str], WeightBound] | None = None  # (layer, source) -> the range learning weights will reach


Ranges = Mapping[str, ObservedRange]  # per layer: |u| and |v| observed on calibration data


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[Any, CompileOptions, "Ranges | None"], Any]  # (stage, options, observed ranges) -> next stage
    check: Callable[..., None]


PASSES: tuple[Pass, ...] = (
    Pass("inline_subgraphs", lambda stage, opts, ranges: inline_subgraphs(stage), check_float_graph),
    Pass("normalise", lambda stage, opts, ranges: normalise(stage, dt=opts.dt, dialect=opts.dialect, options=opts.dialect_options), check_normalised),
    Pass(
        "quantise",
        lambda stage, opts, ranges: quantise(stage, opts.profile, opts.input_encoding, opts.weight_scaling, ranges, opts.weight_bounds),
        check_quantised,
    ),
    Pass("map_cores", lambda stage, opts, ranges: map_cores(stage, opts.profile), check_mapped),
)


@dataclass(frozen=True)
class CompiledNetwork:
    """Every stage of one compilation, and the seconds each pass took."""

    float_graph: FloatGraph
    normalised: NormalisedNetwork
    quantised: QuantisedNetwork
    mapped: MappedNetwork
    timing_s: dict[str, float]

    def stage(self, name: str) -> NormalisedNetwork | QuantisedNetwork | MappedNetwork:
        """The stage a target consumes: "normalised", "quantised" or "mapped"."""
        stages = {"normalised": self.normalised, "quantised": self.quantised, "mapped": self.mapped}
        if name not in stages:
            raise ValueError(f"unknown stage {name!r}: {', '.join(stages)}")
        return stages[name]


def compile_network(
    float_graph: FloatGraph, options: CompileOptions, calibrate: Callable[[NormalisedNetwork], Ranges] | None = None
) -> CompiledNetwork:
    """Every pass in order, each checked. ``calibrate`` (``backends/calibration.py``): called
    once with the normalised network; its observed ranges replace the worst case in quantise."""
    stages: dict[str, Any] = {}
    timing: dict[str, float] = {}
    stage: Any = float_graph
    done: list[str] = []
    ranges = None
    for p in PASSES:
        if calibrate is not None and isinstance(stage, NormalisedNetwork):
            start = time.perf_counter()
            ranges = calibrate(stage)
            timing["run.calibration"] = time.perf_counter() - start
        start = time.perf_counter()
        stage = p.run(stage, options, ranges)
        timing[f"pass.{p.name}"] = time.perf_counter() - start
        try:
            p.check(stage, p.name, options.profile)
        except PassCheckError as error:
            raise PassCheckError(error.pass_name, error.node, error.problem, tuple(done)) from None
        stages[p.name] = stage
        done.append(p.name)
    return CompiledNetwork(
        float_graph=stages["inline_subgraphs"],
        normalised=stages["normalise"],
        quantised=stages["quantise"],
        mapped=stages["map_cores"],
        timing_s=timing,
    )
