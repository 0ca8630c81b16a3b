"""The CPU backend's learning engine (numba) against the numpy reference of Lava's learning
(learning/reference.py), which test_learning_lava.py holds to Lava itself.

Compared at every step: post spikes, u, v, theta, x1, x2, tx, y1, y2, y3, ty, weights,
tag_1, tag_2, over randomised layers (tests/learning_cases.py). Each case first asserts that
the network is active and learns. The first run compiles the engine (numba's cache keeps it).
"""
from __future__ import annotations

import numpy as np
import pytest
from learning_cases import active, assert_identical, inhibition, post_neurons, random_case, weights_for

from neurodeploy.backends import learning_engine as E
from neurodeploy.learning import reference as R
from neurodeploy.learning import rules
from neurodeploy.learning.program import LayerProgram, PostNeurons

COMPARED = R.RECORDED


# --------------------------------------------------------------------------- pieces
def test_random_streams_match_reference():
    """The engine's block draws continue the reference's streams exactly, however split."""
    ours = E.RandomStreams(77)
    x, y, w = R.learning_randoms(77)
    sizes = [1, 5, 300, 2, 1000]
    for steps, epochs in zip(sizes, sizes[::-1]):
        x_dec, x_imp, y_dec, y_imp, w_vals = ours.draw(steps, epochs)
        for k in range(2 * steps):
            x.advance(), y.advance()
            assert (x.decay.value, x.impulse.value, y.decay.value, y.impulse.value) == (x_dec[k], x_imp[k], y_dec[k], y_imp[k])
        for k in range(epochs):
            w.advance()
            assert w.value == w_vals[k]


def test_rule_code_classifies_products():
    """STDP compiles to two finished products: x0*y1 by pre spike time, y0*x1 by pre neuron."""
    code = E.compile_rule(rules.stdp_loihi(1, 2, -1, 10, 12))
    assert list(code.p_kind) == [E.KIND_TABLE, E.KIND_COLUMN]
    assert list(code.p_dep) == [E.DEP_X0, E.DEP_Y0]
    generic = E.compile_rule(rules.LearningRule(dw="x0*y1*w + u1*x2*y3 - y0*(x1+2^-1)*y2 + y0*y1", t_epoch=2))
    assert list(generic.p_kind) == [E.KIND_GENERAL, E.KIND_GENERAL, E.KIND_GENERAL, E.KIND_ROW]
    assert generic.decimate == 1


# --------------------------------------------------------------------------- engine vs reference
CASES_PER_BLOCK = 12


@pytest.mark.parametrize("block", range(3))
def test_engine_matches_reference_on_random_cases(block):
    """Active random cases: every recorded value, every step."""
    checked, kinds = 0, set()
    for seed in range(1000 * block, 1000 * block + 400):
        case = random_case(seed)
        ref = R.ReferenceLayer(case["program"]).run(case["pre"], rewards=case["rewards"], labels=case["labels"], resets=case["resets"],
                                                     record=COMPARED)
        if not active(ref, case):
            continue
        out = E.LearningEngine(case["program"]).run(case["pre"], rewards=case["rewards"], labels=case["labels"], resets=case["resets"],
                                                     record=COMPARED)
        assert_identical(ref, out, COMPARED)
        neurons = case["program"].neurons
        kinds |= {case["program"].reward.kind, ("wta", neurons.wta_k > 0), ("adaptive", neurons.adaptive), str(neurons.reset)}
        checked += 1
        if checked == CASES_PER_BLOCK:
            break
    assert checked == CASES_PER_BLOCK
    assert {"none", ("wta", True), ("adaptive", True)} <= kinds


