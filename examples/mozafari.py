"""Workload (b): a Mozafari et al. (2018) style network on scikit-learn's 8x8 digits: DoG +
latency coding, a convolutional layer trained with STDP and k-WTA, and a reward-modulated
(R-STDP) readout decided by the first spike, all learned on the chip.

    input    DoG filters (on- and off-centre, sigma 0.5 / 1.0) of each digit, each positive
             response one spike, earlier for a stronger one (intensity-to-latency over T steps)
    conv     K features of 2x5x5 (padding 2), IF neurons. Loihi's learning synapses do not share
             weights, so the kernel is learned as a layer of its own on patches: K competitive
             neurons with 1-WTA (one winner per patch), STDP with heterosynaptic depression and
             adaptive thresholds on random 2x5x5 patches of the training images; the learned
             weights are then the convolution's kernel (learned_patch.nir -> the conv network)
    pool     2x2 sum pooling into IF neurons that fire on any input spike
    readout  200 neurons (20 per class, as Mozafari et al. 2019) learning with R-STDP from the
             pooled spikes, 1-WTA and the first-spike reward rule (+reward for the correct first
             spiker, punishment otherwise, for the two steps after its spike). The rule (Loihi's
             sum-of-products form) moves a rewarded neuron's weights towards its input's spike
             counts (the pre trace counts up to three spikes) and lowers a punished neuron's
             weights on the inputs that spiked. Between batches of 100 samples the host rescales
             each neuron's weights to one L2 norm (``normalise``), so that v is a normalised match
             of the input with the neuron's prototype; a bias ramps every neuron's v so that the
             first spike comes once the input has arrived, from the best match. The initial
             weights are the pooled spike counts of 20 training digits per class (the host
             imprints them). Its class is the sample's answer, read with the layer's k-WTA
             (test_accuracy_wta) and on the deployed network without it (test_accuracy)

    python examples/mozafari.py [--features 16] [--train 1347] [--epochs 6] [--target cpu]

prints one JSON line. ``run`` is reused by the tests (small sizes).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import nir
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's neurodeploy, installed or not

from neurodeploy.encoders import InputBatch  # noqa: E402
from neurodeploy.frontends.model import LoadedModel  # noqa: E402
from neurodeploy.hardware.profile import load_profile  # noqa: E402
from neurodeploy.ir.stages import FloatGraph, InputEncoding  # noqa: E402
from neurodeploy.learning.networks import competitive_layer  # noqa: E402
from neurodeploy.learning.spec import spec_from_dict  # noqa: E402
from neurodeploy.training.learn import LearnRequest, learn_on_chip  # noqa: E402

DT = 1e-3
DEFAULTS = dict(window=12, steps=36, patch_threshold=2.0, patch_inhibition=0.0, patch_theta=0.02, patch_a_plus=0.03, patch_decay=2 ** -5,
                conv_threshold=5.0, readout_threshold=80.0, readout_bias=1.2, readout_norm=4.0, count_cap=3, reward=0.33, punishment=1.0,
                patches=3000, per_class=20, imprint_seed=0, adaptive=0, batch=100, dropout=0.0, reward_window=0.002)
# the readout's rule in Loihi's form: under reward (y2) w moves towards 255 x1 / 127 (x1 the pre trace, 127 // count_cap per
# spike: the input's spike count, up to count_cap, in weight units), under punishment (y3) the inputs that spiked lose w x1 / 127
READOUT_RULE = "1*2^-7*u0*y2*x1*(255-w) + 1*2^-7*u0*y2*(x1-127)*w - 1*2^-7*u0*y3*x1*w"


# --------------------------------------------------------------------------- input
def dog(images: np.ndarray) -> np.ndarray:
    """(n, 8, 8) in [0, 1] -> (n, 2, 8, 8): on- and off-centre difference of Gaussians, rectified."""
    from scipy.ndimage import gaussian_filter

    centre = np.stack([gaussian_filter(im, 0.5, mode="constant") for im in images])
    surround = np.stack([gaussian_filter(im, 1.0, mode="constant") for im in images])
    d = centre - surround
    return np.stack([np.maximum(d, 0), np.maximum(-d, 0)], axis=1)


def latency(maps: np.ndarray, window: int, steps: int, cut: float = 0.1) -> np.ndarray:
    """(n, 2, 8, 8) -> (steps, n, 128) uint8: each response above ``cut`` of the image's largest
    spikes once, at step round((1 - r / r_max) (window - 1)): the strongest first."""
    n = len(maps)
    flat = maps.reshape(n, -1)
    top = flat.max(axis=1, keepdims=True)
    top[top == 0] = 1.0
    r = flat / top
    spikes = np.zeros((steps, n, flat.shape[1]), np.uint8)
    t = np.round((1.0 - r) * (window - 1)).astype(int)
    k, j = np.nonzero(r > cut)
    spikes[t[k, j], k, j] = 1
    return spikes


def digits(n_train: int, n_test: int, seed: int):
    """The first n_train / n_test digits of data/'s 75/25 split (what --data digits learns and tests on)."""
    from neurodeploy.data.builtin import digits_split

    (x_train, y_train), (x_test, y_test) = digits_split("train"), digits_split("test")
    return (x_train[:n_train], y_train[:n_train]), (x_test[:n_test], y_test[:n_test])


