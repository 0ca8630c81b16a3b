"""How a class is read from a layer after learning (``spec.Readout``): pure functions of spike
counts and rasters.

    label-assignment   Diehl & Cook (2015): each neuron is labelled with the class whose
                       training samples it answers most (mean spike count); a sample's class is
                       the label whose neurons spike most on average (no spike: class -1)
    first-spike        the class of the neuron that spikes first (``first_spike_winner``: of the
                       neurons spiking at the sample's first spiking step, the largest v at that
                       step before its reset, then the lowest index; the reward unit's choice in
                       training, and the report's --decision first-spike); neuron i has class
                       i // neurons_per_class (no spike: -1)
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


def winner(candidates: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(...,): of the ``candidates`` (..., n) bool, the one with the largest ``v`` (..., n), ties to
    the lowest index; -1 where there is none. The first-spike rule's choice among neurons that
    spike in the same step: the reward unit's winner in training and the readout's answer."""
    key = np.where(candidates, np.asarray(v, np.float64), -np.inf)
    return np.where(candidates.any(axis=-1), key.argmax(axis=-1), -1)  # argmax: the first of equal values


def first_spikes(raster: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``raster`` (steps, samples, n): per sample its first step with a spike (-1: none) and the
    neurons spiking in that step (samples, n)."""
    fired = np.asarray(raster) != 0
    any_step = fired.any(axis=2)  # (steps, samples)
    step = np.where(any_step.any(axis=0), any_step.argmax(axis=0), -1)
    candidates = fired[np.maximum(step, 0), np.arange(fired.shape[1])] & (step >= 0)[:, None]
    return step, candidates


def first_spike_winner(raster: np.ndarray, v_first: np.ndarray | None = None) -> np.ndarray:
    """Per sample, the neuron that spikes first (-1: none): ``winner`` of the neurons spiking at
    the sample's first spiking step, by ``v_first`` (samples, n), their v at that step before the
    reset. ``v_first`` may be None only where no two neurons share a first step (1-WTA)."""
    _, candidates = first_spikes(raster)
    if v_first is None:
        if (candidates.sum(axis=1) > 1).any():
            raise ValueError("neurons spike together first: the first-spike decision needs their v at that step")
        v_first = np.zeros(candidates.shape)
    return winner(candidates, v_first)


def first_spike_class(raster: np.ndarray, neurons_per_class: int = 1, v_first: np.ndarray | None = None) -> np.ndarray:
    """``raster`` (steps, samples, n): the class of the first neuron to spike (``first_spike_winner``), per sample."""
    first = first_spike_winner(raster, v_first)
    return np.where(first >= 0, first // neurons_per_class, -1)


def v_at_first_spikes(raster: np.ndarray, v_before_reset: np.ndarray) -> np.ndarray:
    """(samples, n): ``v_before_reset`` (steps, samples, n) at each sample's first spiking step."""
    step, _ = first_spikes(raster)
    return np.asarray(v_before_reset)[np.maximum(step, 0), np.arange(len(step))]


def spike_count_class(counts: np.ndarray, neurons_per_class: int = 1) -> np.ndarray:
    """The class whose neurons spike most in all, per sample (-1: no spike)."""
    n = counts.shape[1] // neurons_per_class * neurons_per_class
    per_class = counts[:, :n].reshape(len(counts), -1, neurons_per_class).sum(axis=2)
    return np.where(counts.sum(axis=1) > 0, per_class.argmax(axis=1), -1)
