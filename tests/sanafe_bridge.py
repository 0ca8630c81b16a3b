"""Run a compiled neurodeploy network on SANA-FE's Loihi description, as neurodeploy maps it.

The same quantised integers, the same placement (``map_cores``, input neurons where
``core_counts.plan_core_counts`` puts them) and the same input spikes; SANA-FE
(sanafe 2.2.9, ``sanafe/examples/loihi.yaml``) then simulates spikes, energy and time itself.

Units: SANA-FE's Loihi soma (its models.cpp, ``LoihiLifModel``) keeps v as a double and
truncates it to 1/64 after the leak; in units of 64 state units (the register / 64) its
arithmetic is Lava's, bit for bit, when u holds only the step's input (du = 4095), the weight
exponent is >= 0, the reset is to zero or subtracts the threshold, u never wraps and v never
reaches its upper limit (``exactness_problems`` checks the parameters; the run's saturation
counts the rest):

    weight       w * 2**weight_exp          threshold  vth
    bias         (bias_mant << bias_exp) / 64
    leak_decay   (4096 - dv) / 4096         input_decay 0
    reverse_threshold -(2**23 - 1) / 64 with reverse_reset_mode saturate: Lava's lower clip of v

Every projection's synapses are connected as stored (a dense projection's zero weights
included), through the synapse unit of its connection (dense, sparse or conv: a connection
takes the unit named by its target neuron's ``default_synapse_hw_name`` when made). Core
placement: a core at tile (x, y), the k-th of its tile, is SANA-FE's core (x * 4 + y) * 4 + k
(its tile k sits at x = k // 4, y = k % 4). SANA-FE's step s integrates what neurodeploy's
step s - 1 delivered, and its input neurons emit their train one step late, so its spike
trace at index t is neurodeploy's step t.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import sanafe
from scipy import sparse

from neurodeploy.backends.core_counts import CorePlan
from neurodeploy.hardware.fixed_point import Reset
from neurodeploy.ir.stages import INPUT, QuantisedNetwork

SYNAPSE_UNIT = {"Dense": "loihi_dense_synapse", "Sparse": "loihi_sparse_synapse", "Conv": "loihi_conv_synapse"}
MESH_HEIGHT, CORES_PER_TILE = 4, 4  # loihi.yaml: height 4, loihi_core[0..3]
STATE_MAX = (1 << 23) - 1


@dataclass
class SanafeRun:
    rasters: dict[str, np.ndarray]  # source -> (steps, n) bool, the input included
    energy: dict[str, float]  # total, synapse, dendrite, soma, network (J)
    energy_per_step: np.ndarray
    time_per_step: np.ndarray  # s
    sim_time: float
    counters: dict[str, np.ndarray]  # per step: fired, updated (input neurons included), hops, spikes (synaptic events)


def exactness_problems(network: QuantisedNetwork) -> list[str]:
    """Parameters whose arithmetic SANA-FE's soma does not share with Loihi's."""
    problems = []
    for layer in network.layers:
        n = layer.neurons
        if np.any(n.du != 4095):
            problems.append(f"{layer.name}: du < 4095 (SANA-FE decays u without truncation)")
        if np.any(n.v_init != 0):
            problems.append(f"{layer.name}: v_init != 0 (SANA-FE skips the first step's leak)")
        if n.reset is Reset.SUBTRACT and np.any(n.reset_sub != n.vth.astype(np.int64) << 6):
            problems.append(f"{layer.name}: subtracts other than the threshold")
        for p in layer.projections:
            if p.weight_exp < 0 or p.delays is not None or p.graded_bits:
                problems.append(f"{layer.name}: projection from {p.source} (negative exponent, delays or graded input)")
    return problems


def sanafe_core(site, cores_per_tile: int) -> int:
    x, y = site.tile
    return (x * MESH_HEIGHT + y) * CORES_PER_TILE + site.core % cores_per_tile


INPUT_UNITS = "loihi_inputs[0..1023]"


def loihi_description() -> str:
    """The installed wheel's Loihi description (``sanafe/examples/loihi.yaml``)."""
    return files("sanafe.examples").joinpath("loihi.yaml").read_text()


