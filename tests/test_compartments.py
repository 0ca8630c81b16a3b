"""The compartments other than CUBA (neurons/extended.py, neurons/izhikevich.py) in integers:
random layers over the whole legal parameter range, extremes included, run bit for bit alike
on every engine (held to the numpy statement) and on Lava (its own ATRLIF, or neurodeploy's
processes), every register compared at every step."""
import dataclasses

import numpy as np
import pytest

from neurodeploy.backends.compare import compare_runs
from neurodeploy.backends.cpu import run_cpu
from neurodeploy.backends.lava_backend import LOIHI_SIM, run_lava
from neurodeploy.hardware.fixed_point import Reset
from neurodeploy.neurons.extended import ExtendedNeurons, atrlif_compatible
from neurodeploy.neurons.izhikevich import REGIMES, IzhikevichNeurons

from netgen import random_input, random_quantised_network

ARITH_TOP = (1 << 23) - 1


def extended_neurons(rng, base, *, extreme: bool, atrlif: bool = False) -> ExtendedNeurons:
    """Random extended neurons on a CUBA layer's integers; ``atrlif``: a layer Lava's own ATRLIF runs."""
    n = base.size
    cuba = {f.name: getattr(base, f.name) for f in dataclasses.fields(base) if f.name not in ("inclusive", "max_spikes", "v_floor")}
    if atrlif:
        uniform = {name: np.full(n, int(rng.integers(0, 4096))) for name in ("du", "dv", "dtheta", "dr")}
        cuba.update(du=uniform["du"], dv=uniform["dv"], vth=np.full(n, int(rng.integers(1, 2**6))), v_init=np.zeros(n, np.int32),
                    reset=Reset.SUBTRACT, reset_sub=np.zeros(n, np.int32))
        return ExtendedNeurons(**cuba, u_bias=np.zeros(n, np.int32), dtheta=uniform["dtheta"].astype(np.int32), dr=uniform["dr"].astype(np.int32),
                               theta_step=np.full(n, 64 * int(rng.integers(0, 2**8)), np.int32), refractory=np.zeros(n, np.int32),
                               r_jump=2, inclusive=True)
    top = ARITH_TOP if extreme else 2**14

    def draw(low, high):
        value = rng.integers(low, high + 1, n)
        if extreme:
            value = np.where(rng.random(n) < 0.3, rng.choice([low, high], n), value)
        return value.astype(np.int32)

    reset = Reset.ZERO if rng.random() < 0.5 else Reset.SUBTRACT
    cuba.update(reset=reset, reset_sub=draw(0, top) if reset is Reset.SUBTRACT else np.zeros(n, np.int32), vth=draw(0, 2**10))
    return ExtendedNeurons(
        **cuba, u_bias=np.where(rng.random(n) < 0.5, draw(-top, top) // 8, 0).astype(np.int32), dtheta=draw(0, 4095), dr=draw(0, 4095),
        theta_step=draw(-top, top) if extreme else draw(-2**10, 2**14),
        refractory=draw(0, 63 if extreme else 5),
        r_jump=int(rng.integers(0, 4)), hold_current=bool(rng.random() < 0.5), guard=bool(rng.random() < 0.5), inclusive=bool(rng.random() < 0.5),
    )


def izhikevich_neurons(rng, n: int, *, extreme: bool) -> IzhikevichNeurons:
    """Parameters around the four regimes (extreme: anywhere in their registers)."""
    regimes = np.array([REGIMES[str(k)] for k in rng.choice(list(REGIMES), n)])
    a, b, c, d = (regimes[:, i] * rng.uniform(0.8, 1.2, n) for i in range(4))
    q = lambda x, frac: np.round(x * (1 << frac)).astype(np.int32)  # noqa: E731
    neurons = IzhikevichNeurons("Izhikevich", q(a, 16), q(b, 16), q(c, 8), q(d, 12), np.full(n, 30 << 8, np.int32), q(rng.uniform(0, 15, n), 8),
                                np.full(n, -65 << 8, np.int32), q(-65 * b, 12), substeps_log2=int(rng.integers(0, 3)), step_shift=0)
    neurons = dataclasses.replace(neurons, step_shift=neurons.substeps_log2)
    if extreme:  # large d and biases drive u and the current into their limits
        neurons = dataclasses.replace(neurons, d=np.where(rng.random(n) < 0.5, ARITH_TOP, neurons.d).astype(np.int32),
                                      bias=np.where(rng.random(n) < 0.3, ARITH_TOP, neurons.bias).astype(np.int32))
    return neurons


def network(rng, profile, *, extreme: bool, sizes=(12, 9, 8, 7)):
    """Three layers: random extended neurons, an ATRLIF layer, Izhikevich neurons."""
    base = random_quantised_network(rng, profile, list(sizes), extreme=extreme, resets=["zero"] * 3)
    layers = list(base.layers)
    layers[0] = dataclasses.replace(layers[0], neurons=extended_neurons(rng, layers[0].neurons, extreme=extreme))
    layers[1] = dataclasses.replace(layers[1], neurons=extended_neurons(rng, layers[1].neurons, extreme=extreme, atrlif=True))
    layers[2] = dataclasses.replace(layers[2], neurons=izhikevich_neurons(rng, layers[2].n_out, extreme=extreme))
    return dataclasses.replace(base, layers=tuple(layers))


def assert_active(run, net):
    for layer in net.layers:
        assert run.layers[layer.name].spikes > 0, f"layer {layer.name} is silent: a silent layer agrees with anything"


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("engine", ["numba", "torch"])
def test_engines_equal_the_numpy_statement(loihi2, seed, engine):
    rng = np.random.default_rng(seed)
    net = network(rng, loihi2, extreme=bool(seed % 2))
    x = random_input(rng, 40, 3, net.n_inputs)
    reference = run_cpu(net, x, record_spikes=True, record_state=True, engine="numpy")
    assert_active(reference, net)
    result = run_cpu(net, x, record_spikes=True, record_state=True, engine=engine)
    assert not result.notes, result.notes
    verdict = compare_runs(reference, result, [layer.name for layer in net.layers])
    assert verdict["passed"], verdict["first_difference"]["message"]
    assert set(result.traces[net.layers[0].name]) == {"u", "v", "theta", "r", "count"}


@pytest.mark.lava
@pytest.mark.parametrize("extreme", [False, True])
def test_lava_runs_them_bit_for_bit(loihi2, extreme):
    rng = np.random.default_rng(10 + extreme)
    net = network(rng, loihi2, extreme=extreme)
    assert atrlif_compatible(net.layers[1].neurons) and LOIHI_SIM.layer_details(net.layers[1])["lava_process"] == "ATRLIF"
    assert LOIHI_SIM.layer_details(net.layers[0])["lava_process"] == "NeurodeployExtendedLIF"
    x = random_input(rng, 25, 2, net.n_inputs)
    lava = run_lava(net, x, record_spikes=True, record_state=True)
    assert_active(lava, net)
    reference = run_cpu(net, x, record_spikes=True, record_state=True, engine="numpy")
    verdict = compare_runs(lava, reference, [layer.name for layer in net.layers])
    assert verdict["passed"], verdict["first_difference"]["message"]
    if extreme:
        assert sum(reference.layers[layer.name].saturations["v_saturate"] for layer in net.layers) > 0, "the extremes were not reached"
    assert lava.layers[net.layers[2].name].saturations == reference.layers[net.layers[2].name].saturations


def test_each_option_of_the_extended_compartment_changes_the_spikes(loihi2):
    """Every flag and parameter reaches the arithmetic (a test that cannot fail proves nothing)."""
    rng = np.random.default_rng(3)
    base = random_quantised_network(rng, loihi2, [12, 10], resets=["zero"])
    layer = base.layers[0]
    cuba = {f.name: getattr(layer.neurons, f.name) for f in dataclasses.fields(layer.neurons)}
    cuba.update(du=np.full(10, 1000, np.int32), dv=np.full(10, 500, np.int32), vth=np.full(10, 200, np.int32), bias_mant=np.zeros(10, np.int32),
                v_init=np.zeros(10, np.int32), reset_sub=np.full(10, 200 * 64, np.int32))
    excitatory = tuple(dataclasses.replace(p, weight_exp=-4, weights=np.abs(p.weights), sign_mode="excitatory") for p in layer.projections)
    layer = dataclasses.replace(layer, projections=excitatory)
    plain = ExtendedNeurons(**cuba, u_bias=np.zeros(10, np.int32), dtheta=np.full(10, 200, np.int32), dr=np.full(10, 400, np.int32),
                            theta_step=np.zeros(10, np.int32), refractory=np.zeros(10, np.int32))
    x = random_input(rng, 60, 2, 12, rate=0.5)

    def spikes(**changes):
        net = dataclasses.replace(base, layers=(dataclasses.replace(layer, neurons=dataclasses.replace(plain, **changes)),))
        return run_cpu(net, x, record_spikes=True, engine="numpy").rasters[layer.name]

    reference = spikes()
    assert 0.02 < reference.mean() < 0.5, reference.mean()
    variants = dict(refractory=np.full(10, 3, np.int32), theta_step=np.full(10, int(plain.vth.mean()) * 64, np.int32), r_jump=2,
                    reset=Reset.SUBTRACT, hold_current=True, u_bias=np.full(10, -300, np.int32))
    for name, value in variants.items():
        changes = {name: value}
        if name == "hold_current":
            changes["refractory"] = np.full(10, 2, np.int32)
        assert not np.array_equal(spikes(**changes), reference), name


@pytest.fixture(scope="module")
def counted(loihi2):
    """The three compartments' layers on cores of 4 neurons (each layer spans cores), a core
    plan of their mapping, and the numpy engine's run with it."""
    from neurodeploy.backends.core_counts import plan_core_counts
    from neurodeploy.ir.passes.map_cores import map_cores

    profile = dataclasses.replace(loihi2, core=dataclasses.replace(loihi2.core, max_neurons=4))
    rng = np.random.default_rng(21)
    net = network(rng, profile, extreme=False)
    x = random_input(rng, 30, 3, net.n_inputs)
    plan = plan_core_counts(map_cores(net, profile))
    assert all(len(set(plan.site_of[layer.name].tolist())) > 1 for layer in net.layers)
    reference = run_cpu(net, x, engine="numpy", core_plan=plan)
    assert_active(reference, net)
    return net, x, plan, reference


def assert_same_counts(a, b):
    np.testing.assert_array_equal(a.core_counts.totals, b.core_counts.totals)
    np.testing.assert_array_equal(a.core_counts.steps, b.core_counts.steps)
    for name in a.layers:
        assert a.layers[name].updated_neuron_updates == b.layers[name].updated_neuron_updates, name


def test_compartments_count_updated_neurons_by_cubas_rule(counted):
    """SANA-FE's updated neurons (v nonzero before the step, an event, a bias or a spike), on
    the numpy statement: an extended neuron with no input, no bias and v = 0 is never updated,
    one with only a constant current into u is updated every step; an Izhikevich neuron's v
    (near -65 mV) is never zero."""
    net, x, plan, reference = counted
    extended, _, izhikevich = (reference.layers[layer.name] for layer in net.layers)
    assert 0 < extended.active_neuron_updates <= extended.updated_neuron_updates <= extended.neuron_updates
    assert izhikevich.updated_neuron_updates == izhikevich.neuron_updates
    totals = reference.core_counts.totals
    assert plan.total(totals, "updated") == sum(a.updated_neuron_updates for a in reference.layers.values())
    assert plan.total(totals, "spikes") == sum(a.spikes for a in reference.layers.values())
    first = net.layers[0]
    n = first.n_out
    idle = dataclasses.replace(first.neurons, bias_mant=np.zeros(n, np.int32), u_bias=np.zeros(n, np.int32), v_init=np.zeros(n, np.int32))
    for u_bias, expected in ((0, 0), (-5, first.n_out * x.shape[0] * x.shape[1])):
        neurons = dataclasses.replace(idle, u_bias=np.full(n, u_bias, np.int32))
        quiet = dataclasses.replace(net, layers=(dataclasses.replace(first, neurons=neurons), *net.layers[1:]))
        run = run_cpu(quiet, np.zeros_like(x), engine="numpy", core_plan=plan)
        assert run.layers[first.name].updated_neuron_updates == expected, u_bias


@pytest.mark.parametrize("engine", ["numba", "torch"])
def test_engines_count_the_compartments_cores_identically(counted, engine):
    net, x, plan, reference = counted
    result = run_cpu(net, x, engine=engine, core_plan=plan)
    assert not result.notes, result.notes
    assert_same_counts(reference, result)


@pytest.mark.lava
def test_lava_counts_the_compartments_cores_identically(counted):
    net, x, plan, reference = counted
    assert_same_counts(reference, run_lava(net, x, core_plan=plan))


def test_numba_runs_in_sample_chunks_keep_every_register(loihi2, monkeypatch):
    """Behind a progress bar the numba engine runs the batch in chunks and joins them: the extra
    registers and the event counts each land in their own field."""
    from neurodeploy.backends import cpu

    rng = np.random.default_rng(5)
    net = network(rng, loihi2, extreme=False)
    x = random_input(rng, 20, 3, net.n_inputs)
    whole = run_cpu(net, x, record_spikes=True, record_state=True, engine="numba")
    assert_active(whole, net)
    monkeypatch.setattr(cpu, "_sample_chunks", lambda steps, batch, progress: iter([(0, 1), (1, batch)]))
    joined = run_cpu(net, x, record_spikes=True, record_state=True, engine="numba")
    verdict = compare_runs(whole, joined, [layer.name for layer in net.layers])
    assert verdict["passed"], verdict["first_difference"]["message"]
    for layer in net.layers:
        for var, trace in whole.traces[layer.name].items():
            np.testing.assert_array_equal(joined.traces[layer.name][var], trace, err_msg=f"{layer.name}.{var}")


def test_torch_fixed_address_steps_leave_compartments_to_the_eager_loop(loihi2):
    """The fixed-address (CUDA-graph) steps run CUBA's update only: asked for them, a network with
    other compartments runs the eager loop, and equals the numpy statement."""
    from neurodeploy.backends.torch_graphs import run_engine

    rng = np.random.default_rng(6)
    net = network(rng, loihi2, extreme=False)
    x = random_input(rng, 15, 2, net.n_inputs)
    reference = run_cpu(net, x, record_spikes=True, engine="numpy")
    assert_active(reference, net)
    run = run_engine(net, x, "cpu", None, True, False, static=True)
    for layer in net.layers:
        np.testing.assert_array_equal(run.rasters[layer.name].cpu().numpy().astype(bool), reference.rasters[layer.name], err_msg=layer.name)


def refractory_if_network(rng, profile, n_in: int, n: int, refractory: int, vth: int):
    """One layer of extended neurons that float64 computes exactly: u without memory (du = 4095:
    Lava's du = 1), v without leak (dv = 0), biases of whole units of u (bias_exp 6), weight_exp 0;
    and the biases in those units."""
    base = random_quantised_network(rng, profile, [n_in, n], resets=["zero"], uniform=True)
    layer = base.layers[0]
    bias = rng.integers(-3, 4, n)
    zeros = np.zeros(n, np.int32)
    neurons = ExtendedNeurons("LIF", np.full(n, 4095, np.int32), zeros, np.full(n, vth, np.int32), bias.astype(np.int32), np.full(n, 6, np.int32),
                              zeros, Reset.ZERO, zeros, u_bias=zeros, dtheta=zeros, dr=zeros, theta_step=zeros,
                              refractory=np.full(n, refractory, np.int32))
    layer = dataclasses.replace(layer, neurons=neurons, projections=(dataclasses.replace(layer.projections[0], weight_exp=0),))
    return dataclasses.replace(base, layers=(layer,)), bias


@pytest.mark.lava
def test_the_refractory_period_equals_lavas_lif_refractory_bit_for_bit(loihi2):
    """Lava 0.10's ``LIFRefractory`` has a floating-point model only (``PyLifRefractoryModelFloat``,
    float64): where float64 computes the integers exactly (no leak in v, u without memory, integer
    weights, biases and threshold) it runs the refractory period bit for bit against the extended
    compartment; its v is ours / 2^6 (our u carries a_in << 6)."""
    from neurodeploy.backends import lava_compat

    lava_compat.install()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.models import PyLifRefractoryModelFloat
    from lava.proc.lif.process import LIFRefractory
    from lava.proc.monitor.process import Monitor
    from lava.utils.weightutils import SignMode

    rng = np.random.default_rng(0)
    n_in, n, steps, refractory, vth = 16, 10, 60, 3, 40
    net, bias = refractory_if_network(rng, loihi2, n_in, n, refractory, vth)
    layer = net.layers[0]
    x = random_input(rng, steps, 1, n_in, rate=0.3)
    ours = run_cpu(net, x, record_spikes=True, record_state=True, engine="numpy")
    assert_active(ours, net)
    no_refractory = dataclasses.replace(layer, neurons=dataclasses.replace(layer.neurons, refractory=np.zeros(n, np.int32)))
    without = run_cpu(dataclasses.replace(net, layers=(no_refractory,)), x, record_spikes=True, engine="numpy")
    assert not np.array_equal(without.rasters[layer.name], ours.rasters[layer.name]), "the refractory period changes no spike here"

    projection = layer.projections[0]
    source = Source(data=x[:, 0].T.astype(np.int32))
    dense = Dense(weights=np.asarray(projection.weights, np.int32), weight_exp=0, num_weight_bits=projection.mantissa_bits,
                  sign_mode={"mixed": SignMode.MIXED, "excitatory": SignMode.EXCITATORY, "inhibitory": SignMode.INHIBITORY}[projection.sign_mode])
    lif = LIFRefractory(shape=(n,), du=1.0, dv=0.0, vth=float(vth), bias_mant=bias.astype(float), refractory_period=refractory)
    sink, monitor = Sink(shape=(n,), buffer=steps), Monitor()
    monitor.probe(lif.v, steps)
    source.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    lif.s_out.connect(sink.a_in)
    try:
        lif.run(RunSteps(num_steps=steps), Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={LIFRefractory: PyLifRefractoryModelFloat}))
        spikes, v = sink.data.get().T, monitor.get_data()[lif.name]["v"]
    finally:
        lif.stop()
    np.testing.assert_array_equal(spikes, ours.rasters[layer.name][:, 0])
    np.testing.assert_array_equal(v * 64, ours.traces[layer.name]["v"][:, 0])
