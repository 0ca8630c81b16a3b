"""The float reference's chunked run (layers over many steps at once, event-driven products)
against the same network one step at a time with numpy's and scipy's products, to the last
bit: recurrence within a layer and from a later layer, synaptic delays, sparse weights,
several spikes per step and a compartment of its own (refractory) all cross chunk borders.
Every product sums in one order, so a sample's floats do not depend on the batch."""
import numpy as np
import pytest
from scipy import sparse

from neurodeploy.backends import float_reference
from neurodeploy.hardware.fixed_point import Reset
from neurodeploy.ir.stages import INPUT, NeuronDynamics, NormalisedLayer, NormalisedNetwork, Projection
from neurodeploy.neurons.extended import extend


def dynamics(rng, n, **options):
    return NeuronDynamics("LIF", rng.uniform(0, 0.9, n), rng.uniform(0.5, 0.95, n), rng.uniform(0.8, 1.2, n), rng.normal(0, 0.02, n),
                          np.zeros(n), np.zeros(n), options.pop("reset", Reset.ZERO), np.ones(n), **options)


def network(rng) -> NormalisedNetwork:
    def dense(n_out, n_in, scale):
        return rng.normal(0.2, scale, (n_out, n_in))

    def layer(name, n, projections, neurons):
        return NormalisedLayer(name, (n,), tuple(Projection(s, w, d, None, ()) for s, w, d in projections), neurons, (name,))

    delays = rng.integers(0, 3, (25, 30))
    sparse_w = sparse.random(20, 25, density=0.3, random_state=1, format="csr") * 2.0
    several = dynamics(rng, 15, reset=Reset.SUBTRACT, inclusive=True, max_spikes=3, floor=np.full(15, -1.0))
    layers = (
        layer("a", 25, [(INPUT, dense(25, 30, 0.5), delays)], dynamics(rng, 25)),
        layer("b", 20, [("a", sparse_w, None), ("b", dense(20, 20, 0.3), None), ("c", dense(20, 15, 0.3), None)], dynamics(rng, 20)),
        layer("c", 15, [("b", dense(15, 20, 0.6), None)], several),
        layer("d", 10, [("c", dense(10, 15, 0.5), None)], extend(dynamics(rng, 10), refractory=2)),
    )
    return NormalisedNetwork((30,), layers, "d", 1e-3, "test", None)


def test_chunks_and_event_driven_products_equal_single_steps(monkeypatch):
    rng = np.random.default_rng(3)
    net = network(rng)
    assert float_reference.recurrent_groups(net) == [["a"], ["b", "c"], ["d"]]
    x = (rng.random((50, 6, 30)) < 0.2).astype(np.uint8)
    options = dict(record_spikes=True, record_state=True, windows={"d": (7, 31)})
    monkeypatch.setattr(float_reference, "CHUNK_BYTES", 6 * 30 * 8 * 16)  # chunks of 16 steps
    monkeypatch.setattr(float_reference, "EVENT_ROWS", 1)  # the event-driven kernels for every product they take
    chunked = float_reference.run_float(net, x, **options)
    monkeypatch.setattr(float_reference, "CHUNK_BYTES", 1)
    monkeypatch.setattr(float_reference, "EVENT_ROWS", 10**9)  # numpy's and scipy's products (the same order of sums)
    stepped = float_reference.run_float(net, x, **options)
    for name, acts in chunked.layers.items():
        assert acts.spikes > 0, f"layer {name} is silent"
        np.testing.assert_array_equal(acts.spike_counts, stepped.layers[name].spike_counts)
        np.testing.assert_array_equal(chunked.rasters[name], stepped.rasters[name])
        for var in ("u", "v"):
            np.testing.assert_array_equal(chunked.traces[name][var], stepped.traces[name][var])
        assert acts.active_neuron_updates == stepped.layers[name].active_neuron_updates
    assert chunked.rasters["c"].max() > 1, "some neuron of c fires several spikes in a step"
    np.testing.assert_array_equal(chunked.layers["d"].window_counts, stepped.layers["d"].window_counts)
    np.testing.assert_array_equal(chunked.output_v_sum, stepped.output_v_sum)


