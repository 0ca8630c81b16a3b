"""Where a run's work lands on the chip, step by step: the counts the energy and time model needs.

The cost model (``reports/energy.py``, docs/energy.md) charges SANA-FE's Loihi operations, and
its time per step is a maximum over cores, so it needs the work of every core at every step.
A ``CorePlan``, built once from the mapped network (``plan_core_counts``), turns each event of
a run into per-core counters:

- a spike of a layer neuron or a nonzero input value ("event") adds, through the plan's
  ``spike_map`` (a sparse matrix per source, one row per neuron): ``spikes`` on its own core
  (layer neurons only), ``messages_out`` on its core (one message per distinct destination
  core of its synapses, its own core included), ``messages_in`` on each destination core,
  ``synapse_dense`` / ``_sparse`` / ``_conv`` on each destination core (every synapse stored
  there for it is read, zero weights of dense projections included), and the mesh hops and
  chip-to-chip links of its messages (``hops_east_west``, ``hops_north_south``, ``chip_hops``);
- an updated neuron adds ``updated`` on its core: SANA-FE's condition (its models.cpp,
  ``LoihiLifModel::update``): v nonzero before the step, a synaptic event arrived (over any
  stored synapse, zero weights included), a nonzero bias, or a spike.

The input is placed as SANA-FE places it: input neurons on the cores after the network's
(``profile.core.max_neurons`` per core), which send spike messages but do no neuron work.

Every target produces ``CoreCounts`` when its ``RunRequest`` carries a plan: totals over all
samples and steps, and per-step counts for the first ``step_samples`` samples (a memory bound;
all of them in ordinary runs). Spike counters are a linear map of each step's events, so every
engine applies the same matrices (the numba engine in its event loop, the others to each
step's spikes here); ``ArrivalBuffers`` track which neurons receive a synaptic event.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ..hardware.topology import chip_position, place
from ..ir.stages import INPUT, MappedNetwork
from .kernels import split_by_delay

FIELDS = ("spikes", "messages_out", "messages_in", "synapse_dense", "synapse_sparse", "synapse_conv", "updated")
GLOBALS = ("hops_east_west", "hops_north_south", "chip_hops")
SYNAPSE_FIELD = {
    "Dense": "synapse_dense", "DelayDense": "synapse_dense", "Sparse": "synapse_sparse", "DelaySparse": "synapse_sparse", "Conv": "synapse_conv",
}
STEP_COUNT_BYTES = 256 << 20  # per-step counts beyond this are kept for fewer samples


@dataclass(frozen=True)
class CoreSite:
    """A core the run uses: a network core of the mapping, or a core holding input neurons."""

    core: int  # global core index (network cores first, then input cores)
    chip: int
    tile: tuple[int, int]
    neurons: int  # layer neurons on it (each accessed every step)
    inputs: int  # input neurons on it


@dataclass(frozen=True, eq=False)
class CorePlan:
    """Which counters every event increments (see the module docstring)."""

    sites: tuple[CoreSite, ...]
    site_of: Mapping[str, np.ndarray]  # source (INPUT or a layer) -> (n_source,) each neuron's site (index into sites)
    spike_map: Mapping[str, sparse.csr_matrix]  # source -> (n_source, n_counters) increments per event

    @property
    def updated_counter(self) -> dict[str, np.ndarray]:
        """layer -> (n,) the counter of each neuron's core's ``updated``."""
        return {name: sites * len(FIELDS) + FIELDS.index("updated") for name, sites in self.site_of.items() if name != INPUT}

    @property
    def n_counters(self) -> int:
        return len(self.sites) * len(FIELDS) + len(GLOBALS)

    def counter(self, site: int, name: str) -> int:
        """Index of a per-core counter (``FIELDS``) or, with ``site`` ignored, a global one."""
        if name in GLOBALS:
            return len(self.sites) * len(FIELDS) + GLOBALS.index(name)
        return site * len(FIELDS) + FIELDS.index(name)

    def per_core(self, values: np.ndarray, name: str) -> np.ndarray:
        """values (..., n_counters) -> (..., n_sites): one per-core counter."""
        start = FIELDS.index(name)
        return values[..., start : len(self.sites) * len(FIELDS) : len(FIELDS)]

    def total(self, values: np.ndarray, name: str) -> np.ndarray:
        """values (..., n_counters) -> (...): a counter summed over cores (or a global one)."""
        if name in GLOBALS:
            return values[..., self.counter(0, name)]
        return self.per_core(values, name).sum(axis=-1)

    @property
    def tiles_in_use(self) -> int:
        return len({(site.chip, site.tile) for site in self.sites})

    def step_samples(self, batch: int, steps: int) -> int:
        """Samples whose per-step counts are kept: all, unless that exceeds STEP_COUNT_BYTES."""
        per_sample = max(steps, 1) * self.n_counters * 4
        return int(min(batch, max(1, STEP_COUNT_BYTES // per_sample)))


@dataclass
class CoreCounts:
    """A run's counters (``CorePlan``'s layout): totals over every sample and step, and per step
    for the first samples."""

    plan: CorePlan
    totals: np.ndarray  # (n_counters,) int64
    steps: np.ndarray  # (samples kept, steps, n_counters) int32


def plan_core_counts(mapped: MappedNetwork) -> CorePlan:
    network, profile = mapped.quantised, mapped.profile
    sites = [CoreSite(c.core, c.chip, tuple(c.tile), c.neurons, 0) for c in mapped.cores]
    position = {site.core: i for i, site in enumerate(sites)}
    where = {}
    for layer in network.layers:
        cores = np.zeros(layer.n_out, np.int64)
        for piece in mapped.mapping(layer.name).slices:
            cores[piece.index] = position[piece.core]
        where[layer.name] = cores
    per_core = profile.core.max_neurons
    first = 1 + max((site.core for site in sites), default=-1)
    for i in range(-(-network.n_inputs // per_core)):
        chip, tile = place(first + i, profile)
        sites.append(CoreSite(first + i, chip, tuple(tile), 0, min(per_core, network.n_inputs - i * per_core)))
    where[INPUT] = len(mapped.cores) + np.arange(network.n_inputs) // per_core
    plan = CorePlan(tuple(sites), where, {})
    spike_map = {source: _spike_map(plan, mapped, where, source) for source in [INPUT, *(layer.name for layer in network.layers)]}
    return CorePlan(plan.sites, where, spike_map)


def _spike_map(plan: CorePlan, mapped: MappedNetwork, where: dict[str, np.ndarray], source: str) -> sparse.csr_matrix:
    """(n_source, n_counters): what one event of each neuron of ``source`` adds. Sparse
    throughout: its size follows the neurons' fan-out to cores, not neurons x cores."""
    network, n_sites = mapped.quantised, len(plan.sites)
    n = network.n_inputs if source == INPUT else network.layer(source).n_out
    fan = {name: sparse.csr_matrix((n, n_sites), dtype=np.int64) for name in set(SYNAPSE_FIELD.values())}
    for consumer in network.consumers(source):
        targets = where[consumer.name]
        onehot = sparse.csr_matrix((np.ones(targets.size, np.int64), (np.arange(targets.size), targets)), shape=(targets.size, n_sites))
        for projection in consumer.projections:
            if projection.source != source:
                continue
            field = SYNAPSE_FIELD[projection.connection]
            if sparse.issparse(projection.weights):
                stored = sparse.csr_matrix(projection.weights)
                structure = sparse.csr_matrix((np.ones(stored.nnz, np.int64), stored.indices, stored.indptr), shape=stored.shape)
                fan[field] = fan[field] + (structure.T @ onehot).tocsr()
            else:  # dense storage: every source reads every target's synapse
                per_core = sparse.csr_matrix(np.bincount(targets, minlength=n_sites)[None, :].astype(np.int64))
                fan[field] = fan[field] + sparse.csr_matrix(np.ones((n, 1), np.int64)) @ per_core
    reach = sum(fan.values()).tocoo()  # (neuron, destination core) pairs with a message
    reach.sum_duplicates()
    pairs = reach.row, reach.col
    home = where[source]
    x, y, grid = _positions(plan, mapped.profile)
    per_neuron = lambda values: np.bincount(pairs[0], weights=values, minlength=n).astype(np.int64)  # noqa: E731
    neuron = np.arange(n)
    entries = [
        _entries(plan, neuron, home, "spikes", np.full(n, int(source != INPUT))),
        _entries(plan, neuron, home, "messages_out", np.bincount(pairs[0], minlength=n)),
        _entries(plan, *pairs, "messages_in", np.ones(pairs[0].size, np.int64)),
        _entries(plan, neuron, None, "hops_east_west", per_neuron(np.abs(x[home][pairs[0]] - x[pairs[1]]))),
        _entries(plan, neuron, None, "hops_north_south", per_neuron(np.abs(y[home][pairs[0]] - y[pairs[1]]))),
        _entries(plan, neuron, None, "chip_hops", per_neuron(np.abs(grid[home][pairs[0]] - grid[pairs[1]]).sum(axis=1))),
    ]
    for name, values in fan.items():
        values = values.tocoo()
        entries.append(_entries(plan, values.row, values.col, name, values.data))
    rows, cols, data = (np.concatenate(part) for part in zip(*entries))
    keep = data != 0
    return sparse.csr_matrix((data[keep], (rows[keep], cols[keep])), shape=(n, plan.n_counters), dtype=np.int64)


