"""The run report: one JSON-serialisable structure per run (fields documented in docs/report.md).

``build_report`` builds it from ``ReportSources``: the compiled network and what the runs
returned, nothing else. Each section comes from its own module, from those sources alone
(none runs a simulation, none changes another's result):

    model, load, profile, input     here
    warnings, notes                 here: what the user must read (assumed dialect options,
                                    silent layers and networks) and should read
    layers, totals                  layers.py (energy and time per layer: energy.py)
    chip, cores, latency            chip.py
    accuracy, classification        accuracy.py (the decision rule, confusion matrices)
    fidelity                        fidelity.py (against the float reference)
    verify                          verify.py (two bit-exact runs, bit for bit)
    quantisation                    quantisation.py (settings, overflow analysis, fine-tuning)
    learning                        learning.py (on-chip learning: lowering, weights, updates, accuracy)
    timing_s                        the sources' timings and the report's own

Renderers (render.py) only format.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import __version__
from ..backends.results import RunResult
from ..frontends.model import model_monitors
from ..ir.passes import CompiledNetwork
from . import energy
from .accuracy import accuracy_section, classification_section
from .chip import chip_section, core_limits, cores_section, latency_section
from .fidelity import fidelity
from .layers import LayerReport, layer_reports, saturation_notes, totals
from .quantisation import quantisation_section
from .verify import verify_section

SCHEMA_VERSION = 1
DRY_RUN = "none"  # the target of a run that compiles, maps and reports only


@dataclass(frozen=True)
class ReportSources:
    """Everything one report is built from."""

    compiled: CompiledNetwork
    target: str = DRY_RUN  # the --target; "none": a dry run
    results: Mapping[str, RunResult] = field(default_factory=dict)  # by target, the float reference included
    input: Mapping[str, Any] = field(default_factory=dict)  # the encoder's description of the input
    labels: np.ndarray | None = None  # one class per sample, where the input has them
    decision: str = "spike-count"  # how a run's output gives a class (reports/accuracy.py: DECISIONS)
    classes: Sequence[str] | None = None  # class names, where the data names them
    input_notes: Sequence[str] = ()
    verify: tuple[str, str] | None = None  # (reference, candidate) compared bit for bit
    overflow: RunResult | None = None  # the calibration data's run, with u and v (the overflow analysis)
    overflow_source: str = ""
    settings: Mapping[str, Any] | None = None  # weight_scaling, calibration; None: no quantisation section (a dry run)
    finetuning: Mapping[str, Any] | None = None
    learning: Mapping[str, Any] | None = None  # on-chip learning (--learn): learning.py's section
    timing_s: Mapping[str, float] = field(default_factory=dict)
    conversion: Mapping[str, Any] | None = None  # --convert: conversion/report.py's section


@dataclass
class Report:
    schema_version: int
    neurodeploy_version: str
    target: str
    model: dict[str, Any]
    profile: dict[str, Any]
    input: dict[str, Any]
    layers: list[LayerReport]
    totals: dict[str, Any]
    chip: dict[str, Any]
    cores: list[dict[str, Any]]
    latency: dict[str, Any]
    timing_s: dict[str, float]
    accuracy: dict[str, float] | None = None
    classification: dict[str, Any] | None = None  # the decision rule; per run accuracy, silent samples, confusion matrix
    fidelity: dict[str, dict[str, Any]] | None = None
    verify: dict[str, Any] | None = None
    quantisation: dict[str, Any] | None = None  # weight scaling, calibration, the overflow analysis, fine-tuning
    learning: dict[str, Any] | None = None  # on-chip learning (--learn)
    notes: list[str] = field(default_factory=list)
    load: dict[str, Any] | None = None  # how the model was read: the exporter's dialect (load.dialect)
    warnings: list[str] = field(default_factory=list)  # assumed options, silent layers and networks: shown first
    conversion: dict[str, Any] | None = None  # --convert: the ANN's conversion (conversion/report.py)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))


def build_report(sources: ReportSources) -> Report:
    start = time.perf_counter()
    compiled = sources.compiled
    mapped = compiled.mapped
    result = sources.results.get(sources.target) if sources.target != DRY_RUN else None
    float_result = sources.results.get("float")
    costs = energy.run_costs(mapped, result) if result is not None else None
    layers = layer_reports(compiled, result, costs)
    quantisation = quantisation_section(compiled.quantised, sources.settings, sources.overflow, sources.overflow_source, sources.finetuning)
    fidelity_section = (
        fidelity(compiled.quantised, result, float_result) if float_result is not None and result is not None and result.target != "float" else None
    )
    networks = {name: _run_network(compiled, name) for name in sources.results}
    sections = dict(
        schema_version=SCHEMA_VERSION,
        neurodeploy_version=__version__,
        target=result.target if result is not None else DRY_RUN,
        model=_model_section(compiled, len(layers)),
        profile=_profile_section(mapped.profile),
        input=dict(sources.input),
        layers=layers,
        totals=totals(layers, result, mapped.cores_used, costs, mapped.profile),
        chip=chip_section(mapped, costs),
        cores=cores_section(mapped),
        latency=latency_section(compiled, costs, result),
        accuracy=accuracy_section(sources.results, sources.labels, sources.target, sources.decision, networks),
        classification=classification_section(sources.results, sources.labels, sources.target, sources.decision, sources.classes, networks),
        fidelity=fidelity_section,
        verify=verify_section(sources.results, sources.verify, compiled.quantised),
        quantisation=quantisation.section,
        learning=dict(sources.learning) if sources.learning is not None else None,
        notes=_notes(compiled, result, sources.input_notes, quantisation.warnings, layers, costs),
        load=_load_section(compiled),
        warnings=_warnings(compiled, result, float_result, fidelity_section),
        conversion=dict(sources.conversion) if sources.conversion is not None else None,
    )
    timing = {**sources.timing_s, "report": time.perf_counter() - start}
    return Report(**sections, timing_s=timing)


def _run_network(compiled: CompiledNetwork, name: str):
    """The stage a run's values belong to: the normalised network for the float reference, else the quantised one."""
    return compiled.normalised if name == "float" else compiled.quantised


