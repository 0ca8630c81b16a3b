"""Energy and time on the chip: SANA-FE's Loihi cost model over a run's counts (docs/energy.md).

Every cost is the profile's (``energy_j`` / ``time_s``); every count comes from the run, as
the mapping places it (``backends/core_counts.py``). Energy, per layer:

    synaptic = sum over its projections of synops x synapse_<dense|sparse|conv>
               + synops x dendrite                       (events into the layer)
    neuron   = neuron-steps x neuron_access + updated neuron-steps x neuron_update
               + spikes x spike_out
    network  = messages x (message_out + message_in) + x hops x hop_east_west
               + y hops x hop_north_south + chip links x chip_hop   (messages the layer sends)

where a spike sends one message to each distinct core its synapses reach (its own included)
and the input's events send theirs from input cores (``totals.energy_j.input``). The time of
a step is SANA-FE's analytical model: the busiest core's work, either sending (its neurons'
access, update and spike-out times plus message_out per message) or receiving (message_in
per message plus each synaptic event's synapse and dendrite time), plus the barrier for the
router tiles in use, input cores included:

    T(t) = max over cores of max(send(t), receive(t)) + barrier_sync(tiles)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends.core_counts import SYNAPSE_FIELD, CorePlan, plan_core_counts
from ..backends.results import LayerActivity, RunResult, fanout
from ..hardware.profile import HardwareProfile, OperationCosts
from ..ir.stages import INPUT, MappedNetwork

TERMS = (
    "synapse_dense", "synapse_sparse", "synapse_conv", "dendrite", "neuron_access", "neuron_update", "spike_out",
    "message_out", "message_in", "hop_east_west", "hop_north_south", "chip_hop",
)
PART = {
    "synapse_dense": "synaptic", "synapse_sparse": "synaptic", "synapse_conv": "synaptic", "dendrite": "synaptic",
    "neuron_access": "neuron", "neuron_update": "neuron", "spike_out": "neuron",
    "message_out": "network", "message_in": "network", "hop_east_west": "network", "hop_north_south": "network", "chip_hop": "network",
}
PARTS = ("synaptic", "neuron", "network")
HOP_COUNTERS = {"hop_east_west": "hops_east_west", "hop_north_south": "hops_north_south", "chip_hop": "chip_hops"}


@dataclass(frozen=True)
class Operations:
    """How many times each operation (``TERMS``) happened."""

    counts: dict[str, int]

    def energy(self, costs: OperationCosts) -> dict[str, float]:
        """Joules per term."""
        return {term: self.counts.get(term, 0) * getattr(costs, term) for term in TERMS}

    def __add__(self, other: "Operations") -> "Operations":
        return Operations({term: self.counts.get(term, 0) + other.counts.get(term, 0) for term in TERMS})


def parts(energy: dict[str, float]) -> dict[str, float]:
    """Joules per part (synaptic, neuron, network) and in total."""
    split = {part: float(sum(j for term, j in energy.items() if PART[term] == part)) for part in PARTS}
    return {"total": float(sum(split.values())), **split}


def source_events(result: RunResult, name: str) -> np.ndarray:
    """Events of a source over the run: spike messages per neuron of a layer (a graded spike
    carrying several spikes is one), nonzero values per input."""
    if name == INPUT:
        if result.input_events is None:
            raise ValueError(f"target {result.target!r} returned no input_events: the energy model needs the input's events per input")
        return np.asarray(result.input_events, np.int64)
    return result.layers[name].events_per_neuron().sum(axis=0).astype(np.int64)


def messages(plan: CorePlan, events: np.ndarray, source: str) -> dict[str, int]:
    """The network operations of a source's events: messages and the hops they travel."""
    totals = np.asarray(events, np.int64) @ plan.spike_map[source]
    counts = {"message_out": int(plan.total(totals, "messages_out")), "message_in": int(plan.total(totals, "messages_in"))}
    counts.update({term: int(plan.total(totals, counter)) for term, counter in HOP_COUNTERS.items()})
    return counts


def layer_operations(mapped: MappedNetwork, plan: CorePlan, name: str, result: RunResult) -> Operations:
    """What layer ``name`` did: the synaptic events into it, its neurons' work, and the
    messages its spikes sent."""
    layer = mapped.quantised.layer(name)
    activity: LayerActivity = result.layers[name]
    counts = {term: 0 for term in TERMS}
    for projection in layer.projections:
        events = source_events(result, projection.source) @ fanout(projection.weights)
        counts[SYNAPSE_FIELD[projection.connection]] += int(events)
        counts["dendrite"] += int(events)
    counts["neuron_access"] = activity.neuron_updates
    counts["neuron_update"] = activity.neuron_updates if activity.updated_neuron_updates is None else activity.updated_neuron_updates
    counts["spike_out"] = int(activity.events_per_neuron().sum())  # one per spike message
    counts.update(messages(plan, source_events(result, name), name))
    return Operations(counts)


