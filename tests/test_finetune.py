"""Quantisation-aware fine-tuning: its forward pass is the chip's fixed-point run, bit for
bit; its gradients reach every weight; the re-exported model deploys to the integers it
was trained with."""
import json

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neurodeploy import cli
from neurodeploy.backends.cpu import run_cpu
from neurodeploy.encoders import InputBatch, encoding_of, to_integer_input
from neurodeploy.frontends.nir_file import load_nir_file
from neurodeploy.ir.passes import CompileOptions, compile_network
from neurodeploy.training.finetune import FinetuneOptions, compile_model, export_finetuned, finetune, fixed_point_forward, float_paths, logits

from snn_models import RecurrentNet, SpikingCNN, TutorialNet


def make_case(name: str, rng):
    torch.manual_seed(0)
    if name == "mlp":
        model, shape = TutorialNet(n_in=12, n_hidden=16, n_out=4), (12,)
        x = (rng.random((25, 6, 12)) < 0.4).astype(np.uint8)
    elif name == "cnn":
        model, shape = SpikingCNN(), (2, 8, 8)
        model.bn1.running_mean.uniform_(-0.2, 0.2)
        model.bn1.running_var.uniform_(0.5, 2.0)
        x = (rng.random((25, 6, 2, 8, 8)) < 0.4).astype(np.uint8)
    else:  # graded input into RSynaptic (all-to-all) and a one-to-one RLeaky
        model, shape = RecurrentNet(), (12,)
        x = rng.normal(0, 1.0, (30, 6, 12)) * (rng.random((30, 6, 12)) < 0.5)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim >= 1 and parameter.shape[0] > 1:
                parameter.mul_(2.5)  # enough drive that every layer spikes
    return model, shape, x


@pytest.mark.parametrize("name", ["mlp", "cnn", "recurrent"])
def test_training_forward_is_the_fixed_point_run_and_reaches_every_weight(loihi2, name):
    rng = np.random.default_rng(1)
    model, shape, x = make_case(name, rng)
    options = FinetuneOptions(profile=loihi2)
    compiled = compile_model(model, shape, encoding_of(x), loihi2, options)
    run = fixed_point_forward(model, compiled, x, float_paths(model, shape))
    integers = to_integer_input(InputBatch(x, compiled.quantised.input_encoding, {}), compiled.quantised)
    reference = run_cpu(compiled.quantised, integers)
    for layer in compiled.quantised.layers:
        assert np.array_equal(run.spike_counts[layer.name].detach().numpy(), reference.layers[layer.name].spike_counts), layer.name
        assert run.u_wraps[layer.name] == reference.layers[layer.name].saturations["u_wrap"]
    assert sum(int(c.sum()) for c in run.spike_counts.values()) > 0
    np.testing.assert_allclose(run.output_v_sum.detach().numpy() / compiled.quantised.output_layer.state_scale, reference.output_v_sum, atol=1e-9)

    loss = F.cross_entropy(logits(run, compiled.quantised, x.shape[0]).float(), torch.zeros(x.shape[1], dtype=torch.long))
    loss.backward()
    trained = {n: p for n, p in model.named_parameters() if ("weight" in n or n.endswith("V")) and p.requires_grad and "bn" not in n}
    assert trained
    for n, parameter in trained.items():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), n
        assert parameter.grad.abs().sum() > 0, f"no gradient reaches {n}"


def digits_task(steps=12, samples=200, seed=0):
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    rates = digits.data[:samples] / 16.0
    x = (rng.random((steps, samples, 64)) < rates[None]).astype(np.uint8)
    return x, digits.target[:samples]


@pytest.mark.slow
def test_finetune_lowers_the_fixed_point_loss_and_reexports_what_it_trained(tmp_path, loihi2):
    x, y = digits_task()
    torch.manual_seed(0)
    model = TutorialNet(n_in=64, n_hidden=24, n_out=10, beta=0.9, reset="zero")
    result = finetune(model, x, y, FinetuneOptions(epochs=4, learning_rate=5e-3, batch_size=50, profile=loihi2), input_shape=(64,))
    losses = [entry["loss"] for entry in result.history]
    assert losses[-1] < losses[0], losses
    assert result.accuracy_after > result.accuracy_before

    files = export_finetuned(model, (64,))
    (tmp_path / "finetuned.nir").write_bytes(files["finetuned.nir"])
    reloaded = compile_network(load_nir_file(tmp_path / "finetuned.nir"), CompileOptions(profile=loihi2))
    in_memory = compile_model(model, (64,), encoding_of(x), loihi2, FinetuneOptions(profile=loihi2))
    for a, b in zip(reloaded.quantised.layers, in_memory.quantised.layers):
        assert np.array_equal(a.projections[0].weights, b.projections[0].weights)
        assert np.array_equal(a.neurons.vth, b.neurons.vth) and np.array_equal(a.neurons.bias_mant, b.neurons.bias_mant)
    state = torch.load(__import__("io").BytesIO(files["finetuned_state_dict.pt"]))
    fresh = TutorialNet(n_in=64, n_hidden=24, n_out=10, beta=0.9, reset="zero")
    fresh.load_state_dict(state)
    assert torch.equal(fresh.fc1.weight, model.fc1.weight)


