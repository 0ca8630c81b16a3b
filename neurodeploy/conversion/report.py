"""The report's ``conversion`` section (docs/report.md) and its plot, conversion.png.

    method              the conversion's settings: neurons, reset, normalisation, input, max pooling
    layers              per spiking layer: the ANN modules it replaces, lambda (the activation that
                        fires every step), the largest calibration activation, the share of
                        positive activations above lambda (they are clipped to one spike per step)
    accuracy            ann (the ANN as given), ann_as_converted (max pooling replaced, where it
                        was), float (the converted SNN in float), and the --target
                        (float and target by reports/accuracy.py's ``decide``, spike-count: most
                        output spikes, ties by v summed over the run, then the lowest index)
    accuracy_by_steps   the float SNN's and the target's accuracy after k steps for k = 1..steps:
                        the class with most output spikes in the first k steps (ties: lowest
                        index, as v over the first k steps is not recorded; at the last step it
                        can differ from ``accuracy`` by the tied samples); a fixed-point run
                        answers one step later per layer than the float model, so its curve
                        starts later
    saturation          per layer, from the overflow analysis's run on the calibration samples:
                        v clipped at the lower and at the upper end of its range, and what it means
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backends.results import RunResult
from ..ir.stages import QuantisedNetwork
from ..reports.accuracy import decide
from .loading import Converted

CURVE_POINTS = 50  # at most this many step counts in the section (the plot uses every step)

LOWER_MEANING = (
    "v reached the lower end of its range: these neurons receive a net negative input (their ANN activation is below 0, a "
    "ReLU outputs 0) and, without leak, v falls every step until the chip clamps it. They would not fire anyway; the clamp acts as "
    "a membrane floor."
)
POSITIVE_FLOOR_MEANING = (
    "Some floored neurons have a positive ANN activation on that sample: their input was negative for a while (before the "
    "layers below settled, or from spike-timing noise) and the floor discarded that negative charge, so they fire a little "
    "more than the ANN asks."
)
UPPER_MEANING = (
    "v reached the upper end of its range: one step's input exceeded what the state holds above threshold, so charge was lost "
    "and the neuron fires less than its ANN activation asks: lower the layer's weights (a higher percentile) or use more state bits."
)


def conversion_section(converted: Converted, results: dict[str, RunResult], labels: np.ndarray | None, target: str,
                       quantised: QuantisedNetwork, overflow: RunResult | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(the section, each run's accuracy at every step for the plot)."""
    conversion, ann_accuracy = converted.conversion, converted.ann_accuracy
    spec = conversion.spec
    section: dict[str, Any] = {
        "method": {
            "neurons": "IF (integrate-and-fire, no leak), threshold 1, reset by subtraction",
            "normalisation": f"data-based (Diehl et al. 2015; Rueckauer et al. 2017): lambda = {spec.percentile:g}th percentile of "
                             f"each layer's positive activations (output layer: {spec.output_percentile:g}th) on "
                             f"{conversion.calibration_samples} calibration samples; W_l lambda_(l-1) / lambda_l, b_l / lambda_l",
            "input": f"{spec.input}: x / {conversion.input_scale:g}" + (" as Bernoulli spike probability per step" if spec.input == "rate"
                                                                        else " as a graded input every step (direct current)"),
            "max_pooling": "sum pool into Threshold(0.5) neurons: an OR of the window's spikes each step" if spec.maxpool == "or"
                           else "replaced by average pooling (in the ANN too)",
            "batchnorm": "folded into the Linear / Conv2d before it (eval statistics)",
            "spec": {"percentile": spec.percentile, "output_percentile": spec.output_percentile, "input": spec.input, "maxpool": spec.maxpool},
        },
        "layers": [{"name": layer.name, "ann_modules": list(layer.ann_modules), "kind": layer.kind, "lambda": layer.scale,
                    "activation_max": layer.activation_max, "above_lambda": layer.above_scale} for layer in conversion.layers],
        "accuracy": None,
        "accuracy_by_steps": None,
        "saturation": saturation(quantised, overflow, converted.calibration_activations) if overflow is not None else None,
    }
    curves: dict[str, np.ndarray] = {}
    if labels is not None and results:
        curves = {name: accuracy_by_steps(result, labels) for name, result in results.items() if result.rasters is not None}
        section["accuracy"] = {**(ann_accuracy or {}), **{name: float(np.mean(decide(results[name], "spike-count") == labels))
                                                          for name in curves}}
        if curves:
            steps = len(next(iter(curves.values())))
            ks = sorted(set(np.unique(np.geomspace(1, steps, CURVE_POINTS).round().astype(int)).tolist()) | {steps})
            section["accuracy_by_steps"] = {"steps": ks, **{name: [float(curve[k - 1]) for k in ks] for name, curve in curves.items()}}
    return section, curves


