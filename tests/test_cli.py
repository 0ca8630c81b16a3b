"""deploy.py as a user meets it: outputs, exit statuses, and one-line errors for bad input."""
import json
import os
import subprocess
import sys
from pathlib import Path

import nir
import numpy as np
import pytest
import yaml
from cli_checks import assert_user_error, run

from neurodeploy.hardware.profile import PROFILE_DIR

from netgen import random_nir_graph

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "net.nir"
    nir.write(path, random_nir_graph(np.random.default_rng(0), [20, 15, 4], kinds=["LIF", "CubaLIF"]))
    return path


def test_cpu_run_writes_report_png_and_spikes(net_file, tmp_path, capsys):
    status, out, _ = run([net_file, "--target", "cpu", "--steps", "30", "--batch", "3", "--record", "--plots", "--report-dir", tmp_path / "r"], capsys)
    assert status == 0
    assert "neuron0" in out and "random spikes (no --input given): rate 0.1" in out
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["target"] == "cpu" and report["input"]["source"] == "random" and report["input"]["seed"] == 0
    assert (tmp_path / "r" / "report.png").read_bytes()[:4] == b"\x89PNG"
    spikes = np.load(tmp_path / "r" / "spikes.npz")
    assert set(spikes.files) == {"neuron0", "neuron1"} and spikes["neuron0"].shape == (30, 3, 15)
    assert spikes["neuron1"].sum() == report["layers"][1]["spikes"]


def test_stale_spikes_are_removed_when_not_recording(net_file, tmp_path, capsys):
    run([net_file, "--target", "cpu", "--steps", "5", "--record", "--report-dir", tmp_path / "r"], capsys)
    run([net_file, "--target", "cpu", "--steps", "5", "--report-dir", tmp_path / "r"], capsys)
    assert not (tmp_path / "r" / "spikes.npz").exists()


@pytest.mark.lava
def test_verify_passes_and_is_reported(net_file, tmp_path, capsys):
    status, out, _ = run([net_file, "--verify", "--steps", "25", "--batch", "2", "--report-dir", tmp_path / "r"], capsys)
    assert status == 0 and "verify: PASSED" in out
    verify = json.loads((tmp_path / "r" / "report.json").read_text())["verify"]
    assert verify["passed"] and verify["first_difference"] is None and verify["values_compared"] == 3 * 25 * 2 * (15 + 4)


@pytest.mark.lava
def test_verify_names_the_first_difference_and_exits_3(net_file, tmp_path, capsys, monkeypatch):
    from neurodeploy.backends import cpu

    real = cpu.run_cpu

    def corrupted(*args, **kwargs):
        result = real(*args, **kwargs)
        result.traces["neuron1"]["v"][7, 1, 2] += 1
        return result

    monkeypatch.setattr(cpu, "run_cpu", corrupted)
    status, _, err = run([net_file, "--verify", "--steps", "20", "--batch", "2", "--report-dir", tmp_path / "r"], capsys)
    assert status == 3
    assert "layer 'neuron1', step 7, sample 1, neuron 2: v is" in err


def test_graded_input_file(net_file, tmp_path, capsys):
    x = np.random.default_rng(1).normal(size=(12, 2, 20))
    np.save(tmp_path / "x.npy", x)
    status, out, _ = run([net_file, "--target", "cpu", "--input", tmp_path / "x.npy", "--report-dir", tmp_path / "r"], capsys)
    assert status == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["input"]["encoding"] == "graded" and report["input"]["batch"] == 2 and report["totals"]["steps"] == 12


def test_missing_file(tmp_path, capsys):
    assert_user_error([tmp_path / "absent.nir"], capsys, tmp_path, "absent.nir: no such file")


def test_not_a_nir_file(tmp_path, capsys):
    path = tmp_path / "model.nir"
    path.write_text("hello")
    assert_user_error([path], capsys, tmp_path, "not a NIR file")


