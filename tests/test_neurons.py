"""Every registered neuron model, one row each: its NIR node lowers to the per-step dynamics
its module states, and runs bit for bit alike on every engine and on Lava.

Adding a neuron model (docs/architecture.md) adds its row to ROWS."""
from dataclasses import dataclass
from typing import Callable

import nir
import numpy as np
import pytest

from neurodeploy.backends.compare import compare_runs
from neurodeploy.backends.cpu import run_cpu
from neurodeploy.backends.lava_backend import run_lava
from neurodeploy.ir.passes import CompileOptions, compile_network
from neurodeploy.ir.passes.normalise import normalise
from neurodeploy.neurons import NEURONS, Reset
from neurodeploy.neurons.nir_extension import with_extension

from netgen import float_graph

N_IN, N = 10, 6
DT = 1e-3


def full(value):
    return np.full(N, float(value))


@dataclass(frozen=True)
class Row:
    node: Callable[[], nir.NIRNode]
    alpha: float  # expected per-step current decay
    beta: float  # expected per-step voltage decay
    gain: float  # expected input gain folded into the weights
    spiking: bool
    weight_scale: float = 1.0  # enough drive for the layer to be active on 30 % input


ROWS = {
    "LIF": Row(lambda: nir.LIF(tau=full(5e-3), r=full(4.0), v_leak=full(0.0), v_threshold=full(1.0), v_reset=full(0.0)),
               alpha=0.0, beta=1 - DT / 5e-3, gain=DT / 5e-3 * 4.0, spiking=True, weight_scale=2.0),
    "CubaLIF": Row(lambda: nir.CubaLIF(tau_syn=full(4e-3), tau_mem=full(8e-3), r=full(4.0), v_leak=full(0.0), v_threshold=full(1.0),
                                       v_reset=full(0.0), w_in=full(2.0)),
                   alpha=1 - DT / 4e-3, beta=1 - DT / 8e-3, gain=DT / 8e-3 * 4.0 * DT / 4e-3 * 2.0, spiking=True, weight_scale=3.0),
    "IF": Row(lambda: nir.IF(r=full(1 / DT), v_threshold=full(1.5), v_reset=full(0.0)), alpha=0.0, beta=1.0, gain=1.0, spiking=True),
    "LI": Row(lambda: nir.LI(tau=full(8e-3), r=full(1.0), v_leak=full(0.0)), alpha=0.0, beta=1 - DT / 8e-3, gain=DT / 8e-3, spiking=False),
    "CubaLI": Row(lambda: nir.CubaLI(tau_syn=full(3e-3), tau_mem=full(8e-3), r=full(1.0), v_leak=full(0.0), w_in=full(1.0)),
                  alpha=1 - DT / 3e-3, beta=1 - DT / 8e-3, gain=DT / 8e-3 * DT / 3e-3, spiking=False),
    "I": Row(lambda: nir.I(r=full(10.0)), alpha=0.0, beta=1.0, gain=DT * 10.0, spiking=False),
    "Threshold": Row(lambda: nir.Threshold(full(0.3)), alpha=0.0, beta=0.0, gain=1.0, spiking=True),
    # neurodeploy's NIR extension (docs/nir_extension.md): the base node's dynamics, in another compartment
    "Refractory": Row(lambda: with_extension(nir.LIF(tau=full(5e-3), r=full(4.0), v_leak=full(0.0), v_threshold=full(1.0), v_reset=full(0.0)),
                                             "Refractory", t_ref=np.arange(N) * DT),
                      alpha=0.0, beta=1 - DT / 5e-3, gain=DT / 5e-3 * 4.0, spiking=True, weight_scale=3.0),
    "AdaptiveThreshold": Row(lambda: with_extension(
        nir.CubaLIF(tau_syn=full(4e-3), tau_mem=full(8e-3), r=full(4.0), v_leak=full(0.0), v_threshold=full(1.0), v_reset=full(0.0), w_in=full(2.0)),
        "AdaptiveThreshold", theta_step=np.linspace(0.2, 0.6, N), tau_theta=20e-3, t_ref=DT),
        alpha=1 - DT / 4e-3, beta=1 - DT / 8e-3, gain=DT / 8e-3 * 4.0 * DT / 4e-3 * 2.0, spiking=True, weight_scale=4.0),
    "Izhikevich": Row(lambda: with_extension(nir.IF(r=full(2.0), v_threshold=full(30.0), v_reset=full(-55.0)), "Izhikevich", a=0.02, b=0.2, d=4.0, bias=4.0),
                      alpha=0.0, beta=1.0, gain=2.0, spiking=True, weight_scale=20.0),
}


def network(name: str, rng) -> tuple[nir.NIRGraph, np.ndarray]:
    weight = rng.normal(0, ROWS[name].weight_scale / np.sqrt(N_IN), (N, N_IN))
    nodes = {"input": nir.Input(np.array([N_IN])), "fc": nir.Linear(weight), "neurons": ROWS[name].node(), "output": nir.Output(np.array([N]))}
    edges = [("input", "fc"), ("fc", "neurons"), ("neurons", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT}, type_check=False), weight


def test_every_registered_model_has_a_row():
    assert set(NEURONS.names()) == set(ROWS)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_lowering_follows_the_models_equations(name):
    row = ROWS[name]
    graph, weight = network(name, np.random.default_rng(0))
    layer = normalise(float_graph(graph)).layers[0]
    dyn = layer.neurons
    assert dyn.kind == name and dyn.spiking == row.spiking == NEURONS.get(name).spiking
    assert dyn.reset is (Reset.ZERO if row.spiking else Reset.NONE)
    np.testing.assert_allclose(dyn.alpha, row.alpha)
    np.testing.assert_allclose(dyn.beta, row.beta)
    np.testing.assert_allclose(np.asarray(layer.projections[0].weight), row.gain * weight)


@pytest.mark.lava
@pytest.mark.parametrize("name", sorted(ROWS))
def test_every_engine_and_lava_run_it_bit_for_bit(name, loihi2):
    rng = np.random.default_rng(1)
    graph, _ = network(name, rng)
    network_q = compile_network(float_graph(graph), CompileOptions(profile=loihi2)).quantised
    x = (rng.random((30, 2, N_IN)) < 0.3).astype(np.int32)
    lava = run_lava(network_q, x, record_spikes=True, record_state=True)
    layer = network_q.layers[0].name
    if ROWS[name].spiking:
        assert lava.layers[layer].spikes > 0, "a silent layer agrees with anything"
    else:
        assert np.abs(lava.traces[layer]["v"]).max() > 0, "a readout that never moves agrees with anything"
    for engine in ("numba", "numpy", "torch"):
        result = run_cpu(network_q, x, record_spikes=True, record_state=True, engine=engine)
        verdict = compare_runs(lava, result, [layer])
        assert verdict["passed"], f"{engine}: {verdict['first_difference']['message']}"
