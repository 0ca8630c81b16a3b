"""Ctrl-C and SIGTERM during a Lava deployment: deploy.py stops Lava's runtime and every one
of its processes within seconds, removes its /dev/shm segments and temporary directories,
prints one line and exits 130 / 143, writing nothing.

deploy.py runs as a subprocess in its own session (so that "Ctrl-C" can go to its whole
process group, as a terminal sends it) with a private TMPDIR (so that any temporary
directory left behind, Lava's or multiprocessing's, is seen). The test waits until Lava's
processes run and have mapped their shared memory, then signals."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile import graph_tree, write_tree

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 240
STOP_TIMEOUT_S = 30  # a generous bound on "within a few seconds", for a loaded CI machine


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc: each process's parent)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _shared_memory(pids: list[int]) -> set[str]:
    """The /dev/shm files these processes have mapped."""
    segments = set()
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
                if "/dev/shm/" in line:
                    segments.add(line.split()[-1])
        except OSError:
            continue
    return segments


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signal_number, whole_group, status", [(signal.SIGINT, True, 130), (signal.SIGTERM, False, 143)])
def test_an_interrupted_lava_run_leaves_nothing_behind(tmp_path, signal_number, whole_group, status):
    model = write_tree(tmp_path / "net.nir", graph_tree("mlp"))
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    command = [sys.executable, str(ROOT / "deploy.py"), str(model), "--target", "loihi-sim", "--steps", "200000", "--report-dir", str(tmp_path / "r")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               env={**os.environ, "TMPDIR": str(private_tmp)})
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        children, segments = [], set()
        while time.monotonic() < deadline and process.poll() is None:
            children = _children(process.pid)
            segments = _shared_memory([process.pid, *children])
            if len(children) >= 3 and segments:  # the shared-memory manager and Lava's processes run
                break
            time.sleep(0.2)
        assert process.poll() is None and children and segments, f"Lava did not start: {process.communicate()}"
        time.sleep(1.0)  # into the run proper
        children = _children(process.pid)
        segments = _shared_memory([process.pid, *children])
        os.killpg(process.pid, signal_number) if whole_group else os.kill(process.pid, signal_number)
        out, err = process.communicate(timeout=STOP_TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == status, err
    assert err == "interrupted; nothing written\n" and out == ""
    time.sleep(0.5)  # the kernel reaps what the parent's death released
    assert not [pid for pid in children if _alive(pid)], "Lava processes outlived the run"
    assert not [s for s in segments if os.path.exists(s)], "shared memory segments were left in /dev/shm"
    assert not list(private_tmp.iterdir()), "temporary files were left"
    assert not (tmp_path / "r").exists()
