"""Learning runs as a user meets them: the specification (YAML and Python), its lowering onto the
learning engine, learning on every target through ``Target.learner`` (the bit-exact ones
identical, the float rule close), the learned network written back as NIR and redeployed, and
``deploy.py --learn`` with its report and one-line errors."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import nir
import numpy as np
import pytest
import yaml

from neurodeploy import cli
from neurodeploy.frontends.model import LoadedModel
from neurodeploy.hardware.profile import load_profile
from neurodeploy.learning import reference as R
from neurodeploy.learning import rules
from neurodeploy.learning.lowering import impulse_and_scale, lower
from neurodeploy.learning.spec import SpecError, load_spec, spec_from_dict
from neurodeploy.training.learn import LearnRequest, compile_learning, learn_on_chip, learning_ops

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import diehl_cook  # noqa: E402


def stdp_spec(**rule) -> dict:
    """Workload (a)'s specification (examples/diehl_cook.py), with changes to its rule."""
    _, spec = diehl_cook.build(4)
    spec["layers"]["layer"]["rule"].update(rule)
    return spec


def small_problem(neurons=30, n_train=300, n_test=200, steps=60, seed=0):
    """Workload (a) small: a competitive layer learning scikit-learn's digits, Poisson coded."""
    graph, _ = diehl_cook.build(neurons, seed)
    train, test = diehl_cook.data(n_train, n_test, steps, diehl_cook.DEFAULTS["max_rate"], seed)
    return graph, train, test


def learn(target, spec=None, epochs=2, **problem):
    graph, train, test = small_problem(**problem)
    request = LearnRequest(spec=spec_from_dict(spec or stdp_spec()), target=target, epochs=epochs, profile=load_profile("loihi2"),
                           train=train, test=test, seed=1)
    return learn_on_chip(LoadedModel(graph), request)


# --------------------------------------------------------------------------- the specification
def test_spec_yaml_round_trip_and_python_api(tmp_path):
    spec = spec_from_dict(stdp_spec(bounds="multiplicative", epoch=4), "mem")
    path = tmp_path / "rules.yaml"
    path.write_text(spec.to_yaml())
    again = load_spec(path)
    assert again.layers == spec.layers and again.readout == spec.readout and again.seed == spec.seed
    assert again.layer("layer").rule.epoch == 4 and math.isinf(again.layer("layer").homeostasis.tau_theta)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("neurodeploy-learning"), "neurodeploy-learning: None; this neurodeploy reads version 1"),
    (lambda s: s["layers"]["layer"]["rule"].update(kind="bcm"), "kind 'bcm'; choose one of stdp, rstdp, loihi"),
    (lambda s: s["layers"]["layer"]["rule"].update(epoch=3), "layers.layer.rule.epoch: 3 is not a power of two"),
    (lambda s: s["layers"]["layer"]["rule"].update(w_min=-0.5), "use 0 (excitatory) or -w_max"),
    (lambda s: s["layers"]["layer"]["rule"].update(tau_plus=0), "layers.layer.rule.tau_plus: 0 must be > 0"),
    (lambda s: s["layers"]["layer"].update(reward={"source": "label"}), "a reward needs a reward-modulated rule"),
    (lambda s: s["layers"]["layer"].update(inhibtion={"k_wta": 1}), "unknown key(s) inhibtion"),
    (lambda s: s["layers"]["layer"]["rule"].pop("a_plus"), "missing a_plus"),
    (lambda s: s["readout"].update(decision="vote"), "readout.decision: 'vote'"),
    (lambda s: s["layers"]["layer"].update(dropout=1.0), "layers.layer.dropout: 1.0 must be below 1"),
    (lambda s: s["layers"]["layer"].update(normalise={"weights": 0}), "layers.layer.normalise.weights: 0 must be > 0"),
    (lambda s: s["layers"]["layer"].update(normalise={"weights": 1.0, "norm": 3}), "layers.layer.normalise.norm: 3; choose one of 1, 2"),
    (lambda s: s["layers"]["layer"].update(rule={"kind": "rstdp", "a_plus": 0.1, "a_minus": 0.1, "tau_plus": 0.02, "tau_minus": 0.02,
                                                 "tau_eligibility": 0.02, "w_max": 1.0},
                                           reward={"source": "data", "adaptive": True}), "adaptive rates follow the first-spike rule"),
    (lambda s: s["layers"]["layer"]["rule"].update(trace_range=0.5), "trace_range: 0.5; a trace holds at least one spike's worth"),
    (lambda s: s["layers"]["layer"].update(rule={**MULT_RSTDP_SPEC["layers"]["layer"]["rule"], "trace_range": 4},
                                           reward=MULT_RSTDP_SPEC["layers"]["layer"]["reward"]),
     "multiplicative rstdp reads the pre trace as an indicator"),
])
def test_spec_errors_are_one_line(change, message):
    raw = stdp_spec()
    change(raw)
    with pytest.raises(SpecError) as error:
        spec_from_dict(raw, "rules.yaml")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_loihi_rule_in_yaml_and_python_lowers_to_the_engine_rule(tmp_path):
    """A ``loihi`` rule as YAML and as ``LoihiRule`` is the same rule; lowered, the engine runs
    its terms with the spec's epoch and seed."""
    from neurodeploy.learning.spec import LayerLearning, LearningSpec, LoihiRule

    raw = {"neurodeploy-learning": 1, "seed": 5, "layers": {"layer": {"rule": {**LOIHI_SPEC["layers"]["layer"]["rule"]}}}}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw))
    rule = LoihiRule(dw="2^-1*y0*x1 - 2^-3*x0*y1 + 2^-4*y0*x2*w - 2^-7*u2*w", epoch=2, x1_impulse=40, x1_tau=12, x2_impulse=20.5, x2_tau=4,
                     y1_impulse=30, y1_tau=8)
    assert load_spec(path).layers == LearningSpec(layers=(LayerLearning("layer", rule),)).layers
    assert spec_from_dict(yaml.safe_load(load_spec(path).to_yaml())).layer("layer").rule == rule
    graph, train, _ = small_problem(neurons=4, n_train=2, n_test=2, steps=10)
    request = LearnRequest(spec=spec_from_dict(raw), target="cpu", epochs=1, profile=load_profile("loihi2"), train=train, test=None)
    lowered = lower(request.spec, compile_learning(graph, request).quantised, request.profile).layer("layer").program.rule
    assert lowered == rules.LearningRule(**rule.terms(), t_epoch=2, rng_seed=5)


