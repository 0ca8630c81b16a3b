"""lava-dl (from source only: lava-dl is not installed here and its NIR writer is unreleased).

lava-dl writes NIR only through ``netx.nir_lava.convert_to_nir`` in unmerged PR #218
(github:lava-nc/lava-dl refs/pull/218/head @ 7fcf390, src/lava/lib/dl/netx/nir_lava.py:35-55):
every CUBA layer becomes an Affine or Linear of netx's integer weights and CubaLIF(tau_syn =
1 / iDecay, tau_mem = 1 / vDecay, r = 1, v_leak = 0, v_threshold = vThMant, w_in = tau_syn),
iDecay and vDecay being 12-bit decays (decay = d / 4096). Its simulator, slayer's CUBA neuron
(slayer/neuron/cuba.py:356-374, dynamics/leaky_integrator.py:210-231), runs

    u = (1 - iDecay / 4096) u + i;  v = (1 - vDecay / 4096) v + u
    s = v >= thr;  v = 0 where s                  (one spike per step)

w_in and r are not read. slayer rounds its decays towards zero in integers; this float reading
does not, and Lava's own LIF process compares v > vth.
"""
from __future__ import annotations

from ..neurons.base import Reset, Subthreshold
from .base import Dialect, Lowered, positive, rate


class LavaDlDialect(Dialect):
    name = "lava-dl"
    framework = "lava-dl (netx -> NIR, PR #218; from source)"
    summary = "lava-dl netx: CUBA decays 1 - 1/(4096 tau), input gain 1, v >= thr, reset to 0 (from source, not run)"
    writes = ("CubaLIF",)

    def time_step(self, graph, dt):
        return (dt if dt is not None else 1e-4), "not used: lava-dl's decays are per step (tau = 1 / decay)"

    def lower(self, model, low, settings) -> Lowered:
        self.check_node(model, low)
        du = rate(low, "1/(4096 tau_syn)", 1.0 / (4096.0 * positive(low, "tau_syn")))
        dv = rate(low, "1/(4096 tau_mem)", 1.0 / (4096.0 * positive(low, "tau_mem")))
        sub = Subthreshold(gain=low.ones, alpha=1.0 - du, beta=1.0 - dv, bias=low.zeros, current_bias=low.bias_in)
        dynamics = model.dynamics(low, sub, Reset.ZERO, inclusive=True)
        rules = ("slayer CUBA: u = (1 - iDecay/4096) u + input, v = (1 - vDecay/4096) v + u, iDecay = 1/tau_syn, vDecay = 1/tau_mem "
                 "(slayer/neuron/cuba.py:356-374)", "fires at v >= thr, once per step; reset to 0")
        return Lowered(dynamics, sub.gain, rules)


LAVA_DL = LavaDlDialect()
