"""Scale-out: a run's samples sharded over Ray workers, and independent deployments of a sweep.

Samples are independent in every target (no state crosses the batch axis), so a run on
``inputs[:, first:last]`` is exactly the slice of the run on all of them. ``ShardedRuns``
cuts the batch into one contiguous shard per worker, runs each shard of each target as a
Ray task (each with the run's request: the same layers recorded), and ``merge_results`` joins
the shards back: per-sample arrays (spike counts, window counts, the output's v, the recorded
layers' rasters and traces) are concatenated in sample order, totals
(spikes, synops, neuron updates, active updates, saturations) add, peaks (largest |u|, |v|)
take the maximum. Everything the report
computes from a run (fidelity, accuracy, energy) is then computed from the merged counts,
so the report is the single-process report bit for bit (tests/test_scale.py).

    --workers N        N local worker processes (Ray started here, stopped after the run)
    --cluster ADDRESS  the workers of a running Ray cluster (``ray start --head`` on one
                       machine, ``ray start --address HEAD:6379`` on the others; ADDRESS is
                       HEAD:6379, ray://HEAD:10001 or auto); neurodeploy is shipped to the
                       workers with the job (Ray ``py_modules``), its dependencies must be
                       installed on every node

``sweep.deploy_many`` runs whole deployments (a sweep over profiles, encodings or quantisation
settings) as one Ray task each. Ray is imported only when one of these is used.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from .backends.results import LayerActivity, RunResult
from .errors import UserError

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ScaleOut:
    """Where a run's shards go: local worker processes, or a Ray cluster's workers."""

    workers: int | None = None  # local Ray worker processes
    cluster: str | None = None  # the address of a running Ray cluster

    @property
    def enabled(self) -> bool:
        return self.workers is not None or self.cluster is not None


def shard_bounds(batch: int, shards: int) -> list[tuple[int, int]]:
    """[first, last) sample ranges: ``shards`` contiguous pieces of ``batch`` (no empty one)
    whose sizes differ by at most one."""
    shards = max(1, min(shards, batch))
    edges = [batch * i // shards for i in range(shards + 1)]
    return list(zip(edges[:-1], edges[1:]))


def merge_results(parts: Sequence[RunResult]) -> RunResult:
    """One RunResult from the results of consecutive sample shards of one run, exactly as the
    run on all samples would have given them (wall_s: the longest shard's)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    layers = {name: _merge_activity([p.layers[name] for p in parts]) for name in first.layers}
    notes = list(dict.fromkeys(note for p in parts for note in p.notes))
    return replace(
        first, batch=sum(p.batch for p in parts), layers=layers, notes=notes,
        output_v_sum=np.concatenate([p.output_v_sum for p in parts], axis=0),
        rasters=None if first.rasters is None else {k: np.concatenate([p.rasters[k] for p in parts], axis=1) for k in first.rasters},
        traces=None if first.traces is None else {
            k: {s: np.concatenate([p.traces[k][s] for p in parts], axis=1) for s in first.traces[k]} for k in first.traces
        },
        peaks=None if first.peaks is None else {k: {s: max(p.peaks[k][s] for p in parts) for s in first.peaks[k]} for k in first.peaks},
        core_counts=_merge_core_counts([p.core_counts for p in parts], sum(p.batch for p in parts), first.steps),
        input_events=None if any(p.input_events is None for p in parts) else sum(p.input_events for p in parts),
        wall_s=max(p.wall_s for p in parts),
    )


def _merge_core_counts(parts: Sequence, batch: int, steps: int):
    """Per-core counters: totals add; per-step counts are concatenated by sample and kept for as
    many first samples as the whole run keeps (``CorePlan.step_samples``)."""
    if parts[0] is None:
        return None
    plan = parts[0].plan
    per_step = np.concatenate([p.steps for p in parts], axis=0)[: plan.step_samples(batch, steps)]
    return replace(parts[0], totals=sum(p.totals for p in parts), steps=per_step)


SAME_IN_EVERY_SHARD = ("name", "n_neurons", "window")  # LayerActivity's fields that describe the layer, not its samples


def _merge_activity(parts: Sequence[LayerActivity]) -> LayerActivity:
    """Per-sample arrays concatenated (batch first), counts and saturations added, whatever
    fields LayerActivity has."""
    merged = {}
    for f in fields(LayerActivity):
        values = [getattr(p, f.name) for p in parts]
        if f.name in SAME_IN_EVERY_SHARD or values[0] is None:
            merged[f.name] = values[0]
        elif isinstance(values[0], np.ndarray):
            merged[f.name] = np.concatenate(values, axis=0)
        elif isinstance(values[0], dict):
            merged[f.name] = {key: sum(v[key] for v in values) for key in values[0]}
        else:
            merged[f.name] = sum(values)
    return LayerActivity(**merged)


# --------------------------------------------------------------------------- Ray
def _ray():
    try:
        import ray
    except ImportError:
        raise UserError("--workers / --cluster run on Ray, which is not installed: pip install 'neurodeploy[cluster]'") from None
    return ray


def _run_shard(target_name: str, stage, inputs: np.ndarray, request) -> RunResult:
    """One shard of one target's run, in a Ray worker."""
    from .backends import TARGETS

    return TARGETS.get(target_name).run(stage, inputs, request)


class ShardedRuns:
    """Ray connected (or started) for the length of a ``with`` block; ``run`` runs a target's
    samples in shards over its workers and merges them."""

    def __init__(self, scale: ScaleOut):
        if scale.workers is not None and scale.cluster is not None:
            raise UserError("--workers N starts Ray here with N local workers; --cluster ADDRESS uses a running cluster's: give one of them")
        if scale.workers is not None and (isinstance(scale.workers, bool) or not isinstance(scale.workers, int) or scale.workers < 1):
            raise UserError(f"--workers {scale.workers!r}: must be a whole number >= 1")
        self.scale = scale
        self._started = False
        self._stages: dict[int, object] = {}

    def __enter__(self) -> ShardedRuns:
        ray = _ray()
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.scale.cluster is not None:
                try:
                    ray.init(address=self.scale.cluster, runtime_env={"py_modules": [str(PACKAGE_DIR)]}, **kwargs)
                except (ConnectionError, RuntimeError, ValueError) as exc:
                    raise UserError(f"--cluster {self.scale.cluster}: cannot connect to a Ray cluster there ({str(exc).splitlines()[0]})") from None
            else:
                path = os.pathsep.join(filter(None, [str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH")]))
                ray.init(num_cpus=self.scale.workers, runtime_env={"env_vars": {"PYTHONPATH": path}}, **kwargs)
            self._started = True
        self._task = ray.remote(num_cpus=1, max_retries=0)(_run_shard)
        return self

    def __exit__(self, *exc_info) -> None:
        self._stages.clear()
        if self._started:
            _ray().shutdown()

    @property
    def workers(self) -> int:
        """The shards a run is cut into: one per CPU the workers have."""
        return max(1, int(_ray().cluster_resources().get("CPU", 1)))

    def run(self, target_name: str, stage, inputs: np.ndarray, request) -> RunResult:
        ray = _ray()
        key = id(stage)
        if key not in self._stages:  # each stage goes to the object store once, for every target and shard
            self._stages[key] = (stage, ray.put(stage))
        stage_ref = self._stages[key][1]
        request = replace(request, progress=False)
        bounds = shard_bounds(inputs.shape[1], self.workers)
        futures = [self._task.remote(target_name, stage_ref, np.ascontiguousarray(inputs[:, a:b]), request) for a, b in bounds]
        return merge_results(ray.get(futures))
