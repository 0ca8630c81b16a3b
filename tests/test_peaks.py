"""Each layer's largest |u| and |v| (``RunRequest.record_peaks``, what the overflow analysis
reads): every bit-exact engine takes them as it steps, without traces, and they equal the
largest values of the numpy engine's recorded traces, saturation (u wraps, v clips) included."""
import numpy as np
import pytest
from test_compartments import network as compartment_network

from neurodeploy.backends.cpu import run_cpu
from neurodeploy.backends.torch_graphs import run_engine

from netgen import random_input, random_quantised_network

ENGINES = ("numpy", "numba", "torch", "torch-static")


def peaks_of(engine: str, network, inputs) -> dict[str, dict[str, int]]:
    if engine == "torch-static":  # the fixed-address steps CUDA graphs replay, here eagerly
        run = run_engine(network, inputs, "cpu", None, False, False, static=True, record_peaks=True)
        assert run.traces is None
        return {name: dict(zip("uv", (int(x) for x in p.tolist()))) for name, p in run.peaks.items()}
    result = run_cpu(network, inputs, engine=engine, record_peaks=True)
    assert result.traces is None and not result.notes, result.notes
    return result.peaks


def traced_peaks(network, inputs) -> dict[str, dict[str, int]]:
    traced = run_cpu(network, inputs, record_state=True, engine="numpy")
    assert all(traced.layers[layer.name].spikes > 0 for layer in network.layers), "a silent layer proves little"
    return traced, {name: {var: int(np.abs(traced.traces[name][var].astype(np.int64)).max()) for var in "uv"} for name in traced.traces}


@pytest.mark.parametrize("case", range(3))
def test_every_engines_peaks_equal_the_largest_traced_values(loihi2, case):
    rng = np.random.default_rng(2000 + case)
    sizes = [int(rng.integers(60, 120)), int(rng.integers(10, 30)), int(rng.integers(3, 10))]
    graded = 8 if case == 1 else 0
    network = random_quantised_network(rng, loihi2, sizes, extreme=True, graded_bits=graded, spike_rules=case == 2)
    inputs = random_input(rng, steps=25, batch=3, n=sizes[0], rate=0.8, graded_bits=graded)
    traced, expected = traced_peaks(network, inputs)
    totals = {key: sum(a.saturations[key] for a in traced.layers.values()) for key in ("u_wrap", "v_saturate")}
    assert totals["u_wrap"] > 0 and totals["v_saturate"] > 0, totals
    for engine in ENGINES:
        assert peaks_of(engine, network, inputs) == expected, engine


def test_peaks_of_the_other_compartments(loihi2):
    """Extended (ATRLIF) and Izhikevich layers: their own u and v registers."""
    rng = np.random.default_rng(1)
    network = compartment_network(rng, loihi2, extreme=True)
    inputs = random_input(rng, 40, 3, network.n_inputs)
    _, expected = traced_peaks(network, inputs)
    for engine in ("numba", "torch"):
        assert peaks_of(engine, network, inputs) == expected, engine
