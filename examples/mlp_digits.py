"""Workloads (a) and (b): an snnTorch BPTT MLP 784-1000-10 on 28x28 digits (scikit-learn's 8x8
digits upscaled, ``--data digits28``), rate-coded (a) or latency-coded (b), trained with snnTorch's
default surrogate gradient, then deployed on Lava's simulator and the CPU backend against the
float model.

    python examples/mlp_digits.py --coding rate       # (a)
    python examples/mlp_digits.py --coding latency    # (b)

The trained weights are saved as a state_dict (snnTorch's default surrogate cannot be pickled)
and the script prints the deploy.py command that deploys them with ``--model-class``.
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

import neurodeploy  # noqa: E402
from neurodeploy.data import load_data  # noqa: E402

CODINGS = {
    # spike probability = pixel value in [0, 1] at each of 25 steps (snnTorch spikegen.rate)
    "rate": "rate:steps=25",
    # one spike per pixel, brighter earlier: snnTorch spikegen.latency's RC code over 25 steps (tau 5, normalised)
    "latency": "latency:steps=25,tau=5,normalize=true,clip=true",
}
BETA = 0.9
DELAY_STEPS = 2  # the chip answers one step later per layer: the input is followed by this many zero steps


class MLP(nn.Module):
    """784 -> hidden -> 10, snnTorch Leaky neurons (beta 0.9, default subtractive reset and ATan surrogate)."""

    def __init__(self, hidden: int = 1000, beta: float = BETA):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, hidden),
            snn.Leaky(beta=beta, init_hidden=True),
            nn.Linear(hidden, 10),
            snn.Leaky(beta=beta, init_hidden=True, output=True),
        )

    def forward(self, x):
        return self.net(x)


def run(coding: str = "rate", hidden: int = 1000, epochs: int = 8, train_samples: int | None = None, test_samples: int | None = None,
        lava: bool = True, seed: int = 0, lr: float = 2e-3, batch_size: int = 64, out: Path | None = None, log: bool = True):
    """Train, deploy, return (the Deployment, the trained module)."""
    spec = CODINGS[coding]
    train = load_data("digits28:split=train")
    test = load_data("digits28:split=test")
    x_train, y_train = train.x[:train_samples], train.y[:train_samples]
    x_test, y_test = test.x[:test_samples], test.y[:test_samples]
    torch.manual_seed(seed)  # the initial weights, so that a run is repeatable
    model = MLP(hidden)
    if log:
        print(f"training MLP 784-{hidden}-10 on {len(x_train)} digits, {spec}, {epochs} epochs", flush=True)
    tools.train(model, x_train, y_train, tools.encoder(spec), epochs=epochs, lr=lr, seed=seed,
                batch_size=batch_size, pad_steps=DELAY_STEPS, log=log)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        command = neurodeploy.save_model(model, out / f"mlp_{coding}.pt")
        if log:
            print(f"saved; deploy it with: python deploy.py {command} --model-args '{{\"hidden\": {hidden}}}' "
                  f"--data digits28 --encode {spec} --steps {25 + DELAY_STEPS}")
    deployment = tools.deploy_and_compare(model, x_test, y_test, spec, steps=25 + DELAY_STEPS, lava=lava)
    return deployment, model



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--coding", choices=tuple(CODINGS), default="rate")
    parser.add_argument("--hidden", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("workloads"), help="where the weights and the report go")
    parser.add_argument("--test-samples", type=int, help="deploy on the first N test samples (default: all)")
    parser.add_argument("--no-lava", action="store_true", help="the CPU backend only (no Lava)")
    args = parser.parse_args()
    deployment, _ = run(args.coding, args.hidden, args.epochs, test_samples=args.test_samples, lava=not args.no_lava, out=args.out)
    deployment.save(args.out / f"mlp_{args.coding}")
    print(tools.summary(f"MLP 784-{args.hidden}-10, {args.coding} coding", deployment))


if __name__ == "__main__":
    main()
