"""The hostile-input harness: run deploy.py's ``main()`` in this process on one case and say
what went wrong, if anything, in the categories of the guarantee (docs/hostile_input.md):

    traceback           an exception escaped main()
    hang                no answer within HANG_S seconds
    blow-up             MemoryError, or the process's peak memory grew by more than BLOW_UP_BYTES
    exit 0 on invalid   a case that must be refused ran
    exit 2 on valid     a case that must run was refused
    code execution      a model file ran code (it would create the case's marker file)
    multi-line exit 2   exit 2 without exactly one "error: ..." line on stderr
    partial output      exit 2 and something in the report directory, or on stdout
    other exit status   neither 0 nor 2 (nor 3, which needs --verify)

``run_case`` is what the fuzz tests (test_fuzz.py) and the fixed regressions
(test_hostile_input.py) call. Every case gets a fresh directory and report directory, and,
unless it sets its own, a small ``--memory-limit`` so that a refused allocation costs nothing.
Counts per category go into ``STATS``; with NEURODEPLOY_FUZZ_REPORT=FILE they are written
there as JSON when the process ends (for the larger measured runs, see docs/hostile_input.md).
"""
from __future__ import annotations

import atexit
import collections
import contextlib
import io
import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from neurodeploy import cli

HANG_S = 60
BLOW_UP_BYTES = 2 << 30
FUZZ_MEMORY_LIMIT = "512MiB"
MARKER = "EXECUTED"  # hostile model files try to create this file in the case's directory
CATEGORIES = ("traceback", "hang", "blow-up", "exit 0 on invalid", "exit 2 on valid", "code execution", "multi-line exit 2",
              "partial output", "other exit status")
STATS: collections.Counter = collections.Counter()
TIMES: collections.Counter = collections.Counter()  # seconds spent, by exit status
EXAMPLES: dict[str, list[str]] = collections.defaultdict(list)  # category -> the first few cases' descriptions


@dataclass
class Outcome:
    argv: list[str]
    status: int | None
    stdout: str
    stderr: str
    error: str | None  # the traceback of an exception that escaped main()
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""  # what the case is, in the fuzzer's words

    def describe(self) -> str:
        return f"{self.note} argv={self.argv} status={self.status} problems={self.problems} stderr={self.stderr[-600:]!r} error={(self.error or '')[-1500:]}"


class _Hang(BaseException):
    pass


def _on_alarm(_signal, _frame):
    raise _Hang()


