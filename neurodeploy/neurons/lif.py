"""NIR's leaky integrate-and-fire neuron (LIF) and its non-spiking form (LI), and snnTorch's
``Leaky`` / ``RLeaky``, which convert to LIF.

    tau dv/dt = (v_leak - v) + r I
    v[t] = beta v[t-1] + (dt/tau)(v_leak + r I[t]),   beta = 1 - dt/tau   (forward Euler)

The input gain (dt/tau) r is folded into the weights; v_leak and the synapses' biases
become the per-step bias. snnTorch's ``mem = beta * mem + input`` is LIF with
tau = dt / (1 - beta) and r = tau / dt, so that (dt/tau) r = 1.
"""
from __future__ import annotations

import nir

from .base import Lowering, NeuronModel, Subthreshold
from .snntorch import membrane


class LeakyIntegrator(NeuronModel):
    """LI: LIF without spikes (a readout)."""

    name = "LI"
    node_class = nir.LI
    fields = ("tau", "r", "v_leak")
    defaults = {"v_leak": 0.0, "r": 1.0}
    shape_field = "tau"
    spiking = False

    def subthreshold(self, low: Lowering) -> Subthreshold:
        k = low.step_fraction("tau")
        gain = k * low.param("r")
        return Subthreshold(gain=gain, alpha=low.zeros, beta=1.0 - k, bias=k * low.param("v_leak") + gain * low.bias_in, current_bias=low.zeros)

    def dt_hint(self, node):
        return node.tau, node.r


class LeakyIntegrateAndFire(LeakyIntegrator):
    name = "LIF"
    node_class = nir.LIF
    fields = ("tau", "r", "v_leak", "v_threshold", "v_reset")
    defaults = {"v_reset": 0.0, "v_leak": 0.0, "r": 1.0}
    shape_field = "v_threshold"
    spiking = True
    snntorch_modules = ("Leaky", "RLeaky")

    def from_snntorch(self, name, module, shape, notes):
        tau_mem, common = membrane(name, module, shape, notes)
        return nir.LIF(tau=tau_mem, **common)


LI = LeakyIntegrator()
LIF = LeakyIntegrateAndFire()
