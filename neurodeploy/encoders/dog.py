"""``dog``: a Difference-of-Gaussians filter bank followed by intensity-to-latency or rank-order
coding, the front end of Kheradpisheh et al. 2018 and Mozafari et al. 2018 (SpykeTorch).

Kernel (SpykeTorch ``DoGKernel``, ``utils.py:142-169``), on a ``window x window`` grid centred on 0:

    g_i(r) = exp(-r^2 / (2 sigma_i^2)) / sigma_i^2
    k = (g_1 - g_2) / (2 pi);   k = k - mean(k);   k = k / max(k);   cast to float32

``sigma_1 < sigma_2`` is on-centre; each scale also gets the off-centre kernel with the sigmas
swapped (normalised by its own max). Filter (SpykeTorch ``Filter``, ``utils.py:203-253``): kernels
zero-padded to the largest window, cross-correlated with the zero-padded image like ``conv2d``,
outputs ``< threshold`` set to 0, absolute value with ``use_abs``. Local normalisation (SpykeTorch
``functional.local_normalization``, ``functional.py:253-274``): each map divided by its mean over a
``(2 radius + 1)^2`` window, zero padded, plus 1e-12. Channels: [on, off] per scale. Then
``coding=latency`` (``intensity_latency``) or ``coding=rank`` (``rank_order``) over all channels and
pixels of a sample. Sums run in float64 (torch's conv2d in float32: responses within rounding of
the threshold, or of each other, may change order or bin).

Presets (pixels 0..255, as SpykeTorch's ``ToTensor() * 255``): ``kheradpisheh2018``
(``KheradpishehDeep.py:125-145``: DoG(7, 1, 2) and DoG(7, 2, 1), padding 3, threshold 50,
local_normalization(8), Intensity2Latency(15)); ``mozafari2018`` (``MozafariDeep.py:197-220``:
DoG(w, w/9, 2w/9) and the swap for w = 3, 7, 13, padding 6, threshold 50, local_normalization(8),
Intensity2Latency(15)). Images: ``(batch, H, W)`` or ``(batch, 1, H, W)``, one grey channel.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import DataEncoder, EncodeRequest
from .params import EncoderError, Param, checked, describe, number_text, samples_array, value_text
from .ranking import spike_steps, steps_to_spikes

CHUNK = 256  # samples filtered at a time (bounds the float working memory)

PARAMETERS = {
    "steps": Param("int", None, "number of time steps (15 in Kheradpisheh 2018 and Mozafari 2018)", low=1, optional=True),
    "preset": Param("choice", "none", "kheradpisheh2018 or mozafari2018 set the scales, padding, threshold, "
                    "local_norm and steps of those networks (pixels 0..255)",
                    choices=("none", "kheradpisheh2018", "mozafari2018")),
    "coding": Param("choice", "latency", "latency: SpykeTorch Intensity2Latency; rank: rank-order coding",
                    choices=("latency", "rank")),
    "windows": Param("ints", None, "kernel size of each scale (odd)", low=1, optional=True),
    "sigma_centre": Param("floats", None, "centre sigma of each scale (pixels)", low=0, low_open=True, optional=True),
    "sigma_surround": Param("floats", None, "surround sigma of each scale (pixels)", low=0, low_open=True, optional=True),
    "padding": Param("int", None, "zero padding of the image (default: half the largest window, same size out)",
                     low=0, optional=True),
    "threshold": Param("float", None, "filter outputs below it are set to 0 (in the input's units; default 0)",
                       low=0, optional=True),
    "use_abs": Param("bool", False, "absolute value of the filter outputs (after thresholding)"),
    "local_norm": Param("int", None, "radius of SpykeTorch's local normalisation (0: none)", low=0, optional=True),
    "cumulative": Param("bool", False, "true: spikes stay on after their first step (SpykeTorch's spike waves)"),
}

DOG_PRESETS: dict[str, dict[str, Any]] = {
    # KheradpishehDeep.py:142-145 in SpykeTorch: DoGKernel(7,1,2), DoGKernel(7,2,1), padding 3, threshold 50,
    # local_normalization(8), Intensity2Latency(15)
    "kheradpisheh2018": {"windows": (7,), "sigma_centre": (1.0,), "sigma_surround": (2.0,), "padding": 3,
                         "threshold": 50.0, "local_norm": 8, "steps": 15},
    # MozafariDeep.py:214-220: DoGKernel(w, w/9, 2w/9) and its off-centre twin for w = 3, 7, 13, padding 6, threshold 50
    "mozafari2018": {"windows": (3, 7, 13), "sigma_centre": (3 / 9, 7 / 9, 13 / 9),
                     "sigma_surround": (6 / 9, 14 / 9, 26 / 9), "padding": 6, "threshold": 50.0, "local_norm": 8,
                     "steps": 15},
}
DOG_DEFAULTS = {"windows": (7,), "sigma_centre": (1.0,), "sigma_surround": (2.0,), "padding": None, "threshold": 0.0,
                "local_norm": 0, "steps": None}


def dog_kernel(window: int, sigma1: float, sigma2: float) -> np.ndarray:
    """DoG kernel as SpykeTorch's ``DoGKernel(window, sigma1, sigma2)``: on a window x window grid
    centred on 0, (g1 - g2) / (2 pi) with g_i = exp(-r^2 / (2 sigma_i^2)) / sigma_i^2, minus its mean
    (zero sum), divided by its maximum (peak 1); float32. sigma1 < sigma2 is on-centre, the swap
    off-centre."""
    half = window // 2
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    r2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    g1 = np.exp(-0.5 * r2 / sigma1**2) / sigma1**2
    g2 = np.exp(-0.5 * r2 / sigma2**2) / sigma2**2
    kernel = (g1 - g2) / (2 * math.pi)
    kernel = kernel - kernel.mean()
    return (kernel / kernel.max()).astype(np.float32)


def _dog_settings(preset: str, **given: Any) -> dict[str, Any]:
    """Explicit values over the preset's over the defaults; scales checked for agreement."""
    settings = dict(DOG_DEFAULTS)
    settings.update(DOG_PRESETS.get(preset, {}))
    settings.update({key: value for key, value in given.items() if value is not None})
    windows, centre, surround = settings["windows"], settings["sigma_centre"], settings["sigma_surround"]
    if not len(windows) == len(centre) == len(surround):
        raise EncoderError(f"dog: windows={value_text(windows)}, sigma_centre={value_text(centre)} and sigma_surround={value_text(surround)} "
                           "must give one value per scale each")
    for window in windows:
        if window % 2 == 0:
            raise EncoderError(f"dog: windows={value_text(windows)} is out of range: each window must be odd")
    for c, s in zip(centre, surround):
        if not c < s:
            raise EncoderError(f"dog: sigma_centre={number_text(c)} with sigma_surround={number_text(s)}: the centre sigma must be smaller "
                               "(the off-centre kernel is made by swapping them)")
    if settings["padding"] is None:
        settings["padding"] = max(windows) // 2
    return settings


