"""neurodeploy's own Lava process for neuron behaviour Lava's ``LIF`` lacks.

Lava's ``LIF`` holds du, dv and vth as one value per process and always resets v to 0.
``NeurodeployLIF`` adds per-neuron du/dv/vth, reset by subtraction, and non-spiking
leaky integrators (LI readouts). Its process model *inherits* the arithmetic of Lava's
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

    def __init__(self, *, shape, u, v, du, dv, vth, bias_mant, bias_exp, reset_sub, reset: Reset | str, name=None, **kwargs):
        super().__init__(shape=shape, u=u, v=v, reset_mode=int(Reset.of(reset)), name=name, **kwargs)
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


@implements(proc=NeurodeployLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyNeurodeployLifModel(AbstractPyLifModelFixed):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    du: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    dv: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    reset_sub: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.reset_mode = proc_params["reset_mode"]
        self.effective_vth = 0

    def scale_threshold(self):
        """vth << 6 per neuron, as Lava's PyLifModelBitAcc does for its single vth."""
        self.effective_vth = np.left_shift(self.vth, self.vth_shift)
        self.isthrscaled = True

    def spiking_activation(self):
        if self.reset_mode == Reset.NONE:
            return np.zeros(self.v.shape, dtype=bool)
        return self.v > self.effective_vth

    def reset_voltage(self, spike_vector: np.ndarray):
        if self.reset_mode == Reset.ZERO:
            self.v[spike_vector] = 0
        elif self.reset_mode == Reset.SUBTRACT:
            self.v[spike_vector] -= self.reset_sub[spike_vector]