def test_unsupported_node_type(tmp_path, capsys):
    from test_nir_file import write_raw

    path = write_raw(
        tmp_path / "sigmoid.nir",
        {
            "input": {"type": "Input", "shape": np.array([4])},
            "fc": {"type": "Linear", "weight": np.ones((3, 4))},
            "act": {"type": "Sigmoid", "slope": np.ones(3)},
            "output": {"type": "Output", "shape": np.array([3])},
        },
        [("input", "fc"), ("fc", "act"), ("act", "output")],
    )
    assert_user_error([path], capsys, tmp_path, "node 'act' has type 'Sigmoid', which neither nir")


def test_nan_weights(tmp_path, capsys):
    graph = random_nir_graph(np.random.default_rng(0), [5, 4], kinds=["LIF"])
    graph.nodes["syn0"].weight[2, 3] = np.nan
    nir.write(tmp_path / "nan.nir", graph)
    assert_user_error([tmp_path / "nan.nir"], capsys, tmp_path, "node 'syn0' (Affine): weight[2, 3] is nan")


def test_profile_with_unknown_key(net_file, tmp_path, capsys):
    raw = yaml.safe_load((PROFILE_DIR / "loihi2.yaml").read_text())
    raw["core"]["max_neuron"] = 10
    (tmp_path / "chip.yaml").write_text(yaml.safe_dump(raw))
    assert_user_error([net_file, "--profile", tmp_path / "chip.yaml"], capsys, tmp_path, "unknown key(s) core.max_neuron")


def test_network_too_big_for_the_profile(net_file, tmp_path, capsys):
    raw = yaml.safe_load((PROFILE_DIR / "loihi2.yaml").read_text())
    raw["core"]["max_neurons"] = 2
    raw["system"]["cores_per_chip"] = 4
    raw["system"]["mesh_tiles"] = [1, 1]
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(raw))
    assert_user_error(
        [net_file, "--profile", tmp_path / "tiny.yaml"], capsys, tmp_path, "the network needs 10 cores (neuron0: 8, neuron1: 2) but profile 'loihi2' has 4"
    )


def test_encode_and_input_are_one_choice(net_file, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((10, 2, 20)))
    assert_user_error([net_file, "--input", tmp_path / "x.npy", "--encode", "random:rate=0.2"], capsys, tmp_path, "give one of them")
    assert_user_error([net_file, "--encode", "random:rate=2"], capsys, tmp_path, "--encode random: rate=2 is out of range: rate must be a number in [0, 1]")


def test_wrong_input_shape(net_file, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((10, 2, 7)))
    assert_user_error([net_file, "--input", tmp_path / "x.npy"], capsys, tmp_path, "shape [10, 2, 7] does not match the model input [20]")


def test_graded_input_on_a_binary_chip(net_file, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.full((10, 1, 20), 0.5))
    assert_user_error([net_file, "--input", tmp_path / "x.npy", "--profile", "loihi1"], capsys, tmp_path, "carries binary spikes only")


