"""Built-in labelled sets that ship offline (nothing is downloaded):

    digits     scikit-learn's 8x8 digits, (samples, 8, 8), pixels / 16 in [0, 1]
    digits28   the same upscaled to 28x28 (each pixel 3x3, a 2-pixel border), MNIST's size
    mnist1d    MNIST-1D (Greydanus 2020; ``mnist1d.data.make_dataset`` with its default
               arguments, generated here), (samples, 40), min-max scaled to [0, 1]

Each is split into train and test as ``split=`` says (default ``test``): digits 75/25 stratified
with ``random_state=0`` (the built-in demo's split for seed 0), MNIST-1D its own 4000/1000 split.
``max=`` rescales the values to [0, max] (``digits28:max=255`` gives SpykeTorch's pixel range for the
DoG presets). The split never depends on ``--seed``, so a model trained on ``split=train`` is
never tested on its own training samples.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np

from ..encoders.params import Param, parse_params
from ..errors import InputDataError
from .labelled import LabelledData

BUILTIN = ("digits", "digits28", "mnist1d")
SPLITS = ("train", "test", "all")
PARAMETERS = {
    "split": Param("choice", "test", "which part of the set", choices=SPLITS),
    "max": Param("float", 1.0, "values are scaled to [0, max]", low=0, low_open=True),
}
TEST_FRACTION = 0.25  # digits: the built-in demo's test fraction
SPLIT_SEED = 0


def load_builtin(spec: str) -> LabelledData:
    name = spec.partition(":")[0]
    params = {key: param.default for key, param in PARAMETERS.items()}
    params.update(parse_params(spec, name, PARAMETERS))
    if name == "mnist1d":
        x, y, note = _mnist1d(params["split"])
    else:
        x, y = _digits(params["split"], upscale=name == "digits28")
        note = "scikit-learn load_digits, pixel / 16" + (", each pixel 3x3 and a 2-pixel border (28x28)" if name == "digits28" else "")
    x = (x * params["max"]).astype(np.float32)
    details = {"split": params["split"], "values": f"{note}, in [0, {params['max']:g}]"}
    return LabelledData(x=x, y=y.astype(np.int64), source=spec, details=details)


def digits_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits (samples, 8, 8) in [0, 1] and their classes: one part of the stratified
    75/25 split (random_state 0), or all."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images / 16.0
    if split == "all":
        return images, digits.target
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(images, digits.target, test_size=TEST_FRACTION, random_state=SPLIT_SEED,
                                                        stratify=digits.target)
    return (x_train, y_train) if split == "train" else (x_test, y_test)


def upscale28(images: np.ndarray) -> np.ndarray:
    """8x8 images -> 28x28: each pixel a 3x3 block, then a 2-pixel zero border."""
    return np.pad(np.kron(images, np.ones((1, 3, 3))), ((0, 0), (2, 2), (2, 2)))


def _digits(split: str, upscale: bool) -> tuple[np.ndarray, np.ndarray]:
    x, y = digits_split(split)
    return (upscale28(x) if upscale else x), y


def _mnist1d(split: str) -> tuple[np.ndarray, np.ndarray, str]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ModuleNotFoundError:
        raise InputDataError("--data mnist1d needs the mnist1d package (pip install mnist1d)") from None
    state, py_state = np.random.get_state(), random.getstate()  # make_dataset seeds the global generators
    try:
        data: dict[str, Any] = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(state)
        random.setstate(py_state)
    everything = np.concatenate([data["x"], data["x_test"]])
    low, high = float(everything.min()), float(everything.max())
    parts = {"train": (data["x"], data["y"]), "test": (data["x_test"], data["y_test"]),
             "all": (everything, np.concatenate([data["y"], data["y_test"]]))}
    x, y = parts[split]
    return (x - low) / (high - low), np.asarray(y), f"mnist1d make_dataset (default arguments), (x - {low:.4g}) / {high - low:.4g}"