def _dense(matrix):
    return matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix, dtype=np.float64)


def test_compiled_neuron_update_gives_numpys_values(monkeypatch):
    """``float_kernels.cuba_step`` (wide layers) and the numpy update give the same floats:
    decaying and non-decaying currents, zero and subtractive resets, inclusive thresholds, a
    floor and a non-spiking layer."""
    rng = np.random.default_rng(4)

    def layer(name, source, n_in, neurons):
        weights = rng.normal(0.3, 0.5, (neurons.size, n_in))
        return NormalisedLayer(name, (neurons.size,), (Projection(source, weights, None, None, ()),), neurons, (name,))

    n = 12
    steady = dynamics(rng, n)
    steady = NeuronDynamics("LIF", np.zeros(n), steady.beta, steady.threshold, steady.bias, np.full(n, 0.01), np.zeros(n), Reset.SUBTRACT,
                            np.full(n, 0.7), inclusive=True, floor=np.full(n, -0.5))
    silent = NeuronDynamics("LI", rng.uniform(0, 0.9, n), rng.uniform(0.5, 0.95, n), np.full(n, np.inf), np.zeros(n), np.zeros(n), np.zeros(n),
                            Reset.NONE, np.zeros(n))
    layers = (layer("a", INPUT, 30, dynamics(rng, n)), layer("b", "a", n, steady), layer("c", "b", n, silent))
    net = NormalisedNetwork((30,), layers, "c", 1e-3, "test", None)
    x = (rng.random((40, 5, 30)) < 0.3).astype(np.uint8)
    runs = {}
    from neurodeploy.backends import float_kernels

    monkeypatch.setattr(float_kernels, "PARALLEL_VALUES", 0)  # split over the cores (tiny layers run on one otherwise)
    monkeypatch.setattr(float_reference, "EVENT_ROWS", 1)  # a run that loads numba (a small one keeps to numpy)
    real, calls = float_kernels.cuba_step, []
    monkeypatch.setattr(float_kernels, "cuba_step", lambda *args: calls.append(1) or real(*args))
    for name, threshold in (("compiled", 1), ("numpy", 10**9)):
        monkeypatch.setattr(float_reference, "STEP_KERNEL_VALUES", threshold)
        calls.clear()
        runs[name] = float_reference.run_float(net, x, record_spikes=True, record_state=True)
        assert bool(calls) == (name == "compiled"), f"the {name} run took the other update"
    for name in ("a", "b"):
        assert runs["numpy"].layers[name].spikes > 0, f"layer {name} is silent"
    for name in ("a", "b", "c"):
        for var in ("u", "v"):
            np.testing.assert_array_equal(runs["compiled"].traces[name][var], runs["numpy"].traces[name][var])
        np.testing.assert_array_equal(runs["compiled"].rasters[name], runs["numpy"].rasters[name])
        assert runs["compiled"].layers[name].active_neuron_updates == runs["numpy"].layers[name].active_neuron_updates


def _repeated_rows(rng) -> sparse.csr_matrix:
    """(30, 60) sparse weights whose sources repeat earlier ones' synapses (as a pooling folded
    into a convolution gives), with two sources without synapses and an explicit zero."""
    base = sparse.random(14, 60, density=0.3, random_state=6, format="csr") * 2.0
    weights = sparse.vstack([base, sparse.csr_matrix((1, 60)), base[rng.permutation(14)], sparse.csr_matrix((1, 60))]).tocsr()
    weights.data[0] = 0.0
    return weights