def test_script_entry_point_help_and_error_status():
    helped = subprocess.run([sys.executable, str(ROOT / "deploy.py"), "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "examples:" in helped.stdout and "--verify" in helped.stdout
    failed = subprocess.run([sys.executable, str(ROOT / "deploy.py"), "no-such-model.nir"], capture_output=True, text=True, cwd="/tmp")
    assert failed.returncode == 2 and failed.stderr.strip() == "error: no-such-model.nir: no such file"


def test_run_exits_with_main_status_and_keeps_the_users_blas_setting(monkeypatch):
    import gc

    from neurodeploy import cli

    monkeypatch.setattr(cli, "main", lambda prog: 3)
    for name in cli.BLAS_THREAD_TIMEOUT:
        monkeypatch.setenv(name, "unset")  # so that the variable is restored whatever run() sets
        monkeypatch.delenv(name)
    thresholds = gc.get_threshold()
    try:
        with pytest.raises(SystemExit) as exit_:
            cli.run()
        assert exit_.value.code == 3 and gc.get_threshold() == cli.GC_THRESHOLDS
        assert all(os.environ[name] == value for name, value in cli.BLAS_THREAD_TIMEOUT.items())
        for name in cli.BLAS_THREAD_TIMEOUT:
            monkeypatch.setenv(name, "12")
        with pytest.raises(SystemExit):
            cli.run()
        assert all(os.environ[name] == "12" for name in cli.BLAS_THREAD_TIMEOUT)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_the_command_module_loads_no_numpy_before_run_sets_its_blas_threads():
    """run()'s BLAS setting is read when numpy loads: importing the command line must not load it."""
    code = "import sys, neurodeploy.cli; print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert loaded.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def example_models(tmp_path_factory):
    sys.path.insert(0, str(ROOT / "examples"))
    from make_examples import write_examples

    return write_examples(tmp_path_factory.mktemp("examples"))


@pytest.mark.slow
@pytest.mark.lava
@pytest.mark.parametrize("profile", ["loihi2", "loihi1"])
def test_spiking_cnn_on_event_input_deploys_on_both_profiles(example_models, tmp_path, capsys, profile):
    events = (np.random.default_rng(0).random((20, 2, 2, 34, 34)) < 0.05).astype(np.uint8)
    np.save(tmp_path / "events.npy", events)
    per_core = ["--per-core"] if profile == "loihi1" else []  # Lava runs the mapped network core by core
    status, out, err = run(
        [example_models["cnn_dvs"], "--input", tmp_path / "events.npy", "--profile", profile, "--verify", *per_core, "--report-dir", tmp_path / "r"], capsys
    )
    assert status == 0, err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["verify"]["passed"] and report["chip"]["fits"]
    assert [layer["shape"] for layer in report["layers"]] == [[8, 34, 34], [12, 17, 17], [10]]
    assert report["layers"][0]["projections"][0]["connection"] == "Conv"
    assert report["layers"][0]["projections"][0]["shared_kernel"]
    assert all(layer["spikes"] > 0 for layer in report["layers"])


@pytest.mark.lava
@pytest.mark.parametrize("profile", ["loihi2", "loihi1"])
def test_recurrent_cubalif_deploys_on_both_profiles(example_models, tmp_path, capsys, profile):
    status, out, err = run(
        [example_models["rnn_cubalif"], "--profile", profile, "--verify", "--steps", "60", "--batch", "2", "--rate", "0.2", "--report-dir", tmp_path / "r"],
        capsys,
    )
    assert status == 0, err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    hidden = report["layers"][0]
    assert hidden["kind"].endswith("CubaLIF") and hidden["neurons"] == 40
    assert {p["source"] for p in hidden["projections"]} == {"input", hidden["name"]}  # recurrent
    assert report["verify"]["passed"]


def test_dry_run_maps_and_reports_without_running(example_models, tmp_path, capsys):
    status, out, err = run([example_models["cnn_dvs"], "--target", "none", "--profile", "kapoho_point", "--plots", "--report-dir", tmp_path / "r"], capsys)
    assert status == 0, err
    assert "dry run" in out and "use of those cores:" in out
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["target"] == "none" and report["totals"]["spikes"] is None and report["layers"][0]["energy_j"] is None
    assert (tmp_path / "r" / "mesh.png").read_bytes()[:4] == b"\x89PNG" and not (tmp_path / "r" / "report.png").exists()
    cores = report["cores"]
    assert len(cores) == report["chip"]["cores_used"]
    assert sum(c["used"]["neurons"] for c in cores) == report["totals"]["neurons"]
    assert sum(layer["resources"]["synapse_memory_bits"] for layer in report["layers"]) == report["chip"]["resources"]["used"]["synapse_memory_bits"]
    assert all(0 < max(c["utilisation"].values()) <= 1 for c in cores)
    for layer in report["layers"]:
        held = sum(entry["neurons"] for c in cores for entry in c["layers"] if entry["layer"] == layer["name"])
        assert held == layer["neurons"]


def test_per_core_needs_lava(net_file, tmp_path, capsys):
    assert_user_error([net_file, "--target", "cpu", "--per-core"], capsys, tmp_path, "--per-core builds the Lava network core by core")


def test_calibration_data_feeds_the_overflow_analysis(net_file, tmp_path, capsys):
    np.save(tmp_path / "calib.npy", (np.random.default_rng(1).random((12, 3, 20)) < 0.5).astype(np.uint8))
    status, out, err = run([net_file, "--target", "cpu", "--steps", "10", "--calibration-data", tmp_path / "calib.npy", "--report-dir", tmp_path / "r"], capsys)
    assert status == 0, err
    overflow = json.loads((tmp_path / "r" / "report.json").read_text())["quantisation"]["overflow"]
    assert overflow["source"].endswith("calib.npy") and overflow["samples"] == 3 and overflow["steps"] == 12
    assert set(overflow["layers"]) == {"neuron0", "neuron1"}
    assert "register use on" in out and "weight error from rounding" in out


def test_the_cpu_targets_run_is_the_overflow_analysis_on_the_runs_input(net_file, tmp_path, capsys):
    """With the run's input as calibration data, the cpu target's own run (all 70 samples) gives
    the peaks: no run of its own; another target runs one on the first 64 samples."""
    reports = {}
    for target in ("cpu", "cpu-numpy"):
        status, _, err = run([net_file, "--target", target, "--steps", "10", "--batch", "70", "--rate", "0.5", "--report-dir", tmp_path / target], capsys)
        assert status == 0, err
        reports[target] = json.loads((tmp_path / target / "report.json").read_text())
    assert sum(layer["spikes"] for layer in reports["cpu"]["layers"]) > 0
    shared, own = (reports[t]["quantisation"]["overflow"] for t in ("cpu", "cpu-numpy"))
    assert shared["samples"] == 70 and own["samples"] == 64 and shared["steps"] == own["steps"] == 10
    assert "run.overflow" not in reports["cpu"]["timing_s"] and "run.overflow" in reports["cpu-numpy"]["timing_s"]
    assert all(0 < entry["v_peak"] <= 1 for entry in shared["layers"].values())
    assert all(shared["layers"][name]["v_peak"] >= entry["v_peak"] for name, entry in own["layers"].items())


def test_torch_target_from_the_cli_reports_what_the_numba_engine_reports(net_file, tmp_path, capsys):
    reports = {}
    for target in ("cpu", "torch"):
        status, out, err = run([net_file, "--target", target, "--steps", "30", "--batch", "3", "--rate", "0.3",
                                "--report-dir", tmp_path / target], capsys)
        assert status == 0, err
        reports[target] = json.loads((tmp_path / target / "report.json").read_text())
    for a, b in zip(reports["cpu"]["layers"], reports["torch"]["layers"]):
        assert (a["spikes"], a["synops"], a["saturations"]) == (b["spikes"], b["synops"], b["saturations"])
    assert sum(layer["spikes"] for layer in reports["torch"]["layers"]) > 0


def test_device_without_the_torch_target_is_an_error(net_file, tmp_path, capsys):
    assert_user_error([net_file, "--target", "cpu", "--device", "cuda"], capsys, tmp_path, "use --target torch")
    assert_user_error([net_file, "--target", "torch", "--device", "nosuchdevice"], capsys, tmp_path, "--device nosuchdevice")


def test_verify_compares_any_two_bit_exact_targets(net_file, tmp_path, capsys):
    status, out, err = run([net_file, "--target", "torch", "--verify-against", "cpu-numpy", "--steps", "20", "--batch", "2", "--rate", "0.3",
                            "--report-dir", tmp_path / "r"], capsys)
    assert status == 0, err
    verify = json.loads((tmp_path / "r" / "report.json").read_text())["verify"]
    assert verify["passed"] and (verify["reference"], verify["candidate"]) == ("cpu-numpy", "torch")
    assert verify["values_compared"] == 3 * 20 * 2 * (15 + 4)
    assert_user_error([net_file, "--target", "float", "--verify"], capsys, tmp_path, "--verify compares two bit-exact targets")
