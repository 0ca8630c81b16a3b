"""How a class is read from a layer after learning (``spec.Readout``): pure functions of spike
counts and rasters.

    label-assignment   Diehl & Cook (2015): each neuron is labelled with the class whose
                       training samples it answers most (mean spike count); a sample's class is
                       the label whose neurons spike most on average (no spike: class -1)
    first-spike        the class of the neuron that spikes first (ties: the most spikes, then the
                       lowest index); neuron i has class i // neurons_per_class (no spike: -1)
    spike-count        the class whose neurons spike most in all (no spike: -1)
"""
from __future__ import annotations

import numpy as np


def assign_labels(counts: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Per neuron, the class of the training samples it answers most on average (-1: it never spikes)."""
    rates = np.stack([counts[labels == c].mean(axis=0) if np.any(labels == c) else np.zeros(counts.shape[1]) for c in range(n_classes)])
    out = rates.argmax(axis=0)
    return np.where(rates.max(axis=0) > 0, out, -1)


def classify_by_labels(counts: np.ndarray, neuron_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """The class whose labelled neurons spike most on average, per sample (-1: no spike)."""
    scores = np.stack([counts[:, neuron_labels == c].mean(axis=1) if np.any(neuron_labels == c) else np.zeros(len(counts))
                       for c in range(n_classes)], axis=1)
    return np.where(counts.sum(axis=1) > 0, scores.argmax(axis=1), -1)


def first_spike_class(raster: np.ndarray, neurons_per_class: int = 1) -> np.ndarray:
    """``raster`` (steps, samples, n): the class of the first neuron to spike, per sample."""
    steps, samples, n = raster.shape
    spiked = raster.any(axis=0)
    first = np.where(spiked, raster.argmax(axis=0), steps)  # first spike step per (sample, neuron)
    counts = raster.sum(axis=0)
    out = np.full(samples, -1)
    for k in range(samples):
        if spiked[k].any():
            order = np.lexsort((np.arange(n), -counts[k], first[k]))
            out[k] = order[0] // neurons_per_class
    return out


def spike_count_class(counts: np.ndarray, neurons_per_class: int = 1) -> np.ndarray:
    """The class whose neurons spike most in all, per sample (-1: no spike)."""
    n = counts.shape[1] // neurons_per_class * neurons_per_class
    per_class = counts[:, :n].reshape(len(counts), -1, neurons_per_class).sum(axis=2)
    return np.where(counts.sum(axis=1) > 0, per_class.argmax(axis=1), -1)
