"""Time the bit-accurate CPU backend against Lava's simulator and snnTorch, on one network.

    python benchmarks/backend_speed.py                    # 784-500-10 LIF, 10 % input rate, 200 steps, batch 1 and 256
    python benchmarks/backend_speed.py --lava-samples 16  # time Lava on 16 samples per batch size (it runs them one by one)

All engines run the same network (an snnTorch model converted once by neurodeploy) on the same
seeded input spikes. Throughput is in sample-steps per second (samples x steps / wall time).
Lava runs samples one after another, so its throughput does not depend on the batch size; with
--lava-samples it is timed on that many samples and the table says so. Results go to stdout and,
as JSON, to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def build_model(sizes, beta, seed):
    import snntorch as snn
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        linear = nn.Linear(n_in, n_out)
        with torch.no_grad():
            linear.weight.mul_(4.0)  # enough drive for the hidden layer to spike at 10 % input rate
        layers += [linear, snn.Leaky(beta=beta, init_hidden=True, reset_mechanism="zero")]
    return nn.Sequential(*layers).eval()


def time_snntorch(model, spikes: np.ndarray) -> float:
    import torch
    from snntorch import utils

    x = torch.as_tensor(spikes, dtype=torch.float32)
    start = time.perf_counter()
    with torch.no_grad():
        utils.reset(model)
        for t in range(x.shape[0]):
            model(x[t])
    return time.perf_counter() - start


def time_backend(run, network, spikes: np.ndarray) -> tuple[float, object]:
    start = time.perf_counter()
    result = run(network, spikes)
    return time.perf_counter() - start, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="784,500,10")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--batches", default="1,256")
    parser.add_argument("--lava-samples", type=int, default=None, help="time Lava on at most this many samples per batch size")
    parser.add_argument("--engines", default="cpu,lava,snntorch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/backend_speed.json")
    args = parser.parse_args(argv)

    import torch

    from neurodeploy.backends.cpu import run_cpu
    from neurodeploy.backends.lava_backend import run_lava
    from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph
    from neurodeploy.ir.passes import CompileOptions, compile_network
    from neurodeploy.ir.profile import load_profile

    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    model = build_model(sizes, beta=0.9, seed=args.seed)
    compiled = compile_network(snntorch_to_float_graph(model, input_shape=(sizes[0],)), CompileOptions(profile=load_profile("loihi2")))
    rng = np.random.default_rng(args.seed)
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        spikes = (rng.random((args.steps, batch, sizes[0])) < args.rate).astype(np.int32)
        row = {"batch": batch, "steps": args.steps}
        if "cpu" in engines:
            wall, cpu_result = time_backend(run_cpu, compiled.quantised, spikes)
            row["cpu"] = {"wall_s": wall, "samples": batch, "sample_steps_per_s": batch * args.steps / wall,
                          "hidden_spikes_per_sample_step": cpu_result.layers[compiled.quantised.layers[0].name].spikes / (batch * args.steps * sizes[1])}
        if "lava" in engines:
            samples = min(batch, args.lava_samples or batch)
            wall, lava_result = time_backend(run_lava, compiled.quantised, spikes[:, :samples])
            row["lava"] = {"wall_s": wall, "samples": samples, "sample_steps_per_s": samples * args.steps / wall}
            if "cpu" in engines:
                same = all(np.array_equal(lava_result.layers[n].spike_counts, cpu_result.layers[n].spike_counts[:samples]) for n in lava_result.layers)
                row["lava"]["spike_counts_equal_cpu"] = bool(same)
        if "snntorch" in engines:
            wall = time_snntorch(model, spikes)
            row["snntorch"] = {"wall_s": wall, "samples": batch, "sample_steps_per_s": batch * args.steps / wall}
        rows.append(row)
        print_row(row)
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }
    out = {"network": sizes, "rate": args.rate, "steps": args.steps, "machine": machine, "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"machine: {machine}\nwrote {args.out}")
    return 0


def print_row(row) -> None:
    parts = [f"batch {row['batch']:>4}"]
    for engine in ("cpu", "lava", "snntorch"):
        if engine in row:
            r = row[engine]
            note = f" ({r['samples']} samples timed)" if r["samples"] != row["batch"] else ""
            parts.append(f"{engine} {r['sample_steps_per_s']:>10.0f} sample-steps/s{note}")
    for engine in ("lava", "snntorch"):
        if "cpu" in row and engine in row:
            parts.append(f"cpu/{engine} {row['cpu']['sample_steps_per_s'] / row[engine]['sample_steps_per_s']:.1f}x")
    print(" | ".join(parts), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
