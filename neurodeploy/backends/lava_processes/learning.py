"""Lava processes of a learning layer (``learning/program.py``) for ``--target loihi-sim``.

``LearningPostNeurons``: the post neurons of a learning layer. Lava 0.10 has no fixed-point
neuron that sends a reward (``LearningLIF``'s fixed model sends nothing on its learning
ports), none with per-neuron parameters and learning ports, and none with k winners per
sample; so this process model *inherits* the u and v arithmetic of Lava's
``AbstractPyLifModelFixed`` (``subthr_dynamics``, ``scale_bias``) and the learning ports of
``LearningNeuronModelFixed``, and adds, in numpy written apart from the engines (the tests
hold them together):

    y1 = floor(y1 exp(-1/tau) + impulse s[t-1])   as the R-STDP neuron of Lava's own tests
                                                   (tests/lava/proc/dense/test_stdp_sim.py)
    theta = decay(theta - theta_0, dtheta) + theta_0; spike where v > theta
    at most wta_k spikes per sample (largest v first, ties by index)
    v reset to 0 or by subtraction; theta += theta_step at a spike
    y2 / y3: the given reward (read from a memory-mapped file) split by sign, or the
             first-spike rule's reward / punishment for the sample's winner

``PySampledLearningDenseModel`` is Lava's ``PyLearningDenseModelBitApproximate``,
subclassed only to start each sample as the learning run's reset does (a_buff, x1, x2, y1,
y2, y3, tx, ty to 0: what ``Var.set`` would write between ``run`` calls, without its
element-wise messages) and to write its variables into memory-mapped files. Import this
module only after ``lava_compat.install()``.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.neuron import LearningNeuronModelFixed
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.neuron import LearningNeuronProcess
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.models import PyLearningDenseModelBitApproximate
from lava.proc.lif.models import AbstractPyLifModelFixed

from neurodeploy.learning import readout  # absolute: Lava loads this module by its path

PER_NEURON = ("du", "dv", "vth", "bias_mant", "bias_exp", "v_init", "reset_sub", "dtheta", "theta_step", "neuron_class")
DENSE_RECORDED = ("weights", "tag_1", "tag_2", "x1", "x2", "tx", "y1", "y2", "y3", "ty")
REWARD_NONE, REWARD_GIVEN, REWARD_FIRST_SPIKE = "none", "given", "first-spike"


class LearningPostNeurons(LearningNeuronProcess, AbstractProcess):
    """The post neurons of a learning layer (see the module docstring). Layer-wide settings
    (reset, wta_k, the reward unit's kind, reward, punishment and window, the 3F post
    trace's tau and impulse, the sample length, memory-mapped files) are process parameters."""

    def __init__(self, *, shape, learning_rule, theta, name=None, **params):
        per_neuron = {k: params.pop(k) for k in PER_NEURON}
        rates = {k: params.pop(k) for k in ("reward", "punishment")}
        super().__init__(shape=shape, learning_rule=learning_rule, name=name, **params)
        # the reward unit's two registers, which the host may rewrite between samples (adaptive rates)
        self.reward = Var(shape=(1,), init=np.array([rates["reward"]], np.int32))
        self.punishment = Var(shape=(1,), init=np.array([rates["punishment"]], np.int32))
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.u = Var(shape=shape, init=0)
        self.v = Var(shape=shape, init=per_neuron["v_init"])
        self.theta = Var(shape=shape, init=theta)
        for key, value in per_neuron.items():
            setattr(self, key, Var(shape=shape, init=value))


class _Files:
    """Memory-mapped .npy files a process model reads or writes, opened on first use in its own OS process."""

    def _file(self, key: str, mode: str = "r+"):
        if not hasattr(self, "_opened"):
            self._opened = {}
        if key not in self._opened:
            self._opened[key] = np.load(self.proc_params["files"][key], mmap_mode=mode)
        return self._opened[key]

    def _has_file(self, key: str) -> bool:
        return key in (self.proc_params.get("files") or {})

    def _at_sample_start(self) -> bool:
        steps = self.proc_params["sample_steps"]
        return self.time_step > 1 and (self.time_step - 1) % steps == 0


@implements(proc=LearningPostNeurons, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyLearningPostNeuronsModel(_Files, LearningNeuronModelFixed, AbstractPyLifModelFixed):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int16, precision=16)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    du: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    dv: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    v_init: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    reset_sub: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    theta: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
    dtheta: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    theta_step: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    neuron_class: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    reward: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    punishment: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        for key in ("reset_zero", "wta_k", "adaptive", "reward_kind", "window", "post_keep", "post_impulse"):
            setattr(self, key, proc_params[key])
        self.theta_0 = 0
        self.previous_spikes = np.zeros(proc_params["shape"], dtype=bool)
        self._start_sample()

    def _start_sample(self):
        self.fired, self.winner, self.reward_left = 0, -1, 0

    def scale_threshold(self):
        self.theta_0 = np.left_shift(self.vth.astype(np.int32), self.vth_shift)
        self.isthrscaled = True

    def run_spk(self):
        if self._at_sample_start():
            self.u[:] = 0
            self.v[:] = self.v_init
            self.y1[:], self.y2[:], self.y3[:] = 0, 0, 0
            self.previous_spikes[:] = False
            self._start_sample()
        if self.reward_kind != REWARD_NONE:   # y1 holds the post spikes up to the last step
            self.y1 = np.floor(self.y1 * self.post_keep + self.post_impulse * self.previous_spikes).astype(np.int32)
        a_in = self.a_in.recv()
        self.scale_bias()
        if not self.isthrscaled:
            self.scale_threshold()
        self.subthr_dynamics(activation_in=a_in)
        if self.adaptive:
            offset = (self.theta.astype(np.int64) - self.theta_0).astype(np.int32)
            product = offset.astype(np.int64) * (self.decay_unity - self.dtheta.astype(np.int64))
            decayed = (np.sign(product) * np.right_shift(np.abs(product), self.decay_shift)).astype(np.int32)
            self.theta[:] = (decayed.astype(np.int64) + self.theta_0).astype(np.int32)
        fired = self.v > self.theta
        if self.wta_k:
            fired = self._k_winners(fired)
        v_at_spike = self.v.copy()
        if self.reset_zero:
            self.v[fired] = 0
        else:
            self.v[fired] -= self.reset_sub[fired]
        if self.adaptive:
            self.theta[fired] += self.theta_step[fired]
        if self.reward_kind != REWARD_NONE:
            self._send_reward(fired, v_at_spike)
        self.previous_spikes = fired.copy()
        self.s_out_buff = fired
        self.s_out.send(fired)
        self.s_out_bap.send(fired)
        self.s_out_y1.send(self.y1)
        self.s_out_y2.send(self.y2)
        self.s_out_y3.send(self.y3)
        self._record()

    def _k_winners(self, fired: np.ndarray) -> np.ndarray:
        budget = max(self.wta_k - self.fired, 0)
        candidates = np.flatnonzero(fired)
        if candidates.size > budget:
            # by v, largest first; a stable sort keeps equal v in index order
            order = candidates[np.argsort(-self.v[candidates].astype(np.int64), kind="stable")]
            fired = np.zeros_like(fired)
            fired[order[:budget]] = True
        self.fired += int(fired.sum())
        return fired

    def _send_reward(self, fired: np.ndarray, v_at_spike: np.ndarray) -> None:
        if self.reward_kind == REWARD_GIVEN:
            r = np.asarray(self._file("rewards", "r")[self.time_step - 1], dtype=np.int64)
            self.y2 = np.maximum(r, 0).astype(np.int32)
            self.y3 = np.maximum(-r, 0).astype(np.int32)
            return
        self.y2 = np.zeros(self.y2.shape, np.int32)
        self.y3 = np.zeros(self.y3.shape, np.int32)
        if self.reward_left:
            label = int(self._file("labels", "r")[self.time_step - 1])
            if self.neuron_class[self.winner] == label:
                self.y2[self.winner] = self.reward[0]
            else:
                self.y3[self.winner] = self.punishment[0]
            self.reward_left -= self.reward_left > 0
        if self.winner < 0 and fired.any():
            self.winner = int(readout.winner(fired, v_at_spike))
            self.reward_left = self.window if self.window else -1

    def _record(self) -> None:
        row = self.time_step - 1
        if self._has_file("spikes"):
            self._file("spikes")[row] = self.s_out_buff
        for name in ("u", "v", "theta"):
            if self._has_file(name):
                self._file(name)[row] = getattr(self, name)
        if self._has_file("theta_now") and (row + 1) % self.proc_params["sample_steps"] == 0:
            self._file("theta_now")[0] = self.theta


class PySampledLearningDenseModel(_Files, PyLearningDenseModelBitApproximate):
    """Lava's ``PyLearningDenseModelBitApproximate`` with sample starts and recording (module docstring)."""

    def run_spk(self):
        if self._at_sample_start():
            self.a_buff = np.zeros_like(self.a_buff)
            for name in ("x1", "x2", "y1", "y2", "y3", "tx", "ty"):
                setattr(self, name, np.zeros_like(getattr(self, name)))
        super().run_spk()
        if not self.lrn_guard():
            self._end_of_step()

    def run_lrn(self):
        super().run_lrn()
        self._end_of_step()

    def _end_of_step(self) -> None:
        row = self.time_step - 1
        for name in DENSE_RECORDED:
            if self._has_file(name):
                self._file(name)[row] = getattr(self, name)
        if self._has_file("weights_after") and (row + 1) % self.proc_params["sample_steps"] == 0:
            after = self._file("weights_after")
            sample = row // self.proc_params["sample_steps"]
            after[sample if after.shape[0] > 1 else 0] = self.weights
