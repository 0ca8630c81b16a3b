"""Per-core resource use of slices of a layer, computed from the profile.

A core holding neurons [start, stop) of a layer needs, summed over the layer's projections:

    input axons    dense projection: one per source neuron (the whole list is stored);
                   sparse: one per source neuron with a synapse into the slice;
                   convolution/pooling (shared kernel): one population axon per input
                   position whose receptive field touches the slice
    synapse bits   dense: per input axon, a list of (stop - start) weights;
                   sparse: per input axon, a list of its synapses into the slice, each with
                   a target index;
                   convolution: the kernel is stored once per core, as one indexed list per
                   input channel (C_out in the slice x kh x kw synapses), as population
                   synapses share one list across positions (nengo-loihi's conv does this)
    output axons   discrete: per neuron, one per distinct core it sends spikes to (all cores
                   of a dense consumer; only the cores its synapses reach otherwise);
                   convolution/pooling, where the profile has population axons: per slice,
                   input position and destination core, one population axon shared by the
                   position's channels (``core.population_axon_slots`` slots each)

Lists are stored in blocks of ``synapses_per_block`` synapses with a header, rounded up
to whole memory words (``SynapseEncodingSpec``). Every function works on a whole
partition at once (``assignment``: the slice of every neuron), vectorised, so that mapping
networks of millions of synapses takes well under a second per evaluation.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

from ..hardware.profile import SynapseEncodingSpec
from .stages import QuantisedLayer, QuantisedNetwork, QuantisedProjection


def list_bits(counts, encoding: SynapseEncodingSpec, indexed: bool):
    """Memory of synapse lists of ``counts`` synapses each (array or int): blocks of up to
    ``synapses_per_block`` entries, each ``n * bits_per_synapse + block_header_bits``
    rounded up to whole words; an empty list costs nothing."""
    counts = np.asarray(counts, dtype=np.int64)
    per_synapse = encoding.weight_bits + (encoding.index_bits if indexed else 0)
    size, word = encoding.synapses_per_block, encoding.word_bits
    full, rest = np.divmod(counts, size)
    full_block = -(-(size * per_synapse + encoding.block_header_bits) // word) * word
    rest_block = np.where(rest > 0, -(-(rest * per_synapse + encoding.block_header_bits) // word) * word, 0)
    return full * full_block + rest_block


def synapse_bits_per_axon(n_synapses: int, encoding: SynapseEncodingSpec) -> int:
    """A dense list (no index bits)."""
    return int(list_bits(n_synapses, encoding, indexed=False))


DENSE_COUNT_LIMIT = 1 << 26  # (a, b) grids up to this size are counted with one bincount ...
DENSE_COUNT_PER_KEY = 16  # ... where the grid has at most this many cells per key (else the scan of its empty cells costs more than a sort)


def _pair_counts(keys_a: np.ndarray, keys_b: np.ndarray, n_a: int, n_b: int) -> sparse.csr_matrix:
    """How many times each (a, b) pair occurs, as a sparse (n_a, n_b) CSR matrix with sorted
    indices. Small grids: one bincount over a * n_b + b (linear time); large or mostly empty
    ones (a slice per neuron): a sort."""
    keys = keys_a.astype(np.int64) * n_b + keys_b
    if n_a * n_b <= min(DENSE_COUNT_LIMIT, DENSE_COUNT_PER_KEY * keys.size):
        counts = np.bincount(keys, minlength=n_a * n_b)
        flat = np.flatnonzero(counts)
        data = counts[flat]
    else:
        flat, data = np.unique(keys, return_counts=True)
    rows, cols = np.divmod(flat, n_b)
    indptr = np.zeros(n_a + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_a), out=indptr[1:])
    return sparse.csr_matrix((data.astype(np.int64), cols, indptr), shape=(n_a, n_b))


def partition_use(layer: QuantisedLayer, assignment: np.ndarray, k: int, encoding: SynapseEncodingSpec) -> tuple[np.ndarray, np.ndarray]:
    """(input axons, synapse bits) of every one of the ``k`` slices of ``layer``, where neuron
    i belongs to slice ``assignment[i]``."""
    axons = np.zeros(k, dtype=np.int64)
    bits = np.zeros(k, dtype=np.int64)
    sizes = np.bincount(assignment, minlength=k)
    for projection in layer.projections:
        a, b = _projection_use(projection, assignment, k, sizes, encoding)
        axons += a
        bits += b
    return axons, bits


def _projection_use(projection: QuantisedProjection, assignment, k, sizes, encoding) -> tuple[np.ndarray, np.ndarray]:
    weights = projection.weights
    if not sparse.issparse(weights):
        return np.where(sizes > 0, projection.n_in, 0).astype(np.int64), projection.n_in * list_bits(sizes, encoding, indexed=False)
    coo = sparse.coo_matrix(weights)
    slices = assignment[coo.row]
    geometry = projection.float_projection.geometry or projection.geometry
    if geometry is None:
        per_pair = _pair_counts(slices, coo.col, k, projection.n_in)  # synapses of each source into each slice
        axons = np.diff(per_pair.indptr)
        bits = np.bincount(np.repeat(np.arange(k), axons), weights=list_bits(per_pair.data, encoding, indexed=True), minlength=k)
        return axons.astype(np.int64), bits.astype(np.int64)
    c_in, height, width = geometry.in_shape
    positions = _pair_counts(slices, coo.col % (height * width), k, height * width)
    axons = np.diff(positions.indptr).astype(np.int64)
    c_out, out_h, out_w = geometry.out_shape
    kh, kw = geometry.kernel.shape[2:]
    per_group = c_out // geometry.groups
    rows = np.arange(assignment.size)
    channels_in_slice = _pair_counts(assignment, rows // (out_h * out_w), k, c_out)  # which channels each slice holds
    channel_slices = np.repeat(np.arange(k), np.diff(channels_in_slice.indptr))
    groups = channels_in_slice.indices // per_group
    per_group_count = _pair_counts(channel_slices, groups, k, geometry.groups)  # channels of each group in each slice
    # each of a group's input channels keeps one list per core: its kernel taps to the slice's channels of the group
    group_bits = (c_in // geometry.groups) * list_bits(per_group_count.data * kh * kw, encoding, indexed=True)
    bits = np.bincount(np.repeat(np.arange(k), np.diff(per_group_count.indptr)), weights=group_bits, minlength=k)
    return axons, bits.astype(np.int64)


def output_axons_per_neuron(
    network: QuantisedNetwork, layer: QuantisedLayer, core_of_row: dict[str, np.ndarray],
    group: np.ndarray | None = None, population_slots: int = 0,
) -> np.ndarray:
    """Per neuron of ``layer``: the output-axon slots it needs, over every layer it feeds.

    A discrete axon serves one neuron and one destination core: a neuron needs one per
    distinct core its synapses reach. With ``population_slots`` > 0, a projection with a shared
    kernel (convolution, pooling) is reached by population axons, as its synapses are: the
    neurons of one input position (every channel; the channel travels as the spike's atom)
    that sit in one ``group`` (the slice of every neuron) share one population axon per
    destination core, of ``population_slots`` slots (nengo-loihi's pop32 axons: 2). Its slots
    are counted on one neuron of the group at that position, so the sum over a group is the
    group's use; without ``group`` every neuron is a group of its own."""
    return output_axon_counter(network, layer, core_of_row, population_slots)(group)


def output_axon_counter(network: QuantisedNetwork, layer: QuantisedLayer, core_of_row: dict[str, np.ndarray], population_slots: int = 0):
    """``output_axons_per_neuron`` as a function of ``group`` alone, for the many candidate cuts
    of a partition search: what does not depend on the grouping (discrete and dense axons; each
    shared projection's distinct (neuron, destination core) pairs) is computed once."""
    fixed = np.zeros(layer.n_out, dtype=np.int64)
    shared = []  # (columns, cores, positions, n_cores): each (neuron, core) pair once, in the order of its first synapse
    for consumer in network.consumers(layer.name):
        targets = core_of_row[consumer.name]
        n_cores = int(targets.max()) + 1
        columns, cores, dense = [], [], False
        for projection in consumer.projections:
            if projection.source != layer.name:
                continue
            if not sparse.issparse(projection.weights):
                dense = True
                break
            coo = sparse.coo_matrix(projection.weights)
            geometry = projection.float_projection.geometry or projection.geometry
            if population_slots and geometry is not None:
                reached = targets[coo.row]
                first = np.sort(_first_of_each(coo.col.astype(np.int64) * n_cores + reached, layer.n_out * n_cores))
                shared.append((coo.col[first], reached[first], int(np.prod(geometry.in_shape[1:])), n_cores))
                continue
            columns.append(coo.col)
            cores.append(targets[coo.row])
        if dense:
            fixed += np.unique(targets).size
        elif columns:
            pairs = _pair_counts(np.concatenate(columns), np.concatenate(cores), layer.n_out, n_cores)
            fixed += np.diff(pairs.indptr)

    def count(group: np.ndarray | None = None) -> np.ndarray:
        group = np.arange(layer.n_out) if group is None else group
        total = fixed.copy()
        for columns, cores, positions, n_cores in shared:
            total += population_slots * _population_axon_owners(columns, cores, group, positions, layer.n_out, n_cores)
        return total

    return count


def _population_axon_owners(columns: np.ndarray, cores: np.ndarray, group: np.ndarray, positions: int, n_in: int, n_cores: int) -> np.ndarray:
    """Per source neuron: how many of the distinct (group, input position, destination core)
    population axons it is counted for (one neuron per axon: the first in ``columns``' order)."""
    keys = (group[columns].astype(np.int64) * positions + columns % positions) * n_cores + cores
    first = _first_of_each(keys, (int(group.max(initial=0)) + 1) * positions * n_cores)
    return np.bincount(columns[first], minlength=n_in).astype(np.int64)


def _first_of_each(keys: np.ndarray, space: int) -> np.ndarray:
    """The index of each distinct key's first occurrence, in key order (``np.unique``'s
    ``return_index``), for keys in [0, space): a minimum per key where the keys fill enough of
    the space (a linear pass), else a stable sort."""
    if space <= min(DENSE_COUNT_LIMIT, DENSE_COUNT_PER_KEY * keys.size):
        first = np.full(space, keys.size, dtype=np.int64)
        np.minimum.at(first, keys, np.arange(keys.size, dtype=np.int64))
        return first[first < keys.size]
    return np.unique(keys, return_index=True)[1]
