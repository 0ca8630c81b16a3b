"""Every core's work per step (``backends/core_counts.py``), which the energy and time model
reads: exact and identical on every bit-exact target (numba, numpy and torch engines, Lava),
consistent with each run's own spikes and synaptic operations on the float target too."""
import dataclasses

import nir
import numpy as np
import pytest

from neurodeploy.backends import core_counts
from neurodeploy.backends.core_counts import plan_core_counts
from neurodeploy.backends.cpu import run_cpu
from neurodeploy.backends.float_reference import run_float
from neurodeploy.ir.passes import CompileOptions, compile_network
from neurodeploy.reports.report import ReportSources, build_report

from netgen import float_graph

DT = 1e-3


def lif(shape, leak=0.0):
    return nir.LIF(tau=np.full(shape, 5e-3), r=np.full(shape, 5.0), v_leak=np.full(shape, leak), v_threshold=np.ones(shape), v_reset=np.zeros(shape))


@pytest.fixture(scope="module")
def compiled(loihi2):
    """A convolution cut into bands over several cores, a delayed dense projection, a sparse
    recurrent projection and a layer with a bias, on cores of 32 neurons."""
    rng = np.random.default_rng(3)
    recurrence = rng.normal(0, 1.0, (20, 20)) * (rng.random((20, 20)) < 0.2)
    nodes = {
        "input": nir.Input(np.array([2, 8, 8])),
        "conv": nir.Conv2d(input_shape=(8, 8), weight=rng.normal(0.2, 0.8, (4, 2, 3, 3)), stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(4)),
        "lif_conv": lif((4, 8, 8)),
        "flat": nir.Flatten(input_type={"input": np.array([4, 8, 8])}, start_dim=0, end_dim=-1),
        "delay": nir.Delay(np.arange(256) % 3 * DT),
        "fc": nir.Linear(rng.normal(0.05, 0.3, (20, 256))),
        "lif_hidden": lif(20),
        "rec": nir.Linear(recurrence),
        "fc_out": nir.Linear(rng.normal(0.2, 0.8, (6, 20))),
        "lif_out": lif(6, leak=0.3),
        "output": nir.Output(np.array([6])),
    }
    order = ["input", "conv", "lif_conv", "flat", "delay", "fc", "lif_hidden", "fc_out", "lif_out", "output"]
    edges = list(zip(order, order[1:])) + [("lif_hidden", "rec"), ("rec", "lif_hidden")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT}, type_check=False)
    profile = dataclasses.replace(loihi2, core=dataclasses.replace(loihi2.core, max_neurons=32))
    compiled = compile_network(float_graph(graph), CompileOptions(profile=profile))
    connections = {p.connection for layer in compiled.quantised.layers for p in layer.projections}
    assert {"Conv", "Sparse"} <= connections and connections & {"DelayDense", "DelaySparse"}, connections
    return compiled


@pytest.fixture(scope="module")
def inputs():
    return (np.random.default_rng(4).random((20, 3, 128)) < 0.3).astype(np.int32)


@pytest.fixture(scope="module")
def numpy_run(compiled, inputs):
    result = run_cpu(compiled.quantised, inputs, engine="numpy", core_plan=plan_core_counts(compiled.mapped))
    silent = [name for name, a in result.layers.items() if a.spikes == 0]
    assert not silent, f"silent layers: {silent}"  # a silent network agrees with anything
    return result


def assert_same_counts(a, b):
    np.testing.assert_array_equal(a.core_counts.totals, b.core_counts.totals)
    np.testing.assert_array_equal(a.core_counts.steps, b.core_counts.steps)
    for name in a.layers:
        assert a.layers[name].updated_neuron_updates == b.layers[name].updated_neuron_updates, name


def test_counts_add_up_to_the_runs_own_totals(compiled, numpy_run):
    plan, counts = numpy_run.core_counts.plan, numpy_run.core_counts
    assert len(plan.sites) > 8 and plan.tiles_in_use > 2
    np.testing.assert_array_equal(counts.steps.sum(axis=(0, 1)), counts.totals)  # every sample kept
    layers = numpy_run.layers.values()
    assert plan.total(counts.totals, "spikes") == sum(a.spikes for a in layers)
    assert plan.total(counts.totals, "updated") == sum(a.updated_neuron_updates for a in layers)
    synaptic = sum(plan.total(counts.totals, f"synapse_{kind}") for kind in ("dense", "sparse", "conv"))
    assert synaptic == sum(a.synops for a in layers)
    assert plan.total(counts.totals, "messages_out") == plan.total(counts.totals, "messages_in") > plan.total(counts.totals, "spikes")
    for activity in layers:
        assert activity.active_neuron_updates <= activity.updated_neuron_updates <= activity.neuron_updates
    assert numpy_run.layers["lif_out"].updated_neuron_updates == numpy_run.layers["lif_out"].neuron_updates  # a bias updates every step
    assert numpy_run.layers["lif_conv"].updated_neuron_updates < numpy_run.layers["lif_conv"].neuron_updates


