"""Write the example networks used in the docs and tests as NIR files.

    python examples/make_examples.py [OUTDIR]     # default: examples/

cnn_dvs.nir     a spiking CNN for 2x34x34 event input (two polarities, as N-MNIST):
                conv 2->8 (3x3) -> LIF -> avg pool 2x2 -> conv 8->12 (3x3) -> LIF ->
                avg pool 2x2 -> flatten -> dense 12*8*8 -> 10 -> LIF (every synapse layer
                has at most 4096 inputs, the input axons of a core)
rnn_cubalif.nir a recurrent network: 12 inputs -> 40 CubaLIF neurons with all-to-all
                recurrence -> 7 LIF outputs

Both come from snnTorch models (seeded random weights, scaled so every layer spikes on
sparse random input) converted by neurodeploy's snnTorch frontend, which is what a user's
trained model goes through too.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nir
import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's neurodeploy, installed or not

from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph  # noqa: E402


def ATAN(x):
    """snnTorch's ATan surrogate (alpha 2) as a module-level function: pickle can save it, unlike
    ``surrogate.atan()``'s closure; alpha is passed positionally (torch 2.11's Function.apply
    takes no keyword arguments)."""
    return surrogate.ATan.apply(x, 2.0)


def spiking_cnn() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 8, 3, padding=1),
        snn.Leaky(beta=0.9, init_hidden=True, spike_grad=ATAN),
        nn.AvgPool2d(2),
        nn.Conv2d(8, 12, 3, padding=1),
        snn.Leaky(beta=0.9, init_hidden=True, spike_grad=ATAN),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(12 * 8 * 8, 10),
        snn.Leaky(beta=0.9, init_hidden=True, output=True, spike_grad=ATAN),
    )
    with torch.no_grad():
        model[0].weight.mul_(6.0)
        model[3].weight.mul_(8.0)
        model[7].weight.mul_(12.0)
    return model.eval()


def recurrent_cubalif() -> nn.Module:
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Linear(12, 40),
        snn.RSynaptic(alpha=0.7, beta=0.9, linear_features=40, init_hidden=True, spike_grad=ATAN),
        nn.Linear(40, 7),
        snn.Leaky(beta=0.9, init_hidden=True, output=True, spike_grad=ATAN),
    )
    with torch.no_grad():
        model[0].weight.mul_(2.0)
        model[1].recurrent.weight.mul_(0.5)
        model[2].weight.mul_(4.0)
    return model.eval()


def write_examples(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, model, shape in (("cnn_dvs", spiking_cnn(), (2, 34, 34)), ("rnn_cubalif", recurrent_cubalif(), (12,))):
        graph = snntorch_to_float_graph(model, input_shape=shape).graph
        paths[name] = directory / f"{name}.nir"
        nir.write(paths[name], graph)
    return paths


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for path in write_examples(out).values():
        print(f"wrote {path}")