def test_loihi_rule_strings_are_checked():
    raw = stdp_spec()
    raw["layers"]["layer"]["rule"] = {"kind": "loihi", "dw": "2^-2*x0*y1 - 9*y0*x1", "x1_impulse": 20, "x1_tau": 10, "y1_impulse": 20,
                                      "y1_tau": 10}
    graph, train, _ = small_problem()
    request = LearnRequest(spec=spec_from_dict(raw), target="cpu", epochs=1, profile=load_profile("loihi2"), train=train, test=None)
    with pytest.raises(SpecError, match="layers.layer.rule: Mantissa magnitude too large"):
        lower(request.spec, compile_learning(graph, request).quantised, request.profile)


# --------------------------------------------------------------------------- lowering
def test_lowering_uses_the_full_mantissa_and_states_each_parameter():
    graph, train, _ = small_problem()
    request = LearnRequest(spec=spec_from_dict(stdp_spec(a_minus=0.004)), target="cpu", epochs=1, profile=load_profile("loihi2"),
                           train=train, test=None)
    compiled = compile_learning(graph, request)
    layer = lower(request.spec, compiled.quantised, request.profile).layer("layer")
    table = {row.parameter: row for row in layer.table}
    assert layer.weight_range == (0, 255) and table["w_max"].lowered.startswith("255")
    assert layer.program.sign_mode == "excitatory" and layer.program.weights.max() <= 0.3 * 255 + 1
    for name in ("a_plus", "a_minus", "tau_plus", "w_decay"):
        assert table[name].relative_error < 0.05, table[name]
    rule = layer.program.rule
    assert "*y0*x1" in rule.dw and "*x0*y1" in rule.dw and "*y0*w" in rule.dw and rule.t_epoch == 1
    assert rules.parse_rule(rule.dw)  # Lava's grammar takes what the lowering writes
    assert layer.program.neurons.theta_step[0] % 64 == 0 and layer.program.recurrent is not None


@pytest.mark.parametrize("trace_range", [1, 3, 30.5])
def test_trace_range_sets_an_impulse_that_never_saturates(trace_range):
    """The impulse leaves the trace room for ``trace_range`` spikes at one spike per step."""
    graph, train, _ = small_problem(neurons=4, n_train=2)
    profile = load_profile("loihi2")
    request = LearnRequest(spec=spec_from_dict(stdp_spec(a_minus=0.004, trace_range=trace_range)), target="cpu", epochs=1,
                           profile=profile, train=train, test=None)
    layer = lower(request.spec, compile_learning(graph, request).quantised, profile).layer("layer")
    rule, top = layer.program.rule, 2 ** profile.learning.trace_bits - 1
    assert any(f"impulse {top // trace_range:g} on the pre and the post trace" in note for note in layer.notes)
    for impulse, tau in ((rule.x1_impulse, rule.x1_tau), (rule.y1_impulse, rule.y1_tau)):
        assert impulse == top // trace_range
        trace = np.zeros(1, dtype=int)
        for _ in range(math.floor(trace_range)):
            before = R.decay_trace(trace, tau, 0.0)
            trace = R.add_impulse(before, 0, int(impulse), 0)
            assert trace[0] == before[0] + impulse <= top  # the whole impulse lands: not clipped


