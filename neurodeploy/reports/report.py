"""The run report: one JSON-serialisable structure per run (fields documented in docs/report.md).

Every number is computed here (or in ``energy.py``) from the compiled network, the
backend's activity counts and the profile; renderers only format.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import __version__
from ..backends import TARGETS
from ..backends.results import RunResult
from ..ir.passes import CompiledNetwork
from . import energy
from .fidelity import fidelity

SCHEMA_VERSION = 1
COUNT_FIELDS = ("neurons", "synapses", "cores", "spikes", "synops", "neuron_updates", "active_neuron_updates")


@dataclass
class LayerReport:
    name: str
    kind: str  # NIR node types of the layer, e.g. "Affine+LIF"
    neurons: int
    synapses: int
    cores: int
    spikes: int | None  # activity fields: None on a dry run (--target none)
    synops: int | None
    neuron_updates: int | None
    active_neuron_updates: int | None
    energy_j: dict[str, float] | None  # total, synaptic, neuron, routing
    saturations: dict[str, int] | None  # u_wrap, v_saturate; None where not observed
    time_per_step_s: float | None  # busiest core of the layer
    limiting_resource: str  # which per-core limit decided the number of cores
    resources: dict[str, int]  # neurons, input_axons, synapse_bits, output_axons, summed over the layer's slices
    shape: list[int]  # the neurons' NIR shape
    state_scale: float  # register units per float unit of v (median over neurons with per-channel scaling)
    lava_process: str  # neuron process used on loihi-sim: "LIF" (Lava's) or "NeurodeployLIF"
    projections: list[dict[str, Any]]  # source, connection, synapses, weight_exp, max_delay


@dataclass
class Report:
    schema_version: int
    neurodeploy_version: str
    target: str
    model: dict[str, Any]
    profile: dict[str, Any]
    input: dict[str, Any]
    layers: list[LayerReport]
    totals: dict[str, Any]
    chip: dict[str, Any]
    cores: list[dict[str, Any]]
    latency: dict[str, Any]
    timing_s: dict[str, float]
    accuracy: dict[str, float] | None = None
    fidelity: dict[str, dict[str, Any]] | None = None
    verify: dict[str, Any] | None = None
    quantisation: dict[str, Any] | None = None  # weight scaling and the overflow analysis (pipeline.py)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))


def build_report(
    compiled: CompiledNetwork,
    result: RunResult | None,
    input_info: dict[str, Any],
    timing_s: dict[str, float],
    accuracy: dict[str, float] | None = None,
    verify: dict[str, Any] | None = None,
    extra_notes: list[str] | None = None,
    float_result: RunResult | None = None,
) -> Report:
    mapped = compiled.mapped
    profile = mapped.profile
    work = energy.core_work(mapped, result.layers, max(result.steps * result.batch, 1)) if result is not None else None
    layers = [_layer_report(compiled, qlayer, result, work) for qlayer in compiled.quantised.layers]
    totals = _totals(layers, result)
    totals["cores"] = mapped.cores_used  # layers can share cores
    step_time = None
    if work is not None:
        step_time = max(work.values(), default=0.0) + energy.longest_route_time(mapped) + energy.barrier_time(profile, energy.tiles_used(mapped))
    notes = list(compiled.float_graph.notes) + list(compiled.quantised.notes) + (list(result.notes) if result else []) + list(extra_notes or [])
    notes += _saturation_notes(layers)
    if result is None:
        notes.append("dry run (--target none): compiled, mapped and checked against the profile; nothing was run, so activity, energy and time are null")
    elif any(layer.saturations is None for layer in layers):
        notes.append("saturation counts need u and v, which Lava is only asked for with --verify (or use --target cpu)")
    return Report(
        schema_version=SCHEMA_VERSION,
        neurodeploy_version=__version__,
        target=result.target if result is not None else "none",
        model={
            "source": compiled.float_graph.source,
            "format": compiled.float_graph.format,
            "load_fixes": list(compiled.float_graph.fixes),
            "dt_s": compiled.normalised.dt,
            "dt_source": compiled.normalised.dt_source,
            "input_shape": list(compiled.normalised.input_shape),
            "layers": len(layers),
        },
        profile={
            "name": profile.name,
            "path": profile.source_path,
            "description": profile.description,
            "estimates": list(profile.estimates),
            "energy_is_estimate": profile.is_estimate("energy_j.synaptic_op"),
            "chips": profile.system.chips,
            "chip_grid": list(profile.system.chip_grid),
            "mesh_tiles": list(profile.system.mesh_tiles),
            "cores_per_tile": profile.system.cores_per_tile,
            "cores_per_chip": profile.system.cores_per_chip,
            "core_limits": core_limits(profile),
        },
        input=input_info,
        layers=layers,
        totals=totals,
        chip={
            "cores_used": mapped.cores_used,
            "cores_available": profile.system.total_cores,
            "chips_used": mapped.chips_used,
            "chips_available": profile.system.chips,
            "tiles_used": energy.tiles_used(mapped),
            "fits": mapped.cores_used <= profile.system.total_cores,
            "resources": _chip_resources(mapped),
        },
        cores=[_core_report(core, profile) for core in mapped.cores],
        latency={
            "synaptic_delay_steps": _synaptic_latency(compiled.quantised),
            "time_per_step_s": step_time,
            "time_per_sample_s": step_time * result.steps if step_time is not None else None,
            "real_time_factor_at_dt": step_time / compiled.normalised.dt if step_time is not None and compiled.normalised.dt else None,
        },
        timing_s=dict(timing_s),
        accuracy=accuracy,
        fidelity=fidelity(compiled.quantised, result, float_result) if float_result is not None and result is not None and result.target != "float" else None,
        verify=verify,
        notes=notes,
    )


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


def _layer_report(compiled: CompiledNetwork, qlayer, result: RunResult | None, work: dict[int, float] | None) -> LayerReport:
    mapped = compiled.mapped
    mapping = mapped.mapping(qlayer.name)
    activity = result.layers[qlayer.name] if result is not None else None
    return LayerReport(
        name=qlayer.name,
        kind="+".join(dict.fromkeys(_node_types(compiled, qlayer.float_layer.nir_nodes))),
        neurons=qlayer.n_out,
        synapses=qlayer.synapse_count,
        cores=len({piece.core for piece in mapping.slices}),
        spikes=activity.spikes if activity is not None else None,
        synops=activity.synops if activity is not None else None,
        neuron_updates=activity.neuron_updates if activity is not None else None,
        active_neuron_updates=activity.active_neuron_updates if activity is not None else None,
        energy_j=energy.layer_energy(mapped, qlayer.name, activity).to_dict() if activity is not None else None,
        saturations=activity.saturations if activity is not None else None,
        time_per_step_s=energy.layer_step_time(mapped, qlayer.name, work) if work is not None else None,
        limiting_resource=mapping.limiting_resource,
        resources={name: int(sum(getattr(piece, attribute) for piece in mapping.slices)) for name, attribute, _ in RESOURCES},
        shape=list(qlayer.shape),
        state_scale=float(np.median(qlayer.state_scale)),
        lava_process=TARGETS.get("loihi-sim").layer_details(qlayer)["lava_process"],
        projections=[_projection_summary(p) for p in qlayer.projections],
    )


def _synaptic_latency(network) -> int | None:
    """Fewest steps from the input to the output layer: 1 + delay per synapse on the way."""
    import heapq

    from ..ir.stages import INPUT

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


def _projection_summary(projection) -> dict[str, Any]:
    return {
        "source": projection.source,
        "connection": projection.connection,
        "synapses": projection.synapse_count,
        "weight_exp": projection.weight_exp,
        "max_delay": projection.float_projection.max_delay,
        "shared_kernel": projection.float_projection.geometry is not None,
    }


def _node_types(compiled: CompiledNetwork, nodes: tuple[str, ...]) -> list[str]:
    graph_nodes = compiled.float_graph.graph.nodes
    return [type(graph_nodes[n]).__name__ for n in nodes if n in graph_nodes and type(graph_nodes[n]).__name__ != "Flatten"]


def _totals(layers: list[LayerReport], result: RunResult | None) -> dict[str, Any]:
    totals: dict[str, Any] = {
        name: None if any(getattr(layer, name) is None for layer in layers) else int(sum(getattr(layer, name) for layer in layers))
        for name in COUNT_FIELDS
    }
    parts = ("total", "synaptic", "neuron", "routing")
    if result is None:
        totals["energy_j"] = totals["energy_per_sample_j"] = totals["saturations"] = totals["spikes_per_sample"] = None
        totals["steps"] = totals["samples"] = None
        return totals
    totals["energy_j"] = {part: float(sum(layer.energy_j[part] for layer in layers)) for part in parts}
    samples = max(result.batch, 1)
    totals["energy_per_sample_j"] = totals["energy_j"]["total"] / samples
    observed = [layer.saturations for layer in layers if layer.saturations is not None]
    totals["saturations"] = (
        {key: int(sum(s[key] for s in observed)) for key in ("u_wrap", "v_saturate")} if len(observed) == len(layers) else None
    )
    totals["steps"], totals["samples"] = result.steps, result.batch
    totals["spikes_per_sample"] = totals["spikes"] / samples
    return totals


def _saturation_notes(layers: list[LayerReport]) -> list[str]:
    notes = []
    for layer in layers:
        s = layer.saturations or {}
        if s.get("u_wrap"):
            notes.append(f"layer {layer.name!r}: u wrapped {s['u_wrap']} times (24-bit overflow): results differ from float")
        if s.get("v_saturate"):
            notes.append(f"layer {layer.name!r}: v saturated {s['v_saturate']} times at the 24-bit limit")
    return notes


def _jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value
