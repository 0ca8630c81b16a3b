"""Small networks built in each exporting framework, written to NIR by the framework's own
exporter and run by the framework's own simulator, at test time (seeded, a few seconds).

    net = build("sinabs_mlp", tmp_path)
    net.path          the .nir file as the framework wrote it (tensors detached)
    net.x             the seeded spike input, (steps, batch, *input_shape)
    net.spikes        per spiking NIR node: the framework's spikes, (steps, batch, n) counts
    net.readouts      per non-spiking node: the framework's output (its v), (steps, batch, n)
    net.options       what the file cannot say, as the framework ran it (DialectOptions fields)

Every network fires in every spiking layer (asserted here: a silent network agrees with
anything), Sinabs' and Rockpool's several times per step somewhere.
"""
from __future__ import annotations

import sys
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nir
import numpy as np

STEPS, BATCH = 30, 32


@dataclass
class Exported:
    name: str
    dialect: str
    path: Path
    x: np.ndarray
    spikes: dict[str, np.ndarray]
    readouts: dict[str, np.ndarray] = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    output: str = ""  # the node whose spikes (or, for a readout, summed v) classify a sample


def frameworks_importable() -> None:
    """Sinabs and Rockpool import a placeholder ``samna`` that tries to pip-install itself: a stub first."""
    sys.modules.setdefault("samna", types.ModuleType("samna"))
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger().setLevel(logging.ERROR)


def spikes(seed: int, shape: tuple[int, ...], rate: float) -> np.ndarray:
    """Seeded Bernoulli spikes, float32, (batch, time, *features): each sample has its own
    pattern (a quarter of the features at 2.5 x ``rate``, the rest at half of it), so that
    samples drive the output differently and a class (the most active output) means something."""
    rng = np.random.default_rng(seed)
    batch, features = shape[0], shape[2:]
    pattern = rng.random((batch, 1, *features)) < 0.25
    rates = np.where(pattern, 2.5 * rate, 0.5 * rate)
    return (rng.random(shape) < rates).astype(np.float32)


def _write(graph: nir.NIRGraph, path: Path) -> Path:
    """nir.write after detaching every tensor (Rockpool's LI tau keeps its autograd graph)."""
    import torch

    def detach(g):
        for node in g.nodes.values():
            if isinstance(node, nir.NIRGraph):
                detach(node)
                continue
            for key, value in list(vars(node).items()):
                if isinstance(value, torch.Tensor):
                    setattr(node, key, value.detach().cpu().numpy())

    detach(graph)
    nir.write(path, graph)
    return path


def _time_major(values) -> np.ndarray:
    """(batch, time, *shape) -> (time, batch, n)."""
    array = np.asarray(values.detach().numpy() if hasattr(values, "detach") else values, dtype=np.float64)
    return np.moveaxis(array, 1, 0).reshape(array.shape[1], array.shape[0], -1)


def _scale(module, factor: float) -> None:
    import torch

    with torch.no_grad():
        module.weight.mul_(factor)
        if getattr(module, "bias", None) is not None:
            module.bias.mul_(factor)


def _hooked(modules: dict, run) -> dict:
    """Run ``run()`` recording each module's output (its first element if a tuple)."""
    outs = {name: [] for name in modules}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=name: outs[n].append(o[0] if isinstance(o, tuple) else o)) for name, m in modules.items()]
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return outs


