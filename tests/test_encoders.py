"""Encoders: every registered one loads; parameters parse or fail on one line; the Bernoulli
draw that the random input and the demo share reproduces both of their streams."""
import re

import numpy as np
import pytest

from neurodeploy.encoders import ENCODERS, EncodeRequest, encoder_spec
from neurodeploy.encoders.demo import DigitsSplit
from neurodeploy.encoders.rate import bernoulli_spikes
from neurodeploy.errors import UserError


def test_every_registered_encoder_loads_under_its_name():
    assert ENCODERS.names() == ("random", "file", "demo", "rate", "poisson", "latency", "delta", "rank_order", "intensity_latency", "dog",
                                "current", "events", "brian2")
    for name in ENCODERS.names():
        encoder = ENCODERS.get(name)
        assert encoder.name == name and encoder.summary


def test_specs_parse_with_the_encoders_own_types():
    encoder, params = encoder_spec("random:rate=0.25")
    assert encoder.name == "random" and params == {"rate": 0.25}
    assert encoder_spec("random")[1] == {}
    for text, message in [
        ("nosuch:rate=1", "unknown encoder 'nosuch': choose one of random, file, demo, rate"),
        ("random:rate", "'rate' is not key=value (random takes rate)"),
        ("random:speed=2", "random has no parameter 'speed' (random takes rate)"),
        ("random:rate=fast", "random: rate=fast is not allowed: rate must be a number in [0, 1]"),
        ("random:rate=1.5", "random: rate=1.5 is out of range: rate must be a number in [0, 1]"),
    ]:
        with pytest.raises(UserError, match=re.escape(message)):
            encoder_spec(text)


def test_random_spikes_are_seeded_bernoulli_draws_at_the_rate():
    batch = ENCODERS.get("random").encode(EncodeRequest(shape=(4, 5), steps=300, batch=3, seed=7, params={"rate": 0.2}))
    assert batch.values.shape == (300, 3, 20) and batch.values.dtype == np.uint8
    rng = np.random.default_rng(7)
    expected = np.stack([rng.random((3, 20), dtype=np.float32) < 0.2 for _ in range(300)])
    np.testing.assert_array_equal(batch.values, expected)
    assert abs(batch.values.mean() - 0.2) < 0.02
    assert batch.description["source"] == "random" and batch.description["rate"] == 0.2 and batch.description["shape"] == [4, 5]


def test_the_demo_draws_what_its_model_was_trained_and_tested_on():
    """One Bernoulli draw for every rate code: with float64 draws it is the demo's stream,
    all steps drawn at once or one at a time."""
    rates = np.random.default_rng(0).random((9, 64))
    split = DigitsSplit(rates=rates, labels=np.arange(9), steps=20)
    batch = ENCODERS.get("demo").encode(EncodeRequest(shape=(64,), seed=3, data=split))
    at_once = np.random.default_rng(4).random((20, 9, 64)) < rates[None]
    np.testing.assert_array_equal(batch.values, at_once)
    np.testing.assert_array_equal(batch.labels, np.arange(9))
    np.testing.assert_array_equal(bernoulli_spikes(np.random.default_rng(4), rates, 20, rates.shape, draw=np.float64), at_once)
    with pytest.raises(UserError, match="use it without a model"):
        ENCODERS.get("demo").encode(EncodeRequest(shape=(64,)))


def test_file_encoder_needs_a_path_and_tells_the_shape(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((6, 2, 3, 4), np.uint8))
    encoder = ENCODERS.get("file")
    assert encoder.shape_hint({"path": str(tmp_path / "x.npy")}) == (3, 4)
    assert encoder.encode(EncodeRequest(shape=(3, 4), params={"path": str(tmp_path / "x.npy")})).values.shape == (6, 2, 12)
    with pytest.raises(UserError, match="needs its path"):
        encoder.encode(EncodeRequest(shape=(3, 4)))
