"""snnTorch -> NIR -> float reference reproduces snnTorch's own spikes, for every supported option."""
import pytest
import snntorch as snn
import torch
from torch import nn

from neurodeploy.errors import ModelLoadError, PickleWarning, UnsupportedModelError
from neurodeploy.frontends import load_model
from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph

from snn_models import RecurrentNet, ScaledNet, SpikingCNN, TutorialNet, assert_same_spikes, sequential


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
    model = sequential(snn.Leaky(beta=0.9, init_hidden=True, inhibition=True), snn.Leaky(beta=0.9, init_hidden=True))
    with pytest.raises(UnsupportedModelError, match="inhibition=True"):
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
