"""The whole command as a user meets it, side by side in one run: `deploy.py` (Python started,
imports, load, compile, every run, report and plots written) against a plain snnTorch script
(Python started, torch and snnTorch imported, the model loaded, its float inference run) and
against `deploy.py --target loihi-sim` (Lava), on the same saved model and input.

    python benchmarks/whole_command.py                           # MLP 784-500-10, CNN, recurrent; 512 samples and 1
    python benchmarks/whole_command.py --networks mlp --batches 64,1 --lava-samples 2

Each command runs in a fresh interpreter and is timed by the wall clock; the median of --repeats.
The numba kernels are compiled before timing (``make setup`` does that on installation: see
neurodeploy/warmup.py). Results go to stdout and, as JSON, to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
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
x = torch.as_tensor(np.load(sys.argv[2])[:, :int(sys.argv[3])], dtype=torch.float32)
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


def timed(argv: list[str], repeats: int) -> tuple[float, list[float]]:
    walls = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH")]))}
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env)
        walls.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
    return float(np.median(walls)), walls


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
            shape_text = ",".join(str(s) for s in shape)
            common = [python, "deploy.py", str(model_path), "--trust-pickle", "--input", str(input_path), "--input-shape", shape_text,
                      "--report-dir", str(scratch / "report")]
            for batch in (int(b) for b in args.batches.split(",")):
                row = {"network": name, "batch": batch, "steps": args.steps}
                for key, command in (
                    ("snntorch", [python, "-c", PLAIN_SNNTORCH, str(model_path), str(input_path), str(batch), shape_text]),
                    ("deploy_cpu", [*common, "--batch", str(batch), "--target", "cpu"]),
                    ("deploy_lava", [*common, "--batch", str(min(batch, args.lava_samples)), "--target", "loihi-sim"]),
                ):
                    wall, walls = timed(command, args.repeats if key != "deploy_lava" else 1)
                    row[key] = {"wall_s": wall, "walls_s": walls, "samples": min(batch, args.lava_samples) if key == "deploy_lava" else batch}
                row["deploy_cpu_vs_snntorch"] = row["snntorch"]["wall_s"] / row["deploy_cpu"]["wall_s"]
                rows.append(row)
                print(f"{name:>4} batch {batch:>4} | snnTorch script {row['snntorch']['wall_s']:6.2f} s | deploy.py --target cpu "
                      f"{row['deploy_cpu']['wall_s']:6.2f} s ({row['deploy_cpu_vs_snntorch']:.2f}x) | deploy.py --target loihi-sim "
                      f"{row['deploy_lava']['wall_s']:6.2f} s on {row['deploy_lava']['samples']} sample(s)", flush=True)
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
               "load_average": os.getloadavg()}
    out = {"rate": args.rate, "steps": args.steps, "repeats": args.repeats, "machine": machine, "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"machine: {machine}\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
