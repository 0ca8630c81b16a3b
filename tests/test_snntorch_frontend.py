"""snnTorch -> NIR -> float reference reproduces snnTorch's own spikes, for every supported option."""
import numpy as np
import pytest
import snntorch as snn
import torch
from snntorch import utils
from torch import nn

from neurodeploy.backends.float_reference import run_float
from neurodeploy.errors import ModelLoadError, PickleWarning, UnsupportedModelError
from neurodeploy.frontends import load_model
from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph
from neurodeploy.ir.passes.inline_subgraphs import inline_subgraphs
from neurodeploy.ir.passes.normalise import normalise

from snn_models import RecurrentNet, ScaledNet, SpikingCNN, TutorialNet


def record_snntorch_spikes(model, x, stepwise):
    """Spikes of every snnTorch neuron module, (steps, batch, n) per module name."""
    spikes = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, snn.SpikingNeuron):
            spikes[name] = []
            hooks.append(
                module.register_forward_hook(
                    lambda m, a, out, name=name: spikes[name].append((out[0] if isinstance(out, tuple) else out).detach().numpy().copy())
                )
            )
    with torch.no_grad():
        if stepwise:
            utils.reset(model)
            for t in range(x.shape[0]):
                model(x[t])
        else:
            model(x)
    for h in hooks:
        h.remove()
    return {name: np.stack(s).astype(bool) for name, s in spikes.items()}


def assert_same_spikes(model, n_in, stepwise=True, steps=60, batch=5, seed=0, input_shape=None):
    """float32 snnTorch (its surrogates emit float32 spikes) against our float64 reference;
    a membrane within float32 rounding of its threshold could differ, which these seeds avoid."""
    model = model.eval()
    shape = input_shape or (n_in,)
    x = (torch.rand((steps, batch, *shape), generator=torch.Generator().manual_seed(seed)) < 0.3).float()
    expected = record_snntorch_spikes(model, x, stepwise)
    graph = snntorch_to_float_graph(model, input_shape=input_shape)
    network = normalise(inline_subgraphs(graph))
    result = run_float(network, x.numpy().reshape(steps, batch, -1), record_spikes=True)
    names = [layer.name for layer in network.layers if not layer.name.endswith(".or")]
    assert len(names) == len(expected)
    for ours, theirs in zip(names, expected):
        assert expected[theirs].sum() > 0, "test network too quiet to show anything"
        np.testing.assert_array_equal(result.rasters[ours], expected[theirs].reshape(steps, batch, -1), err_msg=f"{ours} vs snnTorch {theirs}")
    return graph


def sequential(neuron1, neuron2, n_in=12, n_hidden=20, n_out=5, seed=0, gain=3.0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(n_in, n_hidden), neuron1, nn.Linear(n_hidden, n_out), neuron2)
    with torch.no_grad():
        for layer in (model[0], model[2]):
            layer.weight.mul_(gain)
    return model


@pytest.mark.parametrize("reset, reset_delay", [("zero", True), ("zero", False), ("subtract", True)])
def test_leaky_sequential_init_hidden(reset, reset_delay):
    model = sequential(
        snn.Leaky(beta=0.8, init_hidden=True, reset_mechanism=reset, reset_delay=reset_delay),
        snn.Leaky(beta=0.9, threshold=0.7, init_hidden=True, reset_mechanism=reset, reset_delay=reset_delay, output=True),
    )
    graph = assert_same_spikes(model, 12)
    assert [n for n in graph.graph.nodes] == ["input", "linear0", "leaky1", "linear2", "leaky3", "output"]


def test_per_neuron_beta_and_threshold():
    torch.manual_seed(1)
    model = sequential(
        snn.Leaky(beta=torch.rand(20) * 0.5 + 0.4, threshold=torch.rand(20) + 0.5, init_hidden=True, learn_beta=True),
        snn.Leaky(beta=torch.rand(5) * 0.5 + 0.4, init_hidden=True, output=True),
    )
    assert_same_spikes(model, 12)


@pytest.mark.parametrize("reset, reset_delay", [("zero", False), ("subtract", True)])
def test_synaptic(reset, reset_delay):
    model = sequential(
        snn.Synaptic(alpha=0.7, beta=0.85, init_hidden=True, reset_mechanism=reset, reset_delay=reset_delay),
        snn.Synaptic(alpha=torch.rand(5) * 0.5 + 0.3, beta=0.9, init_hidden=True, reset_mechanism=reset, reset_delay=reset_delay, output=True),
    )
    assert_same_spikes(model, 12)


