"""The report: every field documented, energies as the profile's per-operation figures say."""
import re
from pathlib import Path

import nir
import numpy as np
import pytest

from neurodeploy.backends.core_counts import plan_core_counts
from neurodeploy.backends.cpu import run_cpu
from neurodeploy.ir.passes import CompileOptions, compile_network
from neurodeploy.pipeline import DeployOptions, deploy
from neurodeploy.reports.render import render_table

from netgen import float_graph, random_input

DOC = (Path(__file__).resolve().parents[1] / "docs" / "report.md").read_text()
DYNAMIC = {"timing_s": "timing_s.<stage>", "accuracy": "accuracy.<target>", "load.dialect.settings": "load.dialect.settings.<option>",
           "input.parameters": "input.parameters.<key>"}
PER_TARGET = {"classification.targets"}  # keyed by run: documented as classification.targets.<target>.<field>
PER_LAYER = {"fidelity", "quantisation.overflow.layers"}  # keyed by layer name: documented as fidelity.<layer>.<field>


def key_paths(value, prefix=""):
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            if prefix in PER_LAYER:
                path = f"{prefix}.<layer>"
            if prefix in PER_TARGET:
                path = f"{prefix}.<target>"
            if prefix in DYNAMIC:
                yield DYNAMIC[prefix]
                continue
            yield path
            yield from key_paths(item, path)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for item in value:
            yield from key_paths(item, f"{prefix}[]")


def documented(path: str) -> bool:
    if f"`{path}`" in DOC:
        return True
    head, _, last = path.rpartition(".")
    # grouped rows such as `totals.neurons`, ... or `verify.first_difference.layer`, `.step`
    return f"`.{last}`" in DOC and f"`{head}." in DOC or re.search(rf"`{re.escape(head)}\.<target>`", DOC) is not None


@pytest.fixture(scope="module")
def verified_report(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "net.nir"
    from netgen import random_nir_graph

    nir.write(path, random_nir_graph(np.random.default_rng(2), [12, 10, 3], kinds=["LIF", "LI"]))
    return deploy(DeployOptions(model=str(path), verify=True, steps=10, batch=2)).report


@pytest.mark.lava
def test_every_report_field_is_documented(verified_report):
    data = verified_report.to_dict()
    data["accuracy"] = {"float": 1.0, "cpu": 1.0}
    data["verify"]["first_difference"] = {"layer": "x", "step": 0, "sample": 0, "neuron": 0, "quantity": "v", "loihi-sim": 1, "cpu": 2, "message": ""}
    missing = sorted({p for p in key_paths(data) if not documented(p)})
    assert not missing, f"fields missing from docs/report.md: {missing}"


def test_every_field_of_a_report_on_labelled_data_is_documented(tmp_path):
    from neurodeploy.data import load_data

    path = tmp_path / "net.nir"
    from netgen import random_nir_graph

    nir.write(path, random_nir_graph(np.random.default_rng(2), [64, 10], kinds=["LIF"]))
    data = load_data("digits").first(8)
    report = deploy(DeployOptions(model=str(path), target="cpu", data=data, encode="rate:steps=6")).report
    data = report.to_dict()
    assert data["classification"] is not None and data["input"]["data"]["samples"] == 8
    data["input"].update(frames_per_sample=[1], frames_per_sample_range=[1, 2], padded_samples=0, cut_samples=0, layout="steps-first")
    data["input"]["data"].update(kind="events", files=1, labels_from="class subfolders")
    missing = sorted({p for p in key_paths(data) if not documented(p)})
    assert not missing, f"fields missing from docs/report.md: {missing}"


@pytest.mark.lava
def test_report_is_plain_json_and_renders(verified_report):
    import json

    text = json.dumps(verified_report.to_dict(), allow_nan=False)
    assert '"lava_process": "NeurodeployLIF"' in text  # the LI readout needs our own process
    table = render_table(verified_report)
    assert "verify: PASSED" in table and "chip: 1 of 128 cores" in table


def test_energy_is_counts_times_profile_costs(loihi1):
    """Two layers packed onto one core, the input on a core of the same tile: every figure
    recomputed by hand from the counts and the profile."""
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([4])),
            "fc1": nir.Linear(np.full((3, 4), 0.6)),
            "lif1": nir.LIF(tau=np.full(3, 0.01), r=np.full(3, 10.0), v_leak=np.zeros(3), v_threshold=np.ones(3), v_reset=np.zeros(3)),
            "fc2": nir.Linear(np.full((2, 3), 0.9)),
            "lif2": nir.LIF(tau=np.full(2, 0.01), r=np.full(2, 10.0), v_leak=np.zeros(2), v_threshold=np.ones(2), v_reset=np.zeros(2)),
            "output": nir.Output(np.array([2])),
        },
        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")],
        metadata={"dt": 1e-3},
    )
    compiled = compile_network(float_graph(graph), CompileOptions(profile=loihi1))
    x = random_input(np.random.default_rng(0), 40, 2, 4, rate=0.5)
    plan = plan_core_counts(compiled.mapped)
    result = run_cpu(compiled.quantised, x, core_plan=plan)
    from neurodeploy.reports.report import ReportSources, build_report

    report = build_report(ReportSources(compiled, target="cpu", results={"cpu": result}, input={"description": "test"}))
    e, t = loihi1.energy_j, loihi1.time_s
    first, second = report.layers
    assert first.spikes > 0 and second.spikes > 0
    assert first.synops == int(np.count_nonzero(x)) * 3
    assert second.synops == first.spikes * 2
    assert first.active_neuron_updates <= first.updated_neuron_updates <= first.neuron_updates
    assert first.energy_j["synaptic"] == pytest.approx(first.synops * (e.synapse_dense + e.dendrite))
    for layer in (first, second):
        neuron = layer.neuron_updates * e.neuron_access + layer.updated_neuron_updates * e.neuron_update + layer.spikes * e.spike_out
        assert layer.energy_j["neuron"] == pytest.approx(neuron)
    # both layers on core 0, the input on core 1 of the same tile: one message per spike, no hops
    assert first.energy_j["network"] == pytest.approx(first.spikes * (e.message_out + e.message_in))
    assert second.energy_j["network"] == 0.0  # the output layer sends nowhere on chip
    energy = report.totals["energy_j"]
    assert energy["input"] == pytest.approx(np.count_nonzero(x) * (e.message_out + e.message_in))
    assert energy["total"] == pytest.approx(first.energy_j["total"] + second.energy_j["total"] + energy["input"])
    assert energy["total"] == pytest.approx(sum(energy["terms"].values()))
    # time: per step the busier side of each core (sending, receiving), the busiest core, the 1-tile barrier
    counts = result.core_counts.steps.astype(float)
    field = lambda name: plan.per_core(counts, name)  # noqa: E731
    send = (t.neuron_access * np.array([5, 0]) + t.neuron_update * field("updated") + t.spike_out * field("spikes")
            + t.message_out * field("messages_out"))
    receive = t.message_in * field("messages_in") + (t.synapse_dense + t.dendrite) * field("synapse_dense")
    per_step = np.maximum(send, receive).max(axis=2) + t.barrier(1)
    assert report.latency["time_per_step_s"] == pytest.approx(per_step.mean())
    assert report.latency["time_per_sample_s"] == pytest.approx(per_step.sum(axis=1).mean())
    assert report.latency["barrier_s"] == t.barrier_sync[1] and report.latency["tiles_in_use"] == 1
    chip = dict(report.chip)
    resources = chip.pop("resources")
    assert chip == {"cores_used": 1, "cores_available": 128, "chips_used": 1, "chips_available": 1, "tiles_used": 1, "input_cores": 1, "fits": True}
    assert resources["used"]["neurons"] == 5 and resources["used"]["input_axons"] == 4 + 3
    assert resources["utilisation"]["neurons"] == pytest.approx(5 / loihi1.core.max_neurons)
    assert [entry["layer"] for entry in report.cores[0]["layers"]] == ["lif1", "lif2"]
    assert report.latency["synaptic_delay_steps"] == 2


