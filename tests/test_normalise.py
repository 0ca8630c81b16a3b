"""NIR -> normalised layers: the discretisation maths, reset/dt handling and clear errors."""
import nir
import numpy as np
import pytest
from scipy import sparse

from neurodeploy.errors import InvalidValueError, UnsupportedModelError
from neurodeploy.ir.passes.normalise import normalise
from neurodeploy.neurons import Reset

from netgen import float_graph


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


def weight(layer, i=0):
    w = layer.projections[i].weight
    return w.toarray() if sparse.issparse(w) else w
B = np.array([0.1, -0.2])


def lif(tau=0.01, r=2.0, v_leak=0.3, thr=1.0, v_reset=0.0, **meta):
    return nir.LIF(tau=np.full(2, tau), r=np.full(2, r), v_leak=np.full(2, v_leak), v_threshold=np.full(2, thr), v_reset=np.full(2, v_reset), metadata=meta)


def test_lif_discretisation():
    net = normalise(chain(nir.Affine(W, B), lif()), dt=0.001)
    layer = net.layers[0]
    k = 0.001 / 0.01
    np.testing.assert_allclose(weight(layer), k * 2.0 * W)
    np.testing.assert_allclose(layer.neurons.beta, 1 - k)
    np.testing.assert_allclose(layer.neurons.alpha, 0)
    np.testing.assert_allclose(layer.neurons.bias, k * 0.3 + k * 2.0 * B)
    assert layer.neurons.reset is Reset.ZERO and layer.nir_nodes == ("n0", "n1")
    assert layer.projections[0].source == "input" and layer.shape == (2,)


def test_cubalif_discretisation_and_current_bias():
    node = nir.CubaLIF(
        tau_syn=np.full(2, 0.004),
        tau_mem=np.full(2, 0.01),
        r=np.full(2, 3.0),
        v_leak=np.full(2, 0.5),
        v_threshold=np.ones(2),
        v_reset=np.zeros(2),
        w_in=np.full(2, 2.0),
    )
    dyn_layer = normalise(chain(nir.Affine(W, B), node), dt=0.001).layers[0]
    k_mem, k_syn = 0.1, 0.25
    gain = k_mem * 3.0 * k_syn * 2.0
    np.testing.assert_allclose(weight(dyn_layer), gain * W)
    np.testing.assert_allclose(dyn_layer.neurons.alpha, 1 - k_syn)
    np.testing.assert_allclose(dyn_layer.neurons.beta, 1 - k_mem)
    np.testing.assert_allclose(dyn_layer.neurons.current_bias, gain * B)
    np.testing.assert_allclose(dyn_layer.neurons.bias, k_mem * 0.5)


def test_if_and_li():
    if_layer = normalise(chain(nir.Linear(W), nir.IF(r=np.full(2, 500.0), v_threshold=np.ones(2), v_reset=np.zeros(2))), dt=0.001).layers[0]
    np.testing.assert_allclose(weight(if_layer), 0.5 * W)
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
    np.testing.assert_allclose(weight(layer), 0.1 * 10.0 * expected_w)
    np.testing.assert_allclose(layer.neurons.bias, 0.1 * 10.0 * np.diag([1.0, 3.0]) @ w2 @ B)


def test_dt_sources():
    graph = chain(nir.Linear(W), lif(tau=0.002, r=20.0))  # r = tau / dt with dt = 1e-4
    assert normalise(graph).dt == pytest.approx(1e-4) and "inferred" in normalise(graph).dt_source
    assert normalise(graph, dt=5e-4).dt_source == "command line (--dt)"
    with_meta = chain(nir.Linear(W), lif(), metadata={"dt": 2e-3})
    assert normalise(with_meta).dt == 2e-3 and normalise(with_meta).dt_source == "graph metadata"
    default = normalise(chain(nir.Linear(W), lif(r=1.0)))
    assert default.dt == 1e-4 and default.dt_source.startswith("default") and any("dt = 0.0001" in n for n in default.notes)


class Sigmoid(nir.NIRNode):
    """A node type neurodeploy does not know."""

    def __init__(self):
        self.input_type = {"input": np.array([2])}
        self.output_type = {"output": np.array([2])}
        self.metadata = {}


def test_unsupported_node_type_is_named():
    with pytest.raises(UnsupportedModelError, match=r"node 'n1' has type Sigmoid, which neurodeploy cannot deploy"):
        normalise(chain(nir.Linear(W), Sigmoid(), lif()))


def test_branches_merge_and_their_biases_count_once():
    """input -> a -> {b, c} -> l: two paths; a's bias reaches l through both, once each."""
    a = nir.Affine(np.eye(3), np.array([1.0, 0.0, 0.0]))
    b, c = nir.Linear(W), nir.Linear(2 * W)
    nodes = {"input": nir.Input(np.array([3])), "a": a, "b": b, "c": c, "l": lif(r=10.0, v_leak=0.0), "output": nir.Output(np.array([2]))}
    edges = [("input", "a"), ("a", "b"), ("a", "c"), ("b", "l"), ("c", "l"), ("l", "output")]
    layer = normalise(float_graph(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)), dt=0.001).layers[0]
    np.testing.assert_allclose(weight(layer), 1.0 * 3 * W)  # gain (dt/tau) r = 1
    np.testing.assert_allclose(layer.neurons.bias, 3 * W @ np.array([1.0, 0.0, 0.0]))


def test_trailing_synapses_and_algebraic_loops_are_rejected():
    with pytest.raises(UnsupportedModelError, match="not by neurons"):
        normalise(chain(nir.Linear(W), lif(), nir.Linear(np.eye(2))))
    nodes = {"input": nir.Input(np.array([3])), "a": nir.Linear(np.eye(3)), "b": nir.Linear(np.eye(3)), "l": lif(), "output": nir.Output(np.array([2]))}
    nodes["l"] = nir.LIF(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3))
    edges = [("input", "a"), ("a", "b"), ("b", "a"), ("b", "l"), ("l", "output")]
    with pytest.raises(UnsupportedModelError, match="form a cycle without a neuron"):
        normalise(float_graph(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)))


def test_graded_output_cannot_feed_another_layer():
    li = nir.LI(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2))
    with pytest.raises(UnsupportedModelError, match="non-spiking node 'n1' \\(LI\\) feeds 'n3'"):
        normalise(chain(nir.Linear(W), li, nir.Linear(np.eye(2)), lif()))


def test_nan_weight_is_named_with_index():
    bad = W.copy()
    bad[1, 2] = np.nan
    with pytest.raises(InvalidValueError, match=r"node 'n0' \(Linear\): weight\[1, 2\] is nan"):
        normalise(chain(nir.Linear(bad), lif()))


def test_tau_shorter_than_dt_and_shape_mismatch():
    with pytest.raises(InvalidValueError, match="shorter than dt"):
        normalise(chain(nir.Linear(W), lif(tau=1e-5)), dt=1e-4)
    with pytest.raises(InvalidValueError, match=r"weight of shape \[2, 3\] cannot take the 4 values"):
        normalise(chain(nir.Linear(W), lif(), n_in=4))
