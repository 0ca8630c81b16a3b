"""The learning workloads of examples/ (docs/benchmarks.md), small: (c) the STDP window.
Workload (a) is tests/test_learning_run.py's problem; (b) is examples/mozafari.py's tests."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import stdp_window  # noqa: E402


def test_stdp_window_float_rule_and_fixed_point():
    delays = np.arange(-stdp_window.SPAN, stdp_window.SPAN + 1)
    ideal = stdp_window.expected(delays)
    float_rule = stdp_window.window("float", 20, 0)
    np.testing.assert_allclose(float_rule, ideal, atol=1e-4 * np.abs(ideal).max())
    fixed = stdp_window.window("cpu", 60, 0)
    near = (np.abs(delays) >= 1) & (np.abs(delays) <= 8)
    assert np.all(np.sign(fixed[near]) == np.sign(ideal[near]))  # potentiation after, depression before
    assert np.abs(fixed - ideal).mean() < 0.15 * np.abs(ideal).max()
    assert not np.array_equal(fixed, float_rule)  # the chip's 8-bit weights and 7-bit traces show