@pytest.mark.parametrize("cores", ["all", "one"])
def test_event_driven_products_add_each_source_in_order(monkeypatch, cores):
    """The kernels' sums equal adding each nonzero source's weight row, one at a time in source
    order, to what was there: dense weights (kept in float32 when exact, or float64) and sparse
    ones over a (channels, height, width) layer (runs in channels-last order), sources sharing
    weights, split over the cores or on one."""
    from neurodeploy.backends import float_kernels

    monkeypatch.setattr(float_kernels, "PARALLEL_VALUES", 0 if cores == "all" else 10**12)

    rng = np.random.default_rng(5)
    shape = (3, 4, 5)
    conv_like = sparse.random(60, 30, density=0.2, random_state=2, format="csr") * 3.0
    cases = [
        (rng.normal(size=(30, 60)), None),
        (rng.normal(size=(30, 60)).astype(np.float32).astype(np.float64), None),
        (conv_like.T.tocsr(), shape),
        (_repeated_rows(rng), shape),  # sources reading an earlier source's weights
    ]
    for weights, target_shape in cases:
        values = (rng.random((70, 30)) < 0.3) * rng.integers(1, 4, (70, 30))
        for kind in (np.uint8, np.float64):
            for start, zeroed in ((rng.normal(size=(70, 60)), False), (np.zeros((70, 60)), True)):  # zeroed: the sums start from zeros
                expected = start.copy()
                rows = _dense(weights)
                for r in range(values.shape[0]):
                    for j in np.flatnonzero(values[r]):
                        expected[r] += np.float64(values[r, j]) * rows[j]
                out = start.copy()
                float_kernels.add_product(values.astype(kind), float_kernels.kernel_weights(weights, target_shape), out, zeroed)
                np.testing.assert_array_equal(out, expected)


def test_small_products_give_the_event_driven_kernels_floats():
    """Below EVENT_ROWS (numpy and scipy, no numba) the sums are the kernels' to the last bit:
    into zeros and onto sums already there, one row and several, spikes, counts and graded
    values, dense weights (float64, float32 values held in float64, float32) and sparse ones
    over a (channels, height, width) layer."""
    from neurodeploy.backends import float_kernels

    rng = np.random.default_rng(7)
    cases = [
        (rng.normal(size=(30, 60)), None),
        (rng.normal(size=(30, 60)).astype(np.float32).astype(np.float64), None),
        (rng.normal(size=(30, 60)).astype(np.float32), None),
        (sparse.random(60, 30, density=0.2, random_state=4, format="csr").T.tocsr() * 3.0, (3, 4, 5)),
        (_repeated_rows(rng), (3, 4, 5)),
    ]
    events = rng.random((40, 30)) < 0.4
    events[5] = False  # a row without events
    for weights, target_shape in cases:
        for values in (events, events * rng.integers(1, 4, (40, 30)), events * rng.normal(size=(40, 30))):
            for rows in (values, values[7:8]):
                for start, zeroed in ((rng.normal(size=(len(rows), 60)), False), (np.zeros((len(rows), 60)), True)):
                    expected, out = start.copy(), start.copy()
                    float_kernels.add_product(rows, float_kernels.kernel_weights(weights, target_shape), expected, zeroed)
                    float_reference._ordered_product(rows, weights, out, zeroed)
                    assert not np.array_equal(out, start)
                    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("work", ["default", "kernels"])
