"""Energy and time estimates from activity counts, the core mapping and the profile.

Per layer (all costs from the profile's ``energy_j`` / ``time_s``):

    synaptic  = synops * synaptic_op
    neuron    = active_neuron_updates * neuron_update_active
                + (neuron_updates - active_neuron_updates) * neuron_update_inactive
    routing   = for every output spike and every core its synapses reach:
                spike_within_tile + |dx| * hop_east_west + |dy| * hop_north_south
                + chip hops * chip_hop
                (dx, dy: tile distance between source and destination core; chip hops:
                distance between their chips on the board's chip grid)

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
from ..hardware.profile import HardwareProfile, OperationCosts
from ..hardware.topology import chip_position
from ..ir.stages import CoreUse, LayerSlice, MappedNetwork


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


def routes(mapped: MappedNetwork, name: str) -> list[tuple[CoreUse, CoreUse, np.ndarray]]:
    """(source core, destination core, which of layer ``name``'s neurons send spikes along it)."""
    network = mapped.quantised
    n = network.layer(name).n_out
    reach: dict[int, np.ndarray] = {}  # destination core -> source neurons reaching it
    for consumer in network.consumers(name):
        for piece in mapped.mapping(consumer.name).slices:
            mask = reach.setdefault(piece.core, np.zeros(n, bool))
            for projection in consumer.projections:
                if projection.source != name:
                    continue
                if not sparse.issparse(projection.weights):
                    mask[:] = True
                else:
                    rows = sparse.csr_matrix(projection.weights)[piece.index]
                    mask |= np.diff(rows.tocsc().indptr) > 0
    result = []
    for piece in mapped.mapping(name).slices:
        for core, mask in reach.items():
            part = np.zeros(n, bool)
            part[piece.index] = mask[piece.index]
            if part.any():
                result.append((mapped.core(piece.core), mapped.core(core), part))
    return result


def _route_cost(mapped: MappedNetwork, src: CoreUse, dst: CoreUse, costs: OperationCosts) -> float:
    """One spike from ``src`` to ``dst``: within-tile cost, mesh hops (tile distance), and
    chip-to-chip hops (distance on the board's chip grid)."""
    dx, dy = abs(src.tile[0] - dst.tile[0]), abs(src.tile[1] - dst.tile[1])
    a, b = chip_position(src.chip, mapped.profile), chip_position(dst.chip, mapped.profile)
    chips = abs(a[0] - b[0]) + abs(a[1] - b[1])
    return costs.spike_within_tile + dx * costs.hop_east_west + dy * costs.hop_north_south + chips * costs.chip_hop


def layer_energy(mapped: MappedNetwork, name: str, activity: LayerActivity) -> LayerEnergy:
    costs = mapped.profile.energy_j
    inactive = activity.neuron_updates - activity.active_neuron_updates
    sent = activity.events_per_neuron()  # spike messages: one graded spike carries several spikes
    per_neuron = sent.sum(axis=0) if sent is not None else None
    routing = 0.0
    for src, dst, mask in routes(mapped, name):
        spikes = float(per_neuron[mask].sum()) if per_neuron is not None else activity.spikes * mask.mean()
        routing += spikes * _route_cost(mapped, src, dst, costs)
    return LayerEnergy(
        synaptic=activity.synops * costs.synaptic_op,
        neuron=activity.active_neuron_updates * costs.neuron_update_active + inactive * costs.neuron_update_inactive,
        routing=routing,
    )


def core_work(mapped: MappedNetwork, activities: dict[str, LayerActivity], samples_steps: int) -> dict[int, float]:
    """Seconds per step of synaptic and neuron work on every core (all its layer slices)."""
    t = mapped.profile.time_s
    work = {c.core: 0.0 for c in mapped.cores}
    for layer in mapped.quantised.layers:
        activity = activities[layer.name]
        synapses = max(layer.synapse_count, 1)
        active_fraction = activity.active_neuron_updates / max(activity.neuron_updates, 1)
        for piece in mapped.mapping(layer.name).slices:
            share = sum(_synapses_in(p.weights, piece) for p in layer.projections) / synapses
            synops = activity.synops * share / samples_steps
            active = piece.neurons * active_fraction
            work[piece.core] += synops * t.synaptic_op + active * t.neuron_update_active + (piece.neurons - active) * t.neuron_update_inactive
    return work


def layer_step_time(mapped: MappedNetwork, name: str, work: dict[int, float]) -> float:
    """Seconds per step of the busiest core hosting this layer."""
    return max((work[piece.core] for piece in mapped.mapping(name).slices), default=0.0)


def _synapses_in(weights, piece: LayerSlice) -> int:
    if sparse.issparse(weights):
        return int(np.diff(sparse.csr_matrix(weights).indptr)[piece.index].sum())
    return int(weights.shape[1] * piece.neurons)


def longest_route_time(mapped: MappedNetwork) -> float:
    t = mapped.profile.time_s
    longest = 0.0
    for layer in mapped.quantised.layers:
        for src, dst, _ in routes(mapped, layer.name):
            longest = max(longest, _route_cost(mapped, src, dst, t))
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
    return len({(c.chip, c.tile) for c in mapped.cores})
