"""NIR's Threshold: stateless, a spike wherever its input exceeds the threshold (beta = 0).

Max pooling of 0/1 spikes is lowered here, for the snnTorch frontend and the ANN conversion
alike: each window's sum into Threshold(0.5) neurons, an exact OR of 0/1 values
(docs/neurons.md, "Max pooling").
"""
from __future__ import annotations

import nir
import numpy as np

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


OR_THRESHOLD = 0.5  # one spike in the window exceeds it, none does not


def window_sum(in_shape: tuple[int, int, int], kernel, stride, padding, dilation=(1, 1)) -> tuple[nir.NIRNode, tuple[int, ...]]:
    """The sum of each pooling window of a (channels, height, width) map, and its output shape:
    a sum pool, or with dilation a grouped convolution with a kernel of ones. Zero padding is
    PyTorch's -inf padding on 0/1 spikes: PyTorch keeps padding <= kernel / 2, so every window
    holds at least one real input."""
    kernel, stride, padding, dilation = (tuple(int(x) for x in v) for v in (kernel, stride, padding, dilation))
    if dilation == (1, 1):
        node = nir.SumPool2d(kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding))
        height, width = ((int(in_shape[i + 1]) + 2 * padding[i] - kernel[i]) // stride[i] + 1 for i in range(2))
        return node, (int(in_shape[0]), height, width)
    channels = int(in_shape[0])
    node = nir.Conv2d(input_shape=tuple(int(x) for x in in_shape[1:]), weight=np.ones((channels, 1, *kernel)), stride=stride,
                      padding=padding, dilation=dilation, groups=channels, bias=np.zeros(channels))
    return node, tuple(int(x) for x in node.output_type["output"])


def or_neurons(shape: tuple[int, ...]) -> nir.Threshold:
    """Neurons that fire in the step any input of their window spikes: a window sum's OR."""
    return nir.Threshold(threshold=np.full(shape, OR_THRESHOLD))
