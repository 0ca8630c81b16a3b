"""Loihi fixed-point arithmetic, as Lava's bit-accurate models compute it.

This module is the specification the CPU backend runs and the Lava backend is
tested against. Every function reproduces, operation for operation and dtype for
dtype, Lava 0.10.0's ``PyDenseModelBitAcc`` and ``PyLifModelBitAcc``
(lava/proc/dense/models.py, lava/proc/lif/models.py), vectorised over a leading
batch axis. Bit widths come from the profile's ``ArithmeticSpec``.

Integer types follow Lava exactly because overflow behaviour depends on them:
- synaptic sums leave ``Dense`` through an int32 channel (wrap modulo 2**32); the other
  connection processes wrap elsewhere (``synaptic_output``);
- ``u`` and ``v`` are int32 registers; ``a_in << 6`` and ``u + v + bias`` wrap in int32;
- ``u`` is then wrapped once into the 24-bit range, ``v`` is clipped to it.
"""
from __future__ import annotations

import enum

import numpy as np

from .profile import ArithmeticSpec


class Reset(enum.IntEnum):
    """What a spike does to v. Each neuron model (``neurons/``) states its reset as one of
    these; every engine switches on it (the values are the codes the numba engine and
    neurodeploy's Lava process use)."""

    ZERO = 0  # v = 0 (Lava's LIF)
    SUBTRACT = 1  # v -= reset_sub (neurodeploy's Lava process)
    NONE = 2  # the neuron never spikes: a readout of v

    @classmethod
    def of(cls, value: "Reset | str") -> "Reset":
        """A Reset, or its name in any case ("zero", "subtract", "none")."""
        if isinstance(value, cls):
            return value
        try:
            return cls[str(value).upper()]
        except KeyError:
            raise ValueError(f"unknown reset {value!r}: {', '.join(r.name.lower() for r in cls)}") from None


# --------------------------------------------------------------------------- synapses
def weight_range(sign_mode: str, mantissa_bits: int) -> tuple[int, int, int]:
    """(lowest, highest, step) of the integer weights a Dense can hold in ``sign_mode``.

    Lava clips weights to ``mantissa_bits`` by sign mode, then drops the LSB in mixed
    mode (the sign takes one of the bits): mixed -> even values in
    [-2**b, 2**b - 2]; excitatory -> [0, 2**b - 1]; inhibitory -> [-(2**b - 1), 0].
    """
    top = 1 << mantissa_bits
    if sign_mode == "mixed":
        return -top, top - 2, 2
    if sign_mode == "excitatory":
        return 0, top - 1, 1
    if sign_mode == "inhibitory":
        return -(top - 1), 0, 1
    raise ValueError(f"unknown sign mode {sign_mode!r}")


def sign_mode_of(weights: np.ndarray) -> str:
    """Lava's ``determine_sign_mode``: excitatory if all >= 0, inhibitory if all <= 0."""
    if weights.size == 0 or weights.min() >= 0:
        return "excitatory"
    if weights.max() <= 0:
        return "inhibitory"
    return "mixed"


def stored_weights(weights: np.ndarray, sign_mode: str, mantissa_bits: int) -> np.ndarray:
    """Weights as Lava's Dense stores them (``clip_weights``, then ``truncate_weights``
    with ``num_weight_bits = mantissa_bits``): clipped to the sign mode's range, and in
    mixed mode rounded down to an even value."""
    low, high, step = weight_range(sign_mode, mantissa_bits)
    w = np.clip(np.asarray(weights).astype(np.int32), low, high)
    return (w >> (step - 1)) << (step - 1)


def shift_by_exponent(acc: np.ndarray, weight_exp: int) -> np.ndarray:
    """``acc * 2**weight_exp`` as Lava does it: left shift, or arithmetic (floor) right shift."""
    return np.left_shift(acc, weight_exp) if weight_exp > 0 else np.right_shift(acc, -weight_exp)


def wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap of exact integers into ``bits`` bits (int64 result)."""
    half = np.int64(1) << (bits - 1)
    return ((values.astype(np.int64) + half) & ((half << 1) - 1)) - half


def synaptic_output(exact_sum: np.ndarray, connection: str, weight_exp: int, graded: bool) -> np.ndarray:
    """What a Lava connection process emits (int32) for an exact integer weighted sum.

    The processes differ in where they wrap, which matters only on overflow:

    Dense, Sparse      binary spikes: ``weights[:, s].sum()`` is int64, shifted, then wraps
                       to int32 in the channel; graded: an int32 product (wraps), then the
                       shift in int32
    DelayDense         int64 per-delay sums, shifted, then added into an int32 buffer
    DelaySparse        a sparse int32 product (wraps), shifted in int32, added into the buffer
    Conv               no exponent at all (Lava's PyConvModelFixed ignores ``weight_exp``);
                       the sum wraps to 24 bits (``signed_clamp(x, 24)``)
    """
    acc = exact_sum.astype(np.int64)
    if connection == "Conv":
        return wrap(acc, 24).astype(np.int32)
    if connection == "DelaySparse" or (graded and connection in ("Dense", "Sparse")):
        return shift_by_exponent(wrap(acc, 32).astype(np.int32), weight_exp)
    if connection in ("Dense", "Sparse", "DelayDense"):
        return wrap(shift_by_exponent(acc, weight_exp), 32).astype(np.int32)
    raise ValueError(f"unknown connection {connection!r}")


def synaptic_input_binary(spike_sum: np.ndarray, weight_exp: int) -> np.ndarray:
    """Dense output for binary spikes (see ``synaptic_output``)."""
    return synaptic_output(spike_sum, "Dense", weight_exp, graded=False)


def synaptic_input_graded(weighted_sum: np.ndarray, weight_exp: int) -> np.ndarray:
    """Dense output for graded spikes (see ``synaptic_output``)."""
    return synaptic_output(weighted_sum, "Dense", weight_exp, graded=True)


# --------------------------------------------------------------------------- neurons
def effective_bias(bias_mant: np.ndarray, bias_exp: np.ndarray) -> np.ndarray:
    """``bias_mant << bias_exp`` in int32 (Lava's ``scale_bias``; exponents are >= 0)."""
    return np.left_shift(np.asarray(bias_mant).astype(np.int32), np.asarray(bias_exp).astype(np.int32))


def effective_threshold(vth: np.ndarray, arith: ArithmeticSpec) -> np.ndarray:
    """``vth << threshold_shift`` (Lava's ``scale_threshold``)."""
    return np.left_shift(np.asarray(vth).astype(np.int32), arith.threshold_shift)


def decay(state: np.ndarray, keep: np.ndarray, arith: ArithmeticSpec) -> np.ndarray:
    """``sign(x) * (|x| >> decay_bits)`` with ``x = state * keep`` in int64, back to int32.

    ``keep`` is ``2**decay_bits - (du + 1)`` for u and ``2**decay_bits - dv`` for v:
    the state keeps ``keep / 2**decay_bits`` of itself, rounded towards zero.
    """
    product = state.astype(np.int64) * keep
    return (np.sign(product) * np.right_shift(np.abs(product), arith.decay_bits)).astype(np.int32)


def wrap_current(x: np.ndarray, arith: ArithmeticSpec) -> tuple[np.ndarray, np.ndarray]:
    """Lava's single wrap of u into the state range: values above 2**(b-1) lose 2**b,
    values at or below -2**(b-1) gain 2**b (exactly once). Returns (u, wrapped mask)."""
    half = 1 << (arith.state_bits - 1)
    above = x > half
    below = x <= -half
    wrapped = np.where(above, x - 2 * half, x)
    wrapped = np.where(below, x + 2 * half, wrapped)
    return wrapped.astype(np.int32), above | below


def clip_voltage(x: np.ndarray, arith: ArithmeticSpec) -> tuple[np.ndarray, np.ndarray]:
    """v saturates at +-(2**(b-1) - 1). Returns (v, saturated mask)."""
    limit = arith.state_max
    saturated = (x > limit) | (x < -limit)
    return np.clip(x, -limit, limit).astype(np.int32), saturated


def neuron_step(
    u: np.ndarray,
    v: np.ndarray,
    a_in: np.ndarray,
    u_keep: np.ndarray,
    v_keep: np.ndarray,
    bias: np.ndarray,
    arith: ArithmeticSpec,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One sub-threshold update of Loihi's CUBA neuron (``subthr_dynamics``).

        u[t] = wrap( decay(u[t-1], du) + (a_in << 6) )
        v[t] = clip( decay(v[t-1], dv) + u[t] + bias )

    All int32 arithmetic wraps as in Lava. Returns (u, v, u_wrapped, v_saturated).
    """
    activation = np.left_shift(a_in.astype(np.int32), arith.activation_shift)
    u_new, u_wrapped = wrap_current(decay(u, u_keep, arith) + activation, arith)
    v_new, v_saturated = voltage_step(v, u_new, v_keep, bias, arith)
    return u_new, v_new, u_wrapped, v_saturated


def voltage_step(v: np.ndarray, u_new: np.ndarray, v_keep: np.ndarray, bias: np.ndarray, arith: ArithmeticSpec) -> tuple[np.ndarray, np.ndarray]:
    """v[t] = clip(decay(v[t-1], dv) + u[t] + bias), before the threshold test and the reset:
    (v, saturated mask)."""
    return clip_voltage(decay(v, v_keep, arith) + u_new + bias, arith)


def current_keep(du: np.ndarray, arith: ArithmeticSpec) -> np.ndarray:
    """Multiplier applied to u each step: ``2**decay_bits - (du + 1)`` (Loihi adds 1 to du)."""
    return arith.decay_unity - (np.asarray(du).astype(np.int64) + 1)


def voltage_keep(dv: np.ndarray, arith: ArithmeticSpec) -> np.ndarray:
    """Multiplier applied to v each step: ``2**decay_bits - dv``."""
    return arith.decay_unity - np.asarray(dv).astype(np.int64)


def firing_threshold(vth: np.ndarray, arith: ArithmeticSpec, inclusive: bool = False) -> np.ndarray:
    """The value v must exceed to fire: ``vth << 6``, or ``(vth << 6) - 1`` for an inclusive
    threshold (v >= T is v > T - 1 in integers), so every engine keeps one strict comparison."""
    return effective_threshold(vth, arith) - np.int32(1 if inclusive else 0)


def fire_and_reset(
    v: np.ndarray,
    vth_eff: np.ndarray,
    reset: Reset | str,
    reset_sub: np.ndarray | None = None,
    *,
    max_spikes: int = 1,
    v_floor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Spike where ``v > vth_eff`` (``firing_threshold``); then reset v to 0, or subtract
    ``reset_sub``; then, where a floor is set, ``v = max(v, v_floor)``. Returns (spikes, v).

    With ``max_spikes > 1`` (subtractive reset) a neuron fires
    ``n = min(max_spikes, 1 + (v - vth_eff - 1) // reset_sub)`` spikes, v -= n * reset_sub,
    and ``spikes`` holds the counts (int32), which a graded spike carries to the synapses.

    Lava's LIF resets to 0 (``reset_voltage``); subtraction, counts and the floor are
    neurodeploy's own process model (see ``backends/lava_processes/neurodeploy_lif.py``)."""
    reset = Reset.of(reset)
    fired = v > vth_eff
    if max_spikes > 1:
        if reset is not Reset.SUBTRACT:
            raise ValueError("several spikes per step need a subtractive reset")
        over = v.astype(np.int64) - vth_eff - 1
        counts = np.where(fired, np.minimum(1 + over // np.maximum(reset_sub, 1), max_spikes), 0)
        v = (v - counts * reset_sub.astype(np.int64)).astype(np.int32)
        spikes = counts.astype(np.int32)
    elif reset is Reset.ZERO:
        v = np.where(fired, 0, v).astype(np.int32)
        spikes = fired
    elif reset is Reset.SUBTRACT:
        v = np.where(fired, v - reset_sub, v).astype(np.int32)
        spikes = fired
    else:
        raise ValueError(f"reset {reset.name.lower()!r} does not fire")
    if v_floor is not None:
        v = np.maximum(v, v_floor).astype(np.int32)
    return spikes, v
