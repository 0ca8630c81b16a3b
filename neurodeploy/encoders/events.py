"""``events``: event streams (x, y, t, p) binned into frames by tonic's ``ToFrame``, the
transform event-camera users know.

Input: one structured array with integer fields ``x, y, t, p`` or a list of them, one per sample
(tonic's ``tonic.io.events_struct``: x, y int16, t int64 in us, p bool); files are read by
``data/event_files.py``. Exactly one of ``time_window`` (tonic ``SliceByTime``), ``n_time_bins``
(``SliceByTimeBins``), ``event_count`` (``SliceByEventCount``), ``n_event_bins``
(``SliceByEventBins``), plus ``overlap``, ``include_incomplete``, ``sensor_size``
(width/height/polarities), ``mode`` (binary: uint8 1 where a pixel had at least one event;
count: float32 counts), ``polarity`` (split: one channel per polarity; merge: one channel) and
``steps`` (cut or zero-pad every sample to this many frames; default the most frames of any
sample). Output ``(steps, batch, P, height, width)``: tonic's ``(T, P, H, W)`` per sample.

Handled around tonic 1.7.0: events are copied first (``to_frame.py:63-68`` overwrites ``p`` in
place for a single-polarity sensor); an empty stream gives zero frames in (P, H, W) order
(tonic's empty branch returns (P, W, H) float64); coordinates outside the sensor, negative ones,
unsorted timestamps (tonic slices with ``searchsorted``) and both polarities on a 1-polarity
sensor are one-line errors. tonic's conventions are kept as they are: windows are half-open and
the last ends at the last event's timestamp (events there count only with
``include_incomplete``); ``n_time_bins`` floor-divides the duration; ``n_event_bins`` drops
``n % n_event_bins`` events.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..limits import check_memory
from .base import DataEncoder
from .params import EncoderError, Param, checked, describe, value_text

PARAMETERS = {
    "sensor_size": Param("ints", None, "sensor width/height/polarities, e.g. 34/34/2 (default: from the events)",
                         low=1, optional=True),
    "time_window": Param("float", None, "frames of this duration (timestamp units, us)", low=0, low_open=True,
                         optional=True),
    "n_time_bins": Param("int", None, "this many frames of equal duration", low=1, optional=True),
    "event_count": Param("int", None, "frames of this many events", low=1, optional=True),
    "n_event_bins": Param("int", None, "this many frames of equal event count", low=1, optional=True),
    "overlap": Param("float", 0.0, "overlap of frames (tonic's ToFrame: time, events or fraction of a bin)", low=0),
    "include_incomplete": Param("bool", False, "keep the last, shorter frame (time_window / event_count)"),
    "mode": Param("choice", "binary", "binary: uint8 1 where a pixel had an event; count: float event counts",
                  choices=("binary", "count")),
    "polarity": Param("choice", "split", "split: one channel per polarity; merge: one channel",
                      choices=("split", "merge")),
    "steps": Param("int", None, "cut or zero-pad to this many frames (default: the most frames of any sample)",
                   low=1, optional=True),
}

EVENT_FIELDS = ("x", "y", "t", "p")


def event_streams(streams: Any) -> list[np.ndarray]:
    if isinstance(streams, np.ndarray) and streams.dtype.names is not None:
        streams = [streams]
    try:
        streams = list(streams)
    except TypeError:
        raise EncoderError("events: give a structured array with fields x, y, t, p or a list of them, one per sample") from None
    if not streams:
        raise EncoderError("events: no samples given")
    for i, stream in enumerate(streams):
        names = getattr(getattr(stream, "dtype", None), "names", None) or ()
        missing = [name for name in EVENT_FIELDS if name not in names]
        if missing:
            raise EncoderError(f"events: sample {i} lacks field(s) {', '.join(missing)}: events are structured arrays "
                               "with fields x, y, t, p (tonic's dtype)")
        for name in EVENT_FIELDS:
            if stream.dtype[name].kind not in "biu":
                raise EncoderError(f"events: sample {i}: field {name} must be integers or booleans, got {stream.dtype[name]}")
        if len(stream) > 1 and np.any(np.diff(stream["t"]) < 0):
            raise EncoderError(f"events: sample {i}: timestamps must be non-decreasing (tonic slices with searchsorted): "
                               "sort the events by t")
    return streams


def _sensor_size(streams: list[np.ndarray], given: tuple[int, ...] | None) -> tuple[int, int, int]:
    if given is not None:
        if len(given) != 3:
            raise EncoderError(f"events: sensor_size={value_text(given)} is not allowed: give width/height/polarities, e.g. 34/34/2")
        size = tuple(int(n) for n in given)
    else:
        nonempty = [s for s in streams if len(s)]
        if not nonempty:
            raise EncoderError("events: every sample is empty: give sensor_size")
        size = (max(int(s["x"].max()) for s in nonempty) + 1, max(int(s["y"].max()) for s in nonempty) + 1,
                max(2, max(int(s["p"].max()) for s in nonempty) + 1))
    for i, stream in enumerate(streams):
        if not len(stream):
            continue
        for name, limit in (("x", size[0]), ("y", size[1])):
            low, high = int(stream[name].min()), int(stream[name].max())
            if low < 0 or high >= limit:
                raise EncoderError(f"events: sample {i}: {name} spans {low}..{high}, outside the sensor's 0..{limit - 1} "
                                   f"(sensor_size={'/'.join(map(str, size))})")
        polarities = np.unique(stream["p"].astype(np.int64))
        if size[2] == 1 and polarities.size > 1:
            raise EncoderError(f"events: sample {i} has polarities {polarities.tolist()} but sensor_size gives 1: "
                               "use 2 polarities and polarity=merge")
        if size[2] > 1 and (polarities.min() < 0 or polarities.max() >= size[2]):
            raise EncoderError(f"events: sample {i}: p takes values {polarities.tolist()}, outside 0..{size[2] - 1}")
    return size  # type: ignore[return-value]


def _frame_count(stream: np.ndarray, method: dict[str, Any], overlap: float, include_incomplete: bool) -> int:
    """How many frames tonic's ToFrame makes of ``stream`` (from its slicers' metadata)."""
    from tonic import slicers

    if method.get("n_time_bins") is not None:
        return method["n_time_bins"]
    if method.get("n_event_bins") is not None:
        return method["n_event_bins"]
    if not len(stream):
        return 1
    if method.get("time_window") is not None:
        slicer = slicers.SliceByTime(time_window=method["time_window"], overlap=overlap, include_incomplete=include_incomplete)
    else:
        slicer = slicers.SliceByEventCount(event_count=method["event_count"], overlap=int(overlap),
                                           include_incomplete=include_incomplete)
    return len(slicer.get_slice_metadata(stream, None))


def events(streams: Any, *, sensor_size: Sequence[int] | None = None, time_window: float | None = None,
           n_time_bins: int | None = None, event_count: int | None = None, n_event_bins: int | None = None,
           overlap: float = 0.0, include_incomplete: bool = False, mode: str = "binary", polarity: str = "split",
           steps: int | None = None) -> tuple[np.ndarray, dict]:
    """Event streams binned into frames by tonic's ``ToFrame`` (exactly one of time_window,
    n_time_bins, event_count, n_event_bins). ``streams``: one structured array with fields x, y,
    t, p, or a list of them (one per sample); ``sensor_size`` (width, height, polarities) as tonic.
    -> (steps, batch, P, height, width): uint8 1 where a pixel had an event in the frame
    (``mode=binary``), or float32 counts (``mode=count``); P = polarities (``split``) or 1
    (``merge``). Samples with fewer frames are zero-padded at the end up to ``steps`` (default:
    the most frames of any sample); longer ones are cut."""
    p = checked("events", PARAMETERS, sensor_size=sensor_size, time_window=time_window, n_time_bins=n_time_bins,
                 event_count=event_count, n_event_bins=n_event_bins, overlap=overlap,
                 include_incomplete=include_incomplete, mode=mode, polarity=polarity, steps=steps)
    methods = {key: p[key] for key in ("time_window", "n_time_bins", "event_count", "n_event_bins") if p[key] is not None}
    if len(methods) != 1:
        raise EncoderError("events: give exactly one of time_window, n_time_bins, event_count, n_event_bins"
                           + (f" (got {', '.join(methods)})" if methods else ""))
    if (p["n_time_bins"] is not None or p["n_event_bins"] is not None) and p["overlap"] >= 1:
        raise EncoderError(f"events: overlap={p['overlap']:g} is out of range: with n_time_bins or n_event_bins it is a "
                           "fraction of a bin in [0, 1)")
    from tonic.transforms import ToFrame

    data = event_streams(streams)
    size = _sensor_size(data, p["sensor_size"])
    transform = ToFrame(sensor_size=size, overlap=p["overlap"], include_incomplete=p["include_incomplete"], **methods)
    channels = 1 if p["polarity"] == "merge" else size[2]
    dtype = np.uint8 if p["mode"] == "binary" else np.float32
    frame_bytes = float(channels) * size[0] * size[1] * 8  # tonic's frames are int64 before they are copied in
    if p["time_window"] is not None:  # the frames a window makes of the longest stream, before tonic allocates them
        longest = max((float(s["t"].max()) - float(s["t"].min()) for s in data if len(s)), default=0.0)
        frames = longest / max(p["time_window"] - p["overlap"], 1e-300) + 1
        check_memory(frames * frame_bytes, f"events: time_window={p['time_window']:g} makes about {frames:.3g} frames of a sample",
                     "choose a longer time_window or n_time_bins")
    counts = [_frame_count(stream, methods, p["overlap"], p["include_incomplete"]) for stream in data]
    total = p["steps"] if p["steps"] is not None else max(counts)
    check_memory(float(max(total, max(counts))) * frame_bytes + float(total) * len(data) * frame_bytes / 8 * np.dtype(dtype).itemsize,
                 f"events: {total} frames of {len(data)} sample(s) on a {size[0]}x{size[1]}x{channels} sensor",
                 "lower steps or n_time_bins, or give fewer samples (--batch)")
    out = np.zeros((total, len(data), channels, size[1], size[0]), dtype)
    for b, stream in enumerate(data):
        if not len(stream):
            continue  # tonic returns (frames, P, W, H) zeros for an empty stream; zeros here are the same frames
        frames = transform(stream.copy())  # ToFrame rewrites p in place for a single-polarity sensor
        if p["polarity"] == "merge":
            frames = frames.sum(axis=1, keepdims=True)
        n = min(total, frames.shape[0])
        out[:n, b] = (frames[:n] > 0) if p["mode"] == "binary" else frames[:n]
    params = dict(p, sensor_size=size)
    method_text = ", ".join(f"{key}={value:g}" for key, value in methods.items())
    meaning = (("uint8 1 where a pixel had at least one event" if p["mode"] == "binary" else "float event counts")
               + f" per frame ({method_text}, tonic ToFrame), channels "
               + ("= polarities" if p["polarity"] == "split" else "= all polarities merged") + ", (height, width) last")
    return out, describe("events", params, out, meaning, "tonic.transforms.ToFrame",
                          frames_per_sample=counts, padded_samples=sum(c < total for c in counts),
                          cut_samples=sum(c > total for c in counts))


class Events(DataEncoder):
    name = "events"
    summary = ("(x, y, t, p) event streams binned into frames (tonic ToFrame): one of time_window, n_time_bins, "
               "event_count, n_event_bins; sensor_size=W/H/P")
    parameters = PARAMETERS

    function = staticmethod(events)


EVENTS = Events()
