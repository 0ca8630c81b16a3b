"""What a run records, per layer (RunRequest.spike_layers / state_layers): a first-spike decision
asks for its readout layer's state only, every target keeps what it is asked for and no less,
and the report is the one every layer's recording gives."""
import dataclasses
import json

import nir
import numpy as np
import pytest
from test_compartments import network as compartment_network

from neurodeploy.backends import TARGETS, RunRequest
from neurodeploy.backends import float_reference as F
from neurodeploy.errors import UserError
from neurodeploy.pipeline import DeployOptions, Plan, deploy
from neurodeploy.reports.render import render_json
from neurodeploy.scale import merge_results, shard_bounds

from netgen import random_input, random_nir_graph, random_quantised_network


@pytest.fixture(scope="module")
def net64(tmp_path_factory):
    """A random 64-30-10 LIF network: the shape of the digits' 8x8 images."""
    path = tmp_path_factory.mktemp("net") / "net64.nir"
    nir.write(path, random_nir_graph(np.random.default_rng(3), [64, 30, 10], kinds=["LIF", "LIF"]))
    return path


def _first_spike(net, target: str, every_layer: bool, monkeypatch) -> tuple[dict, dict]:
    """(the report as JSON without its timings, the results) of a first-spike deployment;
    ``every_layer``: every run records every layer's raster and state, as before the selection."""
    with monkeypatch.context() as patched:
        if every_layer:
            narrowed = Plan.request
            patched.setattr(Plan, "request", lambda self, *a, **k: dataclasses.replace(narrowed(self, *a, **k), spike_layers=None, state_layers=None))
        outcome = deploy(DeployOptions(model=str(net), target=target, data="digits", encode="latency:steps=16,tau=4,normalize=true", batch=60,
                                       decision="first-spike"))
    report = json.loads(render_json(outcome.report))
    report.pop("timing_s", None)
    return report, outcome.results


@pytest.mark.parametrize("target", ["cpu", "float"])
def test_first_spike_report_is_the_same_with_the_readout_state_only(net64, target, monkeypatch):
    selected, results = _first_spike(net64, target, False, monkeypatch)
    everything, full = _first_spike(net64, target, True, monkeypatch)
    out = results[target].output_layer
    for name, result in results.items():
        assert all(layer.spikes > 0 for layer in result.layers.values()), f"{name}: a silent layer proves nothing"
        raster = result.rasters[out]
        first = np.argmax(raster.any(axis=2), axis=0)
        together = (raster[first, np.arange(raster.shape[1])].sum(axis=1) > 1).sum()
        assert together > 0, f"{name}: no sample whose output neurons spike together first: the state would not be read"
        assert set(result.traces) == {out} and set(full[name].traces) == set(result.layers)
        # every layer's rasters where runs are compared (the fidelity section reads them); the readout's alone on a single run
        assert set(result.rasters) == ({out} if len(results) == 1 else set(result.layers))
    assert selected == everything


def test_float_reference_keeps_its_compiled_chunk_for_layers_not_recorded(net64, monkeypatch):
    chunked = []
    original = F._LayerRun.run_chunk
    monkeypatch.setattr(F._LayerRun, "run_chunk", lambda self, *a, **k: chunked.append(self.name) or original(self, *a, **k))
    _, results = _first_spike(net64, "cpu", False, monkeypatch)  # the float reference beside the target (--target float counts per core, step by step)
    out = results["float"].output_layer
    assert chunked and out not in chunked and set(chunked) == set(results["float"].layers) - {out}


def _layered(loihi2, seed: int):
    """A random 3-layer network whose middle layer is (channels, height, width): the numba engine
    keeps such a layer's neurons in another order."""
    rng = np.random.default_rng(seed)
    network = random_quantised_network(rng, loihi2, [20, 24, 24, 5], spike_rules=True, resets=["subtract", "subtract", "zero"])
    layers = list(network.layers)
    layers[1] = dataclasses.replace(layers[1], shape=(2, 3, 4))
    return dataclasses.replace(network, layers=tuple(layers)), random_input(rng, 12, 6, 20, rate=0.5)


