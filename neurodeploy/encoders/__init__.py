"""Encoders: raw data (or none) -> the network's input, spikes or graded values of shape
(steps, batch, n_inputs), and what the report says about it. One interface (``Encoder``,
encoders/base.py), one registry (``ENCODERS``).

    random   seeded Bernoulli noise (what a model without data runs on; --rate)
    file     an array encoded already, from a .npy file (--input)
    demo     the built-in demo's digits test split, rate-coded

On the command line ``--encode NAME:key=value,...`` picks one with its parameters.
Adding an encoder is one module in this folder (an ``Encoder`` subclass and its instance)
and one line in ``ENCODERS`` below; see docs/architecture.md, "How to add ...".
"""
from __future__ import annotations

from ..registry import Registry
from .base import Encoder, EncodeRequest, InputBatch, encoding_of, fit, parse_spec, to_integer_input

ENCODERS: Registry[Encoder] = Registry("encoder", __package__, {
    "random": ".random_spikes:RANDOM",
    "file": ".file:FILE",
    "demo": ".demo:DEMO",
})


def encoder_spec(text: str) -> tuple[Encoder, dict]:
    """``NAME[:key=value,...]`` -> (the encoder, its parsed parameters)."""
    encoder = ENCODERS.get(text.partition(":")[0])
    return encoder, parse_spec(text, encoder)


__all__ = ["ENCODERS", "EncodeRequest", "Encoder", "InputBatch", "encoder_spec", "encoding_of", "fit", "parse_spec", "to_integer_input"]
