"""The report's per-layer section (``layers``) and its sums (``totals``).

Each layer: what it is (kind, shape, neurons, synapses, projections, state scale, the Lava
process it runs as), where it sits (cores, resources, the resource that limited its split),
and, when something ran, what it did (spikes, synaptic operations, neuron updates,
saturations, NeuroBench's metrics: ``neurobench.py``) and what that costs on the chip
(energy, time per step; ``energy.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends import TARGETS
from ..backends.results import RunResult
from ..ir.passes import CompiledNetwork
from ..neurons.nir_extension import neuron_of
from . import energy
from .chip import RESOURCES
from .neurobench import layer_metrics, total_sparsity

NEUROBENCH_FIELDS = ("effective_acs", "effective_macs", "activation_sparsity")
COUNT_FIELDS = ("neurons", "synapses", "cores", "spikes", "synops", "neuron_updates", "active_neuron_updates", "updated_neuron_updates")


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
    updated_neuron_updates: int | None
    effective_acs: float | None  # NeuroBench's, per sample
    effective_macs: float | None
    activation_sparsity: float | None  # NeuroBench's; None for a non-spiking layer
    energy_j: dict[str, float] | None  # total, synaptic, neuron, network
    saturations: dict[str, int] | None  # u_wrap, v_saturate; None where not observed
    time_per_step_s: float | None  # busiest core of the layer
    limiting_resource: str  # which per-core limit decided the number of cores
    resources: dict[str, int]  # neurons, input_axons, synapse_bits, output_axons, summed over the layer's slices
    shape: list[int]  # the neurons' NIR shape
    state_scale: float  # register units per float unit of v (median over neurons with per-channel scaling)
    lava_process: str  # neuron process used on loihi-sim: "LIF" (Lava's) or "NeurodeployLIF"
    projections: list[dict[str, Any]]  # source, connection, synapses, weight_exp, max_delay
    reset: str  # what a spike does to v on the chip: zero, subtract or none (a readout)
    spikes_per_step: int  # 1, or the most spikes one neuron may send in a step (graded spikes carrying the count)
    conventions: list[str]  # how the exporter's dialect read the layer's neuron node (dialects/)


def layer_reports(compiled: CompiledNetwork, result: RunResult | None, costs: energy.RunCosts | None) -> list[LayerReport]:
    return [_layer_report(compiled, qlayer, result, costs) for qlayer in compiled.quantised.layers]


def _layer_report(compiled: CompiledNetwork, qlayer, result: RunResult | None, costs: energy.RunCosts | None) -> LayerReport:
    mapped = compiled.mapped
    mapping = mapped.mapping(qlayer.name)
    activity = result.layers[qlayer.name] if result is not None else None
    ran = compiled.normalised.layer(qlayer.name) if result is not None and result.target == "float" else qlayer
    metrics = layer_metrics(ran, result, _graded_input(compiled)) if result is not None else dict.fromkeys(NEUROBENCH_FIELDS)
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
        updated_neuron_updates=activity.updated_neuron_updates if activity is not None else None,
        **metrics,
        energy_j=energy.parts(costs.layers[qlayer.name].energy(mapped.profile.energy_j)) if costs is not None else None,
        saturations=activity.saturations if activity is not None else None,
        time_per_step_s=costs.layer_time(qlayer.name) if costs is not None else None,
        limiting_resource=mapping.limiting_resource,
        resources={name: int(sum(getattr(piece, attribute) for piece in mapping.slices)) for name, attribute, _ in RESOURCES},
        shape=list(qlayer.shape),
        state_scale=float(np.median(qlayer.state_scale)),
        lava_process=TARGETS.get("loihi-sim").layer_details(qlayer)["lava_process"],
        projections=[_projection_summary(p) for p in qlayer.projections],
        reset=qlayer.neurons.reset.name.lower(),
        spikes_per_step=qlayer.neurons.max_spikes if qlayer.neurons.several_spikes else 1,
        conventions=list(qlayer.float_layer.conventions),
    )


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
    """NIR node types; a node carrying the neurodeploy extension as its model's name, e.g. "LIF(Refractory)"."""
    graph_nodes = compiled.float_graph.graph.nodes
    types = []
    for n in nodes:
        node = graph_nodes.get(n)
        if node is None or type(node).__name__ == "Flatten":
            continue
        extension = neuron_of(node)
        types.append(f"{type(node).__name__}({extension})" if extension else type(node).__name__)
    return types


def _graded_input(compiled: CompiledNetwork) -> bool:
    return any(p.source == "input" and p.graded_bits > 0 for layer in compiled.quantised.layers for p in layer.projections)


def totals(layers: list[LayerReport], result: RunResult | None, cores_used: int, costs: energy.RunCosts | None = None, profile=None) -> dict[str, Any]:
    """Sums over the layers (and the input's messages); ``cores`` counts shared cores once."""
    totals: dict[str, Any] = {
        name: None if any(getattr(layer, name) is None for layer in layers) else int(sum(getattr(layer, name) for layer in layers))
        for name in COUNT_FIELDS
    }
    totals["cores"] = cores_used
    if result is None or costs is None:
        for name in ("energy_j", "energy_per_sample_j", "saturations", "spikes_per_sample", "steps", "samples", "effective_acs", "effective_macs",
                     "activation_sparsity"):
            totals[name] = None
        return totals
    terms = costs.total().energy(profile.energy_j)
    totals["energy_j"] = {**energy.parts(terms), "input": float(sum(costs.input.energy(profile.energy_j).values())), "terms": terms}
    totals["effective_acs"] = float(sum(layer.effective_acs for layer in layers))
    totals["effective_macs"] = float(sum(layer.effective_macs for layer in layers))
    spiking = [(layer.activation_sparsity, layer.neuron_updates) for layer in layers if layer.activation_sparsity is not None]
    totals["activation_sparsity"] = total_sparsity(spiking)
    samples = max(result.batch, 1)
    totals["energy_per_sample_j"] = totals["energy_j"]["total"] / samples
    observed = [layer.saturations for layer in layers if layer.saturations is not None]
    totals["saturations"] = (
        {key: int(sum(s[key] for s in observed)) for key in ("u_wrap", "v_saturate")} if len(observed) == len(layers) else None
    )
    totals["steps"], totals["samples"] = result.steps, result.batch
    totals["spikes_per_sample"] = totals["spikes"] / samples
    return totals


def saturation_notes(layers: list[LayerReport]) -> list[str]:
    notes = []
    for layer in layers:
        s = layer.saturations or {}
        if s.get("u_wrap"):
            notes.append(f"layer {layer.name!r}: u wrapped {s['u_wrap']} times (24-bit overflow): results differ from float")
        if s.get("v_saturate"):
            notes.append(f"layer {layer.name!r}: v saturated {s['v_saturate']} times at the 24-bit limit")
    return notes
