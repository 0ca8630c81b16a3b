"""Proof against the exporters: networks built and exported by Sinabs, Rockpool, Norse and
snnTorch, run by the framework's own simulator (tests/exporters.py), and by neurodeploy.

The float target must reproduce the framework's spikes exactly (graded readouts within float32
rounding), reading the file as detected; the fixed-point targets must keep the framework's
classes (>= 95 % of samples) and spike counts (correlation >= 0.95 per layer); Lava and every
bit-exact engine must agree register for register on the several-spikes-per-step, membrane
floor and inclusive-threshold paths these networks take."""
from __future__ import annotations

import numpy as np
import pytest
from exporters import BUILDERS, build

from neurodeploy.backends.compare import compare_runs
from neurodeploy.backends.cpu import run_cpu
from neurodeploy.backends.float_reference import run_float
from neurodeploy.backends.lava_backend import run_lava
from neurodeploy.cli import main
from neurodeploy.dialects import DialectOptions
from neurodeploy.frontends import load_model
from neurodeploy.ir.passes import CompileOptions, compile_network
from neurodeploy.ir.passes.normalise import normalise
from neurodeploy.pipeline import DeployOptions, deploy
from neurodeploy.reports.fidelity import comparison_windows

CLASS_AGREEMENT, COUNT_CORRELATION = 0.95, 0.95
READOUT_RTOL = 1e-5  # float32 framework against the float64 reference


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cache = {}

    def get(name):
        if name not in cache:
            net = build(name, tmp_path_factory.mktemp(name))
            options = {k: v for k, v in net.options.items() if k != "dt"}
            cache[name] = net, compile_network(load_model(net.path), CompileOptions(
                profile=_profile(), dt=net.options.get("dt"), dialect_options=DialectOptions(**options)))
        return cache[name]

    return get


def _profile():
    from neurodeploy.hardware.profile import load_profile

    return load_profile("loihi2")


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_file_is_read_as_its_exporter_runs_it(exported, name):
    net, compiled = exported(name)
    choice = compiled.normalised.dialect
    assert (choice.name, choice.chosen_by) == (net.dialect, "detected"), choice
    assert choice.evidence and all(layer.conventions for layer in compiled.normalised.layers)
    result = run_float(compiled.normalised, net.x.reshape(net.x.shape[0], net.x.shape[1], -1), record_spikes=True, record_state=True)
    for layer, expected in net.spikes.items():
        ours = result.rasters[layer].astype(np.float64)
        assert ours.sum() > 0, f"{layer}: silent"
        differing = int(np.abs(ours - expected).sum())
        assert differing == 0, f"{name}: layer {layer!r}: {differing} of {int(expected.sum())} spikes differ from {net.dialect}'s"
    for layer, expected in net.readouts.items():
        v = result.traces[layer]["v"] + compiled.normalised.layer(layer).neurons.v_offset
        np.testing.assert_allclose(v, expected, rtol=READOUT_RTOL, atol=READOUT_RTOL * np.abs(expected).max(), err_msg=layer)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_fixed_point_keeps_the_exporters_classes_and_counts(exported, name):
    """Loihi delays every synapse by one step: a layer L hops deep answers L steps later, so its
    spikes over [L, T) are compared with the framework's over [0, T - L)."""
    net, compiled = exported(name)
    steps = net.x.shape[0]
    windows, _ = comparison_windows(compiled.quantised, steps)
    result = run_cpu(compiled.quantised, net.x.reshape(steps, net.x.shape[1], -1).astype(np.int32), windows=windows)
    for layer, expected in net.spikes.items():
        lag = windows[layer][0]
        theirs = expected[: steps - lag].sum(axis=0)
        ours = result.layers[layer].window_counts
        assert ours.sum() > 0 and theirs.sum() > 0, f"{layer}: silent"
        r = np.corrcoef(ours.ravel(), theirs.ravel())[0, 1]
        assert r >= COUNT_CORRELATION, f"{name}: layer {layer!r}: spike counts correlate r = {r:.3f} with {net.dialect}'s"
    if net.output in net.readouts:  # a readout classifies by its summed v (the first steps carry no input yet on the chip)
        ours, theirs = result.output_v_sum, net.readouts[net.output].sum(axis=0)
    else:
        lag = windows[net.output][0]
        ours, theirs = result.layers[net.output].window_counts, net.spikes[net.output][: steps - lag].sum(axis=0)
    agreement = np.mean(np.argmax(ours, axis=1) == np.argmax(theirs, axis=1))
    assert agreement >= CLASS_AGREEMENT, f"{name}: {agreement:.0%} of samples classified as {net.dialect} does"


