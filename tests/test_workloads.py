"""The four example workloads end to end at toy sizes (the scripts in examples/ run them at full
size; docs/workloads.md): trained with surrogate gradients for one to three short epochs,
deployed on the CPU backend against the float model, and on Lava's simulator verified spike for
spike against the CPU backend."""
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import dvs_events  # noqa: E402
import mlp_digits  # noqa: E402
import spyketorch_dog  # noqa: E402
import workload_tools  # noqa: E402

import neurodeploy  # noqa: E402
from neurodeploy.data import load_data  # noqa: E402

TEST_SAMPLES = 40
LAVA_SAMPLES = 6


@pytest.fixture(scope="session")
def workloads(tmp_path_factory):
    """Each workload trained at a toy size and deployed on the CPU backend: name -> (Deployment, module, data, encode, steps, decision).
    Training uses one torch thread: its threads would only wait on each other at these sizes."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_workloads(tmp_path_factory)
    finally:
        torch.set_num_threads(threads)


def _train_workloads(tmp_path_factory):
    test28 = load_data("digits28")
    test255 = load_data("digits28:max=255")
    folder = tmp_path_factory.mktemp("recordings")
    out = {}
    for coding in ("rate", "latency"):
        deployment, model = mlp_digits.run(coding, hidden=48, epochs=1, train_samples=400, test_samples=TEST_SAMPLES, lava=False, log=False)
        out[f"mlp-{coding}"] = (deployment, model, (test28.x[:LAVA_SAMPLES], test28.y[:LAVA_SAMPLES]), mlp_digits.CODINGS[coding],
                                25 + mlp_digits.DELAY_STEPS, "spike-count")
    deployment, model = spyketorch_dog.run((4, 8), epochs=1, train_samples=300, test_samples=TEST_SAMPLES, batch_size=16, lava=False,
                                         log=False)
    out["dog"] = (deployment, model, (test255.x[:LAVA_SAMPLES], test255.y[:LAVA_SAMPLES]), spyketorch_dog.ENCODE,
                  spyketorch_dog.INPUT_STEPS + spyketorch_dog.DELAY_STEPS, "first-spike")
    deployment, model = dvs_events.run(folder, (4, 8), epochs=3, train_samples=150, test_samples=TEST_SAMPLES, batch_size=16, lava=False,
                                     log=False)
    recordings = load_data(str(folder / "test"))
    out["dvs"] = (deployment, model, (recordings.x[:LAVA_SAMPLES], recordings.y[:LAVA_SAMPLES]), dvs_events.ENCODE,
                  dvs_events.INPUT_STEPS + dvs_events.DELAY_STEPS, "spike-count")
    return out


@pytest.mark.parametrize("name", ["mlp-rate", "mlp-latency", "dog", "dvs"])
def test_workload_deploys_with_its_accuracy_in_the_report(workloads, name):
    deployment, _, _, encode, steps, decision = workloads[name]
    report = deployment.report
    assert all(layer["spikes"] > 0 for layer in report["layers"]), [layer["spikes"] for layer in report["layers"]]  # active
    assert report["input"]["spec"].startswith(encode.partition(":")[0]) and report["totals"]["steps"] == steps
    assert report["classification"]["decision"] == decision and report["classification"]["samples"] == TEST_SAMPLES
    accuracy = deployment.accuracy
    assert set(accuracy) == {"float", "cpu"}
    assert accuracy["float"] > 0.2  # above chance (0.1) after a few dozen training steps
    assert abs(accuracy["cpu"] - accuracy["float"]) <= 0.15  # the chip's fixed point keeps the float model's accuracy
    assert "uJ per sample" in workload_tools.summary(name, deployment)


def test_dvs_recordings_are_event_camera_streams(workloads):
    (_, _, (streams, labels), _, _, _) = workloads["dvs"]
    stream = streams[0]
    assert len(stream) > 1000 and np.all(np.diff(stream["t"]) >= 0) and stream["t"].max() < dvs_events.DURATION_US
    assert 0.2 < stream["p"].mean() < 0.8  # ON and OFF events both
    assert stream["x"].max() < 34 and stream["y"].max() < 34 and labels.dtype.kind == "i"


@pytest.mark.lava
@pytest.mark.slow
def test_workloads_on_lava_match_the_cpu_backend_spike_for_spike(workloads, tmp_path):
    for name, (_, model, (x, y), encode, steps, decision) in workloads.items():
        if name == "mlp-rate":  # this one through a compiled file: saved, loaded, run on Lava without compiling again
            path = neurodeploy.compile(model, data=x, encode=encode, steps=steps).save(tmp_path / "mlp.ndz")
            deployment = neurodeploy.load(path).run(data=x, labels=y, steps=steps, decision=decision, target="loihi-sim",
                                                    verify_against="cpu", record=False)
            assert "pass.map_cores" not in deployment.report["timing_s"]
        else:
            deployment = workload_tools.deploy_and_compare(model, x, y, encode, steps=steps, decision=decision, lava=True)
        report = deployment.report
        assert report["layers"][-1]["spikes"] > 0, name
        assert report["verify"]["passed"], (name, report["verify"]["first_difference"])
        assert deployment.accuracy["loihi-sim"] == deployment.accuracy["cpu"], name
