"""snnTorch models used by the tests (module level, so torch.save can pickle them), and the
helpers that run a model in snnTorch and through neurodeploy's float target."""

import numpy as np
import snntorch as snn
import torch
from snntorch import surrogate, utils
from torch import nn

from neurodeploy.backends.float_reference import run_float
from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph
from neurodeploy.ir.passes.inline_subgraphs import inline_subgraphs
from neurodeploy.ir.passes.normalise import normalise


def PICKLABLE_ATAN(x):
    """snnTorch's ATan surrogate (alpha 2) as a module-level function: pickle can save it, unlike
    ``surrogate.atan()``'s closure; alpha is passed positionally (torch 2.11's Function.apply
    takes no keyword arguments)."""
    return surrogate.ATan.apply(x, 2.0)


class TutorialNet(nn.Module):
    """The snnTorch tutorial style: explicit states, a Python loop over time."""

    def __init__(self, n_in=12, n_hidden=16, n_out=4, beta=0.85, reset="subtract"):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.lif1 = snn.Leaky(beta=beta, reset_mechanism=reset, spike_grad=PICKLABLE_ATAN)
        self.fc2 = nn.Linear(n_hidden, n_out)
        self.lif2 = snn.Leaky(beta=beta, reset_mechanism=reset, spike_grad=PICKLABLE_ATAN)

    def forward(self, x):
        mem1 = self.lif1.reset_mem()
        mem2 = self.lif2.reset_mem()
        out = []
        for step in range(x.shape[0]):
            cur1 = self.fc1(x[step])
            spk1, mem1 = self.lif1(cur1, mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(spk2)
        return torch.stack(out)


class ScaledNet(nn.Module):
    """An operation between layers that is not a module: must be rejected, not dropped."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 4)
        self.lif1 = snn.Leaky(beta=0.9, init_hidden=True)

    def forward(self, x):
        return self.lif1(self.fc1(x) * 2.0)


class SpikingCNN(nn.Module):
    """Conv -> BatchNorm -> Leaky -> MaxPool (on spikes) -> Conv -> Leaky -> AvgPool -> Flatten -> Linear -> Leaky."""

    def __init__(self, beta=0.8):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 6, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(6)
        self.lif1 = snn.Leaky(beta=beta, init_hidden=True, spike_grad=PICKLABLE_ATAN)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 8, 3, stride=1, padding=0, groups=2)
        self.lif2 = snn.Leaky(beta=torch.linspace(0.6, 0.9, 8).reshape(8, 1, 1), init_hidden=True, spike_grad=PICKLABLE_ATAN)
        self.pool2 = nn.AvgPool2d(2)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(8, 5)
        self.lif3 = snn.Leaky(beta=beta, init_hidden=True, output=True, spike_grad=PICKLABLE_ATAN)

    def forward(self, x):
        x = self.pool1(self.lif1(self.bn1(self.conv1(x))))
        x = self.pool2(self.lif2(self.conv2(x)))
        return self.lif3(self.fc(self.flat(x)))


class RecurrentNet(nn.Module):
    """RSynaptic (all-to-all) -> RLeaky (one-to-one) readout, explicit states."""

    def __init__(self, n_in=12, n_hidden=40, n_out=7):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.rsyn = snn.RSynaptic(alpha=0.6, beta=0.85, linear_features=n_hidden, spike_grad=PICKLABLE_ATAN)
        self.fc2 = nn.Linear(n_hidden, n_out)
        self.rleaky = snn.RLeaky(beta=0.8, all_to_all=False, V=torch.linspace(-0.5, 0.5, n_out), spike_grad=PICKLABLE_ATAN)

    def forward(self, x):
        spk1, syn1, mem1 = self.rsyn.init_rsynaptic()
        spk2, mem2 = self.rleaky.init_rleaky()
        out = []
        for step in range(x.shape[0]):
            spk1, syn1, mem1 = self.rsyn(self.fc1(x[step]), spk1, syn1, mem1)
            spk2, mem2 = self.rleaky(self.fc2(spk1), spk2, mem2)
            out.append(spk2)
        return torch.stack(out)


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
