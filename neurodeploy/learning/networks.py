"""NIR graphs of the networks that learn on the chip, for the examples and the Python API.

``competitive_layer``: input -> Linear -> CubaLIF, with optional all-to-all lateral
inhibition (a recurrent Linear with a negative weight off the diagonal): the excitatory layer
of Diehl & Cook (2015), the feature layer of a STDP convolutional network learned on patches,
and, without inhibition, an R-STDP readout. The node names are "input", "synapses", "layer"
(and "inhibition"), "output".
"""
from __future__ import annotations

import nir
import numpy as np


def competitive_layer(weights: np.ndarray, *, dt: float, tau_mem: float, tau_syn: float, threshold: float,
                      inhibition: float = 0.0, v_leak: float = 0.0) -> nir.NIRGraph:
    """``weights`` (n_out, n_in) are the initial input synapses; ``inhibition`` > 0 adds a
    recurrent projection of -inhibition between every pair of distinct neurons. The neurons
    are NIR CubaLIF with r = tau_mem / dt and w_in = tau_syn / dt (snnTorch's convention: an
    input of w moves u by w and v by w each step), ``dt`` in the graph's metadata."""
    weights = np.asarray(weights, dtype=np.float64)
    n_out, n_in = weights.shape
    ones = np.ones(n_out)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "synapses": nir.Linear(weight=weights),
        "layer": nir.CubaLIF(tau_syn=tau_syn * ones, tau_mem=tau_mem * ones, r=(tau_mem / dt) * ones, v_leak=v_leak * ones,
                             v_threshold=threshold * ones, v_reset=np.zeros(n_out), w_in=(tau_syn / dt) * ones),
        "output": nir.Output(output_type={"output": np.array([n_out])}),
    }
    edges = [("input", "synapses"), ("synapses", "layer"), ("layer", "output")]
    if inhibition:
        nodes["inhibition"] = nir.Linear(weight=-inhibition * (1.0 - np.eye(n_out)))
        edges += [("layer", "inhibition"), ("inhibition", "layer")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt})
