"""The built-in default: trains on digits, deploys, and Lava agrees with the CPU backend."""
from neurodeploy.pipeline import DeployOptions, deploy


def test_demo_verifies_bit_exact_and_keeps_its_accuracy():
    outcome = deploy(DeployOptions(model=None, verify=True, batch=25))
    report = outcome.report
    assert report.verify["passed"], report.verify["first_difference"]
    assert set(report.accuracy) == {"float", "loihi-sim", "cpu"}
    assert report.accuracy["float"] > 0.85 and report.accuracy["loihi-sim"] > 0.85
    assert report.accuracy["loihi-sim"] == report.accuracy["cpu"]
    assert report.input["source"] == "demo" and report.input["batch"] == 25
    assert [layer.lava_process for layer in report.layers] == ["LIF", "LIF"]  # Lava's own LIF
    assert report.totals["saturations"] == {"u_wrap": 0, "v_saturate": 0}