def _compartments(loihi2, seed: int):
    """Extended, ATRLIF and Izhikevich layers (tests/test_compartments.py): the engines record
    these compartments' extra registers (theta, r, count) beside u and v."""
    rng = np.random.default_rng(seed)
    network = compartment_network(rng, loihi2, extreme=False)
    return network, random_input(rng, 20, 3, network.n_inputs)


@pytest.mark.parametrize("build", [_layered, _compartments])
@pytest.mark.parametrize("target", ["cpu", "cpu-numpy", "torch"])
def test_engines_record_the_selected_layers_exactly(loihi2, target, build):
    network, x = build(loihi2, 10 if build is _layered else 5)
    full = TARGETS.get(target).run(network, x, RunRequest(record_spikes=True, record_state=True))
    assert all(layer.spikes > 0 for layer in full.layers.values()), "a silent layer proves nothing"
    if build is _layered:
        assert full.rasters["layer1"].dtype == np.int32 or full.rasters["layer0"].dtype == np.int32, "a layer firing several spikes per step"
    else:
        assert {"theta", "r", "count"} <= set(full.traces["layer0"]) and {"theta", "r", "count"} <= set(full.traces["layer1"])
    for spikes, state in [({"layer1"}, {"layer2"}), ({"layer0", "layer2"}, {"layer1"}), ({"layer1"}, {"layer0", "layer2"})]:
        part = TARGETS.get(target).run(network, x, RunRequest(record_spikes=True, record_state=True, spike_layers=frozenset(spikes),
                                                              state_layers=frozenset(state)))
        assert set(part.rasters) == spikes and set(part.traces) == state
        for name in spikes:
            np.testing.assert_array_equal(part.rasters[name], full.rasters[name])
        for name in state:
            assert set(part.traces[name]) == set(full.traces[name]), name
            for var, values in full.traces[name].items():
                np.testing.assert_array_equal(part.traces[name][var], values, err_msg=f"{name}.{var}")
        for name, layer in full.layers.items():
            np.testing.assert_array_equal(part.layers[name].spike_counts, layer.spike_counts)
            assert part.layers[name].saturations == layer.saturations


def test_torch_fixed_address_steps_record_the_selected_layers(loihi2):
    from neurodeploy.backends.torch_graphs import run_engine

    network, x = _layered(loihi2, 10)
    full = run_engine(network, x, "cpu", None, True, True, static=True)
    part = run_engine(network, x, "cpu", None, True, True, static=True, spike_layers={"layer0"}, state_layers={"layer1"})
    assert int(full.spike_counts["layer0"].sum()) > 0 and set(part.rasters) == {"layer0"} and set(part.traces) == {"layer1"}
    assert part.rasters["layer0"].equal(full.rasters["layer0"]) and part.traces["layer1"]["v"].equal(full.traces["layer1"]["v"])


def test_sharded_runs_merge_the_selected_layers(loihi2):
    network, x = _layered(loihi2, 10)
    request = RunRequest(record_spikes=True, record_state=True, spike_layers=frozenset({"layer2"}), state_layers=frozenset({"layer1"}))
    whole = TARGETS.get("cpu-numpy").run(network, x, request)
    merged = merge_results([TARGETS.get("cpu-numpy").run(network, x[:, a:b], request) for a, b in shard_bounds(6, 3)])
    assert whole.layers["layer2"].spikes > 0 and set(merged.rasters) == {"layer2"} and set(merged.traces) == {"layer1"}
    np.testing.assert_array_equal(merged.rasters["layer2"], whole.rasters["layer2"])
    np.testing.assert_array_equal(merged.traces["layer1"]["v"], whole.traces["layer1"]["v"])


