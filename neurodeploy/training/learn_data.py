"""The data of a learning run as encoded input: ``--data`` (training) and ``--test-data``, read
by data/'s ``load_data`` like any ``--data``.

A built-in set named without a split (``--data digits``) learns on its train split and is tested
on its test split. Raw samples in [0, 1] are rate-coded unless ``--encode`` names an encoder: an
input of value x spikes with probability ``x * rate`` at each of ``steps`` steps (the Bernoulli
draw every rate-coding encoder uses, ``encoders/rate.py``), seeded. Samples encoded already
(``--layout steps-first`` / ``samples-first``) are taken as they are. A ``.npz`` may hold a
``reward`` array beside ``x`` and ``y``, for a reward from the data.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data import LabelledData
from ..data.builtin import BUILTIN
from ..encoders import InputBatch
from ..encoders.rate import bernoulli_spikes
from ..errors import InputDataError
from ..ir.stages import InputEncoding

DEFAULT_STEPS = 100


def learning_sources(data: Any, test_data: Any) -> tuple[Any, Any]:
    """(training data, test data or None): a built-in set without ``split=`` gives both splits."""
    if isinstance(data, str) and data.partition(":")[0] in BUILTIN and "split=" not in data:
        more = "," if ":" in data else ":"
        return f"{data}{more}split=train", test_data if test_data is not None else f"{data}{more}split=test"
    return data, test_data


def rate_coded(data: LabelledData, shape: tuple[int, ...], steps: int | None, rate: float, seed: int) -> InputBatch:
    """Raw samples ``(samples, *shape)`` in [0, 1] as Bernoulli spikes of probability ``x * rate``."""
    source = data.source
    if data.is_events:
        raise InputDataError(f"--data {source} holds event streams: encode them for --learn with --encode events:n_time_bins=N")
    x = np.asarray(data.x)
    samples, n_shape = data.count, int(np.prod(shape))
    per_sample = int(np.prod(x.shape[1:]))
    if per_sample != n_shape:
        raise InputDataError(f"--data {source}: x has {per_sample} values per sample; the model takes {list(shape)} ({n_shape}) "
                             "(samples encoded already: give --layout samples-first or steps-first)")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise InputDataError(f"--data {source}: raw x must lie in [0, 1] (they are spike probabilities per step, x * rate); "
                             f"found {float(x.min()):g}..{float(x.max()):g}")
    if not 0 < rate <= 1:
        raise InputDataError(f"--rate {rate}: the spike probability of an input at 1 must lie in (0, 1]")
    steps = DEFAULT_STEPS if steps is None else steps
    probability = x.reshape(samples, n_shape).astype(np.float64) * rate
    values = bernoulli_spikes(np.random.default_rng(seed), probability, steps, probability.shape, draw=np.float64)
    description = f"{source}: {samples} samples rate-coded over {steps} steps (spike probability x * {rate:g}), seed {seed}"
    batch = InputBatch(values=values, encoding=InputEncoding("spikes"),
                       description={"source": source, "steps": int(values.shape[0]), "batch": samples, "shape": list(shape),
                                    "encoding": "spikes", "description": description})
    batch.labels, batch.classes = data.y, data.classes
    batch.description["data"] = data.section()
    return batch


def rewards_of(source: Any) -> np.ndarray | None:
    """The ``reward`` array of a ``.npz`` training file, if it holds one."""
    if not isinstance(source, (str, Path)) or Path(source).suffix.lower() != ".npz" or not Path(source).is_file():
        return None
    try:
        with np.load(source, allow_pickle=False) as archive:
            reward = archive["reward"] if "reward" in archive.files else None
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise InputDataError(f"--data {source}: not a readable .npz ({type(exc).__name__}: {exc})") from None
    if reward is None:
        return None
    if reward.dtype.kind not in "biuf" or not np.all(np.isfinite(reward)):
        raise InputDataError(f"--data {source}: reward must hold finite numbers")
    return np.asarray(reward, np.float64)
