"""The report's ``accuracy`` and ``classification`` sections: how each run classified the labelled
samples, by one stated decision rule (``DECISIONS``):

    spike-count   the output neuron with the most spikes
    first-spike   the output neuron that spikes first; of several spiking in the sample's first
                  spiking step, the one with the largest v at that step before its reset, then
                  the lowest index (``first_spike_winners``: learning/readout.py's rule, the one
                  on-chip learning rewards and its k-WTA applies)
    max-membrane  the output neuron whose membrane potential v reaches the highest value

Ties, and samples whose output layer never spikes, fall to the next key: spike count, then the
membrane potential summed over the run, then the lowest index; a non-spiking readout (an LI
layer) is therefore decided by its summed v under spike-count. ``first-spike`` needs the output
layer's raster and, where neurons spike together first, u and v (the engines record v after the
reset: v before it is the neuron's own update of v at the step before and u at the step,
``_v_before_reset``); ``max-membrane`` its v at every step: the pipeline asks the runs for them.
v is compared in the float model's units. Each run's own clock is used: a fixed-point run
answers one step later per layer than the float model, which changes no decision within the run.

``classification`` adds, per run: accuracy, samples right, samples whose output stayed silent,
and the confusion matrix (rows: the label, columns: the decision).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..backends.results import RunResult
from ..hardware import fixed_point as fx
from ..ir.stages import NormalisedNetwork, QuantisedNetwork
from ..learning import readout

Network = NormalisedNetwork | QuantisedNetwork  # the stage a run's v belongs to

DECISIONS = {
    "spike-count": "the output neuron with the most spikes",
    "first-spike": "the output neuron that spikes first (winner-take-all by first spike; of several in that step, the largest v "
                   "before the reset, then the lowest index)",
    "max-membrane": "the output neuron whose membrane potential reaches the highest value",
}
TIE_BREAK = "ties and silent outputs: most spikes, then the largest membrane potential summed over the run, then the lowest index"


def needs(decision: str) -> tuple[bool, bool]:
    """(raster, u and v): what a run must record of the output layer for ``decision``."""
    return decision == "first-spike", decision in ("first-spike", "max-membrane")


def decide(result: RunResult, decision: str, network: Network | None = None) -> np.ndarray:
    """The class each sample of ``result`` is given by ``decision`` (see the module docstring)."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}: {', '.join(DECISIONS)}")
    out = result.layers[result.output_layer]
    counts = out.spike_counts if out.spike_counts is not None else np.zeros_like(result.output_v_sum)
    counts = np.asarray(counts, dtype=np.float64)
    v_sum = np.asarray(result.output_v_sum, dtype=np.float64)
    lowest = -np.broadcast_to(np.arange(counts.shape[1], dtype=np.float64), counts.shape)
    keys = [lowest, v_sum, counts]  # np.lexsort: the last key is the primary one
    if decision == "first-spike":
        first = first_spike_winners(result, network)
        return np.where(first >= 0, first, np.lexsort(keys, axis=-1)[:, -1])
    if decision == "max-membrane":
        keys = [lowest, _max_membrane(result, network)]
    order = np.lexsort(keys, axis=-1)
    return order[:, -1]


def first_spike_winners(result: RunResult, network: Network | None = None, layer: str | None = None) -> np.ndarray:
    """(batch,): per sample the neuron of ``layer`` (default: the output layer) that spikes first,
    by ``learning.readout.first_spike_winner``; -1 where the layer stays silent. ``network``: the
    stage the run ran, for v before the reset (without it, the v recorded at that step)."""
    name = layer or result.output_layer
    if result.rasters is None or name not in result.rasters:
        raise ValueError("the first-spike decision needs the output layer's raster (RunRequest.record_spikes)")
    raster = result.rasters[name]
    step, candidates = readout.first_spikes(raster)
    v_first = None if (candidates.sum(axis=1) <= 1).all() else _v_before_reset(result, network, name, step)
    return readout.first_spike_winner(raster, v_first)


