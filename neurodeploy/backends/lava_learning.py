"""A learning layer on Lava's simulator (the learning side of ``--target loihi-sim``).

Builds one ``learning.program.LayerProgram`` as Lava processes and runs it with
``Loihi2SimCfg(select_tag="fixed_pt")``:

    MemmapSource (pre spikes) -> LearningDense (Loihi2F / Loihi3F rule) -> LearningPostNeurons
                                       ^ s_in_bap, s_in_y1..y3 <──────────────┘   │
                                 recurrent Dense (PyDenseModelBitAcc) <───────────┘

Lava's ``LearningDense`` runs its bit-approximate model (``PyLearningDenseModelBitApproximate``)
and the recurrent ``Dense`` its bit-accurate one, both subclassed only to start each sample
as a learning run does (``lava_processes/learning.py``, ``sampled_models.py``); the post
neurons are neurodeploy's ``LearningPostNeurons``. Every sample has the same length, the
state of a sample is reset at its start, and the runtime stays up between ``run`` calls
(epochs), so that the time step, the weights, tags, thresholds and Lava's random generators
carry on exactly as they do in the CPU backend. Inputs, labels and rewards are written into
memory-mapped files before each call; spikes, the weights after each sample and the recorded
variables come back the same way. ``close`` stops the runtime (also on errors, through the
context manager).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..learning.program import LayerProgram
from ..learning.rules import LearningRule
from . import lava_compat

NEURON_RECORDED = ("u", "v", "theta", "spikes")
SIGN_MODES = {"mixed": "MIXED", "excitatory": "EXCITATORY", "inhibitory": "INHIBITORY"}


def lava_rule(rule: LearningRule):
    """Lava's Loihi2FLearningRule / Loihi3FLearningRule for ``rule`` (Lava must be importable)."""
    from lava.magma.core.learning.learning_rule import Loihi2FLearningRule, Loihi3FLearningRule

    common = dict(dw=rule.dw, dd=rule.dd, dt=rule.dt, x1_impulse=rule.x1_impulse, x1_tau=rule.x1_tau, x2_impulse=rule.x2_impulse,
                  x2_tau=rule.x2_tau, t_epoch=rule.t_epoch, rng_seed=rule.rng_seed)
    if rule.three_factor:
        return Loihi3FLearningRule(**common)
    return Loihi2FLearningRule(**common, **{f"{y}_{k}": getattr(rule, f"{y}_{k}") for y in ("y1", "y2", "y3") for k in ("impulse", "tau")})


