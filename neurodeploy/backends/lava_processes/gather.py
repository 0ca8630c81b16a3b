"""A Lava process that joins the spike vectors of a layer's slices into one vector.

When a mapped layer runs as one neuron process per slice (per core), a connection into
another slice must still see the whole source layer, so that its weighted sum is formed
(and shifted by the weight exponent) exactly as in the unpartitioned network: Lava's
``Dense`` shifts the *sum*, so splitting it by source would change the rounding. Lava's
own ``concat_with`` ports are not supported by its runtime ("ConcatPorts are not yet
supported"), hence this process: ``parts`` in-ports, one per slice, and one out-port
with their concatenation, sent in the same step (it receives, then sends: no delay).

A process needs a fixed set of ports, so the classes are made per number of parts (and
put into this module's namespace, where Lava's compiler looks for process models).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


@lru_cache(maxsize=None)
def gather_classes(parts: int) -> tuple[type, type]:
    """(process class, process model class) joining ``parts`` vectors."""

    def init(self, *, sizes: tuple[int, ...], name=None):
        AbstractProcess.__init__(self, sizes=sizes, name=name)
        for i, size in enumerate(sizes):
            setattr(self, f"in_{i}", InPort(shape=(size,)))
        self.s_out = OutPort(shape=(sum(sizes),))

    process = type(f"GatherSpikes{parts}", (AbstractProcess,), {"__init__": init, "__module__": __name__})

    def run_spk(self):
        self.s_out.send(np.concatenate([getattr(self, f"in_{i}").recv() for i in range(parts)]).astype(np.int32))

    attributes = {f"in_{i}": LavaPyType(PyInPort.VEC_DENSE, np.int32) for i in range(parts)}
    attributes.update(s_out=LavaPyType(PyOutPort.VEC_DENSE, np.int32), run_spk=run_spk, __module__=__name__)
    model = type(f"PyGatherSpikes{parts}Model", (PyLoihiProcessModel,), attributes)
    model = tag("fixed_pt")(requires(CPU)(implements(proc=process, protocol=LoihiProtocol)(model)))
    globals().update({process.__name__: process, model.__name__: model})  # Lava looks for models in the module
    return process, model
