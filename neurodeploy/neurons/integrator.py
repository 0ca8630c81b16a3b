"""NIR's integrate-and-fire neuron (IF) and its non-spiking form (I): no leak.

    dv/dt = r I   ->   v[t] = v[t-1] + dt r I[t]
"""
from __future__ import annotations

import nir

from .base import Lowering, NeuronModel, Subthreshold


class Integrator(NeuronModel):
    """I: IF without spikes (a readout)."""

    name = "I"
    node_class = nir.I
    fields = ("r",)
    shape_field = "r"
    spiking = False

    def subthreshold(self, low: Lowering) -> Subthreshold:
        gain = low.dt * low.param("r")
        return Subthreshold(gain=gain, alpha=low.zeros, beta=low.ones, bias=gain * low.bias_in, current_bias=low.zeros)


class IntegrateAndFire(Integrator):
    name = "IF"
    node_class = nir.IF
    fields = ("r", "v_threshold", "v_reset")
    defaults = {"v_reset": 0.0, "r": 1.0}
    shape_field = "v_threshold"
    spiking = True


I = Integrator()  # noqa: E741 - NIR's name for the node
IF = IntegrateAndFire()
