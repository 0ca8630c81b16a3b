"""The data encoders against their references: snnTorch's spikegen (rate statistics, latency and
delta exactly), tonic's ToFrame and N-MNIST reader, SpykeTorch's stated DoG / Intensity2Latency
formulas (re-derived here in torch) and hand-computed values; the event file readers; shapes,
dtypes, determinism, memory and error messages."""
from __future__ import annotations

import json
import math
import struct
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from snntorch import spikegen

from neurodeploy.data import event_files
from neurodeploy.encoders import ENCODERS, EncoderError, encoder_spec
from neurodeploy.encoders.current import current
from neurodeploy.encoders.delta import delta
from neurodeploy.encoders.dog import dog, dog_filter, dog_kernel
from neurodeploy.encoders.events import events
from neurodeploy.encoders.intensity_latency import intensity_latency
from neurodeploy.encoders.latency import latency
from neurodeploy.encoders.poisson import poisson
from neurodeploy.encoders.rank_order import rank_order
from neurodeploy.encoders.rate import rate
from neurodeploy.errors import InputDataError

DATA_ENCODERS = {name: ENCODERS.get(name) for name in ENCODERS.names() if ENCODERS.get(name).needs_samples}


def parse_encode(text: str):
    encoder, params = encoder_spec(text)
    return encoder.name, params


def encode(spec: str, data):
    encoder, params = encoder_spec(spec)
    return encoder.function(data, **params)


E = SimpleNamespace(
    rate=rate, poisson=poisson, latency=latency, delta=delta, rank_order=rank_order, intensity_latency=intensity_latency, dog=dog,
    dog_filter=dog_filter, dog_kernel=dog_kernel, current=current, events=events, EncoderError=EncoderError, parse_encode=parse_encode,
    encode=encode, read_events=event_files.read_events, NMNIST_SENSOR=event_files.NMNIST_SENSOR,
)


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------------ rate


def test_rate_shape_dtype_and_determinism():
    x = np.random.default_rng(0).random((3, 4, 5))
    a, desc = E.rate(x, 20, seed=7)
    b, _ = E.rate(x, 20, seed=7)
    c, _ = E.rate(x, 20, seed=8)
    assert a.shape == (20, 3, 4, 5) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert set(np.unique(a)) <= {0, 1}
    assert desc["name"] == "rate" and desc["parameters"]["seed"] == 7 and desc["encoding"] == "spikes"
    json.dumps(desc)


def test_rate_statistics_match_snntorch():
    """Per-step spike frequency of every probability level agrees with snnTorch's spikegen.rate
    and with the probability itself, within 5 standard errors."""
    levels = np.linspace(0, 1, 11, dtype=np.float32)
    x = np.repeat(levels[None, :], 200, axis=0)  # 200 inputs per level
    steps, gain, offset = 200, 0.8, 0.05
    ours, _ = E.rate(x, steps, gain=gain, offset=offset, seed=1)
    torch.manual_seed(1)
    ref = spikegen.rate(torch.from_numpy(x), num_steps=steps, gain=gain, offset=offset).numpy()
    n = steps * x.shape[0]
    for j, level in enumerate(levels):
        p = min(max(level * gain + offset, 0.0), 1.0)
        tolerance = 5 * math.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-9
        assert abs(ours[:, :, j].mean() - p) <= tolerance
        assert abs(ref[:, :, j].mean() - p) <= tolerance
        assert abs(ours[:, :, j].mean() - ref[:, :, j].mean()) <= tolerance * math.sqrt(2) + 1e-9
    assert ours[:, :, 0].mean() > 0  # offset 0.05 makes x = 0 fire: the clip is applied as snnTorch does


def test_rate_first_spike_time_and_extremes():
    x = np.array([[0.0, 1.0, 1.0]])
    spikes, _ = E.rate(x, 6, first_spike_time=2, seed=0)
    assert not spikes[:2].any()
    assert spikes[2:, 0, 1:].all() and not spikes[:, 0, 0].any()
    torch.manual_seed(0)
    ref = spikegen.rate(torch.tensor(x, dtype=torch.float32), num_steps=6, first_spike_time=2).numpy()
    assert np.array_equal(spikes, ref.astype(np.uint8))  # p in {0, 1}: no randomness left


def test_rate_rejects_bad_input():
    with pytest.raises(E.EncoderError) as exc:
        E.rate(np.array([[0.5, 255.0]]), 10)
    assert "rate" in one_line(exc) and "255" in one_line(exc) and "[0, 1]" in one_line(exc)
    with pytest.raises(E.EncoderError) as exc:
        E.rate(np.array([0.5, 0.2]), 10)
    assert "(1, 2)" in one_line(exc)
    with pytest.raises(E.EncoderError) as exc:
        E.rate(np.array([[0.5]]), 10, first_spike_time=10)
    assert "first_spike_time=10" in one_line(exc) and "9" in one_line(exc)


# ------------------------------------------------------------------------------------ poisson