def _model_section(compiled: CompiledNetwork, n_layers: int) -> dict[str, Any]:
    return {
        "source": compiled.float_graph.source,
        "format": compiled.float_graph.format,
        "load_fixes": list(compiled.float_graph.fixes),
        "dt_s": compiled.normalised.dt,
        "dt_source": compiled.normalised.dt_source,
        "input_shape": list(compiled.normalised.input_shape),
        "layers": n_layers,
        **({"monitors": monitors} if (monitors := model_monitors(compiled.float_graph))["spikes"] or monitors["state"] else {}),
    }


def _load_section(compiled: CompiledNetwork) -> dict[str, Any]:
    choice = compiled.normalised.dialect
    return {"dialect": choice.to_dict() if choice is not None else None}


def _warnings(compiled: CompiledNetwork, result: RunResult | None, float_result: RunResult | None, fidelity_section) -> list[str]:
    """What the user must not miss: values assumed for what the file cannot say, a dialect the
    file fits no better than another, and layers or networks that are silent."""
    warnings = []
    choice = compiled.normalised.dialect
    if choice is not None:
        warnings += [f"assumed: {text}" for text in choice.assumptions]
        ignored = choice.settings.get("ignored_options")
        if ignored:
            warnings.append(f"{', '.join('--' + name.replace('_', '-') for name in ignored)}: not read by the {choice.name} dialect, ignored")
        if choice.ambiguous_with and choice.chosen_by == "detected":
            warnings.append(
                f"dialect {choice.name} detected, but the file fits {', '.join(choice.ambiguous_with)} nearly as well: "
                f"pass --dialect to choose ({'; '.join(choice.evidence)})"
            )
    if result is None:
        return warnings
    spiking = [layer for layer in compiled.quantised.layers if layer.neurons.spiking]
    if spiking and all(result.layers[layer.name].spikes == 0 for layer in spiking):
        floats = "" if float_result is None or result.target == "float" else (
            f" (the float model fires {sum(float_result.layers[layer.name].spikes for layer in spiking)} spikes)"
        )
        warnings.append(f"the network is silent altogether on {result.target}: no layer fired a spike{floats}; it agrees with anything")
    for name, entry in (fidelity_section or {}).items():
        state = entry.get("silent")
        if state == "fixed point":
            warnings.append(f"layer {name!r} is silent on {result.target} where the float model fires {entry['float_spikes']} spikes")
        elif state == "float":
            warnings.append(f"layer {name!r} is silent in the float model where {result.target} fires {entry['fixed_spikes']} spikes")
        elif state == "both" and not any(w.startswith("the network is silent") for w in warnings):
            warnings.append(f"layer {name!r} is silent on {result.target} and in the float model: its agreement means nothing")
    return warnings


def _profile_section(profile) -> dict[str, Any]:
    return {
        "name": profile.name,
        "path": profile.source_path,
        "description": profile.description,
        "estimates": list(profile.estimates),
        "energy_is_estimate": profile.is_estimate("energy_j.synapse_dense"),
        "chips": profile.system.chips,
        "chip_grid": list(profile.system.chip_grid),
        "mesh_tiles": list(profile.system.mesh_tiles),
        "cores_per_tile": profile.system.cores_per_tile,
        "cores_per_chip": profile.system.cores_per_chip,
        "core_limits": core_limits(profile),
    }


def _notes(compiled: CompiledNetwork, result: RunResult | None, input_notes, overflow_warnings, layers: list[LayerReport], costs=None) -> list[str]:
    """What the user should read, in the order the stages produced it."""
    on_float = result is not None and result.target == "float"
    fixed_point = [note for note in compiled.quantised.notes if note not in compiled.normalised.notes]
    notes = list(compiled.float_graph.notes) + list(compiled.normalised.notes) + ([] if on_float else fixed_point)
    notes += (list(result.notes) if result else []) + list(input_notes) + list(overflow_warnings) + saturation_notes(layers) + energy.notes(costs, result)
    if result is None:
        notes.append("dry run (--target none): compiled, mapped and checked against the profile; nothing was run, so activity, energy and time are null")
    elif on_float:
        notes.append("--target float runs the float model itself: cores, energy and time are those of the compiled fixed-point network "
                     "with the float model's activity; fixed-point approximations do not apply to its spikes")
    elif any(layer.saturations is None for layer in layers):
        notes.append("saturation counts need u and v, which Lava records for every layer only with --verify (for a readout's "
                     "--decision: its output layer's); --target cpu counts them in every layer")
    return notes


def _jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value
