"""neurodeploy's own Lava process for neuron behaviour Lava's ``LIF`` lacks.

Lava's ``LIF`` holds du, dv and vth as one value per process, fires at v > vth << 6, once
per step, and always resets v to 0. ``NeurodeployLIF`` adds per-neuron du/dv/vth, reset by
subtraction, non-spiking leaky integrators (LI readouts), an inclusive threshold
(v >= vth << 6, i.e. v > (vth << 6) - 1), several spikes per step sent as graded spikes
whose payload is the count (n = min(max_spikes, 1 + (v - T) // reset_sub), v -= n reset_sub;
the connections it feeds multiply their weights by the payload) and a membrane floor
(v = max(v, v_floor) after the reset). Its process model *inherits* the arithmetic of Lava's
``AbstractPyLifModelFixed`` (``subthr_dynamics``, ``scale_bias``, ``run_spk``) and only
overrides threshold scaling, spiking and reset; so it is bit-accurate by construction
wherever it does what Lava's LIF does. Import this module only after
``lava_compat.install()``.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.models import AbstractPyLifModelFixed

from neurodeploy.hardware.fixed_point import Reset  # absolute: Lava loads this module by its path


class NeurodeployLIF(AbstractProcess):
    """Loihi CUBA neurons with per-neuron parameters; ``reset`` is a ``Reset`` (or its name)."""

    def __init__(
        self, *, shape, u, v, du, dv, vth, bias_mant, bias_exp, reset_sub, reset: Reset | str, inclusive: bool = False,
        max_spikes: int = 1, v_floor=None, name=None, **kwargs,
    ):
        super().__init__(
            shape=shape, u=u, v=v, reset_mode=int(Reset.of(reset)), inclusive=bool(inclusive), max_spikes=int(max_spikes),
            floored=v_floor is not None, name=name, **kwargs,
        )
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.u = Var(shape=shape, init=u)
        self.v = Var(shape=shape, init=v)
        self.du = Var(shape=shape, init=du)
        self.dv = Var(shape=shape, init=dv)
        self.vth = Var(shape=shape, init=vth)
        self.bias_mant = Var(shape=shape, init=bias_mant)
        self.bias_exp = Var(shape=shape, init=bias_exp)
        self.reset_sub = Var(shape=shape, init=reset_sub)
        self.v_floor = Var(shape=shape, init=0 if v_floor is None else v_floor)


@implements(proc=NeurodeployLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyNeurodeployLifModel(AbstractPyLifModelFixed):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    du: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    dv: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    reset_sub: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v_floor: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.reset_mode = proc_params["reset_mode"]
        self.inclusive = proc_params.get("inclusive", False)
        self.max_spikes = proc_params.get("max_spikes", 1)
        self.floored = proc_params.get("floored", False)
        self.effective_vth = 0

    def scale_threshold(self):
        """vth << 6 per neuron, as Lava's PyLifModelBitAcc does for its single vth; one less
        for an inclusive threshold, so that ``v > effective_vth`` is v >= vth << 6."""
        self.effective_vth = np.left_shift(self.vth, self.vth_shift) - (1 if self.inclusive else 0)
        self.isthrscaled = True

    def spiking_activation(self):
        """Spikes (bool), or their counts (int32) where a neuron may fire several per step."""
        if self.reset_mode == Reset.NONE:
            return np.zeros(self.v.shape, dtype=bool)
        fired = self.v > self.effective_vth
        if self.max_spikes == 1:
            return fired
        over = self.v.astype(np.int64) - self.effective_vth - 1
        counts = np.minimum(1 + over // np.maximum(self.reset_sub, 1), self.max_spikes)
        return np.where(fired, counts, 0).astype(np.int32)

    def reset_voltage(self, spike_vector: np.ndarray):
        if self.max_spikes > 1:
            self.v[:] = self.v - spike_vector * self.reset_sub
        elif self.reset_mode == Reset.ZERO:
            self.v[spike_vector] = 0
        elif self.reset_mode == Reset.SUBTRACT:
            self.v[spike_vector] -= self.reset_sub[spike_vector]
        if self.floored:
            self.v[:] = np.maximum(self.v, self.v_floor)