@pytest.mark.parametrize("probability", ["linear", "exp"])
def test_poisson_rates(probability):
    x = np.full((1, 2000), 0.5)
    spikes, desc = E.poisson(x, 500, max_rate=200.0, dt=1e-3, probability=probability, seed=3)
    lam = 0.5 * 200.0 * 1e-3
    p = lam if probability == "linear" else 1 - math.exp(-lam)
    assert abs(spikes.mean() - p) < 5 * math.sqrt(p * (1 - p) / spikes.size)
    assert desc["parameters"]["probability"] == probability and "Hz" in desc["values"]


def test_poisson_linear_needs_at_most_one_spike_per_step():
    with pytest.raises(E.EncoderError) as exc:
        E.poisson(np.ones((1, 3)), 10, max_rate=2000.0, dt=1e-3)
    message = one_line(exc)
    assert "max_rate=2000" in message and "dt=0.001" in message and "<= 1" in message
    spikes, _ = E.poisson(np.ones((1, 3)), 10, max_rate=2000.0, dt=1e-3, probability="exp")
    assert spikes.mean() > 0.8


# ------------------------------------------------------------------------------------ latency

LATENCY_CASES = [
    {"tau": 1.0, "threshold": 0.01},
    {"tau": 5.0, "threshold": 0.01, "normalize": True},
    {"tau": 5.0, "threshold": 0.01, "normalize": True, "clip": True},
    {"tau": 0.5, "threshold": 0.2, "first_spike_time": 3},
    {"tau": 2.0, "threshold": 0.05, "first_spike_time": 4, "normalize": True},
    {"tau": 1.0, "threshold": 0.5, "clip": True, "epsilon": 1e-3},
    {"tau": 8.0, "threshold": 0.1, "linear": True},
    {"tau": 8.0, "threshold": 0.1, "linear": True, "clip": True, "first_spike_time": 2},
    {"tau": 3.0, "threshold": 0.3, "linear": True, "normalize": True},
    {"tau": 3.0, "threshold": 0.3, "linear": True, "normalize": True, "first_spike_time": 5, "clip": True},
    {"tau": 5.0, "threshold": 0.5, "linear": True},  # the clamp tau * (1 - threshold) = 2.5 is a half step
]


@pytest.mark.parametrize("case", LATENCY_CASES)
def test_latency_equals_snntorch(case):
    rng = np.random.default_rng(len(str(case)))
    x = rng.random((4, 7, 9), dtype=np.float32)
    x[rng.random(x.shape) < 0.15] = 0.0
    x[rng.random(x.shape) < 0.05] = 1.0
    x.flat[:5] = [case["threshold"], 0.0, 1.0, np.nextafter(np.float32(case["threshold"]), np.float32(0)), 0.5]
    steps = 25
    ours, desc = E.latency(x, steps, **case)
    ref = spikegen.latency(torch.from_numpy(x), num_steps=steps, **case).numpy()
    assert ours.dtype == np.uint8 and ours.shape == (steps, *x.shape)
    assert np.array_equal(ours, ref.astype(np.uint8)) and np.array_equal(ours.astype(np.float32), ref)
    fired = ours.sum(axis=0)
    assert fired.max() == 1  # one spike per input
    if not case.get("clip"):
        assert fired.min() == 1
    assert {key: desc["parameters"][key] for key in case} == case and desc["parameters"]["steps"] == steps


def test_latency_equals_snntorch_over_random_options():
    rng = np.random.default_rng(11)
    compared = 0
    for _ in range(60):
        steps = int(rng.integers(1, 40))
        x = rng.random((int(rng.integers(1, 4)), int(rng.integers(1, 60))), dtype=np.float32)
        x[rng.random(x.shape) < 0.1] = 0.0
        case = {"tau": float(rng.choice([0.5, 1.0, 3.0, 7.0])), "threshold": float(rng.choice([0.01, 0.1, 0.4])),
                    "first_spike_time": int(rng.integers(0, steps)), "clip": bool(rng.integers(2)),
                    "normalize": bool(rng.integers(2)), "linear": bool(rng.integers(2)),
                    "epsilon": float(rng.choice([1e-7, 1e-4]))}
        try:
            ref = spikegen.latency(torch.from_numpy(x), num_steps=steps, **case).numpy()
        except Exception:  # noqa: BLE001 - snnTorch raises where a spike falls past the last step
            with pytest.raises(E.EncoderError):
                E.latency(x, steps, **case)
            continue
        ours, _ = E.latency(x, steps, **case)
        assert np.array_equal(ours, ref.astype(np.uint8)), case
        compared += 1
    assert compared > 30


