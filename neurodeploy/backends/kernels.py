"""Synapse and neuron kernels shared by the engines of the bit-exact backend and the float reference.

One statement each of how a projection's weights are split by synaptic delay, how large an
input value can be, in which dtype a weighted sum is exact, and how the numpy engine holds a
projection, a layer's neuron parameters and its synaptic ring buffers. The numpy engine
(``cpu.py``), the numba engine (``numba_engine.py``), the torch engine (``torch_engine.py``),
the Lava backend (counting activity from its recorded spikes) and the float reference
import them from here; none of them imports another engine.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ..hardware import fixed_point as fx
from ..hardware.profile import ArithmeticSpec
from ..ir.stages import QuantisedLayer, QuantisedNetwork, QuantisedProjection


def split_by_delay(weights, delays) -> dict[int, object]:
    """The weights as one matrix per extra delay (steps): {delay: weights of the synapses with
    that delay}, each the shape of ``weights`` (dense or CSR, of its dtype)."""
    if delays is None:
        return {0: weights}
    parts = {}
    if sparse.issparse(weights):
        w, d = sparse.csr_matrix(weights), sparse.csr_matrix(delays)
        rows, cols = w.nonzero()
        values = np.asarray(w[rows, cols]).reshape(-1)
        lags = np.asarray(d[rows, cols]).reshape(-1)
        for lag in np.unique(lags):
            keep = lags == lag
            parts[int(lag)] = sparse.csr_matrix((values[keep], (rows[keep], cols[keep])), shape=w.shape, dtype=w.dtype)
        return parts or {0: w}
    lags = np.where(weights != 0, delays, 0)
    for lag in np.unique(lags):
        parts[int(lag)] = np.where(lags == lag, weights, 0).astype(weights.dtype)
    return parts


def input_max(projection: QuantisedProjection) -> int:
    """Largest |input value| a projection receives: 1 for spikes, 2**(bits-1) for graded input."""
    return (1 << (projection.graded_bits - 1)) if projection.graded_bits > 0 else 1


def exact_dtype(weights, input_max: int):
    """Smallest type in which every partial sum of input x weight is an exact integer."""
    col = abs(weights).sum(axis=1)
    bound = float(np.asarray(col).max(initial=0.0)) * input_max
    if bound < 2**24:
        return np.float32
    if bound < 2**53:
        return np.float64
    return np.int64


@dataclass
class ProjectionKernel:
    """One projection: per distinct delay, the transposed weights for the exact sums."""

    projection: QuantisedProjection
    delays: list[int]
    weights_t: list  # per delay: (n_in, n_out) dense array or CSR, in an exact dtype
    weights_int_t: list  # per delay: the same as int64, for the event-driven gather path

    @classmethod
    def build(cls, projection: QuantisedProjection) -> "ProjectionKernel":
        parts = split_by_delay(projection.weights, projection.delays)
        delays = sorted(parts)
        weights_t, weights_int_t = [], []
        for d in delays:
            w = parts[d]
            dtype = exact_dtype(w, input_max(projection))
            if sparse.issparse(w):
                weights_t.append(sparse.csr_matrix(w.T.astype(dtype)))
                weights_int_t.append(sparse.csr_matrix(w.T.astype(np.int64)))
            else:
                weights_t.append(np.ascontiguousarray(w.T.astype(dtype)))
                weights_int_t.append(np.ascontiguousarray(w.T.astype(np.int64)))
        return cls(projection, delays, weights_t, weights_int_t)

    @property
    def max_delay(self) -> int:
        return max(self.delays) if self.delays else 0

    def outputs(self, src: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(delay, int32 output) for one step of source values (batch, n_in)."""
        p = self.projection
        graded = p.graded_bits > 0
        values = src if graded else (src != 0)
        return [
            (d, fx.synaptic_output(self._exact_sum(values, i), p.connection, p.weight_exp, graded))
            for i, d in enumerate(self.delays)
        ]

    def _exact_sum(self, values: np.ndarray, i: int) -> np.ndarray:
        w, w_int = self.weights_t[i], self.weights_int_t[i]
        if values.shape[0] == 1 and values.dtype == bool:
            active = np.flatnonzero(values[0])
            rows = w_int[active]
            summed = rows.sum(axis=0)
            return np.asarray(summed, dtype=np.int64).reshape(1, -1)
        if w.dtype == np.int64:
            product = values.astype(np.int64) @ w
        else:
            product = np.rint(values.astype(w.dtype) @ w)
        return np.asarray(product).astype(np.int64)


@dataclass
class NeuronKernel:
    layer: QuantisedLayer
    u_keep: np.ndarray
    v_keep: np.ndarray
    bias: np.ndarray
    vth_eff: np.ndarray  # v fires above this (``fixed_point.firing_threshold``)
    reset_sub: np.ndarray
    v_floor: np.ndarray | None = None

    @classmethod
    def build(cls, layer: QuantisedLayer, arith: ArithmeticSpec) -> "NeuronKernel":
        neu = layer.neurons
        return cls(
            layer,
            fx.current_keep(neu.du, arith),
            fx.voltage_keep(neu.dv, arith),
            fx.effective_bias(neu.bias_mant, neu.bias_exp),
            fx.firing_threshold(neu.vth, arith, neu.inclusive),
            neu.reset_sub.astype(np.int32),
            None if neu.v_floor is None else neu.v_floor.astype(np.int32),
        )

    def fire_and_reset(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(spikes, v) after this step's threshold test and reset (``fixed_point.fire_and_reset``):
        spikes are 0/1, or counts for a layer that fires several spikes per step."""
        neu = self.layer.neurons
        return fx.fire_and_reset(v, self.vth_eff, neu.reset, self.reset_sub, max_spikes=neu.max_spikes, v_floor=self.v_floor)


class SynapticBuffers:
    """Per layer, ring buffers of int32 synaptic input indexed by arrival step."""

    def __init__(self, network: QuantisedNetwork, batch: int):
        self.kernels = {
            layer.name: [ProjectionKernel.build(p) for p in layer.projections] for layer in network.layers
        }
        depth = 1 + max((k.max_delay for ks in self.kernels.values() for k in ks), default=0)
        self.depth = depth
        self.slots = {layer.name: np.zeros((depth, batch, layer.n_out), np.int32) for layer in network.layers}

    def take(self, name: str, t: int) -> np.ndarray:
        """The synaptic input arriving at step t (the slot is cleared for reuse)."""
        slot = self.slots[name][t % self.depth]
        a_in = slot.copy()
        slot[:] = 0
        return a_in

    def deliver(self, signals: dict[str, np.ndarray], t: int) -> None:
        """Every projection's output for step t's source values, due 1 + delay steps later."""
        for name, kernels in self.kernels.items():
            slots = self.slots[name]
            for kernel in kernels:
                for delay, output in kernel.outputs(signals[kernel.projection.source]):
                    target = slots[(t + 1 + delay) % self.depth]
                    np.add(target, output, out=target, casting="unsafe")  # int32 wrap, as Lava's buffers
