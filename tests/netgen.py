"""Random networks for tests: NIR graphs (float) and quantised networks (integers).

``random_quantised_network`` draws every integer parameter over its whole legal range,
extremes included, so the CPU backend is compared with Lava well beyond what the
quantiser would ever produce (saturation, wrap-around, sums past 16 and 32 bits).
"""
from __future__ import annotations

import nir
import numpy as np

from neurodeploy.hardware.fixed_point import stored_weights
from neurodeploy.hardware.profile import HardwareProfile
from neurodeploy.ir.stages import (
    INPUT,
    FloatGraph,
    InputEncoding,
    NeuronDynamics,
    NormalisedLayer,
    NormalisedNetwork,
    Projection,
    QuantisedLayer,
    QuantisedNetwork,
    QuantisedNeurons,
    QuantisedProjection,
)


def random_nir_graph(rng: np.random.Generator, sizes: list[int], kinds: list[str] | None = None, bias: bool = True) -> nir.NIRGraph:
    """Input -> (Affine|Linear -> LIF|CubaLIF|IF|LI)* -> Output, float parameters."""
    kinds = kinds or [str(rng.choice(["LIF", "CubaLIF", "IF"])) for _ in sizes[1:]]
    nodes = {"input": nir.Input(np.array([sizes[0]]))}
    edges, previous = [], "input"
    dt = 1e-3
    for i, (n_in, n_out, kind) in enumerate(zip(sizes[:-1], sizes[1:], kinds)):
        w = rng.normal(0, 1.5 / np.sqrt(n_in), (n_out, n_in))
        syn = nir.Affine(w, rng.normal(0, 0.05, n_out)) if bias else nir.Linear(w)
        tau = rng.uniform(2, 20, n_out) * dt
        thr = rng.uniform(0.5, 1.5, n_out)
        if kind == "LIF":
            neuron = nir.LIF(tau=tau, r=np.ones(n_out) * rng.uniform(5, 15), v_leak=rng.normal(0, 0.05, n_out), v_threshold=thr, v_reset=np.zeros(n_out))
        elif kind == "CubaLIF":
            neuron = nir.CubaLIF(
                tau_syn=rng.uniform(2, 10, n_out) * dt,
                tau_mem=tau,
                r=np.full(n_out, 10.0),
                v_leak=np.zeros(n_out),
                v_threshold=thr,
                v_reset=np.zeros(n_out),
                w_in=np.full(n_out, 5.0),
            )
        elif kind == "IF":
            neuron = nir.IF(r=np.full(n_out, 1.0 / dt), v_threshold=thr * 3, v_reset=np.zeros(n_out))
        else:
            neuron = nir.LI(tau=tau, r=np.full(n_out, 5.0), v_leak=np.zeros(n_out))
        nodes[f"syn{i}"], nodes[f"neuron{i}"] = syn, neuron
        edges += [(previous, f"syn{i}"), (f"syn{i}", f"neuron{i}")]
        previous = f"neuron{i}"
    nodes["output"] = nir.Output(np.array([sizes[-1]]))
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt})


def float_graph(graph: nir.NIRGraph, source: str = "test") -> FloatGraph:
    return FloatGraph(graph=graph, source=source, format="nir")


def _placeholder_float_layer(name: str, projections: list[Projection], n_out: int, reset: str) -> NormalisedLayer:
    zeros = np.zeros(n_out)
    dyn = NeuronDynamics("LIF", zeros, zeros, np.ones(n_out), zeros, zeros, zeros, reset, np.ones(n_out))
    return NormalisedLayer(name, (n_out,), tuple(projections), dyn, (name,))


def integer_projection(source, weights, weight_exp, sign_mode, mantissa_bits, graded_bits=0, connection="Dense", delays=None):
    """A QuantisedProjection for hand-built integer networks (its float side is a placeholder)."""
    placeholder = Projection(source, np.zeros(weights.shape) if not hasattr(weights, "tocsr") else weights.astype(float), delays, None, ())
    return QuantisedProjection(source, weights, delays, weight_exp, sign_mode, mantissa_bits, graded_bits, connection, None, placeholder)