def test_latency_hand_checked():
    # snnTorch's docstring example: linear, normalised over 5 steps -> times 3.92, 2, 0
    spikes, _ = E.latency(np.array([[0.02, 0.5, 1.0]]), 5, normalize=True, linear=True)
    assert [int(np.flatnonzero(spikes[:, 0, i])[0]) for i in range(3)] == [4, 2, 0]
    # log code, tau 1, threshold 0.01: t = ln(x / (x - 0.01)); x = 0.02 -> ln 2 = 0.69 -> step 1
    spikes, _ = E.latency(np.array([[0.02, 1.0]]), 3)
    assert np.flatnonzero(spikes[:, 0, 0]).tolist() == [1] and np.flatnonzero(spikes[:, 0, 1]).tolist() == [0]
    # exact half steps round half to even, as torch.round: linear tau 4 on x = k/8 gives t = 4 - k/2
    x = (np.arange(9, dtype=np.float32) / 8)[None, :]
    spikes, _ = E.latency(x, 6, tau=4.0, linear=True)
    assert [int(np.flatnonzero(spikes[:, 0, k])[0]) for k in range(9)] == [4, 4, 3, 2, 2, 2, 1, 0, 0]
    ref = spikegen.latency(torch.from_numpy(x), num_steps=6, tau=4.0, linear=True).numpy()
    assert np.array_equal(spikes, ref.astype(np.uint8))
    # the log code clamps to float32(threshold + epsilon), summed in double first: here that differs by an
    # ulp from float32(threshold) + float32(epsilon), which would move x = 0 by almost a step (tau 30)
    x = np.array([[0.0, 0.5, 1.0]], np.float32)
    spikes, _ = E.latency(x, 1000, tau=30.0, threshold=0.3, epsilon=1e-6)
    ref = spikegen.latency(torch.from_numpy(x), num_steps=1000, tau=30.0, threshold=0.3, epsilon=1e-6).numpy()
    assert np.array_equal(spikes, ref.astype(np.uint8))


def test_latency_errors():
    with pytest.raises(E.EncoderError) as exc:
        E.latency(np.array([[0.0, 0.5]]), 5)  # x = 0 fires at ln(100001) ~ 11.5 > 4
    message = one_line(exc)
    assert "latency" in message and "normalize=true" in message
    for key, value, allowed in [("tau", 0.0, "> 0"), ("threshold", 1.0, "(0, 1)"), ("steps", 0, ">= 1"),
                                ("epsilon", -1.0, "> 0")]:
        kwargs = {"steps": 5, key: value}
        with pytest.raises(E.EncoderError) as exc:
            E.latency(np.array([[0.5]]), **kwargs)
        message = one_line(exc)
        assert f"latency: {key}=" in message and allowed in message
    with pytest.raises(E.EncoderError) as exc:
        E.latency(np.array([[1.5]]), 5)
    assert "maximum of 1.5" in one_line(exc)


# ------------------------------------------------------------------------------------ delta


@pytest.mark.parametrize("padding", [False, True])
@pytest.mark.parametrize("off_spike", [False, True])
def test_delta_equals_snntorch(padding, off_spike):
    rng = np.random.default_rng(5)
    series = np.cumsum(rng.normal(0, 0.2, size=(30, 3, 8)), axis=0).astype(np.float32)  # (steps, batch, n)
    series[4] = series[3] + np.float32(0.25)  # exact-threshold changes
    ref = spikegen.delta(torch.from_numpy(series), threshold=0.25, padding=padding, off_spike=off_spike).numpy()
    ours, _ = E.delta(series, threshold=0.25, padding=padding, off_spike=off_spike, time_axis=0)
    if off_spike:
        assert ours.shape == (30, 3, 2, 8) and ours.dtype == np.uint8
        assert np.array_equal(ours[:, :, 0].astype(np.float32) - ours[:, :, 1], ref)
        signed, _ = E.delta(series, threshold=0.25, padding=padding, off_spike=True, output="signed", time_axis=0)
        assert signed.dtype == np.float32 and np.array_equal(signed, ref)
    else:
        assert ours.dtype == np.uint8 and np.array_equal(ours.astype(np.float32), ref)
    batch_first, _ = E.delta(np.swapaxes(series, 0, 1), threshold=0.25, padding=padding, off_spike=off_spike)
    assert np.array_equal(batch_first, ours)


def test_delta_hand_checked():
    # snnTorch's docstring examples
    a = np.array([[1, 2, 2.9, 3, 3.9]])
    assert E.delta(a, threshold=1)[0][:, 0].tolist() == [1, 1, 0, 0, 0]
    assert E.delta(a, threshold=1, padding=True)[0][:, 0].tolist() == [0, 1, 0, 0, 0]
    b = np.array([[1, 2, 0, 2, 2.9]])
    channels, _ = E.delta(b, threshold=1, off_spike=True)
    assert channels[:, 0, 0].tolist() == [1, 1, 0, 1, 0] and channels[:, 0, 1].tolist() == [0, 0, 1, 0, 0]
    assert E.delta(b, threshold=1, off_spike=True, output="signed")[0][:, 0].tolist() == [1, 1, -1, 1, 0]


def test_delta_errors():
    with pytest.raises(E.EncoderError) as exc:
        E.delta(np.zeros((2, 3)), threshold=0)
    assert "delta: threshold=0" in one_line(exc) and "> 0" in one_line(exc)
    with pytest.raises(E.EncoderError) as exc:
        E.delta(np.zeros(3))
    assert "(batch, steps, *shape)" in one_line(exc)


# ------------------------------------------------------------------------------------ rank order / Intensity2Latency


