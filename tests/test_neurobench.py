"""The report's NeuroBench metrics equal NeuroBench's own (neurobench 2.3.0) on a 784-500-10 MLP.

NeuroBench evaluates the snnTorch model; neurodeploy deploys the same model (snnTorch
frontend) and runs it on the same input. On the float target the spikes are snnTorch's, so
``effective_acs`` and ``activation_sparsity`` must equal NeuroBench's. On the fixed-point
target, NeuroBench runs the model as deployed (its weights that quantisation set to zero set to
zero in the snnTorch model too) and the spikes are the chip's, which differ slightly from the
float ones. The report's ``synops`` also counts the zero weights a dense projection reads.
"""
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from neurodeploy.backends.cpu import run_cpu
from neurodeploy.backends.float_reference import run_float
from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph
from neurodeploy.hardware.profile import load_profile
from neurodeploy.ir.passes import CompileOptions, compile_network
from neurodeploy.reports.report import ReportSources, build_report

SAMPLES, STEPS = 4, 25


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(784, 500), snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero"),
        nn.Linear(500, 10), snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero", output=True),
    )
    with torch.no_grad():
        for linear in (model[0], model[2]):
            linear.weight.mul_(4.0)  # enough drive for the hidden layer to spike at 10 % input
    return model.eval()


def neurobench(model: nn.Module, x: torch.Tensor) -> dict:
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import SNNTorchModel

    loader = DataLoader(TensorDataset(x, torch.zeros(x.shape[0], dtype=torch.long)), batch_size=2)
    return Benchmark(SNNTorchModel(model), loader, [], [], [[], [SynapticOperations, ActivationSparsity]]).run(quiet=True)


@pytest.fixture(scope="module")
def setup():
    model = mlp()
    x = (torch.rand((SAMPLES, STEPS, 784), generator=torch.Generator().manual_seed(1)) < 0.1).float()  # NeuroBench: (batch, steps, ...)
    compiled = compile_network(snntorch_to_float_graph(model), CompileOptions(profile=load_profile("loihi1")))
    return model, x, compiled, x.numpy().transpose(1, 0, 2)


def report_of(compiled, target, result):
    report = build_report(ReportSources(compiled, target=target, results={target: result}, input={"description": "test"}))
    assert all(layer.spikes > 0 for layer in report.layers)  # an active network: a silent one agrees with anything
    return report


def test_float_target_equals_neurobench(setup):
    model, x, compiled, inputs = setup
    report = report_of(compiled, "float", run_float(compiled.normalised, inputs))
    theirs = neurobench(model, x)
    assert report.totals["effective_acs"] == pytest.approx(theirs["SynapticOperations"]["Effective_ACs"], rel=1e-3)
    assert report.totals["effective_macs"] == theirs["SynapticOperations"]["Effective_MACs"] == 0  # binary input
    assert report.totals["activation_sparsity"] == pytest.approx(theirs["ActivationSparsity"], abs=1e-3)


def test_fixed_point_synaptic_operations_equal_neurobench_on_the_deployed_weights(setup):
    model, x, compiled, inputs = setup
    result = run_cpu(compiled.quantised, inputs.astype(np.int32))
    report = report_of(compiled, "cpu", result)
    deployed = mlp()
    with torch.no_grad():
        for linear, layer in zip((deployed[0], deployed[2]), compiled.quantised.layers):
            linear.weight.mul_(torch.as_tensor(layer.projections[0].weights != 0, dtype=torch.float32))
    zeros = sum(int((layer.projections[0].weights == 0).sum()) for layer in compiled.quantised.layers)
    assert zeros > 0  # quantisation set some weights to zero, which NeuroBench does not count
    theirs = neurobench(deployed, x)
    assert report.totals["effective_acs"] == pytest.approx(theirs["SynapticOperations"]["Effective_ACs"], rel=1e-3)
    # synops: every stored synapse read, zero weights included, over all samples
    read_zeros = sum(
        int(np.asarray(result.input_events if p.source == "input" else result.layers[p.source].spike_counts.sum(axis=0)) @ (p.weights == 0).sum(axis=0))
        for layer in compiled.quantised.layers for p in layer.projections
    )
    assert report.totals["synops"] == round(report.totals["effective_acs"] * SAMPLES) + read_zeros
