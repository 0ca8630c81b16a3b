"""Graph shapes snnTorch users write (issue 18, part 3): residual additions of spike tensors,
pooling with padding, dilation and divisors, adaptive pooling to a fixed size. The float target
against snnTorch and the torch modules themselves, spike for spike in every layer; a residual
network in fixed point on Lava, bit for bit with the CPU backend."""
import dataclasses

import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from neurodeploy.backends.compare import compare_runs
from neurodeploy.backends.cpu import run_cpu
from neurodeploy.errors import UnsupportedModelError
from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph
from neurodeploy.ir.passes import CompileOptions, compile_network

from snn_models import PICKLABLE_ATAN, assert_same_spikes


def leaky(beta=0.8, **options):
    return snn.Leaky(beta=beta, init_hidden=True, spike_grad=PICKLABLE_ATAN, **options)


class ResidualMLP(nn.Module):
    """Spikes added to spikes before a Linear, and spikes added to a Linear's output before a neuron."""

    def __init__(self, n_in=12, n=20, n_out=6, style="plus"):
        super().__init__()
        self.style = style
        self.fc1, self.lif1 = nn.Linear(n_in, n), leaky()
        self.fc2, self.lif2 = nn.Linear(n, n), leaky(0.7)
        self.fc3, self.lif3 = nn.Linear(n, n), leaky(0.9)
        self.fc4, self.lif4 = nn.Linear(n, n_out), leaky(output=True)

    def forward(self, x):
        s1 = self.lif1(self.fc1(x))
        s2 = self.lif2(self.fc2(s1))
        if self.style == "plus":
            s3 = self.lif3(self.fc3(s1 + s2) + s1)  # a residual sum into a Linear, and spikes straight into a neuron
        elif self.style == "sum":
            s3 = self.lif3(self.fc3(sum([s1, s2])) + torch.add(s1, 0))
        else:  # in place
            h = self.fc3(s2)
            h += s1
            s3 = self.lif3(h)
        return self.lif4(self.fc4(s3 + s2 + s1))


class ResidualCNN(nn.Module):
    """A spiking ResNet block: conv -> lif -> conv, plus the block's input spikes, -> lif."""

    def __init__(self):
        super().__init__()
        self.conv0, self.lif0 = nn.Conv2d(2, 4, 3, padding=1), leaky()
        self.conv1, self.lif1 = nn.Conv2d(4, 4, 3, padding=1), leaky(0.7)
        self.conv2, self.lif2 = nn.Conv2d(4, 4, 3, padding=1), leaky(0.9)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.flat, self.fc, self.lif3 = nn.Flatten(), nn.Linear(16, 5), leaky(output=True)

    def forward(self, x):
        s0 = self.lif0(self.conv0(x))
        s2 = self.lif2(self.conv2(self.lif1(self.conv1(s0))) + s0)
        return self.lif3(self.fc(self.flat(self.pool(s2))))


