"""A Lava source process that streams input rows from a numpy file on disk.

Writing a large input into a Lava ``RingBuffer`` with ``Var.set`` moves the data element
by element, which takes far longer than running the sample. ``MemmapSource``
instead memory-maps a ``.npy`` file of shape (total_steps, n) in the process's own OS
process and sends row ``time_step - 1`` at every step.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class MemmapSource(AbstractProcess):
    """Sends row ``t - 1`` of the int32 array in ``path`` (shape (total_steps, n)) at step t."""

    def __init__(self, *, path: str, n: int, name=None):
        super().__init__(path=path, n=n, name=name)
        self.s_out = OutPort(shape=(n,))


@implements(proc=MemmapSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyMemmapSourceModel(PyLoihiProcessModel):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._rows = None

    def run_spk(self):
        if self._rows is None:
            self._rows = np.load(self.proc_params["path"], mmap_mode="r")
        self.s_out.send(np.asarray(self._rows[self.time_step - 1], dtype=np.int32))
