"""The learned state back into the network: the compiled stages frozen after learning (what
the chip holds, to evaluate on), and a deployable NIR graph.

A learning layer's state after learning is its weights (integer weight units; the float
rule's are real-valued) and its thresholds (the raise theta above the resting threshold).
Frozen integers: the learned weights as a non-learning ``Dense`` holds them (mixed sign mode
drops the LSB of odd learned weights, a note says so) and the threshold mantissa theta >> 6
(exact: the lowering keeps theta a multiple of 64 while thresholds do not relax). In NIR the
weights become W / (units x gain) in the Linear / Affine node and v_threshold grows by the
raise; the graph's metadata keeps the learning specification (``LEARNED_KEY``) and the learning
projections' weight ranges (``BOUNDS_KEY``), so that deploying that file quantises them for their
learning range again (``metadata.learned_bounds``): the chip then holds the weights and thresholds it
learned (docs/learning.md).
"""
from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nir
import numpy as np

from ..hardware.fixed_point import stored_weights
from ..ir.passes import CompiledNetwork
from ..ir.passes.map_cores import map_cores
from ..ir.stages import FloatGraph, NormalisedNetwork, QuantisedNetwork
from .lowering import LearningPlan, LoweredLayer, weight_bounds
from .metadata import BOUNDS_KEY, LEARNED_KEY, bounds_json


@dataclass(frozen=True)
class LearnedState:
    """One layer after learning: weights (post, pre) in integer weight units and the threshold
    raise in float units of v (per neuron); ``theta`` the integer thresholds (state units) of
    a bit-exact target, None for the float rule."""

    weights: np.ndarray
    raise_v: np.ndarray
    theta: np.ndarray | None = None


def learned_state(lowered: LoweredLayer, weights: np.ndarray, theta: np.ndarray, exact: bool) -> LearnedState:
    """From a learner's weights and theta (integer thresholds, or the float rule's raise)."""
    if not exact:
        return LearnedState(np.asarray(weights, np.float64), np.asarray(theta, np.float64))
    theta_0 = lowered.program.neurons.theta_0().astype(np.int64)
    raise_v = (np.asarray(theta, np.int64) - theta_0) / lowered.state_scale
    return LearnedState(np.asarray(weights, np.int64), raise_v, np.asarray(theta, np.int64))


def freeze(compiled: CompiledNetwork, plan: LearningPlan, learned: dict[str, LearnedState]) -> tuple[CompiledNetwork, list[str]]:
    """``compiled`` with the learned weights and thresholds, every stage; and notes."""
    notes: list[str] = []
    normalised = _freeze_normalised(compiled.normalised, plan, learned)
    quantised = _freeze_quantised(compiled.quantised, normalised, plan, learned, notes)
    mapped = map_cores(quantised, compiled.mapped.profile)
    return CompiledNetwork(compiled.float_graph, normalised, quantised, mapped, {}), notes


def _freeze_normalised(network: NormalisedNetwork, plan: LearningPlan, learned: dict[str, LearnedState]) -> NormalisedNetwork:
    layers = []
    for layer in network.layers:
        if layer.name not in learned:
            layers.append(layer)
            continue
        lowered, state = plan.layer(layer.name), learned[layer.name]
        projections = tuple(
            dataclasses.replace(p, weight=state.weights / lowered.units[:, None]) if p.source == lowered.program.source else p
            for p in layer.projections)
        neurons = dataclasses.replace(layer.neurons, threshold=layer.neurons.threshold + state.raise_v)
        layers.append(dataclasses.replace(layer, projections=projections, neurons=neurons))
    return dataclasses.replace(network, layers=tuple(layers))


