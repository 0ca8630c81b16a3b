"""Lava processes of the extended LIF compartment (``neurons/extended.py``).

Lava 0.10 has a bit-accurate model for its ``ATRLIF`` (``PyATRLIFModelFixed``), which
computes the compartment exactly where one set of parameters serves the layer and the layer
is ATRLIF itself (``neurons.extended.atrlif_compatible``); it runs those layers. Lava's
``LIFRefractory`` has a floating-point model only (a test holds the compartment to it where
float64 is exact: no leak), and no Lava process has per-neuron
adaptive thresholds, snnTorch's reset guard or a held current, so every other layer runs
``NeurodeployExtendedLIF``. Its process model follows Lava's ``AbstractPyLifModelFixed`` for u
and v (its operations and types, with a constant current added to u) and Lava's
``PyATRLIFModelFixed`` for the threshold and refractory-state decays (per neuron); it is
written independently of the numpy statement in ``neurons/extended.py``, which the tests hold
it to.

``build_process`` makes a layer's process; ``sampled_models`` the models that restore the
initial state at each sample start and record the state (``sampled_models.py``). Import
this module only after ``lava_compat.install()``.
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
from lava.proc.atrlif.models import PyATRLIFModelFixed
from lava.proc.atrlif.process import ATRLIF
from lava.proc.lif.models import AbstractPyLifModelFixed

from neurodeploy.backends.lava_processes.sampled_models import SampledState  # absolute: Lava loads this module by its path

PER_NEURON = ("du", "dv", "vth", "bias_mant", "bias_exp", "reset_sub", "u_bias", "dtheta", "dr", "theta_step", "refractory")


class NeurodeployExtendedLIF(AbstractProcess):
    """Loihi CUBA neurons with an adaptive threshold theta, ATRLIF's refractory state r, a
    refractory counter and per-neuron parameters (``neurons/extended.py``)."""

    def __init__(self, *, shape, u, v, theta, r, count, reset_mode: int, r_jump: int, hold_current: bool, guard: bool, inclusive: bool,
                 name=None, **params):
        super().__init__(shape=shape, reset_mode=int(reset_mode), r_jump=int(r_jump), hold_current=bool(hold_current), guard=bool(guard),
                         inclusive=bool(inclusive), name=name, **{k: v for k, v in params.items() if k not in PER_NEURON})
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        for var, init in (("u", u), ("v", v), ("theta", theta), ("r", r), ("count", count)):
            setattr(self, var, Var(shape=shape, init=init))
        for var in PER_NEURON:
            setattr(self, var, Var(shape=shape, init=params[var]))


@implements(proc=NeurodeployExtendedLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyNeurodeployExtendedLifModel(AbstractPyLifModelFixed):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    du: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    dv: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    reset_sub: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    u_bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    theta: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
    r: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
    count: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    dtheta: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    dr: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    theta_step: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    refractory: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        for key in ("reset_mode", "r_jump", "hold_current", "guard", "inclusive"):
            setattr(self, key, proc_params[key])
        self.theta_0 = 0

    def scale_threshold(self):
        """theta_0 = vth << 6 per neuron, as Lava scales its thresholds."""
        self.theta_0 = np.left_shift(self.vth.astype(np.int32), self.vth_shift)
        self.isthrscaled = True

    def subthr_dynamics(self, activation_in: np.ndarray):
        """``AbstractPyLifModelFixed.subthr_dynamics`` operation for operation, with the constant
        current ``u_bias`` added to the decayed current and the input."""
        decayed_curr = np.int64(self.u) * (self.decay_unity - (self.du + self.ds_offset))
        decayed_curr = np.int32(np.sign(decayed_curr) * np.right_shift(np.abs(decayed_curr), self.decay_shift))
        decayed_curr += np.left_shift(activation_in, self.act_shift)
        decayed_curr += self.u_bias
        wrapped_curr = np.where(decayed_curr > self.max_uv_val, decayed_curr - 2 * self.max_uv_val, decayed_curr)
        wrapped_curr = np.where(wrapped_curr <= -self.max_uv_val, decayed_curr + 2 * self.max_uv_val, wrapped_curr)
        self.u[:] = wrapped_curr
        decayed_volt = np.int64(self.v) * (self.decay_unity - (self.dv + self.dm_offset))
        decayed_volt = np.int32(np.sign(decayed_volt) * np.right_shift(np.abs(decayed_volt), self.decay_shift))
        limit = np.int32(self.max_uv_val) - 1
        self.v[:] = np.clip(decayed_volt + self.u + self.effective_bias, -limit, limit)

    def _decayed(self, x: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """ATRLIF's decay (``PyATRLIFModelFixed.subthr_dynamics``): int64 product, towards zero, int32."""
        product = np.int64(x) * np.int64(self.decay_unity - delta.astype(np.int64))
        return np.int32(np.sign(product) * np.right_shift(np.abs(product), self.decay_shift))

    def run_spk(self):
        a_in_data = self.a_in.recv()
        self.scale_bias()
        if not self.isthrscaled:
            self.scale_threshold()
        held = self.count > 0
        over = (self.v > self.theta) & bool(self.guard)
        v_before = self.v.copy()
        self.subthr_dynamics(activation_in=a_in_data)
        if self.hold_current:
            self.u[held] = 0
        self.v[held] = v_before[held]
        self.count[held] -= 1
        self.theta[:] = self._decayed(self.theta - self.theta_0, self.dtheta) + self.theta_0
        self.r[:] = self._decayed(self.r, self.dr)
        level = self.v - self.r
        limit = (self.theta.astype(np.int64) * (1 + over)).astype(np.int32)
        fired = ~held & ((level >= limit) if self.inclusive else (level > limit))
        if self.reset_mode == 0:
            self.v[fired] = 0
        else:
            self.v[fired] -= self.reset_sub[fired]
        self.r[fired] += (np.int64(self.r_jump) * self.theta[fired]).astype(np.int32)
        self.theta[fired] += self.theta_step[fired]
        self.count[fired] = self.refractory[fired]
        if self.hold_current:
            self.u[fired] = 0
            self.v[fired] = 0
        self.s_out_buff = fired
        self.s_out.send(fired)


