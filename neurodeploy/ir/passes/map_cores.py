"""Pass 3: quantised layers -> cores on chips (mapping).

1. Split: each layer is cut into the fewest near-equal slices whose neurons, synapse
   memory and input axons each fit one core (``ir/resources.py``: shared convolution
   kernels stored once per core; sparse lists with their index bits). A feature map
   (C, H, W) is cut into bands of rows with all their channels (then, if a row is too
   big, into channel groups of each row), so that a spike from the layer before reaches
   few cores; other layers into contiguous ranges. A feature map that needs more slices
   than it has rows may instead be cut into channel groups spanning every row: a shared
   kernel is stored once per core and input channel, whatever the positions, so such a
   slice holds H times the neurons for the same synapse memory, but every neuron before it
   then reaches every slice. The pass keeps the cut with the fewer cores, counting those
   the layers before it need for their output axons (``_channel_major``).
2. Output axons: a neuron needs one output axon per distinct core its synapses reach, and
   where the profile has population axons the neurons of one position of a feature map
   that feed a convolution or pooling share them (``ir/resources.py``), so a slice's output
   axons depend on how the layers it feeds are split (recurrence included); slices that
   exceed the limit are split further until none does.
3. Pack: slices are packed onto cores in layer order (first fit among the cores opened
   last, which keeps connected layers close), as long as every per-core limit holds for
   the sum (input axons summed is an upper bound when layers share a source). Small
   layers therefore share cores.
4. Place: cores are numbered in that order and laid along a snake path over each chip's
   mesh of router tiles, chips along a snake path over the board's chip grid, so that
   consecutive cores, which exchange most spikes, are neighbours.

A network that does not fit stops with an error naming the layer, the resource, the need,
the limit and what would make it fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ...errors import DoesNotFitError
from ...hardware.profile import HardwareProfile
from ...hardware.topology import place
from ...neurons import compartment_of
from ..resources import _pair_counts, output_axon_counter, output_axons_per_neuron, partition_use
from ..stages import CoreUse, LayerMapping, LayerSlice, MappedNetwork, QuantisedLayer, QuantisedNetwork

MAX_ITERATIONS = 50
EARLY_REFUSAL_CORES = 1 << 16  # a network needing more cores than this and than the profile has is refused before mapping
PACK_WINDOW = 8  # packing tries the last few cores opened, for locality and speed


def map_cores(network: QuantisedNetwork, profile: HardwareProfile) -> MappedNetwork:
    _check_neurons_fit(network, profile)
    plan, limits, channel_major = {}, {}, {}  # per layer: the slice of every neuron
    for layer in network.layers:
        parts, limits[layer.name] = _parts_for_layer(layer, profile)
        channel_major[layer.name] = False
        choice = _channel_major(network, layer, parts, profile)
        if choice is not None:
            channel_major[layer.name], (parts, limits[layer.name]) = True, choice
        fill = largest_slice(layer, profile)
        plan[layer.name] = partition(layer, parts, fill, channel_major=channel_major[layer.name])[0]
    for _ in range(MAX_ITERATIONS):  # output axons, with every slice on a core of its own (an upper bound)
        core_of_row = _core_of_row_per_slice(network, plan)
        changed = False
        for layer in network.layers:
            axons_of = output_axon_counter(network, layer, core_of_row, profile.core.population_axon_slots)
            if _fits_output_axons(plan[layer.name], axons_of(plan[layer.name]), profile):
                continue
            split = _split_for_output_axons(layer, axons_of, plan[layer.name], profile, channel_major[layer.name])
            plan[layer.name], limits[layer.name], changed = split, "output_axons", True
        if not changed:
            break
    else:  # each split moved another layer's destinations: the limits never held at once
        raise DoesNotFitError(
            f"no mapping keeps every core within {profile.core.max_output_axons} output axons (tried {MAX_ITERATIONS} rounds of "
            "splitting): use a profile with more output axons per core"
        )
    slices = _slices(network, plan, profile)
    cores = _pack(network, slices, profile)
    _check_total(network, cores, profile)
    core_of_row, piece_of = {}, {}
    for layer in network.layers:
        rows = np.zeros(layer.n_out, dtype=np.int64)
        pieces = np.zeros(layer.n_out, dtype=np.int64)
        for i, piece in enumerate(slices[layer.name]):
            rows[piece.index] = piece.core
            pieces[piece.index] = i
        core_of_row[layer.name], piece_of[layer.name] = rows, pieces
    placed, layer_maps = [], {layer.name: [] for layer in network.layers}
    slots = profile.core.population_axon_slots
    out_axons = {layer.name: output_axons_per_neuron(network, layer, core_of_row, piece_of[layer.name], slots) for layer in network.layers}
    for index, members in enumerate(cores):
        chip, tile = place(index, profile)
        final = []
        for piece in members:
            final_slice = LayerSlice(
                layer=piece.layer,
                index=piece.index,
                core=index,
                input_axons=piece.input_axons,
                synapse_bits=piece.synapse_bits,
                output_axons=int(out_axons[piece.layer][piece.index].sum()),
            )
            final.append(final_slice)
            layer_maps[piece.layer].append(final_slice)
        placed.append(CoreUse(core=index, chip=chip, tile=tile, slices=tuple(final)))
    layers = tuple(LayerMapping(layer.name, tuple(layer_maps[layer.name]), limits[layer.name]) for layer in network.layers)
    return MappedNetwork(quantised=network, layers=layers, cores=tuple(placed), profile=profile)


def slice_bounds(n: int, parts: int) -> np.ndarray:
    """Start of each of ``parts`` near-equal contiguous slices, and n."""
    base, extra = divmod(n, parts)
    sizes = np.full(parts, base) + (np.arange(parts) < extra)
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def partition(layer: QuantisedLayer, parts: int, fill: int = 0, channel_major: bool = False) -> tuple[np.ndarray, int]:
    """The slice of every neuron when ``layer`` is cut into about ``parts`` slices; and how
    many slices that makes (a feature map's bands can only follow rows and channels).
    ``fill``: cut a flat layer into slices of ``fill`` neurons and one remainder instead of
    equal slices, which leaves room on the last core for small layers to share.
    ``channel_major``: a feature map in groups of channels with all their rows (then, past
    one channel per slice, each channel in bands of rows)."""
    n = layer.n_out
    if fill and len(layer.shape) != 3:
        return np.arange(n) // fill, -(-n // fill)
    if len(layer.shape) == 3 and channel_major:
        channels, height, width = layer.shape
        channel = np.arange(n) // (height * width)
        if parts <= channels:
            return channel * parts // channels, parts
        bands = min(height, -(-parts // channels))
        return channel * bands + (np.arange(n) // width % height) * bands // height, channels * bands
    if len(layer.shape) == 3 and layer.shape[1] > 1:
        channels, height, width = layer.shape
        rows = np.arange(n) // width % height
        if parts <= height:  # bands of rows, all channels
            return rows * parts // height, parts
        groups = min(channels, -(-parts // height))  # each row's channels in groups
        channel = np.arange(n) // (height * width)
        return rows * groups + channel * groups // channels, height * groups
    return np.repeat(np.arange(parts), np.diff(slice_bounds(n, parts))), parts


# --------------------------------------------------------------------------- split
def _parts_for_layer(layer: QuantisedLayer, profile: HardwareProfile, channel_major: bool = False) -> tuple[int, str]:
    """Fewest slices whose neurons, synapse memory and input axons fit one core, and the
    resource that decided."""
    core = profile.core
    encoding = profile.synapse_encoding
    singles_axons, singles_bits = partition_use(layer, np.arange(layer.n_out), layer.n_out, encoding)
    worst = int(np.argmax(singles_axons))
    if singles_axons[worst] > core.max_input_axons:
        raise DoesNotFitError(
            f"layer {layer.name!r}: neuron {worst} listens to {singles_axons[worst]} inputs, but a core has "
            f"{core.max_input_axons} input axons: reduce its fan-in to at most {core.max_input_axons} (fewer neurons or "
            "channels in the layer before it, a smaller kernel, or pooling as a layer of its own)"
        )
    worst = int(np.argmax(singles_bits))
    if singles_bits[worst] > core.synapse_memory_bits:
        raise DoesNotFitError(
            f"layer {layer.name!r}: neuron {worst}'s synapses need {singles_bits[worst]} bits of synapse memory, but a "
            f"core has {core.synapse_memory_bits}: reduce its fan-in"
        )
    whole_axons, whole_bits = partition_use(layer, np.zeros(layer.n_out, dtype=np.int64), 1, encoding)
    estimate = {  # lower bounds: splitting only adds list overheads
        "neurons": math.ceil(layer.n_out / core.max_neurons),
        "synapse_memory": math.ceil(int(whole_bits[0]) / core.synapse_memory_bits),
    }
    low = max(1, max(estimate.values()))
    over_at: dict[int, list[str]] = {}

    def fits(parts: int) -> bool:
        assignment, k = partition(layer, parts, channel_major=channel_major)
        axons, bits = partition_use(layer, assignment, k, encoding)
        sizes = np.bincount(assignment, minlength=k)
        over_at[parts] = [name for name, ok in (
            ("neurons", sizes.max() <= core.max_neurons),
            ("synapse_memory", bits.max() <= core.synapse_memory_bits),
            ("input_axons", axons.max() <= core.max_input_axons),
        ) if not ok]
        return not over_at[parts]

    parts = fewest_parts(fits, low, layer.n_out)
    if parts - 1 in over_at and over_at[parts - 1]:  # what one slice fewer would break
        return parts, over_at[parts - 1][0]
    return parts, max(estimate, key=lambda r: estimate[r])


def _channel_major(network: QuantisedNetwork, layer: QuantisedLayer, parts: int, profile: HardwareProfile) -> tuple[int, str] | None:
    """(parts, limiting resource) of groups of whole channels where they cost fewer cores than
    ``parts`` bands of rows (and channel groups), counting the layer's own slices and the cores
    the layers before it need for the output axons that reach them (one per neuron and slice
    reached); else None."""
    if len(layer.shape) != 3 or parts <= layer.shape[1] or any(not sparse.issparse(p.weights) for p in layer.projections):
        return None
    choice = _parts_for_layer(layer, profile, channel_major=True)
    costs = []
    for major, k in ((False, parts), (True, choice[0])):
        assignment, k = partition(layer, k, channel_major=major)
        costs.append(k + _source_output_axon_cores(network, layer, assignment, k, profile))
    return choice if costs[1] < costs[0] else None


def _source_output_axon_cores(network: QuantisedNetwork, layer: QuantisedLayer, assignment: np.ndarray, k: int, profile: HardwareProfile) -> int:
    """Cores the layers feeding ``layer`` need at least for their output axons into its ``k``
    slices: one per (source neuron, slice) reached, or with population axons one per
    (input position, slice) reached (all of a position's channels on one core)."""
    names = {layer.name for layer in network.layers}
    slots = profile.core.population_axon_slots
    total = 0
    for projection in layer.projections:
        if projection.source not in names:
            continue
        coo = sparse.coo_matrix(projection.weights)
        geometry = projection.float_projection.geometry or projection.geometry
        if slots and geometry is not None:
            positions = int(np.prod(geometry.in_shape[1:]))
            reached = slots * _pair_counts(coo.col % positions, assignment[coo.row], positions, k).nnz
        else:
            reached = _pair_counts(coo.col, assignment[coo.row], projection.n_in, k).nnz  # distinct (source neuron, slice) pairs
        total += -(-reached // profile.core.max_output_axons)
    return total


def largest_slice(layer: QuantisedLayer, profile: HardwareProfile) -> int:
    """For a flat layer with only dense projections (every slice of a size costs the same):
    the most neurons one core can hold. 0 for other layers (they keep equal slices)."""
    if len(layer.shape) == 3 or any(sparse.issparse(p.weights) for p in layer.projections):
        return 0
    core = profile.core

    def fits(size: int) -> bool:
        axons, bits = partition_use(layer, np.zeros(size, dtype=np.int64), 1, profile.synapse_encoding)
        return size <= core.max_neurons and bits[0] <= core.synapse_memory_bits and axons[0] <= core.max_input_axons

    low, high = 1, layer.n_out
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return low


def fewest_parts(fits, low: int, high: int) -> int:
    """Smallest k in [low, high] with fits(k) (fits grows true with k): doubling, then bisection."""
    if fits(low):
        return low
    step, bad = 1, low
    while bad + step < high and not fits(bad + step):
        bad += step
        step *= 2
    good = min(bad + step, high)
    while good - bad > 1:
        mid = (good + bad) // 2
        if fits(mid):
            good = mid
        else:
            bad = mid
    return good


def _core_of_row_per_slice(network: QuantisedNetwork, plan: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Core of every neuron if each slice had a core of its own."""
    result, offset = {}, 0
    for layer in network.layers:
        assignment = plan[layer.name]
        result[layer.name] = assignment + offset
        offset += int(assignment.max(initial=-1)) + 1
    return result


def _fits_output_axons(assignment: np.ndarray, per_neuron: np.ndarray, profile: HardwareProfile) -> bool:
    return np.bincount(assignment, weights=per_neuron).max(initial=0) <= profile.core.max_output_axons


def _split_for_output_axons(
    layer: QuantisedLayer, axons_of, assignment: np.ndarray, profile: HardwareProfile, channel_major: bool = False
) -> np.ndarray:
    """A partition of ``layer`` whose slices also fit the output-axon limit (``axons_of(group)``:
    the output axons of every neuron when ``group`` cuts the layer). Feature maps: bands of
    whole rows, filled greedily (a row whose spikes cross a band boundary needs more axons);
    otherwise, or when that fails, the fewest near-equal slices."""
    limit = profile.core.max_output_axons
    per_neuron = axons_of(np.arange(layer.n_out))  # every neuron a slice of its own: the most any neuron needs
    if per_neuron.max(initial=0) > limit:
        slots = profile.core.population_axon_slots
        raise DoesNotFitError(
            f"layer {layer.name!r}: a neuron needs {int(per_neuron.max())} output-axon slots (one per destination core reached by "
            f"discrete axons" + (f", {slots} per population axon" if slots else "") + f"), but a core has {limit}: make the layers it "
            "feeds smaller"
        )
    bands = None if channel_major else _row_bands(layer, axons_of, profile)
    if bands is not None:
        return bands
    parts = int(assignment.max(initial=0)) + 1
    cut = lambda k: partition(layer, k, channel_major=channel_major)[0]  # noqa: E731
    parts = fewest_parts(lambda k: _fits_output_axons(cut(k), axons_of(cut(k)), profile), parts, layer.n_out)
    split = cut(parts)
    if not _fits_output_axons(split, axons_of(split), profile):  # even its finest partition needs more
        raise DoesNotFitError(
            f"layer {layer.name!r}: no split of it keeps a core within {limit} output axons (its {layer.n_out} neurons need "
            f"{int(axons_of(split).sum())} in all): use a profile with more output axons per core, or make the layers it feeds smaller"
        )
    return split


def _row_bands(layer: QuantisedLayer, axons_of, profile: HardwareProfile) -> np.ndarray | None:
    """Bands of consecutive rows (all channels) of a feature map, each as tall as every
    per-core limit allows, greedily from the top. Per-band use is estimated from per-row
    use (neurons and output axons add up exactly, a population axon serving one position of
    one row; input axons are at most their sum;
    a convolution's synapse memory is the same for every band holding all channels) and
    then checked exactly. None when a layer is not a feature map or the bands do not fit."""
    if len(layer.shape) != 3 or any(not sparse.issparse(p.weights) for p in layer.projections):
        return None
    core, encoding = profile.core, profile.synapse_encoding
    channels, height, width = layer.shape
    row = np.arange(layer.n_out) // width % height
    axons, bits = partition_use(layer, row, height, encoding)
    outputs = np.bincount(row, weights=axons_of(row), minlength=height)
    band_of_row = np.zeros(height, dtype=np.int64)
    band, used = 0, None
    for r in range(height):
        add = np.array([channels * width, axons[r], outputs[r]])
        if used is not None:
            total = used + add
            if total[0] <= core.max_neurons and total[1] <= core.max_input_axons and total[2] <= core.max_output_axons:
                used = total
                band_of_row[r] = band
                continue
            band += 1
        used = add
        band_of_row[r] = band
    assignment = band_of_row[row]
    k = band + 1
    exact_axons, exact_bits = partition_use(layer, assignment, k, encoding)
    sizes = np.bincount(assignment, minlength=k)
    if (
        sizes.max() > core.max_neurons or exact_axons.max() > core.max_input_axons
        or exact_bits.max() > core.synapse_memory_bits or not _fits_output_axons(assignment, axons_of(assignment), profile)
    ):
        return None
    return assignment


# --------------------------------------------------------------------------- pack
@dataclass
class _Piece:
    layer: str
    index: np.ndarray
    input_axons: int
    synapse_bits: int
    output_axons: int  # upper bound until packing is known
    configs: frozenset
    core: int = -1

    @property
    def neurons(self) -> int:
        return int(self.index.size)


def _slices(network: QuantisedNetwork, plan: dict[str, np.ndarray], profile: HardwareProfile) -> dict[str, list[_Piece]]:
    core_of_row = _core_of_row_per_slice(network, plan)
    result = {}
    for layer in network.layers:
        assignment = plan[layer.name]
        k = int(assignment.max(initial=-1)) + 1
        axons, bits = partition_use(layer, assignment, k, profile.synapse_encoding)
        out = output_axons_per_neuron(network, layer, core_of_row, assignment, profile.core.population_axon_slots)
        configs = _neuron_configs(layer) if profile.core.max_neuron_configs else None
        order = np.argsort(assignment, kind="stable")
        members = np.split(order, np.cumsum(np.bincount(assignment, minlength=k))[:-1])
        result[layer.name] = [
            _Piece(layer.name, index, int(a), int(m), int(out[index].sum()), frozenset(configs[i] for i in index) if configs is not None else frozenset())
            for index, a, m in zip(members, axons, bits)
            if index.size
        ]
    return result


def _neuron_configs(layer: QuantisedLayer) -> list[tuple]:
    """Per neuron, what the core's neuron-parameter table holds (neurons with equal entries share one)."""
    return [(layer.neurons.compartment, *config) for config in compartment_of(layer.neurons).configs(layer.neurons)]


def _pack(network: QuantisedNetwork, slices: dict[str, list[_Piece]], profile: HardwareProfile) -> list[list[_Piece]]:
    core = profile.core
    cores: list[list[_Piece]] = []
    totals: list[list] = []  # neurons, axons in, bits, axons out, configs
    for layer in network.layers:
        for piece in slices[layer.name]:
            for index in range(max(0, len(cores) - PACK_WINDOW), len(cores)):
                t = totals[index]
                configs = t[4] | piece.configs
                if (
                    t[0] + piece.neurons <= core.max_neurons
                    and t[1] + piece.input_axons <= core.max_input_axons
                    and t[2] + piece.synapse_bits <= core.synapse_memory_bits
                    and t[3] + piece.output_axons <= core.max_output_axons
                    and (not core.max_neuron_configs or len(configs) <= core.max_neuron_configs)
                ):
                    cores[index].append(piece)
                    totals[index] = [t[0] + piece.neurons, t[1] + piece.input_axons, t[2] + piece.synapse_bits, t[3] + piece.output_axons, configs]
                    piece.core = index
                    break
            else:
                if core.max_neuron_configs and len(piece.configs) > core.max_neuron_configs:
                    raise DoesNotFitError(
                        f"layer {piece.layer!r}: a slice of {piece.neurons} neurons has {len(piece.configs)} distinct neuron "
                        f"parameter sets, but a core's table holds {core.max_neuron_configs}: use fewer distinct decays/thresholds"
                    )
                piece.core = len(cores)
                cores.append([piece])
                totals.append([piece.neurons, piece.input_axons, piece.synapse_bits, piece.output_axons, piece.configs])
    return cores


def _check_neurons_fit(network: QuantisedNetwork, profile: HardwareProfile) -> None:
    """Before any slicing: a network whose neurons alone need far more cores than the profile
    has is refused at once, not after cutting it into that many slices (one that is merely too
    large gets _check_total's detailed answer)."""
    neurons = sum(layer.n_out for layer in network.layers)
    needed = -(-neurons // profile.core.max_neurons)
    if needed > profile.system.total_cores and needed > EARLY_REFUSAL_CORES:
        raise DoesNotFitError(
            f"the network's {neurons} neurons need at least {needed} cores of {profile.core.max_neurons} neurons, but profile "
            f"{profile.name!r} has {profile.system.total_cores}: use a profile with more chips or a smaller network"
        )


def _check_total(network: QuantisedNetwork, cores: list[list[_Piece]], profile: HardwareProfile) -> None:
    available = profile.system.total_cores
    if len(cores) <= available:
        return
    per_layer = {}
    for members in cores:
        for piece in members:
            per_layer.setdefault(piece.layer, set()).add(piece.core)
    listing = ", ".join(f"{layer.name}: {len(per_layer.get(layer.name, ()))}" for layer in network.layers)
    chips = -(-len(cores) // profile.system.cores_per_chip)
    shrink = 1 - available / len(cores)
    raise DoesNotFitError(
        f"the network needs {len(cores)} cores ({listing}) but profile {profile.name!r} has {available} "
        f"({profile.system.chips} chip(s) x {profile.system.cores_per_chip} cores): it would fit on {chips} chips of this "
        f"kind (a multi-chip profile such as kapoho_point, or your own YAML with system.chips: {chips}), or with its "
        f"largest layers about {shrink:.0%} smaller"
    )
