"""Event files -> (x, y, t, p) structured arrays (tonic's ``events_struct``), by format or suffix:

| format | suffix | reader |
| nmnist | .bin | tonic ``io.read_mnist_file`` |
| aedat 2.0 | .aedat | tonic ``io.get_aer_events_from_file`` + DVS128 address decoding here |
| aedat 3.x | .aedat | packet reader here (polarity packets only) |
| aedat 4 | .aedat4 | tonic ``io.read_aedat4`` (needs the ``aedat`` package) |
| npy | .npy | ``np.load(allow_pickle=False)``, fields checked |
| dat, evt2, evt3 | .dat / .raw | expelliarmus ``Wizard`` (Prophesee formats) |

- N-MNIST / N-Caltech101 (Orchard et al. 2015): 5 bytes per event, big-endian: x, y, polarity
  (bit 7 of byte 2) and a 23-bit timestamp in us; tonic's reader treats y = 240 as a
  timestamp-overflow marker (from Orchard's ``eventvision.py``). Sensor 34x34x2.
- AEDAT 2.0 (jAER): ``#`` header lines, then big-endian int32 address and int32 timestamp (us).
  DVS128 address (iniVation's AEDAT 1.0/2.0 pages): bit 0 polarity (1 = ON), bits 1-7 x,
  bits 8-14 y, bit 15 external event (dropped). tonic's own ``read_dvs_128`` is not used: it
  unpacks three return values into two (tonic issue #302) and swaps x and y against iniVation's
  table. jAER displays x mirrored (127 - x); the raw bit field is returned here.
- AEDAT 3.1 (cAER): header ending ``#!END-HEADER``, then little-endian packets of a 28-byte
  header (libcaer ``common.h``) and ``eventCapacity * eventSize`` bytes; only polarity packets
  (type 1) are read, others skipped by their size (tonic's reader reads every packet as polarity
  events). Polarity event (libcaer ``polarity.h``): uint32 data (bit 0 valid, bit 1 polarity,
  bits 2-16 y, bits 17-31 x), int32 timestamp; t = timestamp + (eventTSOverflow << 31); invalid
  events dropped.

Errors are one line (``InputDataError``) naming the file and what is wrong.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..encoders.events import event_streams
from ..errors import InputDataError

NMNIST_SENSOR = (34, 34, 2)
DVS128_SENSOR = (128, 128, 2)
AEDAT3_POLARITY_EVENT = 1  # libcaer POLARITY_EVENT type id


def _event_array(x, y, t, p) -> np.ndarray:
    from tonic.io import events_struct

    out = np.empty(len(t), dtype=events_struct)
    out["x"], out["y"], out["t"], out["p"] = x, y, t, p
    return out


def read_nmnist(path: str | Path) -> np.ndarray:
    """An N-MNIST / N-Caltech101 binary file (5 bytes per event: x, y, polarity bit 7 and a
    23-bit microsecond timestamp; Orchard et al. 2015), read by tonic's ``read_mnist_file``."""
    from tonic.io import events_struct, read_mnist_file

    path = _existing(path)
    if path.stat().st_size % 5:
        raise InputDataError(f"{path}: {path.stat().st_size} bytes is not a whole number of 5-byte N-MNIST events")
    return read_mnist_file(str(path), dtype=events_struct)


def _aedat_header(path: Path) -> tuple[float, int, list[str]]:
    """(version, offset of the data, header lines) of an AEDAT 2/3 file (header lines start with '#')."""
    lines, offset, version = [], 0, None
    with open(path, "rb") as f:
        while True:
            line = f.readline()
            if not line.startswith(b"#"):
                break
            offset += len(line)
            text = line.decode("latin-1").rstrip("\r\n")
            lines.append(text)
            if text.startswith("#!AER-DAT"):
                try:
                    version = float(text[len("#!AER-DAT"):])
                except ValueError:
                    raise InputDataError(f"{path}: unreadable AEDAT version line {text!r}") from None
            if text.startswith("#!END-HEADER"):
                break
    return (1.0 if version is None else version), offset, lines


def read_aedat(path: str | Path) -> np.ndarray:
    """Polarity events of an AEDAT file from iniVation's jAER / cAER / DV:
    2.0 (DVS128 address: x bits 7-1, y bits 14-8, polarity bit 0, bit 15 external events dropped;
    big-endian address and timestamp, read with tonic's ``get_aer_events_from_file``);
    3.1 (little-endian packets; only polarity packets, type 1, are read: x bits 31-17, y bits 16-2,
    polarity bit 1, valid bit 0, timestamp + (overflow << 31));
    4.x through tonic's ``read_aedat4`` (needs the ``aedat`` package)."""
    path = _existing(path)
    version, offset, _ = _aedat_header(path)
    if version >= 4:
        try:
            from tonic.io import read_aedat4

            return read_aedat4(str(path))
        except ModuleNotFoundError:
            raise InputDataError(f"{path}: AEDAT {version:g} files need the 'aedat' package (pip install aedat)") from None
    if 2 <= version < 3:
        from tonic.io import get_aer_events_from_file

        raw = get_aer_events_from_file(str(path), version, offset)
        address = raw["address"].astype(np.int64)
        keep = (address >> 15) & 1 == 0
        address = address[keep]
        return _event_array((address >> 1) & 0x7F, (address >> 8) & 0x7F, raw["timeStamp"][keep].astype(np.int64),
                            address & 1)
    if 3 <= version < 4:
        return _read_aedat3(path, offset)
    raise InputDataError(f"{path}: AEDAT version {version:g} is not supported (2.0, 3.1 and 4 are)")


