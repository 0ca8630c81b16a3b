"""Learning against Lava 0.10 (``Loihi2SimCfg``, fixed_pt): the rule parser, the random streams,
Lava's own published fixed-point values, and random learning layers run on Lava's
``LearningDense`` with neurodeploy's learning post neurons, where the numpy reference and
the CPU backend's engine must give identical post spikes, u, v, thresholds, traces, spike
times, weights and tags at every step.

Each Lava comparison first asserts, on Lava's own output, that the network spikes and learns.
"""
from __future__ import annotations

import numpy as np
import pytest
from learning_cases import active, assert_identical, random_case, random_rule_string

from neurodeploy.backends import lava_compat
from neurodeploy.backends.lava_learning import LavaLearningLayer
from neurodeploy.backends.learning_engine import LearningEngine
from neurodeploy.learning import reference as R
from neurodeploy.learning import rules
from neurodeploy.learning.program import LayerProgram, PostNeurons, RewardUnit

COMPARED = R.RECORDED


def lava_products(series) -> tuple:
    """A Lava ProductSeries as our Products, for comparing parses."""
    return tuple(
        rules.Product(p.dependency, p.s_mantissa, p.s_exp, tuple(rules.Factor(f.state_var, f.const, f.is_sgn) for f in p.factors),
                      p.decimate_exponent)
        for p in series.products)


@pytest.mark.lava
def test_rule_parser_matches_lava():
    lava_compat.install()
    from lava.magma.core.learning.product_series import ProductSeries
    from lava.magma.core.learning.symbolic_equation import SymbolicEquation

    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(400):
        text = random_rule_string(rng, int(rng.integers(0, 3)))
        try:
            lava = lava_products(ProductSeries(SymbolicEquation("dw", text)))
        except (ValueError, IndexError):
            with pytest.raises(ValueError):
                rules.parse_rule(text)
            continue
        assert rules.parse_rule(text) == lava, text
        checked += 1
    assert checked > 300


@pytest.mark.lava
def test_random_streams_match_lava_generators():
    """Blocked draws equal Lava's one-at-a-time TraceRandom / ConnVarRandom draws."""
    lava_compat.install()
    from lava.magma.core.learning.random import ConnVarRandom, TraceRandom

    for seed in (0, 1, 12345):
        lava_x, ours = TraceRandom(seed, seed + 1), R.TraceRandom(seed, seed + 1)
        lava_w, ours_w = ConnVarRandom(), R.RandomStream(2, "float", block=7)
        for _ in range(3000):
            assert lava_x.random_trace_decay == ours.decay.value
            assert lava_x.random_impulse_addition == ours.impulse.value
            assert lava_w.random_stochastic_round == ours_w.value
            lava_x.advance(), ours.advance(), lava_w.advance(), ours_w.advance()


def lif_raster(steps, vth, bias) -> np.ndarray:
    """Spikes of Lava LIF neurons driven by their bias alone (du = dv = 0)."""
    n = len(bias)
    neurons = PostNeurons(du=0, dv=0, vth=vth, bias_mant=np.asarray(bias), bias_exp=0, v_init=0, reset="zero", reset_sub=0, dtheta=0,
                          theta_step=0)
    u, v, out = np.zeros(n, np.int32), np.zeros(n, np.int32), []
    for _ in range(steps):
        u, v = R.subthreshold(u, v, np.zeros(n, np.int32), neurons)
        spikes = v > neurons.theta_0()
        v = np.where(spikes, 0, v).astype(np.int32)
        out.append(spikes)
    return np.array(out)


