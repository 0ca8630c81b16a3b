"""The report's ``quantisation`` section: the settings the scales were chosen with, the overflow
analysis of the calibration data's run (``overflow.py``), and the fine-tuning that came
before (``training/``)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..backends.results import RunResult
from ..ir.stages import QuantisedNetwork
from .overflow import overflow_section


@dataclass(frozen=True)
class QuantisationSection:
    section: dict[str, Any] | None
    warnings: list[str]  # the overflow analysis's, for the report's notes


def quantisation_section(
    network: QuantisedNetwork, settings: Mapping[str, Any] | None, overflow: RunResult | None, source: str, finetuning: Mapping[str, Any] | None
) -> QuantisationSection:
    if settings is None:
        return QuantisationSection(None, [])
    section: dict[str, Any] = dict(settings)
    warnings: list[str] = []
    if overflow is not None:
        section["overflow"], warnings = overflow_section(network, overflow, source)
    if finetuning is not None:
        section["finetuning"] = dict(finetuning)
    return QuantisationSection(section, warnings)
