"""The torch engine's fixed-address steps (backends/torch_graphs.py, what CUDA graphs replay on a
GPU), run eagerly here: the numpy engine's integers bit for bit, saturation, graded input,
delays, convolutions and recurrence included. benchmarks/gpu_check.py runs the same check
with the graphs captured on a CUDA device."""
import numpy as np
import pytest
from test_primitives import CASES, graph, recurrent_graph

from neurodeploy.backends import RunRequest
from neurodeploy.backends.compare import compare_runs
from neurodeploy.backends.cpu import CPU_NUMPY, _layer_activity, _result
from neurodeploy.backends.torch_graphs import run_engine
from neurodeploy.ir.passes import CompileOptions, compile_network

from netgen import float_graph, random_input, random_quantised_network


def run_static(network, x, windows):
    """The torch engine's static path as a RunResult, like cpu.py's _run_torch."""
    steps, batch = x.shape[:2]
    run = run_engine(network, x, "cpu", windows, True, True, static=True)
    activity = {
        layer.name: _layer_activity(layer, steps, batch, run.spike_counts[layer.name].numpy(), run.active[layer.name], run.u_wraps[layer.name],
                                    run.v_saturations[layer.name], windows, run.window_counts[layer.name].numpy(), run.updated[layer.name],
                                    run.event_counts[layer.name].numpy() if layer.name in run.event_counts else None)
        for layer in network.layers
    }
    rasters = {k: r.numpy() for k, r in run.rasters.items()}
    traces = {k: {s: a.numpy() for s, a in tr.items()} for k, tr in run.traces.items()}
    return _result(network, x, activity, run.output_v_sum.numpy(), rasters, traces, 0.0, run.input_events.numpy())


def assert_identical(network, x, windows=None):
    request = RunRequest(record_spikes=True, record_state=True, windows=windows)
    reference = CPU_NUMPY.run(network, x, request)
    assert any(layer.spikes > 0 for layer in reference.layers.values()), "a silent network proves nothing"
    static = run_static(network, x, windows)
    names = [layer.name for layer in network.layers]
    verdict = compare_runs(reference, static, names)
    assert verdict["passed"], verdict["first_difference"]["message"]
    for name in names:
        a, b = reference.layers[name], static.layers[name]
        assert (a.spikes, a.synops, a.active_neuron_updates, a.saturations) == (b.spikes, b.synops, b.active_neuron_updates, b.saturations)
        np.testing.assert_array_equal(a.spike_counts, b.spike_counts)
        np.testing.assert_array_equal(a.events_per_neuron(), b.events_per_neuron())
        if a.window_counts is not None:
            np.testing.assert_array_equal(a.window_counts, b.window_counts)
    np.testing.assert_array_equal(reference.output_v_sum, static.output_v_sum)
    return reference


@pytest.mark.parametrize("seed,graded,spike_rules", [(7, 0, False), (3, 8, False), (0, 0, True), (4, 0, True)])
def test_static_steps_match_the_numpy_engine_on_random_saturating_networks(loihi2, seed, graded, spike_rules):
    """spike_rules: inclusive thresholds, membrane floors, several spikes per step sent as counts."""
    rng = np.random.default_rng(seed)
    network = random_quantised_network(rng, loihi2, [30, 25, 6], extreme=True, graded_bits=graded, spike_rules=spike_rules)
    x = random_input(rng, 40, 5, 30, graded_bits=graded, rate=0.5)
    reference = assert_identical(network, x, windows={network.layers[-1].name: (10, 30)})
    assert sum(sum(layer.saturations.values()) for layer in reference.layers.values()) > 0


@pytest.mark.parametrize("name", ["delay", "avgpool2d+flatten+affine", "recurrent"])
def test_static_steps_match_the_numpy_engine_on_delays_convolutions_and_recurrence(loihi2, name):
    g = graph(*recurrent_graph("all-to-all")) if name == "recurrent" else graph(*CASES[name]())
    compiled = compile_network(float_graph(g), CompileOptions(profile=loihi2))
    network = compiled.quantised
    rng = np.random.default_rng(1)
    x = (rng.random((30, 3, network.n_inputs)) < 0.4).astype(np.int32)
    assert_identical(network, x)
