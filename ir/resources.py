"""Per-core resource use of a slice of a layer, computed from the profile.

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
    output axons   per neuron, one per distinct core it sends spikes to (all cores of a
                   dense consumer; only the cores its synapses reach otherwise)

Lists are stored in blocks of ``synapses_per_block`` synapses with a header, rounded up
to whole memory words (``SynapseEncodingSpec``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .profile import SynapseEncodingSpec
from .stages import QuantisedLayer, QuantisedProjection


def list_bits(n_synapses: int, encoding: SynapseEncodingSpec, indexed: bool) -> int:
    """Memory for one list of synapses: blocks of up to ``synapses_per_block`` entries, each
    ``n * bits_per_synapse + block_header_bits`` rounded up to whole words."""
    if n_synapses <= 0:
        return 0
    per_synapse = encoding.weight_bits + (encoding.index_bits if indexed else 0)
    full, rest = divmod(int(n_synapses), encoding.synapses_per_block)

    def block(n: int) -> int:
        bits = n * per_synapse + encoding.block_header_bits
        return -(-bits // encoding.word_bits) * encoding.word_bits

    return full * block(encoding.synapses_per_block) + (block(rest) if rest else 0)


def synapse_bits_per_axon(n_synapses: int, encoding: SynapseEncodingSpec) -> int:
    """A dense list (no index bits)."""
    return list_bits(n_synapses, encoding, indexed=False)


def _list_bits_many(counts: np.ndarray, encoding: SynapseEncodingSpec, indexed: bool) -> int:
    counts = counts[counts > 0].astype(np.int64)
    if counts.size == 0:
        return 0
    per_synapse = encoding.weight_bits + (encoding.index_bits if indexed else 0)
    size = encoding.synapses_per_block
    full, rest = np.divmod(counts, size)
    word = encoding.word_bits
    full_block = -(-(size * per_synapse + encoding.block_header_bits) // word) * word
    rest_block = np.where(rest > 0, -(-(rest * per_synapse + encoding.block_header_bits) // word) * word, 0)
    return int((full * full_block + rest_block).sum())


@dataclass(frozen=True)
class SliceUse:
    neurons: int
    input_axons: int
    synapse_bits: int


def slice_use(layer: QuantisedLayer, start: int, stop: int, encoding: SynapseEncodingSpec) -> SliceUse:
    """Neurons, input axons and synapse memory of neurons [start, stop) of ``layer``."""
    axons = bits = 0
    for projection in layer.projections:
        a, b = projection_use(projection, start, stop, encoding)
        axons += a
        bits += b
    return SliceUse(stop - start, axons, bits)


def projection_use(projection: QuantisedProjection, start: int, stop: int, encoding: SynapseEncodingSpec) -> tuple[int, int]:
    """(input axons, synapse bits) of one projection into neurons [start, stop)."""
    weights = projection.weights
    geometry = projection.float_projection.geometry or projection.geometry
    if not sparse.issparse(weights):
        return projection.n_in, projection.n_in * list_bits(stop - start, encoding, indexed=False)
    rows = sparse.csr_matrix(weights)[start:stop]
    per_source = np.diff(rows.tocsc().indptr)
    if geometry is None:
        return int(np.count_nonzero(per_source)), _list_bits_many(per_source, encoding, indexed=True)
    c_in, height, width = geometry.in_shape
    positions = per_source.reshape(c_in, height * width).any(axis=0)
    c_out, out_h, out_w = geometry.out_shape
    channels = np.unique(np.arange(start, stop) // (out_h * out_w))
    c_out_per_group, c_in_per_group = c_out // geometry.groups, c_in // geometry.groups
    kh, kw = geometry.kernel.shape[2:]
    lists = np.zeros(c_in, dtype=np.int64)  # synapses in the shared list of each input channel
    for group in np.unique(channels // c_out_per_group):
        in_group = int(np.count_nonzero(channels // c_out_per_group == group))
        lists[group * c_in_per_group : (group + 1) * c_in_per_group] = in_group * kh * kw
    return int(np.count_nonzero(positions)), _list_bits_many(lists, encoding, indexed=True)


def destination_cores(projection: QuantisedProjection, bounds: np.ndarray) -> np.ndarray:
    """For each source neuron, how many of the target layer's cores it reaches.

    ``bounds`` are the target slices' start indices plus the end ([0, s1, s2, ..., n]).
    """
    cores = len(bounds) - 1
    weights = projection.weights
    if not sparse.issparse(weights):
        return np.full(projection.n_in, cores, dtype=np.int64)
    coo = sparse.coo_matrix(weights)
    core_of_row = np.searchsorted(bounds, coo.row, side="right") - 1
    pairs = np.unique(np.stack([coo.col, core_of_row]), axis=1)
    return np.bincount(pairs[0], minlength=projection.n_in).astype(np.int64)
