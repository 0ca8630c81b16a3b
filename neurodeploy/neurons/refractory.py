"""A refractory period on NIR's LIF, CubaLIF or IF (the neurodeploy NIR extension
``Refractory``, docs/nir_extension.md), and the snnTorch-style module that converts to it.

After a spike the membrane is held for ``t_ref`` (rounded to whole steps of dt) while the
synaptic current keeps integrating, as Loihi 1's refractory delay and Lava's
``LIFRefractory`` do; with ``hold_current`` the current is zeroed and held as well. The
dynamics are the base node's (its module states them), run by the extended compartment
(``neurons/extended.py``).
"""
from __future__ import annotations

import nir
import numpy as np

from .base import Lowering, NeuronDynamics, NeuronModel, Subthreshold
from .extended import extend
from .nir_extension import REQUIRED, extension_fields, steps_of


class ExtendedLIFModel(NeuronModel):
    """A neurodeploy extension on a LIF, CubaLIF or IF node: the base node's dynamics, in the
    extended compartment with the extension's fields (``extension``: their defaults;
    ``per_neuron``: those given per neuron; ``unbounded``: those that may be infinite)."""

    node_class = (nir.LIF, nir.CubaLIF, nir.IF)
    fields = ()
    shape_field = "v_threshold"
    compartment = "extended"
    extension: dict = {}
    per_neuron: tuple[str, ...] = ()
    unbounded: tuple[str, ...] = ()

    def base(self, node) -> NeuronModel:
        from . import NEURONS

        return NEURONS.get(type(node).__name__)

    def subthreshold(self, low: Lowering) -> Subthreshold:
        return self.base(low.node).subthreshold(low)

    def dt_hint(self, node):
        return self.base(node).dt_hint(node)

    def lower(self, low: Lowering) -> tuple[NeuronDynamics, np.ndarray]:
        dynamics, gain = self.base(low.node).lower(low)
        ext = extension_fields(low, self.extension, per_neuron=self.per_neuron, unbounded=self.unbounded)
        return extend(dynamics, **self.options(low, ext)), gain

    def options(self, low: Lowering, ext: dict) -> dict:
        raise NotImplementedError


class RefractoryModel(ExtendedLIFModel):
    name = "Refractory"
    extension = {"t_ref": REQUIRED, "hold_current": False}
    per_neuron = ("t_ref",)
    snntorch_modules = ("neurodeploy.neurons.snntorch_modules:RefractoryLeaky",)

    def options(self, low, ext):
        return {"refractory": steps_of(low, ext["t_ref"], "t_ref"), "kind": self.name, "hold_current": bool(ext["hold_current"])}

    def from_snntorch(self, name, module, shape, notes):
        from .lif import LIF
        from .nir_extension import with_extension
        from .snntorch import SNNTORCH_DT, immediate_reset

        node = immediate_reset(LIF.from_snntorch(name, module, shape, notes), module)
        return with_extension(node, self.name, t_ref=np.full(shape, float(module.refractory) * SNNTORCH_DT))


Refractory = RefractoryModel()