class PySampledExtendedLifModel(SampledState, PyNeurodeployExtendedLifModel):
    """``PyNeurodeployExtendedLifModel`` with per-sample restore and recording."""


class PySampledATRLIFModel(SampledState, PyATRLIFModelFixed):
    """Lava's ``PyATRLIFModelFixed`` with per-sample restore and recording."""


def sampled_models() -> dict:
    return {NeurodeployExtendedLIF: PySampledExtendedLifModel, ATRLIF: PySampledATRLIFModel}


def build_process(layer, name: str, **extra):
    """The layer's process: Lava's ``ATRLIF`` where it computes the layer exactly, else
    ``NeurodeployExtendedLIF``. ``extra`` goes into the process parameters (sample_steps,
    record); the initial state and the recorded names' attributes are set here."""
    from neurodeploy.neurons.extended import atrlif_compatible

    neu = layer.neurons
    shape = (layer.n_out,)
    zeros = np.zeros(shape, np.int32)
    theta = (neu.vth.astype(np.int64) << 6).astype(np.int32)
    if atrlif_compatible(neu):
        # Lava's ATRLIF takes its deltas as fractions and its thresholds in units of 64
        unity = 4096.0
        process = ATRLIF(
            shape=shape, delta_i=int(neu.du[0]) / unity, delta_v=int(neu.dv[0]) / unity, delta_theta=int(neu.dtheta[0]) / unity,
            delta_r=int(neu.dr[0]) / unity, theta_0=int(neu.vth[0]), theta_step=int(neu.theta_step[0]) // 64,
            bias_mant=neu.bias_mant.astype(np.int32), bias_exp=neu.bias_exp.astype(np.int32), name=name,
        )
        initial = {"i": zeros, "v": zeros, "theta": theta, "r": zeros}
        aliases = {"u": "i", "spikes": "s", "count": None}  # ATRLIF has no refractory counter: recorded as 0
    else:
        process = NeurodeployExtendedLIF(
            shape=shape, u=zeros, v=neu.v_init.astype(np.int32), theta=theta, r=zeros, count=zeros, reset_mode=0 if int(neu.reset) == 0 else 1,
            r_jump=neu.r_jump, hold_current=neu.hold_current, guard=neu.guard, inclusive=neu.inclusive, name=name,
            **{var: getattr(neu, var).astype(np.int32) for var in PER_NEURON},
        )
        initial = {"u": zeros, "v": neu.v_init.astype(np.int32), "theta": theta, "r": zeros, "count": zeros}
        aliases = {}
    for key, value in {**extra, "initial": initial, "aliases": aliases}.items():
        process.proc_params[key] = value
    return process
