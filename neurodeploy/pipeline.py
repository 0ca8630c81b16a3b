"""One deployment, end to end (the API behind deploy.py), in the order it happens:

    plan      every option checked and the profile loaded: a bad option stops before any work
    load      frontends/ read the model (and the data that comes with it); encoders/ make the input
    finetune  (--finetune) training/ fine-tunes the model through the fixed-point forward pass
    compile   ir/passes/: normalise -> quantise -> map_cores (with --calibration data the float
              reference observes the calibration data for the quantise pass)
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
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backends import TARGETS, RunRequest, bit_exact_targets
from .backends.calibration import float_calibration
from .backends.core_counts import FIELDS as COUNT_FIELDS
from .backends.core_counts import GLOBALS as COUNT_GLOBALS
from .backends.core_counts import STEP_COUNT_BYTES, CorePlan, plan_core_counts
from .backends.results import RunResult
from .dialects import DIALECTS, DialectOptions
from .encoders import ENCODERS, EncodeRequest, InputBatch, encoder_spec, to_integer_input
from .encoders.random_spikes import DEFAULT_RATE
from .errors import UserError
from .frontends import LoadedModel, load
from .hardware.profile import HardwareProfile, load_profile
from .interrupts import deferred
from .ir.passes import CompiledNetwork, CompileOptions, compile_network
from .ir.stages import FloatGraph
from .limits import check_memory, format_bytes, memory_limit
from .reports.fidelity import comparison_windows
from .reports.overflow import MAX_CALIBRATION_SAMPLES
from .reports.render import render_json, render_mesh_png, render_png
from .reports.report import DRY_RUN, Report, ReportSources, build_report
from .training.step import FinetuneRequest, Tuned, finetune_model

CALIBRATIONS = ("worst-case", "data")
OVERFLOW_TARGET = "cpu"  # runs the calibration data with u and v recorded, for the overflow analysis
LAVA_TARGET = "loihi-sim"
OUTPUT_FILES = ("report.json", "report.png", "mesh.png", "spikes.npz", "finetuned.nir", "finetuned_state_dict.pt")


@dataclass
class DeployOptions:
    model: str | LoadedModel | None = None  # a model file, a loaded model, or None: the built-in demo
    target: str = "loihi-sim"  # a name in TARGETS, or "none": compile, map and report only
    profile: str = "loihi2"
    input: str | None = None  # a .npy file of encoded input: --encode file:path=FILE
    encode: str | None = None  # an encoder and its parameters, NAME:key=value,... (encoders/)
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


@dataclass
class DeployOutcome:
    report: Report
    files: dict[str, bytes]
    compiled: CompiledNetwork
    results: dict[str, RunResult] = field(default_factory=dict)

    @property
    def verify_failed(self) -> bool:
        return self.report.verify is not None and not self.report.verify["passed"]


def deploy(options: DeployOptions) -> DeployOutcome:
    _check_options(options)
    with memory_limit(options.memory_limit):
        return _deploy(options)


def _deploy(options: DeployOptions) -> DeployOutcome:
    plan = plan_deployment(options)
    timing: dict[str, float] = {}
    with _timed(timing, "load"):
        model, batch = _load(options)
    tuned = None
    if options.finetune_epochs:
        with _timed(timing, "finetune"):
            tuned = finetune_model(model, batch, plan.finetune_request())
        model = tuned.model
    calibration = _calibration_input(options, model.graph, batch)
    compiled = _compile(model.graph, batch, calibration, plan)
    timing.update(compiled.timing_s)
    results, overflow = _run(compiled, batch, calibration, plan, timing)
    report = build_report(ReportSources(
        compiled=compiled, target=options.target, results=results, input=batch.description, labels=batch.labels, input_notes=batch.notes,
        verify=plan.verify, overflow=overflow, overflow_source=options.calibration_data or "the run's input",
        settings=None if plan.dry_run else {"weight_scaling": options.weight_scaling, "calibration": options.calibration},
        finetuning=tuned.summary if tuned is not None else None, timing_s=timing,
    ))
    return DeployOutcome(report=report, files=_files(report, results.get(options.target), tuned, options.record), compiled=compiled, results=results)


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
    texts = {"--target": o.target, "--profile": o.profile, "--device": o.device, "--weight-scaling": o.weight_scaling, "--calibration": o.calibration}
    optional_texts = {"--input": o.input, "--encode": o.encode, "--calibration-data": o.calibration_data, "--finetune-data": o.finetune_data,
                      "--verify-against": o.verify_against, "model": o.model if not isinstance(o.model, (LoadedModel, Path)) else None}
    for flag, value in [*texts.items(), *optional_texts.items()]:
        if value is None and flag in optional_texts:
            continue
        if not isinstance(value, str) or not value or "\x00" in value:
            raise UserError(f"{flag} {value!r}: must be a non-empty text without NUL characters")


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

    @property
    def dry_run(self) -> bool:
        return self.options.target == DRY_RUN

    @property
    def dialect_options(self) -> DialectOptions:
        o = self.options
        return DialectOptions(reset=o.reset, reset_delay=o.reset_delay, min_v_mem=o.min_v_mem, norm_input=o.norm_input)

    def request(self, name: str, windows: dict, core_plan: CorePlan | None = None) -> RunRequest:
        """What run ``name`` records; the --target's run also counts every core's work per step
        (``core_plan``), from which the report estimates energy and time."""
        verified = self.verify is not None and name in self.verify
        return RunRequest(
            record_spikes=self.options.record or self.verify is not None, record_state=verified, windows=windows,
            progress=self.options.progress, device=self.options.device, per_core=self.options.per_core,
            core_plan=core_plan if name == self.options.target else None,
        )

    def finetune_request(self) -> FinetuneRequest:
        o = self.options
        return FinetuneRequest(epochs=o.finetune_epochs, data=o.finetune_data, learning_rate=o.finetune_learning_rate, profile=self.profile,
                               weight_scaling=o.weight_scaling, dt=o.dt, seed=o.seed)


def plan_deployment(options: DeployOptions) -> Plan:
    """The targets to run, with every option that concerns them checked before any work."""
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
    if options.calibration not in CALIBRATIONS:
        raise UserError(f"unknown calibration {options.calibration!r}: choose one of {', '.join(CALIBRATIONS)}")
    if options.dialect is not None and options.dialect not in DIALECTS:
        raise UserError(f"unknown dialect {options.dialect!r}: choose one of {', '.join(DIALECTS.names())}")
    DialectOptions(reset=options.reset, reset_delay=options.reset_delay, min_v_mem=options.min_v_mem, norm_input=options.norm_input)
    on_device = [name for name in TARGETS.names() if TARGETS.get(name).uses_device]
    if options.device != "cpu" and not set(pair) & set(on_device):
        raise UserError(f"--device {options.device} is the device of the targets that run on torch: use --target {' or '.join(on_device)}")
    if options.target == DRY_RUN:
        return Plan(options, load_profile(options.profile), (), None)
    plan = Plan(options, load_profile(options.profile), tuple(dict.fromkeys([*pair, "float"])), verify)  # float: the fidelity section's reference
    for name in pair:
        TARGETS.get(name).check(plan.request(name, {}))
    return plan


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
def _load(options: DeployOptions) -> tuple[LoadedModel, InputBatch]:
    """The model (with the data and module that come with it) and its encoded input."""
    chosen = _chosen_encoder(options)
    hint = chosen[0].shape_hint(chosen[1]) if chosen is not None and options.model is not None else None
    model = options.model if isinstance(options.model, LoadedModel) else load(
        options.model, options.input_shape or hint, keep_module=options.finetune_epochs > 0, seed=options.seed, trust_pickle=options.trust_pickle
    )
    encoder, params = chosen if chosen is not None else (ENCODERS.get(model.encoder or "random"), {})
    if encoder.name == "random":
        params = {"rate": options.rate, **params}
    request = EncodeRequest(shape=model.graph.input_shape, steps=options.steps, batch=options.batch, seed=options.seed, params=params, data=model.data)
    return model, encoder.encode(request)


def _chosen_encoder(options: DeployOptions):
    """(encoder, parameters) that --encode or --input choose, else None (the model's own, or random)."""
    if options.encode is not None:
        if options.input is not None:
            raise UserError("--input FILE is --encode file:path=FILE: give one of them")
        return encoder_spec(options.encode)
    if options.input is not None:
        return ENCODERS.get("file"), {"path": options.input}
    return None


def _calibration_input(options: DeployOptions, graph: FloatGraph, batch: InputBatch) -> InputBatch:
    """The calibration data: --calibration-data, else the run's own input."""
    if options.calibration_data is None:
        return batch
    return ENCODERS.get("file").encode(EncodeRequest(shape=graph.input_shape, seed=options.seed, params={"path": options.calibration_data}))


# --------------------------------------------------------------------------- compile and run
def _compile(graph: FloatGraph, batch: InputBatch, calibration: InputBatch, plan: Plan) -> CompiledNetwork:
    options = plan.options
    compile_options = CompileOptions(
        profile=plan.profile, dt=options.dt, input_encoding=batch.encoding, weight_scaling=options.weight_scaling,
        dialect=options.dialect, dialect_options=plan.dialect_options,
    )
    calibrate = float_calibration(calibration.values[:, :MAX_CALIBRATION_SAMPLES]) if options.calibration == "data" else None
    compiled = compile_network(graph, compile_options, calibrate)
    for name in plan.order:
        target = TARGETS.get(name)
        target.check_network(compiled.stage(target.stage))
    return compiled


def _run(compiled: CompiledNetwork, batch: InputBatch, calibration: InputBatch, plan: Plan, timing: dict[str, float]):
    """Every planned target on the stage it consumes (float input for the normalised stage, the
    chip's integers otherwise), then the overflow analysis's run; (results by target, that run)."""
    if plan.dry_run:
        return {}, None
    check_run_memory(compiled, batch, plan)
    integers = to_integer_input(batch, compiled.quantised)
    fixed_windows, float_windows = comparison_windows(compiled.quantised, batch.steps)
    core_plan = plan_core_counts(compiled.mapped)
    results: dict[str, RunResult] = {}
    for name in plan.order:
        target = TARGETS.get(name)
        inputs = batch.values if target.stage == "normalised" else integers
        with _timed(timing, f"run.{name}"):
            request = plan.request(name, float_windows if name == "float" else fixed_windows, core_plan)
            results[name] = _with_input_events(target.run(compiled.stage(target.stage), inputs, request), inputs)
    sample = integers if calibration is batch else to_integer_input(calibration, compiled.quantised)
    with _timed(timing, "run.overflow"):
        overflow = TARGETS.get(OVERFLOW_TARGET).run(compiled.quantised, sample[:, :MAX_CALIBRATION_SAMPLES], RunRequest(record_state=True))
    return results, overflow


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
    runs.append((OVERFLOW_TARGET, RunRequest(record_state=True), min(samples, MAX_CALIBRATION_SAMPLES)))
    for name, request, n_samples in runs:
        parts["parameters"] += float(synapses) * ENGINE_BYTES_PER_SYNAPSE
        parts["engine state"] += float(n_samples) * (neurons * STATE_BYTES_PER_NEURON + delays * 8)
        per_value = (1 if request.record_spikes else 0) + (8 if request.record_state else 0)
        if name == plan.options.target and name == LAVA_TARGET and not request.record_state:
            per_value += 4  # counting updated neurons reads back every layer's v from Lava
        parts["recordings"] += float(steps) * n_samples * neurons * per_value
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
def _files(report: Report, result: RunResult | None, tuned: Tuned | None, record: bool) -> dict[str, bytes]:
    files = {"report.json": render_json(report).encode()}
    if result is not None:
        files["report.png"] = render_png(report)
    files["mesh.png"] = render_mesh_png(report)
    if tuned is not None:
        files.update(tuned.files)
    if record and result is not None:
        files["spikes.npz"] = _spikes_npz(result)
    return files


def _spikes_npz(result: RunResult) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: raster for name, raster in result.rasters.items()})
    return buffer.getvalue()


def check_report_dir(directory: str | Path) -> None:
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
        _check_writable(path, path)
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
            os.mkdir(part)
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
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".neurodeploy-", dir=directory))
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


@contextmanager
def _locked(directory: Path):
    """An exclusive lock on the directory itself (flock on its descriptor): no lock file is left behind."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
