"""Workload (a): Diehl & Cook (2015) style unsupervised learning on the chip, on scikit-learn's
8x8 digits.

Poisson input (pixel x fires with probability x * max_rate * dt per step), one excitatory
layer of CubaLIF neurons whose input synapses learn with STDP, all-to-all lateral inhibition
(a recurrent inhibitory projection), adaptive thresholds (homeostasis); after learning each
neuron is labelled with the class it answers most on the training digits and a test digit's
class is the label whose neurons spike most (the paper's readout). The rule: at a post spike
w += a_plus x - w_decay w (x the pre trace): potentiation by the pre trace with the
heterosynaptic depression that replaces the paper's host-side weight normalisation, which has
no on-chip counterpart (docs/learning.md). Everything runs through neurodeploy's API: the
network is a NIR graph, the rule a learning spec, learning happens on ``--target`` (cpu,
cpu-numpy, loihi-sim: Lava's LearningDense; float: the float rule).

    python examples/diehl_cook.py [--neurons 200] [--train 1347] [--epochs 3] [--target cpu] [--seed 0]

prints one JSON line (accuracy, spikes, time). ``build`` and ``data`` are reused by the tests
and benchmarks/learning_speed.py.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's neurodeploy, installed or not

from neurodeploy.encoders import InputBatch  # noqa: E402
from neurodeploy.encoders.rate import bernoulli_spikes  # noqa: E402
from neurodeploy.frontends.model import LoadedModel  # noqa: E402
from neurodeploy.hardware.profile import load_profile  # noqa: E402
from neurodeploy.ir.stages import FloatGraph, InputEncoding  # noqa: E402
from neurodeploy.learning.networks import competitive_layer  # noqa: E402
from neurodeploy.learning.spec import spec_from_dict  # noqa: E402
from neurodeploy.training.learn import LearnRequest, learn_on_chip  # noqa: E402

DT = 1e-3
DEFAULTS = dict(neurons=200, steps=150, max_rate=340.0, threshold=20.0, inhibition=80.0, tau_mem=0.1, a_plus=0.008, w_decay=2 ** -6,
                tau_plus=0.02, theta_plus=1.0, w_init=0.3)


def build(neurons: int, seed: int = 0, **overrides) -> tuple[FloatGraph, dict]:
    """The network (a NIR graph) and its learning specification (a dict in the YAML's structure)."""
    p = {**DEFAULTS, **overrides}
    rng = np.random.default_rng(seed)
    graph = competitive_layer(rng.uniform(0.0, p["w_init"], (neurons, 64)), dt=DT, tau_mem=p["tau_mem"], tau_syn=DT,
                              threshold=p["threshold"], inhibition=p["inhibition"])
    spec = {
        "neurodeploy-learning": 1,
        "seed": seed,
        "layers": {"layer": {
            "rule": {"kind": "stdp", "a_plus": p["a_plus"], "a_minus": 0.0, "tau_plus": p["tau_plus"], "tau_minus": p["tau_plus"],
                     "w_max": 1.0, "w_decay": p["w_decay"]},
            "homeostasis": {"theta_plus": p["theta_plus"]},
        }},
        "readout": {"layer": "layer", "decision": "label-assignment"},
    }
    return FloatGraph(graph, "diehl_cook", "nir"), spec


def poisson(x: np.ndarray, steps: int, max_rate: float, seed: int) -> np.ndarray:
    """(steps, samples, 64) uint8: pixel x spikes with probability x * max_rate * dt per step."""
    probability = np.clip(x * max_rate * DT, 0.0, 1.0)
    return bernoulli_spikes(np.random.default_rng(seed), probability, steps, probability.shape, draw=np.float64)


def data(n_train: int, n_test: int, steps: int, max_rate: float, seed: int = 0) -> tuple[InputBatch, InputBatch]:
    """The first n_train / n_test digits of data/'s 75/25 split (what --data digits learns and tests on)."""
    from neurodeploy.data.builtin import digits_split

    (x_train, y_train), (x_test, y_test) = digits_split("train"), digits_split("test")

    def batch(xs, ys, offset):
        values = poisson(xs, steps, max_rate, seed + offset)
        return InputBatch(values=values, encoding=InputEncoding("spikes"), labels=ys,
                          description={"source": "digits", "steps": steps, "batch": len(ys), "shape": [64], "encoding": "spikes",
                                       "description": f"scikit-learn digits, Poisson at {max_rate:g} Hz x pixel"})

    return (batch(x_train[:n_train].reshape(-1, 64), y_train[:n_train], 1),
            batch(x_test[:n_test].reshape(-1, 64), y_test[:n_test], 2))


def run(neurons=200, n_train=1347, n_test=450, epochs=3, target="cpu", seed=0, **overrides) -> dict:
    p = {**DEFAULTS, **overrides}
    graph, spec = build(neurons, seed, **{k: v for k, v in overrides.items() if k in DEFAULTS})
    train, test = data(n_train, n_test, p["steps"], p["max_rate"], seed)
    start = time.perf_counter()
    request = LearnRequest(spec=spec_from_dict(spec, "diehl_cook"), target=target, epochs=epochs, profile=load_profile("loihi2"),
                           train=train, test=test, seed=seed)
    learned = learn_on_chip(LoadedModel(graph), request)
    history = learned.summary["accuracy_by_epoch"]
    layer = learned.summary["layers"][0]
    return {"workload": "diehl_cook", "target": target, "neurons": neurons, "train": n_train, "test": n_test, "epochs": epochs,
            "steps": p["steps"], "test_accuracy": history[-1].get("test_accuracy"),
            "accuracy_by_epoch": [h.get("test_accuracy") for h in history], "spikes_per_sample": history[-1].get("spikes_per_sample"),
            "labelled_neurons": history[-1].get("labelled_neurons"), "synaptic_updates": layer["synaptic_updates"],
            "rule": layer["rule_strings"], "seconds": round(time.perf_counter() - start, 1),
            **{k: v for k, v in overrides.items() if k in DEFAULTS}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=200)
    ap.add_argument("--train", type=int, default=1347)
    ap.add_argument("--test", type=int, default=450)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--target", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    for key, value in DEFAULTS.items():
        if key != "neurons":
            ap.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value)
    a = ap.parse_args()
    overrides = {k: getattr(a, k) for k in DEFAULTS if k != "neurons"}
    print(json.dumps(run(a.neurons, a.train, a.test, a.epochs, a.target, a.seed, **overrides)))


if __name__ == "__main__":
    main()
