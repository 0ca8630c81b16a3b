"""Rockpool 3.1.0: exact exponential decays at the dt recovered from r, several spikes per
step at v >= thr, reset by subtraction.

Rockpool's exporter (rockpool/nn/modules/torch/nir.py:235-326) writes LIFTorch -> CubaLIF with
r = tau_mem exp(-dt/tau_mem)/dt and no w_in (NIR's default 1 is read), LIFNeuronTorch -> LIF
and ExpSynTorch -> LI with r = tau exp(-dt/tau)/dt; dt itself is not stored, but r gives it
(``detect.rockpool_dt``). Its simulators (float32 torch), a = exp(-dt/tau_mem),
b = exp(-dt/tau_syn):

    CubaLIF  isyn = b (isyn + i);  v = a v + isyn       (LIFTorch, lif_torch.py:687-701)
    LIF      v = a v + i                                 (LIFNeuronTorch, lif_neuron_torch.py:256-264)
    LI       v = b (v + i), output v                     (ExpSynTorch, exp_syn_torch.py:128-131)
    spikes   n = floor(v / thr) if v >= thr, at most max_spikes_per_dt = 2**16
                                                         (StepPWL, lif_torch.py:43-45)
    reset    v = v - n thr                               (lif_torch.py:709, lif_neuron_torch.py:272)

So a CubaLIF input spike raises the current by b W x, where NIR's Euler step adds
(dt/tau_syn) w_in W x; r and w_in are not read. Neuron biases and LIFTorch's recurrent weights
are not exported (their loss cannot be undone).
"""
from __future__ import annotations

import nir
import numpy as np

from ..errors import InvalidValueError
from ..neurons.base import Reset, Subthreshold
from .base import Dialect, Lowered, positive, rate
from .detect import rockpool_dt

MAX_SPIKES_PER_DT = 2**16  # LIFTorch's and LIFNeuronTorch's default max_spikes_per_dt
SPIKES = "fires at v >= thr, floor(v / thr) spikes per step, at most 2**16 (StepPWL, lif_torch.py:43-45)"
SUBTRACTS = "reset by subtracting thr per spike (lif_torch.py:709)"


class RockpoolDialect(Dialect):
    name = "rockpool"
    framework = "Rockpool 3.1.0"
    summary = "Rockpool: exact decays exp(-dt/tau) at the dt that r encodes, several spikes per step at v >= thr, subtractive reset"
    writes = ("CubaLIF", "LIF", "LI")

    def time_step(self, graph, dt):
        if dt is not None:
            return dt, "command line (--dt)"
        found = {rockpool_dt(node) for node in graph.nodes.values() if isinstance(node, (nir.LIF, nir.CubaLIF, nir.LI))}
        if None in found or len(found) != 1:
            raise InvalidValueError(
                "rockpool dialect: r is not tau exp(-dt/tau)/dt for one dt in every neuron node, so the file does not say its "
                "time step: pass --dt"
            )
        return found.pop(), "recovered from r = tau exp(-dt/tau) / dt (Rockpool's exporter, nir.py:246-296)"

    def lower(self, model, low, settings) -> Lowered:
        self.check_node(model, low)
        node = low.node
        if isinstance(node, nir.CubaLIF):
            a = rate(low, "exp(-dt/tau_mem)", np.exp(-low.dt / positive(low, "tau_mem")))
            b = rate(low, "exp(-dt/tau_syn)", np.exp(-low.dt / positive(low, "tau_syn")))
            sub = Subthreshold(gain=b, alpha=b, beta=a, bias=low.zeros, current_bias=b * low.bias_in)
            update = "LIFTorch: isyn = b (isyn + input), v = a v + isyn, a = exp(-dt/tau_mem), b = exp(-dt/tau_syn) (lif_torch.py:687-701)"
        else:
            decay = rate(low, "exp(-dt/tau)", np.exp(-low.dt / positive(low, "tau")))
            if isinstance(node, nir.LI):
                sub = Subthreshold(gain=decay, alpha=low.zeros, beta=decay, bias=decay * low.bias_in, current_bias=low.zeros)
                rule = "ExpSynTorch: v = b (v + input), b = exp(-dt/tau); its output is v (exp_syn_torch.py:128-131)"
                return Lowered(model.dynamics(low, sub, Reset.NONE), sub.gain, (rule,))
            sub = Subthreshold(gain=low.ones, alpha=low.zeros, beta=decay, bias=low.bias_in, current_bias=low.zeros)
            update = "LIFNeuronTorch: v = a v + input, a = exp(-dt/tau) (lif_neuron_torch.py:256-264)"
        dynamics = model.dynamics(low, sub, Reset.SUBTRACT, inclusive=True, max_spikes=MAX_SPIKES_PER_DT)
        return Lowered(dynamics, sub.gain, (f"{update}, dt = {low.dt:g} s", SPIKES, SUBTRACTS))


ROCKPOOL = RockpoolDialect()
