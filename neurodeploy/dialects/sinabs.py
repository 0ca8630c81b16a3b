"""Sinabs 3.1.3: one update per time step without dt, several spikes per step, reset by
subtraction, and a membrane floor.

Sinabs' exporter (sinabs/nir.py:156-230) writes IAF -> IF(r = 1, v_threshold),
LIF -> LIF(tau = tau_mem in steps, r = 1, v_leak = 0), ExpLeak -> LI; its importer
(sinabs/nir.py:68-108) builds IAFSqueeze(min_v_mem = -v_threshold), LIFSqueeze(norm_input=False,
min_v_mem=None) and ExpLeakSqueeze, which ``lif_forward_single``
(sinabs/layers/functional/lif.py:6-45) steps, no dt anywhere (r, v_reset, v_leak unread):

    IF    v = v + i                                   (IAF: alpha_mem = 1)
    LIF   v = exp(-1/tau) v + i                        norm_input=False (nir.py:107)
          v = a v + (1 - a) i,  a = exp(-1/tau)        norm_input=True (sinabs.layers.LIF's default)
    LI    v = exp(-1/tau) v + i, output v              (ExpLeak)
    IF, LIF
          n = trunc(v / thr) if v > 0 else 0           MultiSpike (activation/spike_generation.py:39-41):
                                                       fires at v >= thr, n spikes, no cap
          v = v - n thr                                MembraneSubtract (activation/reset_mechanism.py:45)
    IF    v = max(v, min_v_mem)                        after the reset (functional/lif.py:40-44);
                                                       the importer's min_v_mem = -v_threshold (nir.py:88)

The file holds neither min_v_mem nor norm_input: ``--min-v-mem`` and ``--norm-input``, else the
importer's choices, stated as assumptions. Time constants are in steps, so dt plays no part.
"""
from __future__ import annotations

import nir
import numpy as np

from ..errors import UnsupportedModelError
from ..neurons.base import Reset, Subthreshold
from .base import Dialect, DialectOptions, Lowered, positive, rate

UNLIMITED = 2**31 - 1  # MultiSpike has no cap (MaxSpike would have one; not in the file)
SPIKES = "fires at v >= thr, floor(v / thr) spikes per step (MultiSpike, activation/spike_generation.py:39-41)"
SUBTRACTS = "reset by subtracting thr per spike (MembraneSubtract, activation/reset_mechanism.py:45)"


class SinabsDialect(Dialect):
    name = "sinabs"
    framework = "Sinabs 3.1.3"
    summary = "Sinabs: one update per step without dt (tau in steps), several spikes per step at v >= thr, subtractive reset, IF floor -thr"
    writes = ("IF", "LIF", "LI")

    def settings(self, graph: nir.NIRGraph, options: DialectOptions):
        kinds = {type(node).__name__ for node in graph.nodes.values()}
        settings, assumptions = {}, []
        if "IF" in kinds:
            settings["min_v_mem"] = options.min_v_mem if options.min_v_mem is not None else "threshold"
            if options.min_v_mem is None:
                assumptions.append(
                    "Sinabs IF membrane floor assumed at -threshold (its importer's min_v_mem, sinabs/nir.py:88): the file does not store "
                    "min_v_mem; pass --min-v-mem threshold|none|VALUE"
                )
        if "LIF" in kinds:
            settings["norm_input"] = bool(options.norm_input)
            if options.norm_input is None:
                assumptions.append(
                    "Sinabs LIF norm_input assumed False (its importer's, sinabs/nir.py:107; sinabs.layers.LIF defaults to True): "
                    "the file does not store it; pass --norm-input yes|no"
                )
        return settings, assumptions

    def time_step(self, graph, dt):
        return (dt if dt is not None else 1e-4), "not used: Sinabs updates once per step and writes time constants in steps"

    def lower(self, model, low, settings) -> Lowered:
        self.check_node(model, low)
        if isinstance(low.node, (nir.LIF, nir.LI)) and np.any(low.param("v_leak") != 0):
            raise UnsupportedModelError(f"node {low.name!r}: v_leak != 0, which Sinabs' importer rejects (sinabs/nir.py:70-76, 95-98)")
        if isinstance(low.node, nir.IF):
            sub = Subthreshold(gain=low.ones, alpha=low.zeros, beta=low.ones, bias=low.bias_in, current_bias=low.zeros)
            floor, floor_rule = _floor(low, settings["min_v_mem"])
            dynamics = model.dynamics(low, sub, Reset.SUBTRACT, inclusive=True, max_spikes=UNLIMITED, floor=floor)
            rules = ("IAF: v += input once per step, no dt (sinabs/layers/functional/lif.py:19-30)", SPIKES, SUBTRACTS, floor_rule)
            return Lowered(dynamics, sub.gain, rules)
        decay = rate(low, "exp(-1/tau)", np.exp(-1.0 / positive(low, "tau")))
        if isinstance(low.node, nir.LI):
            sub = Subthreshold(gain=low.ones, alpha=low.zeros, beta=decay, bias=low.bias_in, current_bias=low.zeros)
            rule = "ExpLeak: v = exp(-1/tau) v + input, tau in steps; its output is v (sinabs/nir.py:68-85)"
            return Lowered(model.dynamics(low, sub, Reset.NONE), sub.gain, (rule,))
        norm = bool(settings.get("norm_input"))
        gain = 1.0 - decay if norm else low.ones
        sub = Subthreshold(gain=gain, alpha=low.zeros, beta=decay, bias=gain * low.bias_in, current_bias=low.zeros)
        dynamics = model.dynamics(low, sub, Reset.SUBTRACT, inclusive=True, max_spikes=UNLIMITED)
        update = "v = a v + (1 - a) input (norm_input)" if norm else "v = a v + input (norm_input=False, sinabs/nir.py:107)"
        rules = (f"LIF: {update}, a = exp(-1/tau), tau in steps (sinabs/layers/functional/lif.py:19-30)", SPIKES, SUBTRACTS,
                 "no membrane floor (min_v_mem=None)")
        return Lowered(dynamics, sub.gain, rules)


def _floor(low, setting) -> tuple[np.ndarray | None, str]:
    if setting == "none":
        return None, "no membrane floor (min_v_mem=None)"
    if setting == "threshold":
        return -low.param("v_threshold"), "v floored at -thr after the reset (min_v_mem, sinabs/layers/functional/lif.py:40-44; importer nir.py:88)"
    return np.full(low.n, float(setting)), f"v floored at {float(setting):g} after the reset (min_v_mem, sinabs/layers/functional/lif.py:40-44)"


SINABS = SinabsDialect()