def dog_kernels(windows: Sequence[int], sigma_centre: Sequence[float], sigma_surround: Sequence[float]) -> np.ndarray:
    """The filter bank (2 * scales, k, k), k the largest window: per scale the on-centre then the
    off-centre kernel, smaller kernels zero-padded to k at their centre (SpykeTorch ``Filter``)."""
    size = max(windows)
    bank = np.zeros((2 * len(windows), size, size), np.float32)
    for i, (window, c, s) in enumerate(zip(windows, sigma_centre, sigma_surround)):
        pad = (size - window) // 2
        bank[2 * i, pad:pad + window, pad:pad + window] = dog_kernel(window, c, s)
        bank[2 * i + 1, pad:pad + window, pad:pad + window] = dog_kernel(window, s, c)
    return bank


def _correlate(images: np.ndarray, bank: np.ndarray, padding: int) -> np.ndarray:
    """(batch, H, W) cross-correlated with each kernel of (K, k, k) after zero padding, as torch's
    conv2d: (batch, K, H + 2 padding - k + 1, W + 2 padding - k + 1), summed in float64."""
    padded = np.pad(images.astype(np.float64), ((0, 0), (padding, padding), (padding, padding)))
    k = bank.shape[-1]
    height, width = padded.shape[1] - k + 1, padded.shape[2] - k + 1
    if height < 1 or width < 1:
        raise EncoderError(f"dog: images of {images.shape[1]}x{images.shape[2]} pixels are smaller than the {k}x{k} kernel "
                           f"with padding={padding}: raise padding")
    out = np.zeros((images.shape[0], bank.shape[0], height, width), np.float64)
    for dy in range(k):
        for dx in range(k):
            weights = bank[:, dy, dx].astype(np.float64)
            if np.any(weights):
                out += weights[None, :, None, None] * padded[:, None, dy:dy + height, dx:dx + width]
    return out


