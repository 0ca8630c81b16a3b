"""Lava's OS processes: none outlives a run, whatever ends it.

Lava's runtime forks (multiprocessing's ``fork`` start method,
``lava/magma/runtime/message_infrastructure/multiprocessing.py``) one OS process per Lava
process and per runtime service, and starts a shared-memory manager (multiprocessing's
``SharedMemoryManager``, itself a forked process) that creates the ``/dev/shm`` segments
its channels use. ``contained`` wraps a run so that:

- every process forked while it is active ignores SIGINT and SIGTERM (Ctrl-C reaches the
  whole process group; only the parent acts on it) and is killed by the kernel when the
  parent dies, however it dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``, Linux);
- on success, Lava's own ``stop`` runs (the services stop, the manager unlinks its segments);
- on any exception or interrupt (Ctrl-C, SIGTERM raised as ``Interrupted``), nothing waits
  on Lava's channels (a service that died or is mid-step never answers, which is how
  Lava's ``stop`` hangs): the actors are killed and reaped, the manager is shut down (it
  unlinks every segment it made), any other child of the run is killed, and the runtime is
  marked stopped so that Lava's ``__del__`` methods do not try again. Signals are held back
  meanwhile (``interrupts.deferred``), so a second Ctrl-C cannot cut the cleanup short.

This reaches into Lava 0.10.0's runtime (``Runtime._messaging_infrastructure``, its actors
and ``SharedMemoryManager._manager``): the version is pinned.
"""
from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..interrupts import deferred

PR_SET_PDEATHSIG = 1  # linux/prctl.h
JOIN_TIMEOUT_S = 5.0


@dataclass
class _Forking:
    """While a run is being contained: the pid whose children get the treatment above."""

    parent: int | None = None


_FORKING = _Forking()
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _after_fork_in_child() -> None:
    parent = _FORKING.parent
    if parent is None:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above: nothing would end this process
            os._exit(1)
    _FORKING.parent = os.getpid()  # for anything this process forks in turn


os.register_at_fork(after_in_child=_after_fork_in_child)


@dataclass
class LavaRun:
    """What ``contained`` tears down: the process whose ``run`` started Lava's runtime."""

    anchor: Any = None


@contextlib.contextmanager
def contained() -> Iterator[LavaRun]:
    """Run Lava inside; set ``.anchor`` to the process that is run. See the module docstring."""
    before = set(multiprocessing.active_children())
    run = LavaRun()
    _FORKING.parent = os.getpid()
    try:
        try:
            yield run
        finally:
            _FORKING.parent = None
        if _runtime_of(run.anchor) is not None:
            run.anchor.stop()
    except BaseException:
        with deferred():
            _tear_down(_runtime_of(run.anchor))
            _kill(set(multiprocessing.active_children()) - before)
        raise
    _kill(set(multiprocessing.active_children()) - before)


def _runtime_of(anchor) -> Any:
    return getattr(anchor, "_runtime", None) if anchor is not None else None


def _tear_down(runtime) -> None:
    """Stop Lava's processes without a word to them, unlink its shared memory, and leave the
    runtime in a state its own ``stop`` and ``__del__`` treat as stopped."""
    if runtime is None:
        return
    infrastructure = getattr(runtime, "_messaging_infrastructure", None)
    actors = list(getattr(infrastructure, "actors", None) or [])
    _kill(actors)
    manager = getattr(infrastructure, "smm", None)
    if manager is not None and getattr(manager, "_manager", None) is not None:
        for handle in getattr(manager, "_shared_memory_handles", []):
            with contextlib.suppress(BufferError, OSError):  # still viewed by a port's thread: unlinking is what counts
                handle.close()
        manager._manager.shutdown()  # the manager process unlinks every segment it created
        manager._manager = None
    if infrastructure is not None:
        infrastructure.actors.clear()
    runtime._is_started = runtime._is_running = False


def _kill(processes) -> None:
    """SIGKILL (they ignore SIGTERM) and reap each multiprocessing child, waiting a bounded time."""
    for process in processes:
        with contextlib.suppress(ValueError, AssertionError, OSError):  # closed or never started
            if process.is_alive():
                process.kill()
    for process in processes:
        with contextlib.suppress(ValueError, AssertionError, OSError):
            multiprocessing.Process.join(process, JOIN_TIMEOUT_S)
