"""Workload (c): the classic pair-based STDP window, weight change against pre-post delay, learned
by the chip's fixed point and by the float rule.

One post neuron, driven by its bias alone, spikes at step T of every trial; pre input j
spikes once, at step T - dt_j, for dt_j = -D..D (dt = t_post - t_pre). Its synapse starts at 0
(1e-6: 0 on the chip) and learns with pair STDP (a_plus = a_minus, tau_plus = tau_minus); the weights stay far too
small to move the post spike. After N trials, (w - w_0) / N is the change per pairing: the
float rule gives a_plus exp(-dt / tau_plus) for dt > 0 and -a_minus exp(dt / tau_minus) for
dt < 0 (at dt = 0 both apply); the fixed point (``--target cpu``, bit-exact with Lava) adds
the traces' 7 bits, the 4-bit scale of each product, and stochastic rounding of the 8-bit
weights, shown as mean and spread over repeats with different random streams.

    python examples/stdp_window.py [--trials 200] [--repeats 8] [--out stdp_window.png]

prints one JSON line and writes the plot.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
T_POST = 40  # the post neuron's spike step (1-based) in every trial
SPAN = 30  # dt from -SPAN to SPAN steps
STEPS = 75  # steps per trial: the post neuron's next spike would come at 2 T_POST
BIAS = 25.0  # v per step
TAU_MEM = 1.0
A, TAU = 0.002, 0.01  # a_plus = a_minus (weight units, w_max = 1), tau_plus = tau_minus (s)


def network() -> tuple[FloatGraph, float]:
    """One post neuron whose bias alone makes it cross threshold at step T_POST; its threshold."""
    beta = 1.0 - DT / TAU_MEM
    v = lambda n: BIAS * (1 - beta ** n) / (1 - beta)  # noqa: E731
    threshold = 0.5 * (v(T_POST - 1) + v(T_POST))
    graph = competitive_layer(np.full((1, 2 * SPAN + 1), 1e-6), dt=DT, tau_mem=TAU_MEM, tau_syn=DT, threshold=threshold,
                              v_leak=BIAS * TAU_MEM / DT)
    return FloatGraph(graph, "stdp_window", "nir"), threshold


def trials(n: int) -> InputBatch:
    """n identical trials: pre input j spikes at step T_POST - (j - SPAN)."""
    values = np.zeros((STEPS, n, 2 * SPAN + 1), np.uint8)
    for j, delay in enumerate(range(-SPAN, SPAN + 1)):
        values[T_POST - 1 - delay, :, j] = 1
    return InputBatch(values=values, encoding=InputEncoding("spikes"),
                      description={"source": "trials", "steps": STEPS, "batch": n, "shape": [2 * SPAN + 1], "encoding": "spikes",
                                   "description": "one pre spike per input at T - dt"})


def window(target: str, n_trials: int, seed: int) -> np.ndarray:
    """The weight change per pairing, per dt (NIR weight units)."""
    graph, _ = network()
    spec = {"neurodeploy-learning": 1, "seed": seed,
            "layers": {"layer": {"rule": {"kind": "stdp", "a_plus": A, "a_minus": A, "tau_plus": TAU, "tau_minus": TAU,
                                          "w_max": 1.0, "w_min": -1.0}}}}
    request = LearnRequest(spec=spec_from_dict(spec, "stdp_window"), target=target, epochs=1, profile=load_profile("loihi2"),
                           train=trials(n_trials), test=None, seed=seed)
    learned = learn_on_chip(LoadedModel(graph), request)
    spikes = learned.summary["accuracy_by_epoch"][-1]["spikes_per_sample"]
    assert spikes == 1.0, f"the post neuron spiked {spikes} times per trial"
    weights = np.asarray(learned.model.graph.graph.nodes["synapses"].weight)[0]
    return weights / n_trials


def expected(delays: np.ndarray) -> np.ndarray:
    """The float rule's window: potentiation for dt >= 0, depression for dt <= 0 (both at 0)."""
    steps = TAU / DT
    return A * np.exp(-np.abs(delays) / steps) * ((delays >= 0).astype(float) - (delays <= 0).astype(float))


def run(n_trials: int = 200, repeats: int = 8, out: str | None = "stdp_window.png") -> dict:
    delays = np.arange(-SPAN, SPAN + 1)
    float_rule = window("float", n_trials, 0)
    fixed = np.array([window("cpu", n_trials, seed) for seed in range(repeats)])
    mean, spread = fixed.mean(axis=0), fixed.std(axis=0)
    peak = np.abs(expected(delays)).max()
    result = {"workload": "stdp_window", "trials": n_trials, "repeats": repeats,
              "float_rule_max_error": float(np.abs(float_rule - expected(delays)).max() / peak),
              "fixed_point_mean_error": float(np.abs(mean - float_rule).mean() / peak),
              "fixed_point_max_error": float(np.abs(mean - float_rule).max() / peak),
              "fixed_point_spread": float(spread.mean() / peak)}
    if out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        ax.axhline(0, color="0.8", lw=0.8)
        ax.axvline(0, color="0.8", lw=0.8)
        ax.errorbar(delays, mean, yerr=spread, fmt="o", ms=3, color="C3", label=f"fixed point (cpu = Lava), mean ± sd of {repeats} runs")
        ax.plot(delays, float_rule, "-", color="C0", label="float rule")
        ax.set_xlabel("t_post - t_pre (steps of 1 ms)")
        ax.set_ylabel("weight change per pairing")
        ax.set_title("Pair-based STDP window on Loihi's learning engine")
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        fig.savefig(out, dpi=120)
        result["plot"] = out
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--out", default="stdp_window.png")
    a = ap.parse_args()
    print(json.dumps(run(a.trials, a.repeats, a.out)))


if __name__ == "__main__":
    main()
