"""``delta``: delta modulation with on/off channels, as snnTorch's ``spikegen.delta``:

    d[t] = x[t] - x[t-1],  x[-1] = 0 (padding=false) or x[0] (padding=true)
    on[t] = d[t] >= threshold;   off[t] = d[t] <= -threshold   (off_spike=true)

Data: a time series per sample, ``(batch, steps, *shape)`` (time_axis=1) or time-major
``(steps, batch, *shape)`` (time_axis=0, snnTorch's layout). Output: on spikes, uint8
``(steps, batch, *shape)``; with ``off_spike``, ``output=channels`` gives uint8
``(steps, batch, 2, *shape)`` (channel 0 on, 1 off) and ``output=signed`` snnTorch's float
+1/-1 ``(steps, batch, *shape)`` (graded input). snnTorch 1.0.0 ``spikegen.py:380-397``; computed
in float32, one step at a time. threshold must be > 0 here (at 0 every unchanged input would
fire).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .base import DataEncoder
from .params import Param, checked, describe, samples_array

PARAMETERS = {
    "threshold": Param("float", 0.1, "a change of at least threshold between consecutive steps spikes", low=0, low_open=True),
    "padding": Param("bool", False, "true: the first step is compared with itself; false: with zeros"),
    "off_spike": Param("bool", False, "also signal decreases of at least threshold (off channel)"),
    "output": Param("choice", "channels", "channels: uint8 on/off channels; signed: float +1/-1 as snnTorch",
                    choices=("channels", "signed")),
    "time_axis": Param("int", 1, "axis of the data that is time (1: (batch, steps, ...); 0: (steps, batch, ...))", low=0, high=1),
}


def delta(data: Any, *, threshold: float = 0.1, padding: bool = False, off_spike: bool = False,
          output: str = "channels", time_axis: int = 1) -> tuple[np.ndarray, dict]:
    """Delta modulation as snnTorch's ``spikegen.delta``: an on spike where x[t] - x[t-1] >=
    threshold, an off spike where it is <= -threshold (with ``off_spike``); x[-1] is 0, or x[0]
    with ``padding``. ``data`` is (batch, steps, *shape) (``time_axis=1``) or (steps, batch,
    *shape) (``time_axis=0``). Output: uint8 (steps, batch, *shape) on spikes; with off_spike,
    uint8 (steps, batch, 2, *shape) with channel 0 on and 1 off (``output=channels``), or float32
    (steps, batch, *shape) holding +1 / -1 as snnTorch returns it (``output=signed``)."""
    p = checked("delta", PARAMETERS, threshold=threshold, padding=padding, off_spike=off_spike, output=output, time_axis=time_axis)
    what = "(batch, steps, *shape)" if p["time_axis"] == 1 else "(steps, batch, *shape)"
    x = samples_array("delta", data, min_ndim=2, what=what)
    if p["time_axis"] == 1:
        x = np.swapaxes(x, 0, 1)  # a view: (steps, batch, *shape)
    steps = x.shape[0]
    on_threshold, off_threshold = np.float32(p["threshold"]), -np.float32(p["threshold"])
    signed = p["off_spike"] and p["output"] == "signed"
    if signed:
        out = np.zeros(x.shape, np.float32)
    elif p["off_spike"]:
        out = np.zeros((steps, x.shape[1], 2, *x.shape[2:]), np.uint8)
    else:
        out = np.zeros(x.shape, np.uint8)
    previous = x[0] if p["padding"] else np.zeros_like(x[0])
    for t in range(steps):
        change = x[t] - previous
        if signed:
            out[t] = (change >= on_threshold).astype(np.float32) - (change <= off_threshold)
        elif p["off_spike"]:
            out[t, :, 0] = change >= on_threshold
            out[t, :, 1] = change <= off_threshold
        else:
            out[t] = change >= on_threshold
        previous = x[t]
    start = "x[0]" if p["padding"] else "0"
    if signed:
        meaning = f"float +1 where x[t] - x[t-1] >= {p['threshold']:g}, -1 where <= -{p['threshold']:g} (x[-1] = {start})"
    elif p["off_spike"]:
        meaning = (f"uint8 spikes on 2 channels after the batch axis: 0 on (x[t] - x[t-1] >= {p['threshold']:g}), "
                   f"1 off (<= -{p['threshold']:g}); x[-1] = {start}")
    else:
        meaning = f"uint8 spikes where x[t] - x[t-1] >= {p['threshold']:g} (x[-1] = {start})"
    return out, describe("delta", p, out, meaning, "snntorch.spikegen.delta")


class Delta(DataEncoder):
    name = "delta"
    summary = "delta modulation of time series (batch, steps, *shape) with on/off channels (snnTorch spikegen.delta)"
    parameters = PARAMETERS

    function = staticmethod(delta)

    def samples_axis(self, params: Mapping[str, Any]) -> int:
        return 1 if params.get("time_axis", 1) == 0 else 0


DELTA = Delta()
