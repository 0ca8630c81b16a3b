"""Overflow and saturation analysis of a quantised network on calibration data.

Built from a run of the bit-exact CPU backend on the calibration data that reports every
layer's largest |u| and |v| (``RunRequest.record_peaks``: taken as the engine steps, no
traces). Where the calibration data is the run's own input and the cpu target is planned,
that is the cpu target's own run, over all of its samples; otherwise the deployment runs
the cpu backend on at most ``MAX_CALIBRATION_SAMPLES`` calibration samples for it. Per layer:

    u_wrap, v_saturate   how often u wrapped around its 24 bits and v was clipped at its
                         limit (neuron-steps), as the chip would do
    u_peak, v_peak       the largest |u| and |v| seen, as a fraction of the state limit
                         2**23 - 1 (1.0: the register is full; near 0: resolution unused)
    neuron_steps         neuron updates observed (neurons x steps x samples)

``samples`` and ``steps`` say how much of the calibration data the run covered. A layer
that wraps or saturates gets a warning naming it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backends.results import RunResult
from ..ir.stages import QuantisedNetwork

MAX_CALIBRATION_SAMPLES = 64  # enough to see the ranges; keeps a run of its own short


def overflow_section(network: QuantisedNetwork, result: RunResult, source: str) -> tuple[dict[str, Any], list[str]]:
    """(report section, warnings) from a run of ``network`` on calibration data from ``source``
    with peaks (``record_peaks``) or u and v (``record_state``) recorded."""
    state_max = float(network.arithmetic.state_max)
    layers, warnings = {}, []
    for layer in network.layers:
        activity = result.layers[layer.name]
        u_peak, v_peak = _peaks(result, layer.name)
        entry = {
            "u_wrap": int(activity.saturations["u_wrap"]),
            "v_saturate": int(activity.saturations["v_saturate"]),
            "u_peak": u_peak / state_max,
            "v_peak": v_peak / state_max,
            "neuron_steps": int(activity.neuron_updates),
        }
        layers[layer.name] = entry
        if entry["u_wrap"] or entry["v_saturate"]:
            warnings.append(
                f"layer {layer.name!r}: on the calibration data u wrapped {entry['u_wrap']} and v saturated "
                f"{entry['v_saturate']} times in {entry['neuron_steps']} neuron-steps: fixed point departs from float there"
            )
    section = {"source": source, "samples": int(result.batch), "steps": int(result.steps), "layers": layers}
    return section, warnings


def _peaks(result: RunResult, name: str) -> tuple[float, float]:
    """A layer's largest |u| and |v|: from the run's peaks, else from its traces."""
    if result.peaks is not None:
        return float(result.peaks[name]["u"]), float(result.peaks[name]["v"])
    traces = result.traces[name]
    return float(np.abs(traces["u"]).max(initial=0)), float(np.abs(traces["v"]).max(initial=0))