def test_impulse_and_scale_search():
    limits = load_profile("loihi2").learning
    for target in (0.37, 1.0, 3.3, 120.0):
        i, m, e = impulse_and_scale(target, limits)
        assert 1 <= i <= 127 and 1 <= m <= 7 and -7 <= e <= 8
        assert abs(i * m * 2.0 ** e - target) / target < 0.02
    i, m, e = impulse_and_scale(0.05, limits)  # near the engine's resolution (2**-7 per trace unit): coarser
    assert abs(i * m * 2.0 ** e - 0.05) / 0.05 < 0.07
    assert impulse_and_scale(0.001, limits) == (1, 1, -7)  # below it: its smallest step

def test_learning_ops_count_active_synapses():
    rng = np.random.default_rng(4)
    pre, post = (rng.random((64, 9)) < 0.1).astype(np.uint8), (rng.random((64, 5)) < 0.1).astype(np.uint8)

    class Lowered:  # the two fields learning_ops reads
        class program:
            rule = rules.LearningRule(dw="x0*y1", t_epoch=4)

    expected = 0
    for e in range(16):
        a, b = pre[4 * e:4 * e + 4].any(axis=0), post[4 * e:4 * e + 4].any(axis=0)
        expected += int((a[None, :] | b[:, None]).sum())
    assert learning_ops(pre, post, Lowered, 0) == expected
    assert learning_ops(pre[:62], post[:62], Lowered, 0) == expected - int((pre[60:64].any(0)[None, :] | post[60:64].any(0)[:, None]).sum())

    class EveryStep:  # t_epoch 1: each step its own epoch
        class program:
            rule = rules.LearningRule(dw="x0*y1", t_epoch=1)

    per_step = sum(int((pre[t].astype(bool)[None, :] | post[t].astype(bool)[:, None]).sum()) for t in range(64))
    assert learning_ops(pre, post, EveryStep, 7) == per_step


# --------------------------------------------------------------------------- learning on the targets
@pytest.fixture(scope="module")
def cpu_run():
    return learn("cpu")


def test_cpu_learning_learns_and_the_numpy_reference_agrees(cpu_run):
    summary = cpu_run.summary
    history = summary["accuracy_by_epoch"]
    layer = summary["layers"][0]
    assert history[-1]["spikes_per_sample"] > 1 and layer["synaptic_updates"] > 0 and layer["energy_j"] > 0
    assert layer["weights_after"]["mean"] != layer["weights_before"]["mean"]
    assert history[-1]["test_accuracy"] > 0.6 > history[0]["test_accuracy"] + 0.2
    reference = learn("cpu-numpy", epochs=1, n_train=40, n_test=40)
    one = learn("cpu", epochs=1, n_train=40, n_test=40)
    assert one.summary["layers"][0]["weights_after"] == reference.summary["layers"][0]["weights_after"]
    assert one.summary["accuracy_by_epoch"] == reference.summary["accuracy_by_epoch"]
    w_cpu = one.compiled.quantised.layer("layer").projections[0].weights
    assert np.array_equal(w_cpu, reference.compiled.quantised.layer("layer").projections[0].weights)


RSTDP_SPEC = {"neurodeploy-learning": 1, "seed": 3,
              "layers": {"layer": {"rule": {"kind": "rstdp", "a_plus": 0.05, "a_minus": 0.03, "tau_plus": 0.02, "tau_minus": 0.01,
                                            "tau_eligibility": 0.01, "w_max": 1.0, "w_min": -1.0, "w_decay": 2 ** -6},
                                   "inhibition": {"k_wta": 1},
                                   "reward": {"source": "label", "reward": 0.02, "punishment": 0.01, "neurons_per_class": 1}}},
              "readout": {"layer": "layer", "decision": "first-spike"}}
HOST_SPEC = {**RSTDP_SPEC, "layers": {"layer": {**RSTDP_SPEC["layers"]["layer"], "dropout": 0.5,
                                                "reward": {**RSTDP_SPEC["layers"]["layer"]["reward"], "adaptive": True, "batch": 3}}}}
