"""Unit tests of the fixed-point arithmetic against hand-worked values and Lava's own helpers."""
import numpy as np
import pytest
from lava.utils.weightutils import SignMode, clip_weights, truncate_weights

from neurodeploy.hardware import fixed_point as fx


@pytest.mark.parametrize("mode", ["mixed", "excitatory", "inhibitory"])
def test_stored_weights_equal_lavas_clip_and_truncate(rng, mode):
    raw = rng.integers(-600, 600, (40, 50))
    lava_mode = {"mixed": SignMode.MIXED, "excitatory": SignMode.EXCITATORY, "inhibitory": SignMode.INHIBITORY}[mode]
    expected = truncate_weights(clip_weights(raw, lava_mode, num_bits=8), lava_mode, 8)
    np.testing.assert_array_equal(fx.stored_weights(raw, mode, 8), expected)


def test_weight_ranges():
    assert fx.weight_range("mixed", 8) == (-256, 254, 2)
    assert fx.weight_range("excitatory", 8) == (0, 255, 1)
    assert fx.weight_range("inhibitory", 8) == (-255, 0, 1)
    assert fx.sign_mode_of(np.array([0, 1])) == "excitatory"
    assert fx.sign_mode_of(np.array([0, -1])) == "inhibitory"
    assert fx.sign_mode_of(np.array([-1, 1])) == "mixed"


def test_decay_rounds_towards_zero(loihi2):
    a = loihi2.arithmetic
    state = np.array([4097, -4097, 1, -1, 0], np.int32)
    # keep 4095/4096: 4097*4095/4096 = 4095.9998 -> 4095 (towards zero, also for -4097); +-1 -> 0
    np.testing.assert_array_equal(fx.decay(state, 4095, a), [4095, -4095, 0, 0, 0])
    np.testing.assert_array_equal(fx.decay(state, 0, a), [0, 0, 0, 0, 0])


def test_current_wraps_once_and_voltage_saturates(loihi2):
    a = loihi2.arithmetic
    half = 1 << 23
    u, wrapped = fx.wrap_current(np.array([half, half + 1, -half, -half + 1, 3 * half]), a)
    # 2**23 itself stays (Lava wraps only values above it); a single wrap leaves 3*2**23 out of range
    np.testing.assert_array_equal(u, [half, half + 1 - 2 * half, half, -half + 1, half])
    np.testing.assert_array_equal(wrapped, [False, True, True, False, True])
    v, saturated = fx.clip_voltage(np.array([half, -half, 5]), a)
    np.testing.assert_array_equal(v, [half - 1, -(half - 1), 5])
    np.testing.assert_array_equal(saturated, [True, True, False])


def test_neuron_step_by_hand(loihi2):
    """u = decay(u) + (a_in << 6); v = decay(v) + u + bias, worked through once."""
    a = loihi2.arithmetic
    u0, v0 = np.array([[1000]], np.int32), np.array([[2000]], np.int32)
    a_in = np.array([[3]], np.int32)
    du, dv = 1023, 2048  # u keeps (4096-1024)/4096 = 3/4, v keeps 1/2
    u, v, _, _ = fx.neuron_step(u0, v0, a_in, fx.current_keep(du, a), fx.voltage_keep(dv, a), np.int32(10), a)
    assert u[0, 0] == 750 + (3 << 6)
    assert v[0, 0] == 1000 + u[0, 0] + 10


def test_binary_and_graded_dense_overflow_like_lava():
    """Binary: shift in int64, then int32 wrap. Graded: int32 wrap of the product, then shift."""
    big = np.array([[2**31 + 5]], dtype=np.int64)
    assert fx.synaptic_input_binary(big, 0)[0, 0] == -(2**31) + 5
    assert fx.synaptic_input_binary(np.array([[-7]]), -1)[0, 0] == -4  # floor
    assert fx.synaptic_input_graded(np.array([[2**31 + 8]]), -2)[0, 0] == (-(2**31) + 8) >> 2


def test_fire_and_reset():
    v = np.array([[100, 200, 300]], np.int32)
    spikes, after = fx.fire_and_reset(v, np.array([150, 150, 150]), "zero")
    np.testing.assert_array_equal(spikes, [[False, True, True]])
    np.testing.assert_array_equal(after, [[100, 0, 0]])
    spikes, after = fx.fire_and_reset(v, np.array([150, 150, 150]), "subtract", np.array([150, 150, 150]))
    np.testing.assert_array_equal(after, [[100, 50, 150]])