def test_report_energy_is_the_counters_times_the_costs(compiled, numpy_run):
    """Per-layer operations (from spike totals and the mapping) and the per-core counters agree."""
    report = build_report(ReportSources(compiled, target="cpu", results={"cpu": numpy_run}, input={"description": "test"}))
    plan, totals, e = numpy_run.core_counts.plan, numpy_run.core_counts.totals, compiled.mapped.profile.energy_j
    terms = report.totals["energy_j"]["terms"]
    for term, counter in (("synapse_conv", "synapse_conv"), ("synapse_sparse", "synapse_sparse"), ("synapse_dense", "synapse_dense"),
                          ("neuron_update", "updated"), ("spike_out", "spikes"), ("message_out", "messages_out"),
                          ("hop_east_west", "hops_east_west"), ("hop_north_south", "hops_north_south")):
        assert terms[term] == pytest.approx(plan.total(totals, counter) * getattr(e, term)), term
    neurons = sum(site.neurons for site in plan.sites)
    assert terms["neuron_access"] == pytest.approx(neurons * numpy_run.steps * numpy_run.batch * e.neuron_access)
    assert report.latency["samples_timed"] == 3 and report.latency["time_per_step_s"] > report.latency["barrier_s"]


@pytest.mark.parametrize("engine", ["numba", "torch"])
def test_engines_count_identically(compiled, inputs, numpy_run, engine):
    result = run_cpu(compiled.quantised, inputs, engine=engine, core_plan=plan_core_counts(compiled.mapped))
    assert_same_counts(numpy_run, result)


@pytest.mark.lava
def test_lava_counts_identically(compiled, inputs, numpy_run):
    from neurodeploy.backends.lava_backend import run_lava

    assert_same_counts(numpy_run, run_lava(compiled.quantised, inputs, core_plan=plan_core_counts(compiled.mapped)))


def test_float_target_counts_its_own_spikes(compiled, inputs):
    result = run_float(compiled.normalised, inputs.astype(float), core_plan=plan_core_counts(compiled.mapped))
    plan, totals = result.core_counts.plan, result.core_counts.totals
    assert plan.total(totals, "spikes") == sum(a.spikes for a in result.layers.values()) > 0
    assert plan.total(totals, "updated") == sum(a.updated_neuron_updates for a in result.layers.values())


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_per_step_counts_beyond_the_memory_bound_keep_the_first_samples(compiled, inputs, numpy_run, monkeypatch, engine):
    plan = plan_core_counts(compiled.mapped)
    monkeypatch.setattr(core_counts, "STEP_COUNT_BYTES", inputs.shape[0] * plan.n_counters * 4)  # one sample
    result = run_cpu(compiled.quantised, inputs, engine=engine, core_plan=plan)
    np.testing.assert_array_equal(result.core_counts.totals, numpy_run.core_counts.totals)
    np.testing.assert_array_equal(result.core_counts.steps, numpy_run.core_counts.steps[:1])
    report = build_report(ReportSources(compiled, target="cpu", results={"cpu": result}, input={"description": "test"}))
    assert report.latency["samples_timed"] == 1 and any("first 1 of 3 samples" in note for note in report.notes)


def test_plan_counts_one_message_per_destination_core(compiled):
    """A neuron's spike: one message to each distinct core its synapses reach, its own included."""
    plan = plan_core_counts(compiled.mapped)
    layer = compiled.quantised.layer("lif_hidden")
    recurrent = next(p for p in layer.projections if p.source == "lif_hidden")
    messages = np.asarray(plan.per_core(plan.spike_map["lif_hidden"].toarray(), "messages_out").sum(axis=1))
    for i in range(layer.n_out):
        reached = set(plan.site_of["lif_out"].tolist())  # the dense readout reaches every core of lif_out
        reached |= set(plan.site_of["lif_hidden"][recurrent.weights.tocsc()[:, i].indices].tolist())
        assert messages[i] == len(reached) and len(reached) >= 1, i