MULT_RSTDP_SPEC = {"neurodeploy-learning": 1, "seed": 3,
                   "layers": {"layer": {"rule": {"kind": "rstdp", "a_plus": 0.1, "a_minus": 0.05, "tau_plus": 1.0, "tau_minus": 0.02,
                                                 "tau_eligibility": 0.01, "w_max": 1.0, "bounds": "multiplicative"},
                                        "inhibition": {"k_wta": 1},
                                        "reward": {"source": "label", "reward": 0.5, "punishment": 0.05, "neurons_per_class": 1}}},
                   "readout": {"layer": "layer", "decision": "first-spike"}}
LOIHI_SPEC = {"neurodeploy-learning": 1, "seed": 5,
              "layers": {"layer": {"rule": {"kind": "loihi", "dw": "2^-1*y0*x1 - 2^-3*x0*y1 + 2^-4*y0*x2*w - 2^-7*u2*w", "epoch": 2,
                                            "x1_impulse": 40, "x1_tau": 12, "x2_impulse": 20.5, "x2_tau": 4, "y1_impulse": 30, "y1_tau": 8},
                                   "homeostasis": {"theta_plus": 0.5}}},
              "readout": {"layer": "layer", "decision": "label-assignment"}}


NORM_SPEC = {**HOST_SPEC, "layers": {"layer": {**HOST_SPEC["layers"]["layer"], "normalise": {"weights": 1.5, "norm": 2, "batch": 2}}}}


def test_normalise_rescales_each_neurons_weights_between_batches(tmp_path):
    """normalise: before every batch and after the last sample the host rescales each neuron's
    weights to one L2 norm (integer weights on the chip, exact for the float rule); the engine
    and the numpy reference agree; the YAML holds it."""
    kw = dict(neurons=8, n_train=9, n_test=6, steps=30, epochs=1)
    runs = {target: learn(target, spec=NORM_SPEC, **kw) for target in ("cpu", "cpu-numpy", "float")}
    assert runs["cpu"].summary["accuracy_by_epoch"][-1]["spikes_per_sample"] >= 0.5
    assert runs["cpu"].summary["layers"][0]["weights_after"] == runs["cpu-numpy"].summary["layers"][0]["weights_after"]
    for target, tolerance in (("cpu", 0.02), ("float", 1e-9)):
        w = np.asarray(runs[target].model.graph.graph.nodes["synapses"].weight)
        assert np.allclose(np.linalg.norm(w, axis=1), 1.5, rtol=tolerance), target
    path = tmp_path / "rules.yaml"
    path.write_text(spec_from_dict(NORM_SPEC).to_yaml())
    assert load_spec(path).layer("layer").normalise == spec_from_dict(NORM_SPEC).layer("layer").normalise


def test_dropout_writes_thresholds_between_samples():
    """dropout: the host raises a share of the neurons' thresholds out of reach for each sample
    and writes them back after it; the engine and the numpy reference agree, and neurons drop."""
    kw = dict(neurons=10, n_train=12, n_test=6, steps=30, epochs=1)
    dropped = {**HOST_SPEC, "layers": {"layer": {**HOST_SPEC["layers"]["layer"], "dropout": 0.9, "inhibition": {"k_wta": 0}}}}
    kept = {**dropped, "layers": {"layer": {**dropped["layers"]["layer"], "dropout": 0.0}}}
    cpu, reference, full = learn("cpu", spec=dropped, **kw), learn("cpu-numpy", spec=dropped, **kw), learn("cpu", spec=kept, **kw)
    spikes = [run.summary["accuracy_by_epoch"][-1]["spikes_per_sample"] for run in (cpu, full)]
    assert 0 < spikes[0] < 0.5 * spikes[1]
    assert cpu.summary["layers"][0]["weights_after"] == reference.summary["layers"][0]["weights_after"]
    assert cpu.summary["accuracy_by_epoch"] == reference.summary["accuracy_by_epoch"]
    theta = [np.asarray(run.model.graph.graph.nodes["layer"].v_threshold) for run in (cpu, full)]
    assert np.array_equal(theta[0], theta[1])  # the thresholds written back after each sample


@pytest.mark.lava
@pytest.mark.parametrize("spec", [None, RSTDP_SPEC, MULT_RSTDP_SPEC, LOIHI_SPEC, NORM_SPEC],
                         ids=["stdp", "rstdp", "rstdp-multiplicative", "loihi", "adaptive-dropout-normalise"])