def test_a_samples_floats_do_not_depend_on_the_samples_beside_it(work, monkeypatch):
    """A sample run alone (rows below EVENT_ROWS: numpy and scipy), in 20 samples (several rows,
    still below it) and in 300 (the event-driven kernels) gives the same spikes, output v sums and u
    and v traces to the last bit: graded and dense input onto dense float64 weights over two
    delays (a layer's second term onto sums already there), sparse weights, recurrence onto
    itself (a chunk in one compiled call, or step by step with traces) and from a later layer."""
    rng = np.random.default_rng(8)

    def layer(name, n, projections, neurons):
        return NormalisedLayer(name, (n,), tuple(Projection(s, w, d, None, ()) for s, w, d in projections), neurons, (name,))

    layers = (
        layer("a", 24, [(INPUT, rng.normal(0.15, 0.3, (24, 20)), rng.integers(0, 2, (24, 20)))], dynamics(rng, 24)),
        layer("b", 18, [("a", sparse.random(18, 24, density=0.4, random_state=5, format="csr") * 1.1, None),
                        ("b", rng.normal(0.0, 0.3, (18, 18)), None)], dynamics(rng, 18, reset=Reset.SUBTRACT)),
        layer("c", 12, [("b", rng.normal(0.1, 0.4, (12, 18)), None), ("d", rng.normal(0.0, 0.3, (12, 8)), None)], dynamics(rng, 12)),
        layer("d", 8, [("c", rng.normal(0.2, 0.4, (8, 12)), None)], dynamics(rng, 8)),
    )
    net = NormalisedNetwork((20,), layers, "d", 1e-3, "test", None)
    x = (rng.random((10, 300, 20)) < 0.5) * rng.uniform(0.5, 1.5, (10, 300, 20))
    assert 20 * 10 < float_reference.EVENT_ROWS <= 300 * 10
    if work == "kernels":  # a run this size takes the event-driven kernels whatever its rows (a wide network's one sample)
        monkeypatch.setattr(float_reference, "EVENT_WORK", 1.0)
    picked = [0, 17, 299]
    for traced in (False, True):
        runs = {batch: float_reference.run_float(net, x[:, :batch], record_state=traced) for batch in (300, 20)}
        for name, acts in runs[300].layers.items():
            assert acts.spike_counts[picked].sum() > 0, f"layer {name} is silent"
        for sample in picked:
            alone = float_reference.run_float(net, x[:, sample : sample + 1], record_state=traced)
            for run in (runs[300], runs[20]) if sample < 20 else (runs[300],):
                np.testing.assert_array_equal(alone.output_v_sum[0], run.output_v_sum[sample])
                for name, acts in alone.layers.items():
                    np.testing.assert_array_equal(acts.spike_counts[0], run.layers[name].spike_counts[sample])
                    if traced:
                        for var in ("u", "v"):
                            np.testing.assert_array_equal(alone.traces[name][var][:, 0], run.traces[name][var][:, sample])


def test_layer_stepping_alone_in_one_call_equals_one_step_at_a_time(monkeypatch):
    """``float_kernels.cuba_chunk`` (a plain layer's chunk in one call) against the one-step
    path with the event-driven kernels: recurrence onto itself over one and two steps (a
    delay), sparse recurrent weights, a subtractive reset with a floor, a non-decaying
    current, the output layer's v sum, chunk borders; the same spikes and floats."""
    rng = np.random.default_rng(6)
    n = 24
    delays = rng.integers(0, 2, (n, n))
    recurrent = sparse.random(n, n, density=0.4, random_state=3, format="csr") * 0.6
    subtractive = dynamics(rng, n, reset=Reset.SUBTRACT, inclusive=True, floor=np.full(n, -0.3))
    steady = NeuronDynamics("LIF", np.zeros(8), rng.uniform(0.5, 0.9, 8), np.ones(8), np.zeros(8), np.full(8, 0.02), np.zeros(8), Reset.ZERO, np.ones(8))

    def layer(name, size, projections, neurons):
        return NormalisedLayer(name, (size,), tuple(Projection(s, w, d, None, ()) for s, w, d in projections), neurons, (name,))

    layers = (
        layer("a", n, [(INPUT, rng.normal(0.1, 0.4, (n, 16)), None), ("a", rng.normal(-0.05, 0.3, (n, n)), delays)], dynamics(rng, n)),
        layer("b", n, [("a", rng.normal(0.0, 0.3, (n, n)), None), ("b", recurrent - 0.3 * (recurrent != 0), None)], subtractive),
        layer("c", 8, [("b", rng.normal(0.0, 0.2, (8, n)), None), ("c", rng.normal(0.0, 0.3, (8, 8)), None)], steady),
    )
    net = NormalisedNetwork((16,), layers, "c", 1e-3, "test", None)
    assert float_reference.recurrent_groups(net) == [["a"], ["b"], ["c"]]
    x = (rng.random((60, 7, 16)) < 0.3).astype(np.uint8)
    monkeypatch.setattr(float_reference, "EVENT_ROWS", 1)  # the one-step path's products in the event-driven kernels too
    monkeypatch.setattr(float_reference, "CHUNK_ROWS", 7 * 16)  # chunks of 16 steps
    runs = {}
    for path, dense_up_to in (("chunk", 1 << 22), ("steps", -1)):
        monkeypatch.setattr(float_reference, "RECURRENT_DENSE", dense_up_to)
        runs[path] = float_reference.run_float(net, x, record_spikes=True, windows={"c": (5, 44)})
    for name in ("a", "b", "c"):
        spikes = runs["steps"].rasters[name]
        assert 0 < spikes.mean() < 0.7, f"layer {name} is silent or saturated"  # saturated: every perturbation hides in the spikes
        np.testing.assert_array_equal(runs["chunk"].rasters[name], runs["steps"].rasters[name])
        assert runs["chunk"].layers[name].active_neuron_updates == runs["steps"].layers[name].active_neuron_updates
    np.testing.assert_array_equal(runs["chunk"].layers["c"].window_counts, runs["steps"].layers["c"].window_counts)
    np.testing.assert_array_equal(runs["chunk"].output_v_sum, runs["steps"].output_v_sum)