# --------------------------------------------------------------------------- Sinabs
def sinabs_mlp(path: Path) -> Exported:
    """Linear-IF-Linear-LIF-Linear-IF: per-neuron LIF taus and thresholds, IF floored at
    -threshold (the convention of Sinabs' importer and of from_model(min_v_mem=-thr))."""
    import sinabs
    import sinabs.layers as sl
    import torch
    from sinabs.nir import to_nir

    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(20, 32),
        sl.IAFSqueeze(batch_size=BATCH, spike_threshold=torch.tensor(1.0), min_v_mem=-1.0),
        torch.nn.Linear(32, 24),
        sl.LIFSqueeze(tau_mem=torch.linspace(4.0, 30.0, 24), spike_threshold=torch.linspace(0.6, 1.2, 24), batch_size=BATCH, norm_input=False),
        torch.nn.Linear(24, 10, bias=False),
        sl.IAFSqueeze(batch_size=BATCH, spike_threshold=torch.tensor(1.5), min_v_mem=-1.5),
    )
    for i, factor in ((0, 2.5), (2, 2.0), (4, 3.0)):
        _scale(net[i], factor)
    graph = to_nir(net, torch.zeros(BATCH, 20))
    sinabs.reset_states(net)
    x = spikes(11, (BATCH, STEPS, 20), 0.3)
    outs = _hooked({"1": net[1], "3": net[3], "5": net[5]}, lambda: net(torch.from_numpy(x).reshape(BATCH * STEPS, 20)))
    layers = {k: _time_major(v[0].reshape(BATCH, STEPS, -1)) for k, v in outs.items()}
    return Exported("sinabs_mlp", "sinabs", _write(graph, path), np.moveaxis(x, 1, 0), layers, output="5")


def sinabs_cnn(path: Path) -> Exported:
    """Conv2d-IF-SumPool2d-Conv2d-IF-SumPool2d-Flatten-Linear-IF on 2x8x8 input."""
    import sinabs
    import sinabs.layers as sl
    import torch
    from sinabs.nir import to_nir

    torch.manual_seed(2)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1, bias=True),
        sl.IAFSqueeze(batch_size=BATCH, min_v_mem=-1.0),
        sl.SumPool2d(2),
        torch.nn.Conv2d(4, 8, 3, padding=1, bias=False),
        sl.IAFSqueeze(batch_size=BATCH, spike_threshold=torch.tensor(2.0), min_v_mem=-2.0),
        sl.SumPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32, 10, bias=False),
        sl.IAFSqueeze(batch_size=BATCH, min_v_mem=-1.0),
    )
    for i, factor in ((0, 1.5), (3, 2.0), (7, 1.5)):
        _scale(net[i], factor)
    graph = to_nir(net, torch.zeros(BATCH, 2, 8, 8))
    graph.infer_types()  # Conv2d and Flatten are written without shapes otherwise (as the NIR paper's sinabs.py does)
    sinabs.reset_states(net)
    x = spikes(12, (BATCH, STEPS, 2, 8, 8), 0.25)
    outs = _hooked({"1": net[1], "4": net[4], "8": net[8]}, lambda: net(torch.from_numpy(x).reshape(BATCH * STEPS, 2, 8, 8)))
    layers = {k: _time_major(v[0].reshape(BATCH, STEPS, -1)) for k, v in outs.items()}
    return Exported("sinabs_cnn", "sinabs", _write(graph, path), np.moveaxis(x, 1, 0), layers, output="8")


# --------------------------------------------------------------------------- Rockpool
def _rockpool_run(net, x: np.ndarray) -> dict:
    import torch

    modules = {name: m for name, m in net.named_children() if "Linear" not in type(m).__name__}
    net.reset_state()
    outs = _hooked(modules, lambda: net(torch.from_numpy(x)))
    return {name: _time_major(v[0]) for name, v in outs.items()}


def rockpool_cuba(path: Path) -> Exported:
    """LinearTorch-LIFTorch (CubaLIF) x 3, dt = 1 ms, per-neuron taus and thresholds."""
    import torch
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    torch.manual_seed(3)
    net = Sequential(
        LinearTorch((16, 32)),
        LIFTorch(32, tau_mem=torch.linspace(0.01, 0.05, 32), tau_syn=torch.linspace(0.005, 0.03, 32), threshold=torch.linspace(0.8, 1.5, 32)),
        LinearTorch((32, 24), has_bias=True),
        LIFTorch(24, tau_syn=0.01),
        LinearTorch((24, 10)),
        LIFTorch(10, tau_mem=0.03, tau_syn=0.008),
    )
    with torch.no_grad():
        net[0].weight.mul_(0.3)
        net[2].weight.mul_(0.15)
        net[2].bias.mul_(0.02)
        net[4].weight.mul_(0.25)
    graph = to_nir(net)
    x = spikes(21, (BATCH, STEPS, 16), 0.3)
    return Exported("rockpool_cuba", "rockpool", _write(graph, path), np.moveaxis(x, 1, 0), _rockpool_run(net, x), output="5_LIFTorch")


