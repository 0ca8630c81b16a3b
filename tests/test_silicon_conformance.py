"""Silicon conformance: one LIF neuron recorded on Loihi 2 (NIR paper, task 1).

``tests/data/nir-paper-lif`` (a copy of ../shared/conformance/nir-paper-lif; see its README)
holds the graph written by Norse and 1000 steps recorded on the chip: the input spikes
(column 0), the v register (column 1) and the output spikes (column 2). Deployed by
neurodeploy with its own scales, the neuron must fire at the silicon's steps on both
fixed-point backends, and its voltage must follow the chip's up to a constant factor.
"""
from pathlib import Path

import numpy as np
import pytest

from neurodeploy.backends.cpu import run_cpu
from neurodeploy.backends.float_reference import run_float
from neurodeploy.backends.lava_backend import run_lava
from neurodeploy.frontends import load_model
from neurodeploy.hardware.profile import load_profile
from neurodeploy.ir.passes import CompileOptions, compile_network

DATA = Path(__file__).resolve().parent / "data" / "nir-paper-lif"
DT = 1e-4  # the paper's time step


@pytest.fixture(scope="module")
def silicon():
    return np.loadtxt(DATA / "loihi_silicon.csv", delimiter=",")


@pytest.fixture(scope="module")
def compiled():
    return compile_network(load_model(str(DATA / "lif_norse.nir")), CompileOptions(profile=load_profile("loihi2"), dt=DT))


def spike_steps(result, name):
    return np.flatnonzero(result.rasters[name][:, 0, 0]).tolist()


@pytest.mark.lava
def test_spikes_at_the_silicon_steps_on_cpu_and_lava(silicon, compiled):
    x = silicon[:, 0].reshape(-1, 1, 1).astype(np.int32)
    name = compiled.quantised.layers[0].name
    expected = np.flatnonzero(silicon[:, 2]).tolist()
    assert expected == [461, 511, 711, 761]
    assert spike_steps(run_cpu(compiled.quantised, x, record_spikes=True), name) == expected
    assert spike_steps(run_lava(compiled.quantised, x, record_spikes=True), name) == expected
    # the float reference has no synaptic delay: one step earlier, as the exact solution
    assert spike_steps(run_float(compiled.normalised, x.astype(float), record_spikes=True), name) == [s - 1 for s in expected]


def test_voltage_follows_the_chip_up_to_the_scale(silicon, compiled):
    """Our v register (divided by the layer's state scale: float units) against the chip's
    v register: the same trace up to one factor, the ratio of the two scales."""
    x = silicon[:, 0].reshape(-1, 1, 1).astype(np.int32)
    layer = compiled.quantised.layers[0]
    ours = run_cpu(compiled.quantised, x, record_state=True).traces[layer.name]["v"][:, 0, 0] / layer.state_scale
    chip = silicon[:, 1]
    factor = float(ours @ chip / (ours @ ours))
    assert np.corrcoef(ours, chip)[0, 1] > 0.999
    assert factor == pytest.approx(16000, rel=0.01)  # the paper's scale: weight 10 << 6 per 0.04 of v
    assert layer.state_scale / factor > 400  # neurodeploy's scale uses ~400x finer voltage steps
