"""NIR's leaky integrate-and-fire neuron (LIF) and its non-spiking form (LI), and snnTorch's
``Leaky`` / ``RLeaky`` / ``Lapicque``, which convert to LIF.

    tau dv/dt = (v_leak - v) + r I
    v[t] = beta v[t-1] + (dt/tau)(v_leak + r I[t]),   beta = 1 - dt/tau   (forward Euler)

The input gain (dt/tau) r is folded into the weights; v_leak and the synapses' biases
become the per-step bias. snnTorch's ``mem = beta * mem + input`` is LIF with
tau = dt / (1 - beta) and r = tau / dt, so that (dt/tau) r = 1.

snnTorch's ``Lapicque`` updates ``mem = (1 - T/(RC)) mem + (T/C) x`` with its ``time_step``
T, whatever ``beta`` it stores (given beta alone, snnTorch sets R = 1 and
C = T / ln(1/beta), so the decay applied is 1 - ln(1/beta), not beta): LIF with
tau = dt RC / T and r = R.
"""
from __future__ import annotations

import nir
import numpy as np

from .base import Lowering, NeuronModel, Subthreshold
from .snntorch import SNNTORCH_DT, SnntorchResets, membrane, per_neuron, reset_metadata


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


class LeakyIntegrateAndFire(SnntorchResets, LeakyIntegrator):
    name = "LIF"
    node_class = nir.LIF
    fields = ("tau", "r", "v_leak", "v_threshold", "v_reset")
    defaults = {"v_reset": 0.0, "v_leak": 0.0, "r": 1.0}
    shape_field = "v_threshold"
    spiking = True
    snntorch_modules = ("Leaky", "RLeaky", "Lapicque")

    def from_snntorch(self, name, module, shape, notes):
        if type(module).__name__ == "Lapicque":
            return lapicque(name, module, shape, notes)
        tau_mem, common = membrane(name, module, shape, notes)
        return nir.LIF(tau=tau_mem, **common)


def lapicque(name: str, module, shape: tuple[int, ...], notes: list[str]) -> nir.LIF:
    """snnTorch's Lapicque as LIF: tau = dt R C / T, r = R (the module docstring)."""
    resistance, capacitance = per_neuron(module.R, shape), per_neuron(module.C, shape)
    fraction = float(module.time_step) / (resistance * capacitance)
    return nir.LIF(
        tau=SNNTORCH_DT / fraction,
        r=resistance,
        v_leak=np.zeros(shape),
        v_threshold=per_neuron(module.threshold, shape),
        v_reset=np.zeros(shape),
        metadata=reset_metadata(name, module, notes),
    )


LI = LeakyIntegrator()
LIF = LeakyIntegrateAndFire()
