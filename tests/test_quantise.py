"""Normalised -> quantised: representable integers, headroom, and fidelity to the float model."""
import dataclasses

import nir
import numpy as np
import pytest

from neurodeploy.backends.calibration import float_calibration
from neurodeploy.backends.cpu import run_cpu
from neurodeploy.backends.float_reference import run_float
from neurodeploy.errors import InputDataError, InvalidValueError
from neurodeploy.ir.checks import check_quantised
from neurodeploy.ir.passes import CompileOptions, compile_network
from neurodeploy.ir.passes.normalise import normalise
from neurodeploy.ir.passes.quantise import quantise
from neurodeploy.ir.stages import InputEncoding

from netgen import float_graph, random_input, random_nir_graph


@pytest.mark.parametrize("scaling", ["channel", "layer"])
@pytest.mark.parametrize("case", range(5))
def test_weights_keep_their_float_value_within_half_a_step(loihi2, case, scaling):
    rng = np.random.default_rng(case)
    net = normalise(float_graph(random_nir_graph(rng, [30, 20, 10])))
    q = quantise(net, loihi2, weight_scaling=scaling)
    by_layer = quantise(net, loihi2, weight_scaling="layer")
    check_quantised(q)
    for layer, reference in zip(q.layers, by_layer.layers):
        (p,) = layer.projections
        unit = 2.0 ** (p.weight_exp + loihi2.arithmetic.activation_shift)
        scale = np.reshape(layer.state_scale, (-1, 1))  # one per neuron (row), or one
        as_float = np.asarray(p.weights) * unit / scale
        step = 2 if p.sign_mode == "mixed" else 1
        max_error = step / 2 * unit / scale
        assert np.all(np.abs(as_float - p.float_projection.weight) <= max_error * (1 + 1e-9))
        row_max = np.abs(p.weights).max(axis=1)
        if scaling == "channel":  # each neuron's weights use more of the mantissa (as far as its own limits allow)
            layer_max = np.abs(reference.projections[0].weights).max(axis=1)
            assert np.all(row_max >= layer_max - 2) and row_max.mean() > layer_max.mean() and np.ndim(layer.state_scale) == 1
        else:
            assert row_max.max() >= 250 and np.ndim(layer.state_scale) == 0


def test_headroom_rule_means_no_wrap_even_with_every_input_on(loihi2):
    rng = np.random.default_rng(3)
    compiled = compile_network(float_graph(random_nir_graph(rng, [200, 50, 10], kinds=["CubaLIF", "LIF"])), CompileOptions(profile=loihi2))
    result = run_cpu(compiled.quantised, np.ones((60, 2, 200), np.int32))
    assert all(a.saturations["u_wrap"] == 0 for a in result.layers.values())


def test_fixed_point_spike_counts_track_the_float_model(loihi2):
    rng = np.random.default_rng(5)
    compiled = compile_network(float_graph(random_nir_graph(rng, [40, 60, 20], kinds=["LIF", "LIF"])), CompileOptions(profile=loihi2))
    x = random_input(rng, steps=200, batch=4, n=40, rate=0.2)
    fixed = run_cpu(compiled.quantised, x)
    exact = run_float(compiled.normalised, x.astype(float))
    for name in fixed.layers:
        a, b = fixed.layers[name].spike_counts.ravel(), exact.layers[name].spike_counts.ravel()
        assert np.corrcoef(a, b)[0, 1] > 0.95, name


def test_threshold_beyond_17_bits_is_an_error(loihi2):
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([2])),
            "fc": nir.Linear(np.array([[1e-6, 1e-6]])),
            "lif": nir.LIF(tau=np.array([0.01]), r=np.array([1.0]), v_leak=np.zeros(1), v_threshold=np.array([1e6]), v_reset=np.zeros(1)),
            "output": nir.Output(np.array([1])),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
    )
    with pytest.raises(InvalidValueError, match=r"layer 'lif': threshold .* 17-bit limit 131071"):
        quantise(normalise(float_graph(graph)), loihi2)


def test_graded_input_needs_graded_spikes(loihi1, loihi2):
    net = normalise(float_graph(random_nir_graph(np.random.default_rng(0), [5, 3])))
    with pytest.raises(InputDataError, match="carries binary spikes only"):
        quantise(net, loihi1, InputEncoding("graded", max_abs=2.0))
    q = quantise(net, loihi2, InputEncoding("graded", max_abs=2.0))
    assert q.input_encoding.bits == 8 and q.input_encoding.scale == pytest.approx(127 / 2.0)
    assert q.layers[0].projections[0].graded_bits == 8


def test_unrepresentable_decays_are_clipped_and_noted(loihi2):
    net = normalise(float_graph(random_nir_graph(np.random.default_rng(1), [5, 3], kinds=["LIF"])))
    layer = net.layers[0]
    slow = dataclasses.replace(layer.neurons, alpha=np.ones(3), beta=np.zeros(3))
    q = quantise(dataclasses.replace(net, layers=(dataclasses.replace(layer, neurons=slow),)), loihi2)
    assert np.all(q.layers[0].neurons.du == 0) and np.all(q.layers[0].neurons.dv == 4095)
    assert any("u decays by 1/4096" in n for n in q.notes) and any("keeps 1/4096" in n for n in q.notes)