def rockpool_lif_li(path: Path) -> Exported:
    """LinearTorch-LIFNeuronTorch (LIF) - LinearTorch - ExpSynTorch (LI readout, graded)."""
    import torch
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import ExpSynTorch, LIFNeuronTorch, LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    torch.manual_seed(4)
    net = Sequential(
        LinearTorch((16, 24)),
        LIFNeuronTorch(24, tau_mem=torch.linspace(0.005, 0.04, 24), threshold=torch.linspace(0.7, 1.3, 24)),
        LinearTorch((24, 5)),
        ExpSynTorch(5, tau=torch.linspace(0.01, 0.03, 5)),
    )
    with torch.no_grad():
        net[0].weight.mul_(0.8)
    graph = to_nir(net)
    x = spikes(22, (BATCH, STEPS, 16), 0.3)
    outs = _rockpool_run(net, x)
    readout = outs.pop("3_ExpSynTorch")
    return Exported("rockpool_lif_li", "rockpool", _write(graph, path), np.moveaxis(x, 1, 0), outs, {"3_ExpSynTorch": readout},
                    output="3_ExpSynTorch")


# --------------------------------------------------------------------------- Norse
def norse_mlp(path: Path) -> Exported:
    """Linear-LIFCell (CubaLIF) - Linear-LIFBoxCell (LIF) - Linear-IAFCell (IF), dt = 1 ms.
    Per-neuron parameters: Norse's exporter cannot write 0-d ones with nir 1.0.8."""
    import norse.torch as norse
    import torch
    from norse.torch.utils.export_nir import to_nir

    torch.manual_seed(6)
    full = lambda v, n: torch.as_tensor(v, dtype=torch.float32) * torch.ones(n)  # noqa: E731
    l1, l2, l3 = torch.nn.Linear(16, 32), torch.nn.Linear(32, 24), torch.nn.Linear(24, 10)
    c1 = norse.LIFCell(norse.LIFParameters(tau_syn_inv=1 / torch.linspace(0.003, 0.01, 32), tau_mem_inv=1 / torch.linspace(0.005, 0.03, 32),
                                           v_leak=torch.zeros(32), v_th=torch.linspace(0.2, 0.5, 32), v_reset=torch.zeros(32)))
    c2 = norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=1 / torch.linspace(0.005, 0.02, 24), v_leak=torch.zeros(24), v_th=full(0.3, 24),
                                                 v_reset=torch.zeros(24)))
    c3 = norse.IAFCell(norse.IAFParameters(v_th=torch.full((10,), 1.0), v_reset=torch.zeros(10)))
    for layer, factor in ((l1, 3.0), (l2, 1.5), (l3, 0.8)):
        _scale(layer, factor)
    graph = to_nir(norse.SequentialState(l1, c1, l2, c2, l3, c3), torch.zeros(1, 16))
    x = spikes(31, (BATCH, STEPS, 16), 0.3)
    record = {"1": [], "3": [], "5": []}
    state = [None] * 3
    with torch.no_grad():
        for t in range(STEPS):
            h = torch.from_numpy(x[:, t])
            for i, (linear, cell, key) in enumerate(((l1, c1, "1"), (l2, c2, "3"), (l3, c3, "5"))):
                h, state[i] = cell(linear(h), state[i])
                record[key].append(h.numpy().copy())
    layers = {k: np.stack(v).reshape(STEPS, BATCH, -1).astype(np.float64) for k, v in record.items()}
    return Exported("norse_mlp", "norse", _write(graph, path), np.moveaxis(x, 1, 0), layers, options={"dt": 1e-3}, output="5")


