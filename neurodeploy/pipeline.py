"""One deployment, end to end: load -> compile -> run -> report (the API behind deploy.py).

    outcome = deploy(DeployOptions(model="net.nir", target="cpu"))
    write_outputs(outcome.files, "report")

Nothing is written until every stage has succeeded; ``write_outputs`` then replaces
the output files in one go, so a failed run leaves no half-written report behind.
"""
from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backends import TARGETS, RunRequest, bit_exact_targets
from .backends.calibration import float_calibration
from .backends.results import RunResult
from .errors import UserError
from .encoders import ENCODERS, EncodeRequest, InputBatch, encoder_spec, encoding_of, to_integer_input
from .encoders.random_spikes import DEFAULT_RATE
from .frontends import LoadedModel, load
from .ir.passes import CompiledNetwork, CompileOptions, compile_network
from .hardware.profile import load_profile
from .ir.stages import FloatGraph
from .reports.fidelity import comparison_windows
from .reports.overflow import MAX_CALIBRATION_SAMPLES
from .reports.render import render_json, render_mesh_png, render_png
from .reports.report import Report, build_report
from .backends.compare import compare_runs

CALIBRATIONS = ("worst-case", "data")
DRY_RUN = "none"  # --target none: compile, map and report; run nothing
OUTPUT_FILES = ("report.json", "report.png", "mesh.png", "spikes.npz", "finetuned.nir", "finetuned_state_dict.pt")


@dataclass
class DeployOptions:
    model: str | LoadedModel | None = None  # a model file, a loaded model, or None: the built-in demo
    target: str = "loihi-sim"
    profile: str = "loihi2"
    input: str | None = None  # a .npy file of encoded input: --encode file:path=FILE
    encode: str | None = None  # an encoder and its parameters, NAME:key=value,... (encoders/)
    steps: int | None = None
    batch: int | None = None
    seed: int = 0
    rate: float = DEFAULT_RATE
    dt: float | None = None
    input_shape: tuple[int, ...] | None = None  # for snnTorch models whose input size cannot be inferred
    record: bool = False
    verify: bool = False
    weight_scaling: str = "channel"  # or "layer": one state scale per layer
    calibration_data: str | None = None  # .npy input for calibration and the overflow analysis (default: the run's input)
    calibration: str = "worst-case"  # or "data": scales from the ranges u and v reach on the calibration data
    per_core: bool = False  # loihi-sim: one Lava process per mapped layer slice (core), as on the chip
    finetune_epochs: int = 0  # > 0: quantisation-aware fine-tuning of the snnTorch model first (finetune.py)
    finetune_data: str | None = None  # .npz with "inputs" (steps, samples, *shape) and "labels"; the demo's own training split by default
    finetune_learning_rate: float | None = None
    verify_against: str | None = None  # --verify's second bit-exact target (implies verify); default: loihi-sim, or cpu against loihi-sim
    device: str = "cpu"  # torch device of targets that run on torch (--target torch), e.g. "cuda"
    progress: bool = False


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
    plan = _plan_runs(options)
    if options.finetune_epochs < 0:
        raise UserError(f"--finetune {options.finetune_epochs}: the number of epochs must be positive")
    if options.finetune_epochs and options.target == DRY_RUN:
        raise UserError("--finetune trains through the fixed-point forward pass before a run: use it with --target loihi-sim, cpu or float")
    timing: dict[str, float] = {}
    profile = load_profile(options.profile)

    start = time.perf_counter()
    float_graph, batch, module = _load(options)
    timing["load"] = time.perf_counter() - start
    finetuning, finetuned_files = None, {}
    if options.finetune_epochs:
        start = time.perf_counter()
        float_graph, finetuning, finetuned_files = _finetune(options, profile, float_graph, batch, module)
        timing["finetune"] = time.perf_counter() - start

    calibration = _calibration_batch(options, float_graph, batch)
    compile_options = CompileOptions(profile=profile, dt=options.dt, input_encoding=batch.encoding, weight_scaling=options.weight_scaling)
    calibrate = float_calibration(calibration.values[:, :MAX_CALIBRATION_SAMPLES]) if options.calibration == "data" else None
    compiled = compile_network(float_graph, compile_options, calibrate)
    timing.update(compiled.timing_s)
    if options.target == DRY_RUN:
        return _dry_run(compiled, batch, timing)
    targets = plan.order
    for name in targets:
        target = TARGETS.get(name)
        target.check_network(compiled.stage(target.stage))

    results: dict[str, RunResult] = {}
    integers = to_integer_input(batch, compiled.quantised)
    fixed_windows, float_windows = comparison_windows(compiled.quantised, batch.steps)
    for name in targets:
        target = TARGETS.get(name)
        start = time.perf_counter()
        request = plan.request(name, float_windows if name == "float" else fixed_windows)
        inputs = batch.values if target.stage == "normalised" else integers
        results[name] = target.run(compiled.stage(target.stage), inputs, request)
        timing[f"run.{name}"] = time.perf_counter() - start

    overflow, overflow_warnings = _overflow(compiled, batch, integers, options)
    verify = compare_runs(results[plan.verify[0]], results[plan.verify[1]], [l.name for l in compiled.quantised.layers]) if plan.verify else None
    accuracy = None
    if batch.labels is not None:
        accuracy = {name: float(np.mean(results[name].predictions() == batch.labels)) for name in ("float", *targets) if name in results}
        accuracy = {k: accuracy[k] for k in dict.fromkeys(["float", options.target, *targets]) if k in accuracy}

    start = time.perf_counter()
    report = build_report(
        compiled, results[options.target], batch.description, timing, accuracy, verify, batch.notes + overflow_warnings, results["float"]
    )
    report.quantisation = {"weight_scaling": options.weight_scaling, "calibration": options.calibration, "overflow": overflow}
    if finetuning is not None:
        report.quantisation["finetuning"] = finetuning
    files = {"report.json": b"", "report.png": render_png(report), "mesh.png": render_mesh_png(report), **finetuned_files}
    if options.record:
        files["spikes.npz"] = _spikes_npz(results[options.target])
    timing["report"] = time.perf_counter() - start
    report.timing_s = dict(timing)
    files["report.json"] = render_json(report).encode()
    return DeployOutcome(report=report, files=files, compiled=compiled, results=results)