def gained(model, gain=3.0, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                module.weight.mul_(gain)
    return model


@pytest.mark.parametrize("style", ["plus", "sum", "in_place"])
def test_residual_additions_match_snntorch(style):
    torch.manual_seed(1)
    graph = assert_same_spikes(gained(ResidualMLP(style=style)), 12)
    edges = set(graph.graph.edges)
    assert ("lif1", "fc4") in edges and ("lif2", "fc4") in edges
    if style == "plus":
        assert {("lif1", "fc3"), ("lif2", "fc3"), ("lif1", "lif3")} <= edges


def test_residual_block_of_a_spiking_cnn_matches_snntorch():
    torch.manual_seed(2)
    graph = assert_same_spikes(gained(ResidualCNN(), 4.0), None, input_shape=(2, 6, 6))
    assert ("lif0", "lif2") in set(graph.graph.edges)


def test_residual_additions_that_cannot_map_are_refused():
    class Mismatch(ResidualMLP):
        def forward(self, x):
            s1 = self.lif1(self.fc1(x))
            return self.lif4(self.fc4(s1 + self.lif2(self.fc2(s1))[:, :20] * 1.0))

    with pytest.raises(UnsupportedModelError, match="receives the result of operation"):
        snntorch_to_float_graph(Mismatch(), input_shape=(12,))

    class Doubled(ResidualMLP):
        def forward(self, x):
            s1 = self.lif1(self.fc1(x))
            return self.lif4(self.fc4(s1 + s1))

    with pytest.raises(UnsupportedModelError, match="operation add"):
        snntorch_to_float_graph(Doubled(), input_shape=(12,))


class PoolNet(nn.Module):
    def __init__(self, pool, size=9):
        super().__init__()
        self.conv, self.lif1 = nn.Conv2d(2, 3, 3, padding=1), leaky()
        self.pool = pool
        channels, height, width = pool(torch.zeros(1, 3, size, size)).shape[1:]
        self.flat, self.fc, self.lif2 = nn.Flatten(), nn.Linear(channels * height * width, 5), leaky(output=True)

    def forward(self, x):
        return self.lif2(self.fc(self.flat(self.pool(self.lif1(self.conv(x))))))


POOLS = {
    "maxpool_padding": lambda: nn.MaxPool2d(3, 2, padding=1),
    "maxpool_dilation": lambda: nn.MaxPool2d(2, 2, dilation=2),
    "avgpool_padding_exclusive": lambda: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
    "avgpool_divisor": lambda: nn.AvgPool2d(2, 2, padding=1, divisor_override=3),
    "adaptive_avg_uniform": lambda: nn.AdaptiveAvgPool2d((None, 3)),
    "adaptive_avg_unequal": lambda: nn.AdaptiveAvgPool2d(4),
    "adaptive_avg_global": lambda: nn.AdaptiveAvgPool2d((1, 1)),
    "adaptive_max_unequal": lambda: nn.AdaptiveMaxPool2d((2, 4)),
}


@pytest.mark.parametrize("kind", POOLS)
def test_pooling_matches_snntorch(kind):
    torch.manual_seed(3)
    model = gained(PoolNet(POOLS[kind]()), 8.0)
    graph = assert_same_spikes(model, None, input_shape=(2, 9, 9))
    if kind.startswith("maxpool") or kind.startswith("adaptive_max"):
        assert "pool.or" in graph.graph.nodes


@pytest.mark.parametrize("kind", POOLS)
def test_pooling_nodes_compute_the_torch_module(kind):
    """The pooling's NIR nodes, composed by the normalise pass, are the torch module on
    random 0/1 maps (the max pool's sum: its OR neurons threshold it at 0.5)."""
    torch.manual_seed(4)
    model = PoolNet(POOLS[kind]())
    graph = snntorch_to_float_graph(model, input_shape=(2, 9, 9))
    from neurodeploy.ir.passes.inline_subgraphs import inline_subgraphs
    from neurodeploy.ir.passes.normalise import normalise

    network = normalise(inline_subgraphs(graph))
    pooled = network.layers[1] if kind.startswith(("maxpool", "adaptive_max")) else network.layers[-1]
    (projection,) = pooled.projections
    matrix = projection.weight.toarray() if hasattr(projection.weight, "toarray") else np.asarray(projection.weight)
    spikes = (torch.rand(7, 3, 9, 9) < 0.3).double()
    expected = model.pool.double()(spikes).reshape(7, -1).numpy()
    summed = spikes.reshape(7, -1).numpy() @ matrix.T
    if pooled.name == "pool.or":
        np.testing.assert_array_equal(summed > 0.5, expected > 0.5)
    else:  # the pooling feeds fc: its matrix is fc's weight times the pooling's
        weight = model.fc.weight.detach().double().numpy()
        np.testing.assert_allclose(summed, (expected @ weight.T), rtol=1e-9, atol=1e-9)


@pytest.mark.lava
def test_residual_network_on_lava_bit_for_bit(loihi2):
    from neurodeploy.backends.lava_backend import run_lava

    torch.manual_seed(5)
    model = gained(ResidualCNN(), 4.0)
    graph = snntorch_to_float_graph(model, input_shape=(2, 6, 6))
    net = compile_network(graph, CompileOptions(profile=loihi2)).quantised
    x = (np.random.default_rng(5).random((25, 2, 72)) < 0.3).astype(np.int32)
    lava = run_lava(net, x, record_spikes=True, record_state=True)
    for layer in net.layers:
        assert lava.layers[layer.name].spikes > 0, f"layer {layer.name} is silent: a silent layer agrees with anything"
    reference = run_cpu(net, x, record_spikes=True, record_state=True, engine="numpy")
    verdict = compare_runs(lava, reference, [layer.name for layer in net.layers])
    assert verdict["passed"], verdict["first_difference"]["message"]


class MozafariShaped(nn.Module):
    """The layer sizes of Mozafari et al. (2018)'s R-STDP network (SpykeTorch) on a small map:
    conv 6 -> 30 (5x5), max pool 2, conv 30 -> 250 (3x3), max pool 3, conv 250 -> 200 (5x5)."""

    def __init__(self):
        super().__init__()
        self.c1, self.l1, self.p1 = nn.Conv2d(6, 30, 5, padding=2), leaky(1.0), nn.MaxPool2d(2, 2)
        self.c2, self.l2, self.p2 = nn.Conv2d(30, 250, 3, padding=1), leaky(1.0), nn.MaxPool2d(3, 3, padding=1)
        self.c3, self.l3 = nn.Conv2d(250, 200, 5, padding=2), leaky(1.0)

    def forward(self, x):
        return self.l3(self.c3(self.p2(self.l2(self.c2(self.p1(self.l1(self.c1(x))))))))


def layer_cores(mapped) -> dict[str, int]:
    return {m.name: len({s.core for s in m.slices}) for m in mapped.layers}


def test_a_max_pool_costs_no_more_cores_than_the_layer_it_pools(loihi2, loihi1):
    """The OR neurons of a max pool feed the next convolution through population axons: one
    per input position and core reached, shared by the position's channels (nengo-loihi's
    accounting). With discrete axons only (one per neuron and core reached) pool 2 needs more
    cores than the layer it pools: each of its neurons reaches every core of l3, which is
    synapse-memory bound."""
    graph = snntorch_to_float_graph(MozafariShaped(), input_shape=(6, 12, 12))
    for profile in (loihi2, loihi1):
        cores = layer_cores(compile_network(graph, CompileOptions(profile=profile)).mapped)
        assert cores["l3"] == 29, cores
        assert cores["p1.or"] <= cores["l1"] and cores["p2.or"] <= cores["l2"], (profile.name, cores)
    per_neuron = dataclasses.replace(loihi2, core=dataclasses.replace(loihi2.core, population_axon_slots=0))
    cores = layer_cores(compile_network(graph, CompileOptions(profile=per_neuron)).mapped)
    assert cores["p2.or"] > cores["l2"], cores


def test_a_convolution_bound_by_synapse_memory_is_cut_in_whole_channels(loihi1, monkeypatch):
    """Its kernel is stored once per core and input channel: cut in groups of whole channels,
    l3 takes half the cores of bands of rows (its map has two rows here)."""
    import importlib

    map_cores = importlib.import_module("neurodeploy.ir.passes.map_cores")
    graph = snntorch_to_float_graph(MozafariShaped(), input_shape=(6, 12, 12))
    mapped = compile_network(graph, CompileOptions(profile=loihi1)).mapped
    l3 = mapped.mapping("l3")
    channels_per_slice = [np.unique(s.index // 4).size * 4 for s in l3.slices]
    assert all(s.neurons == c for s, c in zip(l3.slices, channels_per_slice)), "l3 is not cut in whole channels"

    monkeypatch.setattr(map_cores, "_channel_major", lambda *args: None)
    rows = compile_network(graph, CompileOptions(profile=loihi1)).mapped
    assert layer_cores(rows)["l3"] >= 2 * layer_cores(mapped)["l3"]
    assert mapped.cores_used < rows.cores_used
