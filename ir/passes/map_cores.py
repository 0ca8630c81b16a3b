"""Pass 3: quantised layers -> cores (mapping v1).

Each layer is split into the fewest equal slices of neurons such that every slice
fits one core (neurons, synapse memory, input and output axons; see
``ir/resources.py``). Output axons of a slice depend on how many cores the next layer
uses, so layers are sized from the output back to the input. Cores are numbered in
order, chip after chip, and placed row-major on each chip's mesh of router tiles.
Layers are not packed together onto shared cores in this version.
"""
from __future__ import annotations

import math

from ...errors import DoesNotFitError
from ..profile import HardwareProfile
from ..resources import slice_synapse_bits
from ..stages import CoreAllocation, LayerMapping, MappedNetwork, QuantisedLayer, QuantisedNetwork


def map_cores(network: QuantisedNetwork, profile: HardwareProfile) -> MappedNetwork:
    consumers = _consumers(network)
    cores_of: dict[str, int] = {}
    limits: dict[str, str] = {}
    for layer in reversed(network.layers):
        fanout_cores = sum(cores_of[name] for name in consumers[layer.name])
        cores_of[layer.name], limits[layer.name] = _cores_for_layer(layer, fanout_cores, profile)
    total = sum(cores_of.values())
    available = profile.system.total_cores
    if total > available:
        per_layer = ", ".join(f"{layer.name}: {cores_of[layer.name]}" for layer in network.layers)
        raise DoesNotFitError(
            f"the network needs {total} cores ({per_layer}) but profile {profile.name!r} has {available} "
            f"({profile.system.chips} chip(s) x {profile.system.cores_per_chip} cores): use a profile with more "
            "chips or reduce the layer sizes"
        )
    mappings, next_core = [], 0
    for layer in network.layers:
        fanout_cores = sum(cores_of[name] for name in consumers[layer.name])
        allocations = []
        for start, stop in _even_slices(layer.n_out, cores_of[layer.name]):
            allocations.append(_allocate(next_core, layer, start, stop, fanout_cores, profile))
            next_core += 1
        mappings.append(LayerMapping(layer.name, tuple(allocations), limits[layer.name]))
    return MappedNetwork(quantised=network, layers=tuple(mappings), profile=profile)


def _consumers(network: QuantisedNetwork) -> dict[str, list[str]]:
    consumers: dict[str, list[str]] = {layer.name: [] for layer in network.layers}
    for layer in network.layers:
        if layer.source in consumers:
            consumers[layer.source].append(layer.name)
    return consumers


def _even_slices(n: int, parts: int) -> list[tuple[int, int]]:
    base, extra = divmod(n, parts)
    bounds, start = [], 0
    for i in range(parts):
        stop = start + base + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def _cores_for_layer(layer: QuantisedLayer, fanout_cores: int, profile: HardwareProfile) -> tuple[int, str]:
    """Fewest cores whose largest slice satisfies every per-core limit, and which limit decided."""
    core = profile.core
    if layer.n_in > core.max_input_axons:
        raise DoesNotFitError(
            f"layer {layer.name!r}: each core needs {layer.n_in} input axons (one per input), "
            f"but a core has {core.max_input_axons}: reduce the layer's fan-in to at most {core.max_input_axons} "
            "inputs (e.g. fewer neurons in the layer before it)"
        )
    if fanout_cores > core.max_output_axons:
        raise DoesNotFitError(
            f"layer {layer.name!r}: every neuron needs {fanout_cores} output axons (one per destination core), "
            f"but a core has {core.max_output_axons}: make the next layer smaller"
        )
    one_neuron_bits = slice_synapse_bits(layer.n_in, 1, profile.synapse_encoding)
    if one_neuron_bits > core.synapse_memory_bits:
        raise DoesNotFitError(
            f"layer {layer.name!r}: a single neuron's {layer.n_in} synapses need {one_neuron_bits} bits of synapse "
            f"memory, but a core has {core.synapse_memory_bits}: reduce the fan-in"
        )
    candidates = {"neurons": math.ceil(layer.n_out / core.max_neurons)}
    candidates["synapse_memory"] = _smallest_parts(
        layer.n_out, lambda size: slice_synapse_bits(layer.n_in, size, profile.synapse_encoding) <= core.synapse_memory_bits
    )
    if fanout_cores:
        candidates["output_axons"] = _smallest_parts(layer.n_out, lambda size: size * fanout_cores <= core.max_output_axons)
    resource = max(candidates, key=lambda name: candidates[name])
    return max(1, candidates[resource]), resource


def _smallest_parts(n: int, fits) -> int:
    """Fewest equal parts of n whose largest part satisfies ``fits(size)`` (binary search on size)."""
    low, high = 1, n  # largest part size that fits lies in [1, n]
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return math.ceil(n / low)


def _allocate(
    core_index: int, layer: QuantisedLayer, start: int, stop: int, fanout_cores: int, profile: HardwareProfile
) -> CoreAllocation:
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
        input_axons=layer.n_in,
        output_axons=(stop - start) * fanout_cores,
        synapse_bits=slice_synapse_bits(layer.n_in, stop - start, profile.synapse_encoding),
    )