def _local_normalisation(maps: np.ndarray, radius: int, eps: float = 1e-12) -> np.ndarray:
    """SpykeTorch ``functional.local_normalization``: each map divided by its mean over a
    (2 radius + 1)^2 window (zero padded, so the divisor counts padding as zeros) plus eps."""
    from scipy.ndimage import uniform_filter

    size = 2 * radius + 1
    means = uniform_filter(maps, size=(1, 1, size, size), mode="constant", cval=0.0)
    return maps / (means + eps)


def _images(encoder: str, data: Any) -> np.ndarray:
    x = samples_array(encoder, data, min_ndim=3, dtype=np.float64, what="(batch, height, width) or (batch, 1, height, width)")
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3:
        raise EncoderError(f"dog: images must be (batch, height, width) or (batch, 1, height, width), got shape {list(x.shape)} "
                           "(the DoG filter takes one grey channel)")
    return x


def dog_filter(images: Any, *, preset: str = "none", windows: Sequence[int] | None = None,
               sigma_centre: Sequence[float] | None = None, sigma_surround: Sequence[float] | None = None,
               padding: int | None = None, threshold: float | None = None, use_abs: bool = False,
               local_norm: int | None = None) -> tuple[np.ndarray, dict]:
    """The DoG filter bank's output, float32 (batch, 2 * scales, H', W'): per scale the
    on-centre and off-centre maps (SpykeTorch ``Filter``: conv2d with zero ``padding``, outputs
    below ``threshold`` set to 0, then the absolute value with ``use_abs``), then SpykeTorch's local
    normalisation of radius ``local_norm`` (0: none). ``threshold`` is in the input's units (the
    presets' 50 assumes pixels 0..255, as SpykeTorch's ``ToTensor() * 255``)."""
    p = checked("dog", PARAMETERS, preset=preset, windows=windows, sigma_centre=sigma_centre, sigma_surround=sigma_surround,
                 padding=padding, threshold=threshold, use_abs=use_abs, local_norm=local_norm)
    s = _dog_settings(p["preset"], **{key: p[key] for key in ("windows", "sigma_centre", "sigma_surround", "padding",
                                                                 "threshold", "local_norm")})
    x = _images("dog", images)
    bank = dog_kernels(s["windows"], s["sigma_centre"], s["sigma_surround"])
    maps = _filter_maps(x, bank, s["padding"], s["threshold"], p["use_abs"], s["local_norm"]).astype(np.float32)
    params = dict(p, **{key: s[key] for key in ("windows", "sigma_centre", "sigma_surround", "padding", "threshold", "local_norm")})
    meaning = ("float DoG responses, channels [on, off] per scale"
               + f", below {s['threshold']:g} set to 0" + (", absolute" if p["use_abs"] else "")
               + (f", locally normalised (radius {s['local_norm']})" if s["local_norm"] else ""))
    # a filter output has no time axis: the description's steps/batch come from a (1, batch, ...) view
    description = describe("dog_filter", params, maps[None], meaning, "SpykeTorch utils.DoGKernel / utils.Filter")
    del description["steps"]
    return maps, description