def _read_aedat3(path: Path, offset: int) -> np.ndarray:
    header = struct.Struct("<hhiiiiii")  # eventType, eventSource, eventSize, eventTSOffset, eventTSOverflow, capacity, number, valid
    parts = []
    with open(path, "rb") as f:
        f.seek(offset)
        while True:
            head = f.read(header.size)
            if not head:
                break
            if len(head) < header.size:
                raise InputDataError(f"{path}: truncated AEDAT 3 packet header")
            kind, _, size, _, overflow, capacity, number, _ = header.unpack(head)
            if size < 8 or capacity < 0 or number < 0 or number > capacity:
                raise InputDataError(f"{path}: malformed AEDAT 3 packet (eventSize {size}, capacity {capacity}, number {number})")
            body = f.read(size * capacity)
            if len(body) < size * capacity:
                raise InputDataError(f"{path}: truncated AEDAT 3 packet")
            if kind != AEDAT3_POLARITY_EVENT:
                continue
            words = np.frombuffer(body, dtype="<u4").reshape(capacity, size // 4)[:number]
            data, stamp = words[:, 0].astype(np.int64), words[:, 1].astype(np.int32).astype(np.int64)
            valid = (data & 1) == 1
            parts.append(((data >> 17) & 0x7FFF, (data >> 2) & 0x7FFF, stamp + (int(overflow) << 31), (data >> 1) & 1, valid))
    if not parts:
        return _event_array([], [], [], [])
    x, y, t, p, valid = (np.concatenate(column) for column in zip(*parts))
    return _event_array(x[valid], y[valid], t[valid], p[valid])


def read_npy_events(path: str | Path) -> np.ndarray:
    """A .npy structured array with integer fields x, y, t, p (tonic's layout)."""
    path = _existing(path)
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise InputDataError(f"{path}: not a .npy array ({type(exc).__name__}: {exc})") from None
    event_streams([array])
    return array


def read_events(path: str | Path, format: str | None = None) -> np.ndarray:
    """Events of one file, by ``format`` or the file's suffix: nmnist (.bin), aedat (.aedat,
    .aedat4), npy (.npy), and Prophesee dat / evt2 / evt3 through expelliarmus."""
    path = Path(path)
    suffix = path.suffix.lower()
    kind = format or {".bin": "nmnist", ".aedat": "aedat", ".aedat4": "aedat", ".npy": "npy", ".dat": "dat"}.get(suffix)
    if kind == "nmnist":
        return read_nmnist(path)
    if kind == "aedat":
        return read_aedat(path)
    if kind == "npy":
        return read_npy_events(path)
    if kind in ("dat", "evt2", "evt3"):
        from expelliarmus import Wizard

        raw = Wizard(encoding=kind, fpath=str(_existing(path))).read()
        return _event_array(raw["x"], raw["y"], raw["t"], raw["p"])
    raise InputDataError(f"{path}: unknown event file format {format or suffix!r}: use nmnist (.bin), aedat (.aedat), npy, "
                       "dat, evt2 or evt3")


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: no such file")
    return path


EVENT_SUFFIXES = (".bin", ".aedat", ".aedat4", ".npy", ".dat")


def write_nmnist(path: str | Path, events: np.ndarray) -> None:
    """Write events in the N-MNIST binary layout (5 bytes per event, big-endian: x, y, polarity
    bit, 23-bit timestamp in us); x and y must fit a byte (y = 240 is tonic's overflow marker) and
    t 23 bits."""
    stream = event_streams([events])[0]
    t = stream["t"].astype(np.int64)
    if len(stream) and (int(stream["x"].max()) > 255 or int(stream["y"].max()) >= 240 or t.min() < 0 or t.max() >= 2**23):
        raise InputDataError(f"{path}: N-MNIST files hold x < 256, y < 240 and 0 <= t < 2**23 us")
    raw = np.empty((len(stream), 5), np.uint8)
    raw[:, 0] = stream["x"]
    raw[:, 1] = stream["y"]
    raw[:, 2] = (stream["p"].astype(np.int64) << 7) | (t >> 16)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    Path(path).write_bytes(raw.tobytes())