def test_a_difference_between_two_runs_of_one_target_names_both_values(loihi2):
    """Comparing two CPU runs (e.g. two engines): the message must not print one value twice."""
    import dataclasses

    from neurodeploy.backends.compare import compare_runs

    from netgen import random_quantised_network

    rng = np.random.default_rng(0)
    network = random_quantised_network(rng, loihi2, [10, 6])
    inputs = random_input(rng, steps=5, batch=1, n=10, rate=0.8)
    a = run_cpu(network, inputs, record_spikes=True, record_state=True)
    b = run_cpu(network, inputs, record_spikes=True, record_state=True)
    b = dataclasses.replace(b, traces={k: {"u": t["u"] + 1, "v": t["v"]} for k, t in b.traces.items()})
    verdict = compare_runs(a, b, ["layer0"])
    first = verdict["first_difference"]
    assert not verdict["passed"]
    assert first["cpu"] + 1 == first["cpu (second run)"]
    assert f"{first['cpu']} on cpu but {first['cpu'] + 1} on cpu (second run)" in first["message"]


def test_counts_and_energies_round_before_the_prefix_is_chosen():
    from neurodeploy.reports.render import count, si

    assert [count(999_499), count(999_500), count(999_999), count(1_000_000), count(12_345)] == ["999k", "1M", "1M", "1M", "12.3k"]
    assert [si(999.4e-6, "J"), si(999.5e-6, "J"), si(999.96e-9, "s"), si(0.0123, "J")] == ["999 µJ", "1 mJ", "1 µs", "12.3 mJ"]


def test_float_target_notes_and_figure_titles(tmp_path):
    """--target float states what it ran, without the fixed-point notes that do not apply to it; a
    long model path wraps in the figures' titles instead of running off the edge."""
    from neurodeploy.data import load_data
    from neurodeploy.reports.render import confusion_figure, mesh_figure, report_figure

    from netgen import random_nir_graph

    path = tmp_path / ("a_model_file_with_a_long_name_" * 4 + ".nir")
    nir.write(path, random_nir_graph(np.random.default_rng(2), [64, 10], kinds=["LIF"]))
    report = deploy(DeployOptions(model=str(path), target="float", data=load_data("digits").first(8), encode="rate:steps=6")).report
    assert report.layers[-1].spikes > 0  # active
    assert not [note for note in report.notes if "Lava is only asked" in note or "differs from the float model" in note], report.notes
    assert any(note.startswith("--target float runs the float model itself") for note in report.notes)
    for figure in (report_figure(report), mesh_figure(report), confusion_figure(report)):
        title = figure._suptitle.get_text()
        assert path.name[:40] in title.replace("\n", "") and "\n" in title
        assert max(map(len, title.splitlines())) * 10 * 0.6 <= figure.get_figwidth() * 72  # each line fits the width at 10 pt