@contextlib.contextmanager
def _captured_fd2(target):
    """Also catch what C libraries write to file descriptor 2 (HDF5, LLVM, ...)."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(target.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_case(argv: list[str], workdir: Path, expect: str = "any", report_dir: Path | None = None, note: str = "",
             memory_limit: str | None = FUZZ_MEMORY_LIMIT) -> Outcome:
    """Run ``main(argv)`` with ``workdir`` as the current directory; ``expect`` is "ok" (must
    run), "error" (must be refused) or "any"; ``memory_limit``: the --memory-limit added
    unless argv gives one (None: the default limit). Returns the outcome with its problems."""
    argv = [str(a) for a in argv]
    if report_dir is None and not any(a == "--report-dir" or a.startswith("--report-dir=") for a in argv):
        report_dir = workdir / "report"
        argv += ["--report-dir", str(report_dir)]
    if memory_limit is not None and not any(a.startswith("--memory-limit") for a in argv):
        argv += ["--memory-limit", memory_limit]
    before = _listing(report_dir)
    out, err = io.StringIO(), io.StringIO()
    status, error = None, None
    peak = _peak_rss()
    start = time.perf_counter()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(HANG_S)
    cwd = os.getcwd()
    with tempfile.TemporaryFile(mode="w+") as fd2:
        try:
            os.chdir(workdir)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _captured_fd2(fd2):
                status = cli.main(argv)
        except _Hang:
            error = "hang"
        except BaseException:  # noqa: BLE001 - whatever escapes is what this harness reports
            error = traceback.format_exc()
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
            os.chdir(cwd)
        fd2.seek(0)
        c_level = fd2.read()
    outcome = Outcome(argv, status, out.getvalue(), err.getvalue() + c_level, error, seconds=time.perf_counter() - start, note=note)
    outcome.problems = _problems(outcome, expect, workdir, report_dir, before, _peak_rss() - peak)
    STATS["cases"] += 1
    STATS[f"expected {expect}"] += 1
    STATS[f"exit {status}" if error is None else "no exit"] += 1
    TIMES[f"exit {status}"] += outcome.seconds
    for problem in outcome.problems:
        STATS[problem] += 1
        if len(EXAMPLES[problem]) < 5:
            EXAMPLES[problem].append(outcome.describe())
    return outcome


def _listing(directory: Path | None) -> set[str] | None:
    if directory is None or not os.path.lexists(directory) or not directory.is_dir():
        return None
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


def _problems(o: Outcome, expect: str, workdir: Path, report_dir: Path | None, before, rss_growth: int) -> list[str]:
    problems = []
    if o.error == "hang":
        problems.append("hang")
    elif o.error is not None and ("MemoryError" in o.error or "ArrayMemoryError" in o.error):
        problems.append("blow-up")
    elif o.error is not None:
        problems.append("traceback")
    if rss_growth > BLOW_UP_BYTES and "blow-up" not in problems:
        problems.append("blow-up")
    if (workdir / MARKER).exists():
        problems.append("code execution")
    if o.error is not None:
        return problems
    if o.status == 2:
        lines = o.stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("error: ") or not o.stderr.endswith("\n") or "Traceback" in o.stderr:
            problems.append("multi-line exit 2")
        if o.stdout or _listing(report_dir) != before:
            problems.append("partial output")
        if expect == "ok":
            problems.append("exit 2 on valid")
    elif o.status == 0:
        if expect == "error":
            problems.append("exit 0 on invalid")
    elif not (o.status == 3 and any(a.startswith("--verify") for a in o.argv)):
        problems.append("other exit status")
    return problems


def _write_stats() -> None:
    path = os.environ.get("NEURODEPLOY_FUZZ_REPORT")
    if path and STATS:
        counts = {category: STATS.get(category, 0) for category in CATEGORIES}
        Path(path).write_text(json.dumps({"cases": STATS["cases"], "problems": counts, "outcomes": dict(STATS), "seconds": dict(TIMES),
                                          "examples": EXAMPLES},
                                         indent=2))


atexit.register(_write_stats)


def record_only() -> bool:
    """NEURODEPLOY_FUZZ_COUNT_ONLY=1: count problems without failing (to measure every category at once)."""
    return os.environ.get("NEURODEPLOY_FUZZ_COUNT_ONLY") == "1"


def check(outcome: Outcome) -> None:
    assert record_only() or not outcome.problems, outcome.describe()


# --------------------------------------------------------------------------- files
def write_tree(path: Path, tree: dict) -> Path:
    """Write nested dicts as HDF5 groups and everything else as datasets (the NIR layout)."""
    with h5py.File(path, "w") as handle:
        _write_group(handle, tree)
    return path


def _write_group(group, tree: dict) -> None:
    for key, value in tree.items():
        if isinstance(value, dict):
            _write_group(group.create_group(key), value)
        elif isinstance(value, DeclaredOnly):
            group.create_dataset(key, shape=value.shape, dtype=value.dtype, chunks=True, compression="gzip")
        else:
            group.create_dataset(key, data=value)


@dataclass(frozen=True)
class DeclaredOnly:
    """A dataset that declares a shape but stores nothing (chunked, never written): tiny on disk."""

    shape: tuple[int, ...]
    dtype: str = "float32"


def graph_tree(kind: str = "mlp") -> dict:
    """A small valid NIR graph as the nested dicts ``write_tree`` writes: "mlp" (Affine, LIF,
    Linear, CubaLIF), "conv" (Conv2d, IF, SumPool2d, Flatten, Linear, LI), "recurrent"
    (Linear, LIF with a self-edge through Linear, Delay) or "nested" (the mlp's first layer
    inside a subgraph)."""
    rng = np.random.default_rng(7)

    def lif(n):
        return {"type": "LIF", "tau": np.full(n, 5e-3), "r": np.full(n, 8.0), "v_leak": np.zeros(n), "v_threshold": np.full(n, 0.6),
                "v_reset": np.zeros(n)}

    if kind == "conv":
        nodes = {
            "input": {"type": "Input", "shape": np.array([2, 6, 6])},
            "conv": {"type": "Conv2d", "input_shape": np.array([6, 6]), "weight": rng.normal(0, 0.8, (3, 2, 3, 3)), "stride": np.array([1, 1]),
                     "padding": np.array([1, 1]), "dilation": np.array([1, 1]), "groups": 1, "bias": np.zeros(3)},
            "spk": {"type": "IF", "r": np.full((3, 6, 6), 100.0), "v_threshold": np.full((3, 6, 6), 0.5), "v_reset": np.zeros((3, 6, 6))},
            "pool": {"type": "SumPool2d", "kernel_size": np.array([2, 2]), "stride": np.array([2, 2]), "padding": np.array([0, 0])},
            "flat": {"type": "Flatten", "start_dim": 0, "end_dim": -1, "input_type": np.array([3, 3, 3])},
            "fc": {"type": "Linear", "weight": rng.normal(0, 0.5, (4, 27))},
            "out": {"type": "LI", "tau": np.full(4, 5e-3), "r": np.ones(4), "v_leak": np.zeros(4)},
            "output": {"type": "Output", "shape": np.array([4])},
        }
        edges = [("input", "conv"), ("conv", "spk"), ("spk", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "out"), ("out", "output")]
    elif kind == "recurrent":
        nodes = {
            "input": {"type": "Input", "shape": np.array([5])},
            "fc": {"type": "Linear", "weight": rng.normal(0, 1.0, (6, 5))},
            "lif": lif(6),
            "rec": {"type": "Linear", "weight": rng.normal(0, 0.3, (6, 6))},
            "delay": {"type": "Delay", "delay": np.full(6, 2e-3)},
            "fc2": {"type": "Affine", "weight": rng.normal(0, 1.0, (3, 6)), "bias": np.zeros(3)},
            "lif2": lif(3),
            "output": {"type": "Output", "shape": np.array([3])},
        }
        edges = [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "delay"), ("delay", "fc2"), ("fc2", "lif2"),
                 ("lif2", "output")]
    else:
        nodes = {
            "input": {"type": "Input", "shape": np.array([6])},
            "fc1": {"type": "Affine", "weight": rng.normal(0, 1.0, (5, 6)), "bias": np.zeros(5)},
            "lif1": lif(5),
            "fc2": {"type": "Linear", "weight": rng.normal(0, 1.0, (3, 5))},
            "lif2": {"type": "CubaLIF", "tau_syn": np.full(3, 3e-3), "tau_mem": np.full(3, 5e-3), "r": np.full(3, 8.0), "v_leak": np.zeros(3),
                     "v_threshold": np.full(3, 0.5), "v_reset": np.zeros(3), "w_in": np.full(3, 2.0)},
            "output": {"type": "Output", "shape": np.array([3])},
        }
        edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
        if kind == "nested":
            inner = {"type": "NIRGraph", "nodes": {"input": {"type": "Input", "shape": np.array([6])}, "fc1": nodes.pop("fc1"),
                                                   "lif1": nodes.pop("lif1"), "output": {"type": "Output", "shape": np.array([5])}},
                     "edges": _edges([("input", "fc1"), ("fc1", "lif1"), ("lif1", "output")])}
            nodes["sub"] = inner
            edges = [("input", "sub.input"), ("sub.output", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    return {"version": "1.0.8", "node": {"type": "NIRGraph", "nodes": nodes, "edges": _edges(edges), "metadata": {"dt": 1e-3}}}


def _edges(pairs) -> np.ndarray:
    return np.array([[a.encode(), b.encode()] for a, b in pairs])


INPUT_SIZE = {"mlp": 6, "conv": 72, "recurrent": 5, "nested": 6}
INPUT_SHAPE = {"mlp": (6,), "conv": (2, 6, 6), "recurrent": (5,), "nested": (6,)}
