"""The cases of issue 19 as fixed regressions: each hostile input gets exit 2, one line and
nothing written (or, where the issue found a wrong success, now a refusal), through the same
harness as the fuzz suite (hostile.py). Also: safe model loading, the report directory, atomic
reports, resource limits, signals."""
from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hostile import FUZZ_MEMORY_LIMIT, MARKER, DeclaredOnly, check, graph_tree, run_case, write_tree

from neurodeploy import cli
from neurodeploy.errors import Interrupted, UserError
from neurodeploy.hardware import profile as profile_module
from neurodeploy.hardware.profile import PROFILE_DIR
from neurodeploy.interrupts import deferred, interruptible
from neurodeploy.limits import GIB, format_bytes, parse_size
from neurodeploy.pipeline import OUTPUT_FILES, write_outputs

from snn_models import TutorialNet

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def model(tmp_path) -> Path:
    return write_tree(tmp_path / "net.nir", graph_tree("mlp"))


def refused(argv, tmp_path, message, *, default_limit=False, report_dir=None):
    """The case ends with exit 2, one line containing ``message``, nothing written.
    ``default_limit``: under the default memory limit (80% of this machine's), as a user meets it."""
    outcome = run_case(argv, tmp_path, expect="error", report_dir=report_dir, memory_limit=None if default_limit else FUZZ_MEMORY_LIMIT)
    check(outcome)
    assert message in outcome.stderr, outcome.stderr
    return outcome


