"""Checks of each stage, run after every pass.

A failure is a ``PassCheckError`` naming the pass that produced the stage and the layer
(node) at fault. It means a pass produced something the next stage or the hardware
cannot take: a bug in neurodeploy, or an input that slipped past a pass's own checks.
The per-core check re-derives every resource from the profile, independently of the
mapper.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

from ..hardware.fixed_point import stored_weights, weight_range
from ..hardware.profile import HardwareProfile
from ..neurons import NEURONS, compartment_of
from .resources import output_axons_per_neuron, partition_use
from .stages import (
    CONNECTIONS,
    INPUT,
    FloatGraph,
    MappedNetwork,
    NormalisedNetwork,
    QuantisedNetwork,
)


class PassCheckError(Exception):
    """A stage failed its check after a pass (names the pass and the node)."""

    def __init__(self, pass_name: str, node: str, problem: str, passes_before: tuple[str, ...] = ()):
        self.pass_name, self.node, self.problem = pass_name, node, problem
        before = f" (after {', '.join(passes_before)})" if passes_before else ""
        super().__init__(f"check after pass {pass_name!r}{before} failed at node {node!r}: {problem}")


class _Checker:
    def __init__(self, pass_name: str):
        self.pass_name = pass_name

    def require(self, condition, node: str, problem: str) -> None:
        if not bool(condition):
            raise PassCheckError(self.pass_name, node, problem)


def check_float_graph(stage: FloatGraph, pass_name: str = "inline_subgraphs", profile: HardwareProfile | None = None) -> None:
    import nir

    c = _Checker(pass_name)
    c.require(len(stage.graph.nodes) > 0, stage.source, "the graph has no nodes")
    for name, node in stage.graph.nodes.items():
        c.require(not isinstance(node, nir.NIRGraph), name, "a nested graph remains")
    for src, dst in stage.graph.edges:
        c.require(src in stage.graph.nodes and dst in stage.graph.nodes, f"{src}->{dst}", "edge to a missing node")


def check_normalised(stage: NormalisedNetwork, pass_name: str = "normalise", profile: HardwareProfile | None = None) -> None:
    c = _Checker(pass_name)
    sizes = {INPUT: stage.n_inputs, **{layer.name: layer.n_out for layer in stage.layers}}
    c.require(stage.dt > 0, "graph", f"dt must be positive, got {stage.dt}")
    c.require(len(sizes) == len(stage.layers) + 1, "graph", "duplicate layer names (or a layer named 'input')")
    c.require(stage.output_layer_name in sizes, "graph", f"output layer {stage.output_layer_name!r} is not a layer")
    for layer in stage.layers:
        n, dyn = layer.n_out, layer.neurons
        c.require(layer.projections, layer.name, "layer without projections")
        for p in layer.projections:
            c.require(p.source in sizes, layer.name, f"projection from unknown source {p.source!r}")
            c.require(
                p.weight.shape == (n, sizes.get(p.source)),
                layer.name,
                f"projection from {p.source!r} has shape {p.weight.shape}, expected ({n}, {sizes.get(p.source)})",
            )
            values = p.weight.data if sparse.issparse(p.weight) else p.weight
            c.require(np.all(np.isfinite(values)), layer.name, f"weights from {p.source!r} are not finite")
            if p.delays is not None:
                c.require(p.delays.shape == p.weight.shape, layer.name, "delays and weights differ in shape")
        c.require(dyn.kind in NEURONS, layer.name, f"unknown neuron model {dyn.kind!r}")
        for name in ("alpha", "beta", "bias", "current_bias", "v_offset", "reset_amount"):
            value = getattr(dyn, name)
            c.require(value.shape == (n,), layer.name, f"{name} has shape {value.shape}, expected ({n},)")
            c.require(np.all(np.isfinite(value)), layer.name, f"{name} is not finite")
        c.require(np.all((dyn.alpha >= 0) & (dyn.alpha <= 1)), layer.name, "alpha outside [0, 1]")
        c.require(np.all((dyn.beta >= 0) & (dyn.beta <= 1)), layer.name, "beta outside [0, 1]")
        if dyn.spiking:
            c.require(np.all(np.isfinite(dyn.threshold)), layer.name, "spiking layer with an infinite threshold")
        for name in ("floor", "v_initial"):
            value = getattr(dyn, name)
            if value is not None:
                c.require(value.shape == (n,) and np.all(np.isfinite(value)), layer.name, f"{name} must be {n} finite values")
        c.require(dyn.max_spikes >= 1, layer.name, f"max_spikes {dyn.max_spikes} < 1")


def check_quantised(stage: QuantisedNetwork, pass_name: str = "quantise", profile: HardwareProfile | None = None) -> None:
    c = _Checker(pass_name)
    a = stage.arithmetic
    for layer in stage.layers:
        neu, name = layer.neurons, layer.name
        for p in layer.projections:
            where = f"{name} (from {p.source})"
            low, high, _ = weight_range(p.sign_mode, p.mantissa_bits)
            w = p.weights.data if sparse.issparse(p.weights) else np.asarray(p.weights)
            c.require(w.dtype.kind == "i", where, f"weights must be integers, got {w.dtype}")
            c.require(w.size == 0 or (w.min() >= low and w.max() <= high), where, f"weights outside [{low}, {high}] for sign mode {p.sign_mode}")
            c.require(
                np.array_equal(stored_weights(w, p.sign_mode, p.mantissa_bits), w), where, "weights are not exactly representable (Lava would change them)"
            )
            c.require(
                a.weight_exponent_min <= p.weight_exp <= a.weight_exponent_max,
                where,
                f"weight_exp {p.weight_exp} outside [{a.weight_exponent_min}, {a.weight_exponent_max}]",
            )
            c.require(p.graded_bits <= a.graded_spike_bits, where, f"graded input of {p.graded_bits} bits, profile allows {a.graded_spike_bits}")
            if p.source != INPUT:
                counts = stage.layer(p.source).neurons.several_spikes
                c.require(bool(p.graded_bits) == counts, where, "graded synapses must match a source that sends spike counts")
            c.require(p.connection in CONNECTIONS, where, f"unknown connection {p.connection!r}")
            if p.connection == "Conv":
                c.require(p.geometry is not None and p.weight_exp == 0, where, "Conv needs a kernel and exponent 0")
                kernel = p.geometry.kernel
                c.require(
                    kernel.dtype.kind == "i" and np.array_equal(stored_weights(kernel, p.sign_mode, p.mantissa_bits), kernel),
                    where,
                    "Conv kernel not representable",
                )
            if p.delays is not None:
                d = p.delays.data if sparse.issparse(p.delays) else np.asarray(p.delays)
                c.require(d.size == 0 or (d.min() >= 0 and d.max() <= a.max_synaptic_delay), where, f"delays outside [0, {a.max_synaptic_delay}]")
        for field, lo, hi in compartment_of(neu).limits(neu, a):
            value = getattr(neu, field)
            if value is None and field == "v_floor":
                continue
            c.require(value.shape == (layer.n_out,), name, f"{field} has shape {value.shape}, expected ({layer.n_out},)")
            c.require(value.dtype.kind == "i", name, f"{field} must be integer, got {value.dtype}")
            if value.size:
                c.require(value.min() >= lo and value.max() <= hi, name, f"{field} in [{value.min()}, {value.max()}], allowed [{lo}, {hi}]")
        if neu.several_spikes:
            c.require(neu.max_spikes <= (1 << max(a.graded_spike_bits - 1, 0)), name, f"{neu.max_spikes} spikes per step exceed the graded payload")
        scales = np.asarray(layer.state_scale, dtype=np.float64)
        c.require(
            bool(np.all(scales > 0) and np.all(np.isfinite(scales))) and scales.size in (1, layer.n_out), name, f"state scale {scales.min()}..{scales.max()}"
        )


def check_mapped(stage: MappedNetwork, pass_name: str = "map_cores", profile: HardwareProfile | None = None) -> None:
    """Every core within every per-core limit, its use recomputed from the profile and the
    synapses (not taken from the mapper's bookkeeping); slices partition each layer."""
    c = _Checker(pass_name)
    profile = stage.profile
    limits = profile.core
    network = stage.quantised
    core_of_row, use = {}, {}
    for layer in network.layers:
        pieces = stage.mapping(layer.name).slices
        covered = np.sort(np.concatenate([p.index for p in pieces])) if pieces else np.zeros(0, np.int64)
        c.require(np.array_equal(covered, np.arange(layer.n_out)), layer.name, "slices do not partition the layer")
        assignment = np.zeros(layer.n_out, dtype=np.int64)
        rows = np.zeros(layer.n_out, dtype=np.int64)
        for i, piece in enumerate(pieces):
            assignment[piece.index] = i
            rows[piece.index] = piece.core
        axons, bits = partition_use(layer, assignment, len(pieces), profile.synapse_encoding)
        for i, piece in enumerate(pieces):
            use[(layer.name, i)] = (piece.neurons, int(axons[i]), int(bits[i]))
        core_of_row[layer.name] = rows
    totals: dict[int, list[int]] = {}
    for layer in network.layers:
        assignment = np.zeros(layer.n_out, dtype=np.int64)
        for i, piece in enumerate(stage.mapping(layer.name).slices):
            assignment[piece.index] = i
        out = output_axons_per_neuron(network, layer, core_of_row, assignment, profile.core.population_axon_slots)
        for i, piece in enumerate(stage.mapping(layer.name).slices):
            neurons, axons, bits = use[(layer.name, i)]
            outputs = int(out[piece.index].sum())
            where = f"{layer.name} (core {piece.core})"
            c.require(
                (piece.input_axons, piece.synapse_bits, piece.output_axons) == (axons, bits, outputs),
                where,
                "recorded resource use disagrees with the profile's model",
            )
            t = totals.setdefault(piece.core, [0, 0, 0, 0])
            for j, value in enumerate((neurons, axons, bits, outputs)):
                t[j] += value
    for core in stage.cores:
        where = f"core {core.core} ({', '.join(sorted({s.layer for s in core.slices}))})"
        c.require(core.core in totals, where, "core without layer slices")
        for resource, used, limit in zip(
            ("neurons", "input axons", "synapse memory bits", "output axons"),
            totals.get(core.core, [0, 0, 0, 0]),
            (limits.max_neurons, limits.max_input_axons, limits.synapse_memory_bits, limits.max_output_axons),
        ):
            c.require(used <= limit, where, f"{resource}: {used} used > {limit} available")
        c.require(0 <= core.chip < profile.system.chips, where, f"chip {core.chip} outside the system")
    c.require(len(stage.cores) <= profile.system.total_cores, "network", "more cores than the profile has")
    c.require(len({core.core for core in stage.cores}) == len(stage.cores), "network", "a core index is used twice")
