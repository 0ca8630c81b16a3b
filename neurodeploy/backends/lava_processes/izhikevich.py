"""A Lava process for the Izhikevich compartment (``neurons/izhikevich.py``): Lava 0.10 has no
Izhikevich model (``proc/rf_iz`` is the resonate-and-fire neuron with Izhikevich's reset).

``NeurodeployIzhikevich`` holds v (Q8 mV) and u (Q12) and the per-neuron a, b (Q16), c,
v_peak (Q8), d (Q12) and bias (Q8 mV/ms); its model computes the fixed-point form of
``neurons/izhikevich.py`` in Lava's style, written independently of that module (the tests
hold the two to each other). Import this module only after ``lava_compat.install()``.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from neurodeploy.backends.lava_processes.sampled_models import SampledState  # absolute: Lava loads this module by its path

PER_NEURON = ("a", "b", "c", "d", "v_peak", "bias")


class NeurodeployIzhikevich(AbstractProcess):
    """Izhikevich neurons in fixed point; ``substeps_log2`` Euler substeps of 2**-step_shift ms per step."""

    def __init__(self, *, shape, v, u, substeps_log2: int, step_shift: int, name=None, **params):
        super().__init__(shape=shape, substeps_log2=int(substeps_log2), step_shift=int(step_shift), name=name)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.v = Var(shape=shape, init=v)
        self.u = Var(shape=shape, init=u)
        for var in PER_NEURON:
            setattr(self, var, Var(shape=shape, init=params[var]))


@implements(proc=NeurodeployIzhikevich, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyNeurodeployIzhikevichModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    a: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    b: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=18)
    c: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    d: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v_peak: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    limit = (1 << 23) - 1
    square_k = 2621  # round(0.04 * 2**16)

    @staticmethod
    def _shift_round(x, s):
        return x if s == 0 else (x + (1 << (s - 1))) >> s

    def run_spk(self):
        substeps, shift = 1 << self.proc_params["substeps_log2"], self.proc_params["step_shift"]
        current = np.int64(self.bias) + (np.int64(self.a_in.recv()) << 6)
        current = np.clip(current, -self.limit, self.limit)
        v, u = np.int64(self.v), np.int64(self.u)
        a, b, c, d = (np.int64(x) for x in (self.a, self.b, self.c, self.d))
        spiked = np.zeros(v.shape, dtype=bool)
        for _ in range(substeps):
            square = self._shift_round(self._shift_round(v * v, 8) * self.square_k, 16)
            dv = square + 5 * v + (140 << 8) - self._shift_round(u, 4) + current
            du = self._shift_round(a * (self._shift_round(b * v, 12) - u), 16)
            v = np.clip(v + self._shift_round(dv, shift), -self.limit, self.limit)
            u = np.clip(u + self._shift_round(du, shift), -self.limit, self.limit)
            fired = v >= self.v_peak
            v[fired] = c[fired]
            u[fired] = np.clip(u[fired] + d[fired], -self.limit, self.limit)
            spiked |= fired
        self.v[:] = v
        self.u[:] = u
        self.s_out_buff = spiked
        self.s_out.send(spiked)


class PySampledIzhikevichModel(SampledState, PyNeurodeployIzhikevichModel):
    """``PyNeurodeployIzhikevichModel`` with per-sample restore and recording."""


def sampled_models() -> dict:
    return {NeurodeployIzhikevich: PySampledIzhikevichModel}


def build_process(layer, name: str, **extra):
    neu = layer.neurons
    shape = (layer.n_out,)
    initial = {"v": neu.v_init.astype(np.int32), "u": neu.u_init.astype(np.int32)}
    process = NeurodeployIzhikevich(
        shape=shape, v=initial["v"], u=initial["u"], substeps_log2=neu.substeps_log2, step_shift=neu.step_shift, name=name,
        **{var: getattr(neu, var).astype(np.int32) for var in PER_NEURON},
    )
    for key, value in {**extra, "initial": initial, "aliases": {}}.items():
        process.proc_params[key] = value
    return process
