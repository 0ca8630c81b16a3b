"""Learning speed as a user meets it: workload (a) (examples/diehl_cook.py: Poisson digits -> an
STDP layer with lateral inhibition and adaptive thresholds) learned on the CPU backend and on
Lava's simulator, batch 1 (samples presented one after another, the state reset between them).

    python benchmarks/learning_speed.py [--samples 100 300] [--cpu-repeats 3] [--lava-repeats 1] [--out FILE]

Each run is a fresh Python process that imports neurodeploy, builds the network, its learning
specification and the encoded samples, then calls ``training.learn.learn_on_chip`` (compile,
lower, build the target's learning layer, present every sample, write the learned network as
NIR; no evaluation). "learn" is that call as a user's first learning run in a process meets it:
for the CPU backend it includes importing numba and loading the compiled engine from numba's
cache (not compiling it: an untimed run first fills the cache, as ``make setup``'s warm-up does);
"CPU" is the user + system time of the process and every process it started during the call
(Lava runs each of its processes in a forked OS process): on a loaded machine the fairer figure,
since wall-clock times then measure the other jobs too. "warm" (CPU backend only) repeats the call
in the same process: what each further learning run costs. Every run checks that both targets
learn identical weights. Prints a table (medians over the repeats) and the load average before
and after; writes JSON to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time
start = time.perf_counter()
sys.path.insert(0, {root!r}); sys.path.insert(0, {examples!r})
import numpy as np
import diehl_cook
from neurodeploy.frontends.model import LoadedModel
from neurodeploy.hardware.profile import load_profile
from neurodeploy.learning.spec import spec_from_dict
from neurodeploy.training.learn import LearnRequest, learn_on_chip
graph, spec = diehl_cook.build({neurons}, 0)
spec.pop("readout")
train, _ = diehl_cook.data({samples}, 1, {steps}, diehl_cook.DEFAULTS["max_rate"], 0)
request = LearnRequest(spec=spec_from_dict(spec), target={target!r}, epochs=1, profile=load_profile("loihi2"), train=train, test=None)
def cpu_time():
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) for f in ("ru_utime", "ru_stime"))
cpu0 = cpu_time()
ready = time.perf_counter()
learned = learn_on_chip(LoadedModel(graph), request)
done = time.perf_counter()
learn_cpu = cpu_time() - cpu0
warm = warm_cpu = None
if {target!r} == "cpu":  # the same call again in this process: the compiled engine already loaded
    t, c = time.perf_counter(), cpu_time()
    learn_on_chip(LoadedModel(graph), request)
    warm, warm_cpu = time.perf_counter() - t, cpu_time() - c
np.save({weights!r}, np.asarray(learned.compiled.quantised.layer("layer").projections[0].weights))
print(json.dumps({{"learn_s": done - ready, "setup_s": ready - start, "learn_warm_s": warm, "learn_warm_cpu_s": warm_cpu, "learn_cpu_s": learn_cpu,
                   "spikes_per_sample": float(learned.summary["accuracy_by_epoch"][-1]["spikes_per_sample"])}}))
"""


def run_child(target: str, neurons: int, samples: int, steps: int, weights: Path) -> dict:
    code = CHILD.format(root=str(ROOT), examples=str(ROOT / "examples"), neurons=neurons, samples=samples, steps=steps, target=target,
                        weights=str(weights))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(f"{target}: {done.stderr[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out.update(process_s=wall, cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=200)
    ap.add_argument("--samples", type=int, nargs="+", default=[100, 300])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--cpu-repeats", type=int, default=3)
    ap.add_argument("--lava-repeats", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "learning_speed.json"))
    a = ap.parse_args()
    import numpy as np

    load_before = os.getloadavg()
    machine = platform.processor() or platform.machine()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; {os.cpu_count()} cores; {machine}", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        run_child("cpu", a.neurons, 2, a.steps, Path(tmp) / "warm.npy")  # fills numba's cache (make setup's warm-up does the same)
        for samples in a.samples:
            runs = {"cpu": [], "loihi-sim": []}
            for target, repeats in (("loihi-sim", a.lava_repeats), ("cpu", a.cpu_repeats)):
                for repeat in range(repeats):
                    path = Path(tmp) / f"{target}-{samples}-{repeat}.npy"
                    runs[target].append(run_child(target, a.neurons, samples, a.steps, path))
                    if not np.array_equal(np.load(path), np.load(Path(tmp) / f"loihi-sim-{samples}-0.npy")):
                        raise SystemExit(f"{samples} samples: the CPU backend and Lava learned different weights")
                    print(f"{samples} samples, {target}: learn {runs[target][-1]['learn_s']:.2f} s, CPU {runs[target][-1]['learn_cpu_s']:.2f} s", flush=True)
            results.append(_row(samples, a.steps, runs))
    load_after = os.getloadavg()
    summary = {
        "workload": "diehl_cook (examples/diehl_cook.py)", "neurons": a.neurons, "inputs": 64, "steps_per_sample": a.steps, "batch": 1,
        "cpu_repeats": a.cpu_repeats, "lava_repeats": a.lava_repeats, "load_before": load_before, "load_after": load_after,
        "cores": os.cpu_count(), "machine": machine, "python": platform.python_version(), "rows": results,
    }
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    print(table(results))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(summary, indent=1))
    print(f"written: {a.out}")


def _row(samples: int, steps: int, runs: dict) -> dict:
    median = {t: {k: statistics.median(r[k] for r in rs) for k in ("learn_s", "learn_cpu_s", "process_s", "cpu_s", "setup_s")}
              for t, rs in runs.items()}
    warm = {k: statistics.median(r[f"learn_warm{k}"] for r in runs["cpu"]) for k in ("_s", "_cpu_s")}
    lava, cpu = median["loihi-sim"], median["cpu"]
    return {"samples": samples, "steps": samples * steps, "spikes_per_sample": runs["cpu"][-1]["spikes_per_sample"], "median": median,
            "cpu_warm": {"learn_s": warm["_s"], "learn_cpu_s": warm["_cpu_s"]},
            "speedup": {"learn_s": lava["learn_s"] / cpu["learn_s"], "learn_cpu_s": lava["learn_cpu_s"] / cpu["learn_cpu_s"]},
            "speedup_warm": {"learn_s": lava["learn_s"] / warm["_s"], "learn_cpu_s": lava["learn_cpu_s"] / warm["_cpu_s"]},
            "runs": runs}


def table(rows: list[dict]) -> str:
    """The results as a Markdown table (docs/benchmarks.md)."""
    lines = ["| samples | Lava learn | its CPU | CPU backend learn | its CPU | warm | warm CPU | speed-up, CPU time | speed-up, wall |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lava, cpu, warm = r["median"]["loihi-sim"], r["median"]["cpu"], r["cpu_warm"]
        up, up_warm = r["speedup"], r["speedup_warm"]
        lines.append(f"| {r['samples']} x {r['steps'] // r['samples']} steps | {lava['learn_s']:.1f} s | {lava['learn_cpu_s']:.1f} s "
                     f"| {cpu['learn_s']:.2f} s | {cpu['learn_cpu_s']:.2f} s | {warm['learn_s']:.2f} s | {warm['learn_cpu_s']:.2f} s "
                     f"| {up['learn_cpu_s']:.0f}x (warm {up_warm['learn_cpu_s']:.0f}x) | {up['learn_s']:.0f}x (warm {up_warm['learn_s']:.0f}x) |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
