"""Labelled data: what ``--data`` (and the API's ``data=``, ``labels=``) names, as samples and
their classes (``LabelledData``), with an explicit layout:

    samples        (samples, *shape): raw values, one per sample, for an encoder (--encode);
                   event data: a list of (x, y, t, p) streams
    steps-first    (steps, samples, *shape): encoded already, time first (the chip's layout)
    samples-first  (samples, steps, *shape): encoded already, samples first

Sources (``load_data``): a ``.npz`` with ``x`` and optional ``y``, a ``.npy`` (``x`` alone), a
folder of event files with one subfolder per class (``root/<class>/*.bin``), one event file, or
a built-in set that ships offline (``builtin.py``: ``digits``, ``digits28``, ``mnist1d``).
Where a shape can be read two ways the load stops with one line saying which ``--layout`` to give.
"""
from __future__ import annotations

from typing import Any

from .labelled import ENCODED_LAYOUTS, LAYOUTS, LabelledData, class_indices, from_arrays, with_labels, with_layout


def load_data(spec: str, layout: str | None = None, labels: Any = None) -> LabelledData:
    """``--data``: a built-in set (``NAME[:key=value,...]``), a .npz / .npy file, an event file or
    a folder of event files; ``layout`` as in ``LAYOUTS`` (None: ``samples``); ``labels``
    (a .npy file or an array) give or replace the classes."""
    from .builtin import BUILTIN, load_builtin
    from .files import load_file

    name = str(spec).partition(":")[0]
    data = load_builtin(str(spec)) if name in BUILTIN else load_file(spec)
    if layout is not None:
        data = with_layout(data, layout)
    return with_labels(data, labels) if labels is not None else data


__all__ = ["ENCODED_LAYOUTS", "LAYOUTS", "LabelledData", "class_indices", "from_arrays", "load_data", "with_labels", "with_layout"]
