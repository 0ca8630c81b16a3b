"""Targets: where a compiled network runs. One interface (``Target``), one registry (``TARGETS``).

    float       the normalised network's NIR semantics in float64 (float_reference.py)
    loihi-sim   Lava's fixed-point simulator (lava_backend.py)
    cpu         the bit-exact backend, numba engine (cpu.py, numba_engine.py)
    cpu-numpy   the bit-exact backend, numpy engine: the readable statement of the arithmetic
    torch       the bit-exact backend, torch engine, on any torch device (--device)

Every bit-exact target gives Lava's integers spike for spike and register for register, so
any two of them can be compared with ``--verify``. A target reports what the user should
know in ``RunResult.notes``; nothing here prints.

Adding a target is one module in this folder (a ``Target`` subclass and its instance) and
one line in ``TARGETS`` below; see docs/architecture.md, "How to add ...".
"""
from __future__ import annotations

from ..registry import Registry
from .target import RunRequest, Target

TARGETS: Registry[Target] = Registry("target", __package__, {
    "loihi-sim": ".lava_backend:LOIHI_SIM",
    "cpu": ".cpu:CPU",
    "float": ".float_reference:FLOAT",
    "cpu-numpy": ".cpu:CPU_NUMPY",
    "torch": ".cpu:TORCH",
})


def bit_exact_targets() -> list[str]:
    return [name for name in TARGETS.names() if TARGETS.get(name).bit_exact]


__all__ = ["TARGETS", "RunRequest", "Target", "bit_exact_targets"]
