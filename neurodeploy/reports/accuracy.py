"""The report's ``accuracy`` section: the share of samples each run classified right, where the
input has labels (class per sample: most output spikes, or a readout's largest mean v)."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..backends.results import RunResult


def accuracy_section(results: Mapping[str, RunResult], labels: np.ndarray | None, target: str) -> dict[str, float] | None:
    """Per run: float first, then the --target, then the others in the order they ran."""
    if labels is None or not results:
        return None
    order = dict.fromkeys(["float", target, *results])
    return {name: float(np.mean(results[name].predictions() == labels)) for name in order if name in results}
