"""The interface of a target (``Target``) and what every run is asked for (``RunRequest``).

The registry of targets is ``TARGETS`` in ``backends/__init__.py``.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BackendUnavailableError
from .results import RunResult

if TYPE_CHECKING:
    from .core_counts import CorePlan


@dataclass(frozen=True)
class RunRequest:
    """What a run records, and how it runs: the same request for every target."""

    record_spikes: bool = False  # the rasters (steps, batch, n) of the layers in spike_layers, in RunResult.rasters
    record_state: bool = False  # u and v (steps, batch, n) in RunResult.traces: what --verify compares
    spike_layers: frozenset[str] | None = None  # with record_spikes, the layers whose rasters are recorded (None: every layer)
    state_layers: frozenset[str] | None = None  # with record_state, the layers whose u and v are recorded (None: every layer)
    record_peaks: bool = False  # per layer the largest |u| and |v| (RunResult.peaks; the bit-exact backend's engines), without traces
    windows: Mapping[str, tuple[int, int]] | None = None  # per layer, steps [start, stop) also counted apart
    progress: bool = False  # a progress bar on a terminal
    device: str = "cpu"  # torch device, for targets that run on torch
    per_core: bool = False  # loihi-sim: one Lava process per mapped core slice instead of one per layer
    core_plan: CorePlan | None = None  # count each core's work per step (RunResult.core_counts), for the energy and time model


def recorded(names: Collection[str], record: bool, selection: Collection[str] | None) -> frozenset[str]:
    """Of the layers ``names``, those a run records: none without ``record``, else those in
    ``selection`` (None: every one). A target may record more than asked, never less."""
    return frozenset(name for name in names if record and (selection is None or name in selection))


class Target:
    """An execution target. A subclass sets the class attributes and implements ``run``;
    ``check``, ``check_network`` and ``layer_details`` are optional."""

    name: str
    stage: str  # the compiled network's stage ``run`` takes: "normalised" (float input), "quantised" or "mapped" (the chip's integers)
    bit_exact: bool  # Lava's integers exactly: comparable with --verify
    summary: str = ""  # one line for --help and the docs
    uses_device: bool = False  # runs on RunRequest.device (--device)
    compartments: frozenset[str] = frozenset({"cuba"})  # neuron compartments it runs (neurons/compartment.py)

    def run(self, stage, inputs: np.ndarray, request: RunRequest) -> RunResult:
        """Run ``inputs`` (steps, batch, n_inputs; float values for the normalised stage,
        the chip's integers otherwise) through ``stage``."""
        raise NotImplementedError

    def check(self, request: RunRequest) -> None:
        """Before any work: raise a UserError if this request cannot run here (e.g. its device)."""

    def check_network(self, stage) -> None:
        """After compiling: raise a UserError if this target cannot run the network."""
        layers = getattr(stage, "quantised", stage).layers
        for layer in layers:
            compartment = layer.neurons.compartment
            if compartment not in self.compartments:
                raise BackendUnavailableError(
                    f"layer {layer.name!r}: target {self.name} cannot run neuron model {layer.neurons.kind} "
                    f"(compartment {compartment!r}; it runs {', '.join(sorted(self.compartments))})"
                )

    def layer_details(self, layer) -> dict[str, Any]:
        """What the report should say about how this target runs a quantised layer."""
        return {}

    def learner(self, lowered, compiled, *, sample_steps: int, total_samples: int):
        """A learning layer on this target (``backends/learners.py``) for ``lowered``
        (``learning.lowering.LoweredLayer``) of ``compiled`` (``CompiledNetwork``), presented
        at most ``total_samples`` samples of ``sample_steps`` steps; targets that cannot learn refuse."""
        raise BackendUnavailableError(f"target {self.name} does not learn on the chip: use --target cpu, cpu-numpy, loihi-sim or float")
