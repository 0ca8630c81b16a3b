"""NIR's current-based LIF neuron (CubaLIF) and its non-spiking form (CubaLI), and snnTorch's
``Synaptic`` / ``RSynaptic``, which convert to CubaLIF.

    tau_syn dI/dt = -I + w_in S,   tau_mem dv/dt = (v_leak - v) + r I
    u := (dt/tau_mem) r I   (the current, in voltage units per step)
    u[t] = alpha u[t-1] + (dt/tau_mem) r (dt/tau_syn) w_in S[t],   alpha = 1 - dt/tau_syn
    v[t] = beta v[t-1] + (dt/tau_mem) v_leak + u[t],              beta  = 1 - dt/tau_mem

The input gain (dt/tau_mem) r (dt/tau_syn) w_in is folded into the weights; an Affine bias
before the node enters the current (``current_bias``).

snnTorch's ``Alpha`` (E = alpha E + x, I = beta I - x, mem = tau (E + I) with
tau = ln(alpha) / (ln(beta) - ln(alpha)) + 1) is this pair exactly: x cancels in E + I, so
mem[t] = tau (alpha E[t-1] + beta I[t-1]), and w = (alpha E + beta I) / (alpha - beta) obeys
w[t] = beta w[t-1] + E[t]. So u = E (decay alpha), v = w (decay beta), the threshold on v is
thr / (tau (alpha - beta)), and the spikes leave one step later than v crosses it (the
frontend adds a NIR Delay of one step). Its zero reset (E, I and mem all 0 on the step after
a spike, that step's input dropped) holds u and v at 0 for two steps (the extension
``Refractory`` with hold_current); its subtractive reset (E -= thr, I = 0, mem += the previous
I) has no form in u and v and is refused.
"""
from __future__ import annotations

import nir
import numpy as np

from ..errors import UnsupportedModelError
from .base import Lowering, NeuronModel, Subthreshold
from .snntorch import SNNTORCH_DT, SnntorchResets, membrane, per_neuron


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


class CurrentBasedLeakyIntegrateAndFire(SnntorchResets, CurrentBasedLeakyIntegrator):
    name = "CubaLIF"
    node_class = nir.CubaLIF
    fields = ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")
    defaults = {"v_reset": 0.0, "v_leak": 0.0, "r": 1.0, "w_in": 1.0}
    shape_field = "v_threshold"
    spiking = True
    snntorch_modules = ("Synaptic", "RSynaptic", "Alpha")

    def from_snntorch(self, name, module, shape, notes):
        """snnTorch's ``syn = alpha syn + input`` is tau_syn = dt / (1 - alpha), w_in = tau_syn / dt."""
        tau_mem, common = membrane(name, module, shape, notes)
        alpha = per_neuron(module.alpha, shape).clip(0.0, 1.0)
        tau_syn = SNNTORCH_DT / np.maximum(1.0 - alpha, 1e-9)
        if type(module).__name__ == "Alpha":
            common = alpha_threshold_and_reset(name, module, alpha, shape, common)
        return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, w_in=tau_syn / SNNTORCH_DT, **common)

    def snntorch_output_delay(self, module) -> int:
        return 1 if type(module).__name__ == "Alpha" else 0


def alpha_threshold_and_reset(name: str, module, alpha: np.ndarray, shape, common: dict) -> dict:
    """Alpha's threshold on v, thr / (tau (alpha - beta)), and its reset (the module docstring)."""
    from .nir_extension import KEY, VERSION

    beta = per_neuron(module.beta, shape).clip(0.0, 1.0)
    if np.any(alpha <= beta) or np.any(beta <= 0) or np.any(alpha >= 1):
        raise UnsupportedModelError(f"module {name!r} (Alpha): needs 1 > alpha > beta > 0")
    tau = np.log(alpha) / (np.log(beta) - np.log(alpha)) + 1.0
    metadata = dict(common["metadata"])
    if module.reset_mechanism == "subtract":
        raise UnsupportedModelError(
            f"module {name!r} (Alpha): snnTorch's subtractive Alpha reset (E -= thr, I = 0, mem += the previous I) has no form "
            "in Loihi's u and v; use reset_mechanism='zero' (the default) or 'none'"
        )
    if module.reset_mechanism == "zero":
        metadata[KEY] = {"version": VERSION, "neuron": "Refractory", "t_ref": 2 * SNNTORCH_DT, "hold_current": True}
    return {**common, "v_threshold": common["v_threshold"] / (tau * (alpha - beta)), "metadata": metadata}


CubaLI = CurrentBasedLeakyIntegrator()
CubaLIF = CurrentBasedLeakyIntegrateAndFire()
