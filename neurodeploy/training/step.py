"""``--finetune``: the step between loading a model and compiling it.

Fine-tunes a copy of the loaded snnTorch module on labelled data (``--finetune-data``, or
the demo's own training split), and returns the fine-tuned model to deploy, the report's
``quantisation.finetuning`` entry and the re-exported files.
"""
from __future__ import annotations

import copy
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..encoders import InputBatch, encoding_of, to_integer_input
from ..encoders.demo import DigitsSplit
from ..errors import UserError
from ..frontends.model import LoadedModel
from ..hardware.profile import HardwareProfile
from ..ir.passes import CompileOptions, compile_network
from ..ir.stages import FloatGraph
from ..limits import check_memory


@dataclass(frozen=True)
class FinetuneRequest:
    epochs: int
    data: str | None  # .npz with "inputs" (steps, samples, *shape) and "labels"; None: the model's own training data (the demo's)
    learning_rate: float | None
    profile: HardwareProfile
    weight_scaling: str
    dt: float | None
    seed: int


@dataclass(frozen=True)
class Tuned:
    model: LoadedModel  # the fine-tuned model, to deploy
    summary: dict  # the report's quantisation.finetuning
    files: dict[str, bytes]  # finetuned.nir, finetuned_state_dict.pt


def finetune_model(model: LoadedModel, batch: InputBatch, request: FinetuneRequest) -> Tuned:
    """Quantisation-aware fine-tuning (``finetune.py``) of a copy of ``model``'s snnTorch module;
    ``batch`` is the deployment's input (with labels, it measures the accuracy before)."""
    from ..backends.cpu import run_cpu
    from ..backends.float_reference import run_float
    from ..frontends.snntorch_model import snntorch_to_float_graph
    from .finetune import FinetuneOptions, export_finetuned, finetune

    graph = model.graph
    if model.module is None:
        raise UserError(
            f"--finetune needs the snnTorch model (a .pt file saved with torch.save, or the built-in demo); "
            f"{graph.source} is a NIR file, which holds no trainable model"
        )
    module = copy.deepcopy(model.module)  # the caller's module stays as loaded
    inputs, labels, data_source = _training_data(model, request)
    shape = graph.input_shape
    kind = encoding_of(np.asarray(inputs)).kind
    if kind != batch.encoding.kind:
        raise UserError(
            f"--finetune-data holds {kind} input but the run's input is {batch.encoding.kind}: "
            "train and deploy on the same kind of input (0/1 spikes, or graded values)"
        )
    fine = FinetuneOptions(epochs=request.epochs, profile=request.profile, weight_scaling=request.weight_scaling, dt=request.dt, seed=request.seed)
    if request.learning_rate is not None:
        fine.learning_rate = request.learning_rate
    before = None
    if batch.labels is not None:  # accuracy on the deployed input before fine-tuning, float and fixed point
        compiled = compile_network(
            graph, CompileOptions(profile=request.profile, dt=request.dt, input_encoding=batch.encoding, weight_scaling=request.weight_scaling)
        )
        fixed = run_cpu(compiled.quantised, to_integer_input(batch, compiled.quantised))
        exact = run_float(compiled.normalised, batch.values)
        before = {name: float(np.mean(r.predictions() == batch.labels)) for name, r in (("float", exact), ("fixed_point", fixed))}
    result = finetune(module, inputs, labels, fine, input_shape=shape, encoding=batch.encoding)
    tuned = snntorch_to_float_graph(module, input_shape=shape, source=f"{graph.source}, fine-tuned")
    tuned = FloatGraph(graph=tuned.graph, source=tuned.source, format=graph.format, fixes=graph.fixes, notes=tuned.notes)
    summary = {
        "data": data_source,
        "samples": int(labels.shape[0]),
        "learning_rate": fine.learning_rate,
        "accuracy_before": before,
        **result.summary(),
        "files": ["finetuned.nir", "finetuned_state_dict.pt"],
    }
    return Tuned(replace(model, graph=tuned, module=module), summary, export_finetuned(module, shape))


def _training_data(model: LoadedModel, request: FinetuneRequest) -> tuple[np.ndarray, np.ndarray, str]:
    if request.data is None:
        if not isinstance(model.data, DigitsSplit):
            raise UserError("--finetune needs labelled training data: --finetune-data FILE.npz with arrays 'inputs' and 'labels'")
        from ..frontends.demo import training_spikes

        inputs, labels = training_spikes(request.seed)
        return inputs, labels, "scikit-learn digits training split (the demo's), rate-coded"
    path = Path(request.data)
    if not path.is_file():
        raise UserError(f"--finetune-data {path}: no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        declared = 0  # not a .npz: np.load says so below
    check_memory(declared, f"--finetune-data {path} (declared array sizes)", "use less training data")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"inputs", "labels"} - set(data.files)
            if missing:
                raise UserError(f"--finetune-data {path}: missing array(s) {', '.join(sorted(missing))} (needs 'inputs' and 'labels')")
            inputs, labels = np.asarray(data["inputs"]), np.asarray(data["labels"])
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input error
        raise UserError(f"--finetune-data {path}: not a .npz file ({type(exc).__name__}: {exc})") from None
    if inputs.dtype.kind not in "biuf" or labels.dtype.kind not in "biuf":
        raise UserError(f"--finetune-data {path}: 'inputs' and 'labels' must hold numbers, got dtypes {inputs.dtype} and {labels.dtype}")
    if inputs.ndim < 3 or inputs.shape[0] == 0 or inputs.shape[1] == 0:
        raise UserError(f"--finetune-data {path}: 'inputs' has shape {list(inputs.shape)}; expected (steps, samples, *input_shape) "
                        "with at least one step and one sample")
    return inputs, labels, str(path)
