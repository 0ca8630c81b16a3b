"""Random learning layers (``LayerProgram``) and their input, for the learning engines' tests.

Randomised over rules (pair STDP, reward-modulated STDP with a given or a first-spike reward,
random sum-of-products strings with every factor kind Lava's grammar accepts, float
constants, sgn, u<k>), epochs, sizes, input rates (which pick the numba engine's sparse,
fast and whole-row paths), sign modes, weight bits and exponents, post neurons (per-neuron
du/dv/vth, bias, initial v, reset to zero or by subtraction, adaptive thresholds, k-WTA), a
recurrent Dense, sample resets, and initial weights and tags outside their ranges.
"""
from __future__ import annotations

import numpy as np

from neurodeploy.learning import rules
from neurodeploy.learning.program import LayerProgram, PostNeurons, RecurrentDense, RewardUnit

RSTDP_DW = "u0*t*y2 - u0*t*y3"  # reward on y2, punishment magnitude on y3


def random_rule_string(rng, k) -> str:
    """A random sum of products over every factor kind Lava's grammar accepts."""
    deps = ["x0", "y0", f"u{k}"]
    factors = ["x1", "x2", "y1", "y2", "y3", "w", "t", "d", f"(x1+{rng.integers(1, 9)})",
               f"(y2-{rng.integers(1, 9)})", f"({rng.integers(1, 5)}+y3)", f"sgn(w-{rng.integers(0, 40)})",
               f"(w-{rng.integers(0, 99)})", "sgn(t)", "x0", "y0"]
    terms = []
    for i in range(rng.integers(1, 5)):
        scale = rng.choice([f"{rng.integers(1, 8)}", f"2^{rng.integers(-5, 3)}",
                            f"{rng.integers(1, 8)}*2^{rng.integers(-5, 3)}", f"({rng.integers(1, 8)})"])
        chosen = [deps[rng.integers(3)], scale] + list(rng.choice(factors, size=rng.integers(0, 3)))
        sign = rng.choice(["+", "-"]) if i else rng.choice(["", "-"])
        terms.append(sign + " * ".join(chosen))
    return " ".join(terms)


def rule_strings(rng) -> dict:
    """dw / dd / dt: random sum-of-products strings the parser accepts, some with float constants."""
    k = int(rng.integers(0, 3))
    out = {}
    for target in ("dw", "dd", "dt"):
        if target != "dw" and rng.random() < 0.5:
            continue
        for _ in range(50):
            text = random_rule_string(rng, k)
            if rng.random() < 0.3:
                text += rng.choice([" + x0*(y1+2^-1)", " - 3*2^-2*y0*(x2-2^-2)*x1", " + 2^-3*y0*sgn(w-2^-1)", " - x0*(2^-1+y2)*t"])
            try:
                rules.parse_rule(text)
            except (ValueError, IndexError):
                continue
            out[target] = text
            break
    out.setdefault("dw", "x0*y1*2^-1 - y0*x1")
    return out


def weights_for(rng, sign_mode, shape, low, high) -> np.ndarray:
    w = rng.integers(low, high + 1, size=shape)
    if sign_mode == "excitatory":
        return np.abs(w).astype(float)
    if sign_mode == "inhibitory":
        return -np.abs(w).astype(float)
    return w.astype(float)


def post_neurons(rng, n, sign_mode, *, per_neuron=None, extended=None, wta=None) -> PostNeurons:
    """Random post neurons; a bias near the level that alone reaches threshold outside
    excitatory mode, so that inhibition and learning shape the spikes."""
    per_neuron = rng.random() < 0.5 if per_neuron is None else per_neuron
    extended = rng.random() < 0.5 if extended is None else extended
    size = n if per_neuron else 1
    du, dv = rng.integers(0, 3000, size), rng.integers(0, 3000, size)
    vth = rng.integers(20, 400, size)
    bias = np.zeros(n, dtype=int)
    if sign_mode != "excitatory" or rng.random() < 0.3:
        bias = (vth * np.maximum(dv, 100) / 4096 * rng.uniform(0.6, 2.0, n)).astype(int) + 1
    fields = dict(du=du, dv=dv, vth=vth, bias_mant=bias, bias_exp=6, v_init=0, reset="zero", reset_sub=0, dtheta=0, theta_step=0)
    if extended:
        fields.update(
            v_init=rng.integers(-2000, 2000, n), reset=str(rng.choice(["zero", "subtract"])),
            reset_sub=(np.broadcast_to(vth, (n,)) * 64 * rng.uniform(0.5, 1.5, n)).astype(int),
            dtheta=rng.choice([0, 1, 40, 400], n), theta_step=rng.integers(0, 3000, n))
    k = (int(rng.integers(1, 4)) if rng.random() < 0.3 else 0) if wta is None else wta
    return PostNeurons(**fields, wta_k=k)


def inhibition(rng, n_post, scale=(20, 200)) -> RecurrentDense:
    """All-to-all lateral inhibition (no self-connection), sometimes mixed in sign."""
    w = -rng.integers(*scale, size=(n_post, n_post)).astype(float)
    mode = "inhibitory"
    if rng.random() < 0.3:
        w[rng.random(w.shape) < 0.2] *= -0.5
        mode = "mixed"
    np.fill_diagonal(w, 0)
    return RecurrentDense(weights=w, weight_exp=int(rng.integers(-1, 3)), num_weight_bits=int(rng.integers(6, 9)), sign_mode=mode)


