"""The four stages of a compiled network, as distinct types.

    FloatGraph          the NIR graph as loaded (float parameters, continuous time)
    NormalisedNetwork   one layer = synapses + neurons, discrete time, float
    QuantisedNetwork    integers with the profile's bit widths
    MappedNetwork       quantised layers split and placed onto cores

Each pass in ``ir/passes`` takes one stage and returns the next; a function's
signature says which stage it accepts. Stages are frozen: passes never mutate
their input, so before/after comparisons stay possible. A layer's neurons are the neuron
models' own types: ``NeuronDynamics`` (neurons/base.py) once normalised, ``QuantisedNeurons``
(neurons/cuba.py) once quantised, or the subclass / integer form of the compartment that runs
them (``neurons.compartment`` names it; neurons/compartment.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import nir
import numpy as np
from scipy import sparse

from ..dialects.base import DialectChoice
from ..errors import UnsupportedModelError
from ..hardware.profile import ArithmeticSpec, HardwareProfile
from ..neurons.base import NeuronDynamics
from ..neurons.cuba import QuantisedNeurons

INPUT = "input"  # the name under which layers refer to the network input


# --------------------------------------------------------------------------- stage 0
@dataclass(frozen=True)
class FloatGraph:
    """A NIR graph as a frontend produced it.

    ``fixes`` lists what a tolerant load changed (batch dimensions removed, missing
    fields defaulted) and ``notes`` what the user should know about the conversion;
    one human-readable line each, shown in the report.
    """

    graph: nir.NIRGraph
    source: str
    format: str  # "nir", "snntorch", "demo" or "ann-conversion"
    fixes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape, from the graph's one Input node."""
        inputs = [node for node in self.graph.nodes.values() if isinstance(node, nir.Input)]
        if len(inputs) != 1:
            raise UnsupportedModelError(f"{self.source}: the graph has {len(inputs)} Input nodes; exactly one is supported")
        return tuple(int(x) for x in np.asarray(inputs[0].input_type["input"]).reshape(-1))


# --------------------------------------------------------------------------- stage 1
Matrix = Union[np.ndarray, sparse.csr_matrix]  # dense (n_out, n_in) array or CSR matrix


@dataclass(frozen=True)
class Geometry:
    """A projection that is exactly one convolution or pooling: its weights are shared.

    Shapes are (channels, height, width); a 1-D convolution has height 1. ``kernel`` is
    (C_out, C_in / groups, kh, kw) in PyTorch's correlation convention, already scaled
    like the projection's matrix. Pooling is a grouped convolution with a fixed kernel.
    """

    kind: str  # "conv" or "pool"
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    kernel: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int


@dataclass(frozen=True)
class Projection:
    """Synapses from one source into a layer: ``a[t] += weight @ s_source[t - delay]``.

    ``delays`` is None (no delay beyond the synapse itself) or an integer array with the
    same shape/sparsity as ``weight`` holding each synapse's extra delay in steps.
    """

    source: str  # INPUT or a layer name (the layer itself for self-recurrence)
    weight: Matrix  # float, input gains folded in
    delays: Matrix | None
    geometry: Geometry | None
    nir_nodes: tuple[str, ...]

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def is_sparse(self) -> bool:
        return sparse.issparse(self.weight)

    @property
    def max_delay(self) -> int:
        if self.delays is None:
            return 0
        values = self.delays.data if sparse.issparse(self.delays) else self.delays
        return int(values.max(initial=0))


@dataclass(frozen=True)
class NormalisedLayer:
    """Neurons and the projections into them."""

    name: str
    shape: tuple[int, ...]  # the neurons' NIR shape (flattened in C order everywhere else)
    projections: tuple[Projection, ...]
    neurons: NeuronDynamics
    nir_nodes: tuple[str, ...]  # the NIR nodes this layer was built from
    conventions: tuple[str, ...] = ()  # how its exporter's dialect read the neuron node (dialects/)

    @property
    def n_out(self) -> int:
        return int(np.prod(self.shape))

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.source for p in self.projections))


@dataclass(frozen=True)
class NormalisedNetwork:
    input_shape: tuple[int, ...]
    layers: tuple[NormalisedLayer, ...]  # feed-forward order where the graph has one
    output_layer_name: str
    dt: float
    dt_source: str
    source: FloatGraph
    notes: tuple[str, ...] = ()
    dialect: DialectChoice | None = None  # the exporter's dialect the graph was read in (dialects/)

    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def output_layer(self) -> NormalisedLayer:
        return self.layer(self.output_layer_name)

    def layer(self, name: str) -> NormalisedLayer:
        return next(layer for layer in self.layers if layer.name == name)


# --------------------------------------------------------------------------- stage 2
CONNECTIONS = ("Dense", "Sparse", "Conv", "DelayDense", "DelaySparse")


