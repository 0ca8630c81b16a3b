"""Labelled data (--data): the built-in sets, .npz/.npy files, folders of event files with their
classes, layouts and labels, and the one-line errors for anything else."""
import random

import numpy as np
import pytest

from neurodeploy.data import LabelledData, from_arrays, load_data, with_labels, with_layout
from neurodeploy.data.event_files import read_events, write_nmnist
from neurodeploy.errors import UserError

EVENTS = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])


def one_line(exc) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def events(n: int, seed: int, duration: int = 50_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty(n, EVENTS)
    out["x"], out["y"] = rng.integers(0, 34, n), rng.integers(0, 34, n)
    out["t"], out["p"] = np.sort(rng.integers(0, duration, n)), rng.integers(0, 2, n).astype(bool)
    return out


def test_digits_are_the_demos_split_in_0_1():
    from neurodeploy.frontends.demo import digits_rates

    test = load_data("digits")
    _, x_test, _, y_test = digits_rates(0)
    assert test.x.shape == (450, 8, 8) and test.x.dtype == np.float32 and 0 <= test.x.min() and test.x.max() <= 1
    np.testing.assert_allclose(test.x.reshape(450, 64), x_test, rtol=1e-6)
    np.testing.assert_array_equal(test.y, y_test)
    assert load_data("digits:split=train").count == 1347 and load_data("digits:split=all").count == 1797
    big = load_data("digits28:max=255")
    assert big.x.shape == (450, 28, 28) and big.x.max() == 255
    np.testing.assert_allclose(big.x[:, 2:5, 2:5], np.broadcast_to(test.x[:, :1, :1] * 255, (450, 3, 3)), rtol=1e-6)
    assert not big.x[:, :2].any() and not big.x[:, :, -2:].any()  # the border
    section = test.section()
    assert section["source"] == "digits" and section["split"] == "test" and section["classes"] == 10 and section["labelled"]


def test_mnist1d_is_generated_offline_and_leaves_the_global_generators_alone():
    before, py_before = np.random.get_state()[1].copy(), random.getstate()
    data = load_data("mnist1d")
    assert data.x.shape == (1000, 40) and data.x.min() >= 0 and data.x.max() <= 1 and set(np.unique(data.y)) == set(range(10))
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    assert random.getstate() == py_before


def test_npz_npy_and_their_errors(tmp_path):
    x = np.random.default_rng(0).random((6, 4, 4))
    np.savez(tmp_path / "d.npz", x=x, y=np.array(["cat", "dog", "cat", "eel", "dog", "cat"]))
    data = load_data(str(tmp_path / "d.npz"))
    assert data.classes == ("cat", "dog", "eel") and data.y.tolist() == [0, 1, 0, 2, 1, 0] and data.layout == "samples"
    np.save(tmp_path / "x.npy", x)
    plain = load_data(str(tmp_path / "x.npy"), labels=np.arange(6) % 2)
    assert plain.y.tolist() == [0, 1, 0, 1, 0, 1]
    for make, message in [
        (lambda p: np.savez(p, inputs=x), "holds inputs; it needs x"),
        (lambda p: np.savez(p, x=np.array([{"a": 1}], dtype=object)), "not a readable .npz"),
        (lambda p: np.savez(p, x=np.full((2, 3), np.nan)), "NaN"),
        (lambda p: np.savez(p, x=x, y=np.arange(5)), "5 labels for 6 samples"),
        (lambda p: np.savez(p, x=x, y=-np.ones(6, int)), "classes >= 0"),
    ]:
        path = tmp_path / "bad.npz"
        make(path)
        with pytest.raises(UserError) as exc:
            data = load_data(str(path))
            with_labels(data, data.y) if data.y is not None else None
        assert message in one_line(exc), one_line(exc)
    with pytest.raises(UserError) as exc:
        load_data(str(tmp_path / "nowhere.npz"))
    assert "no such file" in one_line(exc) and "digits" in one_line(exc)
    with pytest.raises(UserError) as exc:
        load_data("digits:split=validation")
    assert "split=validation" in one_line(exc) and "train, test, all" in one_line(exc)


def test_layouts_and_their_errors():
    x = np.zeros((7, 3, 5))
    assert with_layout(from_arrays(x), "steps-first").count == 3 and with_layout(from_arrays(x), "samples-first").count == 7
    with pytest.raises(UserError) as exc:
        with_layout(from_arrays(np.zeros((4, 5))), "steps-first")
    assert "no steps axis" in one_line(exc)
    with pytest.raises(UserError) as exc:
        from_arrays(np.zeros(5))
    assert "(1, 5)" in one_line(exc)
    with pytest.raises(UserError) as exc:
        with_layout(from_arrays([events(3, 0)]), "steps-first")
    assert "event streams" in one_line(exc)
    first = with_layout(LabelledData(x=np.zeros((9, 4, 2)), y=np.arange(4), source="s"), "steps-first").first(2)
    assert first.x.shape == (9, 2, 2) and first.y.tolist() == [0, 1]
    with pytest.raises(UserError) as exc:
        first.first(3)
    assert "--batch 3 but s holds 2" in one_line(exc)


def write_nmnist_reference(path, stream) -> None:
    """N-MNIST's documented layout, written independently of the library's writer."""
    t = stream["t"].astype(np.uint32)
    raw = np.empty((len(stream), 5), np.uint8)
    raw[:, 0], raw[:, 1] = stream["x"], stream["y"]
    raw[:, 2] = (stream["p"].astype(np.uint32) << 7) | (t >> 16)
    raw[:, 3], raw[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    path.write_bytes(raw.tobytes())


def test_folder_of_event_files_gives_classes_from_its_subfolders(tmp_path):
    root = tmp_path / "rec"
    streams = {}
    for label in ("0", "1", "2"):
        (root / label).mkdir(parents=True)
        for i in range(2):
            stream = events(50 + 10 * i, seed=int(label) * 10 + i)
            write_nmnist(root / label / f"s{i}.bin", stream)
            streams[(label, i)] = stream
    write_nmnist_reference(tmp_path / "ref.bin", streams[("1", 0)])
    assert (root / "1" / "s0.bin").read_bytes() == (tmp_path / "ref.bin").read_bytes()
    data = load_data(str(root))
    assert data.is_events and data.count == 6 and data.y.tolist() == [0, 0, 1, 1, 2, 2] and data.classes is None
    for name in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(data.x[3][name], streams[("1", 1)][name])
    (root / "2").rename(root / "cat")
    named = load_data(str(root))
    assert named.classes == ("0", "1", "cat") and named.y.tolist() == [0, 0, 1, 1, 2, 2]
    single = load_data(str(root / "0" / "s0.bin"))
    assert single.count == 1 and single.y is None
    np.testing.assert_array_equal(read_events(root / "0" / "s1.bin")["t"], streams[("0", 1)]["t"])
    (root / "stray.bin").write_bytes(b"")
    with pytest.raises(UserError) as exc:
        load_data(str(root))
    assert "both event files and subfolders" in one_line(exc)
    (root / "stray.bin").unlink()
    (root / "empty").mkdir()
    with pytest.raises(UserError) as exc:
        load_data(str(root))
    assert "'empty' holds no event files" in one_line(exc)


def test_nmnist_writer_refuses_what_the_format_cannot_hold(tmp_path):
    stream = events(3, 0)
    stream["t"][-1] = 2**23
    with pytest.raises(UserError) as exc:
        write_nmnist(tmp_path / "x.bin", stream)
    assert "2**23" in one_line(exc)
