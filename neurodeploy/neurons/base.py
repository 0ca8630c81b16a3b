"""What a neuron model is to neurodeploy: the interface every entry of ``NEURONS`` implements,
and the float per-step dynamics it lowers a NIR node to.

An entry (``NeuronModel``) owns everything about one NIR neuron primitive:

    fields, defaults      its per-neuron NIR parameters, and the values older files omit
    snntorch_modules      the snnTorch modules that convert to it (``from_snntorch``)
    dt_hint               what its parameters say about dt (snnTorch writes r = tau / dt)
    subthreshold          its discretised dynamics: gain, decays, biases (``Subthreshold``)
    spiking, threshold_field, reset_field
                          whether and when it fires, and its reset (``Reset``, from metadata)
    compartment           the integer neuron it runs as on the chip: its quantisation, its
                          update in each engine and its Lava process (``neurons/cuba.py``)

``lower`` puts these together into ``NeuronDynamics``, the form the normalise pass hands
to quantisation and to the float reference.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import InvalidValueError, UnsupportedModelError
from ..hardware.fixed_point import Reset


@dataclass(frozen=True)
class NeuronDynamics:
    """Per-step float dynamics of one layer (arrays of length n), the same form for every model:

        u[t] = alpha * u[t-1] + a[t] + current_bias        (synaptic current)
        v[t] = beta  * v[t-1] + u[t] + bias                 (membrane voltage)
        s[t] = v[t] > threshold                             (spiking models only; v >= threshold if inclusive)
        reset ZERO: v[t] = 0 where s[t];  SUBTRACT: v[t] -= reset_amount where s[t]
        v[t] = max(v[t], floor)                             (where a floor is set, after the reset)

    ``a[t]`` is the sum of the layer's projections (input gains already folded into the
    weights). NIR's ``v_reset`` is absorbed by measuring v relative to it:
    v_nir = v + v_offset, so NIR's initial v = 0 is ``-v_offset`` (``v_initial``, which an
    exporter's convention may set otherwise). ``kind`` names the neuron model (its key in
    ``NEURONS``); ``reset`` accepts a ``Reset`` or its name. A spiking neuron without reset
    (snnTorch's ``reset_mechanism="none"``) subtracts a reset amount of 0. ``compartment`` names
    the integer neuron that runs these dynamics (``neurons/compartment.py``); a compartment with
    more state subclasses this form.

    Several spikes per step (``max_spikes > 1``; inclusive threshold and subtractive reset,
    as Sinabs and Rockpool run them): a neuron at v >= threshold emits
    n = min(max_spikes, 1 + floor((v - threshold) / reset_amount)) spikes in the step and
    v -= n * reset_amount; its output at that step is n (a graded spike carrying the count).
    """

    compartment: ClassVar[str] = "cuba"
    kind: str
    alpha: np.ndarray
    beta: np.ndarray
    threshold: np.ndarray  # +inf for non-spiking models
    bias: np.ndarray
    current_bias: np.ndarray
    v_offset: np.ndarray
    reset: Reset
    reset_amount: np.ndarray  # subtracted on a spike when reset is SUBTRACT
    # keyword-only (a compartment's subclass may add positional fields):
    inclusive: bool = field(default=False, kw_only=True)  # fires at v >= threshold instead of v > threshold
    max_spikes: int = field(default=1, kw_only=True)  # spikes one neuron may emit in one step
    floor: np.ndarray | None = field(default=None, kw_only=True)  # lowest v after the reset (None: no floor)
    v_initial: np.ndarray | None = field(default=None, kw_only=True)  # v at the start of every sample (None: -v_offset, NIR's v = 0)

    def __post_init__(self):
        object.__setattr__(self, "reset", Reset.of(self.reset))
        if self.v_initial is None:
            object.__setattr__(self, "v_initial", -np.asarray(self.v_offset, dtype=np.float64))
        if self.max_spikes > 1 and not (self.inclusive and self.reset is Reset.SUBTRACT):
            raise ValueError("several spikes per step need an inclusive threshold and a subtractive reset")

    @property
    def several_spikes(self) -> bool:
        """True when a neuron may emit more than one spike in a step (graded spikes carry the count)."""
        return self.spiking and self.max_spikes > 1

    @property
    def spiking(self) -> bool:
        return self.reset is not Reset.NONE

    @property
    def size(self) -> int:
        return int(self.beta.shape[0])


@dataclass(frozen=True)
class Subthreshold:
    """A model's discretised dynamics below threshold (``NeuronDynamics`` without the spike),
    and the gain its input is multiplied by (folded into the layer's weights)."""

    gain: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    bias: np.ndarray
    current_bias: np.ndarray


@dataclass(frozen=True)
class Lowering:
    """One NIR neuron node being lowered: its name (for messages), its number of neurons, the
    constant input the synapses before it carry (their biases, or zeros), dt, and whether the
    node lies on a cycle of the graph (its own spikes reach it again: a recurrent layer)."""

    node: Any
    name: str
    n: int
    bias_in: np.ndarray
    dt: float
    recurrent: bool = False

    def param(self, field_name: str) -> np.ndarray:
        """A parameter as one float per neuron (one value broadcast to the layer)."""
        flat = np.asarray(getattr(self.node, field_name), dtype=np.float64).reshape(-1)
        if flat.size == self.n:
            return flat
        if flat.size == 1:
            return np.full(self.n, flat[0])
        raise InvalidValueError(f"node {self.name!r}: {field_name} has {flat.size} values for a layer of {self.n} neurons")

    def step_fraction(self, tau_field: str) -> np.ndarray:
        """dt / tau of a time constant, which the forward-Euler step needs in (0, 1]."""
        tau = self.param(tau_field)
        if np.any(tau <= 0):
            raise InvalidValueError(f"node {self.name!r}: {tau_field} must be > 0, got {tau.min():g}")
        fraction = self.dt / tau
        if np.any(fraction > 1):
            raise InvalidValueError(
                f"node {self.name!r}: {tau_field} = {tau.min():g} s is shorter than dt = {self.dt:g} s; "
                "the Euler step would be unstable (pass a smaller --dt)"
            )
        return fraction

    @property
    def zeros(self) -> np.ndarray:
        return np.zeros(self.n)

    @property
    def ones(self) -> np.ndarray:
        return np.ones(self.n)


class NeuronModel:
    """One NIR neuron primitive. A subclass sets the class attributes and implements
    ``subthreshold``; registering it is one line in ``neurons/__init__.py``."""

    name: ClassVar[str]  # the NIR node type's name, e.g. "LIF" (its key in NEURONS)
    node_class: ClassVar[type]  # the NIR node class
    fields: ClassVar[tuple[str, ...]]  # per-neuron parameters of the node, in NIR's order
    defaults: ClassVar[Mapping[str, float]] = {}  # fields older files omit, with the value NIR's semantics implies
    shape_field: ClassVar[str]  # the parameter whose shape is the layer's
    spiking: ClassVar[bool] = True
    threshold_field: ClassVar[str] = "v_threshold"
    reset_field: ClassVar[str | None] = "v_reset"  # None: it resets to 0
    compartment: ClassVar[str] = "cuba"  # the integer neuron it lowers to (neurons/compartment.py); snnTorch reset variants may need "extended"
    snntorch_modules: ClassVar[tuple[str, ...]] = ()  # snnTorch classes (snntorch.<name>, or "module:Class") that convert to this node

    def subthreshold(self, low: Lowering) -> Subthreshold:
        raise NotImplementedError

    def dt_hint(self, node) -> tuple[np.ndarray, np.ndarray] | None:
        """(tau, r) when r = tau / dt would tell dt (snnTorch's export convention); else None."""
        return None

    def from_snntorch(self, name: str, module, shape: tuple[int, ...], notes: list[str]):
        """The NIR node of an snnTorch neuron module of one of ``snntorch_modules``."""
        raise NotImplementedError(f"{self.name} has no snnTorch module")

    def snntorch_output_delay(self, module) -> int:
        """Steps by which the module's spikes trail the node's (the frontend adds a NIR Delay)."""
        return 0

    def lower(self, low: Lowering) -> tuple[NeuronDynamics, np.ndarray]:
        """The layer's ``NeuronDynamics`` under NIR's own semantics (forward Euler at dt, the
        reset from the node's metadata), and the input gain folded into its projections."""
        sub = self.subthreshold(low)
        reset, delayed = reset_mechanism(low.node, low.name) if self.spiking else (Reset.NONE, False)
        return self.dynamics(low, sub, reset, delayed=delayed), sub.gain

    def dynamics(
        self,
        low: Lowering,
        sub: Subthreshold,
        reset: Reset,
        *,
        delayed: bool = False,
        inclusive: bool = False,
        max_spikes: int = 1,
        floor: np.ndarray | None = None,
        v_initial: np.ndarray | None = None,
    ) -> NeuronDynamics:
        """``NeuronDynamics`` from discretised dynamics and a spike rule; ``floor`` and
        ``v_initial`` in NIR's units of v (None: no floor; NIR's v = 0). Exporter dialects
        (``dialects/``) call this with their own ``sub`` and rule."""
        if not self.spiking or reset is Reset.NONE:
            threshold, v_reset, reset, reset_amount = np.full(low.n, np.inf), low.zeros, Reset.NONE, low.zeros
            inclusive, max_spikes, floor = False, 1, None
        else:
            threshold = low.param(self.threshold_field)
            v_reset = low.zeros if self.reset_field is None else low.param(self.reset_field)
            reset_amount = threshold - v_reset
            if spikes_without_reset(low.node):
                reset_amount = low.zeros
            elif reset is Reset.SUBTRACT:
                if np.any(v_reset != 0):
                    raise UnsupportedModelError(f"node {low.name!r}: subtractive reset with a nonzero v_reset is ambiguous; use v_reset = 0")
                if delayed:
                    reset_amount = delayed_subtraction(threshold, sub.beta, low.name)
        return NeuronDynamics(
            kind=self.name,
            alpha=sub.alpha,
            beta=sub.beta,
            threshold=threshold - v_reset,
            bias=sub.bias - (1.0 - sub.beta) * v_reset,
            current_bias=sub.current_bias,
            v_offset=v_reset,
            reset=reset,
            reset_amount=reset_amount,
            inclusive=inclusive,
            max_spikes=max_spikes,
            floor=None if floor is None else np.asarray(floor, dtype=np.float64) - v_reset,
            v_initial=None if v_initial is None else np.asarray(v_initial, dtype=np.float64) - v_reset,
        )

    def layer_shape(self, node) -> tuple[int, ...] | None:
        """The layer's shape from its parameters ((1,) for one value), or None."""
        value = getattr(node, self.shape_field, None)
        return None if value is None else (tuple(int(x) for x in np.asarray(value).shape) or (1,))


def reset_mechanism(node, name: str) -> tuple[Reset, bool]:
    """(mechanism, delayed) from node metadata; NIR's own semantics is an immediate reset to v_reset.

    ``{"reset": "subtract"}`` (our snnTorch frontend writes it) subtracts the threshold;
    ``"reset_delay": true`` (snnTorch's default) delays the subtraction by one step;
    ``"none"`` spikes without resetting: a subtraction of nothing (``spikes_without_reset``)."""
    value = _metadata_text(node, "reset", _metadata_text(node, "reset_mechanism", "zero"))
    if value not in ("zero", "subtract", "none"):
        raise UnsupportedModelError(f"node {name!r}: reset mechanism {value!r} is not supported (zero, subtract or none)")
    meta = node.metadata or {}
    return Reset.of("subtract" if value == "none" else value), value != "none" and bool(meta.get("reset_delay", False))


def spikes_without_reset(node) -> bool:
    """The node's metadata says ``{"reset": "none"}``: it spikes and keeps v (snnTorch's reset_mechanism="none")."""
    return _metadata_text(node, "reset", _metadata_text(node, "reset_mechanism", "zero")) == "none"


def snntorch_module(node) -> str | None:
    """The snnTorch module the node was converted from (metadata ``snntorch_module``), or None:
    where it is set, the reset keys mean snnTorch's own semantics (``neurons/snntorch.py``)."""
    return _metadata_text(node, "snntorch_module", None)


def _metadata_text(node, key: str, default):
    value = (node.metadata or {}).get(key, default)
    return value.decode() if isinstance(value, bytes) else (str(value) if value is not None else None)


def delayed_subtraction(threshold: np.ndarray, beta: np.ndarray, name: str) -> np.ndarray:
    """snnTorch's delayed subtraction  v[t] = beta v[t-1] + u[t] - thr s[t-1]  equals an
    immediate subtraction of thr / beta at the spike: beta (v - thr/beta) = beta v - thr."""
    if np.any(beta <= 0):
        raise UnsupportedModelError(
            f"node {name!r}: a delayed subtractive reset (snnTorch reset_delay=True) with beta = 0 cannot be "
            "expressed as Loihi's immediate reset; retrain with reset_delay=False or beta > 0"
        )
    return threshold / beta