def test_lava_learning_run_is_bit_exact_with_cpu(spec):
    """Each kind of rule, from the specification through lowering to learning, on Lava and on
    the CPU backend: the same weights, thresholds, updates and accuracy after every epoch; with
    the host's rate, threshold and weight writes between samples (adaptive rates, dropout,
    normalise) too."""
    kw = dict(neurons=6, n_train=6, n_test=6, steps=30, epochs=2)
    cpu, lava = learn("cpu", spec=spec, **kw), learn("loihi-sim", spec=spec, **kw)
    assert cpu.summary["accuracy_by_epoch"][-1]["spikes_per_sample"] >= 1
    assert cpu.summary["layers"][0]["weights_after"] != cpu.summary["layers"][0]["weights_before"]
    for name in ("weights_after", "threshold_raise"):
        assert cpu.summary["layers"][0][name] == lava.summary["layers"][0][name]
    assert cpu.summary["layers"][0]["synaptic_updates"] == lava.summary["layers"][0]["synaptic_updates"]
    assert cpu.summary["accuracy_by_epoch"] == lava.summary["accuracy_by_epoch"]
    q = lambda run: run.compiled.quantised.layer("layer")  # noqa: E731
    assert np.array_equal(q(cpu).projections[0].weights, q(lava).projections[0].weights)
    assert np.array_equal(q(cpu).neurons.vth, q(lava).neurons.vth)
    if spec not in (RSTDP_SPEC, MULT_RSTDP_SPEC, NORM_SPEC):  # homeostasis: thresholds learned
        assert (q(cpu).neurons.vth > q(cpu).neurons.vth.min()).any()


def test_float_rule_learns_what_the_chip_learns():
    kw = dict(epochs=1, n_train=150, n_test=100)
    chip_run, float_run = learn("cpu", **kw), learn("float", **kw)
    chip, ideal = chip_run.summary["layers"][0]["weights_after"], float_run.summary["layers"][0]["weights_after"]
    assert chip["mean"] != chip_run.summary["layers"][0]["weights_before"]["mean"]
    assert abs(chip["mean"] - ideal["mean"]) < 0.25 * ideal["mean"]
    history = float_run.summary["accuracy_by_epoch"]
    assert history[-1]["test_accuracy"] > history[0]["test_accuracy"] + 0.15  # one epoch of 150 digits: clearly learned


def test_multiplicative_rstdp_soft_bounds():
    """bounds: multiplicative R-STDP (Mozafari et al. 2018): a reward pulls the inputs that have
    spiked towards w_max and every other input towards 0, each in proportion to its distance
    from that bound; the float rule does so, and the engine equals the numpy reference."""
    kw = dict(neurons=10, n_train=30, n_test=10, steps=40, epochs=1)
    graph, train, _ = small_problem(neurons=10, n_train=30, n_test=10, steps=40)
    before = np.asarray(graph.graph.nodes["synapses"].weight)
    silent = train.values.sum(axis=(0, 1)) == 0  # inputs that never spike in training
    layer = MULT_RSTDP_SPEC["layers"]["layer"]
    spec = {**MULT_RSTDP_SPEC, "layers": {"layer": {**layer, "reward": {**layer["reward"], "punishment": 0.0}}}}
    runs = {target: learn(target, spec=spec, **kw) for target in ("float", "cpu", "cpu-numpy")}
    for run in runs.values():
        assert run.summary["accuracy_by_epoch"][-1]["spikes_per_sample"] > 0.5
    rule = runs["cpu"].summary["layers"][0]["rule_strings"]
    assert not rule.get("dt") and all(term in rule["dw"] for term in ("u0*y2*x1*(255-w)", "u0*y2*(x1-127)*w", "u0*y3*x1*w"))
    assert runs["cpu"].summary["layers"][0]["weights_after"] == runs["cpu-numpy"].summary["layers"][0]["weights_after"]
    after = np.asarray(runs["float"].model.graph.graph.nodes["synapses"].weight)
    assert silent.sum() >= 4 and after.min() >= 0 and after.max() <= 1
    assert np.all(after[:, silent] <= before[:, silent] + 1 / 255)  # only depressed (no punishment here)
    rewarded = np.flatnonzero((after[:, silent] < 0.9 * before[:, silent]).all(axis=1))
    assert rewarded.size >= 1
    for row in rewarded:  # depression in proportion to w: one factor for all of a neuron's silent inputs (learned from 8-bit weights)
        large = silent & (before[row] > 0.2)
        ratio = after[row, large] / before[row, large]
        assert ratio.std() < 0.02 * ratio.mean()


