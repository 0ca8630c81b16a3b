"""Every NIR primitive, alone and in combination: float, cpu and loihi-sim runs, cpu == Lava bit for bit."""
import nir
import numpy as np
import pytest

from neurodeploy.backends.compare import compare_runs
from neurodeploy.backends.cpu import run_cpu
from neurodeploy.backends.float_reference import run_float
from neurodeploy.backends.lava_backend import run_lava
from neurodeploy.ir.passes import CompileOptions, compile_network

from netgen import float_graph

DT = 1e-3
RNG = np.random.default_rng(42)


def lif(shape, thr=1.0, tau=5e-3, r=5.0, **kw):
    return nir.LIF(
        tau=np.full(shape, tau),
        r=np.full(shape, r),
        v_leak=np.full(shape, kw.get("v_leak", 0.0)),
        v_threshold=np.full(shape, thr),
        v_reset=np.full(shape, kw.get("v_reset", 0.0)),
        metadata=kw.get("metadata", {}),
    )


def w(*shape, scale=1.0):
    return RNG.normal(0, scale / np.sqrt(shape[-1] if len(shape) == 2 else np.prod(shape[1:])), shape)


def conv2d(c_in, c_out, k, stride=1, padding=0, dilation=1, groups=1, bias=True):
    weight = RNG.normal(0, 1.5 / np.sqrt(c_in // groups * k * k), (c_out, c_in // groups, k, k))
    return nir.Conv2d(
        input_shape=None,
        weight=weight,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=RNG.normal(0, 0.05, c_out) if bias else np.zeros(c_out),
    )


def chain(input_shape, *nodes, output=None):
    names = {"input": nir.Input(np.array(input_shape))}
    edges, previous = [], "input"
    for i, node in enumerate(nodes):
        names[f"n{i}"] = node
        edges.append((previous, f"n{i}"))
        previous = f"n{i}"
    names["output"] = nir.Output(np.array(output or [1]))
    edges.append((previous, "output"))
    return names, edges


def graph(nodes, edges):
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT}, type_check=False)


def deploy_everywhere(g, n_in, profile, steps=30, batch=2, rate=0.3, graded=False):
    from neurodeploy.encoders import InputBatch, encoding_of, to_integer_input

    rng = np.random.default_rng(7)
    if graded:
        x = rng.normal(0, 1, (steps, batch, n_in)) * (rng.random((steps, batch, n_in)) < rate)
    else:
        x = (rng.random((steps, batch, n_in)) < rate).astype(float)
    encoding = encoding_of(x)
    compiled = compile_network(float_graph(g), CompileOptions(profile=profile, input_encoding=encoding))
    ints = to_integer_input(InputBatch(x, encoding, {}), compiled.quantised)
    cpu = run_cpu(compiled.quantised, ints, record_spikes=True, record_state=True)
    lava = run_lava(compiled.quantised, ints, record_spikes=True, record_state=True)
    verdict = compare_runs(lava, cpu, [layer.name for layer in compiled.quantised.layers])
    assert verdict["passed"], verdict["first_difference"]["message"]
    on_torch = run_cpu(compiled.quantised, ints, record_spikes=True, record_state=True, engine="torch")
    verdict = compare_runs(cpu, on_torch, [layer.name for layer in compiled.quantised.layers])
    assert verdict["passed"], "torch engine: " + verdict["first_difference"]["message"]
    exact = run_float(compiled.normalised, x)
    return compiled, cpu, exact


def spiking_agreement(cpu, exact, name):
    a, b = cpu.layers[name].spike_counts.ravel(), exact.layers[name].spike_counts.ravel()
    return 1.0 - np.abs(a - b).sum() / max(a.sum() + b.sum(), 1)


