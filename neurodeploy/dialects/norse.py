"""Norse 1.1.0: forward Euler at the module's dt, with tau written as dt / tau_inv, the input
straight into the synaptic current, v starting at v_leak.

Norse's exporter (norse/torch/utils/export_nir.py:14-75) writes, with the export's dt (default
1e-3 s, not stored), LIFCell -> CubaLIF(tau_mem = dt / tau_mem_inv, tau_syn = dt / tau_syn_inv,
r = 1), LIFBoxCell -> LIF(tau = dt / tau_mem_inv, r = 1), LIBoxCell -> LI, IAFCell -> IF(r = 1):
a tau of dt x the true time constant (1e-5 s for 10 ms). Older Norse wrote tau = 1 / tau_inv
(the NIR paper's lif_norse.nir); a file whose taus are all below 1e-4 s is read as Norse 1.1's.
With k = dt tau_mem_inv, ks = dt tau_syn_inv (functional/, dt the module's):

    CubaLIF  j = i_state + i                      (functional/lif.py:335: the input jumps the current by W x)
             v = v + k ((v_leak - v) + j)         (lif.py:337-338)
             i_state = j - ks j                   (lif.py:340-341)
    LIF      v = v + k (i + v_leak - v)           (functional/lif_box.py:95-96)
    LI       the same, output v                   (functional/leaky_integrator_box.py:89-90)
    IF       v = v + i                            (functional/iaf.py:93: no dt, r unread)
    spikes   z = v > thr, one per step            (heaviside = torch.gt, functional/heaviside.py:20)
    reset    v = v_reset where z                  (lif.py:345, lif_box.py:101, iaf.py:97)
    start    v = v_leak (IF: v_reset), current 0  (module/lif.py:92, lif_box.py:47, iaf.py:42)

dt comes from ``--dt``, else Norse's default 1e-3 s, stated as an assumption. A LIFBoxCell with
reset_method = reset_subtract (functional/reset.py:13-25) is not visible in the file either:
``--reset subtract`` reads its LIF nodes so.
"""
from __future__ import annotations

import nir
import numpy as np

from ..neurons.base import Reset, Subthreshold
from .base import Dialect, DialectOptions, Lowered, positive, rate

DEFAULT_DT = 1e-3  # Norse's modules' and exporter's default dt
SCALED_BELOW = 1e-4  # Norse 1.1 writes tau = dt / tau_inv: below this for any tau_inv >= 10 / s
SPIKES = "fires at v > thr, once per step (functional/heaviside.py:20)"


class NorseDialect(Dialect):
    name = "norse"
    framework = "Norse 1.1.0"
    summary = "Norse: Euler at its dt (default 1e-3 s) with tau = dt / tau_inv, input straight into the current, v from v_leak, v > thr"
    writes = ("CubaLIF", "LIF", "LI", "IF")

    def settings(self, graph: nir.NIRGraph, options: DialectOptions):
        taus = [np.asarray(node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau, float).reshape(-1)
                for node in graph.nodes.values() if isinstance(node, (nir.CubaLIF, nir.LIF, nir.LI))]
        scaled = bool(taus) and all(np.all(t < SCALED_BELOW) for t in taus)
        settings = {"tau_written_as": "dt / tau_inv (Norse 1.1)" if scaled else "1 / tau_inv (Norse before 1.1)"}
        assumptions = []
        if any(isinstance(node, nir.LIF) for node in graph.nodes.values()):
            settings["reset"] = options.reset or "zero"
            if options.reset is None:
                assumptions.append("Norse LIF reset assumed to v_reset (LIFBoxParameters' default reset_value): the file does not store "
                                   "reset_method; pass --reset subtract for reset_subtract")
        return settings, assumptions

    def time_step(self, graph, dt):
        if dt is not None:
            return dt, "command line (--dt)"
        return DEFAULT_DT, "assumed: Norse's default dt (the file does not store it); pass --dt"

    def lower(self, model, low, settings) -> Lowered:
        self.check_node(model, low)
        node = low.node
        scaled = settings.get("tau_written_as", "").startswith("dt")
        if isinstance(node, nir.IF):
            sub = Subthreshold(gain=low.ones, alpha=low.zeros, beta=low.ones, bias=low.bias_in, current_bias=low.zeros)
            dynamics = model.dynamics(low, sub, Reset.ZERO, v_initial=low.param("v_reset"))
            return Lowered(dynamics, sub.gain, ("IAFCell: v += input once per step, no dt (functional/iaf.py:93)", SPIKES, "reset to v_reset"))
        v_leak = low.param("v_leak")
        if isinstance(node, nir.CubaLIF):
            k = self._fraction(low, "tau_mem", scaled)
            ks = self._fraction(low, "tau_syn", scaled)
            sub = Subthreshold(gain=k, alpha=1.0 - ks, beta=1.0 - k, bias=k * v_leak, current_bias=k * low.bias_in)
            rule = "LIFCell: j = i_state + input, v += k (v_leak - v + j), i_state = (1 - ks) j (functional/lif.py:334-341)"
            reset = Reset.ZERO
        else:
            k = self._fraction(low, "tau", scaled)
            sub = Subthreshold(gain=k, alpha=low.zeros, beta=1.0 - k, bias=k * (v_leak + low.bias_in), current_bias=low.zeros)
            if isinstance(node, nir.LI):
                rule = "LIBoxCell: v += k (input + v_leak - v), output v (functional/leaky_integrator_box.py:89-90)"
                rules = (f"{rule}; k = {self._k_text(scaled, low.dt)}", "v starts at v_leak")
                return Lowered(model.dynamics(low, sub, Reset.NONE, v_initial=v_leak), sub.gain, rules)
            rule = "LIFBoxCell: v += k (input + v_leak - v) (functional/lif_box.py:95-96)"
            reset = Reset.SUBTRACT if settings.get("reset") == "subtract" else Reset.ZERO
        dynamics = model.dynamics(low, sub, reset, v_initial=v_leak)
        resets = "reset by subtracting thr (reset_subtract)" if reset is Reset.SUBTRACT else "reset to v_reset (functional/lif.py:345)"
        return Lowered(dynamics, sub.gain, (f"{rule}; k = {self._k_text(scaled, low.dt)}", SPIKES, resets, "v starts at v_leak (module/lif.py:92)"))

    @staticmethod
    def _fraction(low, field_name: str, scaled: bool) -> np.ndarray:
        """dt tau_inv: tau_inv = dt / tau for Norse 1.1's files, 1 / tau for older ones."""
        tau = positive(low, field_name)
        tau_inv = low.dt / tau if scaled else 1.0 / tau
        return rate(low, f"dt / {field_name} (Norse's Euler step)", low.dt * tau_inv)

    @staticmethod
    def _k_text(scaled: bool, dt: float) -> str:
        return f"dt tau_inv with tau_inv = dt / tau (tau written as dt / tau_inv), dt = {dt:g} s" if scaled else f"dt / tau, dt = {dt:g} s"


NORSE = NorseDialect()
