"""The CPU backend is the specification: identical to Lava's fixed-point models, spike for
spike and u/v register for register, at every step, over randomised networks and inputs."""
import dataclasses

import numpy as np
import pytest

from neurodeploy.backends.compare import compare_runs
from neurodeploy.backends.core_counts import plan_core_counts
from neurodeploy.backends.cpu import run_cpu
from neurodeploy.backends.lava_backend import run_lava, uses_lava_lif
from neurodeploy.hardware.profile import load_profile
from neurodeploy.ir.passes import CompileOptions, compile_network
from neurodeploy.ir.passes.map_cores import map_cores
from neurodeploy.ir.stages import INPUT

from netgen import float_graph, integer_projection, random_input, random_nir_graph, random_quantised_network


def core_plan(network):
    """Each core's work per step (and the updated neurons) counted as the network maps onto Loihi 2."""
    return plan_core_counts(map_cores(network, load_profile("loihi2")))


def assert_same_counts(a, b):
    """Identical per-core counts, and per layer the same activity counts."""
    np.testing.assert_array_equal(a.core_counts.totals, b.core_counts.totals)
    np.testing.assert_array_equal(a.core_counts.steps, b.core_counts.steps)
    fields = ("spikes", "synops", "active_neuron_updates", "updated_neuron_updates")
    for name in a.layers:
        assert [getattr(a.layers[name], f) for f in fields] == [getattr(b.layers[name], f) for f in fields], name


def assert_identical(network, inputs):
    plan = core_plan(network)
    cpu = run_cpu(network, inputs, record_spikes=True, record_state=True, core_plan=plan)
    lava = run_lava(network, inputs, record_spikes=True, record_state=True, core_plan=plan)
    verdict = compare_runs(lava, cpu, [layer.name for layer in network.layers])
    assert verdict["passed"], verdict["first_difference"]["message"]
    assert_same_counts(cpu, lava)
    for name in cpu.layers:
        assert cpu.layers[name].saturations == lava.layers[name].saturations
    return cpu


@pytest.mark.lava
@pytest.mark.parametrize("case", range(6))
def test_random_integer_networks_match_lava(loihi2, case):
    rng = np.random.default_rng(1000 + case)
    sizes = [int(rng.integers(3, 40)) for _ in range(int(rng.integers(2, 5)))]
    network = random_quantised_network(rng, loihi2, sizes)
    inputs = random_input(rng, steps=int(rng.integers(15, 40)), batch=int(rng.integers(1, 4)), n=sizes[0])
    assert_identical(network, inputs)


@pytest.mark.lava
@pytest.mark.parametrize("case", range(3))
def test_extreme_parameters_saturate_and_wrap_like_lava(loihi2, case):
    """Large weights and exponents drive synaptic sums far past 16 bits, u past its 24-bit
    range (Lava's single wrap) and v into saturation; everything must still agree."""
    rng = np.random.default_rng(2000 + case)
    sizes = [int(rng.integers(60, 120)), int(rng.integers(10, 30)), int(rng.integers(3, 10))]
    network = random_quantised_network(rng, loihi2, sizes, extreme=True)
    inputs = random_input(rng, steps=25, batch=2, n=sizes[0], rate=0.8)
    cpu = assert_identical(network, inputs)
    totals = {key: sum(a.saturations[key] for a in cpu.layers.values()) for key in ("u_wrap", "v_saturate")}
    assert totals["u_wrap"] > 0 and totals["v_saturate"] > 0, totals


@pytest.mark.lava
def test_int32_wrap_of_shifted_activation_and_of_dense_sum(loihi2):
    """1100 active inputs x weight 254 x 2**7 overflows int32 when shifted by 6 (a_in << 6)."""
    rng = np.random.default_rng(7)
    network = random_quantised_network(rng, loihi2, [1100, 3], extreme=True, uniform=True, resets=["zero"])
    layer = network.layers[0]
    projection = integer_projection(INPUT, np.full((3, 1100), 254, np.int32), 7, "mixed", 8)
    layer = dataclasses.replace(layer, projections=(projection,))
    network = dataclasses.replace(network, layers=(layer,))
    inputs = np.ones((6, 1, 1100), np.int32)
    cpu = assert_identical(network, inputs)
    assert cpu.layers["layer0"].saturations["u_wrap"] > 0


@pytest.mark.lava
@pytest.mark.parametrize("bits", [8, 24])
def test_graded_input_matches_lava(loihi2, bits):
    rng = np.random.default_rng(3000 + bits)
    network = random_quantised_network(rng, loihi2, [30, 12, 4], graded_bits=bits)
    inputs = random_input(rng, steps=20, batch=2, n=30, graded_bits=bits)
    assert_identical(network, inputs)


