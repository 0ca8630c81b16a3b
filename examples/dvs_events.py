"""Workload (d): a DVS-style convolutional network fed from raw event streams.

The streams are synthetic, made the way an event camera sees the N-MNIST recordings (Orchard et
al. 2015): each 28x28 digit (scikit-learn's digits upscaled) is moved over a 34x34 sensor along
three saccades (300 ms in all), and every pixel emits an ON or OFF event each time its log
intensity has changed by a contrast threshold since its last event, time-stamped within the
2 ms frame of the change, plus a little background noise. The streams are written as N-MNIST
binary files in one folder per class, and read back from there: exactly what a user with
recordings gives as ``--data recordings/ --encode events:sensor_size=34/34/2,n_time_bins=10``.

The network (snnTorch, trained offline with surrogate gradients on the binned frames): conv 5x5
-> LIF -> max pool 2 -> conv 4x4 -> LIF -> max pool 2 -> dense 10 LIF, classified by spike count.

    python examples/dvs_events.py [--folder recordings]

Measured results: docs/workloads.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import snntorch as snn
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload_tools as tools  # noqa: E402

from neurodeploy.data import load_data  # noqa: E402
from neurodeploy.data.event_files import write_nmnist  # noqa: E402

SENSOR = (34, 34)
ENCODE = "events:sensor_size=34/34/2,n_time_bins=10"
INPUT_STEPS = 10
DELAY_STEPS = 5  # five layers (conv, pool, conv, pool, dense), one synaptic delay each on the chip
DURATION_US = 300_000
FRAMES = 150  # 2 ms frames
CONTRAST = 0.25  # log-intensity change that fires an event
NOISE_PER_FRAME = 0.0005  # background events: chance per pixel and frame
SACCADES = ((0.0, 0.0), (3.0, 6.0), (6.0, 0.0), (0.0, 0.0))  # the offset's corners (x, y) in pixels, as N-MNIST's triangle
EVENTS = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])


def saccade_offsets(frames: int = FRAMES) -> np.ndarray:
    """(frames, 2) offsets (x, y) along the three saccades, equal time each."""
    corners = np.asarray(SACCADES)
    position = np.linspace(0, len(corners) - 1, frames)
    index = np.minimum(position.astype(int), len(corners) - 2)
    fraction = (position - index)[:, None]
    return corners[index] * (1 - fraction) + corners[index + 1] * fraction


def digit_events(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The event stream (x, y, t, p) of one 28x28 image in [0, 1] moved over the sensor."""
    from scipy.ndimage import shift

    canvas = np.zeros(SENSOR[::-1])
    canvas[: image.shape[0], : image.shape[1]] = image
    reference = np.log(canvas + 0.1)
    parts = []
    for k, (dx, dy) in enumerate(saccade_offsets()):
        frame = np.clip(shift(canvas, (dy, dx), order=1, mode="constant"), 0, 1)
        level = np.log(frame + 0.1)
        change = level - reference
        fired = np.abs(change) >= CONTRAST
        noise = rng.random(fired.shape) < NOISE_PER_FRAME
        ys, xs = np.nonzero(fired | noise)
        if len(xs):
            polarity = np.where(fired[ys, xs], change[ys, xs] > 0, rng.random(len(xs)) < 0.5)
            t = (k * DURATION_US // FRAMES + rng.integers(0, DURATION_US // FRAMES, len(xs)))
            parts.append((xs, ys, t, polarity))
        reference = np.where(fired, level, reference)
    x, y, t, p = (np.concatenate(column) for column in zip(*parts))
    order = np.argsort(t, kind="stable")
    stream = np.empty(len(t), EVENTS)
    stream["x"], stream["y"], stream["t"], stream["p"] = x[order], y[order], t[order], p[order]
    return stream


def write_recordings(folder: Path, split: str, count: int | None = None, seed: int = 0) -> Path:
    """Synthetic recordings of one digits28 split as N-MNIST files: folder/<split>/<class>/<n>.bin."""
    data = load_data(f"digits28:split={split}")
    rng = np.random.default_rng(seed)
    root = folder / split
    for n, (image, label) in enumerate(zip(data.x[:count], data.y[:count])):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        write_nmnist(root / str(label) / f"{n:05d}.bin", digit_events(image, rng))
    return root


def dvs_net(channels: tuple[int, int] = (8, 16), beta: float = 0.9) -> nn.Module:
    """2x34x34 frames -> conv 5x5 + LIF -> max pool 2 -> conv 4x4 + LIF -> max pool 2 -> dense 10 LIF."""
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(2, c1, 5), snn.Leaky(beta=beta, init_hidden=True),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 4), snn.Leaky(beta=beta, init_hidden=True),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * 36, 10), snn.Leaky(beta=beta, init_hidden=True, output=True),
    )


def run(folder: Path, channels: tuple[int, int] = (8, 16), epochs: int = 6, train_samples: int | None = None,
        test_samples: int | None = None, lava: bool = True, seed: int = 0, lr: float = 5e-3, batch_size: int = 64, log: bool = True):
    """Write the recordings, train on the training folder, deploy on the test folder; (the Deployment, the module)."""
    train_root = write_recordings(folder, "train", train_samples, seed)
    test_root = write_recordings(folder, "test", test_samples, seed + 1)
    train = load_data(str(train_root))
    if log:
        print(f"training conv {channels} on {train.count} synthetic event recordings, {ENCODE}, {epochs} epochs", flush=True)
    torch.manual_seed(seed)  # the initial weights, so that a run is repeatable
    model = dvs_net(channels)
    frames = tools.encode_all(ENCODE, train.x)  # binning is deterministic: once, not every epoch
    tools.train(model, frames, train.y, None, epochs=epochs, lr=lr, seed=seed, batch_size=batch_size, pad_steps=DELAY_STEPS, log=log)
    deployment = tools.deploy_and_compare(model, str(test_root), None, ENCODE, steps=INPUT_STEPS + DELAY_STEPS, lava=lava)
    return deployment, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=Path("workloads/recordings"), help="where the event files are written")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("workloads"))
    parser.add_argument("--test-samples", type=int, help="deploy on the first N test samples (default: all)")
    parser.add_argument("--no-lava", action="store_true", help="the CPU backend only (no Lava)")
    args = parser.parse_args()
    deployment, _ = run(args.folder, epochs=args.epochs, test_samples=args.test_samples, lava=not args.no_lava)
    deployment.save(args.out / "dvs_events")
    print(tools.summary("DVS-style conv net on synthetic event streams", deployment))


if __name__ == "__main__":
    main()
