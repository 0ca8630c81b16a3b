"""Exporter dialects on hand-built graphs: detection and its evidence, --dialect, what each
dialect lowers a node to, and the options a file cannot carry (asked for, else assumed and
warned about). The frameworks' own simulators are in test_exporters.py."""
import nir
import numpy as np
import pytest

from neurodeploy.backends.float_reference import run_float
from neurodeploy.dialects import DIALECTS, DialectOptions, detect
from neurodeploy.errors import InvalidValueError, UnsupportedModelError, UserError
from neurodeploy.ir.passes.normalise import normalise
from neurodeploy.neurons import Reset

from netgen import float_graph


def chain(neuron, n_in=4, n_out=3, weight=1.0, names=("0", "1"), metadata=None, io=("input", "output")):
    nodes = {io[0]: nir.Input(np.array([n_in])), names[0]: nir.Affine(np.full((n_out, n_in), weight), np.zeros(n_out)), names[1]: neuron,
             io[1]: nir.Output(np.array([n_out]))}
    edges = [(io[0], names[0]), (names[0], names[1]), (names[1], io[1])]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata or {}, type_check=False)


def full(value, n=3):
    return np.full(n, float(value))


def if_node(r=1.0, thr=1.0):
    return nir.IF(r=full(r), v_threshold=full(thr), v_reset=full(0))


def lif(tau, r, thr=1.0, v_leak=0.0):
    return nir.LIF(tau=full(tau), r=full(r), v_leak=full(v_leak), v_threshold=full(thr), v_reset=full(0))


def cuba(tau_syn, tau_mem, r, w_in, thr=1.0):
    return nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(r), v_leak=full(0), v_threshold=full(thr), v_reset=full(0), w_in=full(w_in))


def rockpool_lif(tau=0.02, dt=1e-3):
    return lif(tau, tau * np.exp(-dt / tau) / dt)


# --------------------------------------------------------------------------- detection
@pytest.mark.parametrize("graph, dialect", [
    (chain(rockpool_lif(), names=("0_LinearTorch", "1_LIFNeuronTorch")), "rockpool"),
    (chain(rockpool_lif()), "rockpool"),  # r = tau exp(-dt/tau)/dt for a round dt, without the names
    (chain(lif(0.01, 100.0), names=("fc1", "lif1")), "snntorch"),  # r = tau / dt, dt = 1e-4
    (chain(lif(1e-5, 1.0)), "norse"),  # Norse 1.1: tau = dt / tau_inv
    (chain(cuba(5e-6, 1e-5, 1.0, 1.0)), "norse"),
    (chain(lif(20.0, 1.0)), "sinabs"),  # tau in steps
    (chain(cuba(1 / 1024, 1 / 128, 1.0, 1 / 1024), names=("1", "2"), io=("0", "3")), "lava-dl"),
])
def test_each_exporters_signature_is_recognised(graph, dialect):
    found = detect(graph)
    assert found.dialect == dialect and found.evidence, found


def test_snntorch_recurrent_subgraph_names_decide():
    graph = chain(cuba(2e-4, 1e-3, 10.0, 2.0), names=("fc1", "lif1.lif"))
    graph.nodes["lif1.w_rec"] = nir.Linear(np.eye(3))
    graph.edges += [("lif1.lif", "lif1.w_rec"), ("lif1.w_rec", "lif1.lif")]
    found = detect(graph)
    assert found.dialect == "snntorch" and any("w_rec" in e for e in found.evidence)


