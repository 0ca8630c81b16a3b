"""What a backend returns: per-layer activity counts, optional rasters and state traces.

Counting conventions (the same on every backend; see docs/report.md):
    spikes                 output spikes of the layer, summed over batch and steps (a neuron
                           firing several in one step counts each; they leave as one graded
                           spike, one event: ``event_counts``)
    synops                 synaptic operations: every input event (nonzero input value)
                           touches every synapse stored for its axon: all n_out for a
                           dense projection, the nonzero synapses of its column otherwise
    neuron_updates         n_out * steps * batch (every neuron is updated every step)
    active_neuron_updates  neuron-steps that received nonzero synaptic input
    updated_neuron_updates neuron-steps SANA-FE counts as updated: v nonzero before the step,
                           a synaptic event arrived (zero weights included), a nonzero bias,
                           or a spike (``core_counts.py``)
    saturations            u wraps and v clips (fixed point only; None where not observed)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    from .core_counts import CoreCounts


@dataclass
class LayerActivity:
    name: str
    n_neurons: int
    spikes: int = 0
    synops: int = 0
    neuron_updates: int = 0
    active_neuron_updates: int = 0
    updated_neuron_updates: int | None = None  # None: the target did not count them
    spike_counts: np.ndarray | None = None  # (batch, n) spikes per neuron
    saturations: dict[str, int] | None = None
    window: tuple[int, int] | None = None  # steps [start, stop) counted in window_counts
    window_counts: np.ndarray | None = None  # (batch, n) spikes per neuron within the window
    event_counts: np.ndarray | None = None  # (batch, n) steps with a graded spike, for a layer firing several per step

    def events_per_neuron(self) -> np.ndarray | None:
        """(batch, n) spike messages each neuron sent: its spikes, or for a layer firing several
        per step (one graded spike carries them) the steps in which it fired."""
        return self.event_counts if self.event_counts is not None else self.spike_counts


@dataclass
class RunResult:
    target: str
    steps: int
    batch: int
    layers: dict[str, LayerActivity]
    output_layer: str
    output_v_sum: np.ndarray  # (batch, n) sum over steps of the output layer's v, in float units
    rasters: dict[str, np.ndarray] | None = None  # name -> (steps, batch, n) bool; int32 counts where several spikes per step
    traces: dict[str, dict[str, np.ndarray]] | None = None  # name -> {"u","v"} -> (steps, batch, n)
    peaks: dict[str, dict[str, int]] | None = None  # name -> {"u","v"} -> largest |value| over steps, samples and neurons (integer targets)
    core_counts: CoreCounts | None = None  # per-core counters, when the request carried a CorePlan
    input_events: np.ndarray | None = None  # (n_inputs,) nonzero input values per input, over all samples and steps
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def predictions(self) -> np.ndarray:
        """Class per sample: most output spikes; a non-spiking readout uses the largest mean v."""
        out = self.layers[self.output_layer]
        if out.spike_counts is not None and out.spike_counts.sum() > 0:
            return np.argmax(out.spike_counts, axis=1)
        return np.argmax(self.output_v_sum, axis=1)


def raster_dtype(layer) -> type:
    """A layer's raster: 0/1 spikes (bool), or spike counts (int32) for a layer that fires
    several spikes per step (a normalised or quantised layer)."""
    return np.int32 if layer.neurons.several_spikes else bool


def count_window(activity: "LayerActivity", t: int, spikes: np.ndarray) -> None:
    """Add step t's spikes to the layer's window counts if t lies in its window."""
    if activity.window is not None and activity.window[0] <= t < activity.window[1]:
        activity.window_counts += spikes


def open_windows(activity: dict[str, "LayerActivity"], windows: dict[str, tuple[int, int]] | None) -> None:
    for name, window in (windows or {}).items():
        acts = activity[name]
        acts.window, acts.window_counts = window, np.zeros_like(acts.spike_counts)


def fanout(weights) -> np.ndarray:
    """Synapses stored per input axon: all rows for dense storage, the nonzeros for sparse."""
    if sparse.issparse(weights):
        return np.diff(sparse.csc_matrix(weights).indptr).astype(np.int64)
    return np.full(weights.shape[1], weights.shape[0], dtype=np.int64)


def fill_synops(network, inputs: np.ndarray, activity: dict[str, LayerActivity], input_events: np.ndarray | None = None) -> np.ndarray:
    """Set every layer's synops from per-source event totals (same rule on every target); returns
    the input's events (nonzero values per input index, for ``RunResult.input_events``).

    ``network`` is a NormalisedNetwork or a QuantisedNetwork; ``inputs`` (steps, batch, n);
    ``input_events`` the nonzero inputs per input index where the engine has counted them.
    """
    counted = np.count_nonzero(inputs, axis=(0, 1)) if input_events is None else input_events
    events = {"input": np.asarray(counted).astype(np.int64)}
    for name, acts in activity.items():
        sent = acts.events_per_neuron()
        events[name] = sent.sum(axis=0) if sent is not None else np.zeros(acts.n_neurons, np.int64)
    for layer in network.layers:
        total = 0
        for projection in layer.projections:
            weights = getattr(projection, "weights", None)
            weights = projection.weight if weights is None else weights
            total += int(events[projection.source] @ fanout(weights))
        activity[layer.name].synops = total
    return events["input"]
