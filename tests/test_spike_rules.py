"""The CUBA compartment's spike rules beyond Lava's LIF: an inclusive threshold (v >= T), several
spikes per step sent as graded spikes carrying the count, and a membrane floor. The numpy
statement (hardware/fixed_point.py) by hand, then every engine and Lava against it, over random
integer networks drawn across the legal ranges, extremes included."""
import dataclasses

import numpy as np
import pytest

from neurodeploy.backends.compare import compare_runs
from neurodeploy.backends.core_counts import plan_core_counts
from neurodeploy.backends.cpu import run_cpu
from neurodeploy.backends.float_reference import fire_and_reset as float_fire_and_reset
from neurodeploy.backends.lava_backend import run_lava, uses_lava_lif
from neurodeploy.hardware import fixed_point as fx
from neurodeploy.ir.passes.map_cores import map_cores
from neurodeploy.neurons import NeuronDynamics, QuantisedNeurons, Reset

from netgen import random_input, random_quantised_network


def test_inclusive_threshold_is_one_less_in_integers(loihi2):
    vth = np.array([2, 2])
    strict, inclusive = fx.firing_threshold(vth, loihi2.arithmetic), fx.firing_threshold(vth, loihi2.arithmetic, inclusive=True)
    v = np.array([128, 127], np.int32)  # 2 << 6 = 128
    assert (v > strict).tolist() == [False, False] and (v > inclusive).tolist() == [True, False]


def test_several_spikes_per_step_by_hand():
    """T = 100 (fires at v >= 100: vth_eff 99), reset 100: v = 350 fires 3 and keeps 50; the cap
    keeps the rest in v; the floor applies after the subtraction."""
    v = np.array([350, 99, 100, 350, -500], np.int32)
    vth_eff, sub = np.full(5, 99), np.full(5, 100, np.int32)
    spikes, after = fx.fire_and_reset(v, vth_eff, "subtract", sub, max_spikes=1000, v_floor=np.full(5, -200, np.int32))
    assert spikes.tolist() == [3, 0, 1, 3, 0] and after.tolist() == [50, 99, 0, 50, -200]
    spikes, after = fx.fire_and_reset(v, vth_eff, "subtract", sub, max_spikes=2)
    assert spikes.tolist() == [2, 0, 1, 2, 0] and after.tolist() == [150, 99, 0, 150, -500]


def test_floor_follows_the_reset_and_spikes_stay_binary_without_counts():
    v = np.array([250, -300], np.int32)
    spikes, after = fx.fire_and_reset(v, np.full(2, 99), "zero", v_floor=np.full(2, -100, np.int32))
    assert spikes.dtype == bool and spikes.tolist() == [True, False] and after.tolist() == [0, -100]


def test_float_rule_is_floor_of_v_over_threshold():
    """Sinabs: trunc(v / thr) spikes for v > 0 (v >= thr fires); Rockpool: floor(v / thr) for v >= thr."""
    n = 4
    dyn = NeuronDynamics("IF", np.zeros(n), np.ones(n), np.full(n, 0.5), np.zeros(n), np.zeros(n), np.zeros(n), Reset.SUBTRACT, np.full(n, 0.5),
                         inclusive=True, max_spikes=2**31 - 1, floor=np.full(n, -0.5))
    spikes, v = float_fire_and_reset(dyn, np.array([[1.75, 0.5, 0.49, -2.0]]))
    assert spikes.tolist() == [[3, 1, 0, 0]]
    np.testing.assert_allclose(v, [[0.25, 0.0, 0.49, -0.5]])


def test_several_spikes_need_an_inclusive_subtractive_reset():
    ints = np.zeros(2, np.int32)
    with pytest.raises(ValueError):
        QuantisedNeurons("IF", ints, ints, ints, ints, ints, ints, "zero", ints, inclusive=True, max_spikes=5)
    with pytest.raises(ValueError):
        QuantisedNeurons("IF", ints, ints, ints, ints, ints, ints, "subtract", ints, inclusive=True, max_spikes=5)  # reset 0


def assert_same_core_counts(plan, a, b):
    """Every core's counts (a graded spike: one event, one message, one spike out) and the
    updated neurons, identical on two runs of ``plan``'s network."""
    np.testing.assert_array_equal(a.core_counts.totals, b.core_counts.totals)
    np.testing.assert_array_equal(a.core_counts.steps, b.core_counts.steps)
    assert [a.layers[n].updated_neuron_updates for n in a.layers] == [b.layers[n].updated_neuron_updates for n in a.layers]
    assert plan.total(a.core_counts.totals, "spikes") == sum(int(a.layers[n].events_per_neuron().sum()) for n in a.layers)


