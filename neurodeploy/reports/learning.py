"""The report's ``learning`` section (``--learn``): what learned, how it was lowered, what it
cost and what it reached.

It is the learning run's summary (``training/learn.py``): the spec, per learning projection the
lowering table (each parameter requested, as the chip holds it, its effective value and
error), weight statistics before and after, the threshold raise, the learning engine's
synaptic updates and their energy (estimates, with their source), the readout's accuracy after
each epoch on the frozen network as the chip holds it; plus here the accuracy of the deployed
learned network (learned.nir compiled again) with the same readout, on the target and the float
reference. No simulation runs here.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..backends.results import RunResult
from ..learning import readout as R
from .accuracy import first_spike_winners


def learning_section(summary: Mapping[str, Any], results: Mapping[str, RunResult], labels: np.ndarray | None, target: str,
                     compiled=None) -> dict[str, Any]:
    """``compiled``: the deployed network (the first-spike readout reads v before the reset in the stage each run ran)."""
    from .report import _run_network
    section = dict(summary)
    readout = summary.get("readout")
    deployed = {}
    if readout is not None and labels is not None:
        for name, result in results.items():
            predicted = _predict(readout, summary, result, _run_network(compiled, name) if compiled is not None else None)
            if predicted is not None:
                deployed[name] = float(np.mean(predicted == labels))
    section["deployed_accuracy"] = deployed or None
    section["synaptic_updates"] = int(sum(layer["synaptic_updates"] for layer in summary["layers"]))
    section["energy_j"] = float(sum(layer["energy_j"] for layer in summary["layers"]))
    return section


def _predict(readout: Mapping[str, Any], summary: Mapping[str, Any], result: RunResult, network) -> np.ndarray | None:
    layer = readout["layer"]
    if layer not in result.layers:
        return None
    counts = result.layers[layer].spike_counts
    if readout["decision"] == "label-assignment":
        neuron_labels = np.asarray(summary.get("neuron_labels") or [], np.int64)
        if neuron_labels.size != counts.shape[1]:
            return None
        return R.classify_by_labels(counts, neuron_labels, int(neuron_labels.max(initial=0)) + 1)
    per_class = next((entry.get("neurons_per_class", 1) for entry in [readout]), 1)
    if readout["decision"] == "first-spike":
        if result.rasters is None or layer not in result.rasters:
            return None
        winners = first_spike_winners(result, network, layer)
        return np.where(winners >= 0, winners // per_class, -1)
    return R.spike_count_class(counts, per_class)
