"""A sweep: independent deployments (over profiles, encodings, quantisation settings) run as
one Ray task each, on local workers or a cluster (``scale.py`` connects):

    outcomes = deploy_many([DeployOptions(model="net.nir", profile=p) for p in ("loihi1", "loihi2")], ScaleOut(workers=2))
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .pipeline import DeployOptions, DeployOutcome, deploy
from .scale import ScaleOut, ShardedRuns, _ray

PATH_OPTIONS = ("model", "input", "calibration_data", "finetune_data", "profile")


def deploy_many(options: Sequence[DeployOptions], scale: ScaleOut) -> list[DeployOutcome]:
    """Each deployment as one Ray task; their outcomes in the order of ``options``."""
    with ShardedRuns(scale):
        task = _ray().remote(num_cpus=1, max_retries=0)(deploy)
        return _ray().get([task.remote(_absolute_paths(o)) for o in options])


def _absolute_paths(options: DeployOptions) -> DeployOptions:
    """The options with every file that exists here named by its absolute path (a worker's
    working directory is not the caller's)."""
    changes = {}
    for name in PATH_OPTIONS:
        value = getattr(options, name)
        if isinstance(value, (str, Path)) and Path(value).is_file():
            changes[name] = str(Path(value).resolve())
    return replace(options, **changes)
