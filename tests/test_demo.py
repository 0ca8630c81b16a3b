"""The built-in default: trains on digits, deploys, and Lava agrees with the CPU backend."""
import pytest

from neurodeploy.pipeline import DeployOptions, deploy


@pytest.mark.slow
@pytest.mark.lava
def test_demo_verifies_bit_exact_and_keeps_its_accuracy(demo_model):
    outcome = deploy(DeployOptions(model=demo_model, verify=True, batch=25))
    report = outcome.report
    assert report.verify["passed"], report.verify["first_difference"]
    assert set(report.accuracy) == {"float", "loihi-sim", "cpu"}
    assert report.accuracy["float"] > 0.85 and report.accuracy["loihi-sim"] > 0.85
    assert report.accuracy["loihi-sim"] == report.accuracy["cpu"]
    assert report.input["source"] == "demo" and report.input["batch"] == 25
    # per-channel weight scaling gives every neuron its own threshold: neurodeploy's LIF process
    assert [layer.lava_process for layer in report.layers] == ["NeurodeployLIF", "NeurodeployLIF"]
    assert report.totals["saturations"] == {"u_wrap": 0, "v_saturate": 0}


@pytest.mark.slow
def test_layer_scaling_keeps_lavas_own_lif(demo_model):
    outcome = deploy(DeployOptions(model=demo_model, target="cpu", batch=5, weight_scaling="layer"))
    assert [layer.lava_process for layer in outcome.report.layers] == ["LIF", "LIF"]