@pytest.mark.lava
def test_lava_records_the_state_of_the_selected_layers_only(loihi2):
    from neurodeploy.backends.lava_backend import run_lava

    rng = np.random.default_rng(6)
    network = random_quantised_network(rng, loihi2, [30, 25, 6])
    x = random_input(rng, 10, 3, 30, rate=0.5)
    cpu = TARGETS.get("cpu-numpy").run(network, x, RunRequest(record_spikes=True, record_state=True))
    assert all(layer.spikes > 0 for layer in cpu.layers.values()), "a silent layer proves nothing"
    lava = run_lava(network, x, record_spikes=True, record_state=True, spike_layers={"layer1"}, state_layers={"layer1"})
    assert set(lava.traces) == {"layer1"} and set(lava.rasters) == {"layer1"}
    for var in ("u", "v"):
        np.testing.assert_array_equal(lava.traces["layer1"][var], cpu.traces["layer1"][var])
    np.testing.assert_array_equal(lava.rasters["layer1"], cpu.rasters["layer1"])
    assert lava.layers["layer0"].saturations is None and lava.layers["layer1"].saturations == cpu.layers["layer1"].saturations
    for name, layer in cpu.layers.items():
        np.testing.assert_array_equal(lava.layers[name].spike_counts, layer.spike_counts)


def test_the_api_refuses_spikes_that_a_readouts_decision_kept_for_its_layer_alone(net64):
    import neurodeploy

    deployed = neurodeploy.deploy(str(net64), data="digits", encode="latency:steps=16,tau=4,normalize=true", target="float", batch=10,
                                  decision="first-spike", record=False)
    result = deployed.outcome.results["float"]
    assert result.layers[result.output_layer].spikes > 0 and set(result.rasters) == {result.output_layer}
    with pytest.raises(UserError, match="record=True"):
        _ = deployed.spikes


@pytest.mark.lava
def test_lava_per_core_records_the_state_of_the_selected_layers_only(loihi2):
    """Built core by core (--per-core), a layer split over two cores records its state from both slices, and no other layer's."""
    from neurodeploy.backends.lava_backend import run_lava
    from neurodeploy.ir.passes.map_cores import map_cores

    rng = np.random.default_rng(6)
    network = random_quantised_network(rng, loihi2, [30, 25, 6])
    mapped = map_cores(network, dataclasses.replace(loihi2, core=dataclasses.replace(loihi2.core, max_neurons=16)))
    assert len(mapped.mapping("layer0").slices) == 2
    x = random_input(rng, 10, 2, 30, rate=0.5)
    cpu = TARGETS.get("cpu-numpy").run(network, x, RunRequest(record_spikes=True, record_state=True))
    assert all(layer.spikes > 0 for layer in cpu.layers.values()), "a silent layer proves nothing"
    lava = run_lava(network, x, record_spikes=True, record_state=True, per_core=mapped, spike_layers={"layer0"}, state_layers={"layer0"})
    assert set(lava.traces) == {"layer0"} and set(lava.rasters) == {"layer0"}
    for var in ("u", "v"):
        np.testing.assert_array_equal(lava.traces["layer0"][var], cpu.traces["layer0"][var])
    np.testing.assert_array_equal(lava.rasters["layer0"], cpu.rasters["layer0"])
    for name, layer in cpu.layers.items():
        np.testing.assert_array_equal(lava.layers[name].spike_counts, layer.spike_counts)


def test_memory_estimate_counts_the_readouts_state_alone(net64):
    """A first-spike plan records its output layer's u and v and no other layer's state: the
    estimate's recordings grow by exactly that (and the rasters) over a plan recording nothing."""
    from neurodeploy.pipeline import estimate_run_memory, prepare

    prepared = prepare(DeployOptions(model=str(net64), target="cpu", data="digits", encode="latency:steps=16,tau=4,normalize=true", batch=60,
                                     decision="first-spike"))
    plan, network = prepared.plan, prepared.compiled.quantised
    out = network.output_layer.name
    assert plan.state_layers == {out} and plan.order == ("cpu", "float")
    nothing = dataclasses.replace(plan, spike_layers=frozenset(), state_layers=frozenset())
    selected, none = (estimate_run_memory(prepared.compiled, prepared.batch, p)["recordings"] for p in (plan, nothing))
    neurons = sum(layer.n_out for layer in network.layers)
    per_run = prepared.batch.steps * prepared.batch.batch * (neurons + 8 * network.output_layer.n_out)  # every raster, the readout's u and v
    assert selected - none == len(plan.order) * per_run
