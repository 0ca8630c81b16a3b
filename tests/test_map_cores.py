"""Mapping: layers split, packed and placed so that no core exceeds any limit; clear errors otherwise."""
import dataclasses

import nir
import numpy as np
import pytest

from neurodeploy.errors import DoesNotFitError
from neurodeploy.ir.checks import PassCheckError, check_mapped
from neurodeploy.ir.passes import CompileOptions, compile_network
from neurodeploy.ir.passes.map_cores import map_cores
from neurodeploy.ir.resources import synapse_bits_per_axon

from netgen import float_graph, random_quantised_network


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


def test_small_layers_share_one_core(loihi1):
    mapped = map_cores(network(loihi1, [10, 20, 5]), loihi1)
    assert [len(m.slices) for m in mapped.layers] == [1, 1]
    assert mapped.cores_used == 1 and {s.layer for s in mapped.cores[0].slices} == {"layer0", "layer1"}
    check_mapped(mapped)


def test_neuron_limit_splits_layers_into_full_cores(loihi1):
    mapped = map_cores(network(loihi1, [10, 2500, 5]), loihi1)
    first = mapped.layers[0]
    assert len(first.slices) == 3 and first.limiting_resource == "neurons"
    assert [s.neurons for s in first.slices] == [1024, 1024, 452]  # full cores, the rest shares with the next layer
    assert mapped.cores_used == 3
    check_mapped(mapped)


def test_synapse_memory_splits_layers(loihi1):
    mapped = map_cores(network(loihi1, [4000, 300]), loihi1)
    layer = mapped.layers[0]
    assert layer.limiting_resource == "synapse_memory" and len(layer.slices) > 1
    assert all(c.synapse_bits <= loihi1.core.synapse_memory_bits for c in mapped.cores)
    check_mapped(mapped)


def test_output_axon_limit_splits_the_source_layer(loihi1):
    profile = small_core_profile(loihi1, max_output_axons=100, max_neurons=50)
    mapped = map_cores(network(loihi1, [10, 80, 200]), profile)
    assert len(mapped.layers[1].slices) == 4  # 200 / 50
    assert mapped.layers[0].limiting_resource == "output_axons"
    assert all(c.output_axons <= 100 for c in mapped.cores)
    check_mapped(mapped)


def lif(shape):
    shape = np.asarray(shape)
    return nir.LIF(tau=np.full(shape, 5e-3), r=np.full(shape, 5.0), v_leak=np.zeros(shape), v_threshold=np.ones(shape), v_reset=np.zeros(shape))


def conv_network(profile, in_shape=(2, 16, 16), channels=8, readout=0):
    """Conv 3x3 (padding 1) -> LIF [-> flatten -> Linear -> LIF readout], quantised."""
    rng = np.random.default_rng(0)
    c, h, w = in_shape
    shape = np.array([channels, h, w])
    nodes = {
        "input": nir.Input(np.array(in_shape)),
        "conv": nir.Conv2d(
            input_shape=(h, w), weight=rng.normal(0, 0.5, (channels, c, 3, 3)), stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(channels)
        ),
        "lif": lif(shape),
    }
    edges = [("input", "conv"), ("conv", "lif")]
    if readout:
        nodes["flat"] = nir.Flatten(input_type={"input": shape}, start_dim=0, end_dim=-1)
        nodes["fc"] = nir.Linear(rng.normal(0, 0.3, (readout, int(shape.prod()))))
        nodes["out"] = lif([readout])
        edges += [("lif", "flat"), ("flat", "fc"), ("fc", "out")]
    last = "out" if readout else "lif"
    nodes["output"] = nir.Output(np.array([readout]) if readout else shape)
    edges.append((last, "output"))
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3}, type_check=False)
    return compile_network(float_graph(graph), CompileOptions(profile=profile)).quantised


def test_a_neuron_over_the_output_axon_limit_is_named_in_slots(loihi1):
    """A dense layer's neuron reaches 4 cores by discrete axons: 4 slots, not 4 population axons' worth."""
    dense = small_core_profile(loihi1, max_output_axons=3, max_neurons=50)
    with pytest.raises(DoesNotFitError, match=r"a neuron needs 4 output-axon slots \(one per destination core reached by discrete axons"):
        map_cores(network(loihi1, [10, 80, 200]), dense)


def test_feature_maps_split_in_bands_of_rows(loihi2):
    net = conv_network(loihi2)
    profile = small_core_profile(loihi2, max_neurons=8 * 16 * 4)  # four rows of 8 channels
    mapped = map_cores(net, profile)
    conv = mapped.mapping(net.layers[0].name)
    assert len(conv.slices) == 4
    for piece in conv.slices:  # a band: whole rows, all channels
        rows = piece.index // 16 % 16
        assert np.unique(rows).size == 4 and np.unique(piece.index // 256).size == 8
    check_mapped(mapped)


def test_cores_are_placed_along_the_mesh_and_across_chips(kapoho):
    sizes = [200, 4096, 4096, 4096, 10]
    mapped = map_cores(network(kapoho, sizes), kapoho)
    assert mapped.chips_used >= 2
    per_chip = kapoho.system.cores_per_chip
    for core in mapped.cores:
        assert core.chip == core.core // per_chip
        x, y = core.tile
        assert 0 <= x < kapoho.system.mesh_tiles[0] and 0 <= y < kapoho.system.mesh_tiles[1]
    consecutive = [abs(a.tile[0] - b.tile[0]) + abs(a.tile[1] - b.tile[1]) for a, b in zip(mapped.cores, mapped.cores[1:]) if a.chip == b.chip]
    assert max(consecutive) <= 1  # the snake path keeps neighbours adjacent
    check_mapped(mapped)


@pytest.mark.parametrize("seed", range(5))
def test_random_networks_satisfy_every_limit(loihi1, seed):
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(1, 3000)) for _ in range(4)]
    board = dataclasses.replace(loihi1, system=dataclasses.replace(loihi1.system, chips=4))
    mapped = map_cores(network(loihi1, sizes, seed), board)
    check_mapped(mapped)
    assert {c.chip for c in mapped.cores} == set(range(mapped.chips_used))


