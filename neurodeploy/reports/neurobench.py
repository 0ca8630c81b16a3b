"""NeuroBench's workload metrics, computed from a run as NeuroBench defines them (neurobench 2.3.0,
``metrics/workload``), so that a report can be read beside a NeuroBench evaluation:

    effective_acs        per sample: the sum over steps and projections of (nonzero input
                         events) x (nonzero weights of their synapses), for binary input
    effective_macs       the same for graded input (NeuroBench counts a layer call as MACs
                         when any input value lies outside {-1, 0, 1})
    activation_sparsity  1 - nonzero outputs / (neurons x steps x samples), over spiking layers
                         (a graded spike carrying several spikes is one nonzero output)

They differ from the report's ``synops`` (docs/energy.md): synops counts every synapse the
chip reads, zero weights of dense projections included, over all samples.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

from ..backends.results import RunResult
from ..ir.stages import INPUT
from .energy import source_events


def nonzero_fanout(weights) -> np.ndarray:
    """Nonzero weights per input axon."""
    if sparse.issparse(weights):
        matrix = sparse.csc_matrix(weights, copy=True)
        matrix.eliminate_zeros()
        return np.diff(matrix.indptr).astype(np.int64)
    return np.count_nonzero(np.asarray(weights), axis=0).astype(np.int64)


def layer_metrics(layer, result: RunResult, graded_input: bool) -> dict[str, float | None]:
    """effective_acs, effective_macs and activation_sparsity of one layer of the network the
    run executed (normalised on the float target, quantised elsewhere)."""
    samples = max(result.batch, 1)
    counts = {"acs": 0, "macs": 0}
    for projection in layer.projections:
        weights = getattr(projection, "weights", None)
        weights = projection.weight if weights is None else weights
        events = int(source_events(result, projection.source) @ nonzero_fanout(weights))
        counts["macs" if graded_input and projection.source == INPUT else "acs"] += events
    activity = result.layers[layer.name]
    nonzero = int(activity.events_per_neuron().sum())
    sparsity = 1.0 - nonzero / activity.neuron_updates if layer.neurons.spiking and activity.neuron_updates else None
    return {"effective_acs": counts["acs"] / samples, "effective_macs": counts["macs"] / samples, "activation_sparsity": sparsity}


def total_sparsity(layers: list[tuple[float, int]]) -> float | None:
    """Activation sparsity over the spiking layers, given their (sparsity, neuron-steps)."""
    steps = sum(n for _, n in layers)
    return sum(sparsity * n for sparsity, n in layers) / steps if steps else None
