"""snnTorch models as users save them: a state_dict and its class (--model-class, --model-args),
read with weights_only=True; and the one-line errors that say what to do instead, an unpicklable
module (snnTorch's default surrogate) included."""
import json
import textwrap

import numpy as np
import pytest
import torch

import neurodeploy
from neurodeploy import cli
from neurodeploy.errors import UserError
from neurodeploy.frontends.model_class import import_model_class, load_state_dict_model

NET = '''\
import snntorch as snn
from torch import nn


class Net(nn.Module):
    """snnTorch's defaults: Leaky neurons with the ATan surrogate closure, which pickle cannot store."""

    def __init__(self, hidden=8, beta=0.9):
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.lif1 = snn.Leaky(beta=beta, init_hidden=True)
        self.fc2 = nn.Linear(hidden, 10)
        self.lif2 = snn.Leaky(beta=beta, init_hidden=True, output=True)

    def forward(self, x):
        return self.lif2(self.fc2(self.lif1(self.fc1(x))))


NOT_A_MODULE = 3
'''


def one_line(exc) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(folder, the module file, the state_dict file, the module) with hidden=12."""
    folder = tmp_path_factory.mktemp("user")
    (folder / "usernet.py").write_text(textwrap.dedent(NET))
    cls = import_model_class(f"{folder / 'usernet.py'}:Net")
    torch.manual_seed(0)
    model = cls(hidden=12)
    with torch.no_grad():
        model.fc1.weight.mul_(4.0)
        model.fc2.weight.mul_(4.0)
    command = neurodeploy.save_model(model, folder / "weights.pt")
    assert command.startswith(f"{folder / 'weights.pt'} --model-class ")
    return folder, folder / "usernet.py", folder / "weights.pt", model


def test_unpicklable_module_says_what_to_do(saved, tmp_path):
    _, _, _, model = saved
    with pytest.raises(UserError) as exc:
        neurodeploy.save_model(model, tmp_path / "whole.pt", whole=True)
    message = one_line(exc)
    assert "cannot be pickled" in message and "state_dict" in message and "--model-class" in message and "neurodeploy.deploy()" in message
    assert not (tmp_path / "whole.pt").exists()


def test_a_picklable_module_is_saved_whole_and_loads_only_with_trust_pickle(tmp_path, capsys):
    """A surrogate that pickle can store (a partial of snnTorch's ATan, not its default closure):
    the whole module is saved, and deploy.py unpickles it only with --trust-pickle."""
    import functools

    import snntorch as snn
    from snntorch import surrogate
    from torch import nn

    torch.manual_seed(0)
    grad = functools.partial(surrogate.ATan.apply, alpha=2.0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), snn.Leaky(beta=0.9, init_hidden=True, output=True, spike_grad=grad))
    command = neurodeploy.save_model(model, tmp_path / "whole.pt", whole=True)
    assert command == f"{tmp_path / 'whole.pt'} --trust-pickle"
    argv = [str(tmp_path / "whole.pt"), "--data", "digits", "--encode", "rate:steps=5", "--batch", "4", "--target", "cpu"]
    assert cli.main([*argv, "--report-dir", str(tmp_path / "no")]) == 2
    assert "pass --trust-pickle only if you trust this file" in capsys.readouterr().err and not (tmp_path / "no").exists()
    assert cli.main([*argv, "--trust-pickle", "--report-dir", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [layer["neurons"] for layer in report["layers"]] == [10] and report["classification"]["samples"] == 4


def test_state_dict_and_class_deploy_as_the_module_does(saved, tmp_path, capsys):
    folder, source, weights, model = saved
    argv = [str(weights), "--model-class", f"{source}:Net", "--model-args", '{"hidden": 12}', "--data", "digits", "--encode",
            "rate:steps=10", "--batch", "20", "--target", "cpu", "--record", "--report-dir", str(tmp_path / "r")]
    assert cli.main(argv) == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [layer["neurons"] for layer in report["layers"]] == [12, 10] and report["totals"]["spikes"] > 0
    in_memory = neurodeploy.deploy(model, data="digits", encode="rate:steps=10", batch=20, target="cpu")
    spikes = np.load(tmp_path / "r" / "spikes.npz")
    for name, raster in in_memory.spikes.items():
        np.testing.assert_array_equal(spikes[name], raster)


def test_dotted_module_from_the_working_directory_and_checkpoints(saved, monkeypatch, tmp_path):
    folder, _, weights, model = saved
    monkeypatch.chdir(folder)
    torch.save({"epoch": 3, "model_state_dict": model.state_dict()}, tmp_path / "checkpoint.pt")
    loaded = load_state_dict_model(tmp_path / "checkpoint.pt", "usernet:Net", '{"hidden": 12}')
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    assert not loaded.training


@pytest.mark.parametrize("argv_tail, message", [
    (["--model-class", "{source}:Net"], "fc1.weight has shape [12, 64] but"),
    (["--model-class", "{source}:Net", "--model-args", "{{hidden: 12}}"], "not JSON"),
    (["--model-class", "{source}:Net", "--model-args", '{{"width": 12}}'], "TypeError"),
    (["--model-class", "{source}:Nett"], "has no attribute 'Nett'"),
    (["--model-class", "{source}:NOT_A_MODULE"], "is not a torch.nn.Module class"),
    (["--model-class", "no_such_module_here:Net"], "cannot import no_such_module_here"),
    (["--model-class", "Net"], "give the class as pkg.module:Net"),
    ([], "holds a state_dict (parameters only): give the model's class with --model-class"),
    (["--model-args", '{{"hidden": 12}}'], "--model-args are the constructor arguments of --model-class"),
])
def test_bad_model_class_options_are_one_line_errors(saved, tmp_path, capsys, argv_tail, message):
    _, source, weights, _ = saved
    argv = [str(weights), *[a.format(source=source) for a in argv_tail], "--target", "cpu", "--report-dir", str(tmp_path / "no")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "no").exists()


def test_weights_are_read_without_running_code(saved, tmp_path):
    _, source, _, _ = saved
    torch.save({"fc1.weight": np.float64(1.0).__class__}, tmp_path / "code.pt")  # a pickled class, not a tensor
    with pytest.raises(UserError) as exc:
        load_state_dict_model(tmp_path / "code.pt", f"{source}:Net")
    assert "weights_only=True" in one_line(exc)
