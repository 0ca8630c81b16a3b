"""An adaptive threshold on NIR's LIF, CubaLIF or IF (the neurodeploy NIR extension
``AdaptiveThreshold``, docs/nir_extension.md), and the snnTorch-style module that converts
to it.

The threshold theta starts at the node's v_threshold, jumps by ``theta_step`` at every spike
and relaxes back with time constant ``tau_theta`` (forward Euler, per neuron): ALIF, the
homeostasis of Diehl & Cook (2015) and of on-chip learning. Optional: a refractory period
``t_ref``, and ``refractory_state``, Lava's ATRLIF: v is never reset, a refractory state r
jumps by twice the threshold at a spike and relaxes with ``tau_r``, and a spike is
v - r >= theta. Run by the extended compartment (``neurons/extended.py``).
"""
from __future__ import annotations

import numpy as np

from ..hardware.fixed_point import Reset
from .nir_extension import REQUIRED, keep_factor, steps_of, with_extension
from .refractory import ExtendedLIFModel


class AdaptiveThresholdModel(ExtendedLIFModel):
    name = "AdaptiveThreshold"
    extension = {"theta_step": REQUIRED, "tau_theta": np.inf, "t_ref": 0.0, "refractory_state": False, "tau_r": np.inf}
    per_neuron = ("theta_step", "tau_theta", "t_ref", "tau_r")
    unbounded = ("tau_theta", "tau_r")
    snntorch_modules = ("neurodeploy.neurons.snntorch_modules:AdaptiveLeaky",)

    def options(self, low, ext):
        options = {
            "kind": self.name,
            "theta_step": ext["theta_step"],
            "theta_keep": keep_factor(low, ext["tau_theta"], "tau_theta"),
            "refractory": steps_of(low, ext["t_ref"], "t_ref"),
        }
        if bool(ext["refractory_state"]):  # ATRLIF: no v reset, r jumps by 2 theta, spikes at v - r >= theta
            options.update(r_jump=2, inclusive=True, reset=Reset.SUBTRACT, reset_amount=np.zeros(low.n), r_keep=keep_factor(low, ext["tau_r"], "tau_r"))
        return options

    def from_snntorch(self, name, module, shape, notes):
        from .lif import LIF
        from .snntorch import SNNTORCH_DT, immediate_reset, per_neuron

        node = immediate_reset(LIF.from_snntorch(name, module, shape, notes), module)
        keep = per_neuron(module.theta_decay, shape)
        tau_theta = np.where(keep >= 1.0, np.inf, SNNTORCH_DT / np.maximum(1.0 - keep, 1e-12))
        return with_extension(node, self.name, theta_step=per_neuron(module.theta_step, shape), tau_theta=tau_theta,
                              t_ref=np.full(shape, float(module.refractory) * SNNTORCH_DT))


AdaptiveThreshold = AdaptiveThresholdModel()