def batch(values: np.ndarray, labels, shape, what: str) -> InputBatch:
    return InputBatch(values=values, encoding=InputEncoding("spikes"), labels=labels,
                      description={"source": what, "steps": int(values.shape[0]), "batch": int(values.shape[1]), "shape": list(shape),
                                   "encoding": "spikes", "description": what})


def patches(spikes: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Random 2x5x5 patches (with spikes) of (steps, n, 2, 8, 8) maps -> (steps, count, 50)."""
    rng = np.random.default_rng(seed)
    steps, n = spikes.shape[:2]
    padded = np.pad(spikes, ((0, 0), (0, 0), (0, 0), (2, 2), (2, 2)))
    out = np.zeros((steps, count, 50), np.uint8)
    k = 0
    while k < count:
        i, r, c = rng.integers(n), rng.integers(8), rng.integers(8)
        patch = padded[:, i, :, r:r + 5, c:c + 5].reshape(steps, 50)
        if patch.sum() >= 4:
            out[:, k] = patch
            k += 1
    return out


# --------------------------------------------------------------------------- networks
def conv_network(kernel: np.ndarray, readout: np.ndarray, p: dict) -> nir.NIRGraph:
    """input (2,8,8) -> conv (K,2,5,5) -> IF (K,8,8) -> sum pool 2x2 -> IF (K,4,4) -> flatten ->
    affine (``readout`` weights, the bias ramp) -> readout IF. The readout resets by subtraction
    (after its one k-WTA spike it makes no difference) so that the quantiser keeps the threshold
    plus a step's largest input within the 24-bit v: the k-WTA picks the first spiker by the
    largest v, which must not saturate at the threshold."""
    k = kernel.shape[0]
    n = len(readout)
    one = lambda shape: np.ones(shape)  # noqa: E731
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 8, 8])}),
        "conv": nir.Conv2d(input_shape=(8, 8), weight=kernel, stride=1, padding=2, dilation=1, groups=1, bias=np.zeros(k)),
        "features": nir.IF(r=one((k, 8, 8)) / DT, v_threshold=p["conv_threshold"] * one((k, 8, 8)), v_reset=np.zeros((k, 8, 8))),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "pooled": nir.IF(r=one((k, 4, 4)) / DT, v_threshold=0.5 * one((k, 4, 4)), v_reset=np.zeros((k, 4, 4))),
        "flatten": nir.Flatten(input_type={"input": np.array([k, 4, 4])}, start_dim=0),
        "synapses": nir.Affine(weight=readout, bias=p["readout_bias"] * one(n)),
        "readout": nir.IF(r=one(n) / DT, v_threshold=p["readout_threshold"] * one(n), v_reset=np.zeros(n), metadata={"reset": "subtract"}),
        "output": nir.Output(output_type={"output": np.array([n])}),
    }
    edges = [("input", "conv"), ("conv", "features"), ("features", "pool"), ("pool", "pooled"), ("pooled", "flatten"),
             ("flatten", "synapses"), ("synapses", "readout"), ("readout", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def pooled_spikes(kernel: np.ndarray, maps: np.ndarray, labels, target: str, p: dict) -> np.ndarray:
    """The pooled layer's spikes on ``maps`` (steps, n, 128), as the chosen target runs the network: (steps, n, K*16)."""
    from neurodeploy.backends import TARGETS, RunRequest
    from neurodeploy.encoders import to_integer_input
    from neurodeploy.ir.passes import CompileOptions, compile_network

    data = batch(maps, labels, (2, 8, 8), "DoG latency digits")
    graph = FloatGraph(conv_network(kernel, np.ones((1, kernel.shape[0] * 16)), p), "mozafari", "nir")
    compiled = compile_network(graph, CompileOptions(profile=load_profile("loihi2"), dt=DT, input_encoding=data.encoding, dialect="nir"))
    chosen = TARGETS.get(target)
    inputs = data.values if chosen.stage == "normalised" else to_integer_input(data, compiled.quantised)
    return chosen.run(compiled.stage(chosen.stage), inputs, RunRequest(record_spikes=True)).rasters["pooled"]


def imprinted(pooled: np.ndarray, labels: np.ndarray, p: dict) -> np.ndarray:
    """Initial readout weights: neuron i (class i // per_class) holds the pooled spike counts
    (up to count_cap, over count_cap) of a random training digit of its class, rescaled to the
    L2 norm readout_norm and clipped to [0, 1] (the host writes them before learning)."""
    rng = np.random.default_rng(p["imprint_seed"])
    pick = np.concatenate([rng.choice(np.nonzero(labels == c)[0], p["per_class"], replace=False) for c in range(10)])
    w = np.minimum(pooled[:, pick].sum(axis=0), p["count_cap"]) / p["count_cap"]
    return np.clip(w * (p["readout_norm"] / np.linalg.norm(w, axis=1))[:, None], 0.0, 1.0)


def learn_features(train_spikes, features: int, epochs: int, target: str, seed: int, p: dict):
    """The convolution kernel, learned on patches; (kernel (K, 2, 5, 5), summary)."""
    rng = np.random.default_rng(seed)
    graph = competitive_layer(rng.uniform(0.0, 0.4, (features, 50)), dt=DT, tau_mem=1.0, tau_syn=DT, threshold=p["patch_threshold"],
                              inhibition=p["patch_inhibition"])
    spec = {"neurodeploy-learning": 1, "seed": seed,
            "layers": {"layer": {"rule": {"kind": "stdp", "a_plus": p["patch_a_plus"], "a_minus": 0.0, "tau_plus": 0.05, "tau_minus": 0.05,
                                          "w_max": 1.0, "w_decay": p["patch_decay"]},
                                 "inhibition": {"k_wta": 1}, "homeostasis": {"theta_plus": p["patch_theta"]}}}}
    data = patches(train_spikes, p["patches"], seed)
    # dialect "nir": the graph is written with NIR's own semantics (detection would read bare IF nodes as Sinabs')
    request = LearnRequest(spec=spec_from_dict(spec, "mozafari features"), target=target, epochs=epochs, profile=load_profile("loihi2"),
                           train=batch(data, None, (50,), "DoG patches"), test=None, seed=seed, dialect="nir")
    learned = learn_on_chip(LoadedModel(FloatGraph(graph, "patches", "nir")), request)
    weights = np.asarray(learned.model.graph.graph.nodes["synapses"].weight)
    return weights.reshape(features, 2, 5, 5), learned.summary


def run(features=16, n_train=1347, n_test=450, epochs=6, target="cpu", seed=0, feature_epochs=1, **overrides) -> dict:
    p = {**DEFAULTS, **overrides}
    start = time.perf_counter()
    (x_train, y_train), (x_test, y_test) = digits(n_train, n_test, seed)
    train_maps = latency(dog(x_train), p["window"], p["steps"])
    test_maps = latency(dog(x_test), p["window"], p["steps"])
    kernel, feature_summary = learn_features(train_maps.reshape(p["steps"], n_train, 2, 8, 8), features, feature_epochs, target, seed, p)
    readout = imprinted(pooled_spikes(kernel, train_maps, y_train, target, p), y_train, p)
    graph = FloatGraph(conv_network(kernel, readout, p), "mozafari", "nir")
    rule = {"kind": "loihi", "three_factor": True, "dw": READOUT_RULE, "x1_impulse": 127 // p["count_cap"], "x1_tau": 65535,
            "post_trace_tau": 20, "post_trace_impulse": 127}
    spec = {"neurodeploy-learning": 1, "seed": seed,
            "layers": {"readout": {"source": "pooled", "rule": rule, "inhibition": {"k_wta": 1},
                                   "reward": {"source": "label", "reward": p["reward"], "punishment": p["punishment"], "neurons_per_class": p["per_class"],
                                              "window": p["reward_window"], "adaptive": bool(p["adaptive"]), "batch": p["batch"]},
                                   "normalise": {"weights": p["readout_norm"], "norm": 2, "batch": p["batch"]},
                                   "dropout": p["dropout"]}},
            "readout": {"layer": "readout", "decision": "first-spike", "neurons_per_class": p["per_class"]}}
    # one v scale across the readout (not one per neuron): its k-WTA compares v between neurons
    request = LearnRequest(spec=spec_from_dict(spec, "mozafari readout"), target=target, epochs=epochs, profile=load_profile("loihi2"),
                           train=batch(train_maps, y_train, (2, 8, 8), "DoG latency digits"),
                           test=batch(test_maps, y_test, (2, 8, 8), "DoG latency digits"), seed=seed, dialect="nir", weight_scaling="layer")
    learned = learn_on_chip(LoadedModel(graph), request)
    history = learned.summary["accuracy_by_epoch"]
    readout = learned.summary["layers"][0]
    return {"workload": "mozafari", "target": target, "features": features, "train": n_train, "test": n_test, "epochs": epochs,
            "test_accuracy_wta": history[-1].get("test_accuracy_wta"), "accuracy_by_epoch_wta": [h.get("test_accuracy_wta") for h in history[1:]],
            "test_accuracy": history[-1].get("test_accuracy"), "accuracy_by_epoch": [h.get("test_accuracy") for h in history],
            "silent": history[-1].get("test_silent"), "feature_spikes_per_patch": feature_summary["accuracy_by_epoch"][-1]["spikes_per_sample"],
            "feature_weights": [feature_summary["layers"][0][k]["mean"] for k in ("weights_before", "weights_after")],
            "readout_spikes_per_sample": history[-1].get("spikes_per_sample"), "readout_rule": readout["rule_strings"],
            "readout_weights": [readout[k]["mean"] for k in ("weights_before", "weights_after")],
            "seconds": round(time.perf_counter() - start, 1), **overrides}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--train", type=int, default=1347)
    ap.add_argument("--test", type=int, default=450)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--target", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    for key, value in DEFAULTS.items():
        ap.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value)
    a = ap.parse_args()
    overrides = {k: getattr(a, k) for k in DEFAULTS}
    print(json.dumps(run(a.features, a.train, a.test, a.epochs, a.target, a.seed, **overrides)))


if __name__ == "__main__":
    main()
