"""How a run's output becomes a class (spike count, first spike, max membrane), checked by hand on
made-up runs; the classification section's confusion matrices; the report's number formatting."""
import numpy as np
import pytest

from neurodeploy.backends.results import LayerActivity, RunResult
from neurodeploy.reports.accuracy import accuracy_section, classification_section, decide
from neurodeploy.reports.render import count, si


def run_of(raster: np.ndarray, v: np.ndarray | None = None) -> RunResult:
    """A one-layer run from its output raster (steps, batch, n) and v trace (steps, batch, n)."""
    raster = np.asarray(raster, bool)
    steps, batch, n = raster.shape
    v = np.zeros(raster.shape) if v is None else np.asarray(v, float)
    out = LayerActivity("out", n, spikes=int(raster.sum()), spike_counts=raster.sum(axis=0).astype(np.int64))
    return RunResult("float", steps, batch, {"out": out}, "out", v.sum(axis=0), rasters={"out": raster}, traces={"out": {"u": v, "v": v}})


def test_spike_count_first_spike_and_max_membrane_by_hand():
    raster = np.zeros((5, 4, 3), bool)
    raster[[3, 4], 0, 0] = True  # sample 0: neuron 0 spikes twice (late), neuron 1 once (first)
    raster[1, 0, 1] = True
    raster[2, 1, 2] = True  # sample 1: neurons 1 and 2 spike once each at step 2: a tie in time and count
    raster[2, 1, 1] = True
    # sample 2: silent; sample 3: neuron 2 at step 0, neuron 0 at step 0 too and again at 1
    raster[0, 3, 2] = raster[0, 3, 0] = raster[1, 3, 0] = True
    v = np.zeros((5, 4, 3))
    v[:, 1, 2] = 0.5  # breaks sample 1's ties towards neuron 2
    v[:, 2, 1] = 0.1  # sample 2 (silent): the summed membrane decides
    v[2, 0, 2] = 9.0  # the highest membrane of sample 0 (never spikes)
    run = run_of(raster, v)
    assert decide(run, "spike-count").tolist() == [0, 2, 1, 0]
    # sample 1: neurons 1 and 2 first at step 2, neuron 2 with the larger v; sample 3: 0 and 2 at step 0, equal v: the lower index
    assert decide(run, "first-spike").tolist() == [1, 2, 1, 0]
    assert decide(run, "max-membrane").tolist() == [2, 2, 1, 0]  # sample 3: all zero, lowest index
    with pytest.raises(ValueError, match="unknown decision"):
        decide(run, "vote")


def test_first_spike_needs_the_raster_and_max_membrane_the_state():
    run = run_of(np.zeros((2, 1, 2)))
    bare = RunResult("cpu", 2, 1, run.layers, "out", run.output_v_sum)
    with pytest.raises(ValueError, match="record_spikes"):
        decide(bare, "first-spike")
    with pytest.raises(ValueError, match="record_state"):
        decide(bare, "max-membrane")
    assert decide(bare, "spike-count").tolist() == [0]


def test_classification_gives_each_run_its_confusion_matrix():
    raster = np.zeros((3, 4, 3), bool)
    for sample, neuron in enumerate([0, 1, 1, 2]):
        raster[1, sample, neuron] = True
    other = raster.copy()
    other[:, 3] = False  # the second run is silent on sample 3
    labels = np.array([0, 1, 2, 2])
    results = {"float": run_of(raster), "cpu": run_of(other)}
    section = classification_section(results, labels, "cpu", "spike-count", classes=("a", "b", "c"))
    assert section["classes"] == ["a", "b", "c"] and section["samples"] == 4 and "most spikes" in section["rule"]
    assert section["targets"]["float"]["confusion"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert section["targets"]["cpu"]["confusion"] == [[1, 0, 0], [0, 1, 0], [1, 1, 0]]
    assert section["targets"]["cpu"]["silent_samples"] == 1 and section["targets"]["cpu"]["correct"] == 2
    assert accuracy_section(results, labels, "cpu") == {"float": 0.75, "cpu": 0.5}
    assert classification_section(results, None, "cpu", "spike-count") is None


@pytest.mark.parametrize("value, text", [(999, "999"), (999_499, "999k"), (999_500, "1M"), (999_999, "1M"), (1_234_567, "1.23M"),
                                         (999_600_000_000, "1T")])
def test_counts_print_the_prefix_of_the_rounded_number(value, text):
    assert count(value) == text


@pytest.mark.parametrize("value, text", [(999.7e-6, "1 mJ"), (999.4e-6, "999 µJ"), (0.9996, "1 J"), (2.5e-9, "2.5 nJ")])
def test_si_prints_the_prefix_of_the_rounded_number(value, text):
    assert si(value, "J") == text
