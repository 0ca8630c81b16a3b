"""snnTorch's neurons with every reset, and neurodeploy's snnTorch-style modules: the float target
reproduces each spike for spike, and each lands in the compartment that can express it."""
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from neurodeploy.backends.float_reference import run_float
from neurodeploy.errors import UnsupportedModelError
from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph
from neurodeploy.ir.passes.inline_subgraphs import inline_subgraphs
from neurodeploy.ir.passes.normalise import normalise
from neurodeploy.neurons.snntorch_modules import AdaptiveLeaky, Izhikevich, RefractoryLeaky

from snn_models import assert_same_spikes, record_snntorch_spikes, sequential

RESETS = ("subtract", "zero", "none")


def first_layer(graph):
    """The first layer's neurons of a converted model (``assert_same_spikes`` returns the graph)."""
    return normalise(inline_subgraphs(graph)).layers[0].neurons


def expected_compartment(module: str, reset: str, delay: bool) -> str:
    """snnTorch's reset without delay keeps its double-reset guard; a zero reset with delay that
    zeroes the whole next step is a one-step refractory period: both need the extended compartment."""
    if reset == "subtract" and not delay:
        return "extended"
    if reset == "zero" and delay and module != "Leaky":
        return "extended"
    return "cuba"


@pytest.mark.parametrize("delay", [True, False])
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("module", ["Leaky", "Synaptic", "RLeaky"])
def test_every_reset_and_delay_matches_snntorch(module, reset, delay):
    def neuron(**extra):
        if module == "Leaky":
            return snn.Leaky(beta=0.8, init_hidden=True, reset_mechanism=reset, reset_delay=delay, **extra)
        if module == "Synaptic":
            return snn.Synaptic(alpha=0.7, beta=0.85, init_hidden=True, reset_mechanism=reset, reset_delay=delay, **extra)
        return snn.RLeaky(beta=0.8, linear_features=20, init_hidden=True, reset_mechanism=reset, reset_delay=delay, **extra)

    model = sequential(neuron(), snn.Leaky(beta=0.9, threshold=0.7, init_hidden=True, reset_mechanism=reset, reset_delay=delay, output=True))
    graph = assert_same_spikes(model, 12)
    assert first_layer(graph).compartment == expected_compartment(module, reset, delay)


@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("parameters", [dict(beta=0.9), dict(R=2.0, C=3.0, time_step=0.5), dict(beta=0.85, R=1.5), dict(beta=0.8, C=2.0)])
def test_lapicque_matches_snntorch(parameters, reset):
    """Lapicque always resets with delay and decays by 1 - T/(RC), whatever its beta."""
    model = sequential(snn.Lapicque(init_hidden=True, reset_mechanism=reset, **parameters),
                       snn.Lapicque(init_hidden=True, reset_mechanism=reset, output=True, **parameters), gain=20.0)
    graph = assert_same_spikes(model, 12)
    assert first_layer(graph).compartment == ("extended" if reset == "zero" else "cuba")


@pytest.mark.parametrize("reset", ["zero", "none"])
def test_alpha_is_lois_u_and_v_one_step_late(reset):
    """Alpha runs as the u/v pair with a one-step delay on its outgoing synapses: the next layer's
    spikes are snnTorch's exactly, Alpha's own one step early."""
    model = sequential(snn.Alpha(alpha=0.9, beta=0.8, init_hidden=True, reset_mechanism=reset), snn.Leaky(beta=0.9, init_hidden=True, output=True), gain=3.0)
    steps, batch = 80, 5
    x = (torch.rand((steps, batch, 12), generator=torch.Generator().manual_seed(0)) < 0.3).float()
    expected = record_snntorch_spikes(model.eval(), x, stepwise=True)
    network = normalise(inline_subgraphs(snntorch_to_float_graph(model)))
    result = run_float(network, x.numpy(), record_spikes=True)
    alpha, leaky = (layer.name for layer in network.layers)
    assert expected["1"].sum() > 0 and expected["3"].sum() > 0, "test network too quiet to show anything"
    np.testing.assert_array_equal(result.rasters[alpha][:-1], expected["1"][1:].reshape(steps - 1, batch, -1))
    np.testing.assert_array_equal(result.rasters[leaky], expected["3"].reshape(steps, batch, -1))
    assert network.layers[0].neurons.compartment == ("extended" if reset == "zero" else "cuba")