def test_cli_finetunes_a_saved_model_on_labelled_data(tmp_path, capsys, loihi2):
    x, y = digits_task(samples=120)
    torch.manual_seed(0)
    model = TutorialNet(n_in=64, n_hidden=24, n_out=10, beta=0.9, reset="zero")
    torch.save(model, tmp_path / "net.pt")
    np.savez(tmp_path / "train.npz", inputs=x, labels=y)
    np.save(tmp_path / "test.npy", x[:, :40])
    status = cli.main([str(tmp_path / "net.pt"), "--trust-pickle", "--target", "cpu", "--finetune", "2", "--finetune-data", str(tmp_path / "train.npz"),
                       "--input", str(tmp_path / "test.npy"), "--report-dir", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert err.startswith("warning: --trust-pickle: unpickling") and err.count("\n") == 1, err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    tuning = report["quantisation"]["finetuning"]
    assert tuning["epochs"] == 2 and tuning["samples"] == 120 and len(tuning["history"]) == 2
    assert "fine-tuned 2 epoch(s)" in out
    graph = nir.read(tmp_path / "out" / "finetuned.nir")
    assert {"fc1", "lif1", "fc2", "lif2"} <= set(graph.nodes)


def test_cli_finetune_errors(tmp_path, capsys):
    path = tmp_path / "net.nir"
    from netgen import random_nir_graph

    nir.write(path, random_nir_graph(np.random.default_rng(0), [6, 4], kinds=["LIF"]))
    for argv, message in [
        ([path, "--finetune", "2"], "holds no trainable model"),
        ([path, "--finetune", "2", "--target", "none"], "--finetune trains"),
        ([path, "--finetune", "-1"], "--finetune -1: must be a whole number >= 0"),
    ]:
        status = cli.main([str(a) for a in argv] + ["--report-dir", str(tmp_path / "nothing")])
        err = capsys.readouterr().err
        assert status == 2 and message in err and err.count("\n") == 1, err
        assert not (tmp_path / "nothing").exists()
    torch.save(TutorialNet(), tmp_path / "net.pt")
    status = cli.main([str(tmp_path / "net.pt"), "--trust-pickle", "--finetune", "1", "--report-dir", str(tmp_path / "nothing")])
    assert status == 2 and "--finetune-data" in capsys.readouterr().err
    for name, inputs, labels, message in [
        ("size", np.zeros((5, 3, 10)), np.array([0, 1, 2]), "must have the model's 12 inputs"),
        ("classes", np.zeros((5, 3, 12)), np.array([0, 1, 9]), "label 9 has no output neuron: the model has 4 outputs"),
        ("graded", np.full((5, 3, 12), 0.5), np.array([0, 1, 2]), "holds graded input but the run's input is spikes"),
    ]:
        np.savez(tmp_path / f"{name}.npz", inputs=inputs, labels=labels)
        status = cli.main(
            [str(tmp_path / "net.pt"), "--trust-pickle", "--finetune", "1", "--finetune-data", str(tmp_path / f"{name}.npz"),
             "--report-dir", str(tmp_path / "nothing")]
        )
        warning, err = capsys.readouterr().err.split("\n", 1)  # the --trust-pickle warning, then the one-line error
        assert warning.startswith("warning: --trust-pickle")
        assert status == 2 and message in err and err.count("\n") == 1, err
    np.savez(tmp_path / "bad.npz", inputs=np.zeros((5, 3, 12)))
    status = cli.main([str(tmp_path / "net.pt"), "--trust-pickle", "--finetune", "1", "--finetune-data", str(tmp_path / "bad.npz"),
                       "--report-dir", str(tmp_path / "nothing")])
    assert status == 2 and "missing array(s) labels" in capsys.readouterr().err
