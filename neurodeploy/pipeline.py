"""One deployment, end to end (the API behind deploy.py), in the order it happens:

    plan      every option checked and the profile loaded: a bad option stops before any work
    load      data/ read the labelled data (--data); encoders/ encode it (or make the input);
              frontends/ read the model (and the data that comes with it)
    finetune  (--finetune) training/ fine-tunes the model through the fixed-point forward pass
    learn     (--learn) training/learn.py: the network learns on the target (on-chip learning) from
              --data, is evaluated after each epoch on --test-data, and the learned network
              (learned.nir) is what the following stages deploy, on the test data
    compile   ir/passes/: normalise -> quantise -> map_cores (with --calibration data the float
              reference observes the calibration data for the quantise pass); a compiled
              network saved before (frontends/compiled_file.py) is used as it is
    run       backends/: each planned target on the stage it consumes; the overflow analysis's run
    report    reports/ builds the report from the compiled network and the results

    outcome = deploy(DeployOptions(model="net.nir", target="cpu"))
    write_outputs(outcome.files, "report")

Nothing is written until every stage has succeeded; ``write_outputs`` then replaces
the output files in one go, so a failed run leaves no half-written report behind.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import io
import math
import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .backends import TARGETS, RunRequest, bit_exact_targets
from .backends.calibration import float_calibration
from .backends.core_counts import FIELDS as COUNT_FIELDS
from .backends.core_counts import GLOBALS as COUNT_GLOBALS
from .backends.core_counts import STEP_COUNT_BYTES, CorePlan, plan_core_counts
from .backends.results import RunResult
from .backends.target import recorded
from .data import ENCODED_LAYOUTS, LabelledData, load_data, with_labels, with_layout
from .dialects import DIALECTS, DialectOptions
from .encoders import ENCODERS, EncodeRequest, InputBatch, encoder_spec, encoding_of, fit, to_integer_input
from .encoders.random_spikes import DEFAULT_RATE
from .errors import InputDataError, UserError
from .frontends import LoadedModel, load
from .frontends.compiled_file import SavedNetwork, is_saved_network, read_saved_network
from .frontends.model import MODEL_RULES, model_monitors
from .hardware.profile import HardwareProfile, load_profile
from .interrupts import deferred
from .ir.passes import CompiledNetwork, CompileOptions, compile_network
from .ir.stages import FloatGraph, InputEncoding
from .limits import check_memory, format_bytes, memory_limit
from .reports.accuracy import DECISIONS
from .reports.accuracy import needs as decision_needs
from .reports.fidelity import comparison_windows
from .reports.overflow import MAX_CALIBRATION_SAMPLES
from .reports.render import render_confusion_png, render_json, render_mesh_png, render_png
from .reports.report import DRY_RUN, Report, ReportSources, build_report
from .scale import ScaleOut, ShardedRuns
from .training.step import FinetuneRequest, Tuned, finetune_model

if TYPE_CHECKING:
    from .learning.spec import LearningSpec
    from .training.learn import Learned

CALIBRATIONS = ("worst-case", "data")
DEFAULT_PROFILE = "loihi2"
OVERFLOW_TARGET = "cpu"  # reports each layer's largest |u| and |v| on the calibration data, for the overflow analysis
LAVA_TARGET = "loihi-sim"
OUTPUT_FILES = ("report.json", "report.png", "mesh.png", "confusion.png", "spikes.npz", "finetuned.nir", "finetuned_state_dict.pt",
                "conversion.png", "learned.nir")


@dataclass
class DeployOptions:
    model: Any = None  # a model file (NIR, .pt, a compiled .ndz), an nn.Module, a LoadedModel, a SavedNetwork; None: the built-in demo
    target: str = "loihi-sim"  # a name in TARGETS, or "none": compile, map and report only
    profile: str | None = None  # a profile name or YAML path; None: loihi2 (a compiled network keeps its own)
    input: str | None = None  # a .npy file of encoded input: --encode file:path=FILE
    encode: str | None = None  # an encoder and its parameters, NAME:key=value,... (encoders/)
    data: Any = None  # labelled data: a .npz / .npy / event file or folder, a built-in set (data/), or a LabelledData
    labels: Any = None  # the classes of data's samples (a .npy file or an array), where the data has none
    layout: str | None = None  # how data / --input are laid out (data.LAYOUTS); None: samples for data, steps-first for --input
    decision: str = "spike-count"  # how the output gives a class (reports/accuracy.py: DECISIONS)
    model_class: Any = None  # the class of a state_dict model file, "pkg.module:Net" (or the class itself)
    model_args: Any = None  # its constructor arguments: JSON text, a dict or a list
    steps: int | None = None
    batch: int | None = None
    seed: int = 0
    rate: float = DEFAULT_RATE  # the random encoder's rate
    dt: float | None = None
    dialect: str | None = None  # the exporter's dialect to read a NIR file in (a name in DIALECTS; None: detected from the file)
    reset: str | None = None  # what a NIR file cannot say (dialects/): snnTorch's reset, "subtract" or "zero"
    reset_delay: bool | None = None  # snnTorch's reset_delay
    min_v_mem: str | float | None = None  # Sinabs IF membrane floor: "threshold", "none" or a number
    norm_input: bool | None = None  # Sinabs LIF norm_input
    input_shape: tuple[int, ...] | None = None  # for snnTorch models whose input size cannot be inferred
    record: bool = False
    plots: bool = True  # render report.png, mesh.png and confusion.png (the command line renders them with --plots)
    verify: bool = False
    verify_against: str | None = None  # --verify's second bit-exact target (implies verify); default: loihi-sim, or cpu against loihi-sim
    weight_scaling: str = "channel"  # or "layer": one state scale per layer
    calibration_data: str | None = None  # .npy input for calibration and the overflow analysis (default: the run's input)
    calibration: str = "worst-case"  # or "data": scales from the ranges u and v reach on the calibration data
    per_core: bool = False  # loihi-sim: one Lava process per mapped layer slice (core), as on the chip
    finetune_epochs: int = 0  # > 0: quantisation-aware fine-tuning of the snnTorch model first (training/)
    finetune_data: str | None = None  # .npz with "inputs" (steps, samples, *shape) and "labels"; the demo's own training split by default
    finetune_learning_rate: float | None = None
    device: str = "cpu"  # torch device of targets that run on torch (--target torch), e.g. "cuda"
    progress: bool = False
    trust_pickle: bool = False  # allow a .pt model that is a pickled nn.Module (unpickling can run code the file carries)
    memory_limit: int | None = None  # bytes a run may plan to use (limits.py); None: 80% of the machine's memory
    workers: int | None = None  # shard the samples over this many local Ray worker processes (scale.py)
    cluster: str | None = None  # shard the samples over the workers of the Ray cluster at this address (scale.py)
    convert: str | None = None  # --convert: the model is a ReLU ANN to convert (conversion/), with these settings ("" for the defaults)
    learn: "str | LearningSpec | None" = None  # a learning specification (YAML path or LearningSpec): learn on the target first
    epochs: int = 1  # --epochs of --learn
    test_data: Any = None  # --learn's test data, as data (default for a built-in set: its test split); --data is its training data
    cpu_engine: str | None = None  # the cpu target's engine, "numba" or "numpy"; None: $NEURODEPLOY_CPU_ENGINE, else by the run's size


@dataclass
class DeployOutcome:
    report: Report
    files: dict[str, bytes]
    compiled: CompiledNetwork
    results: dict[str, RunResult] = field(default_factory=dict)
    input: InputBatch | None = None  # what the runs were given

    @property
    def verify_failed(self) -> bool:
        return self.report.verify is not None and not self.report.verify["passed"]


def deploy(options: DeployOptions) -> DeployOutcome:
    _check_options(options)
    with memory_limit(options.memory_limit):
        return _deploy(options)


def _deploy(options: DeployOptions) -> DeployOutcome:
    from .learning.metadata import readout_mismatch

    prepared = _prepare(options)
    plan, compiled, batch, timing = prepared.plan, prepared.compiled, prepared.batch, prepared.timing
    results, overflow = _run(compiled, batch, prepared.calibration, plan, timing)
    saved, converted = prepared.saved, prepared.converted
    settings = saved.settings if saved is not None else {"weight_scaling": options.weight_scaling, "calibration": options.calibration}
    conversion, curves = _conversion_section(converted, results, batch, compiled, overflow, options.target)
    overflow_source = converted.calibration.description["source"] if converted is not None else options.calibration_data or "the run's input"
    learned, learning = prepared.learned, None
    labels, input_notes = batch.labels, list(batch.notes)
    mismatch = readout_mismatch(compiled.float_graph.graph.metadata, options.decision, compiled.normalised.output_layer.name)
    if learned is None and mismatch is not None:  # a learned network deployed again (learned.nir)
        input_notes.append(mismatch[0])
        labels = labels if mismatch[1] else None
    if learned is not None:
        from .reports.learning import learning_section

        learning = learning_section(learned.summary, results, batch.labels, options.target, compiled)
    report = build_report(ReportSources(
        compiled=compiled, target=options.target, results=results, input=batch.description,
        labels=labels if learned is None or learned.summary["readout"] is None else None, input_notes=input_notes,
        decision=options.decision, classes=batch.classes, verify=plan.verify, overflow=overflow,
        overflow_source=overflow_source, settings=None if plan.dry_run else dict(settings),
        finetuning=prepared.tuned.summary if prepared.tuned is not None else None, learning=learning, timing_s=timing, conversion=conversion,
    ))
    files = _files(report, results.get(options.target), prepared.tuned, options.record, options.plots, model_monitors(compiled.float_graph))
    if curves:
        from .conversion.report import render_conversion_png

        files["conversion.png"] = render_conversion_png(conversion, curves)
    if learned is not None:
        files.update(learned.files)
    return DeployOutcome(report=report, files=files, compiled=compiled, results=results, input=batch)


@dataclass
class Prepared:
    """A deployment up to its runs: planned, loaded, encoded, fine-tuned and compiled."""

    plan: Plan
    compiled: CompiledNetwork
    batch: InputBatch
    calibration: InputBatch
    saved: SavedNetwork | None
    tuned: Tuned | None
    timing: dict[str, float]
    converted: Any = None  # --convert: conversion/loading.py's Converted (the ANN, its conversion and samples), for the report section
    learned: Learned | None = None  # what --learn learned (the batch is then its test data)


def prepare(options: DeployOptions) -> Prepared:
    """Plan, load (model, data and encoding), fine-tune and compile, every option checked and
    within the memory limit; a compiled network saved before is used as it is."""
    _check_options(options)
    with memory_limit(options.memory_limit):
        return _prepare(options)


def _prepare(options: DeployOptions) -> Prepared:
    saved = saved_network(options.model)
    plan = plan_deployment(options, saved)
    timing: dict[str, float] = {}
    with _timed(timing, "load"):
        converted = _load_converted(options, saved)
        model, batch = (converted.model, converted.batch) if converted is not None else _load(options, saved)
    monitors = model_monitors(model.graph)
    if monitors["spikes"] or monitors["state"]:  # a model that names what it records (a Brian2 network's monitors)
        plan = dataclasses.replace(plan, rasters=plan.rasters or bool(monitors["spikes"]), state=bool(monitors["state"]))
    tuned = None
    if options.finetune_epochs:
        with _timed(timing, "finetune"):
            tuned = finetune_model(model, batch, plan.finetune_request())
        model = tuned.model
    learned = None
    if options.learn is not None:
        with _timed(timing, "learn"):
            learned, batch = _learn(model, options, plan)
        model = learned.model
    calibration = converted.calibration if converted is not None else _calibration_input(options, model.graph, batch)
    if saved is not None:
        compiled = _precompiled(saved, batch, plan)
    else:
        compiled = _compile(model.graph, batch, calibration, plan)
    plan = _with_readouts(plan, compiled, learned)
    timing.update(compiled.timing_s)
    return Prepared(plan=plan, compiled=compiled, batch=batch, calibration=calibration, saved=saved, tuned=tuned, timing=timing,
                    converted=converted, learned=learned)


# --------------------------------------------------------------------------- options
MAX_SEED = 2**63 - 1


def _check_options(o: DeployOptions) -> None:
    """Every option's type and range, before any work: the API's options are held to what the
    command line accepts. Each problem is a one-line UserError naming the option."""
    _whole("--steps", o.steps, 1, optional=True)
    _whole("--batch", o.batch, 1, optional=True)
    _whole("--seed", o.seed, 0, MAX_SEED)
    _whole("--finetune", o.finetune_epochs, 0)
    _whole("--memory-limit", o.memory_limit, 1, optional=True)
    _whole("--workers", o.workers, 1, optional=True)
    if o.workers is not None and o.cluster is not None:
        raise UserError("--workers N starts Ray here with N local workers; --cluster ADDRESS uses a running cluster's: give one of them")
    _whole("--epochs", o.epochs, 1)
    if o.cpu_engine not in (None, *CPU_ENGINE_TARGETS):
        raise UserError(f"cpu_engine {o.cpu_engine!r}: choose one of {', '.join(CPU_ENGINE_TARGETS)} (or None: by the run's size)")
    if os.environ.get(CPU_ENGINE_VARIABLE, "") not in ("", *CPU_ENGINE_TARGETS):
        raise UserError(f"{CPU_ENGINE_VARIABLE}={os.environ[CPU_ENGINE_VARIABLE]!r}: choose one of {', '.join(CPU_ENGINE_TARGETS)}, "
                        "or leave it unset (the engine by the run's size)")
    _number("--rate", o.rate, 0.0, 1.0)
    _number("--dt", o.dt, 0.0, None, optional=True, exclusive=True)
    _number("--finetune-lr", o.finetune_learning_rate, 0.0, None, optional=True, exclusive=True)
    if o.input_shape is not None:
        if not isinstance(o.input_shape, (tuple, list)) or not o.input_shape:
            raise UserError(f"--input-shape {o.input_shape!r}: must be a list of sizes, e.g. 2,34,34")
        for size in o.input_shape:
            _whole("--input-shape", size, 1)
    for flag, value in (("--record", o.record), ("--verify", o.verify), ("--per-core", o.per_core), ("--trust-pickle", o.trust_pickle)):
        if not isinstance(value, bool):
            raise UserError(f"{flag}: must be True or False, got {value!r}")
    _check_objects(o)
    texts = {"--target": o.target, "--device": o.device, "--weight-scaling": o.weight_scaling, "--calibration": o.calibration, "--decision": o.decision}
    optional_texts = {"--input": o.input, "--encode": o.encode, "--calibration-data": o.calibration_data, "--finetune-data": o.finetune_data,
                      "--verify-against": o.verify_against, "--cluster": o.cluster, "--profile": o.profile, "--layout": o.layout,
                      "model": o.model if isinstance(o.model, str) else None, "--data": o.data if isinstance(o.data, str) else None,
                      "--labels": o.labels if isinstance(o.labels, str) else None,
                      "--model-class": o.model_class if isinstance(o.model_class, str) else None,
                      "--learn": o.learn if isinstance(o.learn, str) else None, "--test-data": o.test_data if isinstance(o.test_data, str) else None}
    if o.convert is not None:  # the ANN's calibration samples may be arrays (conversion/loading.py checks them)
        optional_texts = {**optional_texts, "--calibration-data": None}
    for flag, value in [*texts.items(), *optional_texts.items()]:
        if value is None and flag in optional_texts:
            continue
        if not isinstance(value, str) or not value or "\x00" in value:
            raise UserError(f"{flag} {value!r}: must be a non-empty text without NUL characters")


def _check_objects(o: DeployOptions) -> None:
    """The options the API may give as objects rather than text: each of a kind it can use."""
    if o.model is not None and not isinstance(o.model, (str, Path, LoadedModel, SavedNetwork)) and not hasattr(o.model, "named_modules"):
        raise UserError(f"model: a {type(o.model).__name__}; give a model file, an nn.Module or a compiled network")
    if o.data is not None and not isinstance(o.data, (str, Path, LabelledData)):
        raise UserError(f"--data: a {type(o.data).__name__}; give a file, folder or built-in set name (the API also takes arrays)")
    if o.labels is not None and not isinstance(o.labels, (str, Path, np.ndarray, list, tuple)):
        raise UserError(f"--labels: a {type(o.labels).__name__}; give a .npy file or an array of classes")
    if o.model_class is not None and not isinstance(o.model_class, (str, type)):
        raise UserError(f"--model-class: a {type(o.model_class).__name__}; give pkg.module:Net, file.py:Net or the class")
    if o.model_args is not None and not isinstance(o.model_args, (str, dict, list, tuple)):
        raise UserError(f"--model-args: a {type(o.model_args).__name__}; give JSON text, a dict of keyword arguments or a list")


def _whole(flag: str, value, minimum: int, maximum: int | None = None, optional: bool = False) -> None:
    if value is None and optional:
        return
    limit = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum or (maximum is not None and value > maximum):
        raise UserError(f"{flag} {value!r}: must be a whole number {limit}")


def _number(flag: str, value, minimum: float, maximum: float | None, optional: bool = False, exclusive: bool = False) -> None:
    if value is None and optional:
        return
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > minimum if exclusive else value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        bound = f"> {minimum:g}" if exclusive else f">= {minimum:g}"
        raise UserError(f"{flag} {value!r}: must be a finite number {bound}" + (f" and <= {maximum:g}" if maximum is not None else ""))


# --------------------------------------------------------------------------- plan
@dataclass(frozen=True)
class Plan:
    """What one deployment will do, every option checked: the targets in the order they run,
    the pair --verify compares, and what each run is asked for."""

    options: DeployOptions
    profile: HardwareProfile
    order: tuple[str, ...]  # --target, --verify's second target, then the float reference
    verify: tuple[str, str] | None  # (reference, candidate) compared bit for bit
    rasters: bool = False  # record every layer's raster (a model's spike monitors)
    state: bool = False  # record every layer's u and v (a model's state monitors)
    spike_layers: frozenset[str] = frozenset()  # layers whose rasters every run records, for a readout's decision (``_with_readouts``)
    state_layers: frozenset[str] = frozenset()  # layers whose u and v every run records, for a readout's decision

    @property
    def dry_run(self) -> bool:
        return self.options.target == DRY_RUN

    @property
    def dialect_options(self) -> DialectOptions:
        o = self.options
        return DialectOptions(reset=o.reset, reset_delay=o.reset_delay, min_v_mem=o.min_v_mem, norm_input=o.norm_input)

    def request(self, name: str, windows: dict, core_plan: CorePlan | None = None) -> RunRequest:
        """What run ``name`` records; the --target's run also counts every core's work per step
        (``core_plan``), from which the report estimates energy and time. A readout's decision
        needs its layers' state only; every layer's rasters are kept where runs are compared (the
        fidelity section's first differing step reads them wherever they are)."""
        verified = self.verify is not None and name in self.verify
        rasters = self.options.record or self.verify is not None or self.options.convert is not None or self.rasters
        every_state = verified or (self.state and name == self.options.target)
        return RunRequest(
            record_spikes=rasters or bool(self.spike_layers), spike_layers=None if rasters or len(self.order) > 1 else self.spike_layers,
            record_state=every_state or bool(self.state_layers), state_layers=None if every_state else self.state_layers, windows=windows,
            progress=self.options.progress, device=self.options.device, per_core=self.options.per_core,
            core_plan=core_plan if name == self.options.target else None,
        )

    def finetune_request(self) -> FinetuneRequest:
        o = self.options
        return FinetuneRequest(epochs=o.finetune_epochs, data=o.finetune_data, learning_rate=o.finetune_learning_rate, profile=self.profile,
                               weight_scaling=o.weight_scaling, dt=o.dt, seed=o.seed)


def _with_readouts(plan: Plan, compiled: CompiledNetwork, learned: Learned | None) -> Plan:
    """``plan`` with the layers its readouts decide from: --decision's output layer (first-spike:
    its raster and state; max-membrane: its state), and a first-spike readout learned by --learn."""
    rasters, state = decision_needs(plan.options.decision)
    out = compiled.quantised.output_layer.name
    spikes, states = {out} if rasters else set(), {out} if state else set()
    readout = (learned.summary["readout"] or {}) if learned is not None else {}
    if readout.get("decision") == "first-spike":
        spikes.add(readout["layer"])
        states.add(readout["layer"])
    return dataclasses.replace(plan, spike_layers=frozenset(spikes), state_layers=frozenset(states))


def plan_deployment(options: DeployOptions, saved: SavedNetwork | None = None) -> Plan:
    """The targets to run, with every option that concerns them checked before any work.
    ``saved``: the compiled network the model option names, if it names one."""
    if options.target != DRY_RUN and options.target not in TARGETS:
        raise UserError(f"unknown target {options.target!r}: choose one of {', '.join(TARGETS.names())}, {DRY_RUN}")
    pair, verify = [options.target], None
    if options.verify or options.verify_against is not None:
        pair, verify = _verify_pair(options)
    if options.per_core and "loihi-sim" not in pair:
        raise UserError("--per-core builds the Lava network core by core: use it with --target loihi-sim (or --verify)")
    if options.finetune_epochs < 0:
        raise UserError(f"--finetune {options.finetune_epochs}: the number of epochs must be positive")
    if options.finetune_epochs and options.target == DRY_RUN:
        raise UserError("--finetune trains through the fixed-point forward pass before a run: use it with --target loihi-sim, cpu or float")
    if options.learn is not None:
        _check_learning_options(options)
    elif options.test_data is not None:
        raise UserError("--test-data is the test data of --learn: give --learn too (without it, --data is what is deployed)")
    if options.calibration not in CALIBRATIONS:
        raise UserError(f"unknown calibration {options.calibration!r}: choose one of {', '.join(CALIBRATIONS)}")
    if options.dialect is not None and options.dialect not in DIALECTS:
        raise UserError(f"unknown dialect {options.dialect!r}: choose one of {', '.join(DIALECTS.names())}")
    DialectOptions(reset=options.reset, reset_delay=options.reset_delay, min_v_mem=options.min_v_mem, norm_input=options.norm_input)
    if options.decision not in DECISIONS:
        raise UserError(f"--decision {options.decision}: choose one of {', '.join(DECISIONS)}")
    on_device = [name for name in TARGETS.names() if TARGETS.get(name).uses_device]
    if options.device != "cpu" and not set(pair) & set(on_device):
        raise UserError(f"--device {options.device} is the device of the targets that run on torch: use --target {' or '.join(on_device)}")
    profile = _check_saved(options, saved) if saved is not None else load_profile(options.profile or DEFAULT_PROFILE)
    if options.target == DRY_RUN:
        return Plan(options, profile, (), None)
    plan = Plan(options, profile, tuple(dict.fromkeys([*pair, "float"])), verify)  # float: the fidelity section's reference
    for name in pair:
        TARGETS.get(name).check(plan.request(name, {}))
    return plan


def _check_saved(options: DeployOptions, saved: SavedNetwork) -> HardwareProfile:
    """A compiled network runs as it was compiled: options that would compile it differently are errors."""
    where = saved.path or "the compiled network"
    defaults = DeployOptions()
    differing = [
        flag for flag, value, default in (
            ("--finetune", options.finetune_epochs, defaults.finetune_epochs), ("--weight-scaling", options.weight_scaling, defaults.weight_scaling),
            ("--calibration", options.calibration, defaults.calibration), ("--dt", options.dt, defaults.dt),
            ("--input-shape", options.input_shape, defaults.input_shape), ("--model-class", options.model_class, defaults.model_class),
            ("--dialect", options.dialect, defaults.dialect), ("--reset", options.reset, defaults.reset),
            ("--reset-delay", options.reset_delay, defaults.reset_delay), ("--min-v-mem", options.min_v_mem, defaults.min_v_mem),
            ("--norm-input", options.norm_input, defaults.norm_input), ("--learn", options.learn, defaults.learn),
        ) if value != default
    ]
    if differing:
        raise UserError(f"{where} is compiled already: {', '.join(differing)} would compile it again; compile from the model instead")
    profile = saved.profile
    if options.profile is not None and options.profile not in (profile.name, profile.source_path):
        raise UserError(f"{where} is compiled for profile {profile.name}: --profile {options.profile} needs a compilation from the model")
    return profile


def saved_network(model: Any) -> SavedNetwork | None:
    """The compiled network ``model`` names (a SavedNetwork, or a file written by its ``save``), else None."""
    if isinstance(model, SavedNetwork):
        return model
    if isinstance(model, (str, Path)) and is_saved_network(model):
        return read_saved_network(model)
    return None


def _check_learning_options(options: DeployOptions) -> None:
    if options.target == DRY_RUN:
        raise UserError("--learn learns on a target: use --target cpu, cpu-numpy, loihi-sim or float")
    if options.finetune_epochs:
        raise UserError("--learn and --finetune: give one of them (on-chip learning, or gradient fine-tuning on the host)")
    if options.convert is not None:
        raise UserError("--learn and --convert: give one of them (learn on the chip, or convert a trained ANN)")
    if options.data is None:
        raise UserError("--learn needs training data: --data FILE.npz (x, y) or a built-in set, e.g. --data digits")
    if options.epochs < 1:
        raise UserError(f"--epochs {options.epochs}: learning needs at least one epoch")


def _learn(model: LoadedModel, options: DeployOptions, plan: Plan) -> tuple[Learned, InputBatch]:
    """On-chip learning (training/learn.py) on --data; returns what was learned and the test data
    (--test-data, or a built-in set's test split) to deploy on."""
    from .learning.spec import LearningSpec, load_spec
    from .training.learn import LearnRequest, learn_on_chip
    from .training.learn_data import learning_sources, rewards_of

    if isinstance(options.learn, LearningSpec):
        spec = options.learn
    else:
        spec = _model_rules(model) if options.learn == MODEL_RULES else load_spec(options.learn)
    train_source, test_source = learning_sources(options.data, options.test_data)
    train = _learning_batch(labelled_data(dataclasses.replace(options, data=train_source)), model, options, options.seed)
    test = None
    if test_source is not None:
        test_data = test_source if isinstance(test_source, LabelledData) else load_data(test_source, options.layout)
        test = _learning_batch(test_data, model, options, options.seed + 1)
        if test.steps != train.steps:
            raise UserError(f"--test-data has {test.steps} steps per sample, --data {train.steps}: encode both alike")
    rewards = rewards_of(train_source)
    if rewards is None:
        rewards = model_rewards(model, train.batch, train.steps)
    request = LearnRequest(spec=spec, target=options.target, epochs=options.epochs, profile=plan.profile, train=train,
                           test=test, rewards=rewards, dt=options.dt,
                           weight_scaling=options.weight_scaling, seed=options.seed, dialect=options.dialect,
                           dialect_options=plan.dialect_options)
    learned = learn_on_chip(model, request)
    batch = test if test is not None else train
    if test is None:
        batch.notes.append("no --test-data: the learned network is deployed on its training data")
    if options.batch is not None:
        batch = fit(batch, None, options.batch)
    return learned, batch


def model_rewards(model: LoadedModel, samples: int, steps: int) -> np.ndarray | None:
    """A Brian2 network's given reward (a TimedArray), the same in every sample, as the learning
    run's rewards; None when the model gives none. The run takes one reward array for all layers."""
    signals = getattr(model.data, "rewards", None)
    if not signals:
        return None
    if len(signals) > 1:
        raise UserError(f"--learn: the reward-modulated layers {', '.join(sorted(signals))} each have their own TimedArray reward; "
                        "learning takes one reward for all layers: keep one reward-modulated layer, or give a 'reward' array in --data")
    return next(iter(signals.values())).rewards(samples, steps)


def _learning_batch(data: LabelledData, model: LoadedModel, options: DeployOptions, seed: int) -> InputBatch:
    """Learning data as input: encoded already, encoded by --encode, or rate-coded (training/learn_data.py)."""
    from .training.learn_data import rate_coded

    if data.layout in ENCODED_LAYOUTS or options.encode is not None:
        chosen = encoder_spec(options.encode) if options.encode is not None else None
        batch = _encode_data(data, chosen, dataclasses.replace(options, batch=None, seed=seed))
    else:
        batch = rate_coded(data, model.graph.input_shape, options.steps, options.rate, seed)
    check_sample_shape(batch, model.graph.input_shape, data.source)
    return batch


def _model_rules(model: LoadedModel):
    """``--learn`` without a file: the learning specification the model states (a Brian2 network's plasticity)."""
    if model.learning is None:
        raise UserError("--learn without a file needs a model that states its own plasticity (a Brian2 network with STDP): "
                        "give a learning specification, --learn RULES.yaml")
    return model.learning


def _verify_pair(options: DeployOptions) -> tuple[list[str], tuple[str, str]]:
    """The two bit-exact targets --verify runs, and which is the reference: Lava's simulator
    whenever it takes part (the others are proven against it), else --verify-against."""
    exact = bit_exact_targets()
    if options.target not in exact:
        raise UserError(f"--verify compares two bit-exact targets ({', '.join(exact)}): --target {options.target} is not one")
    partner = options.verify_against or ("cpu" if options.target == "loihi-sim" else "loihi-sim")
    if partner not in exact or partner == options.target:
        raise UserError(f"--verify-against {partner}: choose another bit-exact target than --target {options.target} ({', '.join(exact)})")
    pair = [options.target, partner]
    reference = "loihi-sim" if "loihi-sim" in pair else partner
    return pair, (reference, next(name for name in pair if name != reference))


# --------------------------------------------------------------------------- load
def _load(options: DeployOptions, saved: SavedNetwork | None = None) -> tuple[LoadedModel, InputBatch]:
    """The model (with the data and module that come with it) and its encoded input. Data is
    encoded before the model is read, so that its sample shape can tell a model without a
    first nn.Linear its input shape."""
    data = labelled_data(options) if options.learn is None else None  # --learn's data: _learn
    chosen = _chosen_encoder(options, data, saved) if options.learn is None else None
    batch = _encode_data(data, chosen, options) if data is not None else None
    hints: tuple[tuple[int, ...], ...] = ()
    if batch is not None:
        hints = (tuple(batch.description["shape"]),)
    elif chosen is not None and options.model is not None:
        hint = chosen[0].shape_hint(chosen[1])
        hints = (hint,) if hint else ()
    if saved is not None:
        model = LoadedModel(saved.compiled.float_graph)
    elif isinstance(options.model, LoadedModel):
        model = options.model
    else:
        model = load(options.model, options.input_shape, keep_module=options.finetune_epochs > 0, seed=options.seed,
                     trust_pickle=options.trust_pickle, model_class=options.model_class, model_args=options.model_args, shape_hints=hints)
    if batch is not None:
        check_sample_shape(batch, model.graph.input_shape, data.source)
        return model, batch
    encoder, params = chosen if chosen is not None else (ENCODERS.get(model.encoder or "random"), {})
    if encoder.needs_samples:
        raise UserError(f"--encode {encoder.name} encodes data: give --data (a .npz with x and optional y, a folder of event files, "
                        "or a built-in set: digits, digits28, mnist1d)")
    if encoder.name == "random":
        params = {"rate": options.rate, **params}
    request = EncodeRequest(shape=model.graph.input_shape, steps=options.steps, batch=options.batch, seed=options.seed, params=params, data=model.data)
    return model, encoder.encode(request)


def _load_converted(options: DeployOptions, saved: SavedNetwork | None):
    """--convert: the ANN converted, with its encoded data and calibration samples (conversion/)."""
    if options.convert is None:
        return None
    if saved is not None:
        raise UserError(f"--convert converts a trained ANN: {saved.path or 'the model'} is a compiled network already; run it without --convert")
    from .conversion.loading import load_converted

    return load_converted(options, labelled_data(options))


def _conversion_section(converted, results, batch: InputBatch, compiled: CompiledNetwork, overflow, target: str):
    """--convert: (the report's conversion section, accuracy curves for conversion.png), its notes added to the input's."""
    if converted is None:
        return None, {}
    from .conversion.report import conversion_notes, conversion_section

    section, curves = conversion_section(converted, results, batch.labels, target, compiled.quantised, overflow)
    batch.notes.extend(conversion_notes(section))
    return section, curves


def labelled_data(options: DeployOptions) -> LabelledData | None:
    """--data (with --labels and --layout), or None."""
    if options.data is None:
        if options.labels is not None:
            raise UserError("--labels are the classes of --data's samples: give --data too")
        return None
    if options.input is not None:
        raise UserError("--input FILE and --data: give one of them (--input takes encoded input, --data raw or encoded samples with labels)")
    if isinstance(options.data, LabelledData):
        data = with_layout(options.data, options.layout) if options.layout is not None else options.data
        return with_labels(data, options.labels) if options.labels is not None else data
    return load_data(options.data, options.layout, options.labels)


def _chosen_encoder(options: DeployOptions, data: LabelledData | None, saved: SavedNetwork | None):
    """(encoder, parameters) that --encode or --input choose (or the encoder a compiled network was
    compiled for, given raw data), else None (the model's own, or random)."""
    if options.encode is not None:
        if options.input is not None:
            raise UserError("--input FILE is --encode file:path=FILE: give one of them")
        return encoder_spec(options.encode)
    if options.input is not None:
        params = {"path": options.input}
        if options.layout is not None:
            params["layout"] = options.layout
        return ENCODERS.get("file"), params
    if saved is not None and saved.encode and data is not None and data.layout not in ENCODED_LAYOUTS:
        return encoder_spec(saved.encode)
    return None


def _encode_data(data: LabelledData, chosen, options: DeployOptions) -> InputBatch:
    """The network input from labelled data: encoded by --encode (raw samples), or taken as it is
    (an encoded layout); its labels and a description of the data go with it."""
    data = data.first(options.batch)
    if data.layout in ENCODED_LAYOUTS:
        if chosen is not None:
            raise UserError(f"--layout {data.layout}: {data.source} is encoded already; drop --encode (or give --layout samples to encode raw samples)")
        batch = _encoded_batch(data, options.steps)
    else:
        if chosen is None:
            shape = "event streams" if data.is_events else f"raw samples of shape {list(np.shape(data.x))}"
            example = "--encode events:n_time_bins=10" if data.is_events else "--encode rate:steps=25 or latency:steps=25,normalize=true"
            raise UserError(f"--data {data.source} holds {shape}: choose an encoder, e.g. {example} (see --help), "
                            "or give --layout steps-first / samples-first if it is encoded already")
        encoder, params = chosen
        if not encoder.needs_samples:
            data_encoders = [name for name in ENCODERS.names() if ENCODERS.get(name).needs_samples]
            raise UserError(f"--encode {encoder.name} does not encode data: with --data choose one of {', '.join(data_encoders)}")
        if data.is_events != (encoder.name == "events"):
            raise UserError(f"--data {data.source} holds event streams: encode them with --encode events:n_time_bins=N (or time_window=US)"
                            if data.is_events else f"--encode events bins event streams, but --data {data.source} holds arrays of values")
        request = EncodeRequest(shape=(), steps=options.steps, seed=options.seed, params=params, samples=data.x, samples_source=data.source)
        batch = encoder.encode(request)
    batch.labels, batch.classes = data.y, data.classes
    batch.description["data"] = data.section()
    return batch


def _encoded_batch(data: LabelledData, steps: int | None) -> InputBatch:
    values = np.asarray(data.x)
    if data.layout == "samples-first":
        values = np.swapaxes(values, 0, 1)
    shape = [int(n) for n in values.shape[2:]]
    flat = values.reshape(values.shape[0], values.shape[1], -1)
    encoding = encoding_of(flat)
    flat = flat.astype(np.uint8) if encoding.kind == "spikes" else flat.astype(np.float64)
    description = {
        "source": "data",
        "steps": int(flat.shape[0]),
        "batch": int(flat.shape[1]),
        "shape": shape,
        "encoding": encoding.kind,
        "description": f"{data.source}: {flat.shape[1]} encoded sample(s) ({data.layout}), {flat.shape[0]} steps, {encoding.kind}",
    }
    return fit(InputBatch(values=flat, encoding=encoding, description=description), steps, None)


def check_sample_shape(batch: InputBatch, model_shape: tuple[int, ...], source: str) -> None:
    """The encoded samples must fit the model's input: the same shape, or the same size where one
    of them is flat (or they differ only by leading axes of 1)."""
    shape = tuple(batch.description["shape"])
    model_shape = tuple(model_shape)
    if shape == model_shape:
        return
    same_size = int(np.prod(shape)) == int(np.prod(model_shape))
    squeezed = _drop_leading_ones(shape) == _drop_leading_ones(model_shape)
    if same_size and (len(shape) <= 1 or len(model_shape) <= 1 or squeezed):
        return
    how = f" by --encode {batch.description['spec']}" if batch.description.get("spec") else ""
    raise InputDataError(f"--data {source}: samples encoded{how} have shape {list(shape)}, which does not fit the model input "
                         f"{list(model_shape)} ({int(np.prod(shape))} vs {int(np.prod(model_shape))} values)")


def _drop_leading_ones(shape: tuple[int, ...]) -> tuple[int, ...]:
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    return shape


def _calibration_input(options: DeployOptions, graph: FloatGraph, batch: InputBatch) -> InputBatch:
    """The calibration data: --calibration-data, else the run's own input."""
    if options.calibration_data is None:
        return batch
    return ENCODERS.get("file").encode(EncodeRequest(shape=graph.input_shape, seed=options.seed, params={"path": options.calibration_data}))


# --------------------------------------------------------------------------- compile and run
def _precompiled(saved: SavedNetwork, batch: InputBatch, plan: Plan) -> CompiledNetwork:
    """A compiled network as saved: its input must reach the chip as it was compiled for."""
    compiled = saved.compiled
    expected: InputEncoding = compiled.quantised.input_encoding
    where = saved.path or "the compiled network"
    if batch.encoding.kind != expected.kind:
        raise UserError(f"{where} was compiled for {expected.kind} input, but this input is {batch.encoding.kind}: "
                        "encode it as it was compiled for" + (f" (--encode {saved.encode})" if saved.encode else "") + ", or compile again")
    if expected.kind == "graded" and batch.encoding.max_abs > expected.max_abs:
        batch.notes.append(f"graded input reaches {batch.encoding.max_abs:g}, beyond the {expected.max_abs:g} {where} was compiled for: "
                           "larger values are clipped to the graded spikes' range")
    for name in plan.order:
        target = TARGETS.get(name)
        target.check_network(compiled.stage(target.stage))
    return dataclasses.replace(compiled, timing_s={})


def _compile(graph: FloatGraph, batch: InputBatch, calibration: InputBatch, plan: Plan) -> CompiledNetwork:
    from .learning.metadata import learned_bounds

    options = plan.options
    compile_options = CompileOptions(
        profile=plan.profile, dt=options.dt, input_encoding=batch.encoding, weight_scaling=options.weight_scaling,
        dialect=options.dialect, dialect_options=plan.dialect_options, weight_bounds=learned_bounds(graph.graph.metadata),
    )
    calibrate = float_calibration(calibration.values[:, :MAX_CALIBRATION_SAMPLES]) if options.calibration == "data" else None
    compiled = compile_network(graph, compile_options, calibrate)
    for name in plan.order:
        target = TARGETS.get(name)
        target.check_network(compiled.stage(target.stage))
    return compiled


def _run(compiled: CompiledNetwork, batch: InputBatch, calibration: InputBatch, plan: Plan, timing: dict[str, float]):
    """Every planned target on the stage it consumes (float input for the normalised stage, the
    chip's integers otherwise), then the overflow analysis's run; (results by target, that run).
    Where the calibration data is the run's input and OVERFLOW_TARGET is planned, its own run
    (asked for peaks) is the overflow analysis's: no run of its own. The float reference runs in
    a thread beside the others where they all run in this process (``_overlap``): each target's
    result is the same either way."""
    if plan.dry_run:
        return {}, None
    check_run_memory(compiled, batch, plan)
    integers = to_integer_input(batch, compiled.quantised)
    fixed_windows, float_windows = comparison_windows(compiled.quantised, batch.steps)
    core_plan = plan_core_counts(compiled.mapped)
    results: dict[str, RunResult] = {}
    traced = plan.options.convert is not None  # the conversion's saturation section reads the overflow run's v traces
    shared = calibration is batch and OVERFLOW_TARGET in plan.order and not traced
    engine = _cpu_engine(compiled, batch, plan)
    with _runner(plan.options) as run:

        def run_target(name: str) -> None:
            target = TARGETS.get(name)
            inputs = batch.values if target.stage == "normalised" else integers
            with _timed(timing, f"run.{name}"):
                request = plan.request(name, float_windows if name == "float" else fixed_windows, core_plan)
                if shared and name == OVERFLOW_TARGET:
                    request = dataclasses.replace(request, record_peaks=True)
                results[name] = _with_input_events(_run_on(run, name, engine, compiled.stage(target.stage), inputs, request), inputs)

        beside = "float" if _overlap(plan, engine) else None
        with _beside(run_target, beside):
            for name in plan.order:
                if name != beside:
                    run_target(name)
        results = {name: results[name] for name in plan.order}  # in the plan's order, whichever finished first
        if shared:
            return results, results[OVERFLOW_TARGET]
        sample = integers if calibration is batch else to_integer_input(calibration, compiled.quantised)
        with _timed(timing, "run.overflow"):
            request = RunRequest(record_peaks=True, record_state=traced)
            overflow = _run_on(run, OVERFLOW_TARGET, engine, compiled.quantised, sample[:, :MAX_CALIBRATION_SAMPLES], request)
    return results, overflow


# runs this small finish on the numpy engine before numba would have been imported and its
# compiled engine loaded (most of a second): synapse-sample-steps, and steps x layers (the
# numpy engine's per-step cost)
NUMPY_ENGINE_WORK = 1e8
NUMPY_ENGINE_LAYER_STEPS = 2000
CPU_ENGINE_TARGETS = {"numba": "cpu", "numpy": "cpu-numpy"}
CPU_ENGINE_VARIABLE = "NEURODEPLOY_CPU_ENGINE"  # the cpu target's engine where DeployOptions.cpu_engine does not say (the tests: numba)


def _cpu_engine(compiled: CompiledNetwork, batch: InputBatch, plan: Plan) -> str:
    """The engine the cpu target runs on (``DeployOptions.cpu_engine``, $NEURODEPLOY_CPU_ENGINE,
    else by the run's size): both give the same integers (tests/test_bit_exact_lava.py), numba the
    faster once started. --verify compares the targets as named: the cpu target is numba there."""
    chosen = plan.options.cpu_engine or os.environ.get(CPU_ENGINE_VARIABLE) or None
    if chosen is not None:
        return chosen
    if plan.verify is not None:
        return "numba"
    network = compiled.quantised
    work = float(sum(layer.synapse_count for layer in network.layers)) * batch.steps * batch.batch
    small = work <= NUMPY_ENGINE_WORK and batch.steps * len(network.layers) <= NUMPY_ENGINE_LAYER_STEPS
    return "numpy" if small else "numba"


def _run_on(run, name: str, engine: str, stage, inputs: np.ndarray, request: RunRequest) -> RunResult:
    """Target ``name``'s run, the cpu target's on ``engine``; the result is named ``name``."""
    if name != "cpu" or engine == "numba":
        return run(name, stage, inputs, request)
    return dataclasses.replace(run(CPU_ENGINE_TARGETS[engine], stage, inputs, request), target=name)


IN_PROCESS_TARGETS = ("cpu", "cpu-numpy", "float")  # numba and numpy kernels that release the GIL, in this process


def _overlap(plan: Plan, engine: str) -> bool:
    """Whether the float reference runs in a thread beside the other targets: only where every
    run is in this process (not Ray's workers, not Lava's processes, which fork), and worth a
    thread (a run on the numba engine; then the float reference's numba kernels may run at
    the same time as it: numba's threading layer must accept that)."""
    if len(plan.order) < 2 or "float" not in plan.order or ScaleOut(plan.options.workers, plan.options.cluster).enabled:
        return False
    if not set(plan.order) <= set(IN_PROCESS_TARGETS) or engine != "numba":
        return False
    from .backends.threads import parallel_launches_thread_safe

    return parallel_launches_thread_safe()


@contextmanager
def _beside(run_target, name: str | None):
    """Run ``run_target(name)`` in a thread while the block runs; its exception, if any, is
    raised after the block. An error in the block waits for the thread (no run is left behind in
    the process), an interrupt does not."""
    if name is None:
        yield
        return
    failure: list[BaseException] = []

    def work():
        try:
            run_target(name)
        except BaseException as exc:  # noqa: BLE001 - raised again in the calling thread
            failure.append(exc)

    thread = threading.Thread(target=work, name=f"neurodeploy-{name}", daemon=True)
    thread.start()
    try:
        yield
    except Exception:
        thread.join()
        raise
    thread.join()
    if failure:
        raise failure[0]


@contextmanager
def _runner(options: DeployOptions):
    """run(target name, stage, inputs, request): in this process, or sharded over Ray workers
    (--workers / --cluster; scale.py) with the results merged exactly."""
    scale_out = ScaleOut(workers=options.workers, cluster=options.cluster)
    if not scale_out.enabled:
        yield lambda name, stage, inputs, request: TARGETS.get(name).run(stage, inputs, request)
        return
    with ShardedRuns(scale_out) as sharded:
        yield sharded.run


STATE_BYTES_PER_NEURON = 96  # u, v, their previous values, bias, thresholds, counts: a dozen 8-byte arrays per sample
ENGINE_BYTES_PER_SYNAPSE = 24  # an engine's own copy of a synapse: weight, index, delay (sparse, 64-bit indices)


def estimate_run_memory(compiled: CompiledNetwork, batch: InputBatch, plan: Plan) -> dict[str, float]:
    """Bytes the runs of ``plan`` will hold at once, by kind, from the compiled network's sizes
    and the input's steps and samples: every result is kept until the report is built."""
    network = compiled.quantised
    steps, samples = batch.steps, batch.batch
    neurons = sum(layer.n_out for layer in network.layers)
    synapses = sum(layer.synapse_count for layer in network.layers)
    delays = sum((max((p.max_delay for p in layer.float_layer.projections), default=0) + 1) * layer.n_out for layer in network.layers)
    parts = {"input": float(steps) * samples * network.n_inputs * 8, "parameters": 0.0, "engine state": 0.0, "recordings": 0.0}
    runs = [(name, plan.request(name, {}), samples) for name in plan.order]
    if not (OVERFLOW_TARGET in plan.order and plan.options.calibration_data is None and plan.options.convert is None):  # else the target's own run
        runs.append((OVERFLOW_TARGET, RunRequest(record_state=plan.options.convert is not None), min(samples, MAX_CALIBRATION_SAMPLES)))
    sizes = {layer.name: layer.n_out for layer in network.layers}
    for name, request, n_samples in runs:
        parts["parameters"] += float(synapses) * ENGINE_BYTES_PER_SYNAPSE
        parts["engine state"] += float(n_samples) * (neurons * STATE_BYTES_PER_NEURON + delays * 8)
        spiked = sum(sizes[layer] for layer in recorded(sizes, request.record_spikes, request.spike_layers))
        traced = sum(sizes[layer] for layer in recorded(sizes, request.record_state, request.state_layers))
        per_step = spiked + 8 * traced
        if name == plan.options.target and name == LAVA_TARGET:
            per_step += 4 * (neurons - traced)  # counting updated neurons reads back every layer's v from Lava
        parts["recordings"] += float(steps) * n_samples * per_step
    parts["recordings"] += core_count_bytes(compiled, steps, samples) if not plan.dry_run else 0.0
    return parts


def core_count_bytes(compiled: CompiledNetwork, steps: int, samples: int) -> float:
    """The --target run's per-step counts of every core (``core_counts.py``; bounded per run)."""
    profile = compiled.mapped.profile
    sites = compiled.mapped.cores_used + -(-compiled.quantised.n_inputs // profile.core.max_neurons)
    per_sample = float(steps) * (sites * len(COUNT_FIELDS) + len(COUNT_GLOBALS)) * 4
    return per_sample * min(samples, max(1, STEP_COUNT_BYTES // max(per_sample, 1.0)))


def check_run_memory(compiled: CompiledNetwork, batch: InputBatch, plan: Plan) -> None:
    """Refuse a run whose estimate exceeds the memory limit, before any target allocates."""
    parts = estimate_run_memory(compiled, batch, plan)
    detail = ", ".join(f"{kind} {format_bytes(size)}" for kind, size in parts.items() if size)
    check_memory(
        sum(parts.values()), f"running {batch.steps} step(s) x {batch.batch} sample(s) ({detail})",
        "lower --steps or --batch" + (" or leave out --record / --verify" if plan.verify or plan.options.record else ""),
    )


def _with_input_events(result: RunResult, inputs: np.ndarray) -> RunResult:
    """The input's events per input index, for a target that does not return them."""
    if result.input_events is not None:
        return result
    return dataclasses.replace(result, input_events=np.count_nonzero(inputs, axis=(0, 1)).astype(np.int64))


@contextmanager
def _timed(timing: dict[str, float], key: str):
    start = time.perf_counter()
    yield
    timing[key] = time.perf_counter() - start


# --------------------------------------------------------------------------- outputs
def _files(report: Report, result: RunResult | None, tuned: Tuned | None, record: bool, plots: bool, monitors: dict | None = None) -> dict[str, bytes]:
    files = {"report.json": render_json(report).encode()}
    if plots:  # matplotlib's import and drawing cost more than the rest of the report
        if result is not None:
            files["report.png"] = render_png(report)
        files["mesh.png"] = render_mesh_png(report)
        if report.classification is not None:
            files["confusion.png"] = render_confusion_png(report)
    if tuned is not None:
        files.update(tuned.files)
    if record and result is not None:
        files["spikes.npz"] = _spikes_npz(result)
    elif monitors and monitors["spikes"] and result is not None and result.rasters is not None:
        files["spikes.npz"] = _spikes_npz(result, monitors["spikes"])
    if monitors and monitors["state"] and result is not None and result.traces is not None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{f"{layer}.{var}": result.traces[layer][var] for layer, names in monitors["state"].items()
                                       for var in names if layer in result.traces})
        files["state.npz"] = buffer.getvalue()
    return files


def saved_from(compiled: CompiledNetwork, batch: InputBatch | None, options: DeployOptions) -> SavedNetwork:
    """What ``save_compiled`` writes: the compiled network, the encoder its data was encoded by
    (given the same raw data, a later run encodes it alike), and how it was compiled."""
    previous = saved_network(options.model)
    if previous is not None:
        return previous
    description = batch.description if batch is not None else {}
    settings = {"weight_scaling": options.weight_scaling, "calibration": options.calibration, "dt": options.dt}
    encode = description.get("spec") if description.get("source") == "data" else None
    input_section = {key: value for key, value in description.items() if key in ("encoder", "spec", "parameters", "encoding", "shape", "steps")}
    return SavedNetwork(compiled=compiled, encode=encode, settings=settings, input=input_section)


def save_compiled(outcome: DeployOutcome, options: DeployOptions, path: str | Path) -> Path:
    """Write the deployment's compiled network to one versioned file (``frontends/compiled_file.py``)."""
    from .frontends.compiled_file import write_saved_network

    try:
        return write_saved_network(saved_from(outcome.compiled, outcome.input, options), path)
    except OSError as exc:
        raise UserError(f"--save-compiled {path}: cannot write it ({exc.strerror or exc})") from None


def _spikes_npz(result: RunResult, layers: list[str] | None = None) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: raster for name, raster in result.rasters.items() if layers is None or name in layers})
    return buffer.getvalue()


def check_report_dir(directory: str | Path, _retries: int = 5) -> None:
    """Before any work: ``directory`` exists as a directory or can be created, can be written,
    and holds no directory where an output file goes. A one-line UserError otherwise. Whatever
    the check creates it removes again."""
    text = os.fspath(directory) if isinstance(directory, (str, Path)) else None
    if not text or "\x00" in text:
        raise UserError(f"--report-dir {directory!r}: give a directory path")
    path = Path(text)
    if path.is_symlink() and not path.exists():
        raise UserError(f"--report-dir {path}: a symbolic link to {os.readlink(path)}, which does not exist; remove it or choose another directory")
    if path.exists():
        if not path.is_dir():
            raise UserError(f"--report-dir {path}: exists and is not a directory")
        for name in OUTPUT_FILES:
            if (path / name).is_dir():
                raise UserError(f"--report-dir {path}: {name} there is a directory, where the report writes a file; remove it or choose another directory")
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".neurodeploy-check-", dir=path))
        except FileNotFoundError:  # another run's check made and removed it meanwhile: check again
            if not _retries:
                raise UserError(f"--report-dir {path}: removed while it was being checked") from None
            check_report_dir(path, _retries - 1)
        except OSError as exc:
            raise UserError(f"--report-dir {path}: cannot write in {path} ({exc.strerror or exc})") from None
        return
    missing = [path]  # the directories to create, deepest first
    while not os.path.lexists(missing[-1].parent) and missing[-1].parent != missing[-1]:
        missing.append(missing[-1].parent)
    ancestor = missing[-1].parent
    if ancestor.is_symlink() and not ancestor.exists():
        raise UserError(f"--report-dir {path}: cannot be created: {ancestor} is a symbolic link to {os.readlink(ancestor)}, which does not exist")
    if not ancestor.is_dir():
        raise UserError(f"--report-dir {path}: cannot be created: {ancestor} is not a directory")
    created = []
    try:
        for part in reversed(missing):
            try:
                os.mkdir(part)
            except FileExistsError:  # a concurrent run made it first: it is theirs, not ours to remove
                if not part.is_dir():
                    raise
                continue
            created.append(part)
        _check_writable(path, path)
    except OSError as exc:
        raise UserError(f"--report-dir {path}: cannot be created ({exc.strerror or exc}{': ' + exc.filename if exc.filename else ''})") from None
    finally:
        for part in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(part)