@pytest.mark.lava
def test_per_neuron_parameters_and_subtractive_reset_use_our_lava_process(loihi2):
    rng = np.random.default_rng(11)
    network = random_quantised_network(rng, loihi2, [25, 15, 5], uniform=False, resets=["subtract", "none"])
    assert not any(uses_lava_lif(layer) for layer in network.layers)
    assert_identical(network, random_input(rng, steps=30, batch=2, n=25))


@pytest.mark.lava
def test_uniform_zero_reset_layers_use_lavas_own_lif(loihi2):
    rng = np.random.default_rng(12)
    network = random_quantised_network(rng, loihi2, [25, 15, 5], uniform=True, resets=["zero", "zero"])
    assert all(uses_lava_lif(layer) for layer in network.layers)
    assert_identical(network, random_input(rng, steps=30, batch=3, n=25))


@pytest.mark.lava
@pytest.mark.parametrize("case", range(3))
def test_compiled_nir_networks_match_lava(loihi2, case):
    """The whole path: random float NIR graph -> passes -> both backends."""
    rng = np.random.default_rng(4000 + case)
    sizes = [int(rng.integers(10, 50)) for _ in range(3)]
    compiled = compile_network(float_graph(random_nir_graph(rng, sizes)), CompileOptions(profile=loihi2))
    assert_identical(compiled.quantised, random_input(rng, steps=30, batch=2, n=sizes[0], rate=0.3))


@pytest.mark.lava
def test_lava_runtime_is_stopped_even_when_a_run_fails(loihi2, monkeypatch):
    """An error between run() calls must not leave Lava's process tree behind."""
    import multiprocessing

    from neurodeploy.backends import lava_backend

    def failing_chunks(batch, progress):
        yield 1
        raise RuntimeError("interrupted")

    monkeypatch.setattr(lava_backend, "_chunks", failing_chunks)
    rng = np.random.default_rng(5)
    network = random_quantised_network(rng, loihi2, [6, 4])
    with pytest.raises(RuntimeError, match="interrupted"):
        run_lava(network, random_input(rng, steps=5, batch=2, n=6))
    assert not [p for p in multiprocessing.active_children() if p.is_alive()]


@pytest.mark.parametrize("engine", ["numba", "torch"])
@pytest.mark.parametrize("case", range(8))
def test_engines_equal_the_numpy_statement(loihi2, case, engine):
    """The numba engine and the torch engine (CPU here; the same code runs on a GPU) agree
    with the numpy step loop of cpu.py everywhere (no Lava needed)."""
    rng = np.random.default_rng(5000 + case)
    sizes = [int(rng.integers(5, 60)) for _ in range(int(rng.integers(2, 5)))]
    graded = 8 if case % 3 == 0 else 0
    network = random_quantised_network(rng, loihi2, sizes, extreme=case % 2 == 1, graded_bits=graded)
    inputs = random_input(rng, steps=30, batch=3, n=sizes[0], graded_bits=graded)
    windows = {layer.name: tuple(sorted(int(t) for t in rng.integers(0, 31, 2))) for layer in network.layers}
    plan = core_plan(network)
    a = run_cpu(network, inputs, record_spikes=True, record_state=True, windows=windows, engine="numpy", core_plan=plan)
    b = run_cpu(network, inputs, record_spikes=True, record_state=True, windows=windows, engine=engine, core_plan=plan)
    verdict = compare_runs(a, b, [layer.name for layer in network.layers])
    assert verdict["passed"], verdict["first_difference"]
    assert_same_counts(a, b)
    for name in a.layers:
        np.testing.assert_array_equal(a.layers[name].window_counts, b.layers[name].window_counts)
        assert a.layers[name].saturations == b.layers[name].saturations
    np.testing.assert_allclose(a.output_v_sum, b.output_v_sum)



@pytest.mark.parametrize("sign_mode, low, high", [("mixed", -256, 254), ("excitatory", 0, 255), ("inhibitory", -255, 0)])
def test_dense_sums_over_many_active_inputs_at_the_weight_limits(loihi2, sign_mode, low, high):
    """700 inputs all active: the numba engine sums weight bytes in 16-bit blocks, signed
    bytes (mixed sign) in int16 blocks of 255 rows, unsigned ones in uint16 blocks of 257 rows;
    at the extremes (every stored byte -128 or 127, or 255) each block is at its limit."""
    rng = np.random.default_rng(11)
    network = random_quantised_network(rng, loihi2, [700, 30], resets=["none"])
    layer = network.layers[0]
    weights = np.where(np.arange(30)[:, None] % 2 == 0, low, high) * np.ones((30, 700), np.int32)
    weights[:, ::7] = 0  # a few zeros throughout
    weights[-2:] = [[low], [high]]  # two neurons at the extreme bytes on every row: full blocks
    projection = dataclasses.replace(layer.projections[0], weights=weights.astype(np.int32), sign_mode=sign_mode, weight_exp=-7)
    network = dataclasses.replace(network, layers=(dataclasses.replace(layer, projections=(projection,)),))
    inputs = np.ones((4, 2, 700), np.int32)
    a = run_cpu(network, inputs, record_spikes=True, record_state=True, engine="numpy")
    b = run_cpu(network, inputs, record_spikes=True, record_state=True, engine="numba")
    verdict = compare_runs(a, b, ["layer0"])
    assert verdict["passed"], verdict["first_difference"]
    assert np.abs(a.traces["layer0"]["u"]).max() > 0


