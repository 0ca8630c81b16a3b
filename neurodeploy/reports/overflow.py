"""Overflow and saturation analysis of a quantised network on calibration data.

The deployment runs the network on the bit-exact CPU backend over at most
``MAX_CALIBRATION_SAMPLES`` calibration samples with u and v recorded; this section is
built from that run. Per layer:

    u_wrap, v_saturate   how often u wrapped around its 24 bits and v was clipped at its
                         limit (neuron-steps), as the chip would do
    u_peak, v_peak       the largest |u| and |v| seen, as a fraction of the state limit
                         2**23 - 1 (1.0: the register is full; near 0: resolution unused)
    neuron_steps         neuron updates observed (neurons x steps x samples)

A layer that wraps or saturates gets a warning naming it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backends.results import RunResult
from ..ir.stages import QuantisedNetwork

MAX_CALIBRATION_SAMPLES = 64  # enough to see the ranges; keeps the extra run short


def overflow_section(network: QuantisedNetwork, result: RunResult, source: str) -> tuple[dict[str, Any], list[str]]:
    """(report section, warnings) from a run of ``network`` with u and v recorded
    (``record_state``) on calibration data from ``source``."""
    state_max = float(network.arithmetic.state_max)
    layers, warnings = {}, []
    for layer in network.layers:
        traces, activity = result.traces[layer.name], result.layers[layer.name]
        entry = {
            "u_wrap": int(activity.saturations["u_wrap"]),
            "v_saturate": int(activity.saturations["v_saturate"]),
            "u_peak": float(np.abs(traces["u"]).max(initial=0)) / state_max,
            "v_peak": float(np.abs(traces["v"]).max(initial=0)) / state_max,
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