def input_operations(plan: CorePlan, result: RunResult) -> Operations:
    """The messages the input's events send from the input cores (no neuron work)."""
    return Operations(messages(plan, source_events(result, INPUT), INPUT))


# --------------------------------------------------------------------------- time
@dataclass(frozen=True)
class StepTimes:
    """Per kept sample and step: every core's sending and receiving work (s), and the barrier."""

    send: np.ndarray  # (samples, steps, cores)
    receive: np.ndarray  # (samples, steps, cores)
    barrier: float

    @property
    def busiest(self) -> np.ndarray:
        """(samples, steps, cores): each core's time, the larger of its two sides."""
        return np.maximum(self.send, self.receive)

    @property
    def per_step(self) -> np.ndarray:
        """(samples, steps): the step's time, busiest core plus barrier."""
        return self.busiest.max(axis=2, initial=0.0) + self.barrier


def step_times(plan: CorePlan, steps: np.ndarray, profile: HardwareProfile) -> StepTimes:
    """SANA-FE's analytical time model over per-step counts (``CoreCounts.steps``)."""
    t = profile.time_s
    counts = steps.astype(np.float64)
    neurons = np.array([site.neurons for site in plan.sites], np.float64)
    send = (
        t.neuron_access * neurons
        + t.neuron_update * plan.per_core(counts, "updated")
        + t.spike_out * plan.per_core(counts, "spikes")
        + t.message_out * plan.per_core(counts, "messages_out")
    )
    receive = t.message_in * plan.per_core(counts, "messages_in")
    for field in ("synapse_dense", "synapse_sparse", "synapse_conv"):
        receive = receive + (getattr(t, field) + t.dendrite) * plan.per_core(counts, field)
    return StepTimes(send, receive, t.barrier(plan.tiles_in_use))


def layer_step_time(plan: CorePlan, times: StepTimes, mapped: MappedNetwork, name: str) -> float:
    """Mean over steps of the busiest core hosting the layer (without the barrier)."""
    position = {site.core: i for i, site in enumerate(plan.sites)}
    cores = sorted({position[piece.core] for piece in mapped.mapping(name).slices})
    busiest = times.busiest[:, :, cores]
    return float(busiest.max(axis=2).mean()) if busiest.size else 0.0


def input_cores(plan: CorePlan) -> int:
    return sum(1 for site in plan.sites if site.inputs)


# --------------------------------------------------------------------------- a run's costs
@dataclass(frozen=True, eq=False)
class RunCosts:
    """A run's operations, per layer and for the input, and its step times where counted."""

    mapped: MappedNetwork
    plan: CorePlan
    layers: dict[str, Operations]
    input: Operations
    times: StepTimes | None  # None: the run did not count per step (no CorePlan in its request)

    def total(self) -> Operations:
        total = self.input
        for operations in self.layers.values():
            total = total + operations
        return total

    def layer_time(self, name: str) -> float | None:
        return layer_step_time(self.plan, self.times, self.mapped, name) if self.times is not None else None

    @property
    def time_per_step(self) -> float | None:
        return float(self.times.per_step.mean()) if self.times is not None else None

    @property
    def time_per_sample(self) -> float | None:
        return float(self.times.per_step.sum(axis=1).mean()) if self.times is not None else None


def run_costs(mapped: MappedNetwork, result: RunResult) -> RunCosts:
    counts = result.core_counts
    plan = counts.plan if counts is not None else plan_core_counts(mapped)
    layers = {layer.name: layer_operations(mapped, plan, layer.name, result) for layer in mapped.quantised.layers}
    times = step_times(plan, counts.steps, mapped.profile) if counts is not None and counts.steps.shape[0] else None
    return RunCosts(mapped, plan, layers, input_operations(plan, result), times)


def notes(costs: RunCosts | None, result: RunResult | None) -> list[str]:
    """What the reader of the energy and time figures should know about how they were made."""
    if costs is None or result is None:
        return []
    found = []
    if costs.times is None:
        found.append("time per step not estimated: the run did not count each core's work per step")
    elif costs.times.send.shape[0] < result.batch:
        kept = costs.times.send.shape[0]
        found.append(f"time per step estimated on the first {kept} of {result.batch} samples (per-step counts are kept within a memory bound)")
    if result.target == "float":
        found.append("energy and time on the float target: its spikes on the mapped chip's synapses, without Loihi's synaptic delay")
    if any(activity.updated_neuron_updates is None for activity in result.layers.values()):
        found.append(f"target {result.target!r} did not count updated neurons: every neuron update is charged as one (an upper bound)")
    return found
