"""The Python API (neurodeploy.deploy / compile / load) and the saved compiled network: a module in
memory deploys as the command line deploys a file; a compiled network saved to one file loads back
and runs with identical results, without pickle, and refuses files it cannot trust."""
import json
import zipfile

import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

import neurodeploy
from neurodeploy import cli
from neurodeploy.data import load_data
from neurodeploy.errors import UserError
from neurodeploy.frontends.compiled_file import MANIFEST

ENCODE = "rate:steps=12"


def one_line(exc) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.fixture(scope="module")
def net():
    """64-24-10 snnTorch MLP with the default (unpicklable) surrogate, weights scaled so that it spikes."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 24), snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(24, 10), snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )
    with torch.no_grad():
        for layer in (model[0], model[2]):
            layer.weight.mul_(4.0)
    return model


@pytest.fixture(scope="module")
def digits():
    data = load_data("digits")
    return data.x[:40], data.y[:40]


@pytest.fixture(scope="module")
def deployed(net, digits):
    x, y = digits
    return neurodeploy.deploy(net, data=x, labels=y, encode=ENCODE, target="cpu")


def test_deploy_a_module_in_memory(deployed, tmp_path):
    report = deployed.report
    assert report["target"] == "cpu" and report["model"]["source"] == "Sequential (in memory)"
    assert json.loads(json.dumps(report)) == report
    assert report["input"]["encoder"] == "rate" and report["input"]["parameters"]["steps"] == 12 and report["input"]["data"]["samples"] == 40
    spikes = deployed.spikes
    assert spikes["leaky3"].shape == (12, 40, 10) and spikes["leaky1"].any() and spikes["leaky3"].any()  # the network is active
    assert set(deployed.accuracy) == {"float", "cpu"} and deployed.report["classification"]["samples"] == 40
    for kind in ("report", "confusion", "mesh"):
        figure = deployed.plot(kind)
        assert figure.axes and figure.get_suptitle()
    with pytest.raises(UserError, match="choose one of report, confusion, mesh"):
        deployed.plot("energy")
    written = {path.name for path in deployed.save(tmp_path / "out")}
    assert written == {"report.json", "report.png", "mesh.png", "confusion.png", "spikes.npz"}
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == report
    assert "accuracy: float" in str(deployed) and "cpu" in repr(deployed)


def test_compiled_network_saves_to_one_file_and_runs_anywhere_without_compiling(net, digits, deployed, tmp_path, capsys):
    x, y = digits
    compiled = neurodeploy.compile(net, data=x, encode=ENCODE)
    path = compiled.save(tmp_path / "net")
    assert path.name == "net.ndz" and compiled.encode == ENCODE
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert f"{MANIFEST}.npy" in names and all(name.endswith(".npy") for name in names)
    with np.load(path, allow_pickle=False) as archive:  # nothing in it needs pickle
        assert all(archive[name].dtype != object for name in archive.files)
    loaded = neurodeploy.load(path)
    assert loaded.encode == ENCODE and loaded.profile.name == "loihi2"
    again = loaded.run(data=x, labels=y, target="cpu")  # raw data: encoded as it was compiled for
    assert again.report["input"]["spec"] == deployed.report["input"]["spec"]
    assert again.report["timing_s"].keys().isdisjoint({"pass.normalise", "pass.quantise", "pass.map_cores"})  # not compiled again
    for name, raster in deployed.spikes.items():
        np.testing.assert_array_equal(again.spikes[name], raster)
    assert again.accuracy == deployed.accuracy
    assert again.report["layers"] == deployed.report["layers"]
    float_run = loaded.run(data=x, labels=y, target="float")
    assert float_run.accuracy["float"] == deployed.accuracy["float"]
    np.savez(tmp_path / "test.npz", x=x, y=y)
    status = cli.main([str(path), "--data", str(tmp_path / "test.npz"), "--target", "cpu", "--report-dir", str(tmp_path / "r")])
    assert status == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["accuracy"] == deployed.accuracy and report["totals"]["spikes"] == deployed.report["totals"]["spikes"]


def test_a_saved_network_runs_as_compiled_or_not_at_all(net, digits, tmp_path):
    x, _ = digits
    path = neurodeploy.compile(net, data=x, encode=ENCODE).save(tmp_path / "net.ndz")
    for options, message in [
        ({"profile": "loihi1"}, "compiled for profile loihi2"),
        ({"weight_scaling": "layer"}, "--weight-scaling would compile it again"),
        ({"finetune_epochs": 1}, "--finetune would compile it again"),
    ]:
        with pytest.raises(UserError) as exc:
            neurodeploy.deploy(str(path), data=x, target="cpu", **options)
        assert message in one_line(exc)
    with pytest.raises(UserError) as exc:
        neurodeploy.deploy(str(path), data=x, encode="current:steps=12", target="cpu")
    assert "compiled for spikes input" in one_line(exc) and "--encode rate:steps=12" in one_line(exc)
    with pytest.raises(TypeError, match="unknown option"):
        neurodeploy.deploy(str(path), data=x, speed=3)


def rewrite_manifest(path, change) -> None:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    manifest = json.loads(arrays[MANIFEST].tobytes())
    change(manifest)
    arrays[MANIFEST] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    with open(path, "wb") as file:  # np.savez would add .npz to the name
        np.savez(file, **arrays)


def test_wrong_versions_and_foreign_types_are_refused_on_one_line(net, digits, tmp_path):
    x, _ = digits
    path = neurodeploy.compile(net, data=x, encode=ENCODE).save(tmp_path / "net.ndz")
    old = tmp_path / "old.ndz"
    old.write_bytes(path.read_bytes())
    rewrite_manifest(old, lambda m: m.update(version=99))
    with pytest.raises(UserError) as exc:
        neurodeploy.load(old)
    assert "format version 99" in one_line(exc) and "reads version 1" in one_line(exc) and "compile it again" in one_line(exc)

    def smuggle(manifest):
        manifest["stages"]["state"]["timing_s"] = {"$object": "os:system", "id": 10**6, "state": {}}

    hostile = tmp_path / "hostile.ndz"
    hostile.write_bytes(path.read_bytes())
    rewrite_manifest(hostile, smuggle)
    with pytest.raises(UserError) as exc:
        neurodeploy.load(hostile)
    assert "'os:system'" in one_line(exc) and "only neurodeploy's and nir's own types" in one_line(exc)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(UserError) as exc:
        neurodeploy.load(tmp_path / "other.npz")
    assert "not a compiled network saved by neurodeploy" in one_line(exc)
