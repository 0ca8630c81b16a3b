"""deploy.py on the user's data: --data with --encode (the report states the encoder, its parameters
and the data, gives float and target accuracy with a confusion matrix), event folders, encoded
layouts, the decision rule, and one-line errors for ambiguous or mismatched shapes."""
import json
import sys
from pathlib import Path

import nir
import numpy as np
import pytest
from cli_checks import assert_user_error, run

from neurodeploy import cli
from neurodeploy.data.event_files import write_nmnist

from netgen import random_nir_graph

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def net64(tmp_path_factory):
    """A random 64-30-10 LIF network: the shape of the digits' 8x8 images."""
    path = tmp_path_factory.mktemp("net") / "net64.nir"
    nir.write(path, random_nir_graph(np.random.default_rng(3), [64, 30, 10], kinds=["LIF", "LIF"]))
    return path


def test_data_and_encoder_give_accuracy_a_confusion_matrix_and_say_how(net64, tmp_path, capsys):
    status, out, err = run([net64, "--data", "digits", "--encode", "latency:steps=16,tau=4,normalize=true", "--batch", "60",
                            "--decision", "first-spike", "--target", "cpu", "--plots", "--report-dir", tmp_path / "r"], capsys)
    assert status == 0, err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    section = report["input"]
    assert section["source"] == "data" and section["encoder"] == "latency" and section["spec"] == "latency:steps=16,tau=4,normalize=true"
    assert section["parameters"]["threshold"] == 0.01 and section["reference"] == "snntorch.spikegen.latency"
    assert section["data"] == {"source": "digits", "samples": 60, "layout": "samples", "labelled": True, "sample_shape": [8, 8],
                               "classes": 10, "split": "test", "values": section["data"]["values"]}
    assert report["totals"]["spikes"] > 0  # the network is active
    c = report["classification"]
    assert c["decision"] == "first-spike" and set(c["targets"]) == {"float", "cpu"} and c["samples"] == 60
    assert np.asarray(c["targets"]["cpu"]["confusion"]).sum() == 60 and report["accuracy"]["cpu"] == c["targets"]["cpu"]["accuracy"]
    assert (tmp_path / "r" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert "class by first-spike" in out and "latency:steps=16,tau=4,normalize=true" in out


def test_float_target_reports_no_fixed_point_notes(net64, tmp_path, capsys):
    status, out, err = run([net64, "--data", "digits", "--encode", "current:steps=8", "--batch", "10", "--decision", "max-membrane",
                            "--target", "float", "--report-dir", tmp_path / "r"], capsys)
    assert status == 0, err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["input"]["encoding"] == "graded" and report["classification"]["decision"] == "max-membrane"
    assert not any("saturation counts need" in note or "differ from the float model" in note for note in report["notes"])
    assert any(note.startswith("--target float runs the float model itself") for note in report["notes"])


def test_encoded_data_with_labels_and_its_layouts(net64, tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = (rng.random((9, 5, 64)) < 0.3).astype(np.uint8)  # (steps, samples, n)
    np.savez(tmp_path / "enc.npz", x=x, y=np.arange(5))
    status, _, err = run([net64, "--data", tmp_path / "enc.npz", "--layout", "steps-first", "--target", "cpu", "--report-dir", tmp_path / "a"], capsys)
    assert status == 0, err
    first = json.loads((tmp_path / "a" / "report.json").read_text())
    np.savez(tmp_path / "enc2.npz", x=np.swapaxes(x, 0, 1), y=np.arange(5))
    status, _, err = run([net64, "--data", tmp_path / "enc2.npz", "--layout", "samples-first", "--target", "cpu", "--report-dir", tmp_path / "b"], capsys)
    assert status == 0, err
    second = json.loads((tmp_path / "b" / "report.json").read_text())
    assert first["totals"]["steps"] == 9 and first["input"]["batch"] == 5 and first["layers"] == second["layers"]
    assert first["accuracy"] == second["accuracy"]
    assert_user_error([net64, "--data", tmp_path / "enc.npz", "--layout", "steps-first", "--encode", "rate:steps=4"], capsys, tmp_path,
                      "is encoded already; drop --encode")
    assert_user_error([net64, "--data", tmp_path / "enc.npz"], capsys, tmp_path, "holds raw samples of shape [9, 5, 64]: choose an encoder")


def test_ambiguous_and_mismatched_shapes_are_one_line_errors(net64, tmp_path, capsys):
    np.save(tmp_path / "images.npy", np.random.default_rng(0).random((100, 64)))
    assert_user_error([net64, "--input", tmp_path / "images.npy"], capsys, tmp_path,
                      "shape [100, 64] is ambiguous for the model input [64]: one sample of 100 steps, or 100 samples of raw values?")
    assert_user_error([net64, "--data", "digits28", "--encode", "rate:steps=5"], capsys, tmp_path,
                      "samples encoded by --encode rate:steps=5 have shape [28, 28], which does not fit the model input [64]")
    assert_user_error([net64, "--data", "digits", "--encode", "random:rate=0.2"], capsys, tmp_path, "--encode random does not encode data")
    assert_user_error([net64, "--encode", "latency:steps=5"], capsys, tmp_path, "--encode latency encodes data: give --data")
    assert_user_error([net64, "--labels", tmp_path / "images.npy"], capsys, tmp_path, "give --data too")
    assert_user_error([net64, "--data", "digits", "--encode", "rate:steps=5", "--input", tmp_path / "images.npy"], capsys, tmp_path,
                      "give one of them")
    assert_user_error([net64, "--data", "digits", "--encode", "latency:steps=3"], capsys, tmp_path,
                      "latency: the latest spike falls on step")
    assert_user_error([net64, "--data", "digits", "--encode", "rate:steps=5,gain=fast"], capsys, tmp_path,
                      "--encode rate: gain=fast is not allowed: gain must be a number")


@pytest.fixture(scope="module")
def cnn_dvs(tmp_path_factory):
    sys.path.insert(0, str(ROOT / "examples"))
    from make_examples import write_examples

    return write_examples(tmp_path_factory.mktemp("examples"))["cnn_dvs"]


def test_a_folder_of_event_files_deploys_with_its_classes(cnn_dvs, tmp_path, capsys):
    rng = np.random.default_rng(1)
    dtype = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])
    for label in ("0", "1"):
        (tmp_path / "rec" / label).mkdir(parents=True)
        for i in range(2):
            events = np.zeros(400, dtype)
            events["x"], events["y"] = rng.integers(0, 34, 400), rng.integers(0, 34, 400)
            events["t"], events["p"] = np.sort(rng.integers(0, 100_000, 400)), rng.integers(0, 2, 400)
            write_nmnist(tmp_path / "rec" / label / f"{i}.bin", events)
    status, out, err = run([cnn_dvs, "--data", tmp_path / "rec", "--encode", "events:sensor_size=34/34/2,n_time_bins=6", "--steps", "9",
                            "--target", "cpu", "--report-dir", tmp_path / "r"], capsys)
    assert status == 0, err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["input"]["shape"] == [2, 34, 34] and report["input"]["steps"] == 9 and report["input"]["data"]["kind"] == "events"
    assert report["input"]["data"]["files"] == 4 and report["classification"]["samples"] == 4
    assert report["layers"][0]["spikes"] > 0
    assert_user_error([cnn_dvs, "--data", tmp_path / "rec", "--encode", "rate:steps=5"], capsys, tmp_path, "holds event streams: encode them")


def test_help_shows_the_data_options_with_examples():
    text = cli.build_parser("deploy.py").format_help()
    for option in ("--data", "--labels", "--layout", "--encode", "--decision", "--model-class", "--model-args", "--save-compiled"):
        assert option in text, option
    for example in ("--data digits28 --encode rate:steps=25", "--encode dog:preset=kheradpisheh2018 --decision first-spike",
                    "--encode events:sensor_size=34/34/2,n_time_bins=10", "--model-class mynet:Net", "net.ndz --data digits",
                    "latency:", "first-spike", "max-membrane", "digits28", "mnist1d"):
        assert example in text, example