def test_engine_state_carries_over_between_calls():
    """Steps split over several run() calls, mid-epoch and across resets (time step, traces,
    spike times, thresholds, the reward unit, random streams carry on), Loihi2F and Loihi3F."""
    for three_factor in (False, True):
        for seed in range(300):
            case = random_case(seed)
            program = case["program"]
            if program.rule.t_epoch > 2 and program.rule.three_factor == three_factor and len(case["resets"]) and program.neurons.adaptive:
                ref = R.ReferenceLayer(program).run(case["pre"], rewards=case["rewards"], labels=case["labels"], resets=case["resets"],
                                                     record=COMPARED)
                if active(ref, case):
                    break
        else:
            raise AssertionError("no case found")
        engine = E.LearningEngine(program)
        pieces, start = [], 0
        for stop in (7, 8, 30, 31, len(case["pre"])):
            local = [r - start for r in case["resets"] if start <= r < stop]
            piece = {k: None if case[k] is None else case[k][start:stop] for k in ("rewards", "labels")}
            pieces.append(engine.run(case["pre"][start:stop], resets=local, record=COMPARED, **piece))
            start = stop
        joined = {name: np.concatenate([p[name] for p in pieces]) for name in COMPARED}
        assert_identical(ref, joined, COMPARED)


def test_weights_after_each_sample():
    rng = np.random.default_rng(5)
    n_samples, steps, n_pre, n_post = 4, 40, 50, 10
    pre = (rng.random((n_samples * steps, n_pre)) < 0.1).astype(np.uint8)
    program = LayerProgram(
        name="l", source="input", rule=rules.stdp_loihi(1, 2, -1, 10, 12, t_epoch=4, rng_seed=3), weights=rng.integers(20, 120, (n_post, n_pre)),
        sign_mode="excitatory", num_weight_bits=8, weight_exp=0,
        neurons=PostNeurons(du=4095, dv=300, vth=300, bias_mant=0, bias_exp=0, v_init=0, reset="zero", reset_sub=0, dtheta=0,
                            theta_step=np.full(n_post, 640)),
        recurrent=inhibition(rng, n_post))
    kw = dict(resets=range(steps, n_samples * steps, steps), snapshots=range(steps - 1, n_samples * steps, steps), record=COMPARED)
    ref = R.ReferenceLayer(program).run(pre, **kw)
    out = E.LearningEngine(program).run(pre, **kw)
    assert ref["spikes"].sum() > 10 and len({a.tobytes() for a in ref["weights_after"]}) == n_samples
    np.testing.assert_array_equal(ref["weights_after"], out["weights_after"])
    np.testing.assert_array_equal(ref["spike_counts"], out["spike_counts"])
    assert_identical(ref, out, COMPARED)


def test_saturation_and_dirty_values():
    """Accumulator and weight clips, initial weights and tags outside their ranges, tag_1 at -257."""
    checked = 0
    for seed in range(100):
        rng = np.random.default_rng(4000 + seed)
        n_pre, n_post, steps = 30, 6, 120
        rule = rules.LearningRule(dw="7*2^1*y0*x1*y1 - 7*2^1*x0*y1*y2 + 3*2^1*y0*w*x1", dt="-7*2^2*x0*y1*y2 + x0*y1",
                                  x1_impulse=60.5, x1_tau=20, y1_impulse=70, y1_tau=15, y2_impulse=127, y2_tau=50,
                                  t_epoch=1 + seed % 3, rng_seed=int(rng.integers(0, 1000)))
        program = LayerProgram(name="l", source="input", rule=rule, weights=weights_for(rng, "mixed", (n_post, n_pre), -300, 300),
                               sign_mode="mixed", num_weight_bits=8, weight_exp=0, neurons=post_neurons(rng, n_post, "mixed", wta=0),
                               tag_1=rng.integers(-300, 300, (n_post, n_pre)), recurrent=inhibition(rng, n_post))
        case = dict(program=program, pre=(rng.random((steps, n_pre)) < 0.15).astype(np.uint8), rewards=None, labels=None,
                    resets=range(40, steps, 40), learned=("weights", "tag_1"))
        ref = R.ReferenceLayer(program).run(case["pre"], resets=case["resets"], record=COMPARED)
        if not (active(ref, case) and (ref["weights"] == 255).any() and (ref["weights"] == -256).any() and (ref["tag_1"] == -257).any()):
            continue
        out = E.LearningEngine(program).run(case["pre"], resets=case["resets"], record=COMPARED)
        assert_identical(ref, out, COMPARED)
        checked += 1
        if checked == 2:
            break
    assert checked == 2


