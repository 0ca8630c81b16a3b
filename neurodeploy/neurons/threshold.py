"""NIR's Threshold: stateless, a spike wherever its input exceeds the threshold (beta = 0).

The snnTorch frontend lowers a MaxPool2d on spikes to a sum pool into Threshold(0.5) neurons,
an exact OR of 0/1 values.
"""
from __future__ import annotations

import nir

from .base import Lowering, NeuronModel, Subthreshold


class ThresholdModel(NeuronModel):
    name = "Threshold"
    node_class = nir.Threshold
    fields = ("threshold",)
    shape_field = "threshold"
    threshold_field = "threshold"
    reset_field = None

    def subthreshold(self, low: Lowering) -> Subthreshold:
        return Subthreshold(gain=low.ones, alpha=low.zeros, beta=low.zeros, bias=low.bias_in, current_bias=low.zeros)


Threshold = ThresholdModel()
