"""The report's ``verify`` section (``--verify``): two bit-exact runs compared spike for spike
and register for register (``backends/compare.py``)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..backends.compare import compare_runs
from ..backends.results import RunResult
from ..ir.stages import QuantisedNetwork


def verify_section(results: Mapping[str, RunResult], pair: tuple[str, str] | None, network: QuantisedNetwork) -> dict[str, Any] | None:
    """``pair``: (reference, candidate); None when --verify was not asked for."""
    if pair is None:
        return None
    reference, candidate = pair
    return compare_runs(results[reference], results[candidate], [layer.name for layer in network.layers])
