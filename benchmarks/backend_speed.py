"""Time the bit-accurate CPU backend against Lava's simulator and snnTorch, on the same networks.

    python benchmarks/backend_speed.py                     # MLP 784-500-10, CNN 2x34x34, recurrent 12-40-7
    python benchmarks/backend_speed.py --networks mlp      # only the 784-500-10 network
    python benchmarks/backend_speed.py --engines cpu,torch,snntorch,snntorch-device --device cuda --batches 1,256,4096
                                                           # the torch engine and snnTorch on a GPU
    python benchmarks/backend_speed.py --engines float,snntorch --batches 1,512
                                                           # the float reference (--target float) against snnTorch's float inference

All engines run the same network (an snnTorch model converted once by neurodeploy) on the
same seeded input spikes (10 % rate, 200 steps unless changed). Throughput is sample-steps
per second (samples x steps / wall time; for Lava, compiling and starting its processes
included), from the median of --repeats runs (Lava: one run, as it takes minutes). Lava
runs samples one after another, so its throughput does not depend on the batch; where it
is timed on fewer samples than the batch (--lava-samples, or a network's default below)
the table says so. Peak memory is the growth of the process's peak resident
set during the run (Linux: /proc/self/clear_refs resets the peak before each run).
The CPU backend's numba kernels are compiled (or loaded from cache) before timing; the
torch engine (``run_cpu(engine="torch")``) and snnTorch on --device are warmed up once.
Every fixed-point engine's spike counts are compared with the numba engine's.
Results go to stdout and, as JSON, to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's neurodeploy, installed or not
LAVA_SAMPLES = {"mlp": None, "cnn": 4, "rnn": None}  # per-network default cap on Lava's timed samples


def mlp_model(seed: int = 0):
    import snntorch as snn
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers = []
    for n_in, n_out in ((784, 500), (500, 10)):
        linear = nn.Linear(n_in, n_out)
        with torch.no_grad():
            linear.weight.mul_(4.0)  # enough drive for the hidden layer to spike at 10 % input rate
        layers += [linear, snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero")]
    return nn.Sequential(*layers).eval()


def networks():
    sys.path.insert(0, str(ROOT / "examples"))
    from make_examples import recurrent_cubalif, spiking_cnn

    return {"mlp": (mlp_model, (784,)), "cnn": (spiking_cnn, (2, 34, 34)), "rnn": (recurrent_cubalif, (12,))}


class PeakMemory:
    """Growth of the peak resident set size during a block (Linux), in MiB."""

    def __enter__(self):
        self.supported = Path("/proc/self/clear_refs").exists()
        if self.supported:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        self.before = self._read("VmRSS")
        return self

    def __exit__(self, *exc):
        self.mib = (self._read("VmHWM") - self.before) / 1024 if self.supported else None

    @staticmethod
    def _read(key: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0


def time_snntorch(model, spikes: np.ndarray, device: str = "cpu") -> float:
    """snnTorch float inference, the input already on ``device`` (its copy is not timed)."""
    import torch
    from snntorch import utils

    model.to(device)
    x = torch.as_tensor(spikes, dtype=torch.float32, device=device)
    _synchronise(device)
    start = time.perf_counter()
    with torch.no_grad():
        utils.reset(model)
        for t in range(x.shape[0]):
            model(x[t])
    _synchronise(device)
    wall = time.perf_counter() - start
    model.to("cpu")
    return wall


def _synchronise(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(run, *args, repeats: int = 1) -> tuple[float, float | None, object, list[float], list[float]]:
    """(median wall time, largest peak-memory growth, last result, every wall time, every CPU
    time) of ``repeats`` runs. CPU time: user + system of all of the process's threads, which
    other work on the machine disturbs less than the wall clock (threads that wait by spinning count)."""
    walls, cpus, peaks = [], [], []
    for _ in range(repeats):
        with PeakMemory() as memory:
            start, cpu_start = time.perf_counter(), time.process_time()
            result = run(*args)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu_start)
        peaks.append(memory.mib)
    peak = None if peaks[0] is None else max(peaks)
    return float(np.median(walls)), peak, result, walls, cpus


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", default="mlp,cnn,rnn")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--batches", default="1,256")
    parser.add_argument("--lava-samples", type=int, default=None, help="time Lava on at most this many samples per batch size")
    parser.add_argument("--engines", default="cpu,lava,snntorch")
    parser.add_argument("--device", default=None, help="device of the torch engine and of snntorch-device (default: cuda if present, else cpu)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="runs per engine and batch, the median reported (Lava: one run)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "backend_speed.json"))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: at least one run is needed")

    import torch

    from neurodeploy.backends.cpu import run_cpu
    from neurodeploy.backends.torch_graphs import run_engine
    from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph
    from neurodeploy.hardware.profile import load_profile
    from neurodeploy.ir.passes import CompileOptions, compile_network

    engines = args.engines.split(",")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for name in args.networks.split(","):
        make, shape = networks()[name]
        model = make()
        compiled = compile_network(snntorch_to_float_graph(model, input_shape=shape), CompileOptions(profile=load_profile("loihi2")))
        if "cpu" in engines:
            run_cpu(compiled.quantised, np.zeros((2, 1, int(np.prod(shape))), np.uint8))  # compile / load the kernels
        if "float" in engines:
            from neurodeploy.backends.float_kernels import warm as warm_float

            warm_float()
        if "torch" in engines:
            run_cpu(compiled.quantised, np.zeros((2, 1, int(np.prod(shape))), np.uint8), engine="torch", device=device)
        rng = np.random.default_rng(args.seed)
        for batch in (int(b) for b in args.batches.split(",")):
            spikes = (rng.random((args.steps, batch, *shape), dtype=np.float32) < args.rate).astype(np.uint8)
            flat = spikes.reshape(args.steps, batch, -1)
            row = {"network": name, "batch": batch, "steps": args.steps}
            if "cpu" in engines:
                wall, mib, cpu_result, walls, cpus = measure(run_cpu, compiled.quantised, flat, repeats=args.repeats)
                row["cpu"] = timing(wall, walls, cpus, batch, args.steps, mib)
            if "lava" in engines:
                from neurodeploy.backends.lava_backend import run_lava

                cap = args.lava_samples or LAVA_SAMPLES.get(name) or batch
                samples = min(batch, cap)
                wall, mib, lava_result, walls, cpus = measure(run_lava, compiled.quantised, np.ascontiguousarray(flat[:, :samples]))
                row["lava"] = timing(wall, walls, cpus, samples, args.steps, mib)
                if "cpu" in engines:
                    same = all(np.array_equal(lava_result.layers[n].spike_counts, cpu_result.layers[n].spike_counts[:samples]) for n in lava_result.layers)
                    row["lava"]["spike_counts_equal_cpu"] = bool(same)
            if "torch" in engines:
                wall, mib, torch_result, walls, cpus = measure(
                    run_cpu, compiled.quantised, flat, False, False, False, None, "torch", device, repeats=args.repeats
                )
                row["torch"] = {**timing(wall, walls, cpus, batch, args.steps, mib), "device": device}
                if "cpu" in engines:
                    same = all(np.array_equal(torch_result.layers[n].spike_counts, cpu_result.layers[n].spike_counts) for n in torch_result.layers)
                    row["torch"]["spike_counts_equal_cpu"] = bool(same)
            if "torch-eager" in engines:  # the torch engine's eager step loop, without CUDA graphs
                wall, mib, eager, walls, cpus = measure(run_engine, compiled.quantised, flat, device, None, False, False, False, repeats=args.repeats)
                row["torch-eager"] = {**timing(wall, walls, cpus, batch, args.steps, mib), "device": device}
                if "torch" in engines:
                    same = all(np.array_equal(torch_result.layers[n].spike_counts, eager.spike_counts[n].cpu().numpy()) for n in torch_result.layers)
                    row["torch-eager"]["spike_counts_equal_torch"] = bool(same)
            if "float" in engines:  # the float reference on the normalised network, the input as the pipeline hands it
                from neurodeploy.backends.float_reference import run_float

                wall, mib, _, walls, cpus = measure(run_float, compiled.normalised, flat, repeats=args.repeats)
                row["float"] = timing(wall, walls, cpus, batch, args.steps, mib)
            if "snntorch" in engines:
                wall, mib, _, walls, cpus = measure(time_snntorch, model, spikes, repeats=args.repeats)
                row["snntorch"] = timing(wall, walls, cpus, batch, args.steps, mib)
            if "snntorch-device" in engines:
                time_snntorch(model, spikes[:2], device)  # warm-up
                wall, mib, _, walls, cpus = measure(time_snntorch, model, spikes, device, repeats=args.repeats)
                row["snntorch-device"] = {**timing(wall, walls, cpus, batch, args.steps, mib), "device": device}
            rows.append(row)
            print_row(row)
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": os.getloadavg(),  # at the end: other work on the machine, which the wall times include
    }
    out = {"rate": args.rate, "steps": args.steps, "repeats": args.repeats, "machine": machine, "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"machine: {machine}\nwrote {args.out}")
    return 0


def timing(wall: float, walls: list[float], cpus: list[float], samples: int, steps: int, mib: float | None) -> dict:
    """One engine's entry of a result row: throughput from the median wall time."""
    return {
        "wall_s": wall,
        "walls_s": walls,
        "cpu_s": float(np.median(cpus)),
        "cpus_s": cpus,
        "samples": samples,
        "sample_steps_per_s": samples * steps / wall,
        "sample_steps_per_s_range": [samples * steps / max(walls), samples * steps / min(walls)],
        "peak_mib": mib,
    }