def test_tag_1_at_minus_257_is_no_fixed_point():
    """tag_1 can end a phase at -257 (accumulator at -32769, not rounded up: the epoch's weight
    random >= 127/128, first at phase 398 of the seed-2 stream), and the next phase moves it to
    -256 even with every term 0: the engine must then update synapses whose neurons did not spike."""
    rng = np.random.default_rng(8)
    n_pre, n_post, steps = 80, 8, 410
    rule = rules.LearningRule(dw="x0*y1 - y0*x1", dt="-7*2^7*x0*y1 + 2^-2*y0*x1", x1_impulse=20, x1_tau=8, y1_impulse=40, y1_tau=10,
                              t_epoch=1, rng_seed=4)
    program = LayerProgram(name="l", source="input", rule=rule, weights=rng.integers(0, 100, (n_post, n_pre)), sign_mode="excitatory",
                           num_weight_bits=8, weight_exp=0, tag_1=np.full((n_post, n_pre), -250),
                           neurons=PostNeurons(du=4000, dv=400, vth=1000, bias_mant=0, bias_exp=0, v_init=0, reset="zero", reset_sub=0,
                                               dtheta=0, theta_step=0))
    pre = (rng.random((steps, n_pre)) < 0.04).astype(np.uint8)
    ref = R.ReferenceLayer(program).run(pre, record=COMPARED)
    assert ref["spikes"].sum() > 3
    back = (ref["tag_1"][:-1] == -257) & (ref["tag_1"][1:] == -256)
    quiet = ~ref["spikes"][1:, :, None] & ~pre[1:, None, :].astype(bool)
    assert (back & quiet).any(), "no -257 left by a phase without spikes"
    assert_identical(ref, E.LearningEngine(program).run(pre, record=COMPARED), COMPARED)


def test_neurons_match_reference_at_the_limits():
    """The neuron update on random and extreme u, v, theta and inputs (int32 wraps, the 24-bit
    wrap of u at exactly +-2**23, the clip of v, theta's int32 wrap), with k-WTA budgets."""
    rng = np.random.default_rng(2)
    edges = np.array([0, 1, -1, 2 ** 23, -2 ** 23, 2 ** 23 - 1, -2 ** 23 + 1, 2 ** 31 - 1, -2 ** 31, 2 ** 24, -2 ** 24])
    for trial in range(200):
        n = 64
        u = np.concatenate([edges, rng.integers(-2 ** 31, 2 ** 31, n - edges.size)]).astype(np.int32)
        v = rng.permutation(np.concatenate([edges, rng.integers(-2 ** 31, 2 ** 31, n - edges.size)])).astype(np.int32)
        a_ff = rng.choice([0, 1, -1, 2 ** 17, -2 ** 17, 2 ** 25, 2 ** 31 - 1, -2 ** 31], n).astype(np.int32)
        a_rec = np.where(rng.random(n) < 0.5, 0, rng.integers(-2 ** 31, 2 ** 31, n)).astype(np.int32)
        neurons = PostNeurons(du=rng.integers(0, 4096, n), dv=rng.integers(0, 4096, n), vth=rng.integers(0, 2 ** 17, n),
                              bias_mant=rng.integers(-4096, 4096, n), bias_exp=rng.integers(0, 8, n), v_init=0,
                              reset=("zero", "subtract")[trial % 2], reset_sub=rng.integers(0, 2 ** 23, n), dtheta=rng.integers(0, 4096, n),
                              theta_step=rng.integers(-2 ** 23, 2 ** 23, n), wta_k=int(rng.integers(0, 4)))
        theta = rng.integers(-2 ** 31, 2 ** 31, n).astype(np.int32)
        layer = R.ReferenceLayer(LayerProgram(name="l", source="input", rule=rules.stdp_loihi(1, 1, -1, 4, 4), weights=np.zeros((n, 1)),
                                              sign_mode="mixed", num_weight_bits=8, weight_exp=0, neurons=neurons))
        s = layer.state
        s.u, s.v, s.theta, s.a_buff, s.a_rec, s.fired = u.copy(), v.copy(), theta.copy(), a_ff, a_rec, trial % 3
        expected = layer._neuron_step(None, -1)
        unit = np.array([trial % 3, -1, 0], np.int64)
        spikes, v_spike = np.zeros(n, np.bool_), np.zeros(n, np.int32)
        bias = R.effective_bias(neurons).astype(np.int64)
        E._neurons(u, v, theta, a_ff, a_rec, neurons.du, neurons.dv, bias, neurons.theta_0().astype(np.int64), neurons.dtheta,
                   neurons.theta_step, neurons.adaptive, neurons.reset == 0, neurons.reset_sub, neurons.wta_k, unit, spikes, v_spike)
        np.testing.assert_array_equal(expected, spikes)
        for name, ours in (("u", u), ("v", v), ("theta", theta)):
            np.testing.assert_array_equal(getattr(s, name), ours, err_msg=name)
        assert unit[0] == s.fired


