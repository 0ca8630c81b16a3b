"""NIR's current-based LIF neuron (CubaLIF) and its non-spiking form (CubaLI), and snnTorch's
``Synaptic`` / ``RSynaptic``, which convert to CubaLIF.

    tau_syn dI/dt = -I + w_in S,   tau_mem dv/dt = (v_leak - v) + r I
    u := (dt/tau_mem) r I   (the current, in voltage units per step)
    u[t] = alpha u[t-1] + (dt/tau_mem) r (dt/tau_syn) w_in S[t],   alpha = 1 - dt/tau_syn
    v[t] = beta v[t-1] + (dt/tau_mem) v_leak + u[t],              beta  = 1 - dt/tau_mem

The input gain (dt/tau_mem) r (dt/tau_syn) w_in is folded into the weights; an Affine bias
before the node enters the current (``current_bias``).
"""
from __future__ import annotations

import nir
import numpy as np

from .base import Lowering, NeuronModel, Subthreshold
from .snntorch import SNNTORCH_DT, membrane, per_neuron


class CurrentBasedLeakyIntegrator(NeuronModel):
    """CubaLI: CubaLIF without spikes (a readout)."""

    name = "CubaLI"
    node_class = nir.CubaLI
    fields = ("tau_syn", "tau_mem", "r", "v_leak", "w_in")
    defaults = {"v_leak": 0.0, "r": 1.0, "w_in": 1.0}
    shape_field = "tau_mem"
    spiking = False

    def subthreshold(self, low: Lowering) -> Subthreshold:
        k_mem, k_syn = low.step_fraction("tau_mem"), low.step_fraction("tau_syn")
        gain = k_mem * low.param("r") * k_syn * low.param("w_in")
        return Subthreshold(gain=gain, alpha=1.0 - k_syn, beta=1.0 - k_mem, bias=k_mem * low.param("v_leak"), current_bias=gain * low.bias_in)

    def dt_hint(self, node):
        return node.tau_mem, node.r


class CurrentBasedLeakyIntegrateAndFire(CurrentBasedLeakyIntegrator):
    name = "CubaLIF"
    node_class = nir.CubaLIF
    fields = ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")
    defaults = {"v_reset": 0.0, "v_leak": 0.0, "r": 1.0, "w_in": 1.0}
    shape_field = "v_threshold"
    spiking = True
    snntorch_modules = ("Synaptic", "RSynaptic")

    def from_snntorch(self, name, module, shape, notes):
        """snnTorch's ``syn = alpha syn + input`` is tau_syn = dt / (1 - alpha), w_in = tau_syn / dt."""
        tau_mem, common = membrane(name, module, shape, notes)
        alpha = per_neuron(module.alpha, shape).clip(0.0, 1.0)
        tau_syn = SNNTORCH_DT / np.maximum(1.0 - alpha, 1e-9)
        return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, w_in=tau_syn / SNNTORCH_DT, **common)


CubaLI = CurrentBasedLeakyIntegrator()
CubaLIF = CurrentBasedLeakyIntegrateAndFire()