class Loihi:
    """SANA-FE's Loihi description with ``inputs_per_core`` of its 1024 input units per core
    (they cost nothing; SANA-FE builds each as a hardware unit, and 1024 per core take seconds
    to build), and the architecture's cores. Every cost is the installed file's."""

    def __init__(self, directory: Path, inputs_per_core: int):
        text = loihi_description()
        assert text.count(INPUT_UNITS) == 1
        path = directory / "loihi.yaml"
        path.write_text(text.replace(INPUT_UNITS, f"loihi_inputs[0..{inputs_per_core - 1}]"))
        self.arch = sanafe.load_arch(str(path))


def build(loihi: Loihi, network: QuantisedNetwork, plan: CorePlan, cores_per_tile: int, x: np.ndarray) -> sanafe.Network:
    """The network as SANA-FE's, placed on its cores, with the input ``x`` (steps, n_inputs)."""
    cores = loihi.arch.cores()
    core_of = {name: np.array([sanafe_core(plan.sites[i], cores_per_tile) for i in sites]) for name, sites in plan.site_of.items()}
    snn = sanafe.Network()
    groups = {INPUT: snn.create_neuron_group(INPUT, network.n_inputs, model_attributes={}, log_spikes=True)}
    slots: dict[int, int] = {}
    for i, neuron in enumerate(groups[INPUT]):
        core = int(core_of[INPUT][i])
        slot = slots[core] = slots.get(core, -1) + 1
        neuron.set_attributes(soma_hw_name=f"loihi_inputs[{slot}]", model_attributes={"spikes": [bool(v) for v in x[:, i]]})
        neuron.map_to_core(cores[core])
    for layer in network.layers:
        n = layer.neurons
        group = snn.create_neuron_group(layer.name, layer.n_out, model_attributes={}, soma_hw_name="loihi_lif", log_spikes=True)
        for i, neuron in enumerate(group):
            neuron.set_attributes(model_attributes={
                "threshold": float(n.vth[i]),
                "bias": float(int(n.bias_mant[i]) << int(n.bias_exp[i])) / 64.0,
                "leak_decay": (4096 - int(n.dv[i])) / 4096.0,
                "input_decay": 0.0,
                "reset_mode": "soft" if n.reset is Reset.SUBTRACT else "hard",
                "reset": 0.0,
                "reverse_threshold": -STATE_MAX / 64.0,
                "reverse_reset_mode": "saturate",
            })
            neuron.map_to_core(cores[int(core_of[layer.name][i])])
        groups[layer.name] = group
    for layer in network.layers:
        for p in layer.projections:
            for neuron in groups[layer.name]:
                neuron.set_attributes(default_synapse_hw_name=SYNAPSE_UNIT[p.connection])
            if sparse.issparse(p.weights):
                stored = sparse.coo_matrix(p.weights)
                post, pre, w = stored.row, stored.col, stored.data
            else:
                post, pre = np.meshgrid(np.arange(p.n_out), np.arange(p.n_in), indexing="ij")
                post, pre, w = post.ravel(), pre.ravel(), np.asarray(p.weights).ravel()
            weights = (w.astype(np.float64) * 2.0**p.weight_exp).tolist()
            groups[p.source].connect_neurons_sparse(groups[layer.name], {"w": weights}, list(zip(pre.tolist(), post.tolist())))
    return snn


def run(loihi: Loihi, snn: sanafe.Network, steps: int, sizes: dict[str, int], timing_model: str = "detailed") -> SanafeRun:
    """Simulate ``snn`` for ``steps`` steps on a new chip; ``sizes``: neurons per group."""
    chip = sanafe.SpikingChip(loihi.arch)
    chip.load(snn)
    result = chip.sim(steps, timing_model=timing_model, spike_trace=True, perf_trace=True, processing_threads=1)
    rasters = {name: np.zeros((steps, n), bool) for name, n in sizes.items()}
    for t, fired in enumerate(result["spike_trace"]):
        for address in fired:
            rasters[address.group_name][t, address.neuron_offset] = True
    perf = result["perf_trace"]
    order = np.argsort(perf["timestep"])
    pick = lambda key: np.asarray(perf[key], float)[order]  # noqa: E731
    return SanafeRun(
        rasters=rasters,
        energy={key: float(value) for key, value in result["energy"].items()},
        energy_per_step=pick("total_energy"),
        time_per_step=pick("sim_time"),
        sim_time=float(result["sim_time"]),
        counters={key: pick(key) for key in ("fired", "updated", "hops", "spikes")},
    )
