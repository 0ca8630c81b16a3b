"""Workload (c): a convolutional network in the style of SpykeTorch's (Kheradpisheh et al. 2018,
Mozafari et al. 2018) deployed with given weights: a Difference-of-Gaussians filter bank with
intensity-to-latency coding (``dog:preset=kheradpisheh2018``: on/off-centre 7x7 DoG, threshold 50,
local normalisation, 15 time steps, one spike per input), then conv + IF, max pooling, conv + IF,
max pooling, and a dense layer of 10 IF neurons read out winner-take-all by the first spike
(``--decision first-spike``).

The weights are learned offline on the host by backpropagation through time with snnTorch's
surrogate gradient (cross-entropy of the output spike counts), not by STDP: learning on the chip
is a separate matter. IF neurons are snnTorch Leaky neurons with beta = 1 (no leak) and reset to
zero; no biases, as in SpykeTorch.

    python examples/spyketorch_dog.py

Measured results: docs/workloads.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import snntorch as snn
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload_tools as tools  # noqa: E402

from neurodeploy.data import load_data  # noqa: E402

ENCODE = "dog:preset=kheradpisheh2018"  # pixels 0..255 (digits28:max=255), 15 steps
INPUT_STEPS = 15
DELAY_STEPS = 5  # five layers (conv, pool, conv, pool, dense), one synaptic delay each on the chip


def integrate_and_fire(output: bool = False) -> snn.Leaky:
    return snn.Leaky(beta=1.0, threshold=1.0, reset_mechanism="zero", init_hidden=True, output=output)


INIT_GAIN = 2.0  # PyTorch's default initialisation times this: a DoG-coded input spikes once, and IF neurons must reach threshold 1


def spyketorch_net(channels: tuple[int, int] = (8, 16)) -> nn.Module:
    """2x28x28 DoG spikes -> conv 5x5 + IF -> max pool 2 -> conv 5x5 + IF -> max pool 2 -> dense 10 IF."""
    import torch

    c1, c2 = channels
    model = nn.Sequential(
        nn.Conv2d(2, c1, 5, bias=False), integrate_and_fire(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 5, bias=False), integrate_and_fire(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * 16, 10, bias=False), integrate_and_fire(output=True),
    )
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                layer.weight.mul_(INIT_GAIN)
    return model


def run(channels: tuple[int, int] = (8, 16), epochs: int = 6, train_samples: int | None = None, test_samples: int | None = None,
        lava: bool = True, seed: int = 0, lr: float = 5e-3, batch_size: int = 64, log: bool = True):
    """Train offline, deploy with those weights; (the Deployment, the trained module)."""
    train = load_data("digits28:split=train,max=255")
    test = load_data("digits28:split=test,max=255")
    x_train, y_train = train.x[:train_samples], train.y[:train_samples]
    x_test, y_test = test.x[:test_samples], test.y[:test_samples]
    torch.manual_seed(seed)  # the initial weights, so that a run is repeatable
    model = spyketorch_net(channels)
    if log:
        print(f"training conv {channels} on {len(x_train)} DoG-coded digits, {epochs} epochs (surrogate gradients)", flush=True)
    spikes = tools.encode_all(ENCODE, x_train)  # DoG + intensity-to-latency is deterministic: once, not every epoch
    tools.train(model, spikes, y_train, None, epochs=epochs, lr=lr, seed=seed, batch_size=batch_size, pad_steps=DELAY_STEPS, log=log)
    deployment = tools.deploy_and_compare(model, x_test, y_test, ENCODE, steps=INPUT_STEPS + DELAY_STEPS, decision="first-spike", lava=lava)
    return deployment, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("workloads"))
    parser.add_argument("--test-samples", type=int, help="deploy on the first N test samples (default: all)")
    parser.add_argument("--no-lava", action="store_true", help="the CPU backend only (no Lava)")
    args = parser.parse_args()
    deployment, _ = run(epochs=args.epochs, test_samples=args.test_samples, lava=not args.no_lava)
    deployment.save(args.out / "spyketorch_dog")
    print(tools.summary("SpykeTorch-style DoG conv net, first-spike readout", deployment))


if __name__ == "__main__":
    main()