CASES = {
    "affine+lif": lambda: chain([10], nir.Affine(w(8, 10, scale=3), RNG.normal(0, 0.05, 8)), lif([8]), output=[8]),
    "linear+cubalif": lambda: chain(
        [10],
        nir.Linear(w(8, 10, scale=3)),
        nir.CubaLIF(
            tau_syn=np.full(8, 3e-3),
            tau_mem=np.full(8, 6e-3),
            r=np.full(8, 4.0),
            v_leak=np.zeros(8),
            v_threshold=np.ones(8),
            v_reset=np.zeros(8),
            w_in=np.full(8, 2.0),
        ),
        output=[8],
    ),
    "scale+if": lambda: chain(
        [6], nir.Scale(np.linspace(0.5, 1.5, 6)), nir.IF(r=np.full(6, 1 / DT), v_threshold=np.full(6, 1.5), v_reset=np.zeros(6)), output=[6]
    ),
    "lif+li-readout": lambda: chain(
        [10], nir.Linear(w(8, 10, scale=3)), lif([8]), nir.Linear(w(4, 8, scale=2)), nir.LI(tau=np.full(4, 8e-3), r=np.ones(4), v_leak=np.zeros(4)), output=[4]
    ),
    "lif+cubali-readout": lambda: chain(
        [10],
        nir.Linear(w(8, 10, scale=3)),
        lif([8]),
        nir.Linear(w(4, 8)),
        nir.CubaLI(tau_syn=np.full(4, 3e-3), tau_mem=np.full(4, 8e-3), r=np.ones(4), v_leak=np.zeros(4), w_in=np.ones(4)),
        output=[4],
    ),
    "lif+integrator-readout": lambda: chain(
        [10], nir.Linear(w(8, 10, scale=3)), lif([8]), nir.Linear(w(4, 8, scale=0.2)), nir.I(r=np.full(4, 10.0)), output=[4]
    ),
    "threshold": lambda: chain([10], nir.Linear(np.abs(w(8, 10, scale=2))), nir.Threshold(np.full(8, 0.3)), output=[8]),
    "v_leak+v_reset": lambda: chain([10], nir.Linear(w(8, 10, scale=3)), lif([8], v_leak=0.2, v_reset=-0.3), output=[8]),
    "subtract-reset": lambda: chain([10], nir.Linear(w(8, 10, scale=4)), lif([8], metadata={"reset": "subtract", "reset_delay": True}), output=[8]),
    "conv2d+bias+stride+padding": lambda: chain([2, 8, 8], conv2d(2, 4, 3, stride=2, padding=1), lif([4, 4, 4]), output=[4, 4, 4]),
    "conv2d-dilation-groups": lambda: chain([4, 9, 9], conv2d(4, 6, 3, dilation=2, groups=2, bias=False), lif([6, 5, 5]), output=[6, 5, 5]),
    "conv1d": lambda: chain(
        [3, 12],
        nir.Conv1d(input_shape=12, weight=RNG.normal(0, 0.8, (4, 3, 3)), stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(4)),
        lif([4, 12]),
        output=[4, 12],
    ),
    "sumpool2d": lambda: chain(
        [2, 8, 8],
        conv2d(2, 3, 3, padding=1),
        lif([3, 8, 8]),
        nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])),
        nir.Scale(np.full(48, 0.6)),
        lif([3, 4, 4]),
        output=[3, 4, 4],
    ),
    "avgpool2d+flatten+affine": lambda: chain(
        [2, 8, 8],
        conv2d(2, 3, 3, padding=1),
        lif([3, 8, 8]),
        nir.AvgPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])),
        nir.Flatten(input_type={"input": np.array([3, 4, 4])}, start_dim=0, end_dim=-1),
        nir.Affine(w(5, 48, scale=8), np.zeros(5)),
        lif([5]),
        output=[5],
    ),
    "delay": lambda: chain([10], nir.Delay(np.linspace(0, 5, 10) * DT), nir.Linear(w(8, 10, scale=3)), lif([8]), output=[8]),
}