def test_sinabs_sum_pooling_and_an_if_only_file_ambiguous_with_norse():
    """Sinabs' IAF and Norse's IAFCell both write IF(r = 1) after an Affine: the file cannot tell
    several spikes, subtraction and a floor from one spike and a reset: detected, and said so."""
    graph = chain(if_node())
    graph.nodes["2"], graph.nodes["3"] = nir.Affine(np.ones((3, 3)), np.zeros(3)), if_node()
    graph.edges = [("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "output")]
    found = detect(graph)
    assert found.dialect == "sinabs" and "norse" in found.ambiguous_with


def test_weak_evidence_keeps_nir_and_names_the_candidates():
    """LIFs with r = 1 and tau in seconds: older Norse, or any hand-written file (r = 1 is NIR's
    default; the NIR paper's two_lif_neurons.nir): too weak to leave NIR's own semantics,
    however many nodes show it, but the hint is stated. Named as nirtorch names an
    nn.Sequential's children, the same file is Norse's (the NIR paper's lif_norse.nir)."""
    graph = chain(lif(2.5e-3, 1.0), names=("linear1", "lif1"), io=("in", "out"))
    graph.nodes["lif2"] = lif(1e-2, 1.0)
    graph.edges += [("lif1", "lif2")]
    found = detect(graph)
    assert found.dialect == "nir" and found.ambiguous_with == ("norse",)
    assert any("--dialect" in e for e in found.evidence)
    assert detect(chain(lif(2.5e-3, 1.0))).dialect == "norse"


def test_graph_metadata_names_the_writer_or_gives_nirs_dt():
    assert detect(chain(lif(20.0, 1.0), metadata={"source": "rockpool 3.1"})).dialect == "rockpool"
    assert detect(chain(lif(0.01, 100.0), metadata={"dt": 1e-4})).dialect == "nir"


def test_a_dialect_that_never_writes_a_node_type_is_out():
    """SumPool2d votes Sinabs, but Sinabs never writes CubaLIF."""
    graph = chain(cuba(5e-6, 1e-5, 1.0, 1.0))
    graph.nodes["pool"] = nir.SumPool2d(np.array([1, 1]), np.array([1, 1]), np.array([0, 0]))
    assert detect(graph).dialect == "norse"


# --------------------------------------------------------------------------- choosing and lowering
def test_dialect_option_overrides_detection_and_is_recorded():
    net = normalise(float_graph(chain(lif(20.0, 1.0))), dialect="nir", dt=1e-3)
    assert (net.dialect.name, net.dialect.chosen_by) == ("nir", "--dialect")
    assert "detection said sinabs" in net.dialect.evidence[0]
    with pytest.raises(UserError, match="unknown dialect 'brian'"):
        normalise(float_graph(chain(lif(20.0, 1.0))), dialect="brian")


def test_a_node_the_framework_never_writes_is_one_line():
    with pytest.raises(UnsupportedModelError, match="CubaLIF, which Sinabs 3.1.3 never writes"):
        normalise(float_graph(chain(cuba(1e-3, 1e-3, 1.0, 1.0))), dialect="sinabs")


def layer(graph, **kwargs):
    return normalise(float_graph(graph), **kwargs).layers[0]


def test_sinabs_if_adds_its_input_once_per_step_and_counts_spikes():
    one = layer(chain(if_node(thr=0.5), weight=0.3), dialect="sinabs")  # one IF layer alone is too weak a sign to detect
    dyn = one.neurons
    assert (dyn.reset, dyn.inclusive, dyn.max_spikes > 1) == (Reset.SUBTRACT, True, True)
    np.testing.assert_allclose(dyn.beta, 1.0)
    np.testing.assert_allclose(dyn.floor, -0.5)
    np.testing.assert_allclose(one.projections[0].weight, 0.3)  # gain 1: no dt
    assert any("MultiSpike" in c for c in one.conventions)


def test_sinabs_options_the_file_cannot_carry_change_the_network_and_are_asked_for():
    graph = chain(if_node(thr=1.0), n_in=1, n_out=3, weight=-1.0)
    assumed = normalise(float_graph(graph), dialect="sinabs")
    assert any("--min-v-mem" in a for a in assumed.dialect.assumptions)
    given = normalise(float_graph(graph), dialect="sinabs", options=DialectOptions(min_v_mem="none"))
    assert not given.dialect.assumptions and given.layers[0].neurons.floor is None
    x = np.ones((5, 1, 1))
    v_floor = run_float(assumed, x, record_state=True).traces["1"]["v"][-1, 0, 0]
    v_free = run_float(given, x, record_state=True).traces["1"]["v"][-1, 0, 0]
    assert (v_floor, v_free) == (-1.0, -5.0)
    lif_graph = chain(lif(20.0, 1.0))
    norm = layer(lif_graph, options=DialectOptions(norm_input=True))
    np.testing.assert_allclose(np.asarray(norm.projections[0].weight)[0, 0], 1 - np.exp(-1 / 20))
    with pytest.raises(InvalidValueError, match="--min-v-mem"):
        DialectOptions(min_v_mem="lowest")


def test_rockpool_decays_exactly_at_the_dt_its_r_encodes():
    dt, tau_syn, tau_mem = 1e-3, 5e-3, 2e-2
    graph = chain(cuba(tau_syn, tau_mem, tau_mem * np.exp(-dt / tau_mem) / dt, 1.0))  # Rockpool omits w_in: NIR's 1
    net = normalise(float_graph(graph), dialect="rockpool")
    dyn = net.layers[0].neurons
    assert net.dt == dt and "recovered from r" in net.dt_source
    np.testing.assert_allclose(dyn.alpha, np.exp(-dt / tau_syn))
    np.testing.assert_allclose(dyn.beta, np.exp(-dt / tau_mem))
    np.testing.assert_allclose(np.asarray(net.layers[0].projections[0].weight), np.exp(-dt / tau_syn))  # isyn jumps by b W x
    bad = chain(nir.LIF(tau=np.array([0.01, 0.02, 0.03]), r=np.array([5.0, 50.0, 7.0]), v_leak=full(0), v_threshold=full(1), v_reset=full(0)))
    with pytest.raises(InvalidValueError, match="pass --dt"):
        normalise(float_graph(bad), dialect="rockpool")


def test_norse_reads_tau_as_dt_over_tau_inv_and_starts_at_v_leak():
    """Norse 1.1 writes tau = dt / tau_mem_inv: with dt = 1e-3, tau = 1e-5 s is tau_mem_inv = 100 / s
    and a step of dt tau_mem_inv = 0.1. dt is not in the file: assumed, or --dt."""
    net = normalise(float_graph(chain(lif(1e-5, 1.0, v_leak=0.2))))
    dyn = net.layers[0].neurons
    np.testing.assert_allclose(dyn.beta, 0.9)
    np.testing.assert_allclose(dyn.v_initial, 0.2)
    assert net.dialect.name == "norse" and any("dt" in a for a in net.dialect.assumptions)
    given = normalise(float_graph(chain(lif(1e-5, 1.0, v_leak=0.2))), dt=5e-4)
    np.testing.assert_allclose(given.layers[0].neurons.beta, 1 - 5e-4 * 5e-4 / 1e-5)
    assert not any("dt" in a for a in given.dialect.assumptions)


def test_snntorch_reset_is_asked_for_and_assumed_loudly():
    graph = chain(lif(0.01, 100.0), names=("fc1", "lif1"))
    assumed = normalise(float_graph(graph))
    assert assumed.layers[0].neurons.reset is Reset.SUBTRACT  # snnTorch's default, delayed: thr / beta
    np.testing.assert_allclose(assumed.layers[0].neurons.reset_amount, 1.0 / 0.99)
    assert len(assumed.dialect.assumptions) == 2 and all("--reset" in a for a in assumed.dialect.assumptions)
    zero = normalise(float_graph(graph), options=DialectOptions(reset="zero", reset_delay=False))
    assert zero.layers[0].neurons.reset is Reset.ZERO and not zero.dialect.assumptions


def test_an_option_the_dialect_does_not_read_is_reported_as_ignored():
    net = normalise(float_graph(chain(lif(20.0, 1.0))), options=DialectOptions(reset="zero", norm_input=False))
    assert net.dialect.name == "sinabs" and net.dialect.settings["ignored_options"] == ["reset"]
    assert not net.dialect.assumptions


def test_every_dialect_is_registered_with_its_summary():
    assert set(DIALECTS.names()) == {"nir", "snntorch", "sinabs", "rockpool", "norse", "lava-dl"}
    assert all(DIALECTS.get(name).summary and DIALECTS.get(name).framework for name in DIALECTS.names())
