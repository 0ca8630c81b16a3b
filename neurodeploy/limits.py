"""The memory a run may use, checked before anything large is allocated.

Every place that allocates in proportion to something a user declares rather than supplies
(an Input's declared shape, ``--steps``, ``--batch``, a convolution's declared input size, a
dataset's declared size in an HDF5 file) first asks ``check_memory`` with its estimate in
bytes. Above the limit it raises a ``ResourceLimitError`` that states the estimate, the
limit and what to change, before the allocation. The limit is ``--memory-limit`` (the API's
``DeployOptions.memory_limit``), by default ``DEFAULT_FRACTION`` of the machine's memory
(its physical memory, or the cgroup's limit where that is lower).

    with memory_limit(8 * GIB):          # the deployment's limit, for everything it calls
        check_memory(steps * batch * n, "the input", "lower --steps or --batch")
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path

from .errors import ResourceLimitError, UserError

KIB, MIB, GIB, TIB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
DEFAULT_FRACTION = 0.8  # of the machine's memory: what a run may plan to use
_UNITS = {"": 1, "k": KIB, "m": MIB, "g": GIB, "t": TIB}
_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar("neurodeploy_memory_limit", default=None)


def machine_memory() -> int:
    """Bytes of memory this process can have: physical memory, or the cgroup's limit if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def default_memory_limit() -> int:
    return int(machine_memory() * DEFAULT_FRACTION)


def active_memory_limit() -> int:
    """The limit in force: the innermost ``memory_limit`` block's, else the default."""
    limit = _LIMIT.get()
    return default_memory_limit() if limit is None else limit


@contextlib.contextmanager
def memory_limit(limit: int | None) -> Iterator[None]:
    """Everything inside checks against ``limit`` bytes (None: the default)."""
    token = _LIMIT.set(limit)
    try:
        yield
    finally:
        _LIMIT.reset(token)


def check_memory(nbytes: float, what: str, remedy: str) -> None:
    """Refuse ``what`` (about ``nbytes`` bytes: a float, or an exact int of any size) before it
    is allocated, if it exceeds the limit."""
    limit = active_memory_limit()
    if not nbytes <= limit:  # NaN or inf included
        raise ResourceLimitError(
            f"{what} needs about {format_bytes(nbytes)}, above the memory limit of {format_bytes(limit)}: "
            f"{remedy}, or raise the limit with --memory-limit"
        )


def format_bytes(nbytes: float) -> str:
    if isinstance(nbytes, int) and nbytes.bit_length() > 1000:
        return f"about 2^{nbytes.bit_length() - 1} B"
    if not math.isfinite(nbytes):
        return str(nbytes)
    for unit, size in (("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{int(nbytes)} B"


def parse_size(text: str) -> int:
    """``"8GiB"``, ``"500M"``, ``"2e9"`` (bytes) -> bytes; a UserError for anything else."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+]?[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
    if match is None:
        raise UserError(f"--memory-limit {text!r}: not a size (e.g. 8GiB, 500MiB, 2e9)")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not (math.isfinite(value) and value >= 1):
        raise UserError(f"--memory-limit {text!r}: must be at least 1 byte")
    return int(min(value, 2**63 - 1))