def spyketorch_waves(intensities: torch.Tensor, steps: int) -> torch.Tensor:
    """SpykeTorch's Intensity2Latency as its docs and code state it, re-derived in torch: sort all
    intensities descending, cut the order into bins of n_nonzero // steps, and at step t show the
    intensities of bins 0..t (cumulative spike waves)."""
    flat = intensities.reshape(-1)
    bin_size = int(torch.count_nonzero(flat)) // steps
    _, order = torch.sort(flat, descending=True, stable=True)
    shown = torch.zeros_like(flat)
    waves = []
    for t in range(steps):
        chosen = order[t * bin_size:(t + 1) * bin_size]
        shown[chosen] = flat[chosen]
        waves.append(shown.clone().reshape(intensities.shape))
    return torch.stack(waves)


def test_rank_order_hand_checked():
    x = np.array([[0.5, 0.0, 0.9, 0.1], [0.3, 0.3, 0.0, 0.0]])
    spikes, desc = E.rank_order(x, 3)
    first = [[int(np.flatnonzero(spikes[:, b, i])[0]) if spikes[:, b, i].any() else -1 for i in range(4)] for b in range(2)]
    # sample 0: ranks 0.9 -> 0, 0.5 -> 1, 0.1 -> 2 of P=3 -> steps 0, 1, 2; zero never
    # sample 1: ties in index order, P=2: ranks 0, 1 -> floor(0 * 3 / 2) = 0, floor(1 * 3 / 2) = 1
    assert first == [[1, -1, 0, 2], [0, 1, -1, -1]]
    assert spikes.sum(axis=0).max() == 1 and desc["encoding"] == "spikes"
    one_step, _ = E.rank_order(x, 1)
    assert np.array_equal(one_step[0], (x > 0).astype(np.uint8))


def test_intensity_latency_hand_checked():
    x = np.array([[0.2, 0.9, 0.0, 0.5, 0.7, 0.1, 0.3]])  # 6 nonzero, 3 steps: bins of 2
    spikes, _ = E.intensity_latency(x, 3)
    assert spikes[:, 0].tolist() == [[0, 1, 0, 0, 1, 0, 0], [0, 0, 0, 1, 0, 0, 1], [1, 0, 0, 0, 0, 1, 0]]
    waves, _ = E.intensity_latency(x, 3, cumulative=True)
    assert waves[:, 0].tolist() == [[0, 1, 0, 0, 1, 0, 0], [0, 1, 0, 1, 1, 0, 1], [1, 1, 0, 1, 1, 1, 1]]
    # 6 nonzero over 4 steps: bins of 1, the two smallest never spike (SpykeTorch drops the remainder)
    spikes, _ = E.intensity_latency(x, 4)
    assert spikes.sum() == 4 and not spikes[:, 0, [0, 5]].any()
    # fewer nonzero inputs than steps: one per step in rank order (SpykeTorch's split raises)
    spikes, _ = E.intensity_latency(np.array([[0.0, 0.4, 0.8]]), 5)
    assert spikes[:, 0].tolist() == [[0, 0, 1], [0, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]]


def test_intensity_latency_equals_spyketorch_formula():
    rng = np.random.default_rng(2)
    maps = rng.random((3, 4, 6, 6)).astype(np.float32)
    maps[rng.random(maps.shape) < 0.4] = 0.0
    steps = 15
    waves, _ = E.intensity_latency(maps, steps, cumulative=True)
    single, _ = E.intensity_latency(maps, steps)
    graded, desc = E.intensity_latency(maps, steps, to_spike=False, cumulative=True)
    assert desc["encoding"] == "graded"
    for b in range(maps.shape[0]):
        ref = spyketorch_waves(torch.from_numpy(maps[b]), steps)
        assert np.array_equal(graded[:, b], ref.numpy())
        assert np.array_equal(waves[:, b], ref.sign().numpy().astype(np.uint8))
    assert np.array_equal(np.cumsum(single, axis=0) > 0, waves.astype(bool))


def test_intensity_latency_rejects_negative_values():
    with pytest.raises(E.EncoderError) as exc:
        E.intensity_latency(np.array([[0.5, -0.1]]), 3)
    assert "intensity_latency" in one_line(exc) and "-0.1" in one_line(exc)


# ------------------------------------------------------------------------------------ DoG


def test_dog_kernel_hand_checked():
    # window 3, sigma 1 / 2: (g1 - g2) at r^2 = 0, 1, 2 is 0.75, 0.38591, 0.17318 (over 2 pi); minus the mean
    # 0.33182 and over the centre's 0.41818 -> 1, 0.1293463, -0.3793463
    kernel = E.dog_kernel(3, 1.0, 2.0)
    edge, corner = 0.12934631190539309, -0.37934631190539303
    expected = np.array([[corner, edge, corner], [edge, 1.0, edge], [corner, edge, corner]], np.float32)
    assert kernel.dtype == np.float32 and np.array_equal(kernel, expected)
    assert abs(float(kernel.astype(np.float64).sum())) < 1e-6
    off = E.dog_kernel(3, 2.0, 1.0)
    assert off.max() == 1.0 and off[1, 1] < 0  # off-centre: negative centre, own max normalisation