@pytest.mark.parametrize("name", ["sinabs_mlp", "rockpool_cuba"])
def test_nirs_own_reading_of_the_file_is_another_network(exported, name):
    """Without its dialect the file runs as NIR's Euler equations: these networks fall silent
    (what the issue found), so the comparisons above can fail."""
    net, compiled = exported(name)
    plain = normalise(compiled.float_graph, dialect="nir", dt=compiled.normalised.dt)
    result = run_float(plain, net.x.reshape(net.x.shape[0], net.x.shape[1], -1), record_spikes=True)
    ours = sum(result.layers[layer].spikes for layer in net.spikes)
    theirs = sum(int(counts.sum()) for counts in net.spikes.values())
    assert ours < 0.05 * theirs, (ours, theirs)


@pytest.mark.lava
@pytest.mark.parametrize("name", ["sinabs_mlp", "rockpool_cuba"])
def test_lava_and_every_engine_run_the_exporters_network_bit_for_bit(exported, name):
    """Inclusive thresholds, several spikes per step (graded spikes into the next layer) and the
    membrane floor, on neurodeploy's Lava process and on the numba, numpy and torch engines."""
    net, compiled = exported(name)
    x = net.x[:20, :3].reshape(20, 3, -1).astype(np.int32)
    network = compiled.quantised
    assert any(layer.neurons.several_spikes for layer in network.layers)
    lava = run_lava(network, x, record_spikes=True, record_state=True)
    assert max(int(raster.max()) for raster in lava.rasters.values()) > 1, "no step with several spikes"
    for engine in ("numba", "numpy", "torch"):
        verdict = compare_runs(lava, run_cpu(network, x, record_spikes=True, record_state=True, engine=engine), [layer.name for layer in network.layers])
        assert verdict["passed"], f"{engine}: {verdict['first_difference']['message']}"


def test_binary_spikes_only_fire_once_per_step_and_say_so(exported):
    """Loihi 1 has no graded spikes: a Sinabs layer fires once per step there, the rest of v
    leaving in later steps, with a note, and the fidelity section measures the effect."""
    net, _ = exported("sinabs_mlp")
    outcome = deploy(DeployOptions(model=str(net.path), target="cpu", profile="loihi1", steps=20, batch=4, rate=0.3,
                                   min_v_mem="threshold", norm_input=False))
    report = outcome.report
    assert all(layer.spikes_per_step == 1 for layer in report.layers)
    assert any("binary" in note and "fidelity" in note for note in report.notes)
    assert all(report.fidelity[name]["rate_error"] is not None for name in net.spikes)
    assert not report.warnings


def test_command_line_reads_warns_and_flags_silence(exported, tmp_path, capsys):
    """The dialect and its assumptions in the terminal summary; --dialect nir on a Rockpool file
    gives a silent network, flagged as such and never as r=1.00."""
    net, _ = exported("sinabs_mlp")
    args = [str(net.path), "--target", "cpu", "--steps", "15", "--batch", "2", "--rate", "0.3", "--report-dir", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "read as: sinabs (Sinabs 3.1.3; detected)" in out and "WARNING: assumed: Sinabs IF membrane floor" in out
    assert main([*args, "--min-v-mem", "threshold", "--norm-input", "no"]) == 0
    assert "WARNING" not in capsys.readouterr().out
    rockpool, _ = exported("rockpool_cuba")
    assert main([str(rockpool.path), *args[1:], "--dialect", "nir"]) == 0
    out = capsys.readouterr().out
    assert "WARNING: the network is silent altogether on cpu" in out and "r=1.00" not in out and "SILENT (both)" in out
    assert main([*args, "--min-v-mem", "lowest"]) == 2
    assert "--min-v-mem lowest" in capsys.readouterr().err
