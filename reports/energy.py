"""Energy and time estimates from activity counts, the core mapping and the profile.

Per layer (all costs from the profile's ``energy_j`` / ``time_s``):

    synaptic  = synops * synaptic_op
    neuron    = active_neuron_updates * neuron_update_active
                + (neuron_updates - active_neuron_updates) * neuron_update_inactive
    routing   = for every output spike and every core its synapses reach:
                spike_within_tile + |dx| * hop_east_west + |dy| * hop_north_south
                (dx, dy: tile distance between source and destination core)

Time per step: every core works in parallel, so a step takes as long as the busiest
core's synaptic and neuron work (its share of the layer's synapses and neurons, averaged
over steps), plus the longest spike route, plus the barrier synchronisation
(interpolated between the profile's 1-tile and full-mesh figures by the number of tiles
in use). Input spikes from the host and chip-to-chip links are not modelled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

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


def routes(mapped: MappedNetwork, name: str) -> list[tuple[CoreAllocation, CoreAllocation, np.ndarray]]:
    """(source core, destination core, which of the source layer's neurons reach it)."""
    network = mapped.quantised
    result = []
    for consumer in network.consumers(name):
        targets = mapped.mapping(consumer.name).cores
        reach = [np.zeros(network.layer(name).n_out, bool) for _ in targets]
        for projection in consumer.projections:
            if projection.source != name:
                continue
            if not sparse.issparse(projection.weights):
                for r in reach:
                    r[:] = True
                continue
            csc = sparse.csc_matrix(projection.weights)
            for r, core in zip(reach, targets):
                rows = csc[core.neuron_start : core.neuron_stop]
                r |= np.diff(rows.tocsc().indptr) > 0
        for src in mapped.mapping(name).cores:
            for dst, r in zip(targets, reach):
                mask = np.zeros_like(r)
                mask[src.neuron_start : src.neuron_stop] = r[src.neuron_start : src.neuron_stop]
                if mask.any():
                    result.append((src, dst, mask))
    return result


def _route_cost(src: CoreAllocation, dst: CoreAllocation, costs: OperationCosts) -> float:
    dx, dy = abs(src.tile[0] - dst.tile[0]), abs(src.tile[1] - dst.tile[1])
    return costs.spike_within_tile + dx * costs.hop_east_west + dy * costs.hop_north_south


def layer_energy(mapped: MappedNetwork, name: str, activity: LayerActivity) -> LayerEnergy:
    costs = mapped.profile.energy_j
    inactive = activity.neuron_updates - activity.active_neuron_updates
    per_neuron = activity.spike_counts.sum(axis=0) if activity.spike_counts is not None else None
    routing = 0.0
    for src, dst, mask in routes(mapped, name):
        spikes = float(per_neuron[mask].sum()) if per_neuron is not None else activity.spikes * mask.mean()
        routing += spikes * _route_cost(src, dst, costs)
    return LayerEnergy(
        synaptic=activity.synops * costs.synaptic_op,
        neuron=activity.active_neuron_updates * costs.neuron_update_active + inactive * costs.neuron_update_inactive,
        routing=routing,
    )


def layer_step_time(mapped: MappedNetwork, name: str, activity: LayerActivity, samples_steps: int) -> float:
    """Seconds per step of this layer's busiest core (synaptic and neuron work, no routing)."""
    t = mapped.profile.time_s
    layer = mapped.quantised.layer(name)
    synapses = max(layer.synapse_count, 1)
    active_fraction = activity.active_neuron_updates / max(activity.neuron_updates, 1)
    busiest = 0.0
    for core in mapped.mapping(name).cores:
        share = sum(_synapses_in(p.weights, core) for p in layer.projections) / synapses
        synops = activity.synops * share / samples_steps
        active = core.neurons * active_fraction
        work = synops * t.synaptic_op + active * t.neuron_update_active + (core.neurons - active) * t.neuron_update_inactive
        busiest = max(busiest, work)
    return busiest


def _synapses_in(weights, core: CoreAllocation) -> int:
    if sparse.issparse(weights):
        rows = sparse.csr_matrix(weights)
        return int(rows.indptr[core.neuron_stop] - rows.indptr[core.neuron_start])
    return int(weights.shape[1] * core.neurons)


def longest_route_time(mapped: MappedNetwork) -> float:
    t = mapped.profile.time_s
    longest = 0.0
    for layer in mapped.quantised.layers:
        for src, dst, _ in routes(mapped, layer.name):
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
