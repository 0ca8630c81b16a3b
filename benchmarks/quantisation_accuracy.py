"""Float vs fixed-point accuracy of three small trained snnTorch networks.

    python benchmarks/quantisation_accuracy.py                       # mlp, cnn, rnn (about 2.5 minutes on 2 cores)
    python benchmarks/quantisation_accuracy.py --tasks rnn --epochs rnn=20
    python benchmarks/quantisation_accuracy.py --no-data-calibration # skip the --calibration data variant

Each task trains a network in float (snnTorch, surrogate gradients, seeded), converts it with
neurodeploy's snnTorch frontend and compiles it for the loihi2 profile exactly as
``pipeline.deploy`` does (``weight_scaling="channel"``, the input encoding of the test batch,
``comparison_windows``), then runs the held-out test split on the float reference
(``run_float``) and on the bit-exact CPU backend (``run_cpu``; bit-exact with Lava).
Accuracy is ``mean(result.predictions() == labels)``, the figure ``deploy.py`` reports.

    mlp  scikit-learn digits, the built-in demo (``neurodeploy.frontends.demo``): 64-64-10 ``snn.Leaky``,
         rate-coded spikes (P(spike) = pixel / 16), 20 steps. Target: |fixed - float| <= 0.5 pt
    cnn  scikit-learn digits as 1x8x8 images, the same rate code: conv 1->8 (3x3) -> LIF ->
         avg pool 2 -> conv 8->16 (3x3) -> LIF -> avg pool 2 -> dense 64->10 -> LIF.
         Target: <= 1 pt
    rnn  MNIST-1D (``mnist1d``, generated offline): the 40 positions are 40 time steps of one
         graded (real-valued) input, 8-bit graded spikes on the chip: dense 1->64 (no bias) ->
         ``snn.RSynaptic`` (all-to-all recurrence, no bias, per-neuron learnt decays in
         [0.5, 0.9]) -> dense 64->10 -> LIF; trained with input noise. Target: <= 1 pt

Per task the JSON holds ``without_finetuning`` ({float, fixed, delta_pt, agreement}: worst-case
calibration, the deploy.py default; agreement: the share of test samples whose fixed-point
and float predictions are the same, which bounds how far delta_pt can be trusted),
``data_calibration`` (the same with
``calibrate=float_calibration(...)`` on the first 64 training samples, i.e. ``--calibration data`` with
held-out calibration data), the snnTorch model's own accuracy, the compiler's notes and the
overflow analysis (u wraps / v saturations on 64 test samples).

``with_finetuning`` (same keys): a copy of each trained model fine-tuned by
``neurodeploy.training.finetune`` (what ``deploy.py --finetune`` runs: the exact fixed-point forward
pass with straight-through gradients) on the task's training split (--finetune-epochs,
--finetune-samples; --no-finetune skips it), evaluated the same way.
Torch trains on --threads threads (default 1: faster than 2 for these small models).
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's neurodeploy, installed or not
TASKS = ("mlp", "cnn", "rnn")
TARGET_PT = {"mlp": 0.5, "cnn": 1.0, "rnn": 1.0}  # largest |fixed - float| the issue accepts, in points
PROFILE = "loihi2"
CALIBRATION_SAMPLES = 64  # = reports.overflow.MAX_CALIBRATION_SAMPLES, what pipeline.deploy passes
FINETUNE_EPOCHS = 3
SUMMARY = ("float", "fixed", "delta_pt", "agreement")  # the keys of without_finetuning / with_finetuning
TORCH_THREADS: int | None = None  # set by --threads; re-applied before every training (see pin_torch_threads)

# cnn: digits as 1x8x8 rate-coded spike images
CNN_EPOCHS = 15
CNN_LR = 5e-3
CNN_BATCH = 64
CNN_BETA = 0.9

# rnn: MNIST-1D, one graded input per step; per-neuron decays, trained with the weights.
# Choices made for deployment, each from a measured problem (see build_rnn):
RNN_EPOCHS = 30
RNN_LR = 5e-3
RNN_BATCH = 64
RNN_HIDDEN = 64
RNN_ALPHA_RANGE = (0.6, 0.9)  # initial alpha per neuron, uniform (learn_alpha=True)
RNN_BETA_RANGE = (0.7, 0.9)  # initial beta per neuron, uniform (learn_beta=True)
RNN_OUT_BETA = 0.9
DECAY_MIN, DECAY_MAX = 0.5, 0.9  # learnt alpha / beta are clamped into this range after every step
RNN_INPUT_BIAS = False  # no Affine bias into the CubaLIF layer (neither from the input nor the recurrence)
RNN_RECURRENT_BIAS = False
RNN_TRAIN_NOISE = 0.1  # std of Gaussian noise added to the training input (x has std ~1)
GRAD_CLIP = 1.0  # cnn and rnn: gradient-norm clipping; the learning rate follows a cosine schedule


@dataclass
class Task:
    """A trained model and its data, all inputs as (steps, batch, *input_shape)."""

    name: str
    model: object  # torch nn.Module, eval mode
    input_shape: tuple[int, ...]
    encoding: str  # "spikes" or "graded"
    train_inputs: np.ndarray
    train_labels: np.ndarray
    test_inputs: np.ndarray
    test_labels: np.ndarray
    description: str
    train_s: float = 0.0
    info: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- training
def seed_everything(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pin_torch_threads() -> None:
    """Re-apply --threads: the first ``run_cpu`` call (numba's parallel kernel on the OpenMP
    threading layer) resets the OpenMP thread count that torch shares, to every core."""
    import torch

    if TORCH_THREADS is not None:
        torch.set_num_threads(TORCH_THREADS)


def reset_states(model) -> None:
    """Zero (and detach) every neuron's state, spk included. ``snntorch.utils.reset`` (used by
    ``neurodeploy.frontends.demo.spike_counts``) leaves ``RSynaptic.spk`` alone, so the recurrent input of
    a new batch's first step would be the last batch's spikes (and still attached to its graph)."""
    import snntorch as snn

    for module in model.modules():
        if isinstance(module, snn.SpikingNeuron) and hasattr(module, "reset_mem"):
            module.reset_mem()


def spike_counts(model, inputs):
    """Output spike counts of an init_hidden model over inputs (steps, batch, *shape)."""
    reset_states(model)
    total = 0
    for t in range(inputs.shape[0]):
        spk, _ = model(inputs[t])
        total = total + spk
    return total


def constrain_decays(model) -> None:
    """Clamp learnt alpha / beta (parameters, not buffers) into [DECAY_MIN, DECAY_MAX]."""
    import torch

    with torch.no_grad():
        for module in model.modules():
            for name in ("alpha", "beta"):
                value = getattr(module, name, None)
                if isinstance(value, torch.nn.Parameter):
                    value.clamp_(DECAY_MIN, DECAY_MAX)


def train_spike_count_model(model, make_batch, labels: np.ndarray, epochs: int, lr: float, batch: int, rng) -> None:
    """Adam on cross-entropy of the output spike counts (as the demo trains), with gradient
    clipping and a cosine learning-rate schedule.
    ``make_batch(idx)`` gives the float input (steps, len(idx), *shape) of those training samples."""
    import torch

    pin_torch_threads()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(epochs, 1))
    loss_fn = torch.nn.CrossEntropyLoss()
    targets = torch.as_tensor(labels)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(labels))
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            loss = loss_fn(spike_counts(model, torch.as_tensor(make_batch(idx))), targets[idx])
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
            optimiser.step()
            constrain_decays(model)
        schedule.step()
    reset_states(model)  # no state tensors left attached to the last batch's graph (deepcopy refuses those)
    model.eval()


def snntorch_accuracy(model, inputs: np.ndarray, labels: np.ndarray) -> float:
    """The float snnTorch model itself (most output spikes; ties to the lowest class)."""
    import torch

    with torch.no_grad():
        counts = spike_counts(model, torch.as_tensor(inputs, dtype=torch.float32))
    return float(np.mean(counts.argmax(1).numpy() == labels))


def mlp_task(seed: int, epochs: int | None = None) -> Task:
    """The built-in demo, trained by ``neurodeploy.frontends.demo.train``; the test spikes are drawn as
    the ``demo`` encoder draws them, so the numbers are those of ``deploy.py --target cpu``."""
    from neurodeploy.frontends import demo

    start = time.perf_counter()
    model, x_test, y_test = demo.train(seed, demo.EPOCHS if epochs is None else epochs)
    train_s = time.perf_counter() - start
    test = demo.rate_code(x_test, demo.STEPS, np.random.default_rng(seed + 1)).astype(np.uint8)
    train, y_train = demo.training_spikes(seed)
    return Task(
        "mlp", model, (64,), "spikes", train, np.asarray(y_train), test, np.asarray(y_test),
        f"digits 64-{demo.HIDDEN}-10 Leaky, rate-coded, {demo.STEPS} steps (neurodeploy.frontends.demo)", train_s,
        {"epochs": demo.EPOCHS if epochs is None else epochs},
    )


def build_cnn():
    import snntorch as snn
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        snn.Leaky(beta=CNN_BETA, init_hidden=True),
        nn.AvgPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        snn.Leaky(beta=CNN_BETA, init_hidden=True),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 2 * 2, 10),
        snn.Leaky(beta=CNN_BETA, init_hidden=True, output=True),
    )


def cnn_task(seed: int, epochs: int | None = None) -> Task:
    from neurodeploy.frontends import demo

    epochs = CNN_EPOCHS if epochs is None else epochs
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    x_train, x_test, y_train, y_test = demo.digits_rates(seed)
    steps, shape = demo.STEPS, (1, 8, 8)

    def images(rates, generator):
        spikes = demo.rate_code(rates, steps, generator)
        return spikes.reshape(steps, len(rates), *shape)

    start = time.perf_counter()
    model = build_cnn()
    train_spike_count_model(model, lambda idx: images(x_train[idx], rng), np.asarray(y_train), epochs, CNN_LR, CNN_BATCH, rng)
    train_s = time.perf_counter() - start
    test = images(x_test, np.random.default_rng(seed + 1)).astype(np.uint8)
    train = images(x_train, np.random.default_rng(seed + 2)).astype(np.uint8)
    return Task(
        "cnn", model, shape, "spikes", train, np.asarray(y_train), test, np.asarray(y_test),
        f"digits 1x8x8, conv8-pool-conv16-pool-dense10 Leaky, rate-coded, {steps} steps", train_s, {"epochs": epochs},
    )


def build_rnn():
    """1 -> 64 RSynaptic (all-to-all recurrence) -> 10 Leaky, tuned for deployment:

    - per-neuron decays learnt with the weights: with one shared alpha / beta the network
      stayed below 50 % on MNIST-1D in the same training time (about 72 % with them);
    - learnt decays clamped to [0.5, 0.9]: unclamped, alpha and beta drifted to ~1.0 for a few
      neurons, whose worst-case current (x 1 / (1 - alpha)) and folded bias forced the whole
      layer to the smallest state scale (threshold mantissas 1..12; fixed point 31 % against
      64 % float); and near beta = 0, snnTorch's delayed subtractive reset (thr / beta) has no
      Loihi equivalent (neurodeploy refuses beta = 0). ``reset_delay=False`` would avoid the
      latter, but snnTorch 1.0.0's RSynaptic crashes with it under init_hidden;
    - no bias on the input Linear nor on the recurrent Linear: a constant current into a
      CubaLIF is applied on Loihi as its steady-state bias on v, which differs from the float
      model for the first ~1 / (1 - alpha) steps of every sample (a large share of 40)."""
    import snntorch as snn
    import torch
    from torch import nn

    def uniform(low, high):
        return torch.rand(RNN_HIDDEN) * (high - low) + low

    model = nn.Sequential(
        nn.Linear(1, RNN_HIDDEN, bias=RNN_INPUT_BIAS),
        snn.RSynaptic(
            alpha=uniform(*RNN_ALPHA_RANGE), beta=uniform(*RNN_BETA_RANGE), learn_alpha=True, learn_beta=True,
            linear_features=RNN_HIDDEN, all_to_all=True, init_hidden=True,
        ),
        nn.Linear(RNN_HIDDEN, 10),
        snn.Leaky(beta=RNN_OUT_BETA, init_hidden=True, output=True),
    )
    if not RNN_RECURRENT_BIAS:
        model[1].recurrent.bias = None  # RSynaptic has no argument for it
    return model


def mnist1d_sequences(seed: int):
    """(x_train, x_test, y_train, y_test); x as (40 steps, samples, 1) float32."""
    from mnist1d.data import get_dataset_args, make_dataset

    data = make_dataset(get_dataset_args())  # generated from templates (seed 42), no download

    def seq(x):
        return np.ascontiguousarray(np.asarray(x, np.float32).T[:, :, None])

    return seq(data["x"]), seq(data["x_test"]), np.asarray(data["y"]), np.asarray(data["y_test"])


def rnn_task(seed: int, epochs: int | None = None) -> Task:
    epochs = RNN_EPOCHS if epochs is None else epochs
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    x_train, x_test, y_train, y_test = mnist1d_sequences(seed)
    start = time.perf_counter()
    model = build_rnn()

    def batch(idx):  # optional Gaussian input noise: robustness to the 8-bit rounding of graded input
        x = x_train[:, idx]
        return x + (RNN_TRAIN_NOISE * rng.standard_normal(x.shape)).astype(np.float32) if RNN_TRAIN_NOISE else x

    train_spike_count_model(model, batch, y_train, epochs, RNN_LR, RNN_BATCH, rng)
    train_s = time.perf_counter() - start
    return Task(
        "rnn", model, (1,), "graded", x_train, y_train, x_test, y_test,
        f"MNIST-1D, 40 steps of 1 graded input, 1-{RNN_HIDDEN}(RSynaptic, recurrent, learnt per-neuron decays)-10 Leaky", train_s, {"epochs": epochs},
    )


BUILDERS = {"mlp": mlp_task, "cnn": cnn_task, "rnn": rnn_task}


# --------------------------------------------------------------------------- evaluation
def evaluate(model, inputs: np.ndarray, labels: np.ndarray, input_shape: tuple[int, ...],
             calibration: np.ndarray | None = None, overflow: bool = True) -> dict:
    """Compile ``model`` as ``pipeline.deploy`` does and run ``inputs`` (steps, batch, *shape) on
    the float reference and the bit-exact CPU backend. ``calibration``: float inputs for
    ``float_calibration`` (``--calibration data``); None: worst-case scales."""
    from neurodeploy.backends.calibration import float_calibration
    from neurodeploy.backends.cpu import run_cpu
    from neurodeploy.backends.float_reference import run_float
    from neurodeploy.encoders import InputBatch, encoding_of, to_integer_input
    from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph
    from neurodeploy.hardware.profile import load_profile
    from neurodeploy.ir.passes import CompileOptions, compile_network
    from neurodeploy.reports.fidelity import comparison_windows
    from neurodeploy.reports.overflow import MAX_CALIBRATION_SAMPLES, overflow_section

    start = time.perf_counter()
    steps, batch = inputs.shape[:2]
    values = inputs.reshape(steps, batch, -1)  # neurodeploy's layout: (steps, batch, n_inputs), C order
    encoding = encoding_of(values)  # as load_input_file: 0/1 values are spikes, anything else graded
    values = values.astype(np.uint8) if encoding.kind == "spikes" else values.astype(np.float64)
    batch_in = InputBatch(values=values, encoding=encoding, description={"source": "benchmark"}, labels=np.asarray(labels))
    reset_states(model)
    graph = snntorch_to_float_graph(copy.deepcopy(model), input_shape=input_shape)
    cal = None if calibration is None else calibration.reshape(calibration.shape[0], calibration.shape[1], -1)[:, :CALIBRATION_SAMPLES]
    compiled = compile_network(graph, CompileOptions(
        profile=load_profile(PROFILE), input_encoding=batch_in.encoding, weight_scaling="channel",
    ), calibrate=None if cal is None else float_calibration(cal))
    integers = to_integer_input(batch_in, compiled.quantised)
    fixed_windows, float_windows = comparison_windows(compiled.quantised, batch_in.steps)
    fixed = run_cpu(compiled.quantised, integers, windows=fixed_windows)
    exact = run_float(compiled.normalised, batch_in.values, windows=float_windows)
    acc_float = float(np.mean(exact.predictions() == batch_in.labels))
    acc_fixed = float(np.mean(fixed.predictions() == batch_in.labels))
    result = {
        "float": acc_float,
        "fixed": acc_fixed,
        "delta_pt": round(100.0 * (acc_fixed - acc_float), 3),
        "agreement": float(np.mean(exact.predictions() == fixed.predictions())),
        "output_spikes": {"float": int(exact.layers[exact.output_layer].spikes), "fixed": int(fixed.layers[fixed.output_layer].spikes)},
        "notes": list(graph.notes) + list(compiled.quantised.notes),
    }
    if overflow:
        run = run_cpu(compiled.quantised, integers[:, :MAX_CALIBRATION_SAMPLES], record_state=True)
        section, warnings = overflow_section(compiled.quantised, run, "test split")
        result["overflow"] = {name: {k: entry[k] for k in ("u_wrap", "v_saturate", "u_peak", "v_peak")} for name, entry in section["layers"].items()}
        result["notes"] += warnings
    result["wall_s"] = round(time.perf_counter() - start, 2)
    return result


def finetune_and_evaluate(task: Task, epochs: int = FINETUNE_EPOCHS, samples: int | None = None, seed: int = 0) -> dict:
    """Quantisation-aware fine-tuning (``neurodeploy.training.finetune``, as ``deploy.py --finetune``)
    of a copy of the trained model on the training split (the first ``samples`` if given),
    then the test split evaluated exactly as ``evaluate`` does for the untuned model."""
    from neurodeploy.encoders import encoding_of
    from neurodeploy.training.finetune import FinetuneOptions, finetune

    inputs, labels = task.train_inputs[:, :samples], task.train_labels[:samples]
    reset_states(task.model)
    model = copy.deepcopy(task.model)
    pin_torch_threads()
    start = time.perf_counter()
    returned = finetune(
        model, inputs, labels, FinetuneOptions(epochs=epochs, profile=PROFILE, seed=seed),
        input_shape=task.input_shape, encoding=encoding_of(inputs.reshape(inputs.shape[0], inputs.shape[1], -1)),
    )
    finetune_s = time.perf_counter() - start
    result = evaluate(returned.model, task.test_inputs, task.test_labels, task.input_shape)
    result.update(
        finetune_s=round(finetune_s, 2), epochs=epochs, train_samples=int(inputs.shape[1]),
        train_fixed_accuracy_before=returned.accuracy_before, train_fixed_accuracy_after=returned.accuracy_after,
    )
    return result


def run_task(task: Task, data_calibration: bool, finetune: dict | None) -> dict:
    """``finetune``: keyword arguments for ``finetune_and_evaluate`` (None: skip the hook)."""
    row = {
        "description": task.description,
        "train_samples": int(task.train_inputs.shape[1]),
        "test_samples": int(task.test_inputs.shape[1]),
        "steps": int(task.test_inputs.shape[0]),
        "encoding": task.encoding,
        "train_s": round(task.train_s, 2),
        **task.info,
        "snntorch_float": snntorch_accuracy(task.model, task.test_inputs, task.test_labels),
        "target_pt": TARGET_PT[task.name],
    }
    worst = evaluate(task.model, task.test_inputs, task.test_labels, task.input_shape)
    row["without_finetuning"] = {k: worst[k] for k in SUMMARY}
    row["worst_case_details"] = {k: v for k, v in worst.items() if k not in SUMMARY}
    row["target_met"] = abs(worst["delta_pt"]) <= TARGET_PT[task.name]
    if data_calibration:
        row["data_calibration"] = evaluate(task.model, task.test_inputs, task.test_labels, task.input_shape, calibration=task.train_inputs)
    if finetune is not None:
        tuned = finetune_and_evaluate(task, **finetune)
        row["with_finetuning"] = {k: tuned[k] for k in SUMMARY}
        row["finetuning_details"] = {k: v for k, v in tuned.items() if k not in SUMMARY}
    return row


# --------------------------------------------------------------------------- CLI
def parse_epochs(text: str | None, tasks: list[str]) -> dict[str, int]:
    """"8" (every task) or "cnn=10,rnn=30"."""
    if not text:
        return {}
    if "=" not in text:
        return {name: int(text) for name in tasks}
    out = {}
    for item in text.split(","):
        name, value = item.split("=")
        if name not in TASKS:
            raise SystemExit(f"--epochs: unknown task {name!r}")
        out[name] = int(value)
    return out


def print_table(rows: dict[str, dict]) -> None:
    def pct(x):
        return f"{100 * x:6.2f}%"

    print(f"\n{'task':5} {'snnTorch':>8} {'float':>7} {'fixed':>7} {'delta pt':>8} {'target':>8} {'agree':>7} | "
          f"{'data-cal fixed':>14} {'delta pt':>8} | {'finetuned float':>15} {'fixed':>7} {'delta pt':>8}")
    for name, row in rows.items():
        w, cal, tuned = row["without_finetuning"], row.get("data_calibration"), row.get("with_finetuning")
        target = f"{'met' if row['target_met'] else 'MISSED'} {row['target_pt']:g}"
        line = f"{name:5} {pct(row['snntorch_float']):>8} {pct(w['float'])} {pct(w['fixed'])} {w['delta_pt']:+8.2f} {target:>8} {pct(w['agreement'])} | "
        line += f"{pct(cal['fixed']):>14} {cal['delta_pt']:+8.2f} | " if cal else f"{'-':>14} {'-':>8} | "
        line += f"{pct(tuned['float']):>15} {pct(tuned['fixed'])} {tuned['delta_pt']:+8.2f}" if tuned else f"{'-':>15} {'-':>7} {'-':>8}"
        print(line)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated subset of mlp,cnn,rnn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", default=None, help='training epochs: "N" for every task or "cnn=15,rnn=20" (mlp: default the demo\'s 12)')
    parser.add_argument("--finetune-epochs", type=int, default=FINETUNE_EPOCHS, help="epochs of the fine-tuning")
    parser.add_argument("--finetune-samples", type=int, default=None, help="fine-tune on the first N training samples (default: all)")
    parser.add_argument("--no-finetune", action="store_true", help="skip the fine-tuning")
    parser.add_argument("--no-data-calibration", action="store_true", help="skip the --calibration data variant")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training (these small models train fastest on one)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "quantisation_accuracy.json"))
    args = parser.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {unknown}: choose from {', '.join(TASKS)}")
    epochs = parse_epochs(args.epochs, tasks)

    import torch

    global TORCH_THREADS
    TORCH_THREADS = args.threads
    total = time.perf_counter()
    rows = {}
    for name in tasks:
        start = time.perf_counter()
        pin_torch_threads()
        task = BUILDERS[name](args.seed, epochs.get(name))
        finetune = None if args.no_finetune else {"epochs": args.finetune_epochs, "samples": args.finetune_samples, "seed": args.seed}
        rows[name] = run_task(task, not args.no_data_calibration, finetune)
        rows[name]["total_s"] = round(time.perf_counter() - start, 2)
        w = rows[name]["without_finetuning"]
        print(f"{name}: trained in {task.train_s:.1f} s; float {100 * w['float']:.2f}%, fixed {100 * w['fixed']:.2f}% "
              f"({w['delta_pt']:+.2f} pt) [{rows[name]['total_s']:.1f} s]", flush=True)
    print_table(rows)
    out = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
                    "torch_threads_training": args.threads},
        "profile": PROFILE,
        "seed": args.seed,
        "finetune_available": any("with_finetuning" in row for row in rows.values()),
        "tasks": rows,
        "total_s": round(time.perf_counter() - total, 2),
    }
    print(f"total {out['total_s']:.1f} s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
