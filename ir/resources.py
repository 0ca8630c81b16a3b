"""Per-core resource use of a slice of a layer, computed from the profile.

A core holding neurons [start, stop) of a dense layer with ``n_in`` inputs needs:
    neurons       stop - start
    input axons   n_in (one per presynaptic neuron, host input included)
    synapse bits  n_in * bits_per_axon(stop - start)
    output axons  (stop - start) * (number of cores of each layer it projects to)
"""
from __future__ import annotations

from .profile import SynapseEncodingSpec


def synapse_bits_per_axon(n_synapses: int, encoding: SynapseEncodingSpec) -> int:
    """Memory for one input axon's synapses: blocks of up to ``synapses_per_block``
    entries, each ``n * weight_bits + block_header_bits`` bits rounded up to whole words."""
    if n_synapses <= 0:
        return 0
    full_blocks, rest = divmod(n_synapses, encoding.synapses_per_block)
    return full_blocks * _block_bits(encoding.synapses_per_block, encoding) + (
        _block_bits(rest, encoding) if rest else 0
    )


def _block_bits(n: int, encoding: SynapseEncodingSpec) -> int:
    bits = n * encoding.weight_bits + encoding.block_header_bits
    return -(-bits // encoding.word_bits) * encoding.word_bits


def slice_synapse_bits(n_in: int, n_neurons: int, encoding: SynapseEncodingSpec) -> int:
    return n_in * synapse_bits_per_axon(n_neurons, encoding)
