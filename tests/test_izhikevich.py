"""Izhikevich (2003): the four regimes of the paper's Fig. 2 (RS, IB, CH, FS; I = 10) from a NIR
graph through the whole pipeline, in float and in fixed point, qualitatively (each regime's
firing pattern) and quantitatively (spike times against the equations integrated finely)."""
import nir
import numpy as np
import pytest

from neurodeploy.backends.cpu import run_cpu
from neurodeploy.backends.float_reference import run_float
from neurodeploy.errors import InvalidValueError
from neurodeploy.ir.passes import CompileOptions, compile_network
from neurodeploy.neurons.izhikevich import REGIMES, equation_spike_times
from neurodeploy.neurons.nir_extension import with_extension

from netgen import float_graph

NAMES = ("RS", "IB", "CH", "FS")
STEPS = 1000  # 1 s of 1 ms steps


def regime_graph(substeps: int, dt: float = 1e-3) -> nir.NIRGraph:
    a, b, c, d = (np.array([REGIMES[name][i] for name in NAMES]) for i in range(4))
    neuron = with_extension(nir.IF(r=np.ones(4), v_threshold=np.full(4, 30.0), v_reset=c), "Izhikevich", a=a, b=b, d=d, bias=10.0, substeps=substeps)
    nodes = {"input": nir.Input(np.array([1])), "fc": nir.Linear(np.full((4, 1), 1e-3)), "izh": neuron, "output": nir.Output(np.array([4]))}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "izh"), ("izh", "output")], metadata={"dt": dt}, type_check=False)


def spike_times(raster: np.ndarray) -> list[np.ndarray]:
    """Per neuron, the spike steps (1-based: the end of the 1 ms step, in ms)."""
    return [np.flatnonzero(raster[:, 0, i]) + 1.0 for i in range(raster.shape[2])]


def bursts(times: np.ndarray, gap: float = 10.0) -> list[int]:
    """Sizes of the groups of spikes closer than ``gap`` ms."""
    return [len(group) for group in np.split(times, np.flatnonzero(np.diff(times) >= gap) + 1)] if len(times) else []


def steady_isi(times: np.ndarray) -> float:
    """Mean ISI after the first 100 ms (CH: the mean period between burst onsets)."""
    isi = np.diff(times)
    return float(np.mean(isi[times[1:] > 100]))


def burst_period(times: np.ndarray) -> float:
    onsets = np.array([group[0] for group in np.split(times, np.flatnonzero(np.diff(times) >= 10.0) + 1)])
    return float(np.mean(np.diff(onsets)[onsets[1:] > 100]))


@pytest.fixture(scope="module")
def runs(request):
    from neurodeploy.hardware.profile import load_profile

    profile = load_profile("loihi2")
    x = np.zeros((STEPS, 1, 1), np.int32)
    out = {}
    for substeps in (2, 4):
        compiled = compile_network(float_graph(regime_graph(substeps)), CompileOptions(profile=profile))
        fixed = run_cpu(compiled.quantised, x, record_spikes=True)
        exact = run_float(compiled.normalised, x.astype(float), record_spikes=True)
        out[substeps] = (spike_times(fixed.rasters["izh"]), spike_times(exact.rasters["izh"]))
    a, b, c, d = (np.array([REGIMES[name][i] for name in NAMES]) for i in range(4))
    out["equations"] = equation_spike_times(a, b, c, d, 10.0, STEPS, h=0.01)
    return out


@pytest.mark.parametrize("substeps", [2, 4])
def test_regimes_fire_as_in_the_paper(runs, substeps):
    for form in runs[substeps]:  # fixed point, then its float scheme
        rs, ib, ch, fs = form
        assert 10 < len(rs) < 40 and np.all(np.diff(rs) > 10) and steady_isi(rs) >= 1.5 * (rs[1] - rs[0]), "RS: single spikes, adapting"
        first, *rest = bursts(ib)
        assert first >= 2 and rest and max(rest) == 1, "IB: an initial burst, then single spikes"
        assert sum(size >= 3 for size in bursts(ch)) >= 10, "CH: repeated bursts"
        late = np.diff(fs)[fs[1:] > 100]
        assert 1000 / late.mean() > 100 and late.std() / late.mean() < 0.1 and late.min() >= 3, "FS: fast and regular"


@pytest.mark.parametrize("substeps, tolerance", [(2, (0.08, 0.08, 0.15, 0.25)), (4, (0.04, 0.04, 0.08, 0.15))])
def test_spike_times_against_the_equations(runs, substeps, tolerance):
    fixed, exact = runs[substeps]
    for i, name in enumerate(NAMES):
        reference = runs["equations"][i]
        assert np.ceil(reference[0]) == fixed[i][0], f"{name}: first spike in another 1 ms step"
        measure = burst_period if name == "CH" else steady_isi
        error = abs(measure(fixed[i]) - measure(reference)) / measure(reference)
        assert error < tolerance[i], f"{name}: steady ISI (CH: burst period) {error:.1%} from the equations'"
        n = min(8, len(exact[i]))
        np.testing.assert_array_equal(fixed[i][:n], exact[i][:n], err_msg=f"{name}: fixed point leaves its float scheme early")
        assert abs(len(fixed[i]) - len(exact[i])) <= 2 and np.abs(fixed[i][: min(len(fixed[i]), len(exact[i]))] - exact[i][: len(fixed[i])]).max() <= 6


def test_a_step_that_is_no_power_of_two_of_a_millisecond_is_refused(loihi2):
    with pytest.raises(InvalidValueError, match="substeps of 2\\^-k ms"):
        compile_network(float_graph(regime_graph(2, dt=1e-4)), CompileOptions(profile=loihi2))
