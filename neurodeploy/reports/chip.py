"""The report's hardware sections: ``chip`` (cores and chips used, resources against the
limits), ``cores`` (each core: where it is, what it holds, its use) and ``latency``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..ir.passes import CompiledNetwork
from ..ir.stages import INPUT
from . import energy

RESOURCES = (  # report name, CoreUse/LayerSlice attribute, CoreSpec limit
    ("neurons", "neurons", "max_neurons"),
    ("input_axons", "input_axons", "max_input_axons"),
    ("synapse_memory_bits", "synapse_bits", "synapse_memory_bits"),
    ("output_axons", "output_axons", "max_output_axons"),
)


def core_limits(profile) -> dict[str, int]:
    return {name: int(getattr(profile.core, limit)) for name, _, limit in RESOURCES}


def _core_report(core, profile) -> dict[str, Any]:
    """One core: where it is, what it holds, and each resource used / the core's limit."""
    limits = core_limits(profile)
    used = {name: int(getattr(core, attribute)) for name, attribute, _ in RESOURCES}
    return {
        "core": core.core,
        "chip": core.chip,
        "tile": list(core.tile),
        "layers": [{"layer": piece.layer, "neurons": piece.neurons} for piece in core.slices],
        "used": used,
        "utilisation": {name: used[name] / limits[name] for name in used},
    }


def _chip_resources(mapped) -> dict[str, Any]:
    """Totals over the used cores: used, available on those cores, and their ratio."""
    limits = core_limits(mapped.profile)
    used = {name: int(sum(getattr(core, attribute) for core in mapped.cores)) for name, attribute, _ in RESOURCES}
    available = {name: limits[name] * mapped.cores_used for name in used}
    return {
        "used": used,
        "available_on_used_cores": available,
        "utilisation": {name: used[name] / available[name] if available[name] else 0.0 for name in used},
    }


def chip_section(mapped, costs: energy.RunCosts | None = None) -> dict[str, Any]:
    profile = mapped.profile
    return {
        "cores_used": mapped.cores_used,
        "cores_available": profile.system.total_cores,
        "chips_used": mapped.chips_used,
        "chips_available": profile.system.chips,
        "tiles_used": len({(c.chip, c.tile) for c in mapped.cores}),
        "input_cores": energy.input_cores(costs.plan) if costs is not None else None,
        "fits": mapped.cores_used <= profile.system.total_cores,
        "resources": _chip_resources(mapped),
    }


def cores_section(mapped) -> list[dict[str, Any]]:
    return [_core_report(core, mapped.profile) for core in mapped.cores]


def latency_section(compiled: CompiledNetwork, costs: energy.RunCosts | None, result=None) -> dict[str, Any]:
    step_time = costs.time_per_step if costs is not None else None
    timed = costs.times is not None if costs is not None else False
    return {
        "synaptic_delay_steps": _synaptic_latency(compiled.quantised),
        "time_per_step_s": step_time,
        "time_per_sample_s": costs.time_per_sample if costs is not None else None,
        "real_time_factor_at_dt": step_time / compiled.normalised.dt if step_time is not None and compiled.normalised.dt else None,
        "barrier_s": costs.times.barrier if timed else None,
        "tiles_in_use": costs.plan.tiles_in_use if costs is not None else None,
        "samples_timed": int(costs.times.send.shape[0]) if timed else None,
    }


def _synaptic_latency(network) -> int | None:
    """Fewest steps from the input to the output layer: 1 + delay per synapse on the way."""
    import heapq

    best = {INPUT: 0}
    queue = [(0, INPUT)]
    while queue:
        steps, name = heapq.heappop(queue)
        if steps > best.get(name, steps):
            continue
        for consumer in network.consumers(name):
            for p in consumer.projections:
                if p.source != name:
                    continue
                delays = p.delays.data if hasattr(p.delays, "data") and p.delays is not None and not isinstance(p.delays, np.ndarray) else p.delays
                lag = 1 + (int(np.min(delays[delays > 0], initial=0)) if delays is not None and np.all(np.asarray(delays) > 0) else 0)
                if steps + lag < best.get(consumer.name, 1 << 60):
                    best[consumer.name] = steps + lag
                    heapq.heappush(queue, (steps + lag, consumer.name))
    return best.get(network.output_layer.name)