def print_row(row) -> None:
    parts = [f"{row['network']:>4} batch {row['batch']:>4}"]
    for engine in ("cpu", "float", "torch", "torch-eager", "lava", "snntorch", "snntorch-device"):
        if engine in row:
            r = row[engine]
            note = f" ({r['samples']} timed)" if r["samples"] != row["batch"] else ""
            memory = f", {r['peak_mib']:.0f} MiB" if r.get("peak_mib") is not None else ""
            parts.append(f"{engine} {r['sample_steps_per_s']:>9.0f}/s{memory}{note}")
    for engine in ("lava", "snntorch"):
        if "cpu" in row and engine in row:
            parts.append(f"cpu/{engine} {row['cpu']['sample_steps_per_s'] / row[engine]['sample_steps_per_s']:.1f}x")
    if "float" in row and "snntorch" in row:
        parts.append(f"float/snntorch {row['float']['sample_steps_per_s'] / row['snntorch']['sample_steps_per_s']:.2f}x"
                     f" (CPU time {row['snntorch']['cpu_s'] / row['float']['cpu_s']:.2f}x)")
    if "torch" in row and "snntorch-device" in row:
        parts.append(f"torch/snntorch on {row['torch']['device']} {row['torch']['sample_steps_per_s'] / row['snntorch-device']['sample_steps_per_s']:.2f}x")
    if "torch" in row and "torch-eager" in row:
        parts.append(f"graphs/eager {row['torch']['sample_steps_per_s'] / row['torch-eager']['sample_steps_per_s']:.1f}x")
    print(" | ".join(parts), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