def test_rstdp_first_spike_readout_learns():
    """A reward-modulated readout of the digits' pixels (two neurons per class), rewarded by the
    first-spike rule: better than before learning, clearly (raw pixels limit it: examples/mozafari.py)."""
    spec = {"neurodeploy-learning": 1, "seed": 0,
            "layers": {"layer": {"rule": {"kind": "rstdp", "a_plus": 0.05, "a_minus": 0.0, "tau_plus": 0.02, "tau_minus": 0.02,
                                          "tau_eligibility": 0.01, "w_max": 1.0, "w_min": -1.0},
                                 "inhibition": {"k_wta": 1},
                                 "reward": {"source": "label", "reward": 0.01, "punishment": 0.0025, "neurons_per_class": 2}}},
            "readout": {"layer": "layer", "decision": "first-spike", "neurons_per_class": 2}}
    run = learn("cpu", spec=spec, epochs=4, neurons=20)
    history = run.summary["accuracy_by_epoch"]
    layer = run.summary["layers"][0]
    assert layer["reward"] == "first-spike" and "t*y3" in layer["rule_strings"]["dw"] and layer["k_wta"] == 1
    assert history[-1]["spikes_per_sample"] == 1.0  # k-WTA 1: one spike per sample
    assert max(h["test_accuracy"] for h in history[1:]) > history[0]["test_accuracy"] + 0.1


def test_adaptive_rates_and_the_chips_first_spike_answer(monkeypatch):
    """reward.adaptive: the host sets the reward unit's rates before each batch, from chance first
    and then from the previous batch's answers (Mozafari et al. 2018); the readout is also answered
    as the chip runs the layer (k-WTA, learning off), which leaves the learned state as it was."""
    from neurodeploy.backends.learners import CpuLearner

    calls, answered = [], []
    original_set, original_answers = CpuLearner.set_rates, CpuLearner.answers

    def set_rates(self, reward, punishment):
        calls.append((reward, punishment))
        original_set(self, reward, punishment)

    def answers(self, pre):
        before = self.weights().copy()
        out = original_answers(self, pre)
        answered.append((out, np.array_equal(before, self.weights()), original_answers(self, pre)))
        return out

    monkeypatch.setattr(CpuLearner, "set_rates", set_rates)
    monkeypatch.setattr(CpuLearner, "answers", answers)
    spec = {"neurodeploy-learning": 1, "seed": 0,
            "layers": {"layer": {"rule": {"kind": "rstdp", "a_plus": 0.05, "a_minus": 0.0, "tau_plus": 0.02, "tau_minus": 0.02,
                                          "tau_eligibility": 0.01, "w_max": 1.0},
                                 "inhibition": {"k_wta": 1},
                                 "reward": {"source": "label", "reward": 0.01, "punishment": 0.0025, "neurons_per_class": 2,
                                            "adaptive": True, "batch": 40}}},
            "readout": {"layer": "layer", "decision": "first-spike", "neurons_per_class": 2}}
    run = learn("cpu", spec=spec, epochs=2, neurons=20, n_train=80, n_test=40, steps=40)
    history = run.summary["accuracy_by_epoch"]
    assert history[-1]["spikes_per_sample"] > 0.5  # active: most samples have their one k-WTA spike
    assert len(calls) == 4  # two batches in each of two epochs
    assert calls[0][0] / calls[0][1] == pytest.approx(0.01 * 0.9 / (0.0025 * 0.1), rel=1e-9)  # chance: 1 - 1/10 and 1/10
    assert len({round(c[0] / max(c[1], 1e-9), 6) for c in calls}) > 1  # later rates follow the answers
    assert all(0 <= h["test_accuracy_wta"] <= 1 for h in history[1:])
    for raster, unchanged, again in answered:
        assert unchanged and np.array_equal(raster, again)
        assert raster.reshape(40, 40, -1).sum(axis=(1, 2)).max() == 1  # k-WTA 1: at most one spike per sample
        assert raster.any()


# --------------------------------------------------------------------------- write-back and the command line
def test_learned_nir_holds_the_learned_weights(cpu_run, tmp_path):
    path = tmp_path / "learned.nir"
    path.write_bytes(cpu_run.files["learned.nir"])
    graph = nir.read(str(path))
    lowered = cpu_run.plan.layer("layer")
    learned = cpu_run.compiled.quantised.layer("layer")
    expected = learned.projections[0].weights / (lowered.units * lowered.gain)[:, None]
    np.testing.assert_allclose(graph.nodes["synapses"].weight, expected, rtol=1e-12)
    threshold = np.asarray(graph.nodes["layer"].v_threshold)
    np.testing.assert_allclose(threshold * lowered.state_scale, learned.neurons.vth * 64, rtol=1e-12)  # the chip's learned thresholds
    assert (threshold - diehl_cook.DEFAULTS["threshold"]).max() > 0


@pytest.fixture(scope="module")
def learn_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("learn")
    graph, train, test = small_problem()
    nir.write(str(folder / "net.nir"), graph.graph)
    for name, batch in (("train", train), ("test", test)):
        np.savez(folder / f"{name}.npz", x=batch.values.transpose(1, 0, 2), y=batch.labels)
    (folder / "rules.yaml").write_text(yaml.safe_dump(stdp_spec()))
    return folder