def test_fan_in_beyond_input_axons_is_named(loihi1):
    with pytest.raises(
        DoesNotFitError, match=r"layer 'layer0': neuron 0 listens to 5000 inputs, but a core has 4096 input axons: reduce its fan-in to at most 4096"
    ):
        map_cores(network(loihi1, [5000, 3]), loihi1)


def test_too_many_cores_for_the_chip(loihi1):
    profile = small_core_profile(loihi1, max_neurons=8)
    with pytest.raises(DoesNotFitError, match=r"needs 250 cores \(layer0: 250\) but profile 'loihi1' has 128"):
        map_cores(network(loihi1, [10, 2000]), profile)


def test_independent_check_catches_an_overfull_core(loihi1):
    mapped = map_cores(network(loihi1, [10, 500]), loihi1)
    tampered = dataclasses.replace(mapped, profile=small_core_profile(loihi1, max_neurons=100))
    with pytest.raises(PassCheckError, match=r"check after pass 'map_cores' failed at node 'core 0 \(layer0\)': neurons: 500 used > 100"):
        check_mapped(tampered)


def run_both(network, mapped, steps=20, batch=2, seed=0):
    from neurodeploy.backends.compare import compare_runs
    from neurodeploy.backends.cpu import run_cpu
    from neurodeploy.backends.lava_backend import run_lava

    from netgen import random_input

    inputs = random_input(np.random.default_rng(seed), steps=steps, batch=batch, n=network.n_inputs, rate=0.4)
    whole = run_cpu(network, inputs, record_spikes=True, record_state=True)
    cores = run_lava(network, inputs, record_spikes=True, record_state=True, per_core=mapped)
    verdict = compare_runs(cores, whole, [layer.name for layer in network.layers])
    assert verdict["passed"], verdict["first_difference"]["message"]
    assert sum(whole.layers[layer.name].spikes for layer in network.layers) > 0


@pytest.mark.lava
def test_mapped_mlp_runs_core_by_core_in_lava_with_the_same_spikes(loihi2):
    """Every slice its own Lava process (packed several to a core): identical to the
    unpartitioned CPU backend, spikes, u and v, at every step."""
    network = random_quantised_network(np.random.default_rng(3), loihi2, [30, 50, 20, 6])
    mapped = map_cores(network, small_core_profile(loihi2, max_neurons=16))
    assert [len(m.slices) for m in mapped.layers] == [4, 2, 1]
    check_mapped(mapped)
    run_both(network, mapped)


@pytest.mark.lava
def test_mapped_cnn_bands_run_core_by_core_in_lava(loihi2):
    """Bands of rows are not contiguous in (C, H, W) order: the readout must see the
    band's spikes in the right places."""
    network = conv_network(loihi2, in_shape=(2, 8, 8), channels=4, readout=5)
    mapped = map_cores(network, small_core_profile(loihi2, max_neurons=4 * 8 * 3))  # bands of 3 rows
    assert len(mapped.layers[0].slices) == 3
    run_both(network, mapped)


@pytest.mark.lava
def test_mapped_recurrent_network_runs_core_by_core_in_lava(loihi2):
    from pathlib import Path

    from neurodeploy.frontends import load_model

    graph = load_model(str(Path(__file__).resolve().parents[1] / "examples" / "rnn_cubalif.nir"))
    network = compile_network(graph, CompileOptions(profile=loihi2)).quantised
    mapped = map_cores(network, small_core_profile(loihi2, max_neurons=16))
    assert max(len(m.slices) for m in mapped.layers) >= 3
    run_both(network, mapped, steps=30)


def test_pair_counts_by_bincount_and_by_sort_agree(monkeypatch):
    from neurodeploy.ir import resources

    rng = np.random.default_rng(3)
    for n_a, n_b, n in ((5, 7, 200), (300, 50, 40), (2000, 1000, 3000)):
        a, b = rng.integers(0, n_a, n), rng.integers(0, n_b, n)
        results = []
        for per_key in (1 << 40, 0):  # the grid's bincount, then the sort
            monkeypatch.setattr(resources, "DENSE_COUNT_PER_KEY", per_key)
            results.append(resources._pair_counts(a, b, n_a, n_b))
        dense, by_sort = results
        assert dense.nnz > 1 and (dense != by_sort).nnz == 0
        np.testing.assert_array_equal(dense.indptr, by_sort.indptr)
        np.testing.assert_array_equal(dense.indices, by_sort.indices)


def test_first_occurrences_by_minimum_and_by_sort_agree():
    from neurodeploy.ir.resources import _first_of_each

    rng = np.random.default_rng(4)
    for space, n in ((10, 300), (5000, 400), (10**9, 300)):  # dense, sparse enough, too sparse (the sort)
        keys = rng.integers(0, space, n)
        expected = np.unique(keys, return_index=True)[1]
        if space < n * n:
            assert expected.size < n  # repeated keys: which occurrence comes first matters
        np.testing.assert_array_equal(_first_of_each(keys, space), expected)