def test_resets_loihi_cannot_reproduce_exactly_are_noted():
    """snnTorch semantics with no exact Loihi equivalent: the user is told, not surprised."""
    model = sequential(snn.Synaptic(alpha=0.7, beta=0.85, init_hidden=True, reset_mechanism="zero"), snn.Leaky(beta=0.9, init_hidden=True, reset_delay=False))
    notes = snntorch_to_float_graph(model).notes
    assert any("'synaptic1'" in n and "reset_delay=True holds mem at 0" in n for n in notes)
    assert any("'leaky3'" in n and "subtracts the threshold a second time" in n for n in notes)


def test_tutorial_style_forward_with_explicit_states():
    torch.manual_seed(2)
    model = TutorialNet()
    with torch.no_grad():
        model.fc1.weight.mul_(3.0)
        model.fc2.weight.mul_(3.0)
    assert_same_spikes(model, 12, stepwise=False)


def test_unknown_module_is_an_error_not_a_warning():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), snn.Leaky(beta=0.9, init_hidden=True))
    with pytest.raises(UnsupportedModelError, match=r"module 'relu1' \(torch.nn.modules.activation.ReLU\) is not supported"):
        snntorch_to_float_graph(model)


def test_operation_between_layers_is_rejected():
    with pytest.raises(UnsupportedModelError, match=r"module 'lif1' receives the result of operation mul"):
        snntorch_to_float_graph(ScaledNet())


def test_unsupported_neuron_options():
    model = sequential(snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="none"), snn.Leaky(beta=0.9, init_hidden=True))
    with pytest.raises(UnsupportedModelError, match="reset_mechanism='none'"):
        snntorch_to_float_graph(model)


def test_dropout_is_removed():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(12, 20), nn.Dropout(0.3), snn.Leaky(beta=0.8, init_hidden=True), nn.Linear(20, 5), snn.Leaky(beta=0.9, init_hidden=True))
    graph = assert_same_spikes(model, 12)
    assert not any("dropout" in name for name in graph.graph.nodes)


def test_saved_module_loads_and_state_dict_is_explained(tmp_path):
    torch.manual_seed(4)
    model = TutorialNet()
    torch.save(model, tmp_path / "net.pt")
    with pytest.raises(ModelLoadError, match="holds pickled Python objects .*--trust-pickle"):
        load_model(tmp_path / "net.pt")  # a whole-module pickle can run code: refused unless trusted
    with pytest.warns(PickleWarning):
        graph = load_model(tmp_path / "net.pt", trust_pickle=True)
    assert graph.format == "snntorch" and {"fc1", "lif1", "fc2", "lif2"} <= set(graph.graph.nodes)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ModelLoadError, match="holds a state_dict"):
        load_model(tmp_path / "weights.pt")


def test_spiking_cnn_with_batchnorm_maxpool_on_spikes_and_avgpool():
    torch.manual_seed(5)
    model = SpikingCNN()
    with torch.no_grad():
        model.bn1.running_mean.uniform_(-0.2, 0.2)
        model.bn1.running_var.uniform_(0.5, 1.5)
        model.bn1.weight.uniform_(0.8, 1.5)
        for layer in (model.conv1, model.conv2, model.fc):
            layer.weight.mul_(3.0)
    graph = assert_same_spikes(model, None, input_shape=(2, 8, 8))
    kinds = {name: type(node).__name__ for name, node in graph.graph.nodes.items()}
    assert kinds["pool1"] == "SumPool2d" and kinds["pool1.or"] == "Threshold" and "bn1" not in kinds


def test_recurrent_rsynaptic_all_to_all_and_rleaky_one_to_one():
    torch.manual_seed(6)
    model = RecurrentNet()
    with torch.no_grad():
        model.fc1.weight.mul_(3.0)
        model.fc2.weight.mul_(3.0)
        model.rsyn.recurrent.weight.mul_(2.0)
    graph = assert_same_spikes(model, 12, stepwise=False)
    assert type(graph.graph.nodes["rsyn.w_rec"]).__name__ == "Affine"
    assert type(graph.graph.nodes["rleaky.w_rec"]).__name__ == "Scale"
    assert ("rsyn.w_rec", "rsyn") in graph.graph.edges


def test_maxpool_over_graded_values_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), snn.Leaky(beta=0.9, init_hidden=True))
    with pytest.raises(UnsupportedModelError, match=r"module 'maxpool2d1' \(MaxPool2d\) takes the maximum of graded values"):
        snntorch_to_float_graph(model, input_shape=(1, 8, 8))


def test_batchnorm_after_a_neuron_is_refused():
    model = nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True), nn.BatchNorm1d(3), nn.Linear(3, 2), snn.Leaky(beta=0.9, init_hidden=True))
    with pytest.raises(UnsupportedModelError, match=r"can only be folded into an nn.Linear or nn.Conv"):
        snntorch_to_float_graph(model.eval())
