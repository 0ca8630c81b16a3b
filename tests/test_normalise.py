"""NIR -> normalised layers: the discretisation maths, reset/dt handling and clear errors."""
import nir
import numpy as np
import pytest

from netgen import float_graph
from neurodeploy.errors import InvalidValueError, UnsupportedModelError
from neurodeploy.ir.passes.normalise import normalise


def chain(*middle, n_in=3, n_out=None, metadata=None):
    nodes = {"input": nir.Input(np.array([n_in]))}
    edges, previous = [], "input"
    for i, node in enumerate(middle):
        nodes[f"n{i}"] = node
        edges.append((previous, f"n{i}"))
        previous = f"n{i}"
    nodes["output"] = nir.Output(np.array([n_out or 2]))
    edges.append((previous, "output"))
    return float_graph(nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata or {}, type_check=False))


W = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, 1.0]])
B = np.array([0.1, -0.2])


def lif(tau=0.01, r=2.0, v_leak=0.3, thr=1.0, v_reset=0.0, **meta):
    return nir.LIF(tau=np.full(2, tau), r=np.full(2, r), v_leak=np.full(2, v_leak), v_threshold=np.full(2, thr), v_reset=np.full(2, v_reset), metadata=meta)


def test_lif_discretisation():
    net = normalise(chain(nir.Affine(W, B), lif()), dt=0.001)
    layer = net.layers[0]
    k = 0.001 / 0.01
    np.testing.assert_allclose(layer.weight, k * 2.0 * W)
    np.testing.assert_allclose(layer.neurons.beta, 1 - k)
    np.testing.assert_allclose(layer.neurons.alpha, 0)
    np.testing.assert_allclose(layer.neurons.bias, k * 0.3 + k * 2.0 * B)
    assert layer.neurons.reset == "zero" and layer.nir_nodes == ("n0", "n1")


def test_cubalif_discretisation_and_current_bias():
    node = nir.CubaLIF(tau_syn=np.full(2, 0.004), tau_mem=np.full(2, 0.01), r=np.full(2, 3.0), v_leak=np.full(2, 0.5), v_threshold=np.ones(2), v_reset=np.zeros(2), w_in=np.full(2, 2.0))
    dyn_layer = normalise(chain(nir.Affine(W, B), node), dt=0.001).layers[0]
    k_mem, k_syn = 0.1, 0.25
    gain = k_mem * 3.0 * k_syn * 2.0
    np.testing.assert_allclose(dyn_layer.weight, gain * W)
    np.testing.assert_allclose(dyn_layer.neurons.alpha, 1 - k_syn)
    np.testing.assert_allclose(dyn_layer.neurons.beta, 1 - k_mem)
    np.testing.assert_allclose(dyn_layer.neurons.current_bias, gain * B)
    np.testing.assert_allclose(dyn_layer.neurons.bias, k_mem * 0.5)


def test_if_and_li():
    if_layer = normalise(chain(nir.Linear(W), nir.IF(r=np.full(2, 500.0), v_threshold=np.ones(2), v_reset=np.zeros(2))), dt=0.001).layers[0]
    np.testing.assert_allclose(if_layer.weight, 0.5 * W)
    np.testing.assert_allclose(if_layer.neurons.beta, 1.0)
    li = normalise(chain(nir.Linear(W), nir.LI(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2))), dt=0.001).layers[0]
    assert not li.neurons.spiking and np.all(np.isinf(li.neurons.threshold))


def test_v_reset_is_absorbed_by_shifting_v():
    layer = normalise(chain(nir.Linear(W), lif(v_leak=0.0, thr=1.0, v_reset=-0.5)), dt=0.001).layers[0]
    beta = 1 - 0.1
    np.testing.assert_allclose(layer.neurons.threshold, 1.5)
    np.testing.assert_allclose(layer.neurons.v_offset, -0.5)
    np.testing.assert_allclose(layer.neurons.bias, -(1 - beta) * -0.5)


def test_delayed_subtractive_reset_becomes_threshold_over_beta():
    layer = normalise(chain(nir.Linear(W), lif(reset="subtract", reset_delay=True)), dt=0.001).layers[0]
    np.testing.assert_allclose(layer.neurons.reset_amount, 1.0 / 0.9)
    immediate = normalise(chain(nir.Linear(W), lif(reset="subtract", reset_delay=False)), dt=0.001).layers[0]
    np.testing.assert_allclose(immediate.neurons.reset_amount, 1.0)


def test_synapse_nodes_compose():
    w2 = np.array([[2.0, 0.0], [1.0, 1.0]])
    layer = normalise(chain(nir.Affine(W, B), nir.Affine(w2, np.zeros(2)), nir.Scale(np.array([1.0, 3.0])), lif(r=10.0, v_leak=0.0)), dt=0.001).layers[0]
    expected_w = np.diag([1.0, 3.0]) @ w2 @ W
    np.testing.assert_allclose(layer.weight, 0.1 * 10.0 * expected_w)
    np.testing.assert_allclose(layer.neurons.bias, 0.1 * 10.0 * np.diag([1.0, 3.0]) @ w2 @ B)


def test_dt_sources():
    graph = chain(nir.Linear(W), lif(tau=0.002, r=20.0))  # r = tau / dt with dt = 1e-4
    assert normalise(graph).dt == pytest.approx(1e-4) and "inferred" in normalise(graph).dt_source
    assert normalise(graph, dt=5e-4).dt_source == "command line (--dt)"
    with_meta = chain(nir.Linear(W), lif(), metadata={"dt": 2e-3})
    assert normalise(with_meta).dt == 2e-3 and normalise(with_meta).dt_source == "graph metadata"
    default = normalise(chain(nir.Linear(W), lif(r=1.0)))
    assert default.dt == 1e-4 and default.dt_source.startswith("default") and any("dt = 0.0001" in n for n in default.notes)


def test_unsupported_node_type_is_named():
    conv = nir.Conv1d(input_shape=3, weight=np.ones((2, 1, 1)), stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(2))
    with pytest.raises(UnsupportedModelError, match=r"node 'n0' has type Conv1d"):
        normalise(chain(conv, lif()))


def test_branches_and_trailing_synapses_are_rejected():
    nodes = {"input": nir.Input(np.array([3])), "a": nir.Linear(W), "b": nir.Linear(W), "l": lif(), "output": nir.Output(np.array([2]))}
    graph = float_graph(nir.NIRGraph(nodes=nodes, edges=[("input", "a"), ("input", "b"), ("a", "l"), ("b", "l"), ("l", "output")], type_check=False))
    with pytest.raises(UnsupportedModelError, match="2 outgoing edges"):
        normalise(graph)
    with pytest.raises(UnsupportedModelError, match="without a neuron layer"):
        normalise(chain(nir.Linear(W), lif(), nir.Linear(np.eye(2))))


def test_nan_weight_is_named_with_index():
    bad = W.copy()
    bad[1, 2] = np.nan
    with pytest.raises(InvalidValueError, match=r"node 'n0' \(Linear\): weight\[1, 2\] is nan"):
        normalise(chain(nir.Linear(bad), lif()))


def test_tau_shorter_than_dt_and_shape_mismatch():
    with pytest.raises(InvalidValueError, match="shorter than dt"):
        normalise(chain(nir.Linear(W), lif(tau=1e-5)), dt=1e-4)
    with pytest.raises(InvalidValueError, match="weight has 3 inputs but receives 4 values"):
        normalise(chain(nir.Linear(W), lif(), n_in=4))
