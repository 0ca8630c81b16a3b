"""The walkthrough of docs/walkthrough.md as one script: snnTorch's tutorial network (tutorial 5:
784-1000-10 Leaky neurons, explicit membrane states, a loop over 25 steps, rate-coded input) trained
on 28x28 digits, then deployed on Lava's simulator with neurodeploy's Python API: accuracy against
the float model, energy, the compiled network saved and run again.

    python examples/walkthrough.py [--epochs 2]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import snntorch as snn
import torch
from snntorch import spikegen
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's neurodeploy, installed or not

import neurodeploy  # noqa: E402
from neurodeploy.data import load_data  # noqa: E402

NUM_STEPS = 25
LAVA_SAMPLES = 100  # the test samples run on Lava's simulator (the compiled network then runs all of them on the CPU backend)


class Net(nn.Module):
    """snnTorch tutorial 5's network."""

    def __init__(self, num_inputs=784, num_hidden=1000, num_outputs=10, beta=0.95):
        super().__init__()
        self.fc1 = nn.Linear(num_inputs, num_hidden)
        self.lif1 = snn.Leaky(beta=beta)
        self.fc2 = nn.Linear(num_hidden, num_outputs)
        self.lif2 = snn.Leaky(beta=beta)

    def forward(self, x):  # x: (steps, batch, 784)
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()
        spk2_rec = []
        for step in range(x.shape[0]):
            cur1 = self.fc1(x[step])
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            spk2_rec.append(spk2)
        return torch.stack(spk2_rec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("walkthrough"))
    args = parser.parse_args()

    # 1. data: scikit-learn's digits at MNIST's size, as neurodeploy ships them offline
    train = load_data("digits28:split=train")
    test = load_data("digits28:split=test")
    print("train", train.x.shape, "test", test.x.shape)

    # 2. train as the tutorial does: rate-coded with spikegen.rate, cross-entropy of the spike counts
    torch.manual_seed(0)
    net = Net()
    optimiser = torch.optim.Adam(net.parameters(), lr=5e-4, betas=(0.9, 0.999))
    loss_fn = nn.CrossEntropyLoss()
    x_train = torch.as_tensor(train.x).flatten(1)
    y_train = torch.as_tensor(train.y)
    for epoch in range(args.epochs):
        start = time.perf_counter()
        for first in range(0, len(x_train), 128):
            data, targets = x_train[first:first + 128], y_train[first:first + 128]
            spikes = spikegen.rate(data, num_steps=NUM_STEPS)
            loss = loss_fn(net(spikes).sum(0), targets)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f} ({time.perf_counter() - start:.0f} s)")

    # 3. deploy on Lava's simulator; the CPU backend verified against it; the float model as reference
    x_lava, y_lava = test.x[:LAVA_SAMPLES], test.y[:LAVA_SAMPLES]  # Lava simulates each process in its own OS process: slow
    dep = neurodeploy.deploy(net, data=x_lava, labels=y_lava, encode=f"rate:steps={NUM_STEPS}", steps=NUM_STEPS + 2,
                             target="loihi-sim", verify_against="cpu")
    print({name: round(value, 4) for name, value in dep.accuracy.items()})
    report = dep.report
    print(report["totals"]["energy_per_sample_j"], report["latency"]["time_per_sample_s"], report["chip"]["cores_used"])
    print(report["classification"]["rule"])
    print(dep)
    dep.save(args.out / "report")

    # 4. compile once, save, and run the saved network again on the CPU backend
    compiled = neurodeploy.compile(net, data=test.x, encode=f"rate:steps={NUM_STEPS}")
    path = compiled.save(args.out / "tutorial_net.ndz")
    again = neurodeploy.load(path).run(data=test.x, labels=test.y, steps=NUM_STEPS + 2, target="cpu")
    print(compiled, {name: round(value, 4) for name, value in again.accuracy.items()})

    # 5. the weights alone, for the command line (the default surrogate cannot be pickled)
    print(neurodeploy.save_model(net, args.out / "tutorial_net.pt"))


if __name__ == "__main__":
    main()