def test_deploy_learn_writes_learned_nir_and_redeploys_it(learn_files, tmp_path, capsys):
    f = learn_files
    argv = [f / "net.nir", "--learn", f / "rules.yaml", "--data", f / "train.npz", "--test-data", f / "test.npz",
            "--layout", "samples-first", "--epochs", "2",
            "--target", "cpu", "--report-dir", tmp_path / "r"]
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "learning on cpu: 2 epoch(s) of 300 samples x 60 steps" in out and "test accuracy by epoch" in out
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    learning = report["learning"]
    assert learning["layers"][0]["quantisation"] and learning["synaptic_updates"] > 0
    assert learning["deployed_accuracy"]["cpu"] > 0.5 and report["accuracy"] is None
    # label assignment with the graph's lateral inhibition: the deployed network is the one that learned
    assert learning["deployed_accuracy"]["cpu"] == learning["accuracy_by_epoch"][-1]["test_accuracy"]
    status = cli.main([str(tmp_path / "r" / "learned.nir"), "--data", str(f / "test.npz"), "--layout", "samples-first", "--target", "cpu",
                       "--report-dir", str(tmp_path / "r2")])
    assert status == 0
    again = json.loads((tmp_path / "r2" / "report.json").read_text())  # --decision spike-count cannot read a label assignment
    assert again["accuracy"] is None and any("label-assignment readout" in note and "no accuracy" in note for note in again["notes"])


@pytest.mark.parametrize("extra, message", [
    (["--target", "torch"], "target torch does not learn on the chip"),
    (["--finetune", "1"], "--learn and --finetune"),
    (["--epochs", "0"], "--epochs 0"),
])
def test_deploy_learn_bad_options_are_one_line(learn_files, extra, message, tmp_path, capsys):
    f = learn_files
    argv = [f / "net.nir", "--learn", f / "rules.yaml", "--data", f / "train.npz", "--layout", "samples-first", "--report-dir", tmp_path / "x",
            *extra]
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert status == 2 and err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "x").exists()


