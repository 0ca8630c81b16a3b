"""The compiler's passes, in the one order they run, each followed by its check.

    load (frontend) -> inline_subgraphs -> normalise -> quantise -> map_cores

``compile_network`` runs them, times each, and stops at the first failing check
with an error naming the pass and the node.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..profile import HardwareProfile
from ..stages import FloatGraph, InputEncoding, MappedNetwork, NormalisedNetwork, QuantisedNetwork
from ..verify import PassCheckError, check_float_graph, check_mapped, check_normalised, check_quantised
from .inline_subgraphs import inline_subgraphs
from .map_cores import map_cores
from .normalise import normalise
from .quantise import quantise


@dataclass(frozen=True)
class CompileOptions:
    profile: HardwareProfile
    dt: float | None = None
    input_encoding: InputEncoding = field(default_factory=InputEncoding)
    weight_scaling: str = "channel"  # "channel": one state scale per neuron / output channel; "layer": one per layer
    calibration_inputs: Any = None  # float inputs (steps, batch, n): scales from observed ranges instead of the worst case
    calibration_percentile: float = 99.99


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[Any, CompileOptions], Any]
    check: Callable[..., None]


PASSES: tuple[Pass, ...] = (
    Pass("inline_subgraphs", lambda stage, opts: inline_subgraphs(stage), check_float_graph),
    Pass("normalise", lambda stage, opts: normalise(stage, dt=opts.dt), check_normalised),
    Pass("quantise", lambda stage, opts: quantise(stage, opts.profile, opts.input_encoding, opts.weight_scaling, _ranges(stage, opts)), check_quantised),
    Pass("map_cores", lambda stage, opts: map_cores(stage, opts.profile), check_mapped),
)


def _ranges(stage, opts: CompileOptions):
    if opts.calibration_inputs is None:
        return None
    from .quantise import calibration_ranges

    return calibration_ranges(stage, opts.calibration_inputs, opts.calibration_percentile)


@dataclass(frozen=True)
class CompiledNetwork:
    """Every stage of one compilation, and the seconds each pass took."""

    float_graph: FloatGraph
    normalised: NormalisedNetwork
    quantised: QuantisedNetwork
    mapped: MappedNetwork
    timing_s: dict[str, float]


def compile_network(float_graph: FloatGraph, options: CompileOptions) -> CompiledNetwork:
    stages: dict[str, Any] = {}
    timing: dict[str, float] = {}
    stage: Any = float_graph
    done: list[str] = []
    for p in PASSES:
        start = time.perf_counter()
        stage = p.run(stage, options)
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