def _rules_network(rng, loihi2, sizes):
    """A random network whose every spiking layer takes at least one of the new rules."""
    while True:
        network = random_quantised_network(rng, loihi2, sizes, spike_rules=True, resets=["subtract"] * (len(sizes) - 2) + ["zero"])
        if any(layer.neurons.several_spikes for layer in network.layers) and any(layer.neurons.v_floor is not None for layer in network.layers):
            break
    layers = []
    for layer in network.layers:  # counting layers with low thresholds, so that steps with several spikes occur
        neurons = layer.neurons
        if neurons.several_spikes:
            vth = rng.integers(1, 2**6, layer.n_out).astype(np.int32)
            neurons = dataclasses.replace(neurons, vth=vth, reset_sub=(vth << 6) // rng.integers(1, 4, layer.n_out).astype(np.int32))
        layers.append(dataclasses.replace(layer, neurons=neurons))
    return dataclasses.replace(network, layers=tuple(layers))


@pytest.mark.parametrize("engine", ["numba", "torch"])
@pytest.mark.parametrize("case", range(5))
def test_engines_equal_the_numpy_statement(loihi2, engine, case):
    rng = np.random.default_rng(6000 + case)
    sizes = [int(rng.integers(5, 50)) for _ in range(int(rng.integers(3, 5)))]
    network = _rules_network(rng, loihi2, sizes)
    if case % 2:  # large weights and exponents: counts in the thousands, u wraps, v saturates
        network = dataclasses.replace(network, layers=tuple(
            dataclasses.replace(layer, projections=tuple(dataclasses.replace(p, weight_exp=loihi2.arithmetic.weight_exponent_max) for p in layer.projections))
            for layer in network.layers))
    inputs = random_input(rng, steps=25, batch=3, n=sizes[0], rate=0.6)
    windows = {layer.name: (3, 20) for layer in network.layers}
    plan = plan_core_counts(map_cores(network, loihi2))
    a = run_cpu(network, inputs, record_spikes=True, record_state=True, windows=windows, engine="numpy", core_plan=plan)
    b = run_cpu(network, inputs, record_spikes=True, record_state=True, windows=windows, engine=engine, core_plan=plan)
    counting = [layer.name for layer in network.layers if layer.neurons.several_spikes]
    assert max(int(a.rasters[name].max()) for name in counting) > 1, "no step with several spikes: the test would prove nothing"
    for name in counting:  # one graded spike (one event for the synapses and the routing) carries a step's spikes
        np.testing.assert_array_equal(a.layers[name].event_counts, (a.rasters[name] > 0).sum(axis=0))
    verdict = compare_runs(a, b, [layer.name for layer in network.layers])
    assert verdict["passed"], verdict["first_difference"]["message"]
    for name in a.layers:
        np.testing.assert_array_equal(a.layers[name].spike_counts, b.layers[name].spike_counts)
        np.testing.assert_array_equal(a.layers[name].window_counts, b.layers[name].window_counts)
        np.testing.assert_array_equal(a.layers[name].events_per_neuron(), b.layers[name].events_per_neuron())
        assert (a.layers[name].synops, a.layers[name].saturations) == (b.layers[name].synops, b.layers[name].saturations)
    assert_same_core_counts(plan, a, b)


@pytest.mark.lava
@pytest.mark.parametrize("case", range(2))
def test_lava_process_equals_the_engines(loihi2, case):
    """neurodeploy's Lava process (NeurodeployLIF) runs the same rules: Lava, numba, numpy and
    torch identical spike for spike (counts included), u and v at every step."""
    rng = np.random.default_rng(7000 + case)
    network = _rules_network(rng, loihi2, [int(rng.integers(10, 40)), 20, 12, 6])
    assert not any(uses_lava_lif(layer) for layer in network.layers if layer.neurons.several_spikes or layer.neurons.v_floor is not None)
    inputs = random_input(rng, steps=20, batch=2, n=network.n_inputs, rate=0.6)
    plan = plan_core_counts(map_cores(network, loihi2))
    lava = run_lava(network, inputs, record_spikes=True, record_state=True, core_plan=plan)
    assert sum(r.sum() for r in lava.rasters.values()) > 0
    for engine in ("numba", "numpy", "torch"):
        result = run_cpu(network, inputs, record_spikes=True, record_state=True, engine=engine, core_plan=plan)
        assert_same_core_counts(plan, lava, result)
        verdict = compare_runs(lava, result, [layer.name for layer in network.layers])
        assert verdict["passed"], f"{engine}: {verdict['first_difference']['message']}"
        assert all(result.layers[n].synops == lava.layers[n].synops for n in result.layers)