def test_dog_filter_of_an_impulse_is_the_kernel():
    image = np.zeros((1, 9, 9))
    image[0, 4, 4] = 1.0
    maps, desc = E.dog_filter(image, windows=[3], sigma_centre=[1.0], sigma_surround=[2.0], threshold=None)
    assert maps.shape == (1, 2, 9, 9) and desc["parameters"]["padding"] == 1
    on = np.maximum(E.dog_kernel(3, 1, 2), 0)  # threshold 0: negatives set to 0
    assert np.allclose(maps[0, 0, 3:6, 3:6], on) and maps[0, 0].sum() == pytest.approx(on.sum())
    assert np.allclose(maps[0, 1, 3:6, 3:6], np.maximum(E.dog_kernel(3, 2, 1), 0))


def torch_dog(images: np.ndarray, windows, centre, surround, padding, threshold, local_norm) -> torch.Tensor:
    """SpykeTorch's Filter and local_normalization as stated: conv2d with the zero-padded kernel
    stack, outputs below the threshold set to 0, then each map over its local mean + 1e-12."""
    size = max(windows)
    kernels = []
    for w, c, s in zip(windows, centre, surround):
        for a, b in ((c, s), (s, c)):
            k = torch.from_numpy(E.dog_kernel(w, a, b))
            kernels.append(F.pad(k, ((size - w) // 2,) * 4))
    bank = torch.stack(kernels)[:, None]
    out = F.conv2d(torch.from_numpy(images.astype(np.float32))[:, None], bank, padding=padding)
    out = torch.where(out < threshold, torch.tensor(0.0), out)
    if local_norm:
        n = 2 * local_norm + 1
        box = torch.ones(out.shape[1], 1, n, n) / n**2
        out = out / (F.conv2d(out, box, padding=local_norm, groups=out.shape[1]) + 1e-12)
    return out


def digits_28(count: int) -> np.ndarray:
    from sklearn.datasets import load_digits

    images = load_digits().images[:count] / 16.0 * 255.0  # 8x8 in 0..16 -> pixels 0..255, as SpykeTorch's ToTensor() * 255
    return np.pad(np.kron(images, np.ones((3, 3))), ((0, 0), (2, 2), (2, 2))).astype(np.float32)  # 28x28


def test_dog_filter_matches_torch_conv2d():
    images = digits_28(6)
    settings = {"windows": (3, 7, 13), "centre": (3 / 9, 7 / 9, 13 / 9), "surround": (6 / 9, 14 / 9, 26 / 9), "padding": 6,
                    "threshold": 50.0, "local_norm": 8}
    ours, _ = E.dog_filter(images, preset="mozafari2018")
    ref = torch_dog(images, **settings).numpy()
    assert ours.shape == ref.shape == (6, 6, 28, 28)
    assert (ref > 0).sum() > 100  # the filter responds
    close = np.isclose(ours, ref, rtol=1e-4, atol=1e-4)
    # a response within float32 rounding of the threshold may land on either side of it
    assert close.mean() > 0.999


def test_dog_encoder_pipeline():
    images = digits_28(4)
    spikes, desc = E.dog(images, preset="kheradpisheh2018")
    assert spikes.shape == (15, 4, 2, 28, 28) and spikes.dtype == np.uint8
    assert desc["parameters"]["windows"] == [7] and desc["parameters"]["threshold"] == 50.0
    assert spikes.sum(axis=0).max() == 1 and spikes.any()
    maps, _ = E.dog_filter(images, preset="kheradpisheh2018")
    direct, _ = E.intensity_latency(maps, 15)
    assert np.array_equal(spikes, direct)
    ranked, _ = E.dog(images, preset="kheradpisheh2018", coding="rank")
    assert np.array_equal(ranked.sum(axis=0), (maps > 0).astype(np.uint8))  # every positive response spikes once
    # against SpykeTorch's formulas end to end (torch conv2d, float32): the spike waves agree
    ref = torch_dog(images, (7,), (1.0,), (2.0,), 3, 50.0, 8)
    waves, _ = E.dog(images, preset="kheradpisheh2018", cumulative=True)
    agree = np.mean([np.mean(waves[:, b] == spyketorch_waves(ref[b], 15).sign().numpy()) for b in range(4)])
    assert agree > 0.999


def test_dog_errors():
    with pytest.raises(E.EncoderError) as exc:
        E.dog(np.zeros((1, 8, 8)), 5, windows=[4], sigma_centre=[1], sigma_surround=[2])
    assert "windows=4" in one_line(exc) and "odd" in one_line(exc)
    with pytest.raises(E.EncoderError) as exc:
        E.dog(np.zeros((1, 8, 8)), 5, windows=[3], sigma_centre=[2], sigma_surround=[1])
    assert "sigma_centre=2" in one_line(exc)
    with pytest.raises(E.EncoderError) as exc:
        E.dog(np.zeros((1, 3, 8, 8)), 5)
    assert "grey" in one_line(exc)
    with pytest.raises(E.EncoderError) as exc:
        E.dog(np.zeros((1, 8, 8)))
    assert "steps is required" in one_line(exc)


# ------------------------------------------------------------------------------------ current


def test_current_holds_the_input():
    x = np.random.default_rng(0).random((2, 3))
    values, desc = E.current(x, 4, scale=2.0)
    assert values.shape == (4, 2, 3) and values.dtype == np.float32 and desc["encoding"] == "graded"
    assert np.array_equal(values[3], (x.astype(np.float32) * np.float32(2.0)))
    assert not values.flags.writeable and values.base is not None  # one copy of the data, not steps copies


# ------------------------------------------------------------------------------------ events

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])


def synthetic_events(n: int, seed: int, sensor=(34, 34), duration=100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    events = np.empty(n, EVENT_DTYPE)
    events["x"] = rng.integers(0, sensor[0], n)
    events["y"] = rng.integers(0, sensor[1], n)
    events["t"] = np.sort(rng.integers(0, duration, n))
    events["p"] = rng.integers(0, 2, n).astype(bool)
    return events


def test_events_hand_checked():
    events = np.array([(0, 0, 0, 1), (1, 0, 10, 0), (1, 0, 15, 0), (2, 1, 25, 1)], EVENT_DTYPE)
    frames, desc = E.events(events, sensor_size=(3, 2, 2), time_window=10, mode="count", include_incomplete=True)
    assert frames.shape == (3, 1, 2, 2, 3) and frames.dtype == np.float32
    expected = np.zeros((3, 2, 2, 3))
    expected[0, 1, 0, 0] = 1  # t 0: x 0, y 0, ON
    expected[1, 0, 0, 1] = 2  # t 10, 15: x 1, y 0, OFF
    expected[2, 1, 1, 2] = 1  # t 25: x 2, y 1, ON
    assert np.array_equal(frames[:, 0], expected)
    binary, _ = E.events(events, sensor_size=(3, 2, 2), time_window=10, include_incomplete=True)
    assert binary.dtype == np.uint8 and np.array_equal(binary[:, 0], (expected > 0))
    merged, _ = E.events(events, sensor_size=(3, 2, 2), time_window=10, include_incomplete=True, polarity="merge",
                         mode="count")
    assert merged.shape == (3, 1, 1, 2, 3) and np.array_equal(merged[:, 0, 0], expected.sum(axis=1))
    assert desc["reference"] == "tonic.transforms.ToFrame"


@pytest.mark.parametrize("method", [{"time_window": 7_000.0}, {"n_time_bins": 9}, {"event_count": 150},
                                    {"n_event_bins": 6}, {"time_window": 9_000.0, "overlap": 1_000.0, "include_incomplete": True},
                                    {"n_time_bins": 5, "overlap": 0.2}])
def test_events_equal_tonic_toframe(method):
    from tonic.transforms import ToFrame

    streams = [synthetic_events(n, seed) for seed, n in enumerate((900, 1500, 400))]
    counts, desc = E.events(streams, sensor_size=(34, 34, 2), mode="count", **method)
    binary, _ = E.events(streams, sensor_size=(34, 34, 2), **method)
    transform = ToFrame(sensor_size=(34, 34, 2), **method)
    for b, stream in enumerate(streams):
        ref = transform(stream.copy())
        assert ref.shape[0] == desc["frames_per_sample"][b]
        assert np.array_equal(counts[:ref.shape[0], b], ref.astype(np.float32))
        assert np.array_equal(binary[:ref.shape[0], b], (ref > 0).astype(np.uint8))
        assert not counts[ref.shape[0]:, b].any()  # zero padding after the sample's own frames
    assert counts.sum() > 0


def test_events_steps_pad_cut_and_empty():
    streams = [synthetic_events(300, 1), np.empty(0, EVENT_DTYPE)]
    frames, _desc = E.events(streams, sensor_size=(34, 34, 2), n_time_bins=4, steps=6)
    assert frames.shape == (6, 2, 2, 34, 34) and not frames[4:].any() and not frames[:, 1].any()
    cut, _ = E.events(streams, sensor_size=(34, 34, 2), n_time_bins=4, steps=2)
    assert np.array_equal(cut, frames[:2])


def test_events_errors():
    events = synthetic_events(50, 0)
    with pytest.raises(E.EncoderError) as exc:
        E.events(events, sensor_size=(20, 34, 2), time_window=1000)
    assert "x spans" in one_line(exc) and "0..19" in one_line(exc)
    with pytest.raises(E.EncoderError) as exc:
        E.events(events[::-1], sensor_size=(34, 34, 2), time_window=1000)
    assert "non-decreasing" in one_line(exc)
    with pytest.raises(E.EncoderError) as exc:
        E.events(events, sensor_size=(34, 34, 2), time_window=1000, n_time_bins=3)
    assert "exactly one" in one_line(exc)
    with pytest.raises(E.EncoderError) as exc:
        E.events(np.zeros(3, [("x", int), ("t", int)]), sensor_size=(34, 34, 2), time_window=1000)
    assert "y, p" in one_line(exc)


# ------------------------------------------------------------------------------------ event files


def write_nmnist(path: Path, events: np.ndarray) -> None:
    """N-MNIST's documented layout: 40 bits per event, big-endian: x (8 bits), y (8), polarity (1),
    timestamp in us (23)."""
    t = events["t"].astype(np.uint32)
    raw = np.empty((len(events), 5), np.uint8)
    raw[:, 0] = events["x"]
    raw[:, 1] = events["y"]
    raw[:, 2] = (events["p"].astype(np.uint32) << 7) | (t >> 16)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    path.write_bytes(raw.tobytes())


def test_nmnist_reader_and_binning(tmp_path):
    events = synthetic_events(500, 3, duration=300_000)
    events["t"][-1] = 2**23 - 1  # the largest 23-bit timestamp
    write_nmnist(tmp_path / "sample.bin", events)
    read = E.read_events(tmp_path / "sample.bin")
    for name in ("x", "y", "t", "p"):
        assert np.array_equal(read[name], events[name])
    frames, _ = E.events([read], sensor_size=E.NMNIST_SENSOR, n_time_bins=10)
    reference, _ = E.events([events], sensor_size=E.NMNIST_SENSOR, n_time_bins=10)
    assert np.array_equal(frames, reference)
    (tmp_path / "bad.bin").write_bytes(b"\x00" * 7)
    with pytest.raises(InputDataError) as exc:
        E.read_events(tmp_path / "bad.bin")
    assert "5-byte" in one_line(exc)


def test_aedat2_reader(tmp_path):
    events = synthetic_events(200, 4, sensor=(128, 128))
    address = (events["y"].astype(np.uint32) << 8) | (events["x"].astype(np.uint32) << 1) | events["p"].astype(np.uint32)
    address[5] |= 1 << 15  # an external event: dropped
    raw = np.empty(len(events), [("address", ">u4"), ("timeStamp", ">u4")])
    raw["address"], raw["timeStamp"] = address, events["t"]
    header = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n"
    (tmp_path / "rec.aedat").write_bytes(header + raw.tobytes())
    read = E.read_events(tmp_path / "rec.aedat")
    keep = np.ones(len(events), bool)
    keep[5] = False
    for name in ("x", "y", "t", "p"):
        assert np.array_equal(read[name], events[name][keep])


def test_aedat31_reader_keeps_valid_polarity_events(tmp_path):
    events = synthetic_events(120, 5, sensor=(346, 260))
    data = ((events["x"].astype(np.uint32) << 17) | (events["y"].astype(np.uint32) << 2)
            | (events["p"].astype(np.uint32) << 1) | 1)
    data[7] &= ~np.uint32(1)  # invalid event: dropped
    head = struct.Struct("<hhiiiiii")
    body = np.empty((len(events), 2), "<u4")
    body[:, 0], body[:, 1] = data, events["t"]
    first, second = body[:60], body[60:]
    special = np.zeros((2, 2), "<u4")  # a special-event packet (type 0): skipped
    blob = (b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DAVIS346\r\n#Start-Time: 2024-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n"
            + head.pack(1, 1, 8, 4, 0, 60, 60, 59) + first.tobytes()
            + head.pack(0, 1, 8, 4, 0, 2, 2, 2) + special.tobytes()
            + head.pack(1, 1, 8, 4, 1, 60, 60, 60) + second.tobytes())
    (tmp_path / "rec31.aedat").write_bytes(blob)
    read = E.read_events(tmp_path / "rec31.aedat")
    keep = np.ones(len(events), bool)
    keep[7] = False
    expected_t = events["t"] + np.where(np.arange(len(events)) >= 60, 2**31, 0)
    assert np.array_equal(read["t"], expected_t[keep])
    for name in ("x", "y", "p"):
        assert np.array_equal(read[name], events[name][keep])


def test_aedat4_needs_the_aedat_package(tmp_path):
    (tmp_path / "rec4.aedat4").write_bytes(b"#!AER-DAT4.0\r\n" + bytes(16))
    try:
        import aedat  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(InputDataError) as exc:
            E.read_events(tmp_path / "rec4.aedat4")
        assert "aedat" in one_line(exc) and "pip install" in one_line(exc)
    else:
        pytest.skip("the aedat package is installed: tonic reads AEDAT 4 itself")


def test_npy_and_dat_readers(tmp_path):
    events = synthetic_events(100, 6)
    np.save(tmp_path / "ev.npy", events)
    assert np.array_equal(E.read_events(tmp_path / "ev.npy"), events)
    np.save(tmp_path / "plain.npy", np.zeros((3, 4)))
    with pytest.raises(InputDataError) as exc:
        E.read_events(tmp_path / "plain.npy")
    assert "x, y, t, p" in one_line(exc)
    from expelliarmus import Wizard

    prophesee = np.zeros(len(events), [("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    for name in ("t", "x", "y", "p"):
        prophesee[name] = events[name]
    Wizard(encoding="dat").save(fpath=str(tmp_path / "ev.dat"), arr=prophesee)
    read = E.read_events(tmp_path / "ev.dat")
    for name in ("x", "y", "t", "p"):
        assert np.array_equal(read[name], events[name])
    with pytest.raises(InputDataError) as exc:
        E.read_events(tmp_path / "missing.bin")
    assert "no such file" in one_line(exc)


# ------------------------------------------------------------------------------------ --encode parser


def test_parse_encode():
    assert E.parse_encode("latency:steps=50,tau=5") == ("latency", {"steps": 50, "tau": 5.0})
    assert E.parse_encode("latency: steps = 50 , linear=true") == ("latency", {"steps": 50, "linear": True})
    assert E.parse_encode("dog:windows=3/7/13,sigma_centre=0.5/1/2,sigma_surround=1/2/4,steps=15")[1]["windows"] == (3, 7, 13)
    assert E.parse_encode("events:sensor_size=34/34/2,n_time_bins=10")[1]["sensor_size"] == (34, 34, 2)
    assert E.parse_encode("rate") == ("rate", {})
    spikes, _ = E.encode("latency:steps=10,tau=2,normalize=true", np.array([[0.1, 0.9]]))
    assert spikes.shape == (10, 1, 2)


@pytest.mark.parametrize("text, parts", [
    ("latncy:steps=5", ["unknown encoder 'latncy'", "latency"]),
    ("latency:steps=5,tua=3", ["latency has no parameter 'tua'", "tau"]),
    ("latency:steps=0", ["latency: steps=0 is out of range", "an integer >= 1"]),
    ("latency:steps=5,tau=-1", ["latency: tau=-1", "a number > 0"]),
    ("latency:steps=5,threshold=1.5", ["latency: threshold=1.5", "in (0, 1)"]),
    ("latency:steps=five", ["latency: steps=five is not allowed", "an integer >= 1"]),
    ("latency:steps=5,clip=maybe", ["latency: clip=maybe", "true or false"]),
    ("latency:steps=5,steps=6", ["steps is given twice"]),
    ("latency:steps", ["'steps' is not key=value"]),
    ("delta:output=bipolar", ["delta: output=bipolar", "one of channels, signed"]),
    ("dog:windows=3/x", ["dog: windows=3/x", "integers >= 1"]),
    ("poisson:steps=5,dt=0", ["poisson: dt=0 is out of range", "> 0"]),
])
def test_parse_encode_errors(text, parts):
    with pytest.raises(E.EncoderError) as exc:
        E.parse_encode(text)
    message = one_line(exc)
    assert message.startswith("--encode ")
    for part in parts:
        assert part in message, message


def test_descriptions_are_json_and_say_what_the_values_mean():
    x = np.random.default_rng(0).random((2, 8, 8)).astype(np.float32)
    runs = {
        "rate": E.encode("rate:steps=4", x), "poisson": E.encode("poisson:steps=4", x),
        "latency": E.encode("latency:steps=20", x), "delta": E.encode("delta:off_spike=true", x),
        "rank_order": E.encode("rank_order:steps=4", x), "intensity_latency": E.encode("intensity_latency:steps=4", x),
        "dog": E.encode("dog:steps=4,windows=3,sigma_centre=1,sigma_surround=2", x * 255),
        "current": E.encode("current:steps=4,scale=2", x),
        "events": E.encode("events:sensor_size=34/34/2,n_time_bins=3", synthetic_events(100, 0)),
    }
    assert set(runs) == set(DATA_ENCODERS)
    for name, (values, description) in runs.items():
        text = json.loads(json.dumps(description))
        assert text["name"] == name and text["values"] and text["reference"]
        assert text["steps"] == values.shape[0] and text["batch"] == values.shape[1]
        assert set(text["parameters"]) >= set(DATA_ENCODERS[name].parameters) - {"preset"}
        assert (values.dtype == np.uint8) == (text["encoding"] == "spikes")


def test_every_encoder_is_registered_with_its_schema():
    import inspect

    for name, spec in DATA_ENCODERS.items():
        signature = inspect.signature(spec.function)
        keys = [key for key in signature.parameters if key not in ("data", "images", "streams")]
        assert set(keys) == set(spec.parameters), name
        for key, param in spec.parameters.items():
            default = signature.parameters[key].default
            if default is not inspect.Parameter.empty and default is not None:
                assert param.check(name, key, default) == default, (name, key)


# ------------------------------------------------------------------------------------ memory


def peak_bytes(function, *args, **kwargs) -> tuple[int, np.ndarray]:
    tracemalloc.start()
    try:
        out, _ = function(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, out


@pytest.mark.parametrize("name", ["rate", "latency", "delta", "intensity_latency", "rank_order"])
def test_spike_encoders_never_hold_a_float_copy_of_the_whole_input(name):
    """Peak memory stays below the uint8 output plus a few per-step arrays: a float32
    (steps, batch, n) array (4x the output) never exists."""
    steps, batch, n = 100, 32, 1000
    x = np.random.default_rng(0).random((batch, n), dtype=np.float32)
    if name == "delta":
        args, kwargs = (np.random.default_rng(0).random((batch, steps, 50), dtype=np.float32),), {"off_spike": True}
    else:
        args, kwargs = (x, steps), {"normalize": True} if name == "latency" else {}
    peak, out = peak_bytes(getattr(E, name), *args, **kwargs)
    assert out.dtype == np.uint8
    float_whole = out.size * 4
    assert peak < out.nbytes + float_whole // 2, (peak, out.nbytes)