@dataclass(frozen=True)
class _RunPlan:
    """The targets one deployment runs, in order, and what each is asked for."""

    order: tuple[str, ...]  # --target, --verify's second target, then the float reference
    verify: tuple[str, str] | None  # (reference, candidate) compared bit for bit
    options: DeployOptions

    def request(self, name: str, windows: dict) -> RunRequest:
        verified = self.verify is not None and name in self.verify
        return RunRequest(
            record_spikes=self.options.record or self.verify is not None, record_state=verified, windows=windows,
            progress=self.options.progress, device=self.options.device, per_core=self.options.per_core,
        )


def _plan_runs(options: DeployOptions) -> _RunPlan:
    """The targets to run, with every option that concerns them checked before any work."""
    if options.target != DRY_RUN and options.target not in TARGETS:
        raise UserError(f"unknown target {options.target!r}: choose one of {', '.join(TARGETS.names())}, {DRY_RUN}")
    verify = None
    pair = [options.target]
    if options.verify or options.verify_against is not None:
        exact = bit_exact_targets()
        if options.target not in exact:
            raise UserError(f"--verify compares two bit-exact targets ({', '.join(exact)}): --target {options.target} is not one")
        partner = options.verify_against or ("cpu" if options.target == "loihi-sim" else "loihi-sim")
        if partner not in exact or partner == options.target:
            raise UserError(f"--verify-against {partner}: choose another bit-exact target than --target {options.target} ({', '.join(exact)})")
        pair.append(partner)
        # Lava's simulator is the reference whenever it takes part: the others are proven against it
        reference = "loihi-sim" if "loihi-sim" in pair else partner
        verify = (reference, next(name for name in pair if name != reference))
    if options.per_core and "loihi-sim" not in pair:
        raise UserError("--per-core builds the Lava network core by core: use it with --target loihi-sim (or --verify)")
    if options.target == DRY_RUN:
        return _RunPlan((), None, options)
    using_device = [name for name in TARGETS.names() if TARGETS.get(name).uses_device]
    if options.device != "cpu" and not any(TARGETS.get(name).uses_device for name in pair):
        raise UserError(f"--device {options.device} is the device of the targets that run on torch: use --target {' or '.join(using_device)}")
    plan = _RunPlan(tuple(dict.fromkeys([*pair, "float"])), verify, options)  # float: the reference of the fidelity section (and float accuracy)
    for name in pair:
        TARGETS.get(name).check(plan.request(name, {}))
    return plan