def random_quantised_network(
    rng: np.random.Generator,
    profile: HardwareProfile,
    sizes: list[int],
    *,
    extreme: bool = False,
    graded_bits: int = 0,
    uniform: bool | None = None,
    resets: list[str] | None = None,
    spike_rules: bool = False,
) -> QuantisedNetwork:
    """Integer parameters drawn over their legal ranges; ``extreme`` favours the limits.
    ``spike_rules``: also inclusive thresholds, membrane floors and, on subtracting layers,
    several spikes per step (graded spikes carrying the count into the next layer)."""
    a = profile.arithmetic
    layers = []
    source = INPUT
    counts_in = False  # the source sends spike counts
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        name = f"layer{i}"
        sign_mode = str(rng.choice(["mixed", "excitatory", "inhibitory"], p=[0.7, 0.2, 0.1]))
        top = 1 << a.weight_mantissa_bits
        raw = rng.integers(-top, top, (n_out, n_in))
        if extreme:
            raw = np.where(rng.random((n_out, n_in)) < 0.5, top - 1, raw)
        raw = np.where(rng.random((n_out, n_in)) < rng.uniform(0.3, 1.0), raw, 0)
        weights = stored_weights(np.abs(raw) * (-1 if sign_mode == "inhibitory" else 1) if sign_mode != "mixed" else raw, sign_mode, a.weight_mantissa_bits)
        weight_exp = int(rng.integers(3, a.weight_exponent_max + 1)) if extreme else int(rng.integers(a.weight_exponent_min, a.weight_exponent_max + 1))
        layer_uniform = bool(rng.random() < 0.5) if uniform is None else uniform
        reset = resets[i] if resets else str(rng.choice(["zero", "subtract", "none"], p=[0.5, 0.35, 0.15]))

        def draw(low: int, high: int, uniform: bool = layer_uniform, n_out: int = n_out) -> np.ndarray:
            value = rng.integers(low, high + 1, 1 if uniform else n_out)
            if extreme:
                value = np.where(rng.random(value.shape) < 0.3, rng.choice([low, high]), value)
            return np.broadcast_to(value, (n_out,)).astype(np.int32).copy()

        du, dv = draw(0, a.decay_max), draw(0, a.decay_max)
        vth = draw(0, a.threshold_max) if not extreme else draw(0, 2**12)
        bias_mant = rng.integers(a.bias_mantissa_min, a.bias_mantissa_max + 1, n_out).astype(np.int32)
        bias_mant = np.where(rng.random(n_out) < 0.5, 0, bias_mant).astype(np.int32)
        bias_exp = rng.integers(0, a.bias_exponent_max + 1, n_out).astype(np.int32)
        v_init = np.where(rng.random(n_out) < 0.3, rng.integers(-a.state_max, a.state_max, n_out), 0).astype(np.int32)
        reset_sub = rng.integers(0, a.state_max + 1, n_out).astype(np.int32) if reset == "subtract" else np.zeros(n_out, np.int32)
        rules = {}
        if spike_rules and reset != "none":
            rules["inclusive"] = bool(rng.random() < 0.7)
            if rng.random() < 0.6:
                rules["v_floor"] = np.where(rng.random(n_out) < 0.3, -a.state_max, rng.integers(-(2**18), 2**12, n_out)).astype(np.int32)
            if reset == "subtract" and rules["inclusive"] and rng.random() < 0.7:
                reset_sub = np.maximum(reset_sub // int(rng.choice([1, 2**6, 2**10])), 1).astype(np.int32)  # small subtractions: many spikes
                rules["max_spikes"] = int(rng.choice([2, 7, 2**16, 2**23 - 1]))
        neurons = QuantisedNeurons("LIF", du, dv, vth, bias_mant, bias_exp, v_init, reset, reset_sub, **rules)
        in_bits = graded_bits if source == INPUT else (a.graded_spike_bits if counts_in else 0)
        projection = integer_projection(source, weights.astype(np.int32), weight_exp, sign_mode, a.weight_mantissa_bits, in_bits)
        float_layer = _placeholder_float_layer(name, [projection.float_projection], n_out, reset)
        layers.append(QuantisedLayer(name, (n_out,), (projection,), neurons, 1.0, float_layer))
        source = name
        counts_in = neurons.several_spikes
    float_layers = tuple(layer.float_layer for layer in layers)
    normalised = NormalisedNetwork((sizes[0],), float_layers, layers[-1].name, 1e-3, "test", float_graph(nir.NIRGraph(nodes={}, edges=[])))
    encoding = InputEncoding("graded", 1.0, 1.0, graded_bits) if graded_bits else InputEncoding("spikes")
    return QuantisedNetwork((sizes[0],), encoding, tuple(layers), a, normalised)


def random_input(rng: np.random.Generator, steps: int, batch: int, n: int, graded_bits: int = 0, rate: float | None = None) -> np.ndarray:
    rate = rng.uniform(0.05, 0.9) if rate is None else rate
    active = rng.random((steps, batch, n)) < rate
    if not graded_bits:
        return active.astype(np.int32)
    limit = 2 ** (graded_bits - 1) - 1
    return (active * rng.integers(-limit, limit + 1, (steps, batch, n))).astype(np.int32)
