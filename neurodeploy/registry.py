"""Named entries of one kind (neuron models, targets, encoders), each imported when first used.

An entry is registered by one line, its name and where it lives::

    TARGETS = Registry("target", __package__, {
        "float": ".float_reference:FLOAT",
        ...
    })

A location is ``module:attribute``; a module starting with ``.`` is relative to the
registry's package. Nothing is imported until an entry is asked for, so a run imports only
the entries it uses (a run on the float target never imports Lava or torch), and listing
the names (``--help``) imports none. Each entry object carries a ``name`` equal to its key.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from .errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str, locations: Mapping[str, str]):
        self.kind = kind
        self.package = package
        self._locations = dict(locations)
        self._loaded: dict[str, T] = {}

    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order."""
        return tuple(self._locations)

    def __contains__(self, name: object) -> bool:
        return name in self._locations

    def __iter__(self) -> Iterator[T]:
        """Every entry, in registration order (imports them all)."""
        return (self.get(name) for name in self._locations)

    def get(self, name: str) -> T:
        """The entry called ``name``; a one-line UserError listing the choices for any other name."""
        if name not in self._locations:
            raise UserError(f"unknown {self.kind} {name!r}: choose one of {', '.join(self._locations)}")
        if name not in self._loaded:
            module_name, _, attribute = self._locations[name].partition(":")
            module = importlib.import_module(module_name, self.package if module_name.startswith(".") else None)
            entry = getattr(module, attribute)
            if getattr(entry, "name", None) != name:
                raise RuntimeError(f"{self.kind} registered as {name!r} at {self._locations[name]} calls itself {getattr(entry, 'name', None)!r}")
            self._loaded[name] = entry
        return self._loaded[name]
