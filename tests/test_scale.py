"""Scale-out (neurodeploy/scale.py): shards of samples merge into exactly the single-process
result, and a run over a local Ray cluster of 2 workers writes the single-process report bit for bit."""
import json

import nir
import numpy as np
import pytest

from neurodeploy import cli
from neurodeploy.backends import TARGETS, RunRequest
from neurodeploy.backends.float_reference import EVENT_ROWS
from neurodeploy.ir.passes.normalise import normalise
from neurodeploy.scale import merge_results, shard_bounds

from netgen import float_graph, random_input, random_nir_graph, random_quantised_network


def test_shard_bounds_cover_every_sample_once():
    for batch in (1, 2, 7, 64):
        for shards in (1, 2, 3, 8, 100):
            bounds = shard_bounds(batch, shards)
            assert [a for a, _ in bounds][0] == 0 and bounds[-1][1] == batch
            assert all(b == c for (_, b), (c, _) in zip(bounds, bounds[1:]))
            sizes = [b - a for a, b in bounds]
            assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


def _same(a, b):
    assert a.batch == b.batch and a.output_layer == b.output_layer
    np.testing.assert_array_equal(a.output_v_sum, b.output_v_sum)
    for name, layer in a.layers.items():
        other = b.layers[name]
        for field in ("spikes", "synops", "neuron_updates", "active_neuron_updates", "saturations", "window"):
            assert getattr(layer, field) == getattr(other, field), (name, field)
        np.testing.assert_array_equal(layer.spike_counts, other.spike_counts)
        np.testing.assert_array_equal(layer.events_per_neuron(), other.events_per_neuron())
        if layer.window_counts is not None:
            np.testing.assert_array_equal(layer.window_counts, other.window_counts)
        np.testing.assert_array_equal(a.rasters[name], b.rasters[name])
        for kind in ("u", "v"):
            np.testing.assert_array_equal(a.traces[name][kind], b.traces[name][kind])
    assert a.peaks == b.peaks


@pytest.mark.parametrize("target,seed,spike_rules", [("cpu", 7, False), ("cpu-numpy", 7, False), ("cpu-numpy", 0, True)])
def test_merged_shards_equal_the_whole_run_including_saturation(target, seed, spike_rules, loihi2):
    rng = np.random.default_rng(seed)
    network = random_quantised_network(rng, loihi2, [30, 25, 6], extreme=True, spike_rules=spike_rules)
    x = random_input(rng, 25, 7, 30, rate=0.5)
    request = RunRequest(record_spikes=True, record_state=True, windows={"layer1": (5, 20)}, record_peaks=True)
    whole = TARGETS.get(target).run(network, x, request)
    assert whole.layers["layer0"].spikes > 0 and whole.layers["layer1"].spikes > 0, "a silent network proves nothing"
    assert sum(sum(a.saturations.values()) for a in whole.layers.values()) > 0, "the case must saturate"
    merged = merge_results([TARGETS.get(target).run(network, x[:, a:b], request) for a, b in shard_bounds(7, 3)])
    _same(whole, merged)


def test_float_reference_shards_merge_into_the_whole_run_bit_for_bit():
    """The float reference sums in one order whatever the samples beside a sample: the whole run
    (samples x steps past EVENT_ROWS: the event-driven kernels) and its shards (below it: numpy
    and scipy) give the same floats (weights of float64 values, where the order of the sums shows)."""
    rng = np.random.default_rng(11)
    network = normalise(float_graph(random_nir_graph(rng, [60, 25, 6], kinds=["LIF", "CubaLIF"])))
    x = (rng.random((10, 30, 60)) < 0.1).astype(np.uint8)
    bounds = shard_bounds(30, 3)
    assert 10 * 30 >= EVENT_ROWS > 10 * max(b - a for a, b in bounds)
    request = RunRequest(record_spikes=True, record_state=True, windows={network.output_layer.name: (2, 8)})
    whole = TARGETS.get("float").run(network, x, request)
    assert all(layer.spikes > 0 for layer in whole.layers.values()), "a silent network proves nothing"
    _same(whole, merge_results([TARGETS.get("float").run(network, x[:, a:b], request) for a, b in bounds]))


@pytest.mark.slow
@pytest.mark.lava
def test_two_ray_workers_write_the_single_process_report_bit_for_bit(tmp_path, capsys):
    """--workers 2 starts a local Ray cluster of 2 worker processes, shards Lava's simulator
    (which forks its own processes inside each Ray worker), --verify's cpu target, the float
    reference and the overflow analysis, and stops Ray again."""
    pytest.importorskip("ray")
    net = tmp_path / "net.nir"
    nir.write(net, random_nir_graph(np.random.default_rng(5), [40, 30, 10], kinds=["LIF", "CubaLIF"]))
    common = [str(net), "--target", "loihi-sim", "--verify", "--batch", "5", "--steps", "20", "--rate", "0.3", "--json", "--record"]
    reports = []
    for extra in ([], ["--workers", "2"]):
        assert cli.main([*common, *extra, "--report-dir", str(tmp_path / f"r{len(extra)}")]) == 0
        report = json.loads(capsys.readouterr().out)
        report.pop("timing_s")
        reports.append(report)
    assert sum(layer["spikes"] for layer in reports[0]["layers"]) > 0, "a silent network proves nothing"
    assert reports[0]["verify"]["passed"] and reports[0]["verify"]["samples"] == 5
    assert reports[1] == reports[0]
    single, sharded = (np.load(tmp_path / name / "spikes.npz") for name in ("r0", "r2"))
    for name in single.files:
        np.testing.assert_array_equal(single[name], sharded[name])
    import ray

    assert not ray.is_initialized()