def _check_writable(where: Path, directory: Path) -> None:
    """Create and remove an empty directory in ``where``: the one test every file system answers truthfully."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".neurodeploy-check-", dir=where))
    except OSError as exc:
        raise UserError(f"--report-dir {directory}: cannot write in {where} ({exc.strerror or exc})") from None


def write_outputs(files: dict[str, bytes], directory: str | Path) -> list[Path]:
    """Write every file into a temporary directory inside ``directory``, then move them all into
    place (renames, under a lock on the directory, with signals held back) and remove outputs
    of earlier runs this run did not produce: concurrent runs into one directory leave one
    run's complete report, never a mix, and a failure leaves the earlier report as it was."""
    directory = Path(directory)
    check_report_dir(directory)
    created = not directory.exists()
    staging = None
    try:
        staging = _staging_directory(directory)
        for name, data in files.items():
            (staging / name).write_bytes(data)
        with deferred(), _locked(directory):
            for name in files:
                os.replace(staging / name, directory / name)
            for name in OUTPUT_FILES:
                if name not in files and (directory / name).is_file():
                    (directory / name).unlink()
    except OSError as exc:
        raise UserError(f"--report-dir {directory}: cannot write the report ({exc.strerror or exc})") from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if created and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    return [directory / name for name in files]


def _staging_directory(directory: Path, attempts: int = 5) -> Path:
    """A temporary directory inside ``directory``, which is created first; retried where a
    concurrent run's check_report_dir removes the directory it had made in between."""
    for attempt in range(attempts):
        directory.mkdir(parents=True, exist_ok=True)
        try:
            return Path(tempfile.mkdtemp(prefix=".neurodeploy-", dir=directory))
        except FileNotFoundError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@contextmanager
def _locked(directory: Path):
    """An exclusive lock on the directory itself (flock on its descriptor): no lock file is left behind."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
