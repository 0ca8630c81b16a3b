"""``latency``: time-to-first-spike coding as snnTorch's ``spikegen.latency``. One spike per
input, at step ``round(t)`` (round half to even, as ``torch.round``):

    log code (default):  t = tau * ln(xc / (xc - threshold)) [+ first_spike_time],  xc = max(x, threshold + epsilon)
    linear code:         t = min(tau * (1 - x), tau * (1 - threshold)) + first_spike_time
    normalize, log:      t = (t - fst) * (steps - fst - 1) / max(t - fst) + fst        (max over the whole batch)
    normalize, linear:   tau = steps - 1 - first_spike_time
    clip:                inputs with x < threshold do not spike

snnTorch 1.0.0 ``spikegen.py``: data in [0, 1] (:244), threshold (:250, then (0, 1) exclusive and
tau > 0, :679, :683); ``latency_code`` marks x < threshold (:504); linear code :580-585; the log
code clamps (:654-656), takes the log (:658), adds first_spike_time (:660-661) and normalises
(:663-666); a rounded time past ``num_steps - 1`` raises (:286-297); the spike is scattered at
``round(clamp_max(t, steps-1))`` (:301-318) and clipped (:321-322). The same float32 operations
run here in the same order, with one difference: the log code's ``ln`` is computed in float64 and
rounded once to float32 (the same on every CPU), where torch's float32 ``log`` is a SIMD routine
accurate to about 1 ulp; a spike's step can differ only for a time within an ulp of a half step.
``normalize`` divides by the latest time in the whole batch, as snnTorch does, so a sample's
code depends on its batch. Not supported: ``on_target``/``off_target`` (training targets),
``interpolate`` and ``bypass``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import DataEncoder
from .params import STEPS, EncoderError, Param, checked, describe, samples_array

PARAMETERS = {
    "steps": STEPS,
    "tau": Param("float", 1.0, "RC time constant (log code) or slope (linear code), in steps", low=0, low_open=True),
    "threshold": Param("float", 0.01, "inputs below it fire at the latest time, or never with clip",
                       low=0, high=1, low_open=True, high_open=True),
    "first_spike_time": Param("int", 0, "earliest spike time (step)", low=0),
    "clip": Param("bool", False, "inputs below threshold do not fire"),
    "normalize": Param("bool", False, "stretch spike times so the latest falls on step steps-1 (over the whole batch)"),
    "linear": Param("bool", False, "linear code instead of the logarithmic (RC) code"),
    "epsilon": Param("float", 1e-7, "inputs are clamped to threshold + epsilon in the log code", low=0, low_open=True),
}


def _log32(values: np.ndarray) -> np.ndarray:
    """float32 natural log, correctly rounded: computed in float64 and rounded once, so that it
    is the same on every machine (numpy's own float32 log depends on the CPU's SIMD path)."""
    return np.log(values.astype(np.float64)).astype(np.float32)


def latency_times(x: np.ndarray, steps: int, *, tau: float, threshold: float, first_spike_time: int,
                  normalize: bool, linear: bool, epsilon: float) -> np.ndarray:
    """Spike times (float32, before rounding) of snnTorch's ``latency_code``: the same float32
    operations in the same order (spikegen.py, latency_code_linear / latency_code_log)."""
    f32 = np.float32
    fst = first_spike_time
    if linear:
        slope = (steps - 1 - fst) if normalize else tau
        times = np.minimum(f32(-slope) * (x - f32(1)), f32(-slope * (threshold - 1))) + f32(fst)
        return times.astype(np.float32, copy=False)
    clamped = np.maximum(x, f32(threshold + epsilon))
    times = f32(tau) * _log32(clamped / (clamped - f32(threshold)))
    if fst > 0:
        times = times + f32(fst)
    if normalize:
        shifted = times - f32(fst)
        times = shifted * f32(steps - fst - 1) / shifted.max() + f32(fst)
    return times.astype(np.float32, copy=False)


def latency(data: Any, steps: int, *, tau: float = 1.0, threshold: float = 0.01, first_spike_time: int = 0,
            clip: bool = False, normalize: bool = False, linear: bool = False,
            epsilon: float = 1e-7) -> tuple[np.ndarray, dict]:
    """Latency coding as snnTorch's ``spikegen.latency``: one spike per input, at step
    round(t(x)), with t the RC charging time tau * ln(x / (x - threshold)) (log code) or
    tau * (1 - x) (linear code), plus first_spike_time; ``normalize`` stretches the times so the
    latest falls on step steps-1 (over the whole batch, as snnTorch); ``clip`` silences inputs
    below threshold. ``data`` (batch, *shape) in [0, 1] -> uint8 (steps, batch, *shape)."""
    p = checked("latency", PARAMETERS, steps=steps, tau=tau, threshold=threshold, first_spike_time=first_spike_time, clip=clip,
                 normalize=normalize, linear=linear, epsilon=epsilon)
    if p["first_spike_time"] > p["steps"] - 1:
        raise EncoderError(f"latency: first_spike_time={p['first_spike_time']} is out of range: it must be <= steps-1 = {p['steps'] - 1}")
    x = samples_array("latency", data, low=0.0, high=1.0)
    times = latency_times(x, p["steps"], tau=p["tau"], threshold=p["threshold"], first_spike_time=p["first_spike_time"],
                          normalize=p["normalize"], linear=p["linear"], epsilon=p["epsilon"])
    step = np.rint(times)
    latest = float(step.max())
    if latest > p["steps"] - 1:
        raise EncoderError(f"latency: the latest spike falls on step {latest:g} but steps={p['steps']} ends at step {p['steps'] - 1} "
                           f"(tau={p['tau']:g}, threshold={p['threshold']:g}): set normalize=true, lower tau or raise steps")
    step = step.astype(np.intp).reshape(-1)
    spikes = np.zeros((p["steps"], step.size), np.uint8)
    fires = np.ones(step.size, bool) if not p["clip"] else (x.reshape(-1) >= np.float32(p["threshold"]))
    columns = np.flatnonzero(fires)
    spikes[step[columns], columns] = 1
    spikes = spikes.reshape(p["steps"], *x.shape)
    code = "tau * (1 - x)" if p["linear"] else "tau * ln(x / (x - threshold))"
    meaning = (f"uint8 spikes: one spike per input at step round({code}"
               + (f" + {p['first_spike_time']}" if p["first_spike_time"] else "") + ")"
               + (", normalised so the latest spike falls on the last step" if p["normalize"] else "")
               + ("; inputs below threshold never spike" if p["clip"] else "; inputs below threshold spike at the latest time"))
    return spikes, describe("latency", p, spikes, meaning, "snntorch.spikegen.latency")


class Latency(DataEncoder):
    name = "latency"
    summary = "time-to-first-spike, logarithmic or linear (snnTorch spikegen.latency; data in [0, 1])"
    parameters = PARAMETERS

    function = staticmethod(latency)


LATENCY = Latency()