def rstdp_rule(rng, t_epoch, seed) -> rules.LearningRule:
    lr, ap, am = (rules.float_to_literal(v) for v in (rng.choice([1, 2]), rng.choice([1, 2, 4]), -rng.choice([1, 3])))
    el = rules.float_to_literal(rng.choice([0.5, 0.25, 2.4]))
    return rules.three_factor_rule(
        dw=RSTDP_DW, dt=f"{lr} * {am} * x0 * y1 + {lr} * {ap} * y0 * x1 - u0 * t * {el}",
        x1_impulse=float(rng.choice([16, 12.5])), x1_tau=float(rng.integers(3, 20)),
        post_trace_tau=float(rng.integers(3, 20)), post_trace_impulse=float(rng.choice([16, 30.2])),
        t_epoch=t_epoch, rng_seed=seed)


def random_case(seed: int) -> dict:
    """A random layer, its input and what it should learn (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_pre, n_post = int(rng.integers(6, 60)), int(rng.integers(2, 12))
    t_epoch = int(rng.choice([1, 1, 2, 3, 4, 4, 5, 8, 10, 16]))
    steps = int(rng.integers(60, 140))
    kind = str(rng.choice(["stdp", "generic", "generic", "rstdp", "rstdp-first"]))
    sign_mode = str(rng.choice(["mixed", "excitatory", "inhibitory"]))
    seed_rule = int(rng.integers(0, 10000))
    rewards = labels = None
    unit = RewardUnit()
    if kind == "stdp":
        rule = rules.stdp_loihi(float(rng.choice([0.5, 1, 2])), float(rng.choice([0.25, 1, 2, 4, 6])), -float(rng.choice([0.5, 1, 2, 5])),
                                float(rng.integers(2, 30)), float(rng.integers(2, 30)), x1_impulse=float(rng.choice([16, 10.3, 40, 7.75])),
                                y1_impulse=float(rng.choice([16, 24.6, 60])), t_epoch=t_epoch, rng_seed=seed_rule)
        learned = ("weights",)
    elif kind.startswith("rstdp"):
        sign_mode = "mixed"
        rule = rstdp_rule(rng, t_epoch, seed_rule)
        learned = ("weights", "tag_1")
        if kind == "rstdp":
            unit = RewardUnit("given", np.arange(n_post))
            rewards = np.zeros((steps, n_post), dtype=int)
            for _ in range(3):
                start = int(rng.integers(0, steps - 20))
                rewards[start:start + int(rng.integers(5, 20))] = rng.integers(-60, 100, size=n_post)
        else:
            classes = int(rng.integers(2, n_post + 1))
            unit = RewardUnit("first-spike", np.arange(n_post) % classes, reward=int(rng.integers(1, 128)),
                              punishment=int(rng.integers(1, 128)), window=int(rng.choice([0, 1, 5])))
    else:
        traces = {f"{n}_impulse": float(rng.choice([0, 8, 16, 12.4, 30.6, 50, 127.5])) for n in ("x1", "x2", "y1", "y2", "y3")}
        traces.update({f"{n}_tau": float(rng.choice([0, 2, 5, 12, 40])) for n in ("x1", "x2", "y1", "y2", "y3")})
        rule = rules.LearningRule(**rule_strings(rng), t_epoch=t_epoch, rng_seed=seed_rule, **traces)
        learned = ()
    rate_lo, rate_hi = (0.02, 0.12) if rng.random() < 0.5 else (0.2, 0.6)
    pre = (rng.random((steps, n_pre)) < rng.uniform(rate_lo, rate_hi, n_pre)).astype(np.uint8)
    projection = dict(sign_mode=sign_mode, num_weight_bits=int(rng.integers(5, 9)), weight_exp=int(rng.integers(-2, 2)))
    if kind == "generic" and rng.random() < 0.5:
        projection["tag_1"] = rng.integers(-300, 300, (n_post, n_pre))  # out of range: clipped at the first phase
    if kind == "generic" and rng.random() < 0.3:
        projection["tag_2"] = rng.integers(-20, 300, (n_post, n_pre))
    if rng.random() < 0.5:
        projection["recurrent"] = inhibition(rng, n_post)
    lo, hi = sorted(rng.integers(0, 300, size=2))  # up to 300: beyond 8 bits until the first phase
    resets = ()
    if rng.random() < 0.5 or kind == "rstdp-first":
        length = int(rng.integers(10, 50))
        resets = range(length, steps, length)
    if kind == "rstdp-first":
        bounds = [0, *resets, steps]
        labels = np.concatenate([np.full(b - a, rng.integers(0, classes)) for a, b in zip(bounds[:-1], bounds[1:])])
    program = LayerProgram(name="layer", source="input", rule=rule, weights=weights_for(rng, sign_mode, (n_post, n_pre), lo, hi),
                           neurons=post_neurons(rng, n_post, sign_mode), reward=unit, **projection)
    return dict(program=program, pre=pre, rewards=rewards, labels=labels, resets=resets, learned=learned)


def active(out: dict, case: dict) -> bool:
    """The network spikes (not saturated) and learns: a silent network agrees with anything."""
    changes = all((np.diff(out[n], axis=0) != 0).any() for n in case["learned"]) and any(
        (np.diff(out[n], axis=0) != 0).any() for n in ("weights", "tag_1", "tag_2"))
    return bool(out["spikes"].sum() >= 3 and out["spikes"].mean() <= 0.7 and case["pre"].any(axis=0).sum() >= 2 and changes)


def assert_identical(expected: dict, actual: dict, names, what=("reference", "engine")) -> None:
    for name in names:
        a = np.asarray(expected[name]).astype(np.int64)
        b = np.asarray(actual[name]).astype(np.int64)
        assert a.shape == b.shape, f"{name}: shapes {a.shape} {b.shape}"
        if not np.array_equal(a, b):
            step = int(np.argwhere(a != b)[0][0])
            raise AssertionError(f"{name} differs first at step {step + 1}: {what[0]} {a[step]} {what[1]} {b[step]}")