def test_engine_paths_on_a_larger_layer():
    """100 x 12 at low and high input rates: the sparse, fast sparse and whole-row paths."""
    rng = np.random.default_rng(11)
    for rate, t_epoch in ((0.03, 1), (0.05, 4), (0.5, 2)):
        pre = (rng.random((150, 100)) < rate).astype(np.uint8)
        neurons = PostNeurons(du=4000, dv=300, vth=150 if rate < 0.2 else 1500, bias_mant=0, bias_exp=0, v_init=0, reset="zero",
                              reset_sub=0, dtheta=0, theta_step=0)
        program = LayerProgram(name="l", source="input", rule=rules.stdp_loihi(1, 2, -2, 10, 12, t_epoch=t_epoch, rng_seed=9),
                               weights=rng.integers(0, 120, (12, 100)), sign_mode="excitatory", num_weight_bits=8, weight_exp=0,
                               neurons=neurons, recurrent=inhibition(rng, 12, (50, 150)))
        ref = R.ReferenceLayer(program).run(pre, record=COMPARED)
        assert ref["spikes"].sum() > 10
        assert_identical(ref, E.LearningEngine(program).run(pre, record=COMPARED), COMPARED)


def _first_spike_case():
    for seed in range(300):
        case = random_case(seed)
        if case["program"].reward.kind == "first-spike" and len(case["resets"]) >= 3:
            return case
    raise AssertionError("no case found")


def test_reward_rates_set_between_samples():
    """The host's writes of the first-spike reward unit's rates between samples (adaptive
    rates): the engine matches the reference, and the new rates reach y2 / y3."""
    case = _first_spike_case()
    program = case["program"]
    bounds = [0, *case["resets"], len(case["pre"])]
    rates = [(3, 90), (120, 0), (0, 7), (64, 64)]
    ref_layer, engine = R.ReferenceLayer(program), E.LearningEngine(program)
    refs, outs = [], []
    for k, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        r, p = rates[k % len(rates)]
        ref_layer.set_rates(r, p)
        engine.set_rates(r, p)
        part = {"labels": case["labels"][start:stop], "record": COMPARED, "resets": [0] if start else []}
        refs.append(ref_layer.run(case["pre"][start:stop], **part))
        outs.append(engine.run(case["pre"][start:stop], **part))
    ref = {name: np.concatenate([p[name] for p in refs]) for name in COMPARED}
    out = {name: np.concatenate([p[name] for p in outs]) for name in COMPARED}
    assert active(ref, case)
    sent = set(np.unique(ref["y2"])) | set(np.unique(ref["y3"]))
    assert len(sent & {3, 90, 120, 7, 64}) >= 2, "the rates written did not reach the reward traces"
    assert_identical(ref, out, COMPARED)
