"""The whole command as a user meets it, side by side in one run: `deploy.py` (Python started,
imports, load, compile, every run, report and plots written) against a plain snnTorch script
(Python started, torch and snnTorch imported, the model loaded, its float inference run) and
against `deploy.py --target loihi-sim` (Lava), on the same saved model and input.

    python benchmarks/whole_command.py                           # MLP 784-500-10, CNN, recurrent; 512 samples and 1
    python benchmarks/whole_command.py --networks mlp --batches 64,1 --lava-samples 0 --repeats 1   # a quick check

Each command runs in a fresh interpreter and is timed by the wall clock (and by its CPU time,
user + system, which other work on the machine disturbs less); the median of --repeats, the
commands of one row interleaved. The input file is read through a memory map by both the plain
script and deploy.py, so a batch of 1 reads one sample. The numba kernels are compiled before
timing (``make setup`` does that on installation: see neurodeploy/warmup.py). deploy.py's own
time parts (report.json's ``timing_s``) are kept. --lava-samples 0 leaves Lava out. Results go
to stdout (a table) and, as JSON, to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

PLAIN_SNNTORCH = """
import sys, numpy as np, torch
import whole_command  # noqa: F401 - the saved model's spike function
from snntorch import utils
model = torch.load(sys.argv[1], weights_only=False).eval()
x = torch.as_tensor(np.load(sys.argv[2], mmap_mode="r")[:, :int(sys.argv[3])], dtype=torch.float32)
shape = [int(s) for s in sys.argv[4].split(",")]
with torch.no_grad():
    utils.reset(model)
    for t in range(x.shape[0]):
        model(x[t].reshape(x.shape[1], *shape))
"""


def heaviside(x):
    """The spike function of the saved models: snnTorch's default surrogates cannot be pickled,
    and this file is importable by the timed commands (PYTHONPATH below)."""
    return (x > 0).float()


def saved_model(make, path: Path) -> None:
    import whole_command  # pickled by this module's name, not __main__'s

    model = make()
    for module in model.modules():
        if hasattr(module, "spike_grad"):
            module.spike_grad = whole_command.heaviside
    import torch

    torch.save(model, path)


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one command."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH")]))}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", default="mlp,cnn,rnn")
    parser.add_argument("--batches", default="512,1")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--lava-samples", type=int, default=4, help="samples of the Lava command (it runs samples one after another)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "whole_command.json"))
    args = parser.parse_args(argv)

    import torch
    from backend_speed import networks

    from neurodeploy.warmup import warm

    warm()
    python = sys.executable
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for name in args.networks.split(","):
            make, shape = networks()[name]
            model_path = scratch / f"{name}.pt"
            saved_model(make, model_path)
            batch_max = max(int(b) for b in args.batches.split(","))
            rng = np.random.default_rng(0)
            x = (rng.random((args.steps, batch_max, *shape)) < args.rate).astype(np.float32)
            input_path = scratch / f"{name}.npy"
            np.save(input_path, x)
            del x
            shape_text = ",".join(str(s) for s in shape)
            common = [python, "deploy.py", str(model_path), "--trust-pickle", "--input", str(input_path), "--input-shape", shape_text,
                      "--report-dir", str(scratch / "report")]
            for batch in (int(b) for b in args.batches.split(",")):
                row = {"network": name, "batch": batch, "steps": args.steps, "load_average_before": os.getloadavg()}
                commands = {
                    "snntorch": [python, "-c", PLAIN_SNNTORCH, str(model_path), str(input_path), str(batch), shape_text],
                    "deploy_cpu": [*common, "--batch", str(batch), "--target", "cpu"],
                }
                for key in commands:
                    row[key] = {"walls_s": [], "cpu_s": [], "samples": batch}
                for _ in range(args.repeats):  # interleaved, so that a change in the machine's load reaches both
                    for key, command in commands.items():
                        wall, cpu = timed(command)
                        row[key]["walls_s"].append(wall)
                        row[key]["cpu_s"].append(cpu)
                        if key == "deploy_cpu":
                            row[key].setdefault("timing_s", []).append(json.loads((scratch / "report" / "report.json").read_text())["timing_s"])
                for key in commands:
                    row[key]["wall_s"] = float(np.median(row[key]["walls_s"]))
                    row[key]["cpu_median_s"] = float(np.median(row[key]["cpu_s"]))
                if args.lava_samples > 0:
                    samples = min(batch, args.lava_samples)
                    wall, cpu = timed([*common, "--batch", str(samples), "--target", "loihi-sim"])
                    row["deploy_lava"] = {"wall_s": wall, "cpu_s": cpu, "samples": samples}
                row["deploy_cpu_vs_snntorch"] = row["snntorch"]["wall_s"] / row["deploy_cpu"]["wall_s"]
                row["deploy_cpu_vs_snntorch_cpu_time"] = row["snntorch"]["cpu_median_s"] / row["deploy_cpu"]["cpu_median_s"]
                row["load_average_after"] = os.getloadavg()
                rows.append(row)
                print(_line(row), flush=True)
    machine = {"platform": platform.platform(), "processor": _processor(), "cpus": os.cpu_count(), "python": platform.python_version(),
               "torch": torch.__version__, "load_average": os.getloadavg()}
    out = {"rate": args.rate, "steps": args.steps, "repeats": args.repeats, "machine": machine, "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print("\n" + _table(rows))
    print(f"machine: {machine}\nwrote {args.out}")
    return 0


def _line(row: dict) -> str:
    cpu, plain = row["deploy_cpu"], row["snntorch"]
    parts = [f"{row['network']:>4} batch {row['batch']:>4}", f"snnTorch script {plain['wall_s']:6.2f} s (CPU {plain['cpu_median_s']:.2f} s)",
             f"deploy.py --target cpu {cpu['wall_s']:6.2f} s (CPU {cpu['cpu_median_s']:.2f} s): {row['deploy_cpu_vs_snntorch']:.2f}x"]
    if "deploy_lava" in row:
        parts.append(f"loihi-sim {row['deploy_lava']['wall_s']:.2f} s on {row['deploy_lava']['samples']} sample(s)")
    return " | ".join(parts) + f" | load {row['load_average_before'][0]:.1f}"


def _table(rows: list[dict]) -> str:
    """The rows as docs/benchmarks.md's table (seconds: median wall, CPU in brackets)."""
    lines = ["| network | batch | snnTorch script | deploy.py --target cpu | of which run.float / run.cpu / report | cpu vs snnTorch (wall, CPU) | load |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        cpu, plain = row["deploy_cpu"], row["snntorch"]
        parts = {k: float(np.median([t.get(k, 0.0) for t in cpu["timing_s"]])) for k in ("run.float", "run.cpu", "report")}
        lines.append(f"| {row['network']} | {row['batch']} | {plain['wall_s']:.2f} ({plain['cpu_median_s']:.2f}) | {cpu['wall_s']:.2f} "
                     f"({cpu['cpu_median_s']:.2f}) | {parts['run.float']:.2f} / {parts['run.cpu']:.2f} / {parts['report']:.2f} | "
                     f"{row['deploy_cpu_vs_snntorch']:.2f}x, {row['deploy_cpu_vs_snntorch_cpu_time']:.2f}x | {row['load_average_before'][0]:.1f} |")
    return "\n".join(lines)


def _processor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    raise SystemExit(main())
