"""Lava's bit-accurate Dense and LIF models, with sample boundaries and recording added.

To run many samples in one Lava run, state must return to its initial value at the
start of every sample. These process models *subclass* Lava's own
``PyDenseModelBitAcc`` and ``PyLifModelBitAcc`` (and neurodeploy's
``PyNeurodeployLifModel``) and change nothing in their arithmetic: at the first step
of each sample (every ``sample_steps`` steps, from the process's ``proc_params``)
they restore the initial state (Dense: no synaptic input in flight; neurons:
u = u_init, v = v_init) and then call the parent's ``run_spk``. Neurons also write
their spikes (and, if asked, u and v) after every step into ``.npy`` files that the
host memory-maps, which is far cheaper than Lava's element-wise ``Var.get``.

They are selected with ``exception_proc_model_map`` (see ``backends/lava_backend.py``).
"""
from __future__ import annotations

import numpy as np
from lava.proc.conv.models import PyConvModelFixed
from lava.proc.dense.models import PyDelayDenseModelBitAcc, PyDenseModelBitAcc
from lava.proc.lif.models import PyLifModelBitAcc
from lava.proc.sparse.models import PyDelaySparseModelBitAcc, PySparseModelBitAcc

from neurodeploy.backends.lava_processes.neurodeploy_lif import PyNeurodeployLifModel


class _SampleBoundaries:
    """Mixin: sample-start test and per-step recording into memory-mapped files."""

    def _at_sample_start(self) -> bool:
        steps = self.proc_params.get("sample_steps")
        return bool(steps) and self.time_step > 1 and (self.time_step - 1) % steps == 0

    def _record_step(self) -> None:
        paths = self.proc_params.get("record") or {}
        if not paths:
            return
        if not hasattr(self, "_recordings"):
            self._recordings = {name: np.load(path, mmap_mode="r+") for name, path in paths.items()}
        row = self.time_step - 1
        aliases = self.proc_params.get("aliases") or {}
        for name, array in self._recordings.items():
            if name in aliases:  # recorded under neurodeploy's name, read from the model's own attribute (None: 0)
                array[row] = 0 if aliases[name] is None else getattr(self, aliases[name])
            else:
                array[row] = self.s_out_buff if name == "spikes" else getattr(self, name)


class _SampledNeuronModel(_SampleBoundaries):
    def run_spk(self):
        if self._at_sample_start():
            self.u[:] = self.proc_params["u"]
            self.v[:] = self.proc_params["v"]
        super().run_spk()
        self._record_step()


class PySampledLifModel(_SampledNeuronModel, PyLifModelBitAcc):
    """Lava's ``PyLifModelBitAcc`` with per-sample reset and recording."""


class PySampledNeurodeployLifModel(_SampledNeuronModel, PyNeurodeployLifModel):
    """``PyNeurodeployLifModel`` with per-sample reset and recording."""


class SampledState(_SampleBoundaries):
    """Mixin for the neuron models of other compartments (``extended_lif.py``,
    ``izhikevich.py``): at each sample start restores every variable of
    ``proc_params["initial"]`` ({name: values}), then runs the model, then records."""

    def run_spk(self):
        if self._at_sample_start():
            for name, values in self.proc_params["initial"].items():
                getattr(self, name)[:] = values
        super().run_spk()
        self._record_step()


class _SampledConnection(_SampleBoundaries):
    """Drops the synaptic input still buffered (``a_buff``; Conv: ``a_buf``) at each sample start."""

    buffer_name = "a_buff"

    def run_spk(self):
        if self._at_sample_start():
            setattr(self, self.buffer_name, np.zeros_like(getattr(self, self.buffer_name)))
        super().run_spk()


class PySampledDenseModel(_SampledConnection, PyDenseModelBitAcc):
    """Lava's ``PyDenseModelBitAcc`` with per-sample reset."""


class PySampledSparseModel(_SampledConnection, PySparseModelBitAcc):
    """Lava's ``PySparseModelBitAcc`` with per-sample reset."""


class PySampledDelayDenseModel(_SampledConnection, PyDelayDenseModelBitAcc):
    """Lava's ``PyDelayDenseModelBitAcc`` with per-sample reset."""


class PySampledDelaySparseModel(_SampledConnection, PyDelaySparseModelBitAcc):
    """Lava's ``PyDelaySparseModelBitAcc`` with per-sample reset."""


class PySampledConvModel(_SampledConnection, PyConvModelFixed):
    """Lava's ``PyConvModelFixed`` with per-sample reset."""

    buffer_name = "a_buf"
