"""Learning speed as a user meets it: workload (a) (examples/diehl_cook.py: Poisson digits -> an
STDP layer with lateral inhibition and adaptive thresholds) learned on the CPU backend and on
Lava's simulator, batch 1 (samples presented one after another, the state reset between them).

    python benchmarks/learning_speed.py [--neurons 200] [--samples 100] [--steps 150] [--repeats 3] [--out FILE]

Each run is a fresh Python process that imports neurodeploy, builds the network, its learning
specification and the encoded samples, then calls ``training.learn.learn_on_chip`` (compile,
lower, build the target's learning layer, present every sample, write the learned network as
NIR; no evaluation): "learn s" is that call, "process s" the whole process as its parent sees
it (interpreter start, imports and numba's cache load included), "CPU s" the user + system
time of the process and every process it started (Lava runs each of its processes in a forked
OS process), "learn CPU s" that of the learning call alone (on a loaded machine the fairer
figure: wall-clock times then measure the other jobs too). The CPU backend's compiled engine comes from numba's cache: one untimed
run first fills it; loading it is part of "learn s". "warm" (CPU backend only)
repeats the call in the same process, the engine already loaded: what each further
learning run costs. Every repeat checks that both targets learn identical weights. The load
average of the machine is printed before and after (other jobs slow a run: compare the CPU
columns too). Medians over the repeats; results as JSON to --out.
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
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "learning_speed.json"))
    a = ap.parse_args()
    import numpy as np

    load_before = os.getloadavg()
    machine = platform.processor() or platform.machine()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; {os.cpu_count()} cores; {machine}")
    rows = {"cpu": [], "loihi-sim": []}
    with tempfile.TemporaryDirectory() as tmp:
        run_child("cpu", a.neurons, 2, a.steps, Path(tmp) / "warm.npy")  # fills numba's cache
        for repeat in range(a.repeats):
            paths = {target: Path(tmp) / f"{target}-{repeat}.npy" for target in rows}
            for target in rows:
                rows[target].append(run_child(target, a.neurons, a.samples, a.steps, paths[target]))
            if not np.array_equal(np.load(paths["cpu"]), np.load(paths["loihi-sim"])):
                raise SystemExit("the CPU backend and Lava learned different weights")
            print(f"repeat {repeat}: " + ", ".join(f"{t} learn {r[-1]['learn_s']:.2f} s (warm {r[-1]['learn_warm_s'] or 0:.2f} s), "
                                                   f"learn CPU {r[-1]['learn_cpu_s']:.2f} s, process {r[-1]['process_s']:.2f} s, CPU {r[-1]['cpu_s']:.2f} s"
                                                   for t, r in rows.items()), flush=True)
    load_after = os.getloadavg()
    steps_total = a.samples * a.steps
    median = {t: {k: statistics.median(r[k] for r in runs) for k in ("learn_s", "learn_cpu_s", "process_s", "cpu_s", "setup_s")} for t, runs in rows.items()}
    summary = {
        "workload": "diehl_cook (examples/diehl_cook.py)", "neurons": a.neurons, "inputs": 64, "samples": a.samples, "steps_per_sample": a.steps,
        "batch": 1, "repeats": a.repeats, "load_before": load_before, "load_after": load_after, "cores": os.cpu_count(),
        "spikes_per_sample": rows["cpu"][-1]["spikes_per_sample"], "median": median,
        "steps_per_s": {t: steps_total / m["learn_s"] for t, m in median.items()},
        "speedup": {k: median["loihi-sim"][k] / median["cpu"][k] for k in ("learn_s", "learn_cpu_s", "process_s", "cpu_s")},
        "speedup_warm": {"learn_s": median["loihi-sim"]["learn_s"] / statistics.median(r["learn_warm_s"] for r in rows["cpu"]),
                         "learn_cpu_s": median["loihi-sim"]["learn_cpu_s"] / statistics.median(r["learn_warm_cpu_s"] for r in rows["cpu"])},
        "runs": rows,
    }
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
    Path(a.out).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
