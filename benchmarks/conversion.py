"""ANN-to-SNN conversion on scikit-learn's digits: neurodeploy's against Sinabs' ``from_model``.

    python benchmarks/conversion.py            # writes benchmarks/results/conversion.json

One CNN (conv 8 + BatchNorm, avg pool, conv 16, avg pool, 32, 10; the network of
tests/test_conversion.py, trained with the same seed) converted two ways and evaluated on the
450 test digits:

    neurodeploy   ``--convert`` (99.9th percentile, IF, reset by subtraction) with rate and with
                  direct (current) input: the float SNN and the CPU backend (Loihi 2 fixed point)
    sinabs        the same ANN with BatchNorm fused (torch.nn.utils.fusion), weights normalised by
                  ``sinabs.utils.normalize_weights`` (percentile 99.9), converted by
                  ``sinabs.from_model``, direct input; once with Sinabs' defaults (MultiSpike:
                  several spikes per step; membrane floor min_v_mem = -1), once with one spike per
                  step and no floor (what Loihi does)
    max pooling   the same CNN with MaxPool2d instead of AvgPool2d, trained alike, converted with
                  maxpool=or and maxpool=avg (float SNN, direct input)

Accuracy after 10, 25, 50 and 100 steps (most output spikes; ties to the lowest index).
"""
from __future__ import annotations

import json
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
STEPS = (10, 25, 50, 100)


def main() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from test_conversion import INPUT_SHAPE, _cnn, _train
    from torch import nn

    from neurodeploy.conversion.report import accuracy_by_steps
    from neurodeploy.pipeline import DeployOptions, deploy

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    x_train, x_test, y_train, y_test = train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)
    ann = _train(_cnn(), x_train, y_train)
    results: dict = {"ann": float(np.mean(ann(torch.tensor(x_test)).argmax(1).numpy() == y_test))}
    calibration = {"x": x_train, "y": y_train, "x_test": x_test, "y_test": y_test}
    for mode in ("current", "rate"):
        start = time.perf_counter()
        outcome = deploy(DeployOptions(model=ann, input_shape=INPUT_SHAPE, convert=f"input={mode}", calibration_data=calibration,
                                       target="cpu", steps=max(STEPS)))
        for target in ("float", "cpu"):
            curve = accuracy_by_steps(outcome.results[target], y_test)
            results[f"neurodeploy {mode} {target}"] = {k: float(curve[k - 1]) for k in STEPS}
        results[f"neurodeploy {mode} wall_s"] = time.perf_counter() - start
    pooled = _train(_cnn(nn.MaxPool2d), x_train, y_train)
    results["ann with max pooling"] = float(np.mean(pooled(torch.tensor(x_test)).argmax(1).numpy() == y_test))
    for maxpool in ("or", "avg"):
        outcome = deploy(DeployOptions(model=pooled, input_shape=INPUT_SHAPE, convert=f"input=current,maxpool={maxpool}",
                                       calibration_data=calibration, target="float", steps=max(STEPS)))
        curve = accuracy_by_steps(outcome.results["float"], y_test)
        results[f"neurodeploy max pooling as {maxpool}, float"] = {k: float(curve[k - 1]) for k in STEPS}
        if maxpool == "avg":
            results["ann with max pooling replaced by average"] = outcome.report.conversion["accuracy"]["ann_as_converted"]
    for label, settings in (("sinabs defaults", {}), ("sinabs single spike, no floor", {"single": True})):
        results[label], results["sinabs normalised ann"] = sinabs_curve(ann, x_train, x_test, y_test, INPUT_SHAPE, **settings)
    print(json.dumps(results, indent=1))
    out = ROOT / "benchmarks" / "results" / "conversion.json"
    out.write_text(json.dumps(results, indent=1) + "\n")


def sinabs_curve(ann, x_train, x_test, y_test, input_shape, single: bool = False) -> tuple[dict[int, float], float]:
    """(accuracy by steps, the accuracy of the ANN after normalize_weights)."""
    sys.modules.setdefault("samna", types.ModuleType("samna"))
    import copy

    import sinabs
    from sinabs.activation import SingleSpike
    from sinabs.utils import normalize_weights
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    layers = [copy.deepcopy(m) for m in ann if not isinstance(m, nn.Dropout)]
    fused = []
    for module in layers:
        if isinstance(module, nn.BatchNorm2d):
            fused[-1] = fuse_conv_bn_eval(fused[-1], module)
        else:
            fused.append(module)
    model = nn.Sequential(*fused).eval()
    names = [n for n, m in model.named_children()]
    params = [n for n, m in model.named_children() if isinstance(m, (nn.Conv2d, nn.Linear))]
    outputs = [n for n, m in model.named_children() if isinstance(m, nn.ReLU)] + [names[-1]]
    normalize_weights(model, torch.tensor(x_train), outputs, params, percentile=99.9)
    with torch.no_grad():
        normalised = float(np.mean(model(torch.tensor(x_test)).argmax(1).numpy() == y_test))
    steps = max(STEPS)
    kwargs = {"spike_fn": SingleSpike, "min_v_mem": None} if single else {}
    network = sinabs.from_model(model, input_shape=input_shape, batch_size=len(x_test), num_timesteps=steps, add_spiking_output=True, **kwargs)
    network.reset_states()
    with torch.no_grad():
        inputs = torch.tensor(x_test)[:, None].expand(-1, steps, *input_shape).reshape(len(x_test) * steps, *input_shape)
        out = network(inputs).reshape(len(x_test), steps, -1).cumsum(1).numpy()
    return {k: float(np.mean(out[:, k - 1].argmax(1) == y_test)) for k in STEPS}, normalised


if __name__ == "__main__":
    main()
