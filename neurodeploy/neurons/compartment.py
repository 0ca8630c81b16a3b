"""What a compartment is to neurodeploy: the integer neuron a layer runs as on the chip.

Neuron models (``NEURONS``) lower NIR nodes to float per-step dynamics; the dynamics' type
names the compartment that runs them (``dynamics.compartment``). A compartment owns, for
its kind of neuron:

    float form          its dynamics class (a ``NeuronDynamics``) and ``float_init`` /
                        ``float_step``: the float reference (``--target float``)
    integer form        its quantised-neurons class: the registers and their widths, and
                        CUBA's spike-rule attributes the engines read of every layer
                        (``inclusive``, ``max_spikes``, ``several_spikes``, ``v_floor``)
    quantisation        ``quantise`` (and ``fixed_scale`` where its state has a fixed
                        format), ``limits`` (checked after the quantise pass) and
                        ``configs`` (what a core's neuron-parameter table holds)
    work counted        ``update_bias``: the constant input that has a neuron updated every
                        step (``backends/core_counts.py``: CUBA's updated-neuron rule)
    numpy step          ``init_state`` / ``step``: the readable statement of its integer
                        arithmetic, the specification the other engines are held to
    torch step          ``torch_params`` / ``torch_init`` / ``torch_step`` (torch is
                        imported by them, never at module import)
    Lava process        a module in ``backends/lava_processes/`` (Lava looks for process
                        models next to their process classes), named by ``lava_module``

The CUBA compartment (``cuba.py``) is the exception: its updates live in the engines
themselves (``hardware/fixed_point.py``, ``backends/numba_engine.py``,
``backends/torch_engine.py``), where they are the hot path of every existing network.

Registering a compartment is one line in ``COMPARTMENTS`` (``neurons/__init__.py``). The
numba engine runs the compartments it has kernels for (``backends/numba_engine.py``,
which keeps them in its own file: numba's cache only notices changes to the file of the
function it compiled); a network with any other compartment runs on the numpy engine with
a note. Targets list the compartments they run (``Target.compartments``).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from ..hardware.profile import ArithmeticSpec


class Compartment:
    """One kind of integer neuron. A subclass sets the class attributes and implements the
    methods; its instance is registered in ``COMPARTMENTS``."""

    name: ClassVar[str]
    state: ClassVar[tuple[str, ...]] = ("u", "v")  # integer registers: recorded with record_state and compared by --verify
    lava_module: ClassVar[str] = ""  # its module in backends/lava_processes/ (build_process, process_models)
    current_bias: ClassVar[bool] = False  # it adds a constant current to u (else the quantise pass folds it into v's bias)

    # ------------------------------------------------------------------ quantisation
    def fixed_scale(self, dyn) -> float | None:
        """State units per float unit when the compartment fixes its state's format (the
        quantise pass then chooses no scale), else None."""
        return None

    def quantise(self, name: str, dyn, bias_total: np.ndarray, scale, arith: ArithmeticSpec) -> tuple[Any, list[str]]:
        """Layer ``name``'s neurons in integers at state scale ``scale`` (one, or one per
        neuron); returns the quantised neurons and notes on approximations."""
        raise NotImplementedError

    def limits(self, neurons, arith: ArithmeticSpec) -> Iterable[tuple[str, int, int]]:
        """(field, lowest, highest) of every per-neuron integer field, for the check after
        the quantise pass."""
        raise NotImplementedError

    def configs(self, neurons) -> list[tuple]:
        """Per neuron, the parameters a core's neuron-parameter table stores (neurons with
        equal tuples share an entry)."""
        raise NotImplementedError

    def update_bias(self, neurons) -> np.ndarray:
        """Per neuron, the constant input it receives every step (nonzero: it is updated every
        step, one of the conditions of an updated neuron in ``backends/core_counts.py``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ float form
    def float_init(self, dyn, batch: int) -> dict[str, np.ndarray]:
        """The float state at the start of a sample, (batch, n) each; "u" and "v" first."""
        raise NotImplementedError

    def float_step(self, dyn, state: dict[str, np.ndarray], a: np.ndarray) -> np.ndarray:
        """One step of the float form on synaptic input ``a`` (batch, n); updates ``state``
        in place and returns the spikes (bool)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ numpy step
    def init_state(self, neurons, batch: int, arith: ArithmeticSpec) -> dict[str, np.ndarray]:
        """The integer state at the start of a sample: one (batch, n) int32 array per name
        in ``state``."""
        raise NotImplementedError

    def step(self, neurons, state: dict[str, np.ndarray], a_in: np.ndarray, arith: ArithmeticSpec) -> tuple[np.ndarray, int, int]:
        """One step on the int32 synaptic input ``a_in`` (batch, n): updates ``state`` in
        place; returns (spikes, u wraps, v saturations)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ torch step
    def torch_params(self, neurons, arith: ArithmeticSpec, device) -> dict[str, Any]:
        raise NotImplementedError

    def torch_init(self, params: dict[str, Any], batch: int) -> dict[str, Any]:
        """The state as int64 tensors (batch, n) on the parameters' device."""
        raise NotImplementedError

    def torch_step(self, params: dict[str, Any], state: dict[str, Any], a_in) -> tuple[Any, Any, Any, Any]:
        """One step on ``a_in`` (batch, n), any integer-valued tensor: updates ``state``;
        returns (spikes as float64, inputs nonzero, u wraps, v saturations) (counts: 0-d tensors)."""
        raise NotImplementedError


def int32(x: np.ndarray) -> np.ndarray:
    """Exact integers wrapped into int32 (two's complement), as Lava's int32 registers do."""
    x = np.asarray(x, dtype=np.int64)
    return (((x + 2**31) & (2**32 - 1)) - 2**31).astype(np.int32)


def toward_zero(product: np.ndarray, bits: int) -> np.ndarray:
    """sign(p) * (|p| >> bits) on int64 products: Lava's decay, rounding towards zero."""
    product = np.asarray(product, dtype=np.int64)
    return np.sign(product) * np.right_shift(np.abs(product), bits)