# --------------------------------------------------------------------------- the NIR file
def test_truncated_and_damaged_nir_files(model, tmp_path):
    data = model.read_bytes()
    (tmp_path / "truncated.nir").write_bytes(data[: len(data) // 2])
    refused([tmp_path / "truncated.nir"], tmp_path, "damaged HDF5 file")
    for position in (0, 8, 40, 96, 200, 600, 1200, 2400, len(data) - 10):  # superblock, object headers, B-trees, data
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        (tmp_path / "flipped.nir").write_bytes(bytes(damaged))
        check(run_case([tmp_path / "flipped.nir", "--target", "none"], tmp_path))  # exit 2 in one line, or a clean run


@pytest.mark.parametrize("remove, message", [
    (("node", "nodes"), "lacks the field(s) nodes"),
    (("node", "edges"), "lacks the field(s) edges"),
    (("node", "nodes", "fc1", "weight"), "node 'fc1' (Affine) lacks the field(s) weight"),
    (("node", "nodes", "lif1", "tau"), "node 'lif1' (LIF) lacks the field(s) tau"),
    (("node", "nodes", "input", "shape"), "node 'input' (Input) lacks the field(s) shape"),
])
def test_missing_required_fields(tmp_path, remove, message):
    tree = graph_tree("mlp")
    holder = tree
    for key in remove[:-1]:
        holder = holder[key]
    holder.pop(remove[-1])
    refused([write_tree(tmp_path / "m.nir", tree)], tmp_path, message)


def test_node_types_that_are_no_text_or_no_nir_type(tmp_path):
    tree = graph_tree("mlp")
    tree["node"]["nodes"]["lif1"]["type"] = np.arange(3)  # nir's str2NIRNode asserted on this
    refused([write_tree(tmp_path / "m.nir", tree)], tmp_path, "node 'lif1' has type")


@pytest.mark.parametrize("dt", ["abc", float("nan"), -1e-3, 0.0])
def test_metadata_dt_must_be_a_positive_number(tmp_path, dt):
    tree = graph_tree("mlp")
    tree["node"]["metadata"] = {"dt": dt}
    refused([write_tree(tmp_path / "m.nir", tree), "--target", "cpu"], tmp_path, "graph metadata dt = ")
    # --dt decides instead, so the metadata is not used
    check(run_case([tmp_path / "m.nir", "--target", "none", "--dt", "1e-3"], tmp_path, expect="ok"))


def test_a_flatten_that_contradicts_its_input_is_refused(tmp_path):
    tree = graph_tree("conv")
    tree["node"]["nodes"]["flat"]["input_type"] = np.array([3, 2, 2])
    refused([write_tree(tmp_path / "m.nir", tree)], tmp_path, "node 'flat' (Flatten): declares input shape [3, 2, 2] but receives [3, 3, 3]")


def test_a_convolution_that_contradicts_its_input_is_refused(tmp_path):
    tree = graph_tree("conv")
    tree["node"]["nodes"]["conv"]["input_shape"] = np.array([5, 5])
    refused([write_tree(tmp_path / "m.nir", tree)], tmp_path, "node 'conv' (Conv2d): declares input shape [5, 5] but receives [6, 6]")


def test_parameters_of_the_wrong_kind(tmp_path):
    for value, shown in ((np.array([b"a"] * 5), "|S1"), (np.full(5, 1 + 2j), "complex128")):
        tree = graph_tree("mlp")
        tree["node"]["nodes"]["lif1"]["v_threshold"] = value
        refused([write_tree(tmp_path / "m.nir", tree)], tmp_path, f"field v_threshold holds an array of dtype {shown}")


def test_links_to_other_files_are_refused(tmp_path, model):
    import h5py

    with h5py.File(model, "a") as handle:
        handle["node/nodes/lif1/tau"].attrs["x"] = 1
        del handle["node/nodes/lif1/tau"]
        handle["node/nodes/lif1/tau"] = h5py.ExternalLink("/etc/passwd", "/x")
    refused([model], tmp_path, "/node/nodes/lif1/tau is a ExternalLink")


# --------------------------------------------------------------------------- options
@pytest.mark.parametrize("argv, message", [
    (["--target", "gpu"], "error: argument --target: invalid choice: 'gpu'"),
    (["--steps", "ten"], "error: argument --steps: invalid int value: 'ten'"),
    (["--dt", "-1e-4"], "argument --dt: expected one argument (a value that starts with '-' is written --option=VALUE"),
    (["--dt=-1e-4"], "--dt -0.0001: must be a finite number > 0"),
    (["--seed=-1"], "--seed -1: must be a whole number 0..9223372036854775807"),
    (["--finetune-lr", "nan"], "--finetune-lr nan: must be a finite number > 0"),
    (["--target", "torch", "--device", "meta"], "--device meta: torch cannot run the engine there"),
    (["--target", "none", "--device", "meta"], "--device meta is the device of the targets that run on torch"),
    (["--memory-limit", "lots"], "--memory-limit 'lots': not a size"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_options_are_one_line(model, tmp_path, argv, message):
    outcome = refused([model, *argv], tmp_path, message)
    assert "usage:" not in outcome.stderr


def test_help_says_how_pt_files_load():
    done = subprocess.run([sys.executable, str(ROOT / "deploy.py"), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--trust-pickle" in done.stdout and "weights_only=True" in done.stdout
    readme = (ROOT / "README.md").read_text()
    assert "--trust-pickle" in readme and "weights_only=True" in readme


# --------------------------------------------------------------------------- input arrays and fine-tuning data
def test_zero_step_and_zero_sample_inputs(model, tmp_path):
    for shape in ((0, 2, 6), (5, 0, 6)):
        np.save(tmp_path / "x.npy", np.zeros(shape))
        refused([model, "--input", tmp_path / "x.npy", "--target", "cpu"], tmp_path, "holds no input (0 steps or 0 samples)")


def test_an_npz_given_as_input(model, tmp_path):
    np.savez(tmp_path / "x.npz", inputs=np.zeros((5, 2, 6)))
    refused([model, "--input", tmp_path / "x.npz", "--target", "cpu"], tmp_path, "a .npz archive of arrays, not one .npy array")


def test_an_input_that_declares_more_than_it_holds(model, tmp_path):
    with (tmp_path / "x.npy").open("wb") as handle:  # the header says 6e12 values; the file holds none
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6, 6)})
    refused([model, "--input", tmp_path / "x.npy", "--target", "cpu"], tmp_path, "not a .npy array")


@pytest.fixture
def pickled_model(tmp_path) -> Path:
    torch.save(TutorialNet(n_in=6, n_hidden=5, n_out=3), tmp_path / "net.pt")
    return tmp_path / "net.pt"


def test_empty_or_malformed_finetune_data(pickled_model, tmp_path):
    for name, inputs, labels, message in [
        ("empty", np.zeros((5, 0, 6)), np.zeros(0, int), "with at least one step and one sample"),
        ("text", np.array([["a"]]), np.zeros(1, int), "must hold numbers"),
    ]:
        np.savez(tmp_path / f"{name}.npz", inputs=inputs, labels=labels)
        outcome = run_case([pickled_model, "--trust-pickle", "--finetune", "1", "--finetune-data", tmp_path / f"{name}.npz"], tmp_path)
        warning, error = outcome.stderr.splitlines()  # the --trust-pickle warning, then the error
        assert outcome.status == 2 and warning.startswith("warning: --trust-pickle") and message in error, outcome.describe()
        assert not (tmp_path / "report").exists()


# --------------------------------------------------------------------------- safe model loading
class _RunsCode:
    """Unpickling this creates the marker file: a model file that runs code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("name, zipped", [("evil.pt", False), ("evil.pth", True), ("evil", False), ("evil-zip", True)])
def test_model_files_run_no_code_without_trust_pickle(tmp_path, name, zipped):
    path = tmp_path / name
    if zipped:
        torch.save({"model": _RunsCode(tmp_path / MARKER)}, path)  # a zip archive (PK magic)
    else:
        path.write_bytes(pickle.dumps(_RunsCode(tmp_path / MARKER), protocol=2))  # a bare pickle (0x80 magic)
    outcome = refused([path, "--target", "none"], tmp_path, "pass --trust-pickle only if you trust this file")
    assert "code execution" not in outcome.problems and not (tmp_path / MARKER).exists()
    trusted = run_case([path, "--target", "none", "--trust-pickle"], tmp_path)  # the flag is what lets it run
    assert (tmp_path / MARKER).exists() and trusted.status == 2
    assert trusted.stderr.startswith("warning: --trust-pickle: unpickling")


def test_a_pickled_module_loads_only_with_trust_pickle(pickled_model, tmp_path):
    refused([pickled_model, "--target", "none"], tmp_path, "holds pickled Python objects (snn_models.TutorialNet)")
    outcome = run_case([pickled_model, "--target", "none", "--trust-pickle"], tmp_path, expect="ok")
    assert outcome.status == 0 and outcome.stderr.count("\n") == 1 and "warning: --trust-pickle" in outcome.stderr


# --------------------------------------------------------------------------- profiles
def test_profile_yaml_that_is_not_utf8_deep_or_a_billion_laughs(model, tmp_path):
    laughs = "name: x\nsystem: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")) + "core: *i\n"
    for text, message in [
        (b"name: \xff\xfe\n", "not UTF-8 text (byte 6)"),
        (("name: x\nsystem: " + "[\n" * 2999 + "]" * 2999).encode(), "nested more than 16 levels deep"),  # 2,999 lines
        (("name: x\nsystem: " + "[" * 3000 + "]" * 3000).encode(), "nested more than 16 levels deep"),
        (laughs.encode(), "uses the YAML alias *a"),
    ]:
        (tmp_path / "chip.yaml").write_bytes(text)
        refused([model, "--profile", tmp_path / "chip.yaml"], tmp_path, message)


@pytest.mark.parametrize("key, value", [("weight_exponent_min", -2147483648), ("max_synaptic_delay", 10**9), ("state_bits", 64)])
def test_pathological_profile_values(model, tmp_path, key, value):
    raw = yaml.safe_load((PROFILE_DIR / "loihi2.yaml").read_text())
    raw["arithmetic"][key] = value
    (tmp_path / "chip.yaml").write_text(yaml.safe_dump(raw))
    refused([model, "--profile", tmp_path / "chip.yaml"], tmp_path, f"arithmetic.{key} = {value} is impossible")


def test_every_profile_field_has_a_range():
    import dataclasses

    for section, cls in profile_module._SECTIONS.items():
        for f in dataclasses.fields(cls):
            key = f"{section}.{f.name}"
            if f.type in ("int", int):
                assert key in profile_module._INT_RANGES, key
            elif f.type == "tuple[int, int]":
                assert key in profile_module._PAIR_RANGES, key


# --------------------------------------------------------------------------- resource limits
def test_an_input_declared_with_ten_billion_values_is_refused_before_allocating(tmp_path):
    tree = graph_tree("mlp")
    tree["node"]["nodes"]["input"]["shape"] = np.array([10**10])
    tree["node"]["nodes"]["lif1"] = {"type": "LIF", **{k: np.float64(1.0) for k in ("tau", "r", "v_leak", "v_threshold", "v_reset")}}
    tree["node"]["nodes"].pop("fc1")
    tree["node"]["edges"] = np.array([[b"input", b"lif1"], [b"lif1", b"fc2"], [b"fc2", b"lif2"], [b"lif2", b"output"]])
    refused([write_tree(tmp_path / "m.nir", tree), "--target", "cpu", "--memory-limit", "16GiB"], tmp_path,
            "node 'lif1' (LIF): parameters for 10000000000 neurons needs about 186 GiB, above the memory limit of 16 GiB")


@pytest.mark.parametrize("argv, message", [
    (["--steps", "1000000000000"], "random input of 1000000000000 step(s) x 1 sample(s) x 6 inputs needs about 5.46 TiB, above the memory limit"),
    (["--batch", "1000000000", "--memory-limit", "16GiB"], "random input of 100 step(s) x 1000000000 sample(s) x 6 inputs needs about 559 GiB, "
     "above the memory limit of 16 GiB: lower --steps or --batch, or raise the limit with --memory-limit"),
])
def test_steps_and_batch_beyond_memory_are_refused_with_the_estimate_and_the_limit(model, tmp_path, argv, message):
    refused([model, "--target", "cpu", *argv], tmp_path, message, default_limit=True)


def test_the_default_limit_is_most_of_this_machines_memory():
    from neurodeploy.limits import active_memory_limit, machine_memory, memory_limit

    assert GIB < machine_memory() and active_memory_limit() == int(0.8 * machine_memory())
    with memory_limit(GIB):
        assert active_memory_limit() == GIB


def test_a_run_that_fits_its_input_but_not_its_recordings(model, tmp_path):
    outcome = refused([model, "--target", "cpu", "--record", "--steps", "200000", "--batch", "64", "--memory-limit", "300MiB"], tmp_path,
                      "running 200000 step(s) x 64 sample(s) (input ")
    assert "recordings" in outcome.stderr and "leave out --record" in outcome.stderr


def test_a_dataset_that_declares_terabytes_but_stores_nothing(tmp_path):
    tree = graph_tree("mlp")
    tree["node"]["nodes"]["fc1"]["weight"] = DeclaredOnly((1 << 20, 1 << 20))
    path = write_tree(tmp_path / "m.nir", tree)
    assert path.stat().st_size < 1 << 20
    refused([path, "--target", "none", "--memory-limit", "16GiB"], tmp_path, "reading its arrays (declared sizes) needs about 4 TiB")


def test_sizes():
    assert parse_size("8GiB") == 8 * GIB and parse_size("2e9") == 2_000_000_000 and parse_size("512m") == 512 << 20
    for bad in ("", "-1", "0", "eight", "1e400"):
        with pytest.raises(UserError):
            parse_size(bad)
    assert format_bytes(5.46 * 2**40) == "5.46 TiB" and format_bytes(2**2000).startswith("about 2^2000")


# --------------------------------------------------------------------------- the report directory
def test_report_dir_problems_are_found_before_any_work(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "has-dir" / "report.json").mkdir(parents=True)
    missing_model = tmp_path / "absent.nir"  # the report directory is checked first: its error, not the model's
    for report_dir, message in [
        (tmp_path / "file" / "report", "cannot be created: "),
        (Path("/proc/neurodeploy-report"), "cannot be created"),
        (tmp_path / "dangling", "a symbolic link to"),
        (tmp_path / "has-dir", "report.json there is a directory"),
        (tmp_path / "file", "exists and is not a directory"),
    ]:
        refused([missing_model, "--report-dir", report_dir], tmp_path, message, report_dir=report_dir)
    assert sorted(p.name for p in (tmp_path / "has-dir").iterdir()) == ["report.json"]  # no .tmp files left


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_an_unwritable_report_dir(model, tmp_path):
    (tmp_path / "ro").mkdir(mode=0o555)
    refused([model, "--report-dir", tmp_path / "ro" / "report"], tmp_path, "cannot be created", report_dir=tmp_path / "ro" / "report")


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")  # a writer that fails is a failure
def test_concurrent_reports_into_one_directory_never_mix(tmp_path):
    runs = [{name: f"{run}:{name}".encode() * 1000 for name in OUTPUT_FILES[: 2 + run % 3]} for run in range(6)]
    for _ in range(10):
        threads = [threading.Thread(target=write_outputs, args=(files, tmp_path / "r")) for files in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        present = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir()}
        assert present in runs  # one run's complete report, nothing of another's, no temporary files


def test_a_failed_write_leaves_the_earlier_report(tmp_path):
    write_outputs({"report.json": b"old", "mesh.png": b"old"}, tmp_path / "r")
    with pytest.raises(UserError, match="cannot write the report"):
        write_outputs({"report.json": b"new", "missing-folder/mesh.png": b"new"}, tmp_path / "r")
    assert {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir()} == {"report.json": b"old", "mesh.png": b"old"}


# --------------------------------------------------------------------------- signals
def test_a_signal_during_a_deferred_block_acts_after_it():
    finished = []
    with pytest.raises(Interrupted) as stop, interruptible():
        with deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            finished.append(True)  # the block runs to its end first
    assert finished and stop.value.exit_status == 143


def _report_child_state(connection):
    import ctypes

    libc = ctypes.CDLL(None)
    death_signal = ctypes.c_int()
    libc.prctl(2, ctypes.byref(death_signal))  # PR_GET_PDEATHSIG
    connection.send((death_signal.value, signal.getsignal(signal.SIGINT) == signal.SIG_IGN, signal.getsignal(signal.SIGTERM) == signal.SIG_IGN))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_processes_forked_during_a_lava_run_die_with_the_parent_and_ignore_ctrl_c():
    from neurodeploy.backends.lava_runtime import contained

    context = multiprocessing.get_context("fork")
    states = []
    with interruptible():  # the parent handles both signals (a shell may have started the tests with SIGINT ignored)
        for inside in (True, False):
            ours, theirs = context.Pipe()
            child = context.Process(target=_report_child_state, args=(theirs,))
            if inside:
                with contained():
                    child.start()
                    states.append(ours.recv())
            else:
                child.start()
                states.append(ours.recv())
            child.join()
    assert states[0] == (signal.SIGKILL, True, True)  # forked by a run: killed with the parent, deaf to Ctrl-C and SIGTERM
    assert states[1] == (0, False, False)  # any other fork is left alone


def test_main_turns_interrupts_into_one_line_and_the_signal_status(model, tmp_path, monkeypatch, capsys):
    from neurodeploy import pipeline

    def interrupted(options):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the run")

    monkeypatch.setattr(pipeline, "deploy", interrupted)
    status = cli.main([str(model), "--report-dir", str(tmp_path / "r")])
    assert status == 143 and capsys.readouterr().err == "interrupted; nothing written\n" and not (tmp_path / "r").exists()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # main put the handlers back


def test_nothing_is_left_in_a_shared_temp_dir(tmp_path, model):
    shutil.rmtree(tmp_path / "report", ignore_errors=True)
    before = set(os.listdir(tmp_path))
    check(run_case([model, "--target", "cpu", "--steps", "5"], tmp_path, expect="ok"))
    assert set(os.listdir(tmp_path)) - before == {"report"}
    assert not [p for p in (tmp_path / "report").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("kind", ["conv", "mlp"])
def test_malformed_metadata_dt_is_refused_whatever_the_dialect(kind, tmp_path):
    """The conv graph reads as Sinabs, which ignores dt: its malformed metadata is still refused."""
    tree = graph_tree(kind)
    tree["node"]["metadata"] = {"dt": "abc"}
    outcome = run_case([write_tree(tmp_path / "m.nir", tree), "--target", "none"], tmp_path, expect="error")
    check(outcome)
    assert "metadata dt = 'abc'" in outcome.stderr
