"""The built-in default: a small snnTorch network trained on scikit-learn's digits.

``python deploy.py`` with no model deploys it: 8x8 digit images (64 inputs, 0..16)
become rate-coded spike trains (an input with value x spikes with probability x/16 per
step), a 64-64-10 network of snnTorch ``Leaky`` neurons is trained for a few seconds
with surrogate gradients on the training split, and the test split (with its labels)
comes with the model for the ``demo`` encoder, so the report shows float and fixed-point
accuracy side by side. Everything is seeded: the same machine gives the same model,
spikes and report.
"""
from __future__ import annotations

import numpy as np

from ..encoders.demo import DigitsSplit
from ..encoders.rate import bernoulli_spikes
from ..ir.stages import FloatGraph
from .model import LoadedModel

STEPS = 20  # time steps per sample
HIDDEN = 64
BETA = 0.9  # membrane decay per step
EPOCHS = 12
BATCH = 64
LEARNING_RATE = 5e-3
TEST_FRACTION = 0.25


def digits_rates(seed: int = 0):
    """(x_train, x_test, y_train, y_test); x are spike probabilities per step in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    rates = digits.data.astype(np.float64) / 16.0
    return train_test_split(rates, digits.target, test_size=TEST_FRACTION, random_state=seed, stratify=digits.target)


def rate_code(rates: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli spikes (steps, samples, inputs) as float32 for training: P(spike) = rate at every step."""
    return bernoulli_spikes(rng, rates, steps, rates.shape, draw=np.float64).astype(np.float32)


def build_model():
    import snntorch as snn
    from torch import nn

    return nn.Sequential(
        nn.Linear(64, HIDDEN),
        snn.Leaky(beta=BETA, init_hidden=True, reset_mechanism="zero"),
        nn.Linear(HIDDEN, 10),
        snn.Leaky(beta=BETA, init_hidden=True, reset_mechanism="zero", output=True),
    )


def spike_counts(model, spikes):
    """Run an init_hidden snnTorch model over (steps, batch, inputs); output spike counts."""
    from snntorch import utils

    utils.reset(model)
    total = 0
    for t in range(spikes.shape[0]):
        spk, _ = model(spikes[t])
        total = total + spk
    return total


def train(seed: int = 0, epochs: int = EPOCHS):
    """Train the demo network; returns (model, x_test, y_test)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_train, x_test, y_train, y_test = digits_rates(seed)
    model = build_model()
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_fn = torch.nn.CrossEntropyLoss()
    labels = torch.as_tensor(y_train)
    for _ in range(epochs):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            spikes = torch.as_tensor(rate_code(x_train[idx], STEPS, rng))
            loss = loss_fn(spike_counts(model, spikes), labels[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    return model, x_test, y_test


def training_spikes(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The training split, rate-coded once (steps, samples, 64) uint8, and its labels:
    the data ``deploy.py --finetune`` fine-tunes the demo on."""
    x_train, _, y_train, _ = digits_rates(seed)
    return rate_code(x_train, STEPS, np.random.default_rng(seed + 2)).astype(np.uint8), np.asarray(y_train)


def load_demo(seed: int = 0):
    """The trained demo network, its snnTorch module, and its labelled test split for the
    ``demo`` encoder (a LoadedModel)."""
    from .snntorch_model import snntorch_to_float_graph

    model, x_test, y_test = train(seed)
    graph = snntorch_to_float_graph(model, input_shape=(64,), source="built-in demo (snnTorch, scikit-learn digits)")
    graph = FloatGraph(graph=graph.graph, source=graph.source, format="demo", fixes=graph.fixes, notes=graph.notes)
    return LoadedModel(graph=graph, module=model, data=DigitsSplit(rates=x_test, labels=np.asarray(y_test), steps=STEPS), encoder="demo")
