"""Ctrl-C and SIGTERM: where they are raised, and the few places that must finish first.

``interruptible()`` (the CLI) turns SIGTERM into ``Interrupted`` and keeps Ctrl-C a
``KeyboardInterrupt``, both raised where the program is, so every ``finally`` runs (Lava's
processes are stopped, temporary files removed). ``deferred()`` holds both back while a short
piece of work that must not be cut in half runs (committing a report, tearing down Lava's
processes) and raises the first of them at its end.

Signals are handled in the main thread only; in any other thread both do nothing.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

from .errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_interrupted(signal_number, _frame):
    raise Interrupted(signal_number)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Inside: Ctrl-C raises KeyboardInterrupt, SIGTERM raises Interrupted; the previous
    handlers come back after."""
    if not _in_main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


class _Recorder:
    """A signal handler that only notes the signal (while ``deferred`` holds it back)."""

    def __init__(self):
        self.caught: list[tuple[int, object]] = []

    def __call__(self, signal_number, frame):
        self.caught.append((signal_number, frame))


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Run the block to its end whatever signal arrives; then act on the first one as the
    handler before would have (raise, terminate, or nothing if it was ignored)."""
    if not _in_main_thread() or any(isinstance(signal.getsignal(sig), _Recorder) for sig in SIGNALS):
        yield  # another thread, or already inside a deferred block
        return
    recorder = _Recorder()
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig in SIGNALS:
        signal.signal(sig, recorder)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if recorder.caught:
            signal_number, frame = recorder.caught[0]
            handler = previous[signal_number]
            if callable(handler):
                handler(signal_number, frame)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), signal_number)