def _v_before_reset(result: RunResult, network: Network | None, name: str, step: np.ndarray) -> np.ndarray:
    """(batch, n): the layer's v at each sample's step ``step`` before its reset, in the float
    model's units: for CUBA neurons their v update from the recorded v of the step before (v_init
    at step 0) and u of the step (``fixed_point.voltage_step``; the float reference's v = beta v +
    u + bias); other compartments: the v recorded at the step."""
    if result.traces is None or name not in result.traces:
        raise ValueError("the first-spike decision needs the u and v of neurons that spike together first (RunRequest.record_state)")
    u, v = (np.asarray(result.traces[name][var]) for var in ("u", "v"))
    rows, t = np.arange(len(step)), np.maximum(step, 0)
    v_at = v[t, rows].astype(np.float64)
    if network is None:
        return v_at
    layer = network.layer(name)
    quantised = hasattr(layer, "state_scale")
    neurons = layer.neurons
    if neurons.compartment == "cuba":
        v_init = neurons.v_init if quantised else neurons.v_initial
        v_prev = np.where((step > 0)[:, None], v[np.maximum(step - 1, 0), rows], np.broadcast_to(v_init, v_at.shape))
        if quantised:
            from ..backends.kernels import NeuronKernel

            kernel = NeuronKernel.build(layer, network.arithmetic)
            v_at = fx.voltage_step(v_prev.astype(np.int32), u[t, rows].astype(np.int32), kernel.v_keep, kernel.bias,
                                   network.arithmetic)[0].astype(np.float64)
        else:
            v_at = v_prev * neurons.beta + u[t, rows] + neurons.bias
    return _float_units(v_at, network, name)


def _float_units(v: np.ndarray, network: Network, name: str) -> np.ndarray:
    """v of layer ``name`` in the float model's units (the quantised layer's v over its state
    scale; the float reference's v is relative to the reset potential, as the engines keep it, so
    both add the layer's offset back)."""
    layer = network.layer(name)
    if not hasattr(layer, "state_scale"):
        return v + layer.neurons.v_offset
    scale = np.broadcast_to(np.reshape(np.asarray(layer.state_scale, dtype=np.float64), (-1,)), (layer.n_out,))
    return v / scale + layer.float_layer.neurons.v_offset


def _max_membrane(result: RunResult, network: Network | None) -> np.ndarray:
    """(batch, n): the highest v of each output neuron over the run, in the float model's units
    (the quantised layer's v over its state scale; the float reference's v is relative to the
    reset potential, as the engines keep it, so both add the layer's offset back)."""
    if result.traces is None or result.output_layer not in result.traces:
        raise ValueError("the max-membrane decision needs the output layer's v (RunRequest.record_state)")
    v = np.asarray(result.traces[result.output_layer]["v"], dtype=np.float64).max(axis=0)
    return v if network is None else _float_units(v, network, result.output_layer)


def _run_order(results: Mapping[str, RunResult], target: str) -> list[str]:
    return [name for name in dict.fromkeys(["float", target, *results]) if name in results]


def accuracy_section(results: Mapping[str, RunResult], labels: np.ndarray | None, target: str, decision: str = "spike-count",
                     networks: Mapping[str, Network] | None = None) -> dict[str, float] | None:
    """Per run: float first, then the --target, then the others in the order they ran.
    ``networks``: per run, the stage it ran (the normalised network for the float reference)."""
    if labels is None or not results:
        return None
    networks = networks or {}
    return {name: float(np.mean(decide(results[name], decision, networks.get(name)) == labels)) for name in _run_order(results, target)}


def classification_section(results: Mapping[str, RunResult], labels: np.ndarray | None, target: str, decision: str,
                           classes: Sequence[str] | None = None, networks: Mapping[str, Network] | None = None) -> dict[str, Any] | None:
    """The decision rule and, per run, accuracy, right and silent samples, and the confusion matrix."""
    if labels is None or not results:
        return None
    labels = np.asarray(labels, dtype=np.int64)
    networks = networks or {}
    per_target = {}
    n_out = next(iter(results.values())).output_v_sum.shape[1]
    size = max(int(labels.max()) + 1 if labels.size else 0, n_out, len(classes or ()))
    for name in _run_order(results, target):
        result = results[name]
        predicted = decide(result, decision, networks.get(name))
        out = result.layers[result.output_layer]
        silent = int(np.count_nonzero(out.spike_counts.sum(axis=1) == 0)) if out.spike_counts is not None else int(labels.size)
        confusion = np.zeros((size, size), np.int64)
        np.add.at(confusion, (labels, predicted), 1)
        per_target[name] = {
            "accuracy": float(np.mean(predicted == labels)),
            "correct": int(np.count_nonzero(predicted == labels)),
            "silent_samples": silent,
            "confusion": confusion.tolist(),
        }
    return {
        "decision": decision,
        "rule": f"{DECISIONS[decision]}; {TIE_BREAK}",
        "samples": int(labels.size),
        "classes": list(classes) if classes is not None else list(range(size)),
        "targets": per_target,
    }