@pytest.mark.lava
@pytest.mark.parametrize("name", sorted(CASES))
def test_primitive_on_every_backend(loihi2, name):
    nodes, edges = CASES[name]()
    g = graph(nodes, edges)
    n_in = int(np.prod(nodes["input"].input_type["input"]))
    compiled, cpu, exact = deploy_everywhere(g, n_in, loihi2)
    for layer in compiled.quantised.layers:
        if layer.neurons.spiking:
            assert cpu.layers[layer.name].spikes > 0, f"{layer.name} never spiked: the case shows nothing"
    out = compiled.quantised.output_layer.name
    if compiled.quantised.output_layer.neurons.spiking:
        assert spiking_agreement(cpu, exact, out) > 0.6


@pytest.mark.lava
def test_graded_input_into_a_convolution(loihi2):
    nodes, edges = chain([2, 8, 8], conv2d(2, 4, 3, padding=1), lif([4, 8, 8]), output=[4, 8, 8])
    compiled, cpu, _ = deploy_everywhere(graph(nodes, edges), 128, loihi2, graded=True)
    assert compiled.quantised.layers[0].projections[0].graded_bits == 8


def recurrent_graph(kind: str):
    n = 20
    nodes = {
        "input": nir.Input(np.array([10])),
        "fc": nir.Linear(w(n, 10, scale=3)),
        "rec": nir.CubaLIF(
            tau_syn=np.full(n, 3e-3),
            tau_mem=np.full(n, 6e-3),
            r=np.full(n, 4.0),
            v_leak=np.zeros(n),
            v_threshold=np.ones(n),
            v_reset=np.zeros(n),
            w_in=np.full(n, 2.0),
        ),
        "out_fc": nir.Linear(w(5, n, scale=3)),
        "out": lif([5]),
        "output": nir.Output(np.array([5])),
    }
    edges = [("input", "fc"), ("fc", "rec"), ("rec", "out_fc"), ("out_fc", "out"), ("out", "output")]
    if kind == "all-to-all":
        nodes["w_rec"] = nir.Affine(w(n, n, scale=1.5), RNG.normal(0, 0.02, n))
        edges += [("rec", "w_rec"), ("w_rec", "rec")]
    elif kind == "one-to-one":
        nodes["w_rec"] = nir.Scale(np.linspace(-0.5, 0.5, n))
        edges += [("rec", "w_rec"), ("w_rec", "rec")]
    elif kind == "self-edge":
        edges += [("rec", "rec")]
    elif kind == "output-to-hidden":
        nodes["back"] = nir.Linear(w(n, 5, scale=2))
        edges += [("out", "back"), ("back", "rec")]
    return nodes, edges


@pytest.mark.lava
@pytest.mark.parametrize("kind", ["all-to-all", "one-to-one", "self-edge", "output-to-hidden"])
def test_recurrence_on_every_backend(loihi2, kind):
    nodes, edges = recurrent_graph(kind)
    compiled, cpu, exact = deploy_everywhere(graph(nodes, edges), 10, loihi2, steps=40)
    rec = compiled.quantised.layer("rec")
    assert "rec" in rec.sources or kind == "output-to-hidden"
    assert cpu.layers["rec"].spikes > 0


@pytest.mark.lava
def test_nested_subgraph_is_inlined(loihi2):
    n = 12
    inner = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([n])), "lif": lif([n]), "w_rec": nir.Linear(w(n, n)), "output": nir.Output(np.array([n]))},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        type_check=False,
    )
    nodes = {
        "input": nir.Input(np.array([10])),
        "fc": nir.Linear(w(n, 10, scale=3)),
        "block": inner,
        "fc2": nir.Linear(w(4, n, scale=3)),
        "out": lif([4]),
        "output": nir.Output(np.array([4])),
    }
    edges = [("input", "fc"), ("fc", "block"), ("block", "fc2"), ("fc2", "out"), ("out", "output")]
    compiled, cpu, _ = deploy_everywhere(graph(nodes, edges), 10, loihi2)
    assert [layer.name for layer in compiled.quantised.layers] == ["block.lif", "out"]
    assert set(compiled.quantised.layer("block.lif").sources) == {"input", "block.lif"}