def _finetune(options: DeployOptions, profile, graph: FloatGraph, batch: InputBatch, module) -> tuple[FloatGraph, dict, dict[str, bytes]]:
    """Quantisation-aware fine-tuning (finetune.py) of the snnTorch model, on --finetune-data
    (or the demo's training split); returns the fine-tuned graph, the report's
    ``quantisation.finetuning`` entry and the re-exported files."""
    from .backends.cpu import run_cpu
    from .backends.float_reference import run_float
    from .finetune import FinetuneOptions, export_finetuned, finetune
    from .frontends.snntorch_model import snntorch_to_float_graph

    if module is None:
        raise UserError(
            f"--finetune needs the snnTorch model (a .pt file saved with torch.save, or the built-in demo); "
            f"{options.model} is a NIR file, which holds no trainable model"
        )
    inputs, labels, data_source = _finetune_data(options)
    shape = graph_input_shape(graph)
    kind = encoding_of(np.asarray(inputs)).kind
    if kind != batch.encoding.kind:
        raise UserError(
            f"--finetune-data holds {kind} input but the run's input is {batch.encoding.kind}: "
            "train and deploy on the same kind of input (0/1 spikes, or graded values)"
        )
    fine = FinetuneOptions(epochs=options.finetune_epochs, profile=profile, weight_scaling=options.weight_scaling, dt=options.dt, seed=options.seed)
    if options.finetune_learning_rate is not None:
        fine.learning_rate = options.finetune_learning_rate
    before = None
    if batch.labels is not None:  # accuracy on the deployed input before fine-tuning, float and fixed point
        compiled = compile_network(graph, CompileOptions(profile=profile, dt=options.dt, input_encoding=batch.encoding, weight_scaling=options.weight_scaling))
        fixed = run_cpu(compiled.quantised, to_integer_input(batch, compiled.quantised))
        exact = run_float(compiled.normalised, batch.values)
        before = {name: float(np.mean(r.predictions() == batch.labels)) for name, r in (("float", exact), ("fixed_point", fixed))}
    result = finetune(module, inputs, labels, fine, input_shape=shape, encoding=batch.encoding)
    tuned = snntorch_to_float_graph(module, input_shape=shape, source=f"{graph.source}, fine-tuned")
    tuned = FloatGraph(graph=tuned.graph, source=tuned.source, format=graph.format, fixes=graph.fixes, notes=tuned.notes)
    entry = {
        "data": data_source,
        "samples": int(labels.shape[0]),
        "learning_rate": fine.learning_rate,
        "accuracy_before": before,
        **result.summary(),
        "files": ["finetuned.nir", "finetuned_state_dict.pt"],
    }
    return tuned, entry, export_finetuned(module, shape)