def _conv(rng, c_in, c_out, size, stride=1, mean=0.15):
    """A 3x3 convolution's (padded) synapses as a sparse (n_out, n_in) matrix, channels first,
    with float32 weights (as trained ones are)."""
    out_size = size // stride
    rows, cols = [], []
    for o in range(c_out):
        for y in range(out_size):
            for x in range(out_size):
                for i in range(c_in):
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            yy, xx = y * stride + dy, x * stride + dx
                            if 0 <= yy < size and 0 <= xx < size:
                                rows.append((o * out_size + y) * out_size + x)
                                cols.append((i * size + yy) * size + xx)
    values = rng.normal(mean, 0.5, len(rows)).astype(np.float32).astype(np.float64)
    return sparse.csr_matrix((values, (rows, cols)), shape=(c_out * out_size**2, c_in * size**2))


def test_kernel_weights_leave_the_weights_they_read_as_they_were():
    """The kernels' copy of sparse weights is put in channels-last order and sorted apart from
    the projection's matrix, which later products (and other targets) read."""
    from neurodeploy.backends import float_kernels

    weights = sparse.random(60, 30, density=0.3, random_state=2, format="csr").T.tocsr()
    before = [weights.data.copy(), weights.indices.copy(), weights.indptr.copy()]
    run_ptr, runs, data, order, permuted = float_kernels.kernel_weights(weights, (3, 4, 5))
    assert permuted and len(data) == weights.nnz
    for a, b in zip(before, (weights.data, weights.indices, weights.indptr)):
        np.testing.assert_array_equal(a, b)