def test_alpha_subtractive_reset_is_refused():
    model = sequential(snn.Alpha(alpha=0.9, beta=0.8, init_hidden=True, reset_mechanism="subtract"), snn.Leaky(beta=0.9, init_hidden=True))
    with pytest.raises(UnsupportedModelError, match="subtractive Alpha reset"):
        snntorch_to_float_graph(model)


class RSynapticNoDelay(nn.Module):
    """RSynaptic with reset_delay=False, stepped with explicit state (with init_hidden snnTorch fails on it)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(7)
        self.fc = nn.Linear(12, 16)
        self.rsyn = snn.RSynaptic(alpha=0.6, beta=0.85, linear_features=16, reset_delay=False)
        self.out = nn.Linear(16, 4)
        self.lif = snn.Leaky(beta=0.9)
        with torch.no_grad():
            self.fc.weight.mul_(3.0)
            self.out.weight.mul_(3.0)

    def forward(self, x):
        spk, syn, mem = (torch.zeros(x.shape[1], 16),) * 3
        mem2 = torch.zeros(x.shape[1], 4)
        out = []
        for step in x:
            spk, syn, mem = self.rsyn(self.fc(step), spk, syn, mem)
            spk2, mem2 = self.lif(self.out(spk), mem2)
            out.append(spk2)
        return torch.stack(out)


def test_rsynaptic_without_delay_runs_as_snntorch_runs_it():
    """snnTorch's RSynaptic discards its reset_delay=False reset: deployed with delay, and said so."""
    model = RSynapticNoDelay()
    graph = assert_same_spikes(model, 12, stepwise=False)
    assert any("'rsyn'" in note and "discards" in note for note in graph.notes)


def run_module_and_float(model, x):
    expected = record_snntorch_spikes(model.eval(), x, stepwise=True)
    network = normalise(inline_subgraphs(snntorch_to_float_graph(model, input_shape=(x.shape[-1],))))
    result = run_float(network, x.numpy().astype(np.float64), record_spikes=True)
    return network, result, expected


@pytest.mark.parametrize("make", [
    lambda: RefractoryLeaky(beta=0.8, refractory=3, init_hidden=True),
    lambda: RefractoryLeaky(beta=0.9, refractory=2, reset_mechanism="subtract", init_hidden=True),
    lambda: AdaptiveLeaky(beta=0.85, theta_step=0.3, theta_decay=0.9, init_hidden=True),
    lambda: AdaptiveLeaky(beta=0.85, theta_step=torch.linspace(0.1, 0.5, 20), theta_decay=0.95, refractory=1, reset_mechanism="subtract", init_hidden=True),
], ids=["refractory-zero", "refractory-subtract", "adaptive", "adaptive-per-neuron-refractory"])
def test_neurodeploys_modules_match_their_nir_extension(make):
    model = sequential(make(), snn.Leaky(beta=0.9, init_hidden=True, output=True)).double()
    x = (torch.rand((60, 5, 12), generator=torch.Generator().manual_seed(1)) < 0.3).double()
    network, result, expected = run_module_and_float(model, x)
    names = [layer.name for layer in network.layers]
    assert network.layers[0].neurons.compartment == "extended"
    for ours, theirs in zip(names, sorted(expected)):
        assert expected[theirs].sum() > 0, "test network too quiet to show anything"
        np.testing.assert_array_equal(result.rasters[ours], expected[theirs].reshape(60, 5, -1))


def test_izhikevich_module_matches_its_nir_extension():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(12, 8), Izhikevich(a=0.02, b=0.2, c=-65.0, d=torch.linspace(2, 8, 8), bias=3.0, init_hidden=True)).double()
    with torch.no_grad():
        model[0].weight.mul_(40.0)
    x = (torch.rand((100, 3, 12), generator=torch.Generator().manual_seed(3)) < 0.3).double()
    network, result, expected = run_module_and_float(model, x)
    assert network.layers[0].neurons.compartment == "izhikevich"
    assert expected["1"].sum() > 10, "test network too quiet to show anything"
    np.testing.assert_array_equal(result.rasters[network.layers[0].name], expected["1"].reshape(100, 3, -1))
