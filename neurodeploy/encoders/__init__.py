"""Encoders: raw data (or none) -> the network's input, spikes or graded values of shape
(steps, batch, n_inputs), and what the report says about it. One interface (``Encoder``,
encoders/base.py), one registry (``ENCODERS``); each encoder's parameters have one schema
(``Param``, encoders/params.py) shared by the encoder and the ``--encode`` parser.

    random             seeded Bernoulli noise (what a model without data runs on; --rate)
    file               an array encoded already, from a .npy file (--input)
    demo               the built-in demo's digits test split, rate-coded
    rate, poisson      rate coding (snnTorch spikegen.rate; Brian2's PoissonGroup)
    latency            time-to-first-spike (snnTorch spikegen.latency)
    delta              delta modulation with on/off channels (snnTorch spikegen.delta)
    rank_order         rank-order coding
    intensity_latency  SpykeTorch's Intensity2Latency
    dog                DoG filter bank + latency or rank-order coding (SpykeTorch)
    current            direct graded input held for the steps
    events             (x, y, t, p) event streams binned into frames (tonic ToFrame)

The data encoders (``DataEncoder``) encode the user's data (``--data``, ``EncodeRequest.samples``).
On the command line ``--encode NAME:key=value,...`` picks one with its parameters.
Adding an encoder is one module in this folder (an ``Encoder`` subclass and its instance)
and one line in ``ENCODERS`` below; see docs/architecture.md, "How to add ...".
"""
from __future__ import annotations

from ..registry import Registry
from .base import DataEncoder, Encoder, EncodeRequest, InputBatch, encoding_of, fit, parse_spec, to_integer_input
from .params import EncoderError, Param

ENCODERS: Registry[Encoder] = Registry("encoder", __package__, {
    "random": ".random_spikes:RANDOM",
    "file": ".file:FILE",
    "demo": ".demo:DEMO",
    "rate": ".rate:RATE",
    "poisson": ".poisson:POISSON",
    "latency": ".latency:LATENCY",
    "delta": ".delta:DELTA",
    "rank_order": ".rank_order:RANK_ORDER",
    "intensity_latency": ".intensity_latency:INTENSITY_LATENCY",
    "dog": ".dog:DOG",
    "current": ".current:CURRENT",
    "events": ".events:EVENTS",
    "brian2": ".brian2_sources:BRIAN2",
})


def encoder_spec(text: str) -> tuple[Encoder, dict]:
    """``NAME[:key=value,...]`` -> (the encoder, its parsed parameters)."""
    name = text.strip().partition(":")[0].strip()
    if name not in ENCODERS:
        raise EncoderError(f"--encode {text}: unknown encoder {name!r}: choose one of {', '.join(ENCODERS.names())}")
    encoder = ENCODERS.get(name)
    return encoder, parse_spec(text, encoder)


__all__ = [
    "ENCODERS", "DataEncoder", "EncodeRequest", "Encoder", "EncoderError", "InputBatch", "Param", "encoder_spec", "encoding_of", "fit",
    "parse_spec", "to_integer_input",
]