def _entries(plan: CorePlan, rows: np.ndarray, sites: np.ndarray | None, name: str, values: np.ndarray):
    """(rows, counter indices, values): counter ``name`` of each row's site (a global counter: ``sites`` None)."""
    counters = np.full(rows.size, plan.counter(0, name)) if sites is None else sites * len(FIELDS) + FIELDS.index(name)
    return rows, counters, np.asarray(values, np.int64)


def _positions(plan: CorePlan, profile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each site's tile x, tile y, and its chip's (x, y) on the board's chip grid."""
    x = np.array([site.tile[0] for site in plan.sites], np.int64)
    y = np.array([site.tile[1] for site in plan.sites], np.int64)
    grid = np.array([chip_position(site.chip, profile) for site in plan.sites], np.int64).reshape(-1, 2)
    return x, y, grid


# --------------------------------------------------------------------------- counting from masks
class StepCounter:
    """Counts from each step's event and update masks, for the engines that hold whole
    (batch, n) masks per step (numpy, torch, the float reference, and Lava's recorded spikes)."""

    def __init__(self, plan: CorePlan, batch: int, steps: int):
        self.plan = plan
        self.kept = plan.step_samples(batch, steps)
        self.steps = np.zeros((self.kept, steps, plan.n_counters), np.int32)
        self.totals = np.zeros(plan.n_counters, np.int64)
        self.maps = {name: matrix.T.tocsr() for name, matrix in plan.spike_map.items()}
        self.updated = {
            name: sparse.csr_matrix((np.ones(c.size, np.int64), (c, np.arange(c.size))), shape=(plan.n_counters, c.size))
            for name, c in plan.updated_counter.items()
        }

    def events(self, t: int, source: str, mask: np.ndarray) -> None:
        """Step t's events of ``source``: (batch, n), nonzero where a neuron spiked or an input is nonzero."""
        self._add(t, self.maps[source], mask)

    def updates(self, t: int, layer: str, mask: np.ndarray) -> None:
        """Step t's updated neurons of ``layer`` (batch, n) bool."""
        self._add(t, self.updated[layer], mask)

    def _add(self, t: int, matrix: sparse.csr_matrix, mask: np.ndarray) -> None:
        active = np.asarray(mask) != 0
        if not active.any():
            return
        per_sample = np.asarray(matrix @ active.T.astype(np.int64)).T  # (batch, n_counters)
        self.totals += per_sample.sum(axis=0)
        self.steps[:, t] += per_sample[: self.kept].astype(np.int32)

    def result(self) -> CoreCounts:
        return CoreCounts(self.plan, self.totals, self.steps)


class ArrivalBuffers:
    """Per layer, which neurons a synaptic event reaches at each step: any stored synapse from a
    source that spiked (or, for the input, was nonzero) 1 + delay steps before; a dense
    projection's event reaches every target. The quantised network's delays, as ``SynapticBuffers``."""

    def __init__(self, network, batch: int):
        self.paths = {}
        depth = 1
        for layer in network.layers:
            paths = []
            for projection in layer.projections:
                for delay, weights in split_by_delay(projection.weights, projection.delays).items():
                    structure = (sparse.csr_matrix(weights) != 0).T.tocsr().astype(np.int32) if sparse.issparse(weights) else None
                    paths.append((projection.source, delay, structure))
                    depth = max(depth, delay + 1)
            self.paths[layer.name] = paths
        self.depth = depth
        self.slots = {layer.name: np.zeros((depth, batch, layer.n_out), bool) for layer in network.layers}

    def take(self, name: str, t: int) -> np.ndarray:
        slot = self.slots[name][t % self.depth]
        arrived = slot.copy()
        slot[:] = False
        return arrived

    def deliver(self, signals: dict[str, np.ndarray], t: int) -> None:
        for name, paths in self.paths.items():
            for source, delay, structure in paths:
                events = np.asarray(signals[source]) != 0
                target = self.slots[name][(t + 1 + delay) % self.depth]
                if structure is None:
                    target |= events.any(axis=1, keepdims=True)
                else:
                    target |= np.asarray(events.astype(np.int32) @ structure) > 0


def updated_mask(v_before: np.ndarray, arrived: np.ndarray, bias: np.ndarray, spikes: np.ndarray) -> np.ndarray:
    """SANA-FE's updated neurons: v nonzero before the step, a synaptic event arrived, a bias, or a spike."""
    return (np.asarray(v_before) != 0) | arrived | (np.asarray(bias) != 0) | (np.asarray(spikes) != 0)