def test_input_made_in_the_layers_compiled_call_gives_the_same_floats(monkeypatch):
    """``float_kernels.fused_chunk`` (a layer's input from spikes through sparse float32 weights
    made inside its chunk's call) against the input made ahead (``cuba_chunk``): convolutions in
    the channels-last order, a pooling folded into one (sources sharing their weights), a delay
    (no input in the first steps), recurrence onto itself, the
    output layer's v sum, weights sparse in form but all stored; layers not taking it (float64
    weights, dense ones) between; the same spikes, counts and floats, bit for bit."""
    from neurodeploy.backends import float_kernels

    rng = np.random.default_rng(11)

    def layer(name, shape, projections, neurons):
        return NormalisedLayer(name, shape, tuple(Projection(s, w, d, None, ()) for s, w, d in projections), neurons, (name,))

    windows = [(c * 3 + y // 2) * 3 + x // 2 for c in range(4) for y in range(6) for x in range(6)]
    average = sparse.csr_matrix((np.full(144, 0.25), (windows, np.arange(144))), shape=(36, 144))  # 2x2 pooling of (4, 6, 6)
    pool = (_conv(rng, 4, 3, 3, mean=0.0) @ average).tocsr()  # a window's four sources have the same synapses
    runs = float_kernels.kernel_weights(pool.T.tocsr(), (3, 3, 3))[1]
    assert len(np.unique(runs[:, 2])) < len(runs), "runs of sources with the same synapses read the same weights"
    full = sparse.csr_matrix(rng.normal(0.1, 0.6, (20, 30)).astype(np.float32).astype(np.float64))
    nets = {
        "cnn": NormalisedNetwork((2, 6, 6), (
            layer("conv", (4, 6, 6), [(INPUT, _conv(rng, 2, 4, 6), None)], dynamics(rng, 144)),
            layer("pool", (3, 3, 3), [("conv", pool, np.full(pool.shape, 2)), ("pool", rng.normal(0, 0.2, (27, 27)), None)],
                  dynamics(rng, 27, reset=Reset.SUBTRACT, floor=np.full(27, -0.5))),
            layer("dense", (7,), [("pool", rng.normal(0.0, 0.4, (7, 27)), None)], dynamics(rng, 7)),
            layer("out", (5,), [("dense", sparse.csr_matrix(rng.normal(0.3, 0.5, (5, 7)).astype(np.float32).astype(np.float64)), None)],
                  dynamics(rng, 5)),
        ), "out", 1e-3, "test", None),
        "dense": NormalisedNetwork((30,), (
            layer("h", (20,), [(INPUT, full, None)], dynamics(rng, 20)),
            layer("o", (6,), [("h", sparse.csr_matrix(rng.normal(0.0, 0.4, (6, 20))), None)], dynamics(rng, 6)),
        ), "o", 1e-3, "test", None),
    }
    fused = {"cnn": {"conv", "pool", "out"}, "dense": {"h"}}
    monkeypatch.setattr(float_reference, "EVENT_ROWS", 32)
    monkeypatch.setattr(float_reference, "CHUNK_ROWS", 8 * 16)  # chunks of 16 steps, the last one shorter
    monkeypatch.setattr(float_kernels, "PARALLEL_VALUES", 0)  # samples split over the cores
    real = float_kernels.fused_chunk
    for kind, net in nets.items():
        x = (rng.random((50, 8, int(np.prod(net.input_shape)))) < 0.2).astype(np.uint8)
        options = dict(record_spikes=True, windows={net.output_layer_name: (5, 40)})
        took = set()

        def spy(dyn, *args, took=took, layers=net.layers, **kwargs):
            took.add(next(layer.name for layer in layers if layer.neurons is dyn))
            return real(dyn, *args, **kwargs)

        monkeypatch.setattr(float_kernels, "fused_chunk", spy)
        made_inside = float_reference.run_float(net, x, **options)
        assert took == fused[kind]
        with monkeypatch.context() as ahead:
            ahead.setattr(float_reference._LayerRun, "run_fused", lambda *args: False)
            made_ahead = float_reference.run_float(net, x, **options)
        for name, acts in made_ahead.layers.items():
            assert 0 < made_ahead.rasters[name].mean() < 0.7, f"{kind}: layer {name} is silent or saturated"
            np.testing.assert_array_equal(made_inside.rasters[name], made_ahead.rasters[name])
            np.testing.assert_array_equal(made_inside.layers[name].spike_counts, acts.spike_counts)
            assert made_inside.layers[name].active_neuron_updates == acts.active_neuron_updates
        np.testing.assert_array_equal(made_inside.layers[net.output_layer_name].window_counts, made_ahead.layers[net.output_layer_name].window_counts)
        assert made_inside.output_v_sum.tobytes() == made_ahead.output_v_sum.tobytes()
