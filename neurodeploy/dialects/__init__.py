"""Exporter dialects: a NIR file read the way the framework that wrote it runs it.

A NIR file stores parameters, not the discrete-time rule its writer simulates: Sinabs
integrates once per step without dt and fires several spikes per step, Rockpool decays
exactly, Norse 1.1 writes tau = dt / tau_inv, snnTorch does not store its reset. Each entry of
``DIALECTS`` is one exporter (one module here): which NIR neuron nodes it writes, what the
file cannot say (asked for, else assumed and reported), and how each node lowers to the
normalised stage's ``NeuronDynamics`` so that the float target reproduces the exporter's own
simulator. ``detect`` (``detect.py``) tells the writer from the file; ``--dialect`` overrides
it. docs/dialects.md states every rule with the framework source it follows.

Adding a dialect is one module here (a ``Dialect`` subclass and its instance) and one line in
``DIALECTS`` (``entries.py``).
"""
from __future__ import annotations

from .base import Dialect, DialectChoice, DialectOptions, Lowered
from .detect import Detection, detect, resolve
from .entries import DIALECTS

__all__ = ["DIALECTS", "Detection", "Dialect", "DialectChoice", "DialectOptions", "Lowered", "detect", "resolve"]