def _freeze_quantised(network: QuantisedNetwork, normalised: NormalisedNetwork, plan: LearningPlan, learned: dict[str, LearnedState],
                      notes: list[str]) -> QuantisedNetwork:
    layers = []
    for layer in network.layers:
        float_layer = normalised.layer(layer.name)
        if layer.name not in learned or learned[layer.name].theta is None:
            layers.append(dataclasses.replace(layer, float_layer=float_layer))
            continue
        lowered, state = plan.layer(layer.name), learned[layer.name]
        projections = []
        for p, fp in zip(layer.projections, float_layer.projections):
            if p.source == lowered.program.source:
                kept = stored_weights(state.weights, lowered.program.sign_mode, p.mantissa_bits)
                if not np.array_equal(kept, state.weights):
                    notes.append(f"layer {layer.name!r}: {int((kept != state.weights).sum())} learned weights lose their lowest bit in a "
                                 "non-learning Dense (mixed sign mode keeps even values)")
                p = dataclasses.replace(p, weights=kept.astype(np.int32), sign_mode=lowered.program.sign_mode)
            projections.append(dataclasses.replace(p, float_projection=fp))
        vth = np.round(state.theta / 64.0).astype(np.int64)
        if np.any(vth * 64 != state.theta):
            notes.append(f"layer {layer.name!r}: learned thresholds rounded to the threshold mantissa (multiples of 64 state units)")
        neurons = dataclasses.replace(layer.neurons, vth=vth.astype(np.int32))
        layers.append(dataclasses.replace(layer, projections=tuple(projections), neurons=neurons, float_layer=float_layer))
    return dataclasses.replace(network, layers=tuple(layers), normalised=normalised)


def learned_graph(float_graph: FloatGraph, plan: LearningPlan, learned: dict[str, LearnedState],
                  normalised: NormalisedNetwork | None = None) -> nir.NIRGraph:
    """The NIR graph with the learned weights (in NIR units) and thresholds. With ``normalised``
    (the network that learned) a bit-exact target's thresholds are raised to the learned integer
    threshold itself (theta / state scale), not by its raise over the rounded resting threshold,
    so that quantising the file again gives the chip's thresholds back exactly."""
    nodes = dict(float_graph.graph.nodes)
    for name, state in learned.items():
        lowered = plan.layer(name)
        node = nodes[lowered.nir_node]
        weights = state.weights / (lowered.units * lowered.gain)[:, None]
        nodes[lowered.nir_node] = dataclasses.replace(node, weight=weights.reshape(np.shape(node.weight)))
        neuron = nodes[name]
        raise_v = state.raise_v
        if normalised is not None and state.theta is not None:
            raise_v = state.theta / lowered.state_scale - normalised.layer(name).neurons.threshold
        threshold = np.broadcast_to(np.asarray(neuron.v_threshold, np.float64), raise_v.shape) + raise_v
        nodes[name] = dataclasses.replace(neuron, v_threshold=threshold)
    metadata = {**(float_graph.graph.metadata or {}), LEARNED_KEY: plan.spec.to_yaml()}
    if normalised is not None:
        metadata[BOUNDS_KEY] = bounds_json(weight_bounds(plan.spec, normalised))
    return nir.NIRGraph(nodes=nodes, edges=list(float_graph.graph.edges), metadata=metadata)


def nir_bytes(graph: nir.NIRGraph) -> bytes:
    """``nir.write`` into memory (it takes a path)."""
    with tempfile.TemporaryDirectory(prefix="neurodeploy-learned-") as tmp:
        path = Path(tmp) / "learned.nir"
        nir.write(str(path), graph)
        return path.read_bytes()


def weight_statistics(weights_nir: np.ndarray, w_range: tuple[float, float] | None) -> dict:
    """Mean, spread, extremes, the share at each bound and a 10-bin histogram (NIR units)."""
    w = np.asarray(weights_nir, np.float64)
    out = {"mean": float(w.mean()), "std": float(w.std()), "min": float(w.min()), "max": float(w.max())}
    if w_range is not None:
        lo, hi = w_range
        span = hi - lo
        out["at_lower_bound"] = float(np.mean(w <= lo + 1e-9 * span))
        out["at_upper_bound"] = float(np.mean(w >= hi - 1e-9 * span))
        counts, edges = np.histogram(w, bins=10, range=(lo, hi))
        out["histogram"] = {"edges": edges.tolist(), "counts": counts.tolist()}
    return out

