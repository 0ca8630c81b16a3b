"""What a backend returns: per-layer activity counts, optional rasters and state traces.

Counting conventions (the same on every backend; see docs/report.md):
    spikes                 output spikes of the layer, summed over batch and steps
    synops                 synaptic operations: every input event (nonzero input value)
                           touches all n_out synapses of its axon (dense storage)
    neuron_updates         n_out * steps * batch (every neuron is updated every step)
    active_neuron_updates  neuron-steps that received nonzero synaptic input
    saturations            u wraps and v clips (fixed point only; None where not observed)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LayerActivity:
    name: str
    n_neurons: int
    spikes: int = 0
    synops: int = 0
    neuron_updates: int = 0
    active_neuron_updates: int = 0
    spike_counts: np.ndarray | None = None  # (batch, n) spikes per neuron
    saturations: dict[str, int] | None = None


@dataclass
class RunResult:
    target: str
    steps: int
    batch: int
    layers: dict[str, LayerActivity]
    output_layer: str
    output_v_sum: np.ndarray  # (batch, n) sum over steps of the output layer's v, in float units
    rasters: dict[str, np.ndarray] | None = None  # name -> (steps, batch, n) bool
    traces: dict[str, dict[str, np.ndarray]] | None = None  # name -> {"u","v"} -> (steps, batch, n)
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def predictions(self) -> np.ndarray:
        """Class per sample: most output spikes; a non-spiking readout uses the largest mean v."""
        out = self.layers[self.output_layer]
        if out.spike_counts is not None and out.spike_counts.sum() > 0:
            return np.argmax(out.spike_counts, axis=1)
        return np.argmax(self.output_v_sum, axis=1)


def input_events(values: np.ndarray) -> int:
    """Number of input events (nonzero values) in an array of any shape."""
    return int(np.count_nonzero(values))