@dataclass(frozen=True)
class QuantisedProjection:
    """Integer synapses, executed as the Lava connection process named by ``connection``.

    ``weights`` are the integers exactly as that process holds them after Lava's clipping
    and truncation (mixed sign mode: even values, the mantissa being ``weights / 2``).
    The arithmetic of each connection (how sums are shifted and wrapped) is stated in
    ``hardware/fixed_point.py``. ``graded_bits`` is 0 for binary spikes, else the payload
    width of graded input.
    """

    source: str
    weights: Matrix  # int32
    delays: Matrix | None  # int32, extra delay steps per synapse
    weight_exp: int
    sign_mode: str
    mantissa_bits: int
    graded_bits: int
    connection: str
    geometry: Geometry | None  # kernel in integers when connection == "Conv"
    float_projection: Projection

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])

    @property
    def synapse_count(self) -> int:
        return int(self.weights.nnz) if sparse.issparse(self.weights) else int(self.weights.size)


@dataclass(frozen=True)
class QuantisedLayer:
    name: str
    shape: tuple[int, ...]
    projections: tuple[QuantisedProjection, ...]
    neurons: QuantisedNeurons
    state_scale: float | np.ndarray  # state units (v register) per float unit of v: one, or one per neuron
    float_layer: NormalisedLayer

    @property
    def n_out(self) -> int:
        return int(np.prod(self.shape))

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.source for p in self.projections))

    @property
    def synapse_count(self) -> int:
        return sum(p.synapse_count for p in self.projections)


@dataclass(frozen=True)
class InputEncoding:
    """How the network input reaches the first synapses.

    ``kind == "spikes"``: binary events, any nonzero value is a spike.
    ``kind == "graded"``: values are multiplied by ``scale`` and rounded to integers of
    ``bits`` bits (graded spikes), ``max_abs`` being the largest magnitude expected.
    """

    kind: str = "spikes"
    max_abs: float = 1.0
    scale: float = 1.0
    bits: int = 0


@dataclass(frozen=True)
class QuantisedNetwork:
    input_shape: tuple[int, ...]
    input_encoding: InputEncoding
    layers: tuple[QuantisedLayer, ...]
    arithmetic: ArithmeticSpec
    normalised: NormalisedNetwork
    notes: tuple[str, ...] = ()

    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def output_layer(self) -> QuantisedLayer:
        return self.layer(self.normalised.output_layer_name)

    def layer(self, name: str) -> QuantisedLayer:
        return next(layer for layer in self.layers if layer.name == name)

    def consumers(self, source: str) -> list[QuantisedLayer]:
        """Layers with at least one projection from ``source``."""
        return [layer for layer in self.layers if source in layer.sources]


# --------------------------------------------------------------------------- stage 3
@dataclass(frozen=True, eq=False)
class LayerSlice:
    """Some neurons of one layer (``index``: their flat, C-order indices, sorted), on one
    core, and what they use there. A feature map is sliced in bands of rows with all their
    channels; other layers in contiguous ranges."""

    layer: str
    index: np.ndarray
    core: int  # global core index (chip * cores_per_chip + core on chip)
    input_axons: int
    synapse_bits: int
    output_axons: int

    @property
    def neurons(self) -> int:
        return int(self.index.size)


@dataclass(frozen=True, eq=False)
class CoreUse:
    """One physical core: where it is, and the layer slices packed onto it."""

    core: int
    chip: int
    tile: tuple[int, int]  # router tile (x, y) on its chip's mesh
    slices: tuple[LayerSlice, ...]

    @property
    def neurons(self) -> int:
        return sum(s.neurons for s in self.slices)

    @property
    def input_axons(self) -> int:
        return sum(s.input_axons for s in self.slices)

    @property
    def synapse_bits(self) -> int:
        return sum(s.synapse_bits for s in self.slices)

    @property
    def output_axons(self) -> int:
        return sum(s.output_axons for s in self.slices)


@dataclass(frozen=True, eq=False)
class LayerMapping:
    name: str
    slices: tuple[LayerSlice, ...]
    limiting_resource: str  # which per-core limit decided the split


@dataclass(frozen=True, eq=False)
class MappedNetwork:
    quantised: QuantisedNetwork
    layers: tuple[LayerMapping, ...]
    cores: tuple[CoreUse, ...]
    profile: HardwareProfile
    notes: tuple[str, ...] = field(default=())

    @property
    def cores_used(self) -> int:
        return len(self.cores)

    @property
    def chips_used(self) -> int:
        return len({c.chip for c in self.cores})

    def mapping(self, name: str) -> LayerMapping:
        return next(m for m in self.layers if m.name == name)

    def core(self, index: int) -> CoreUse:
        return self._by_index[index]

    @property
    def _by_index(self) -> dict[int, CoreUse]:
        return {c.core: c for c in self.cores}
