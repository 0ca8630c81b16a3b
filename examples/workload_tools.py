"""What the example workloads share: their data, training with surrogate gradients (snnTorch,
backpropagation through time on the spikes neurodeploy's own encoders make), and deployment
through neurodeploy's Python API on the float model, Lava's simulator and the bit-exact CPU
backend, compared spike for spike (``verify_against="cpu"``).

    mlp_digits.py        (a) snnTorch BPTT MLP 784-1000-10 on 28x28 digits, rate coding
                         (b) the same with latency coding (--coding latency)
    spyketorch_dog.py    (c) DoG filters + intensity-to-latency coding, conv + IF, pooling,
                         winner-take-all readout by first spike
    dvs_events.py        (d) a DVS-style conv net fed from raw synthetic event streams
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's neurodeploy, installed or not

import neurodeploy  # noqa: E402
from neurodeploy.encoders import encoder_spec  # noqa: E402


def encoder(spec: str) -> Callable[[np.ndarray, int], torch.Tensor]:
    """``spec`` (as --encode takes it) as a function (samples, seed) -> float32 spikes (steps, batch, *shape):
    the model trains on exactly the code it is deployed with."""
    chosen, params = encoder_spec(spec)

    def encode(x, seed: int = 0) -> torch.Tensor:
        settings = dict(params)
        if "seed" in chosen.parameters:
            settings["seed"] = seed
        values, _ = chosen.function(x, **settings)
        return torch.as_tensor(np.asarray(values, dtype=np.float32))

    return encode


def encode_all(spec: str, x) -> np.ndarray:
    """All samples encoded once, (steps, samples, *shape): for a deterministic code (latency, DoG,
    events), which need not be drawn again every epoch."""
    chosen, params = encoder_spec(spec)
    values, _ = chosen.function(x, **params)
    return np.asarray(values)


def spike_counts(model: torch.nn.Module, spikes: torch.Tensor) -> torch.Tensor:
    """Output spikes summed over the steps of (steps, batch, *shape) input: a Sequential of snnTorch
    neurons with init_hidden=True, its last neuron returning (spikes, membrane)."""
    import snntorch as snn

    for module in model.modules():  # snntorch.utils.reset only looks at the top level's children
        if isinstance(module, snn.SpikingNeuron) and hasattr(module, "reset_mem"):
            module.reset_mem()
    total = 0
    for t in range(spikes.shape[0]):
        out = model(spikes[t])
        total = total + (out[0] if isinstance(out, tuple) else out)
    return total


def train(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, encode: Callable | None, *, epochs: int, lr: float = 2e-3,
          batch_size: int = 64, seed: int = 0, pad_steps: int = 0, log: bool = True) -> torch.nn.Module:
    """Backpropagation through time with the model's surrogate gradients (Adam) on the
    cross-entropy of the output spike counts. Each epoch re-encodes the data (a
    rate code draws new spikes); with ``encode`` None, ``x`` is encoded already, (steps, samples,
    *shape). ``pad_steps`` zero steps are appended, as the deployment appends them for the chip's
    synaptic delays."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    labels = torch.as_tensor(y, dtype=torch.long)

    count = len(y)
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(count)
        start, total, right = time.perf_counter(), 0.0, 0
        for first in range(0, len(order), batch_size):
            idx = order[first:first + batch_size]
            if encode is None:
                spikes = torch.as_tensor(np.asarray(x[:, idx], dtype=np.float32))
            else:
                spikes = encode(x[idx], seed=seed * 100_003 + epoch * 1009 + first)
            if pad_steps:
                spikes = torch.cat([spikes, spikes.new_zeros((pad_steps, *spikes.shape[1:]))])
            counts = spike_counts(model, spikes)
            value = torch.nn.functional.cross_entropy(counts, labels[idx])
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
            total += value.item() * len(idx)
            right += int((counts.argmax(1) == labels[idx]).sum())
        if log:
            print(f"  epoch {epoch + 1}/{epochs}: loss {total / count:.3f}, training accuracy {right / count:.1%} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    model.eval()
    return model


def deploy_and_compare(model, x: np.ndarray, y: np.ndarray, encode: str, *, steps: int | None = None, decision: str = "spike-count",
                       lava: bool = True, **options):
    """The model deployed on the test data: on Lava's simulator with the CPU backend verified against it
    bit for bit (``lava``), else on the CPU backend alone; the float model runs too. Returns the Deployment."""
    target = "loihi-sim" if lava else "cpu"
    extra = {"verify_against": "cpu"} if lava else {}
    return neurodeploy.deploy(model, data=x, labels=y, encode=encode, target=target, steps=steps, decision=decision, record=False,
                              **extra, **options)


def summary(name: str, deployment) -> str:
    """One paragraph: accuracies, spikes and energy per sample, and whether Lava and the CPU backend agreed."""
    report = deployment.report
    accuracy = ", ".join(f"{k} {v:.1%}" for k, v in (deployment.accuracy or {}).items())
    totals = report["totals"]
    verify = report.get("verify")
    agreed = "" if verify is None else ("; Lava and the CPU backend identical spike for spike" if verify["passed"]
                                        else f"; Lava and the CPU backend DIFFER: {verify['first_difference']['message']}")
    return (f"{name}: {report['input']['batch']} test samples, accuracy {accuracy} (class by {report['classification']['decision']}); "
            f"{totals['spikes_per_sample']:.0f} spikes and {totals['energy_per_sample_j'] * 1e6:.3g} uJ per sample on "
            f"{report['chip']['cores_used']} cores of {report['profile']['name']} (energy estimates){agreed}")
