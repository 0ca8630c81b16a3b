"""Energy and time estimates from activity counts, the core mapping and the profile.

Per layer (all costs from the profile's ``energy_j`` / ``time_s``):

    synaptic  = synops * synaptic_op
    neuron    = active_neuron_updates * neuron_update_active
                + (neuron_updates - active_neuron_updates) * neuron_update_inactive
    routing   = sum over the layer's output spikes and their destination cores of
                spike_within_tile + |dx| * hop_east_west + |dy| * hop_north_south
                (dx, dy: tile distance between source and destination core)

Time per step: every core works in parallel, so a step takes as long as the busiest
core's synaptic and neuron work (averaged over steps), plus the longest spike route,
plus the barrier synchronisation (interpolated between the profile's 1-tile and
full-mesh figures by the number of tiles in use). Input spikes from the host and
chip-to-chip links are not modelled.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..backends.results import LayerActivity
from ..ir.profile import HardwareProfile, OperationCosts
from ..ir.stages import CoreAllocation, MappedNetwork


@dataclass(frozen=True)
class LayerEnergy:
    synaptic: float
    neuron: float
    routing: float

    @property
    def total(self) -> float:
        return self.synaptic + self.neuron + self.routing

    def to_dict(self) -> dict[str, float]:
        return {"total": self.total, "synaptic": self.synaptic, "neuron": self.neuron, "routing": self.routing}


def layer_energy(mapped: MappedNetwork, name: str, activity: LayerActivity) -> LayerEnergy:
    costs = mapped.profile.energy_j
    inactive = activity.neuron_updates - activity.active_neuron_updates
    return LayerEnergy(
        synaptic=activity.synops * costs.synaptic_op,
        neuron=activity.active_neuron_updates * costs.neuron_update_active + inactive * costs.neuron_update_inactive,
        routing=_routing(mapped, name, activity, costs),
    )


def _destinations(mapped: MappedNetwork, name: str) -> list[CoreAllocation]:
    consumers = [layer.name for layer in mapped.quantised.layers if layer.source == name]
    return [core for consumer in consumers for core in mapped.mapping(consumer).cores]


def _route_cost(src: CoreAllocation, dst: CoreAllocation, costs: OperationCosts) -> float:
    dx, dy = abs(src.tile[0] - dst.tile[0]), abs(src.tile[1] - dst.tile[1])
    return costs.spike_within_tile + dx * costs.hop_east_west + dy * costs.hop_north_south


def _spikes_per_core(mapped: MappedNetwork, name: str, activity: LayerActivity) -> list[tuple[CoreAllocation, int]]:
    per_neuron = activity.spike_counts.sum(axis=0) if activity.spike_counts is not None else None
    result = []
    for core in mapped.mapping(name).cores:
        if per_neuron is None:
            spikes = round(activity.spikes * core.neurons / activity.n_neurons)
        else:
            spikes = int(per_neuron[core.neuron_start : core.neuron_stop].sum())
        result.append((core, spikes))
    return result


def _routing(mapped: MappedNetwork, name: str, activity: LayerActivity, costs: OperationCosts) -> float:
    destinations = _destinations(mapped, name)
    total = 0.0
    for src, spikes in _spikes_per_core(mapped, name, activity):
        total += spikes * sum(_route_cost(src, dst, costs) for dst in destinations)
    return total


def layer_step_time(mapped: MappedNetwork, name: str, activity: LayerActivity, samples_steps: int) -> float:
    """Seconds per step of this layer's busiest core (synaptic + neuron work, no routing)."""
    t = mapped.profile.time_s
    layer = mapped.quantised.layer(name)
    busiest = 0.0
    events = activity.synops / max(layer.n_out, 1)  # input events over the run
    active_fraction = activity.active_neuron_updates / max(activity.neuron_updates, 1)
    for core in mapped.mapping(name).cores:
        synops = events * core.neurons / samples_steps
        active = core.neurons * active_fraction
        work = synops * t.synaptic_op + active * t.neuron_update_active + (core.neurons - active) * t.neuron_update_inactive
        busiest = max(busiest, work)
    return busiest


def longest_route_time(mapped: MappedNetwork) -> float:
    t = mapped.profile.time_s
    longest = 0.0
    for layer in mapped.quantised.layers:
        for src in mapped.mapping(layer.name).cores:
            for dst in _destinations(mapped, layer.name):
                longest = max(longest, _route_cost(src, dst, t))
    return longest


def barrier_time(profile: HardwareProfile, tiles_used: int) -> float:
    """Linear interpolation between the 1-tile and whole-mesh barrier figures."""
    t = profile.time_s
    mesh = profile.system.mesh_tiles[0] * profile.system.mesh_tiles[1]
    if mesh <= 1:
        return t.barrier_sync_max
    fraction = (min(tiles_used, mesh) - 1) / (mesh - 1)
    return t.barrier_sync_min + fraction * (t.barrier_sync_max - t.barrier_sync_min)


def tiles_used(mapped: MappedNetwork) -> int:
    return len({(c.chip, c.tile) for m in mapped.layers for c in m.cores})

