"""NIR's own semantics: the continuous-time equations of the NIR specification, discretised by
forward Euler at dt, one spike per step at v > v_threshold, reset to v_reset (or, where node
metadata says so, by subtraction). Each neuron model's module states its equations
(``neurons/``); this is what neurodeploy reads a file in when no exporter's signature is found.
"""
from __future__ import annotations

from .base import Dialect, Lowered


class NirDialect(Dialect):
    name = "nir"
    framework = "NIR (continuous time, forward Euler)"
    summary = "NIR's own equations in forward Euler at dt, one spike per step (the NIR paper's and snnTorch's exporter's reading)"

    def lower(self, model, low, settings) -> Lowered:
        dynamics, gain = model.lower(low)
        rule = f"NIR's equations in forward Euler at dt = {low.dt:g} s"
        if dynamics.spiking:
            rule += f"; fires at v > v_threshold, once per step; reset {dynamics.reset.name.lower()}"
        return Lowered(dynamics, gain, (rule,))


NIR = NirDialect()
