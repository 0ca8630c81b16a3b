"""Diehl & Cook (2015) style unsupervised learning written in ordinary Brian2, on scikit-learn's
8x8 digits: the same script runs in Brian2 itself and deploys onto the chip through neurodeploy.

Poisson input (pixel x fires at x * MAX_RATE), one excitatory layer whose input synapses learn
with STDP (a nearest-spike pre trace, potentiation at the post spike), adaptive thresholds (theta), direct
lateral inhibition (each spike inhibits every other neuron); after learning each neuron is
labelled with the class it answers most on the training digits, and a test digit's class is
the label whose neurons spike most. The choices that make it deployable (docs/brian2.md):
synapses act on v directly (current-based, no conductances), no refractory period, the
paper's host-side weight normalisation becomes heterosynaptic depression in the rule
(``- W_DECAY * w`` at a post spike), which the chip's learning engine runs, and the pre trace is
nearest-spike (``pre = 1``), which the chip's 7-bit trace holds exactly (an additive ``pre += 1``
reaches about 7 for a bright pixel: the chip holds it only with a coarse trace, docs/brian2.md).

    python examples/diehl_cook_brian2.py [--neurons 100] [--train 1347] [--test 450] [--seed 0]
        trains and tests in Brian2 itself (numpy code generation); prints one JSON line
    python deploy.py examples/diehl_cook_brian2.py:build --learn --data digits --rate 0.34 --steps 150 --target cpu
        the same network and rule learning on the chip (--rate 0.34: MAX_RATE * dt)

``build()`` returns the network neurodeploy reads (``model.py:build``).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from brian2 import (
    BrianLogger,
    Hz,
    Network,
    NetworkOperation,
    NeuronGroup,
    PoissonGroup,
    SpikeMonitor,
    Synapses,
    defaultclock,
    ms,
    mV,
    prefs,
    second,
)
from brian2 import seed as brian_seed

prefs.codegen.target = "numpy"

DT = 1 * ms
PRESENT = 150 * ms
MAX_RATE = 340 * Hz
V_REST = -65 * mV
V_THRESH = V_REST + 20 * mV
TAU_M = 100 * ms
TAU_THETA = 1e4 * second  # theta grows over training and hardly decays (the paper's 1e7 ms)
THETA_PLUS = 1 * mV
TAU_PRE = 20 * ms
A_PLUS = 0.012
W_DECAY = 2 ** -6
W_MAX = 1.0
W_INIT = 0.3
W_INH = 80.0

EQS = """
dv/dt = (V_REST - v) / TAU_M : volt
dtheta/dt = -theta / TAU_THETA : volt
"""
SYNAPSE = """
w : 1
dpre/dt = -pre / TAU_PRE : 1 (event-driven)
"""
ON_PRE = """
v_post += w * mV
pre = 1.
"""
ON_POST = "w = clip(w + A_PLUS * pre - W_DECAY * w, 0, W_MAX)"


def namespace(learn: bool = True) -> dict:
    """The constants the equations name (given to each object, so that the network resolves
    them wherever it is run or read); without ``learn`` theta stays as it is."""
    return dict(V_REST=V_REST, V_THRESH=V_THRESH, TAU_M=TAU_M, TAU_THETA=TAU_THETA, THETA_PLUS=THETA_PLUS if learn else 0 * mV,
                TAU_PRE=TAU_PRE, A_PLUS=A_PLUS, W_DECAY=W_DECAY, W_MAX=W_MAX, W_INH=W_INH)


def build(neurons: int = 100, n_input: int = 64, seed: int = 0, learn: bool = True, weights=None, theta=None):
    """The training network (its input rates are set per digit by the presenter). Without
    ``learn``: the test network, ``weights`` (n_input, neurons) and ``theta`` (volt) fixed."""
    defaultclock.dt = DT
    rng = np.random.default_rng(seed)
    inp = PoissonGroup(n_input, rates=np.zeros(n_input) * Hz, name="input")
    exc = NeuronGroup(neurons, EQS, threshold="v > V_THRESH + theta", reset="v = V_REST; theta += THETA_PLUS", method="exact", name="exc",
                      namespace=namespace(learn))
    exc.v = V_REST
    if theta is not None:
        exc.theta_ = theta
    if learn:
        syn = Synapses(inp, exc, SYNAPSE, on_pre=ON_PRE, on_post=ON_POST, name="input_exc", namespace=namespace())
    else:
        syn = Synapses(inp, exc, "w : 1", on_pre="v_post += w * mV", name="input_exc")
    syn.connect()
    syn.w = rng.uniform(0.0, W_INIT, len(syn)) if weights is None else weights[syn.i[:], syn.j[:]]
    lateral = Synapses(exc, exc, on_pre="v_post -= W_INH * mV", name="lateral", namespace=namespace())
    lateral.connect(condition="i != j")
    return Network(inp, exc, syn, lateral, SpikeMonitor(exc, name="exc_spikes"))


def digits():
    """scikit-learn's digits / 16, split as neurodeploy's ``--data digits`` splits them (its train and test splits)."""
    from neurodeploy.data import load_data

    train, test = load_data("digits:split=train"), load_data("digits:split=test")
    flat = [np.asarray(part.x, np.float64).reshape(part.count, -1) for part in (train, test)]  # 8x8 images -> 64 inputs
    return (flat[0], train.y), (flat[1], test.y)


def present(net: Network, images: np.ndarray) -> np.ndarray:
    """Show each image for PRESENT (rates x * MAX_RATE) from a reset state; spike counts per image."""
    inp, exc, mon = (net[name] for name in ("input", "exc", "exc_spikes"))
    syn = net["input_exc"]
    counts = np.zeros((len(images), len(exc)), np.int64)
    state = {"k": -1, "before": None}

    def show():
        k = state["k"]
        if k >= 0:
            counts[k] = np.asarray(mon.count[:]) - state["before"]
        k += 1
        state["k"] = k
        exc.v = V_REST
        if "pre" in syn.variables:
            syn.pre = 0
        state["before"] = np.asarray(mon.count[:]).copy()
        inp.rates = (images[k] if k < len(images) else np.zeros(images.shape[1])) * MAX_RATE

    op = NetworkOperation(show, dt=PRESENT, when="start", name="presenter")
    net.add(op)
    net.run(PRESENT * len(images))
    show()
    net.remove(op)
    return counts


def assign_labels(counts: np.ndarray, y: np.ndarray) -> np.ndarray:
    rates = np.stack([counts[y == c].mean(axis=0) if np.any(y == c) else np.zeros(counts.shape[1]) for c in range(10)])
    return rates.argmax(axis=0)


def classify(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    scores = np.stack([counts[:, labels == c].mean(axis=1) if np.any(labels == c) else np.full(len(counts), -1.0) for c in range(10)], axis=1)
    return scores.argmax(axis=1)


def run(neurons=100, n_train=1347, n_test=450, epochs=1, seed=0) -> dict:
    """Train and test in Brian2 itself; the accuracy neurodeploy's deployment is compared with."""
    BrianLogger.log_level_error()
    brian_seed(seed)
    (x_train, y_train), (x_test, y_test) = digits()
    x_train, y_train, x_test, y_test = x_train[:n_train], y_train[:n_train], x_test[:n_test], y_test[:n_test]
    start = time.perf_counter()
    net = build(neurons, x_train.shape[1], seed)
    for _ in range(epochs):
        present(net, x_train)
    syn, exc = net["input_exc"], net["exc"]
    weights = np.zeros((x_train.shape[1], neurons))
    weights[np.asarray(syn.i[:]), np.asarray(syn.j[:])] = np.asarray(syn.w[:])
    # the paper's test mode: learned weights and thresholds fixed
    test_net = build(neurons, x_train.shape[1], seed, learn=False, weights=weights, theta=np.asarray(exc.theta_[:]).copy())
    labels = assign_labels(present(test_net, x_train), y_train)
    test_counts = present(test_net, x_test)
    accuracy = float(np.mean(classify(test_counts, labels) == y_test))
    return {"workload": "diehl_cook_brian2", "simulator": "brian2", "neurons": neurons, "train": len(y_train), "test": len(y_test),
            "epochs": epochs, "seed": seed, "test_accuracy": accuracy, "spikes_per_sample": float(test_counts.sum(1).mean()),
            "weight_mean": float(weights.mean()), "theta_mean_mV": float(np.mean(exc.theta_[:]) * 1e3),
            "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=100)
    ap.add_argument("--train", type=int, default=1347)
    ap.add_argument("--test", type=int, default=450)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(json.dumps(run(a.neurons, a.train, a.test, a.epochs, a.seed)))


if __name__ == "__main__":
    main()