def accuracy_by_steps(result: RunResult, labels: np.ndarray) -> np.ndarray:
    """(steps,): accuracy of the class with most output spikes in the first k steps, ties to the
    lowest index: the runs record v summed over the whole run only, not over its first k steps,
    so the curve cannot break ties by it as ``decide`` does."""
    raster = np.asarray(result.rasters[result.output_layer], dtype=np.int32)
    counts = np.cumsum(raster, axis=0)  # (steps, batch, classes)
    return (counts.argmax(axis=2) == np.asarray(labels)[None, :]).mean(axis=1)


def saturation(network: QuantisedNetwork, result: RunResult, activations: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per layer: v clipped at either end of its range on the calibration run, split by the
    sign of the ANN activation the neuron stands for on that sample, and what it means."""
    limit = network.arithmetic.state_max
    layers = {}
    for layer in network.layers:
        v = np.asarray(result.traces[layer.name]["v"])
        at_lower, upper = v <= -limit, int(np.count_nonzero(v >= limit))
        lower = int(np.count_nonzero(at_lower))
        if not (lower or upper):
            continue
        floored = at_lower.any(axis=0)  # (samples, neurons) that reached the floor
        active = activations[layer.name][: floored.shape[0]] > 0
        entry = {"v_at_lower_limit": lower, "v_at_upper_limit": upper, "neuron_steps": int(v.size),
                 "floored_pairs": int(np.count_nonzero(floored)),
                 "floored_pairs_with_positive_activation": int(np.count_nonzero(floored & active))}
        meaning = [LOWER_MEANING] if lower else []
        if entry["floored_pairs_with_positive_activation"]:
            meaning.append(POSITIVE_FLOOR_MEANING)
        if upper:
            meaning.append(UPPER_MEANING)
        entry["meaning"] = " ".join(meaning)
        layers[layer.name] = entry
    lower_total = sum(e["v_at_lower_limit"] for e in layers.values())
    positive = sum(e["floored_pairs_with_positive_activation"] for e in layers.values())
    pairs = sum(e["floored_pairs"] for e in layers.values())
    return {"samples": int(result.batch), "steps": int(result.steps), "layers": layers,
            "summary": "no layer's v reached the limits of its range" if not layers else
            f"{lower_total} neuron-steps at the lower limit, in {pairs} (sample, neuron) pairs of which {positive} have a positive "
            f"ANN activation (the rest are silent neurons, where the floor is harmless); "
            f"{sum(e['v_at_upper_limit'] for e in layers.values())} neuron-steps at the upper limit (lost charge)"}


def conversion_notes(section: dict[str, Any]) -> list[str]:
    notes = []
    accuracy = section.get("accuracy") or {}
    if "ann" in accuracy and "float" in accuracy:
        notes.append("conversion: accuracy " + ", ".join(f"{k} {v:.2%}" for k, v in accuracy.items()))
    if section.get("saturation"):
        notes.append(f"conversion: membrane saturation on the calibration samples: {section['saturation']['summary']}")
    return notes


def render_conversion_png(section: dict[str, Any], curves: dict[str, np.ndarray]) -> bytes:
    """Accuracy against the number of steps: the ANN (a line), the float SNN and the target."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    accuracy = section.get("accuracy") or {}
    for name, curve in curves.items():
        ax.plot(np.arange(1, len(curve) + 1), curve, label=f"SNN, {name}")
    for key, style in (("ann", "--"), ("ann_as_converted", ":")):
        if key in accuracy:
            ax.axhline(accuracy[key], color="black", linestyle=style, label=key.replace("_", " "))
    ax.set_xlabel("steps")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title("converted network: accuracy by number of steps")
    ax.legend(loc="lower right")
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()
