"""Checks of each stage, run after every pass.

A failure is a ``PassCheckError`` naming the pass that produced the stage and the layer
(node) at fault. It means a pass produced something the next stage or the hardware
cannot take: a bug in neurodeploy, or an input that slipped past a pass's own checks.
The per-core check re-derives every resource from the profile, independently of the
mapper.
"""
from __future__ import annotations

import numpy as np

from ..backends.fixed_point import stored_weights, weight_range
from .profile import HardwareProfile
from .resources import slice_synapse_bits
from .stages import (
    INPUT,
    NEURON_KINDS,
    RESETS,
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


def check_float_graph(stage: FloatGraph, pass_name: str = "load", profile: HardwareProfile | None = None) -> None:
    c = _Checker(pass_name)
    c.require(len(stage.graph.nodes) > 0, stage.source, "the graph has no nodes")


def check_normalised(stage: NormalisedNetwork, pass_name: str = "normalise", profile: HardwareProfile | None = None) -> None:
    c = _Checker(pass_name)
    sizes = {INPUT: stage.n_inputs}
    c.require(stage.dt > 0, "graph", f"dt must be positive, got {stage.dt}")
    for layer in stage.layers:
        n = layer.n_out
        dyn = layer.neurons
        c.require(layer.name not in sizes, layer.name, "duplicate layer name")
        c.require(layer.source in sizes, layer.name, f"source {layer.source!r} is not an earlier layer")
        c.require(layer.n_in == sizes.get(layer.source), layer.name, f"weight has {layer.n_in} inputs, source has {sizes.get(layer.source)}")
        c.require(dyn.kind in NEURON_KINDS and dyn.reset in RESETS, layer.name, f"unknown kind/reset {dyn.kind}/{dyn.reset}")
        for name in ("alpha", "beta", "bias", "current_bias", "v_offset", "reset_amount"):
            value = getattr(dyn, name)
            c.require(value.shape == (n,), layer.name, f"{name} has shape {value.shape}, expected ({n},)")
            c.require(np.all(np.isfinite(value)), layer.name, f"{name} is not finite")
        c.require(np.all(np.isfinite(layer.weight)), layer.name, "weights are not finite")
        c.require(np.all((dyn.alpha >= 0) & (dyn.alpha <= 1)), layer.name, "alpha outside [0, 1]")
        c.require(np.all((dyn.beta >= 0) & (dyn.beta <= 1)), layer.name, "beta outside [0, 1]")
        if dyn.spiking:
            c.require(np.all(np.isfinite(dyn.threshold)), layer.name, "spiking layer with an infinite threshold")
        sizes[layer.name] = n


def check_quantised(stage: QuantisedNetwork, pass_name: str = "quantise", profile: HardwareProfile | None = None) -> None:
    c = _Checker(pass_name)
    a = stage.arithmetic
    for layer in stage.layers:
        syn, neu, name = layer.synapses, layer.neurons, layer.name
        low, high, _ = weight_range(syn.sign_mode, syn.mantissa_bits)
        w = syn.weights
        c.require(w.dtype.kind == "i", name, f"weights must be integers, got {w.dtype}")
        c.require(w.size == 0 or (w.min() >= low and w.max() <= high), name, f"weights outside [{low}, {high}] for sign mode {syn.sign_mode}")
        c.require(np.array_equal(stored_weights(w, syn.sign_mode, syn.mantissa_bits), w), name, "weights are not exactly representable (Lava would change them)")
        c.require(a.weight_exponent_min <= syn.weight_exp <= a.weight_exponent_max, name, f"weight_exp {syn.weight_exp} outside [{a.weight_exponent_min}, {a.weight_exponent_max}]")
        c.require(syn.graded_bits <= a.graded_spike_bits, name, f"graded input of {syn.graded_bits} bits, profile allows {a.graded_spike_bits}")
        for field, lo, hi in (
            ("du", 0, a.decay_max),
            ("dv", 0, a.decay_max),
            ("vth", 0, a.threshold_max),
            ("bias_mant", a.bias_mantissa_min, a.bias_mantissa_max),
            ("bias_exp", 0, a.bias_exponent_max),
            ("v_init", -a.state_max, a.state_max),
            ("reset_sub", 0, a.state_max),
        ):
            value = getattr(neu, field)
            c.require(value.shape == (layer.n_out,), name, f"{field} has shape {value.shape}, expected ({layer.n_out},)")
            c.require(value.dtype.kind == "i", name, f"{field} must be integer, got {value.dtype}")
            if value.size:
                c.require(value.min() >= lo and value.max() <= hi, name, f"{field} in [{value.min()}, {value.max()}], allowed [{lo}, {hi}]")
        c.require(layer.state_scale > 0 and np.isfinite(layer.state_scale), name, f"state scale {layer.state_scale}")


def check_mapped(stage: MappedNetwork, pass_name: str = "map_cores", profile: HardwareProfile | None = None) -> None:
    """Every core within every per-core limit, recomputed from the profile; slices partition each layer."""
    c = _Checker(pass_name)
    profile = stage.profile
    core_limits = profile.core
    seen_cores: set[int] = set()
    layer_cores = {m.name: len(m.cores) for m in stage.layers}
    consumers = {layer.name: [other.name for other in stage.quantised.layers if other.source == layer.name] for layer in stage.quantised.layers}
    for layer in stage.quantised.layers:
        mapping = stage.mapping(layer.name)
        fanout = sum(layer_cores[n] for n in consumers[layer.name])
        expected_start = 0
        for alloc in mapping.cores:
            where = f"{layer.name} (core {alloc.core})"
            c.require(alloc.core not in seen_cores, where, "core used twice")
            seen_cores.add(alloc.core)
            c.require(alloc.neuron_start == expected_start and alloc.neuron_stop > alloc.neuron_start, where, "slices do not partition the layer")
            expected_start = alloc.neuron_stop
            n = alloc.neuron_stop - alloc.neuron_start
            bits = slice_synapse_bits(layer.n_in, n, profile.synapse_encoding)
            for resource, used, limit in (
                ("neurons", n, core_limits.max_neurons),
                ("input axons", layer.n_in, core_limits.max_input_axons),
                ("output axons", n * fanout, core_limits.max_output_axons),
                ("synapse memory bits", bits, core_limits.synapse_memory_bits),
            ):
                c.require(used <= limit, where, f"{resource}: {used} used > {limit} available")
            c.require(alloc.synapse_bits == bits and alloc.output_axons == n * fanout, where, "recorded resource use disagrees with the profile's model")
            c.require(0 <= alloc.chip < profile.system.chips, where, f"chip {alloc.chip} outside the system")
        c.require(expected_start == layer.n_out, layer.name, f"slices cover {expected_start} of {layer.n_out} neurons")
    c.require(len(seen_cores) <= profile.system.total_cores, "network", "more cores than the profile has")
