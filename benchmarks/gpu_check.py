"""On a CUDA machine: the torch engine (CUDA graphs, backends/torch_graphs.py) bit for bit
against the numpy engine, then its speed against snnTorch on the same GPU.

    python benchmarks/gpu_check.py --out DIR

1. Random quantised networks (tests/netgen.py: integer parameters over their whole legal
   range, extremes favoured in half the cases so u wraps and v saturates; spike and graded
   input), and the benchmark's MLP, CNN and recurrent networks: spikes, u and v of every
   layer at every step, counts, window counts, saturations and the output's v compared with
   the numpy engine; the eager torch engine on the GPU is compared too. DIR/exactness.log.
2. benchmarks/backend_speed.py with --engines torch,torch-eager,snntorch-device on cuda at
   batch 1024 and 4096: DIR/backend_speed_gpu.json and the table on stdout.
Exit status 1 if any comparison differs.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]


def compare(network, x, windows, device, log) -> bool:
    from neurodeploy.backends import RunRequest
    from neurodeploy.backends.compare import compare_runs
    from neurodeploy.backends.cpu import CPU_NUMPY, TORCH

    request = RunRequest(record_spikes=True, record_state=True, windows=windows, device=device)
    start = time.perf_counter()
    reference = CPU_NUMPY.run(network, x, request)
    numpy_s = time.perf_counter() - start
    start = time.perf_counter()
    candidate = TORCH.run(network, x, request)
    torch_s = time.perf_counter() - start
    names = [layer.name for layer in network.layers]
    verdict = compare_runs(reference, candidate, names)
    same = verdict["passed"] and np.array_equal(reference.output_v_sum, candidate.output_v_sum)
    for name in names:
        a, b = reference.layers[name], candidate.layers[name]
        same = same and (a.spikes, a.synops, a.active_neuron_updates, a.saturations) == (b.spikes, b.synops, b.active_neuron_updates, b.saturations)
        same = same and np.array_equal(a.spike_counts, b.spike_counts)
        if a.window_counts is not None:
            same = same and np.array_equal(a.window_counts, b.window_counts)
    from neurodeploy.backends.torch_graphs import run_engine

    eager = run_engine(network, x, device, windows, False, False, static=False)
    same = same and all(np.array_equal(reference.layers[n].spike_counts, eager.spike_counts[n].cpu().numpy()) for n in names)
    spikes = [reference.layers[n].spikes for n in names]
    saturations = sum(sum(reference.layers[n].saturations.values()) for n in names)
    message = "identical" if same else f"DIFFERENT: {verdict.get('first_difference')}"
    log(f"  spikes per layer {spikes}, saturations {saturations}, numpy {numpy_s:.1f}s, torch/{device} {torch_s:.2f}s: {message}"
        + ("" if sum(spikes) else " (silent: proves nothing)"))
    return same, sum(spikes) > 0


def exactness(device: str, log) -> bool:
    from neurodeploy.hardware.profile import load_profile

    from netgen import random_input, random_quantised_network

    profile = load_profile("loihi2")
    ok, active = True, 0
    for case in range(12):
        rng = np.random.default_rng(100 + case)
        n_layers = int(rng.integers(1, 4))
        sizes = [int(s) for s in rng.integers(20, 300, n_layers + 1)]
        graded = 8 if case % 3 == 0 else 0
        extreme = case % 2 == 1
        network = random_quantised_network(rng, profile, sizes, extreme=extreme, graded_bits=graded)
        x = random_input(rng, 60, 64, sizes[0], graded_bits=graded)
        log(f"case {case} sizes {sizes} graded {graded} extreme {extreme}")
        same, spiking = compare(network, x, {network.layers[-1].name: (10, 50)}, device, log)
        ok, active = ok and same, active + spiking
    from backend_speed import networks

    from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph
    from neurodeploy.ir.passes import CompileOptions, compile_network

    for name, (make, shape) in networks().items():
        compiled = compile_network(snntorch_to_float_graph(make(), input_shape=shape), CompileOptions(profile=profile))
        rng = np.random.default_rng(0)
        x = (rng.random((50, 256, int(np.prod(shape)))) < 0.1).astype(np.uint8)
        log(f"benchmark network {name}, batch 256, 50 steps")
        same, spiking = compare(compiled.quantised, x, None, device, log)
        ok, active = ok and same and spiking, active + spiking
    log(f"{active} of 15 cases active")
    return ok and active >= 10


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batches", default="1024,4096")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-timing", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "exactness.log", "w") as file:

        def log(line: str) -> None:
            print(line, flush=True)
            file.write(line + "\n")
            file.flush()

        import torch

        log(f"torch {torch.__version__}, {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}")
        try:
            ok = exactness(args.device, log)
        except Exception:  # noqa: BLE001 - the timing below still tells what the eager engine does
            import traceback

            log(traceback.format_exc())
            ok = False
        log("ALL IDENTICAL" if ok else "A DIFFERENCE (or a silent case) WAS FOUND")
    if not args.skip_timing:
        import backend_speed

        engines = "torch,torch-eager,snntorch-device" if ok else "torch-eager,snntorch-device"
        backend_speed.main(["--engines", engines, "--device", args.device, "--batches", args.batches,
                            "--repeats", str(args.repeats), "--out", str(out / "backend_speed_gpu.json")])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
