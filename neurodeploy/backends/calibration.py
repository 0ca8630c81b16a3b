"""Calibration: the ranges u and v reach in the float model on calibration data.

``--calibration data`` chooses fixed-point scales from observed ranges instead of the worst
case. Observing them is a float run, which belongs here, with the backends: the quantise
pass only receives the ranges (``ObservedRange`` per layer), through ``compile_network``'s
``calibrate`` argument:

    compile_network(graph, options, calibrate=float_calibration(inputs))
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import InputDataError
from ..ir.passes.quantise import ObservedRange
from ..ir.stages import NormalisedNetwork
from .float_reference import run_float

DEFAULT_PERCENTILE = 99.99


def float_calibration(inputs: np.ndarray, percentile: float = DEFAULT_PERCENTILE) -> Callable[[NormalisedNetwork], dict[str, ObservedRange]]:
    """The ``calibrate`` of ``compile_network``: runs the float reference on ``inputs``
    (steps, batch, n; spikes or graded values) and takes, per neuron, the ``percentile`` of
    |u| and |v| over steps and samples."""
    if not 0 < percentile <= 100:
        raise InputDataError(f"calibration percentile {percentile:g} must be in (0, 100]")
    values = np.asarray(inputs, dtype=np.float64)

    def observe(network: NormalisedNetwork) -> dict[str, ObservedRange]:
        result = run_float(network, values, record_state=True)
        samples = int(values.shape[1])
        ranges = {}
        for layer in network.layers:
            traces = result.traces[layer.name]
            u = np.percentile(np.abs(traces["u"]).reshape(-1, layer.n_out), percentile, axis=0)
            v = np.percentile(np.abs(traces["v"]).reshape(-1, layer.n_out), percentile, axis=0)
            ranges[layer.name] = ObservedRange(u=u, v=v, percentile=percentile, samples=samples)
        return ranges

    return observe
