"""The four stages of a compiled network, as distinct types.

    FloatGraph          the NIR graph as loaded (float parameters, continuous time)
    NormalisedNetwork   one layer = synapses + neurons, discrete time, float
    QuantisedNetwork    integers with the profile's bit widths
    MappedNetwork       quantised layers split and placed onto cores

Each pass in ``ir/passes`` takes one stage and returns the next; a function's
signature says which stage it accepts. Stages are frozen: passes never mutate
their input, so before/after comparisons stay possible.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np

from .profile import ArithmeticSpec, HardwareProfile

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
    format: str  # "nir", "snntorch" or "demo"
    fixes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------- stage 1
NEURON_KINDS = ("LIF", "CubaLIF", "IF", "LI")
RESETS = ("zero", "subtract", "none")


@dataclass(frozen=True)
class NeuronDynamics:
    """Per-step float dynamics shared by every neuron kind (arrays of length n):

        u[t] = alpha * u[t-1] + a[t] + current_bias        (synaptic current)
        v[t] = beta  * v[t-1] + u[t] + bias                 (membrane voltage)
        s[t] = v[t] > threshold                             (spiking kinds only)
        reset "zero": v[t] = 0 where s[t];  "subtract": v[t] -= reset_amount where s[t]

    ``a[t]`` is the layer's weighted input (input gains already folded into the
    weights). NIR's ``v_reset`` is absorbed by measuring v relative to it:
    v_nir = v + v_offset, so the initial v is ``-v_offset``.
    """

    kind: str
    alpha: np.ndarray
    beta: np.ndarray
    threshold: np.ndarray  # +inf for non-spiking kinds
    bias: np.ndarray
    current_bias: np.ndarray
    v_offset: np.ndarray
    reset: str
    reset_amount: np.ndarray  # subtracted on a spike when reset == "subtract"

    @property
    def spiking(self) -> bool:
        return self.reset != "none"

    @property
    def size(self) -> int:
        return int(self.beta.shape[0])


@dataclass(frozen=True)
class NormalisedLayer:
    """Synapses (a dense weight matrix from ``source``) followed by neurons."""

    name: str
    source: str  # name of the upstream layer, or INPUT
    weight: np.ndarray  # (n_out, n_in), float
    neurons: NeuronDynamics
    nir_nodes: tuple[str, ...]  # the NIR nodes this layer was built from

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])


@dataclass(frozen=True)
class NormalisedNetwork:
    input_shape: tuple[int, ...]
    layers: tuple[NormalisedLayer, ...]  # in execution (topological) order
    dt: float
    dt_source: str
    source: FloatGraph
    notes: tuple[str, ...] = ()

    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def output_layer(self) -> NormalisedLayer:
        return self.layers[-1]

    def layer(self, name: str) -> NormalisedLayer:
        return next(layer for layer in self.layers if layer.name == name)


# --------------------------------------------------------------------------- stage 2
@dataclass(frozen=True)
class QuantisedSynapses:
    """A Lava ``Dense``: ``a = (sum of weights of active inputs) * 2**weight_exp``.

    ``weights`` are the integers exactly as Dense holds them after Lava's clipping and
    truncation (mixed sign mode: even values, the mantissa being ``weights / 2``).
    ``graded_bits`` is 0 for binary spikes, else the payload width of graded input.
    """

    weights: np.ndarray  # int32 (n_out, n_in)
    weight_exp: int
    sign_mode: str
    mantissa_bits: int
    graded_bits: int


@dataclass(frozen=True)
class QuantisedNeurons:
    """Loihi CUBA neurons: 12-bit decays, 17-bit threshold mantissa, 13-bit bias
    mantissa with exponent, 24-bit state (see ``backends/fixed_point.py``)."""

    kind: str
    du: np.ndarray  # int (n,)
    dv: np.ndarray
    vth: np.ndarray  # threshold mantissa; the neuron fires when v > vth << threshold_shift
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    v_init: np.ndarray  # v at the start of every sample (state units)
    reset: str
    reset_sub: np.ndarray  # state units subtracted on a spike when reset == "subtract"

    @property
    def spiking(self) -> bool:
        return self.reset != "none"

    @property
    def size(self) -> int:
        return int(self.du.shape[0])

    @property
    def has_uniform_parameters(self) -> bool:
        """True when du, dv and vth are single values (what Lava's LIF process supports)."""
        return all(np.all(a == a[0]) for a in (self.du, self.dv, self.vth)) if self.size else True


@dataclass(frozen=True)
class QuantisedLayer:
    name: str
    source: str
    synapses: QuantisedSynapses
    neurons: QuantisedNeurons
    state_scale: float  # state units (v register) per float unit of the normalised v
    float_layer: NormalisedLayer

    @property
    def n_in(self) -> int:
        return int(self.synapses.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.synapses.weights.shape[0])


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
        return self.layers[-1]

    def layer(self, name: str) -> QuantisedLayer:
        return next(layer for layer in self.layers if layer.name == name)


# --------------------------------------------------------------------------- stage 3
@dataclass(frozen=True)
class CoreAllocation:
    """One core's share of a layer: neurons [start, stop) and the resources they use."""

    core: int  # global core index (chip * cores_per_chip + core on chip)
    chip: int
    tile: tuple[int, int]  # router tile (x, y) on its chip's mesh
    layer: str
    neuron_start: int
    neuron_stop: int
    input_axons: int
    output_axons: int
    synapse_bits: int

    @property
    def neurons(self) -> int:
        return self.neuron_stop - self.neuron_start


@dataclass(frozen=True)
class LayerMapping:
    name: str
    cores: tuple[CoreAllocation, ...]
    limiting_resource: str  # which per-core limit decided the split


@dataclass(frozen=True)
class MappedNetwork:
    quantised: QuantisedNetwork
    layers: tuple[LayerMapping, ...]
    profile: HardwareProfile
    notes: tuple[str, ...] = field(default=())

    @property
    def cores_used(self) -> int:
        return sum(len(m.cores) for m in self.layers)

    @property
    def chips_used(self) -> int:
        return len({c.chip for m in self.layers for c in m.cores})

    def mapping(self, name: str) -> LayerMapping:
        return next(m for m in self.layers if m.name == name)
