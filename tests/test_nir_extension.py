"""neurodeploy's NIR extension (docs/nir_extension.md): node metadata that nir.write and nir.read
keep, that every NIR reader still sees as a standard node, versioned, and refused with one line
where this version cannot read it."""
import nir
import numpy as np
import pytest
import snntorch as snn

from neurodeploy.errors import UnsupportedModelError, UserError
from neurodeploy.frontends.nir_file import load_nir_file
from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph
from neurodeploy.ir.passes.normalise import normalise
from neurodeploy.neurons import model_of
from neurodeploy.neurons.nir_extension import KEY, VERSION, extension_of, with_extension

from netgen import float_graph
from snn_models import sequential

N = 5


def full(value):
    return np.full(N, float(value))


def extended_graph() -> nir.NIRGraph:
    lif = nir.LIF(tau=full(5e-3), r=full(4.0), v_leak=full(0.0), v_threshold=full(1.0), v_reset=full(0.0))
    cuba = nir.CubaLIF(tau_syn=full(4e-3), tau_mem=full(8e-3), r=full(4.0), v_leak=full(0.0), v_threshold=full(1.0), v_reset=full(0.0), w_in=full(2.0))
    nodes = {
        "input": nir.Input(np.array([3])),
        "fc1": nir.Linear(np.ones((N, 3))),
        "refractory": with_extension(lif, "Refractory", t_ref=np.arange(N) * 1e-3, hold_current=True),
        "fc2": nir.Linear(np.ones((N, N))),
        "adaptive": with_extension(cuba, "AdaptiveThreshold", theta_step=np.linspace(0.1, 0.5, N), tau_theta=20e-3, refractory_state=True, tau_r=4e-3),
        "fc3": nir.Linear(np.ones((N, N))),
        "izhikevich": with_extension(nir.IF(r=full(1.0), v_threshold=full(30.0), v_reset=full(-65.0)), "Izhikevich", a=0.02, b=full(0.2), d=8.0, substeps=4),
        "output": nir.Output(np.array([N])),
    }
    edges = [("input", "fc1"), ("fc1", "refractory"), ("refractory", "fc2"), ("fc2", "adaptive"), ("adaptive", "fc3"), ("fc3", "izhikevich"),
             ("izhikevich", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3})


def assert_same_dynamics(a, b):
    for first, second in zip(a.layers, b.layers):
        assert type(first.neurons) is type(second.neurons) and first.neurons.kind == second.neurons.kind
        for name, value in vars(first.neurons).items():
            np.testing.assert_array_equal(value, getattr(second.neurons, name), err_msg=f"{first.name}.{name}")


def test_nir_write_and_read_keep_the_extension(tmp_path):
    graph = extended_graph()
    nir.write(tmp_path / "net.nir", graph)
    back = nir.read(tmp_path / "net.nir")
    for name in ("refractory", "adaptive", "izhikevich"):
        assert type(back.nodes[name]) is type(graph.nodes[name])  # any NIR reader sees the standard node
        written, read = extension_of(graph.nodes[name]), extension_of(back.nodes[name])
        assert read["version"] == VERSION and set(read) == set(written)
        for field, value in written.items():
            np.testing.assert_array_equal(read[field], value, err_msg=f"{name}.{field}")
    assert [model_of(back.nodes[name]).name for name in ("refractory", "adaptive", "izhikevich")] == ["Refractory", "AdaptiveThreshold", "Izhikevich"]
    assert_same_dynamics(normalise(float_graph(graph)), normalise(load_nir_file(tmp_path / "net.nir")))


def test_snntorch_conversions_carry_the_extension_through_a_file(tmp_path):
    model = sequential(snn.Synaptic(alpha=0.7, beta=0.85, init_hidden=True, reset_mechanism="zero"),
                       snn.Alpha(alpha=0.9, beta=0.8, init_hidden=True, reset_mechanism="zero"))
    graph = snntorch_to_float_graph(model)
    nir.write(tmp_path / "net.nir", graph.graph)
    loaded = normalise(load_nir_file(tmp_path / "net.nir"))
    assert_same_dynamics(normalise(graph), loaded)
    assert [layer.neurons.kind for layer in loaded.layers] == ["Refractory", "Refractory"]
    assert [int(layer.neurons.refractory[0]) for layer in loaded.layers] == [1, 2] and loaded.layers[1].neurons.hold_current


@pytest.mark.parametrize("entry, message", [
    ({"version": VERSION + 1, "neuron": "Refractory", "t_ref": 1e-3}, f"extension version {VERSION + 1}"),
    ({"version": VERSION, "neuron": "Hodgkin", "t_ref": 1e-3}, "neuron 'Hodgkin', which this version lacks"),
    ({"version": VERSION, "neuron": "Refractory", "t_ref": 1e-3, "tau": 2.0}, "has no field"),
    ({"version": VERSION, "neuron": "Refractory"}, "needs field 't_ref'"),
    ({"neuron": "Refractory"}, "lacks 'version'"),
])
def test_what_this_version_cannot_read_is_one_line(tmp_path, entry, message):
    graph = extended_graph()
    graph.nodes["refractory"].metadata = {KEY: entry}
    nir.write(tmp_path / "net.nir", graph)
    with pytest.raises(UserError, match=message) as error:
        normalise(load_nir_file(tmp_path / "net.nir"))
    assert "\n" not in str(error.value)


def test_the_extension_needs_a_node_it_extends():
    node = with_extension(nir.LI(tau=full(5e-3), r=full(1.0), v_leak=full(0.0)), "Refractory", t_ref=1e-3)
    with pytest.raises(UnsupportedModelError, match="a LI node carries neurodeploy extension neuron 'Refractory', which extends LIF, CubaLIF, IF"):
        normalise(float_graph(nir.NIRGraph(nodes={"input": nir.Input(np.array([N])), "li": node, "output": nir.Output(np.array([N]))},
                                           edges=[("input", "li"), ("li", "output")], metadata={"dt": 1e-3}, type_check=False)))