def test_deploy_learn_without_data_or_with_a_bad_spec(learn_files, tmp_path, capsys):
    f = learn_files
    assert cli.main([str(f / "net.nir"), "--learn", str(f / "rules.yaml"), "--target", "cpu"]) == 2
    assert "--learn needs training data" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("neurodeploy-learning: 1\nlayers: {nope: {rule: {kind: stdp}}}\n")
    assert cli.main([str(f / "net.nir"), "--learn", str(bad), "--data", str(f / "train.npz"), "--layout", "samples-first", "--target", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "missing a_plus" in err and err.count("\n") == 1


def test_a_built_in_set_learns_on_its_train_split_and_is_tested_on_its_test_split():
    from neurodeploy.training.learn_data import learning_sources

    assert learning_sources("digits", None) == ("digits:split=train", "digits:split=test")
    assert learning_sources("digits:max=1", "t.npz") == ("digits:max=1,split=train", "t.npz")
    assert learning_sources("digits:split=all", None) == ("digits:split=all", None)
    assert learning_sources("train.npz", None) == ("train.npz", None)


def test_test_data_without_learn_is_one_line(learn_files, tmp_path, capsys):
    f = learn_files
    status = cli.main([str(f / "net.nir"), "--data", str(f / "test.npz"), "--test-data", str(f / "test.npz"), "--target", "cpu",
                       "--report-dir", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert status == 2 and "--test-data is the test data of --learn" in err and err.count("\n") == 1, err
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- the learned readout, deployed again
_MULT = MULT_RSTDP_SPEC["layers"]["layer"]
FIRST_SPIKE_SPEC = {**MULT_RSTDP_SPEC, "seed": 0,  # workload (b)'s readout, small: multiplicative R-STDP, 1-WTA, first-spike reward
                    "layers": {"layer": {**_MULT, "rule": {**_MULT["rule"], "a_minus": 0.3},
                                         "reward": {**_MULT["reward"], "punishment": 0.5, "window": 0.002}}}}


def _never_firing(network, name: str):
    """``network`` with layer ``name`` unable to fire: its recorded v is then v before any reset."""
    import dataclasses

    layer = network.layer(name)
    neurons = (dataclasses.replace(layer.neurons, vth=np.full_like(layer.neurons.vth, 2 ** 20)) if hasattr(layer, "state_scale")
               else dataclasses.replace(layer.neurons, threshold=np.full_like(layer.neurons.threshold, np.inf)))
    return dataclasses.replace(network, layers=tuple(dataclasses.replace(q, neurons=neurons) if q.name == name else q for q in network.layers))


@pytest.mark.parametrize("k_wta", [1, 3])
def test_learned_nir_redeploys_with_the_readout_it_learned(k_wta, tmp_path):
    """A first-spike readout (with workload (a)'s lateral inhibition) learned with k-WTA and the
    first-spike reward, deployed as learned.nir (no k-WTA) with --decision first-spike: the chip holds the weights it learned, and the decision
    (of the neurons spiking first, the largest v before the reset, then the lowest index: the
    reward unit's choice) answers every sample as the chip's k-WTA did (test_accuracy_wta), on
    the cpu target; the float target decides by the same rule on its own v."""
    from neurodeploy.backends import TARGETS, RunRequest
    from neurodeploy.encoders import to_integer_input
    from neurodeploy.learning import readout as RO
    from neurodeploy.pipeline import DeployOptions, deploy
    from neurodeploy.reports.accuracy import _float_units, _v_before_reset, first_spike_winners

    spec = {**FIRST_SPIKE_SPEC, "layers": {"layer": {**FIRST_SPIKE_SPEC["layers"]["layer"], "inhibition": {"k_wta": k_wta}}}}
    kw = dict(neurons=10, n_train=100, n_test=60, steps=45)
    run = learn("cpu", spec=spec, epochs=1, **kw)
    wta = run.summary["accuracy_by_epoch"][-1]["test_accuracy_wta"]
    (tmp_path / "learned.nir").write_bytes(run.files["learned.nir"])
    _, _, test = small_problem(**kw)
    np.savez(tmp_path / "test.npz", x=test.values.transpose(1, 0, 2), y=test.labels)
    out = deploy(DeployOptions(model=str(tmp_path / "learned.nir"), data=str(tmp_path / "test.npz"), layout="samples-first",
                               decision="first-spike", target="cpu"))
    cpu = out.results["cpu"]
    step, candidates = RO.first_spikes(cpu.rasters["layer"])
    assert (step >= 0).all() and (candidates.sum(axis=1) > 1).any()  # active: every sample answers, some by the tie-break
    assert np.array_equal(out.compiled.quantised.layer("layer").projections[0].weights, run.compiled.quantised.layer("layer").projections[0].weights)
    assert out.report.accuracy["cpu"] == wta == run.summary["accuracy_by_epoch"][-1]["test_accuracy"]
    for name, network in (("cpu", out.compiled.quantised), ("float", out.compiled.normalised)):
        result, target = out.results[name], TARGETS.get(name)
        inputs = test.values if target.stage == "normalised" else to_integer_input(test, out.compiled.quantised)
        silent = target.run(_never_firing(network, "layer"), inputs, RunRequest(record_state=True))
        step, candidates = RO.first_spikes(result.rasters["layer"])
        v = _v_before_reset(result, network, "layer", step)
        v_silent = _v_before_reset(silent, None, "layer", step)  # as recorded: nothing reset it
        np.testing.assert_allclose(v[candidates], _float_units(v_silent, network, "layer")[candidates], rtol=1e-12)
        assert np.array_equal(first_spike_winners(result, network), RO.winner(candidates, v_silent))


def test_a_count_readout_of_a_k_wta_layer_says_learned_nir_answers_without_it():
    spec = stdp_spec()
    spec["layers"]["layer"]["inhibition"] = {"k_wta": 2}
    notes = learn("cpu", spec=spec, epochs=1, neurons=6, n_train=6, n_test=6, steps=20).summary["notes"]
    assert sum("k-WTA 2, which learned.nir does not hold" in note for note in notes) == 1
    assert not any("k-WTA" in note for note in learn("cpu", spec=FIRST_SPIKE_SPEC, epochs=1, neurons=6, n_train=6, n_test=6,
                                                     steps=20).summary["notes"])


@pytest.mark.parametrize("ranges, message", [
    ('[{"layer": "layer"}]', "metadata neurodeploy-learned-weight-ranges"),
    ('[{"layer": "layer", "source": "input", "max_abs": [1, 2, 3], "sign_mode": "mixed"}]', "3 values for"),
    ('[{"layer": "nowhere", "source": "input", "max_abs": [1], "sign_mode": "mixed"}]', "no such projection"),
])
def test_learned_weight_ranges_that_are_not_neurodeploys_are_one_line(learn_files, tmp_path, capsys, ranges, message):
    graph = nir.read(str(learn_files / "net.nir"))
    nir.write(str(tmp_path / "bad.nir"), nir.NIRGraph(nodes=graph.nodes, edges=graph.edges,
                                                     metadata={**graph.metadata, "neurodeploy-learned-weight-ranges": ranges}))
    status = cli.main([str(tmp_path / "bad.nir"), "--target", "cpu", "--report-dir", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and message in err, err