def _finetune_data(options: DeployOptions) -> tuple[np.ndarray, np.ndarray, str]:
    if options.finetune_data is None:
        if options.model is not None:
            raise UserError("--finetune needs labelled training data: --finetune-data FILE.npz with arrays 'inputs' and 'labels'")
        from .frontends.demo import training_spikes

        inputs, labels = training_spikes(options.seed)
        return inputs, labels, "scikit-learn digits training split (the demo's), rate-coded"
    path = Path(options.finetune_data)
    if not path.is_file():
        raise UserError(f"--finetune-data {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"inputs", "labels"} - set(data.files)
            if missing:
                raise UserError(f"--finetune-data {path}: missing array(s) {', '.join(sorted(missing))} (needs 'inputs' and 'labels')")
            return np.asarray(data["inputs"]), np.asarray(data["labels"]), str(path)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input error
        raise UserError(f"--finetune-data {path}: not a .npz file ({type(exc).__name__}: {exc})") from None


def _calibration_batch(options: DeployOptions, graph: FloatGraph, batch: InputBatch) -> InputBatch:
    """The calibration data: --calibration-data, else the run's own input."""
    if options.calibration not in CALIBRATIONS:
        raise UserError(f"unknown calibration {options.calibration!r}: choose one of {', '.join(CALIBRATIONS)}")
    if options.calibration_data is None:
        return batch
    return ENCODERS.get("file").encode(EncodeRequest(shape=graph_input_shape(graph), seed=options.seed, params={"path": options.calibration_data}))


def _overflow(compiled: CompiledNetwork, batch: InputBatch, integers: np.ndarray, options: DeployOptions) -> tuple[dict, list[str]]:
    """Overflow analysis on the calibration data (--calibration-data, else the run's input)."""
    from .reports.overflow import overflow_analysis

    if options.calibration_data is None:
        return overflow_analysis(compiled.quantised, integers, "the run's input")
    calibration = _calibration_batch(options, compiled.float_graph, batch)
    return overflow_analysis(compiled.quantised, to_integer_input(calibration, compiled.quantised), options.calibration_data)


def _dry_run(compiled: CompiledNetwork, batch: InputBatch, timing: dict[str, float]) -> DeployOutcome:
    """--target none: the compiled, mapped network's report, with no run (activity is null)."""
    start = time.perf_counter()
    report = build_report(compiled, None, batch.description, timing, extra_notes=batch.notes)
    files = {"report.json": b"", "mesh.png": render_mesh_png(report)}
    timing["report"] = time.perf_counter() - start
    report.timing_s = dict(timing)
    files["report.json"] = render_json(report).encode()
    return DeployOutcome(report=report, files=files, compiled=compiled)


def _load(options: DeployOptions) -> tuple[FloatGraph, InputBatch, object]:
    """The model's graph, its encoded input, and (for --finetune) the snnTorch module, else None."""
    chosen = _chosen_encoder(options)
    hint = chosen[0].shape_hint(chosen[1]) if chosen is not None and options.model is not None else None
    model = options.model if isinstance(options.model, LoadedModel) else load(
        options.model, options.input_shape or hint, keep_module=options.finetune_epochs > 0, seed=options.seed
    )
    if chosen is None:
        chosen = (ENCODERS.get(model.encoder), {}) if model.encoder else (ENCODERS.get("random"), {})
    encoder, params = chosen
    if encoder.name == "random":
        params = {"rate": options.rate, **params}
    request = EncodeRequest(shape=graph_input_shape(model.graph), steps=options.steps, batch=options.batch, seed=options.seed, params=params, data=model.data)
    return model.graph, encoder.encode(request), model.module


def _chosen_encoder(options: DeployOptions):
    """(encoder, parameters) that --encode or --input choose, else None (the model's own, or random)."""
    if options.encode is not None:
        if options.input is not None:
            raise UserError("--input FILE is --encode file:path=FILE: give one of them")
        return encoder_spec(options.encode)
    if options.input is not None:
        return ENCODERS.get("file"), {"path": options.input}
    return None


def graph_input_shape(graph: FloatGraph) -> tuple[int, ...]:
    import nir

    inputs = [node for node in graph.graph.nodes.values() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        from .errors import UnsupportedModelError

        raise UnsupportedModelError(f"{graph.source}: the graph has {len(inputs)} Input nodes; exactly one is supported")
    return tuple(int(x) for x in np.asarray(inputs[0].input_type["input"]).reshape(-1))


def _spikes_npz(result: RunResult) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: raster for name, raster in result.rasters.items()})
    return buffer.getvalue()


def write_outputs(files: dict[str, bytes], directory: str | Path) -> list[Path]:
    """Write every file (temp file + rename), and remove outputs of earlier runs this run did not produce."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"--report-dir {directory}: exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    staged = []
    for name, data in files.items():
        tmp = directory / f".{name}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        staged.append((tmp, directory / name))
    for tmp, final in staged:
        os.replace(tmp, final)
    for name in OUTPUT_FILES:
        if name not in files and (directory / name).exists():
            (directory / name).unlink()
    return [final for _, final in staged]

