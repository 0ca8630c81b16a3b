"""Two runs compared spike for spike and register for register (``--verify``, and the tests that hold the engines to Lava)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .results import RunResult


def compare_runs(reference: RunResult, candidate: RunResult, layer_order: list[str]) -> dict[str, Any]:
    """First difference in (step, layer order, quantity, sample, neuron) order, or none.

    Both runs must carry rasters and state traces (u, v and every other register both
    recorded). Returns the ``verify`` report entry.
    """
    first = None
    compared = 0
    ref_label = reference.target
    cand_label = candidate.target if candidate.target != reference.target else f"{candidate.target} (second run)"
    for name in layer_order:
        quantities = {"spikes": (reference.rasters[name], candidate.rasters[name])}
        for var in reference.traces[name]:  # u, v, and the other registers of a compartment with more state
            if var in candidate.traces[name]:
                quantities[var] = (reference.traces[name][var], candidate.traces[name][var])
        for quantity, (a, b) in quantities.items():
            compared += a.size
            if a.shape != b.shape:
                raise ValueError(f"layer {name}: {quantity} shapes differ {a.shape} vs {b.shape}")
            diff = np.argwhere(a != b)
            if diff.size == 0:
                continue
            step, sample, neuron = (int(x) for x in diff[0])
            key = (step, layer_order.index(name), list(quantities).index(quantity))
            if first is None or key < first["_key"]:
                first = {
                    "_key": key,
                    "layer": name,
                    "step": step,
                    "sample": sample,
                    "neuron": neuron,
                    "quantity": quantity,
                    ref_label: _plain(a[step, sample, neuron]),
                    cand_label: _plain(b[step, sample, neuron]),
                }
    if first is not None:
        first.pop("_key")
        first["message"] = (
            f"layer {first['layer']!r}, step {first['step']}, sample {first['sample']}, neuron {first['neuron']}: "
            f"{first['quantity']} is {first[ref_label]} on {ref_label} but {first[cand_label]} on {cand_label}"
        )
    return {
        "passed": first is None,
        "reference": reference.target,
        "candidate": candidate.target,
        "layers": len(layer_order),
        "steps": reference.steps,
        "samples": reference.batch,
        "values_compared": compared,
        "first_difference": first,
    }


def _plain(value) -> int | bool:
    return bool(value) if isinstance(value, (bool, np.bool_)) else int(value)
