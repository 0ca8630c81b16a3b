"""Diehl & Cook in Brian2, like for like: ``examples/diehl_cook_brian2.py`` learning in Brian2
itself (float, numpy code generation) and the same ``build()`` deployed through neurodeploy,
learning with the float rule (``--target float``) and on the chip's fixed point (``cpu``,
identical to Lava), on the same data and procedure:

  * data: the first --train digits of neurodeploy's ``digits`` train split (its 75/25 split),
    the first --test digits of its test split; pixel x fires with probability x * 0.34 per
    step (340 Hz at dt 1 ms), --steps steps per digit, state (v, traces) reset between digits,
    thresholds (theta) kept;
  * training: one epoch, the digits in the order the deployed learner presents them
    (``numpy.random.default_rng(seed).permutation``), the same initial weights (``build(seed)``);
  * labelling and test: weights and thresholds frozen; each neuron labelled with the class it
    answers most on the training digits, a test digit's class the label whose neurons spike
    most (``learning/readout.py`` for every run: the same procedure).

The Poisson draws differ (Brian2's generator against the encoder's): the runs agree in
distribution, not spike for spike.

    python benchmarks/diehl_cook_brian2.py [--neurons 100] [--train 300] [--test 150] [--steps 150]
                                           [--runs brian2,float,cpu] [--seed 0] [--out FILE]
                                           [--additive] [--brian2-trace-max X]

``--additive`` runs the rule with an additive pre trace; ``--brian2-trace-max`` clips Brian2's
pre trace where the chip's 7-bit trace would saturate (the diagnosis in docs/benchmarks.md).

Prints one JSON line per run (accuracy, spikes per test digit, mean learned weight and theta,
wall and CPU seconds) and the machine's load average before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

RATE = 0.34  # the example's MAX_RATE * dt


def cpu_seconds() -> float:
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) for f in ("ru_utime", "ru_stime"))


def split(n_train: int, n_test: int):
    import diehl_cook_brian2 as dc

    (x_train, y_train), (x_test, y_test) = dc.digits()
    return x_train[:n_train], y_train[:n_train], x_test[:n_test], y_test[:n_test]


def run_brian2(neurons: int, n_train: int, n_test: int, steps: int, seed: int, trace_max: float | None = None) -> dict:
    import diehl_cook_brian2 as dc
    from brian2 import BrianLogger, ms
    from brian2 import seed as brian_seed

    from neurodeploy.learning import readout as R

    BrianLogger.log_level_error()
    brian_seed(seed)
    dc.PRESENT = steps * ms
    if trace_max is not None:  # the diagnosis: Brian2's pre trace saturating where the chip's 7-bit trace does
        dc.ON_PRE = dc.ON_PRE.replace("pre += 1.", f"pre = clip(pre + 1., 0, {trace_max!r})").replace("pre = 1.", f"pre = {min(1.0, trace_max)!r}")
    x_train, y_train, x_test, y_test = split(n_train, n_test)
    order = np.random.default_rng(seed).permutation(len(x_train))
    net = dc.build(neurons, x_train.shape[1], seed)
    dc.present(net, x_train[order])
    syn, exc = net["input_exc"], net["exc"]
    weights = np.zeros((x_train.shape[1], neurons))
    weights[np.asarray(syn.i[:]), np.asarray(syn.j[:])] = np.asarray(syn.w[:])
    theta = np.asarray(exc.theta_[:]).copy()
    frozen = dc.build(neurons, x_train.shape[1], seed, learn=False, weights=weights, theta=theta)
    labels = R.assign_labels(dc.present(frozen, x_train), y_train, 10)
    counts = dc.present(frozen, x_test)
    predicted = R.classify_by_labels(counts, labels, 10)
    return {"test_accuracy": float(np.mean(predicted == y_test)), "spikes_per_test_digit": float(counts.sum(1).mean()),
            "weight_mean": float(weights.mean()), "theta_mean_mV": float(theta.mean() * 1e3)}


def run_deployed(target: str, neurons: int, n_train: int, n_test: int, steps: int, seed: int) -> dict:
    import diehl_cook_brian2 as dc

    from neurodeploy.data import load_data
    from neurodeploy.frontends.brian2_model import from_brian2
    from neurodeploy.hardware.profile import load_profile
    from neurodeploy.training.learn import LearnRequest, _infer, learn_on_chip
    from neurodeploy.training.learn_data import rate_coded

    model = from_brian2(dc.build(neurons, 64, seed))
    train = rate_coded(load_data("digits:split=train").first(n_train), (64,), steps, RATE, seed)
    test = rate_coded(load_data("digits:split=test").first(n_test), (64,), steps, RATE, seed + 1)
    request = LearnRequest(spec=model.learning, target=target, epochs=1, profile=load_profile("loihi2"), train=train, test=test, seed=seed)
    learned = learn_on_chip(model, request)
    last = learned.summary["accuracy_by_epoch"][-1]
    layer = learned.summary["layers"][0]
    counts = _infer(learned.compiled, request, test, record=False).layers["exc"].spike_counts
    return {"test_accuracy": last["test_accuracy"], "spikes_per_test_digit": float(counts.sum(1).mean()),
            "weight_mean": layer["weights_after"]["mean"] / 1e-3,  # NIR weights are volts per unit of w * mV
            "theta_mean_mV": layer["threshold_raise"]["mean"] * 1e3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=100)
    ap.add_argument("--train", type=int, default=300)
    ap.add_argument("--test", type=int, default=150)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--runs", default="brian2,float,cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--brian2-trace-max", type=float, help="run brian2 with its pre trace clipped here (127 / the chip's impulse: "
                    "what the 7-bit trace holds), to measure what the trace range does")
    ap.add_argument("--additive", action="store_true", help="the example's rule with an additive pre trace (pre += 1, A_PLUS 0.008) "
                    "in place of its nearest-spike one, in every run")
    ap.add_argument("--out")
    a = ap.parse_args()
    results = []
    if a.additive:
        import diehl_cook_brian2 as dc

        dc.ON_PRE, dc.A_PLUS = dc.ON_PRE.replace("pre = 1.", "pre += 1."), 0.008
    print(json.dumps({"load_average_before": os.getloadavg()}), flush=True)
    for run in a.runs.split(","):
        wall, cpu = time.perf_counter(), cpu_seconds()
        if run == "brian2":
            out = run_brian2(a.neurons, a.train, a.test, a.steps, a.seed, a.brian2_trace_max)
            out["trace_max"] = a.brian2_trace_max
        else:
            out = run_deployed(run, a.neurons, a.train, a.test, a.steps, a.seed)
        out = {"run": run, "trace": "additive" if a.additive else "nearest-spike", "neurons": a.neurons, "train": a.train, "test": a.test,
               "steps": a.steps, "seed": a.seed, **out,
               "wall_s": round(time.perf_counter() - wall, 1), "cpu_s": round(cpu_seconds() - cpu, 1)}
        results.append(out)
        print(json.dumps(out), flush=True)
    print(json.dumps({"load_average_after": os.getloadavg()}), flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
