"""Pass 3: quantised layers -> cores (mapping v1).

Each layer is split into the fewest equal slices of neurons (contiguous in C order, so a
feature map splits by channels and rows) such that every slice fits one core: neurons,
synapse memory, input and output axons, counted as ``ir/resources.py`` describes (shared
convolution kernels stored once per core). Output axons of a slice depend on how the
layers it feeds are split, recurrence included, so the sizes are iterated until no core
is over its output-axon limit. Cores are numbered in order, chip after chip, and placed
row-major on each chip's mesh of router tiles. Layers do not share cores in this version.
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import DoesNotFitError
from ..profile import HardwareProfile
from ..resources import SliceUse, destination_cores, slice_use
from ..stages import CoreAllocation, LayerMapping, MappedNetwork, QuantisedLayer, QuantisedNetwork

MAX_ITERATIONS = 50


def map_cores(network: QuantisedNetwork, profile: HardwareProfile) -> MappedNetwork:
    cores_of: dict[str, int] = {}
    limits: dict[str, str] = {}
    for layer in network.layers:
        cores_of[layer.name], limits[layer.name] = _cores_for_memory(layer, profile)
    for _ in range(MAX_ITERATIONS):
        changed = False
        for layer in network.layers:
            needed = _cores_for_output_axons(network, layer, cores_of, profile)
            if needed > cores_of[layer.name]:
                cores_of[layer.name], limits[layer.name], changed = needed, "output_axons", True
        if not changed:
            break
    total = sum(cores_of.values())
    available = profile.system.total_cores
    if total > available:
        per_layer = ", ".join(f"{layer.name}: {cores_of[layer.name]}" for layer in network.layers)
        raise DoesNotFitError(
            f"the network needs {total} cores ({per_layer}) but profile {profile.name!r} has {available} "
            f"({profile.system.chips} chip(s) x {profile.system.cores_per_chip} cores): use a profile with more "
            "chips or reduce the layer sizes"
        )
    bounds = {layer.name: slice_bounds(layer.n_out, cores_of[layer.name]) for layer in network.layers}
    out_axons = {layer.name: output_axons_per_neuron(network, layer, bounds) for layer in network.layers}
    mappings, next_core = [], 0
    for layer in network.layers:
        b = bounds[layer.name]
        allocations = []
        for start, stop in zip(b[:-1], b[1:]):
            use = slice_use(layer, int(start), int(stop), profile.synapse_encoding)
            allocations.append(_allocate(next_core, layer, use, int(start), int(stop), int(out_axons[layer.name][start:stop].sum()), profile))
            next_core += 1
        mappings.append(LayerMapping(layer.name, tuple(allocations), limits[layer.name]))
    return MappedNetwork(quantised=network, layers=tuple(mappings), profile=profile)


def slice_bounds(n: int, parts: int) -> np.ndarray:
    """Start of each of ``parts`` near-equal contiguous slices, and n."""
    base, extra = divmod(n, parts)
    sizes = np.full(parts, base) + (np.arange(parts) < extra)
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def output_axons_per_neuron(network: QuantisedNetwork, layer: QuantisedLayer, bounds: dict[str, np.ndarray]) -> np.ndarray:
    total = np.zeros(layer.n_out, dtype=np.int64)
    for consumer in network.consumers(layer.name):
        reached = np.zeros(layer.n_out, dtype=np.int64)
        for projection in consumer.projections:
            if projection.source == layer.name:
                reached = np.maximum(reached, destination_cores(projection, bounds[consumer.name]))
        total += reached
    return total


def _fits(layer: QuantisedLayer, parts: int, profile: HardwareProfile) -> bool:
    core = profile.core
    b = slice_bounds(layer.n_out, parts)
    for start, stop in zip(b[:-1], b[1:]):
        if stop - start > core.max_neurons:
            return False
        use = slice_use(layer, int(start), int(stop), profile.synapse_encoding)
        if use.synapse_bits > core.synapse_memory_bits or use.input_axons > core.max_input_axons:
            return False
    return True


def _cores_for_memory(layer: QuantisedLayer, profile: HardwareProfile) -> tuple[int, str]:
    """Fewest slices that respect neurons, synapse memory and input axons, and which one decided."""
    core = profile.core
    single = slice_use(layer, 0, 1, profile.synapse_encoding)
    worst_single = max((slice_use(layer, i, i + 1, profile.synapse_encoding) for i in _probe_neurons(layer)), key=lambda u: (u.input_axons, u.synapse_bits), default=single)
    if worst_single.input_axons > core.max_input_axons:
        raise DoesNotFitError(
            f"layer {layer.name!r}: a single neuron needs {worst_single.input_axons} input axons (one per input it "
            f"listens to), but a core has {core.max_input_axons}: reduce the layer's fan-in to at most "
            f"{core.max_input_axons} inputs (e.g. fewer neurons in the layer before it)"
        )
    if worst_single.synapse_bits > core.synapse_memory_bits:
        raise DoesNotFitError(
            f"layer {layer.name!r}: a single neuron's synapses need {worst_single.synapse_bits} bits of synapse memory, "
            f"but a core has {core.synapse_memory_bits}: reduce the fan-in"
        )
    by_neurons = math.ceil(layer.n_out / core.max_neurons)
    low, high = by_neurons, layer.n_out
    if _fits(layer, low, profile):
        return low, "neurons"
    while low < high:  # fewest parts that fit; fitting is monotone in the number of parts
        mid = (low + high) // 2
        if _fits(layer, mid, profile):
            high = mid
        else:
            low = mid + 1
    last = slice_use(layer, 0, int(slice_bounds(layer.n_out, max(low - 1, 1))[1]), profile.synapse_encoding)
    resource = "synapse_memory" if last.synapse_bits > core.synapse_memory_bits else "input_axons"
    return low, resource


def _probe_neurons(layer: QuantisedLayer) -> list[int]:
    """A few neurons to test the single-neuron limits on (first, middle, last)."""
    return sorted({0, layer.n_out // 2, layer.n_out - 1})


def _cores_for_output_axons(network: QuantisedNetwork, layer: QuantisedLayer, cores_of: dict[str, int], profile: HardwareProfile) -> int:
    limit = profile.core.max_output_axons
    bounds = {l.name: slice_bounds(l.n_out, cores_of[l.name]) for l in network.layers}
    per_neuron = output_axons_per_neuron(network, layer, bounds)
    if per_neuron.max(initial=0) > limit:
        raise DoesNotFitError(
            f"layer {layer.name!r}: a neuron needs {int(per_neuron.max())} output axons (one per destination core), "
            f"but a core has {limit}: make the layers it feeds smaller"
        )
    parts = cores_of[layer.name]
    while True:
        b = slice_bounds(layer.n_out, parts)
        if all(per_neuron[s:e].sum() <= limit for s, e in zip(b[:-1], b[1:])):
            return parts
        parts += 1


def _allocate(core_index: int, layer: QuantisedLayer, use: SliceUse, start: int, stop: int, output_axons: int, profile: HardwareProfile) -> CoreAllocation:
    system = profile.system
    chip, on_chip = divmod(core_index, system.cores_per_chip)
    tile_index = on_chip // system.cores_per_tile
    tile = (tile_index % system.mesh_tiles[0], tile_index // system.mesh_tiles[0])
    return CoreAllocation(
        core=core_index,
        chip=chip,
        tile=tile,
        layer=layer.name,
        neuron_start=start,
        neuron_stop=stop,
        input_axons=use.input_axons,
        output_axons=output_axons,
        synapse_bits=use.synapse_bits,
    )