def test_sparse_synapse_lists_as_runs_rebuild_the_matrix():
    """The numba engine adds sparse synapse lists run by run (consecutive targets); the
    runs, read back, are the matrix: empty columns, single synapses and long runs included."""
    from scipy import sparse

    from neurodeploy.backends.numba_engine import neuron_order, synapse_runs

    rng = np.random.default_rng(5)
    dense = (rng.random((40, 30)) < 0.3) * rng.integers(1, 100, (40, 30))
    dense[:, 3] = 0  # an empty column
    dense[5:35, 7] = 9  # one long run
    dense[:, -1] = 0  # an empty last column
    csc = sparse.csc_matrix(dense)
    csc.sort_indices()
    run_ptr, runs = synapse_runs(csc.indptr, csc.indices)
    rebuilt = np.zeros_like(dense)
    for j in range(dense.shape[1]):
        for first, length, offset in runs[run_ptr[j] : run_ptr[j + 1]]:
            rebuilt[first : first + length, j] = csc.data[offset : offset + length]
    np.testing.assert_array_equal(rebuilt, dense)
    assert np.all(runs[:, 1] >= 1) and runs[run_ptr[7] : run_ptr[8], 1].max() == 30
    order = neuron_order((3, 2, 4))  # channels last: engine neuron k is the layer's neuron order[k]
    assert order[:3].tolist() == [0, 8, 16] and sorted(order.tolist()) == list(range(24))


def test_dense_rows_padding_is_bounded():
    """Dense rows are padded with zero weights to whole vector passes, never more than doubling
    a row of 16 targets or more; every width from 1 to 2000 keeps all its targets."""
    from neurodeploy.backends.numba_engine import padded_row_length

    for n in range(1, 2001):
        stored = padded_row_length(n)
        assert n <= stored <= max(16, 2 * n) and stored % 16 == 0, (n, stored)
        assert n <= 64 or stored % 64 == 0, (n, stored)


@pytest.mark.parametrize("field, value", [("decay_bits", 16), ("state_bits", 32)])
def test_profiles_wider_than_the_numba_engine_run_on_the_numpy_engine(loihi2, capsys, field, value):
    """The numba engine computes u, v and decays in int32; a profile allowing wider formats
    runs on the numpy engine instead, with a note, not a crash."""
    from neurodeploy.backends.numba_engine import unsupported_reason

    rng = np.random.default_rng(21)
    network = random_quantised_network(rng, loihi2, [20, 12, 5])
    wide = dataclasses.replace(network, arithmetic=dataclasses.replace(network.arithmetic, **{field: value}))
    assert unsupported_reason(network) is None
    assert f"{field} {value}" in unsupported_reason(wide)
    inputs = random_input(rng, 30, 3, 20)
    a = run_cpu(wide, inputs, record_spikes=True, record_state=True)
    b = run_cpu(wide, inputs, record_spikes=True, record_state=True, engine="numpy")
    assert compare_runs(a, b, [layer.name for layer in wide.layers])["passed"]
    assert any("running the numpy engine" in note for note in a.notes)
    assert capsys.readouterr().err == ""  # a note in the result, never printed


def test_int32_shift_intrinsics_equal_numpys_int32_shifts():
    """The engine's update shifts with _ashr32 and _shl32 (LLVM's i32 shifts); for every
    width a profile can give (0..31) they equal numpy's int32 shifts, negative values and
    bits shifted out of 32 included."""
    import numba

    from neurodeploy.backends.numba_engine import _ashr32, _shl32

    @numba.njit
    def shifted(x, width):
        right, left = np.empty_like(x), np.empty_like(x)
        for i in range(x.size):
            right[i], left[i] = _ashr32(x[i], width), _shl32(x[i], width)
        return right, left

    rng = np.random.default_rng(3)
    x = np.concatenate([rng.integers(-(2**31), 2**31, 1000), [-(2**31), -1, 0, 1, 2**31 - 1]]).astype(np.int32)
    for width in range(32):
        right, left = shifted(x, width)
        np.testing.assert_array_equal(right, x >> np.int32(width))
        np.testing.assert_array_equal(left, x << np.int32(width))