# --------------------------------------------------------------------------- snnTorch
def _snntorch_run(net, x: np.ndarray, modules: dict) -> dict:
    import snntorch.utils
    import torch

    snntorch.utils.reset(net)

    def run():
        with torch.no_grad():
            for t in range(x.shape[1]):
                net(torch.from_numpy(x[:, t]))

    outs = _hooked(modules, run)
    return {k: np.stack([o.numpy() for o in v]).reshape(x.shape[1], x.shape[0], -1).astype(np.float64) for k, v in outs.items()}


def snntorch_mlp(path: Path) -> Exported:
    """fc1-Leaky-fc2-Synaptic-fc3-Leaky, snnTorch's default reset (subtract, delayed),
    per-neuron parameters (snnTorch's exporter fails on scalar ones)."""
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(8)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(16, 32)
            self.lif1 = snn.Leaky(beta=torch.linspace(0.5, 0.95, 32), threshold=torch.linspace(0.5, 1.0, 32), init_hidden=True)
            self.fc2 = torch.nn.Linear(32, 24)
            self.lif2 = snn.Synaptic(alpha=torch.linspace(0.3, 0.9, 24), beta=torch.full((24,), 0.8), threshold=torch.ones(24), init_hidden=True)
            self.fc3 = torch.nn.Linear(24, 10, bias=False)
            self.lif3 = snn.Leaky(beta=torch.full((10,), 0.9), threshold=torch.full((10,), 0.8), init_hidden=True)

        def forward(self, x):
            return self.lif3(self.fc3(self.lif2(self.fc2(self.lif1(self.fc1(x))))))

    net = Net()
    for module, factor in ((net.fc1, 2.0), (net.fc2, 0.8), (net.fc3, 1.5)):
        _scale(module, factor)
    graph = export_to_nir(net, torch.zeros(1, 16), ignore_dims=[0])
    x = spikes(41, (BATCH, STEPS, 16), 0.3)
    layers = _snntorch_run(net, x, {"lif1": net.lif1, "lif2": net.lif2, "lif3": net.lif3})
    return Exported("snntorch_mlp", "snntorch", _write(graph, path), np.moveaxis(x, 1, 0), layers,
                    options={"reset": "subtract", "reset_delay": True}, output="lif3")


def snntorch_rsynaptic(path: Path) -> Exported:
    """fc1-RSynaptic (all-to-all recurrent Linear with bias) - fc2-Synaptic, subtractive reset:
    the NIR paper's Braille architecture, exported as nodes 'lif1.lif' and 'lif1.w_rec'."""
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(9)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(12, 38)
            self.lif1 = snn.RSynaptic(alpha=0.55, beta=0.9, linear_features=38, init_hidden=True)
            self.fc2 = torch.nn.Linear(38, 7)
            self.lif2 = snn.Synaptic(alpha=torch.full((7,), 0.5), beta=torch.full((7,), 0.55), threshold=torch.ones(7), init_hidden=True)

        def forward(self, x):
            return self.lif2(self.fc2(self.lif1(self.fc1(x))))

    net = Net()
    _scale(net.fc1, 1.5)
    _scale(net.fc2, 2.0)
    graph = export_to_nir(net, torch.zeros(1, 12), ignore_dims=[0])
    x = spikes(42, (BATCH, STEPS, 12), 0.3)
    layers = _snntorch_run(net, x, {"lif1.lif": net.lif1, "lif2": net.lif2})
    return Exported("snntorch_rsynaptic", "snntorch", _write(graph, path), np.moveaxis(x, 1, 0), layers,
                    options={"reset": "subtract", "reset_delay": True}, output="lif2")


BUILDERS = {
    "sinabs_mlp": sinabs_mlp,
    "sinabs_cnn": sinabs_cnn,
    "rockpool_cuba": rockpool_cuba,
    "rockpool_lif_li": rockpool_lif_li,
    "norse_mlp": norse_mlp,
    "snntorch_mlp": snntorch_mlp,
    "snntorch_rsynaptic": snntorch_rsynaptic,
}


def build(name: str, directory: Path) -> Exported:
    frameworks_importable()
    net = BUILDERS[name](Path(directory) / f"{name}.nir")
    for layer, counts in net.spikes.items():
        assert counts.sum() > 0, f"{name}: the framework's layer {layer!r} is silent"
    return net
