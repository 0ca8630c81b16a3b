"""Random Brian2 LIF networks within what the frontend lowers exactly (the equivalence tests'
input), written in ordinary Brian2, and Brian2's spikes as rasters."""
from __future__ import annotations

import numpy as np
from brian2 import Network, NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, Synapses, defaultclock, ms, mV, second, start_scope

CUBA = """dv/dt = (v_rest - v + I)/tau : volt
dI/dt = -I/tau_s : volt
v_rest : volt
tau : second
tau_s : second
vt : volt
v_reset : volt"""
DELTA = """dv/dt = (v_rest - v)/tau : volt
v_rest : volt
tau : second
vt : volt
v_reset : volt"""


def random_network(seed: int):
    """(network, {group: SpikeMonitor}, steps, kinds): 1-2 LIF groups fed by a
    SpikeGeneratorGroup (spike times on and off the grid), currents or synapses onto v,
    exact or Euler integration, reset to a value or by subtraction, per-synapse delays,
    recurrent inhibition, random initial v."""
    start_scope()
    rng = np.random.default_rng(seed)
    dt = float(rng.choice([0.25, 0.5, 1.0])) * ms
    defaultclock.dt = dt
    steps = 300
    n_in = int(rng.integers(10, 25))
    times, index = [], []
    for i in range(n_in):
        chosen = rng.choice(steps - 5, size=rng.binomial(steps - 5, rng.uniform(0.02, 0.08)), replace=False)
        times += list(chosen + rng.choice([0.0, 0.3], size=len(chosen), p=[0.8, 0.2]))
        index += [i] * len(chosen)
    inp = SpikeGeneratorGroup(n_in, np.asarray(index, int), np.asarray(times) * dt, name="inp")
    objects, groups, kinds = [inp], [], []
    for g in range(int(rng.integers(1, 3))):
        kind = str(rng.choice(["cuba", "delta"]))
        reset = "v = v_reset" if kind == "cuba" and rng.random() < 0.6 else "v -= vt - v_reset"
        method = str(rng.choice(["exact", "euler"]))
        n = int(rng.integers(5, 20))
        group = NeuronGroup(n, CUBA if kind == "cuba" else DELTA, threshold="v > vt", reset=reset, method=method, name=f"g{g}")
        group.tau = rng.uniform(5, 30, n) * ms
        if kind == "cuba":
            group.tau_s = float(rng.uniform(2, 10)) * ms
        group.v_rest = rng.uniform(-70, -60, n) * mV
        group.vt = group.v_rest + rng.uniform(5, 12, n) * mV
        if reset.startswith("v ="):
            group.v_reset = group.v_rest - rng.uniform(0, 4, n) * mV
            group.v = group.v_rest + rng.uniform(0, 4, n) * mV
        else:  # subtraction of the threshold's distance from the initial v
            group.v = group.v_rest
            group.v_reset = group.v_rest
        groups.append(group)
        kinds.append((kind, reset, method))
        objects.append(group)
    previous = inp
    for k, group in enumerate(groups):
        var = "I" if kinds[k][0] == "cuba" else "v"
        scale = 10.0 if var == "I" else 4.0
        ff = Synapses(previous, group, "w : volt", on_pre=f"{var}_post += w", name=f"ff{k}")
        ff.connect(p=float(rng.uniform(0.4, 0.8)))
        ff.w = rng.uniform(0.3, 1.0, len(ff)) * scale * mV * 10.0 / max(1.0, len(previous) * 0.6)
        ff.delay = rng.integers(0, 4, len(ff)) * dt
        objects.append(ff)
        if rng.random() < 0.6:
            rec = Synapses(group, group, on_pre=f"{var}_post -= w_inh", namespace={"w_inh": 0.5 * scale * mV}, name=f"rec{k}")
            rec.connect(condition="i != j", p=0.5)
            rec.delay = int(rng.integers(0, 3)) * dt
            objects.append(rec)
        previous = group
    monitors = {group.name: SpikeMonitor(group, name=f"mon_{group.name}") for group in groups}
    return Network(objects + list(monitors.values())), monitors, steps, kinds


def raster(monitor, steps: int) -> np.ndarray:
    """(steps, n) uint8 spikes a Brian2 SpikeMonitor recorded."""
    out = np.zeros((steps, len(monitor.source)), np.uint8)
    dt = float(monitor.source.clock.dt / second)
    out[np.round(np.asarray(monitor.t / second) / dt).astype(int), np.asarray(monitor.i[:])] = 1
    return out


def reward_modulated_network(sign: float = 1.0, steps: int = 200, seed: int = 0):
    """(network, synapses, SpikeMonitor): reward-modulated STDP as Brian2 writes it (an
    eligibility c fed by pre/post traces, dw/dt = c * reward(t), reward a TimedArray that
    alternates between reward and punishment), a SpikeGeneratorGroup whose neurons spike at
    most once per 20 steps (the chip's 7-bit traces then hold every pair) into 3 LIF neurons."""
    from brian2 import Hz, TimedArray

    start_scope()
    defaultclock.dt = 1 * ms
    rng = np.random.default_rng(seed)
    n_in = 12
    times, index = [], []
    for i in range(n_in):
        t = np.sort(rng.choice(steps - 5, size=8, replace=False))
        t = t[np.concatenate([[True], np.diff(t) > 20])]
        times += list(t)
        index += [i] * len(t)
    inp = SpikeGeneratorGroup(n_in, index, np.asarray(times) * ms, name="inp")
    post = NeuronGroup(3, "dv/dt = -v/(10*ms) : volt", threshold="v > 4*mV", reset="v = 0*mV", method="exact", name="post")
    reward = TimedArray(sign * np.where(np.arange(steps) % 50 < 25, 20.0, -10.0) * Hz, dt=1 * ms)
    syn = Synapses(inp, post, """dc/dt = -c / (100*ms) : 1 (clock-driven)
dw/dt = c * reward(t) : 1 (clock-driven)
dapre/dt = -apre / (10*ms) : 1 (event-driven)
dapost/dt = -apost / (10*ms) : 1 (event-driven)""",
                   on_pre="v_post += w*mV\napre += 1\nc -= 0.3*apost\nw = clip(w, 0, 6)", on_post="apost += 1\nc += 0.5*apre",
                   method="euler", name="rstdp", namespace={"reward": reward})
    syn.connect()
    syn.w = rng.uniform(1.5, 3.0, len(syn))
    monitor = SpikeMonitor(post, name="mon")
    return Network(inp, post, syn, monitor), syn, monitor