class LavaLearningLayer:
    """A learning layer running on Lava; ``run`` has the engines' interface, with samples of
    ``sample_steps`` steps (a reset before every sample) and at most ``total_steps`` steps in all."""

    def __init__(self, program: LayerProgram, *, sample_steps: int, total_steps: int, record=(), weights_after_each_sample: bool = False):
        lava_compat.install()
        self.program, self.sample_steps, self.total_steps = program, int(sample_steps), int(total_steps)
        self.record = tuple(record)
        self._tmp = tempfile.TemporaryDirectory(prefix="neurodeploy-lava-learning-")
        self.directory = Path(self._tmp.name)
        self.steps_done = 0
        self._runtime_up = False
        rows = max(1, total_steps // sample_steps) if weights_after_each_sample else 1
        self.files = self._create_files(rows)
        from ..learning.program import truncate_weights

        # the weights as the learning synapses hold them, until a sample ends (what the host reads before the first)
        np.load(self.files["weights_after"], mmap_mode="r+")[:] = truncate_weights(program.weights, program.sign_mode, program.num_weight_bits)
        self._build()

    # files -----------------------------------------------------------------
    def _create(self, key: str, shape: tuple, dtype) -> str:
        path = self.directory / f"{key}.npy"
        np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape).flush()
        return str(path)

    def _create_files(self, weight_rows: int) -> dict[str, str]:
        p, n = self.program, self.total_steps
        files = {"input": self._create("input", (n, p.n_pre), np.int32), "spikes": self._create("spikes", (n, p.n_post), np.uint8),
                 "weights_after": self._create("weights_after", (weight_rows, p.n_post, p.n_pre), np.int64),
                 "theta_now": self._create("theta_now", (1, p.n_post), np.int32)}
        if p.reward.kind == "given":
            files["rewards"] = self._create("rewards", (n, p.n_post), np.int32)
        if p.reward.kind == "first-spike":
            files["labels"] = self._create("labels", (n,), np.int64)
        for name in self.record:
            if name in ("u", "v", "theta", "y1_neuron"):
                files[name] = self._create(name, (n, p.n_post), np.int32)
            elif name in ("x1", "x2", "tx"):
                files[name] = self._create(name, (n, p.n_pre), np.int64)
            elif name in ("y1", "y2", "y3", "ty"):
                files[name] = self._create(name, (n, p.n_post), np.int64)
            elif name in ("weights", "tag_1", "tag_2"):
                files[name] = self._create(name, (n, p.n_post, p.n_pre), np.int64)
            elif name != "spikes":
                raise ValueError(f"cannot record {name!r}")
        return files

    # network ---------------------------------------------------------------
    def _build(self) -> None:
        from lava.proc.dense.process import Dense, LearningDense
        from lava.utils.weightutils import SignMode

        from .lava_processes.learning import PER_NEURON, LearningPostNeurons
        from .lava_processes.memmap_io import MemmapSource

        p, neurons, files = self.program, self.program.neurons, self.files
        rule = lava_rule(p.rule)
        shape = (p.n_post,)
        self.source = MemmapSource(path=files["input"], n=p.n_pre, name=f"{p.name}.pre")
        extra = {k: np.asarray(v) for k, v in (("tag_1", p.tag_1), ("tag_2", p.tag_2)) if v is not None}
        dense_files = {k: files[k] for k in ("weights_after", "weights", "tag_1", "tag_2", "x1", "x2", "tx", "y1", "y2", "y3", "ty")
                       if k in files and (k == "weights_after" or k in self.record)}
        self.dense = LearningDense(weights=np.asarray(p.weights), learning_rule=rule, sign_mode=getattr(SignMode, SIGN_MODES[p.sign_mode]),
                                   num_weight_bits=p.num_weight_bits, weight_exp=p.weight_exp, name=f"{p.name}.learning_dense",
                                   sample_steps=self.sample_steps, files=dense_files, **extra)
        values = {"du": neurons.du, "dv": neurons.dv, "vth": neurons.vth, "bias_mant": neurons.bias_mant, "bias_exp": neurons.bias_exp,
                  "v_init": neurons.v_init, "reset_sub": neurons.reset_sub, "dtheta": neurons.dtheta, "theta_step": neurons.theta_step,
                  "neuron_class": p.reward.neuron_class if p.reward.neuron_class.size else np.zeros(p.n_post, np.int64)}
        unit = p.reward
        self.neurons = LearningPostNeurons(
            shape=shape, learning_rule=rule, theta=neurons.theta_0(), name=f"{p.name}.neurons",
            reset_zero=int(neurons.reset) == 0, wta_k=int(neurons.wta_k), adaptive=neurons.adaptive, reward_kind=unit.kind,
            reward=int(unit.reward), punishment=int(unit.punishment), window=int(unit.window),
            post_keep=float(np.exp(-1 / p.rule.post_trace_tau)) if p.rule.three_factor else 0.0,
            post_impulse=float(p.rule.post_trace_impulse), sample_steps=self.sample_steps,
            files={k: files[k] for k in ("spikes", "u", "v", "theta", "theta_now", "rewards", "labels") if k in files},
            **{k: np.asarray(values[k]).astype(np.int32) for k in PER_NEURON})
        self.source.s_out.connect(self.dense.s_in)
        self.dense.a_out.connect(self.neurons.a_in)
        self.neurons.s_out_bap.connect(self.dense.s_in_bap)
        if p.rule.three_factor:
            self.neurons.s_out_y1.connect(self.dense.s_in_y1)
            self.neurons.s_out_y2.connect(self.dense.s_in_y2)
            self.neurons.s_out_y3.connect(self.dense.s_in_y3)
        self.recurrent = None
        if p.recurrent is not None:
            r = p.recurrent
            self.recurrent = Dense(weights=np.asarray(r.weights), weight_exp=r.weight_exp, num_weight_bits=r.num_weight_bits,
                                   sign_mode=getattr(SignMode, SIGN_MODES[r.sign_mode]), name=f"{p.name}.recurrent", sample_steps=self.sample_steps)
            self.neurons.s_out.connect(self.recurrent.s_in)
            self.recurrent.a_out.connect(self.neurons.a_in)

    def _run_config(self):
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc.dense.process import Dense, LearningDense

        from .lava_processes.learning import PySampledLearningDenseModel
        from .lava_processes.memmap_io import MemmapSource, PyMemmapSourceModel
        from .lava_processes.sampled_models import PySampledDenseModel

        models = {LearningDense: PySampledLearningDenseModel, Dense: PySampledDenseModel, MemmapSource: PyMemmapSourceModel}
        return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=models)

    # running ---------------------------------------------------------------
    def run(self, pre, *, rewards=None, labels=None) -> dict:
        """Run the next ``len(pre)`` steps (whole samples); returns "spikes" (steps, post) and
        the recorded variables of these steps, and "spike_counts"."""
        from lava.magma.core.run_conditions import RunSteps

        pre = np.asarray(pre)
        steps = pre.shape[0]
        first, last = self.steps_done, self.steps_done + steps
        if steps % self.sample_steps or last > self.total_steps:
            raise ValueError(f"run whole samples of {self.sample_steps} steps, at most {self.total_steps} steps in all")
        np.load(self.files["input"], mmap_mode="r+")[first:last] = pre != 0
        if "rewards" in self.files:
            np.load(self.files["rewards"], mmap_mode="r+")[first:last] = np.asarray(rewards).reshape(steps, -1)
        if "labels" in self.files:
            np.load(self.files["labels"], mmap_mode="r+")[first:last] = np.asarray(labels).reshape(steps)
        self.source.run(condition=RunSteps(num_steps=steps), run_cfg=self._run_config())
        self._runtime_up = True
        self.steps_done = last
        out = {"spikes": np.load(self.files["spikes"])[first:last].astype(bool)}
        for name in self.record:
            if name != "spikes":
                out[name] = np.load(self.files[name])[first:last].copy()
        out["spike_counts"] = out["spikes"].sum(axis=0, dtype=np.int64)
        return out

    def set_rates(self, reward: int, punishment: int) -> None:
        """The first-spike reward unit's reward and punishment from the next sample on (written
        into the paused runtime, as the host writes registers between samples)."""
        for var, value in ((self.neurons.reward, reward), (self.neurons.punishment, punishment)):
            if self._runtime_up:
                var.set(np.array([int(value)], np.int32))
            else:
                var.init = np.array([int(value)], np.int32)

    def thresholds(self) -> np.ndarray:
        """The post neurons' thresholds now (read from the paused runtime)."""
        return np.asarray(self.neurons.theta.get() if self._runtime_up else self.neurons.theta.init).copy()

    def set_thresholds(self, theta: np.ndarray) -> None:
        """Write the post neurons' thresholds into the paused runtime (the host's write between samples)."""
        value = np.asarray(theta).astype(np.int32)
        if self._runtime_up:
            self.neurons.theta.set(value)
        else:
            self.neurons.theta.init = value
        np.load(self.files["theta_now"], mmap_mode="r+")[0] = value  # what theta() reads until the next sample ends

    def set_weights(self, weights: np.ndarray) -> None:
        """Write the learning synapses' weights into the paused runtime (the host's write between samples)."""
        if self._runtime_up:
            current = self.dense.weights.get()
            self.dense.weights.set(np.asarray(weights).astype(current.dtype).reshape(current.shape))
        else:
            self.dense.weights.init = np.asarray(weights).astype(np.asarray(self.dense.weights.init).dtype)
        after = np.load(self.files["weights_after"], mmap_mode="r+")
        if after.shape[0] == 1:
            after[0] = weights  # what weights_after() reads until the next sample ends

    def weights_after(self) -> np.ndarray:
        """The weights after each sample (``weights_after_each_sample``), else after the last one."""
        return np.load(self.files["weights_after"]).copy()

    def theta(self) -> np.ndarray:
        """The thresholds after the last sample."""
        return np.load(self.files["theta_now"])[0].copy()

    def close(self) -> None:
        try:
            if self._runtime_up:
                self.source.stop()
        finally:
            self._runtime_up = False
            self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
