"""Errors a user can cause and fix. The CLI prints them on one line and exits with status 2.

Anything else that escapes is a bug in neurodeploy and keeps its traceback.
"""
from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input (file, model, option, profile): never a traceback."""

    exit_status = 2


class ModelLoadError(UserError):
    """The model file is missing, unreadable or not in a supported format."""


class UnsupportedModelError(UserError):
    """The model uses a node, module or feature neurodeploy cannot deploy."""


class InvalidValueError(UserError):
    """A parameter value (NaN, out of range, inconsistent shape) cannot be deployed."""


class ProfileError(UserError):
    """A hardware profile is missing, malformed or has unknown keys / impossible values."""


class DoesNotFitError(UserError):
    """The network needs more of a hardware resource than the profile provides."""


class InputDataError(UserError):
    """The --input array has the wrong shape or values."""


class BackendUnavailableError(UserError):
    """The requested target cannot run this network with this profile."""



class ResourceLimitError(UserError):
    """The run would need more memory than the limit allows (--memory-limit)."""


class Interrupted(BaseException):
    """The run was stopped by a signal (Ctrl-C, SIGTERM). A BaseException, like KeyboardInterrupt,
    so that no ``except Exception`` swallows it; the CLI exits with 128 + the signal number."""

    def __init__(self, signal_number: int):
        super().__init__(f"signal {signal_number}")
        self.signal_number = signal_number

    @property
    def exit_status(self) -> int:
        return 128 + self.signal_number


class PickleWarning(UserWarning):
    """A model file is about to be unpickled, which can run any code it carries (--trust-pickle)."""
