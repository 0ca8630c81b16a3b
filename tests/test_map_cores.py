"""Mapping v1: every layer split so that no core exceeds any limit; clear errors otherwise."""
import dataclasses

import numpy as np
import pytest

from netgen import random_quantised_network
from neurodeploy.errors import DoesNotFitError
from neurodeploy.ir.passes.map_cores import map_cores
from neurodeploy.ir.resources import synapse_bits_per_axon
from neurodeploy.ir.verify import PassCheckError, check_mapped


def small_core_profile(profile, **core):
    return dataclasses.replace(profile, core=dataclasses.replace(profile.core, **core))


def network(loihi1, sizes, seed=0):
    return random_quantised_network(np.random.default_rng(seed), loihi1, sizes)


def test_synapse_bits_follow_the_block_encoding(loihi1):
    enc = loihi1.synapse_encoding
    assert synapse_bits_per_axon(0, enc) == 0
    assert synapse_bits_per_axon(1, enc) == 64  # 8 + 10 bits -> one 64-bit word
    assert synapse_bits_per_axon(64, enc) == 576  # 512 + 10 -> 9 words
    assert synapse_bits_per_axon(65, enc) == 576 + 64


def test_small_network_uses_one_core_per_layer(loihi1):
    mapped = map_cores(network(loihi1, [10, 20, 5]), loihi1)
    assert [len(m.cores) for m in mapped.layers] == [1, 1]
    check_mapped(mapped)


def test_neuron_limit_splits_layers(loihi1):
    mapped = map_cores(network(loihi1, [10, 2500, 5]), loihi1)
    first = mapped.layers[0]
    assert len(first.cores) == 3 and first.limiting_resource == "neurons"
    assert [c.neurons for c in first.cores] == [834, 833, 833]
    check_mapped(mapped)


def test_synapse_memory_splits_layers(loihi1):
    mapped = map_cores(network(loihi1, [4000, 300]), loihi1)
    layer = mapped.layers[0]
    assert layer.limiting_resource == "synapse_memory" and len(layer.cores) > 1
    assert all(c.synapse_bits <= loihi1.core.synapse_memory_bits for c in layer.cores)
    check_mapped(mapped)


def test_output_axon_limit_splits_the_source_layer(loihi1):
    profile = small_core_profile(loihi1, max_output_axons=100, max_neurons=50)
    mapped = map_cores(network(loihi1, [10, 80, 200]), profile)
    assert len(mapped.layers[1].cores) == 4  # 200 / 50
    assert mapped.layers[0].limiting_resource == "output_axons"
    assert all(c.output_axons <= 100 for c in mapped.layers[0].cores)
    check_mapped(mapped)


@pytest.mark.parametrize("seed", range(5))
def test_random_networks_satisfy_every_limit(loihi1, seed):
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(1, 3000)) for _ in range(4)]
    board = dataclasses.replace(loihi1, system=dataclasses.replace(loihi1.system, chips=4))
    mapped = map_cores(network(loihi1, sizes, seed), board)
    check_mapped(mapped)
    assert {c.chip for m in mapped.layers for c in m.cores} == set(range(mapped.chips_used))


def test_fan_in_beyond_input_axons_is_named(loihi1):
    with pytest.raises(DoesNotFitError, match=r"layer 'layer0': a single neuron needs 5000 input axons .* a core has 4096"):
        map_cores(network(loihi1, [5000, 3]), loihi1)


def test_too_many_cores_for_the_chip(loihi1):
    profile = small_core_profile(loihi1, max_neurons=8)
    with pytest.raises(DoesNotFitError, match=r"needs 250 cores \(layer0: 250\) but profile 'loihi1' has 128"):
        map_cores(network(loihi1, [10, 2000]), profile)


def test_independent_check_catches_an_overfull_core(loihi1):
    mapped = map_cores(network(loihi1, [10, 500]), loihi1)
    tampered = dataclasses.replace(mapped, profile=small_core_profile(loihi1, max_neurons=100))
    with pytest.raises(PassCheckError, match=r"check after pass 'map_cores' failed at node 'layer0 \(core 0\)': neurons: 500 used > 100"):
        check_mapped(tampered)