def _filter_maps(x: np.ndarray, bank: np.ndarray, padding: int, threshold: float, use_abs: bool, local_norm: int) -> np.ndarray:
    maps = _correlate(x, bank, padding)
    maps[maps < threshold] = 0.0
    if use_abs:
        np.abs(maps, out=maps)
    if local_norm:
        maps = _local_normalisation(maps, local_norm)
    return maps


def dog(images: Any, steps: int | None = None, *, preset: str = "none", coding: str = "latency",
        windows: Sequence[int] | None = None, sigma_centre: Sequence[float] | None = None,
        sigma_surround: Sequence[float] | None = None, padding: int | None = None, threshold: float | None = None,
        use_abs: bool = False, local_norm: int | None = None, cumulative: bool = False) -> tuple[np.ndarray, dict]:
    """DoG filter bank (``dog_filter``) followed by intensity-to-latency coding (``coding=latency``,
    SpykeTorch's Intensity2Latency) or rank-order coding (``coding=rank``), over all channels and
    pixels of a sample together. ``images`` (batch, H, W) -> uint8 (steps, batch, 2 * scales, H', W');
    filtered CHUNK samples at a time."""
    p = checked("dog", PARAMETERS, steps=steps, preset=preset, coding=coding, windows=windows, sigma_centre=sigma_centre,
                 sigma_surround=sigma_surround, padding=padding, threshold=threshold, use_abs=use_abs,
                 local_norm=local_norm, cumulative=cumulative)
    s = _dog_settings(p["preset"], **{key: p[key] for key in ("windows", "sigma_centre", "sigma_surround", "padding",
                                                                 "threshold", "local_norm", "steps")})
    if s["steps"] is None:
        raise EncoderError(f"dog: steps is required: steps must be {PARAMETERS['steps'].allowed()} (or set a preset)")
    if p["coding"] == "rank" and p["cumulative"]:
        raise EncoderError("dog: cumulative=true is only for coding=latency (SpykeTorch's spike waves)")
    x = _images("dog", images)
    bank = dog_kernels(s["windows"], s["sigma_centre"], s["sigma_surround"])
    out = None
    for start in range(0, x.shape[0], CHUNK):
        maps = _filter_maps(x[start:start + CHUNK], bank, s["padding"], s["threshold"], p["use_abs"], s["local_norm"])
        maps = maps.astype(np.float32)
        if out is None:
            out = np.zeros((s["steps"], x.shape[0], *maps.shape[1:]), np.uint8)
        rule = "bins" if p["coding"] == "latency" else "rank"
        out[:, start:start + CHUNK] = steps_to_spikes(spike_steps(maps, s["steps"], rule), s["steps"], p["cumulative"])
    params = dict(p, **{key: s[key] for key in ("windows", "sigma_centre", "sigma_surround", "padding", "threshold",
                                                 "local_norm", "steps")})
    coding_text = ("SpykeTorch Intensity2Latency (equal-count bins, largest first)" if p["coding"] == "latency"
                   else "rank-order coding (largest first, floor(rank * steps / positives))")
    meaning = (f"uint8 spikes (steps, batch, channels, H, W), channels [on, off] per DoG scale {list(s['windows'])}; "
               f"{coding_text}" + ("; spikes stay on (cumulative)" if p["cumulative"] else "; one spike per input"))
    return out, describe("dog", params, out, meaning, "Kheradpisheh et al. 2018; SpykeTorch DoGKernel/Filter/Intensity2Latency")


class DoG(DataEncoder):
    name = "dog"
    summary = ("DoG filter bank + intensity-to-latency or rank-order coding (Kheradpisheh 2018, SpykeTorch; "
               "preset=kheradpisheh2018 or mozafari2018 for pixels 0..255)")
    parameters = PARAMETERS

    function = staticmethod(dog)

    def defaults(self, request: EncodeRequest) -> dict[str, Any]:
        """--steps gives the steps only where neither the spec nor its preset does."""
        params = dict(request.params)
        preset = DOG_PRESETS.get(params.get("preset", "none"), {})
        if params.get("steps") is None and "steps" not in preset and request.steps is not None:
            params["steps"] = request.steps
        return params


DOG = DoG()