def test_overflow_analysis_counts_wraps_and_names_the_layer(loihi2):
    from neurodeploy.reports.overflow import overflow_section

    from netgen import random_quantised_network

    rng = np.random.default_rng(2000)
    network = random_quantised_network(rng, loihi2, [90, 20, 5], extreme=True)
    run = run_cpu(network, random_input(rng, steps=25, batch=2, n=90, rate=0.8), record_state=True)
    section, warnings = overflow_section(network, run, "test data")
    wrapped = [name for name, entry in section["layers"].items() if entry["u_wrap"] or entry["v_saturate"]]
    assert wrapped and section["source"] == "test data" and section["samples"] == 2
    assert all(any(f"layer {name!r}" in w for w in warnings) for name in wrapped)
    assert all(0 <= entry["v_peak"] <= 1 for entry in section["layers"].values())


def test_quantisation_errors_are_reported_and_smaller_per_channel(loihi2):
    from neurodeploy.reports.fidelity import quantisation_errors

    net = normalise(float_graph(random_nir_graph(np.random.default_rng(4), [30, 20, 10])))
    errors = {}
    for scaling in ("layer", "channel"):
        q = quantise(net, loihi2, weight_scaling=scaling)
        errors[scaling] = [quantisation_errors(q, layer) for layer in q.layers]
    for by_layer, by_channel in zip(errors["layer"], errors["channel"]):
        assert by_channel["weight_rms_relative"] < by_layer["weight_rms_relative"] < 0.02
        assert by_channel["threshold_relative"] < 0.01 and by_channel["beta_abs"] < 1 / 4096


def test_quantisation_error_of_graded_input_weights_counts_the_input_scale(loihi2):
    """Graded input reaches the chip as integers x * scale: the weights per integer unit are
    W / scale, and the error report must compare like with like (it once read ~100 %)."""
    from neurodeploy.reports.fidelity import quantisation_errors

    net = normalise(float_graph(random_nir_graph(np.random.default_rng(4), [30, 20, 10])))
    q = quantise(net, loihi2, InputEncoding("graded", max_abs=3.0))
    assert q.layers[0].projections[0].graded_bits == 8
    assert quantisation_errors(q, q.layers[0])["weight_rms_relative"] < 0.02


def test_calibration_data_allows_larger_scales_and_keeps_spikes(loihi2):
    """A 200-input layer whose inputs are sparse: the worst case (all 200 active every
    step) forces a small scale; the observed ranges allow a larger one, without wraps."""
    rng = np.random.default_rng(6)
    graph = float_graph(random_nir_graph(rng, [200, 30, 10], kinds=["CubaLIF", "LIF"]))
    x = random_input(rng, steps=60, batch=8, n=200, rate=0.05)
    worst = compile_network(graph, CompileOptions(profile=loihi2, weight_scaling="layer"))
    data = compile_network(graph, CompileOptions(profile=loihi2, weight_scaling="layer"), calibrate=float_calibration(x.astype(float)))
    assert data.quantised.layers[0].state_scale > worst.quantised.layers[0].state_scale
    assert any("calibration data (8 samples" in note for note in data.quantised.notes)
    result = run_cpu(data.quantised, x)
    assert all(a.saturations["u_wrap"] == 0 for a in result.layers.values())


def test_a_weak_input_projection_does_not_shrink_the_layers_scale(loihi2):
    """A recurrent layer whose graded input weights (per integer input unit) are hundreds of
    times smaller than its recurrent weights: no exponent keeps both in the profile's range.
    The weak projection sits at the smallest exponent with coarser weights (and a note);
    the layer keeps the largest scale its current and threshold limits allow."""
    rng = np.random.default_rng(3)
    n = 200
    nodes = {
        "input": nir.Input(np.array([1])),
        "fc": nir.Linear(rng.uniform(0.2, 0.5, (n, 1))),
        "rec": nir.CubaLIF(tau_syn=np.full(n, 20e-3), tau_mem=np.full(n, 20e-3), r=np.ones(n), v_leak=np.zeros(n),
                           v_threshold=np.full(n, 0.1), v_reset=np.zeros(n), w_in=np.ones(n)),
        "w_rec": nir.Linear(rng.uniform(-1.0, 1.0, (n, n))),
        "output": nir.Output(np.array([n])),
    }
    edges = [("input", "fc"), ("fc", "rec"), ("rec", "w_rec"), ("w_rec", "rec"), ("rec", "output")]
    graph = float_graph(nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3}, type_check=False))
    q = quantise(normalise(graph), loihi2, InputEncoding("graded", max_abs=1.0), weight_scaling="layer")
    arith = loihi2.arithmetic
    layer = q.layer("rec")
    by_source = {p.source: p for p in layer.projections}
    main = by_source["rec"].float_projection.weight
    smallest = 254 / np.abs(main).max() * 2.0 ** (arith.weight_exponent_min + arith.activation_shift)
    assert layer.state_scale >= 8 * smallest
    assert by_source["input"].weight_exp == arith.weight_exponent_min
    assert by_source["rec"].weight_exp > arith.weight_exponent_min
    assert any("weights from 'input' are small" in note for note in q.notes)
    check_quantised(q)
