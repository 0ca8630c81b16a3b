"""The learning workloads of examples/ (docs/benchmarks.md), small: (b) the Mozafari-style
network and (c) the STDP window. Workload (a) is tests/test_learning_run.py's problem."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import mozafari  # noqa: E402
import stdp_window  # noqa: E402


def test_mozafari_learns_features_then_a_rewarded_readout():
    # a quarter of the features, so a quarter of the readout's input: a lower threshold and ramp; two host batches
    out = mozafari.run(features=4, n_train=120, n_test=60, epochs=1, patches=300, readout_threshold=30.0, readout_bias=0.6, batch=60, per_class=4)
    assert out["feature_spikes_per_patch"] > 0.2  # the patch layer answers (1-WTA: at most one spike)
    assert out["feature_weights"][0] != out["feature_weights"][1]  # the kernel was learned
    assert 0.3 < out["readout_spikes_per_sample"] <= 1.0  # 1-WTA readout: at most one spike per sample
    assert "y2*x1*(255-w)" in out["readout_rule"]["dw"] and "y3*x1*w" in out["readout_rule"]["dw"]  # reward and punishment
    assert out["readout_weights"][0] != out["readout_weights"][1]
    assert len(out["accuracy_by_epoch"]) == 2 and out["test_accuracy_wta"] > 0.25  # 10 classes: chance is 0.1


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