@pytest.mark.parametrize("rule, pre_bias, post_bias, weights, reward_value, expected", [
    (rules.stdp_loihi(1, 4, -2, 10, 10, t_epoch=2, rng_seed=0), [25000], [20000], np.eye(1), None, [[56]]),
    (rules.stdp_loihi(1, 1, -2, 10, 10, t_epoch=1, rng_seed=0), [22000, 25000, 26000], [20000, 23000], np.zeros((2, 3)), None,
     [[31, 2, -24], [-64, 30, 14]]),
    (rules.reward_modulated_stdp(1, 4, -2, 10, 10, 16, 16, 0.5, t_epoch=1, rng_seed=0), [3600], [3700], np.eye(1), 250, [[64]]),
    (rules.reward_modulated_stdp(1, 4, -2, 10, 10, 20, 20, 2.4, t_epoch=1, rng_seed=0), [1900, 2500, 1200], [2400, 1600],
     np.zeros((2, 3)), 16, [[2, 1, -1], [15, 20, 9]]),
])
def test_lava_published_known_values(rule, pre_bias, post_bias, weights, reward_value, expected):
    """Lava's own fixed-point known-value tests (site-packages/tests/lava/proc/dense/test_stdp_sim.py,
    TestSTDPSimBitApproximate / TestRSTDPSimBitApproximate) rebuilt without Lava, on the reference
    and the engine. vth and du/dv as there; the R-STDP reward reaches the neuron through a
    Dense(eye) there, i.e. one step late and binarised."""
    steps = 100
    vth = 10000 if reward_value is None else (100 if len(pre_bias) == 1 else 90)
    pre = lif_raster(steps, vth, pre_bias)
    rewards = None
    if reward_value is not None:
        signal = np.zeros((steps, len(post_bias)))
        signal[steps // 3: steps // 2] = reward_value
        rewards = np.zeros((steps, len(post_bias)), dtype=int)
        rewards[1:] = signal[:-1] != 0
    neurons = PostNeurons(du=0, dv=0, vth=vth, bias_mant=np.array(post_bias), bias_exp=0, v_init=0, reset="zero", reset_sub=0, dtheta=0,
                          theta_step=0)
    unit = RewardUnit("given", np.arange(len(post_bias))) if rule.three_factor else RewardUnit()
    program = LayerProgram(name="l", source="input", rule=rule, weights=weights, sign_mode="mixed", num_weight_bits=8, weight_exp=0,
                           neurons=neurons, reward=unit)
    reference = R.ReferenceLayer(program)
    reference.run(pre, rewards=rewards)
    np.testing.assert_array_equal(reference.state.weights, expected)
    engine = LearningEngine(program)
    engine.run(pre, rewards=rewards)
    np.testing.assert_array_equal(engine.weights, expected)


# --------------------------------------------------------------------------- vs Lava
# Seeds of tests/learning_cases.random_case and what each covers (asserted below).
LAVA_CASES = {
    1: "t_epoch 8, reset by subtraction, adaptive thresholds, k-WTA, recurrent inhibition",
    4: "R-STDP with the first-spike reward unit, t_epoch 10",
    5: "t_epoch 1, k-WTA 3, adaptive thresholds",
    12: "t_epoch 16",
    16: "R-STDP with a given reward of both signs, adaptive thresholds",
    18: "first-spike reward with k-WTA 1",
    39: "given reward, k-WTA 2, adaptive thresholds, recurrent inhibition",
    55: "t_epoch 8, k-WTA 3",
}


def lava_run(case) -> tuple[dict, dict, dict]:
    """(reference, engine, Lava) records of a case cut to whole samples; Lava runs it in two calls."""
    steps = len(case["pre"])
    length = case["resets"][0] if len(case["resets"]) else steps
    steps = steps // length * length
    part = {k: None if case[k] is None else case[k][:steps] for k in ("rewards", "labels")}
    pre, resets = case["pre"][:steps], range(length, steps, length)
    ref = R.ReferenceLayer(case["program"]).run(pre, resets=resets, record=COMPARED, **part)
    eng = LearningEngine(case["program"]).run(pre, resets=resets, record=COMPARED, **part)
    half = steps // length // 2 * length
    with LavaLearningLayer(case["program"], sample_steps=length, total_steps=steps, record=COMPARED) as lava:
        pieces = [lava.run(pre[a:b], **{k: None if v is None else v[a:b] for k, v in part.items()}) for a, b in ((0, half), (half, steps)) if b > a]
    out = {name: np.concatenate([p[name] for p in pieces]) for name in COMPARED}
    return ref, eng, out


@pytest.mark.lava
@pytest.mark.parametrize("seed", sorted(LAVA_CASES))
def test_learning_layer_matches_lava(seed):
    case = random_case(seed)
    ref, eng, lava = lava_run(case)
    assert active(lava, case), "the case is silent or does not learn on Lava"
    program = case["program"]
    covers = LAVA_CASES[seed]
    assert ("first-spike" in covers) == (program.reward.kind == "first-spike")
    assert ("given reward" in covers) == (program.reward.kind == "given")
    assert ("k-WTA" in covers) == (program.neurons.wta_k > 0)
    assert ("adaptive" in covers) == program.neurons.adaptive
    if program.reward.kind == "given":
        assert (lava["y3"] > 0).any() and (lava["y2"] > 0).any()
    assert_identical(lava, ref, COMPARED, ("lava", "reference"))
    assert_identical(lava, eng, COMPARED, ("lava", "engine"))


@pytest.mark.lava
def test_generic_rules_and_saturation_match_lava():
    """dw, dd and dt over every factor kind (x2 with tau 0 erasing it, u<k>, sgn, w - c), and
    large rates that drive weights and the accumulator into their clips, on Lava."""
    rng = np.random.default_rng(3)
    n_pre, n_post, steps = 8, 4, 100
    m = lambda: int(rng.integers(1, 8))  # noqa: E731
    rule = rules.LearningRule(
        dw=f"7*2^1*y0*x1*y1 - 7*2^1*x0*y1*y2 + 3*2^1*y0*w*x1 - {m()}*2^-3*u1*w*x2 - u1*{m()}*2^-2*sgn(w-{m()})",
        dt=f"{m()}*2^-2*x0*y1 - {m()}*2^-3*y0*x2 - u1*t*2^-3", dd=f"{m()}*2^-2*y0*x1 - u1*d*2^-4",
        x1_impulse=60.5, x1_tau=20, x2_impulse=30.6, x2_tau=0, y1_impulse=70, y1_tau=15, y2_impulse=127, y2_tau=50, y3_impulse=12.4,
        y3_tau=7, t_epoch=2, rng_seed=11)
    neurons = PostNeurons(du=300, dv=200, vth=80, bias_mant=(80 * 200 / 4096 * rng.uniform(0.8, 2.0, n_post)).astype(int) + 1,
                          bias_exp=6, v_init=0, reset="zero", reset_sub=0, dtheta=0, theta_step=0)
    program = LayerProgram(name="l", source="input", rule=rule, weights=rng.integers(-250, 250, (n_post, n_pre)), sign_mode="mixed",
                           num_weight_bits=8, weight_exp=0, neurons=neurons, tag_1=rng.integers(-60, 60, (n_post, n_pre)))
    case = dict(program=program, pre=(rng.random((steps, n_pre)) < 0.3).astype(np.uint8), rewards=None, labels=None, resets=(),
                learned=("weights", "tag_1", "tag_2"))
    ref, eng, lava = lava_run(case)
    assert active(lava, case)
    assert (lava["weights"] == 255).any() and (lava["weights"] == -256).any()
    assert_identical(lava, ref, COMPARED, ("lava", "reference"))
    assert_identical(lava, eng, COMPARED, ("lava", "engine"))

