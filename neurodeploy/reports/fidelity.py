"""How far the fixed-point run is from the float model, per layer.

Loihi delays every synapse by one step, so a layer L hops from the input answers
``lag = L`` steps later in fixed point than in the float reference (whose feed-forward
synapses are instantaneous). Spike trains are compared with that shift: the fixed run's
spikes in steps [lag, T) against the float run's in [0, T - lag) (``comparison_windows``):

    spike_count_correlation  Pearson correlation of per-neuron, per-sample spike counts; null
                             where either run is silent (a silent layer agrees with anything)
    silent                   which runs the spiking layer is silent in: "fixed point", "float",
                             "both", or null when both spike
    rate_error               |fixed spikes - float spikes| / float spikes (whole layer)
    first_differing_step     first float step t at which the fixed raster at t + lag
                             differs (needs both rasters: --record or --verify)
    quantisation_error       what rounding did to the layer's parameters (``quantisation_errors``)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backends.results import RunResult
from ..ir.stages import INPUT, QuantisedNetwork
from ..neurons.cuba import QuantisedNeurons


def layer_lags(network: QuantisedNetwork) -> dict[str, int]:
    """Synaptic hops from the input (shortest path): the fixed-point lag of each layer."""
    lag = {INPUT: 0}
    frontier = [INPUT]
    while frontier:
        nxt = []
        for name in frontier:
            for consumer in network.consumers(name):
                if consumer.name not in lag:
                    lag[consumer.name] = lag[name] + 1
                    nxt.append(consumer.name)
        frontier = nxt
    return lag


def comparison_windows(network: QuantisedNetwork, steps: int) -> tuple[dict, dict]:
    """(fixed-point windows, float windows): the steps compared for each layer."""
    lags = layer_lags(network)
    fixed, exact = {}, {}
    for layer in network.layers:
        lag = min(lags.get(layer.name, 0), steps)
        fixed[layer.name], exact[layer.name] = (lag, steps), (0, steps - lag)
    return fixed, exact


def fidelity(network: QuantisedNetwork, fixed: RunResult, exact: RunResult) -> dict[str, dict[str, Any]]:
    lags = layer_lags(network)
    result = {}
    for layer in network.layers:
        a, b = fixed.layers[layer.name], exact.layers[layer.name]
        a_counts = a.window_counts if a.window_counts is not None else a.spike_counts
        b_counts = b.window_counts if b.window_counts is not None else b.spike_counts
        a_total, b_total = int(a_counts.sum()), int(b_counts.sum())
        silent = silence(layer.neurons.spiking, a_total, b_total)
        entry: dict[str, Any] = {
            "float_spikes": b_total,
            "fixed_spikes": a_total,
            "lag_steps": lags.get(layer.name),
            "silent": silent,
            "spike_count_correlation": _correlation(a_counts, b_counts) if silent is None else None,
            "rate_error": abs(a_total - b_total) / b_total if b_total else (0.0 if a_total == 0 else None),
            "first_differing_step": None,
        }
        if layer.name in (fixed.rasters or {}) and layer.name in (exact.rasters or {}) and lags.get(layer.name) is not None:
            entry["first_differing_step"] = _first_difference(fixed.rasters[layer.name], exact.rasters[layer.name], lags[layer.name])
        entry["quantisation_error"] = quantisation_errors(network, layer)
        result[layer.name] = entry
    return result


def silence(spiking: bool, fixed_spikes: int, float_spikes: int) -> str | None:
    """Which run a spiking layer is silent in ("fixed point", "float", "both"), or None."""
    if not spiking or (fixed_spikes and float_spikes):
        return None
    if not fixed_spikes and not float_spikes:
        return "both"
    return "fixed point" if not fixed_spikes else "float"


def quantisation_errors(network: QuantisedNetwork, layer) -> dict[str, float | None]:
    """Each integer parameter turned back into float units and compared with the float
    model (s_i: the neuron's state scale; e: the projection's weight exponent):

        weights    W_i,j ~ W_int,i,j * 2**(e + 6) / s_i (times the input scale for graded
                   input, which reaches the chip as integers x * scale); ``weight_rms_relative`` =
                   rms(error) / rms(W) over the stored synapses, ``weight_max_relative`` =
                   max|error| / max|W|
        threshold  vth_i * 2**6 / s_i against theta_i: largest relative error
        decays     alpha = 1 - (du + 1) / 4096, beta = 1 - dv / 4096: largest absolute error
        bias       bias_mant * 2**bias_exp / s_i: largest error relative to the threshold
    """
    arith = network.arithmetic
    scale = np.reshape(np.asarray(layer.state_scale, dtype=np.float64), (-1,))
    scale = np.broadcast_to(scale, (layer.n_out,))
    errors, references = [], []
    for p in layer.projections:
        unit = 2.0 ** (p.weight_exp + arith.activation_shift)
        if p.graded_bits:  # graded input arrives in integer units of 1 / input_encoding.scale
            unit *= network.input_encoding.scale
        exact = p.float_projection.weight
        stored = p.weights
        if hasattr(exact, "tocoo"):
            exact = exact.tocsr()
            ints = stored.tocsr() if hasattr(stored, "tocsr") else stored
            coo = exact.tocoo()
            approx = np.asarray(ints[coo.row, coo.col]).reshape(-1) * unit / scale[coo.row]
            errors.append(approx - coo.data)
            references.append(coo.data)
        else:
            approx = np.asarray(stored) * unit / scale[:, None]
            errors.append((approx - exact).reshape(-1))
            references.append(np.asarray(exact).reshape(-1))
    error = np.concatenate(errors) if errors else np.zeros(0)
    reference = np.concatenate(references) if references else np.zeros(0)
    dyn, neu = layer.float_layer.neurons, layer.neurons
    rms = float(np.sqrt(np.mean(reference**2))) if reference.size else 0.0
    result: dict[str, float | None] = {
        "weight_rms_relative": float(np.sqrt(np.mean(error**2))) / rms if rms else None,
        "weight_max_relative": float(np.abs(error).max()) / float(np.abs(reference).max()) if rms else None,
        "threshold_relative": None,
    }
    if not isinstance(neu, QuantisedNeurons):  # a compartment without CUBA's decays and threshold (Izhikevich)
        return {**result, "alpha_abs": None, "beta_abs": None, "bias_relative_to_threshold": None}
    result = {
        **result,
        "alpha_abs": float(np.abs(1.0 - (neu.du + 1.0) / arith.decay_unity - dyn.alpha).max(initial=0.0)),
        "beta_abs": float(np.abs(1.0 - neu.dv / arith.decay_unity - dyn.beta).max(initial=0.0)),
        "bias_relative_to_threshold": None,
    }
    if dyn.spiking:
        theta = dyn.threshold
        approx_theta = neu.vth.astype(np.float64) * 2.0**arith.threshold_shift / scale
        result["threshold_relative"] = float(np.max(np.abs(approx_theta - theta) / np.abs(theta)))
        bias = neu.bias_mant.astype(np.float64) * 2.0 ** neu.bias_exp / scale
        exact_bias = dyn.bias + (dyn.current_bias / np.maximum(1.0 - dyn.alpha, 1.0 / arith.decay_unity))
        result["bias_relative_to_threshold"] = float(np.max(np.abs(bias - exact_bias) / np.abs(theta)))
    return result


def _correlation(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Pearson correlation; where either side is constant, 1 if both are the same nonzero counts,
    else None (all-zero counts are silence, not agreement)."""
    if a is None or b is None:
        return None
    x, y = a.ravel().astype(float), b.ravel().astype(float)
    if x.std() == 0 or y.std() == 0:
        return 1.0 if np.array_equal(x, y) and x.any() else None
    return float(np.corrcoef(x, y)[0, 1])


def _first_difference(fixed: np.ndarray, exact: np.ndarray, lag: int) -> int | None:
    """First float step whose spikes differ from the fixed ones ``lag`` steps later."""
    steps = exact.shape[0] - lag
    if steps <= 0:
        return None
    differs = np.any(fixed[lag:] != exact[:steps], axis=(1, 2))
    hits = np.flatnonzero(differs)
    return int(hits[0]) if hits.size else None
