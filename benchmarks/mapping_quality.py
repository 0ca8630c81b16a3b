"""Mapping quality and compile time on a set of networks, tiny to several chips.

    python benchmarks/mapping_quality.py       # writes benchmarks/results/mapping_quality.json

For every network: cores used against a lower bound, and the time from NIR graph to
mapped network (normalise + quantise + map_cores, i.e. ``compile_network``).

Lower bound: for each per-core resource, the total demand divided by what one core
holds, rounded up; the largest of these. Demands: neurons; synapse memory of every layer
stored whole (splitting a layer only adds list overheads); input axons of every layer
whole (its distinct sources); output axons, one per neuron (or population axon: input
position of a convolution or pooling) and per layer it feeds. Lists
are rounded to memory words as the hardware stores them; split lists sometimes round more
kindly, so a mapping can land a percent under this "bound".
The output-axon bound ignores that a neuron near a band boundary of a feature map it
feeds must reach two cores, so it is not reachable for large CNNs (see docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import nir
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's neurodeploy, installed or not

from neurodeploy.hardware.profile import load_profile  # noqa: E402
from neurodeploy.ir.passes import CompileOptions, compile_network  # noqa: E402
from neurodeploy.ir.resources import output_axons_per_neuron, partition_use  # noqa: E402
from neurodeploy.ir.stages import FloatGraph  # noqa: E402


def lif(shape):
    return nir.LIF(tau=np.full(shape, 5e-3), r=np.full(shape, 5.0), v_leak=np.zeros(shape), v_threshold=np.ones(shape), v_reset=np.zeros(shape))


def mlp(sizes, seed=0):
    rng = np.random.default_rng(seed)
    nodes, edges, prev = {"input": nir.Input(np.array([sizes[0]]))}, [], "input"
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        nodes[f"fc{i}"] = nir.Linear(rng.normal(0, 1 / np.sqrt(a), (b, a)).astype(np.float32))
        nodes[f"lif{i}"] = lif([b])
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        prev = f"lif{i}"
    nodes["output"] = nir.Output(np.array([sizes[-1]]))
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3}, type_check=False)


def cnn(channels, size, seed=0):
    """conv 3x3 (pad 1) -> LIF -> sum pool 2 -> ... -> dense 10."""
    rng = np.random.default_rng(seed)
    c, h = channels[0], size
    nodes, edges, prev = {"input": nir.Input(np.array([c, h, h]))}, [], "input"
    for i, c_out in enumerate(channels[1:]):
        nodes[f"conv{i}"] = nir.Conv2d(
            input_shape=(h, h), weight=rng.normal(0, 0.3, (c_out, c, 3, 3)), stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(c_out)
        )
        nodes[f"lif{i}"] = lif([c_out, h, h])
        nodes[f"pool{i}"] = nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0]))
        edges += [(prev, f"conv{i}"), (f"conv{i}", f"lif{i}"), (f"lif{i}", f"pool{i}")]
        prev, c, h = f"pool{i}", c_out, h // 2
    nodes["flat"] = nir.Flatten(input_type={"input": np.array([c, h, h])}, start_dim=0, end_dim=-1)
    nodes["fc"] = nir.Linear(rng.normal(0, 0.1, (10, c * h * h)))
    nodes["out"] = lif([10])
    nodes["output"] = nir.Output(np.array([10]))
    edges += [(prev, "flat"), ("flat", "fc"), ("fc", "out"), ("out", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3}, type_check=False)


def rnn(n_in, n_rec, n_out, seed=0):
    rng = np.random.default_rng(seed)
    nodes = {
        "input": nir.Input(np.array([n_in])),
        "fc_in": nir.Linear(rng.normal(0, 1, (n_rec, n_in))),
        "rec": lif([n_rec]),
        "w_rec": nir.Linear(rng.normal(0, 0.1, (n_rec, n_rec))),
        "fc_out": nir.Linear(rng.normal(0, 0.3, (n_out, n_rec))),
        "out": lif([n_out]),
        "output": nir.Output(np.array([n_out])),
    }
    edges = [("input", "fc_in"), ("fc_in", "rec"), ("rec", "w_rec"), ("w_rec", "rec"), ("rec", "fc_out"), ("fc_out", "out"), ("out", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3}, type_check=False)


def many_small(layers, width, seed=0):
    return mlp([width] * (layers + 1), seed)


NETWORKS = {
    "mlp-tiny 10-20-5": (lambda: mlp([10, 20, 5]), "loihi2"),
    "mlp 784-500-10": (lambda: mlp([784, 500, 10]), "loihi2"),
    "mlp 1M synapses": (lambda: mlp([1000, 1000, 10]), "loihi2"),
    "mlp 10M synapses": (lambda: mlp([2000, 2500, 2000, 10]), "loihi2"),
    "deep narrow 30x64": (lambda: many_small(30, 64), "loihi2"),
    "cnn 2x34x34 (8, 12)": (lambda: cnn([2, 8, 12], 34), "loihi2"),
    "cnn 3x64x64 (16, 32, 16)": (lambda: cnn([3, 16, 32, 16], 64), "kapoho_point"),
    "rnn 12-40-7": (lambda: rnn(12, 40, 7), "loihi2"),
    "rnn 100-2000-20": (lambda: rnn(100, 2000, 20), "loihi2"),
    "mlp multi-chip 4096x4": (lambda: mlp([4096, 4096, 4096, 4096, 10]), "kapoho_point"),
    "mlp loihi1 784-500-10": (lambda: mlp([784, 500, 10]), "loihi1"),
}


def lower_bound(quantised, profile) -> tuple[int, dict[str, int]]:
    core, encoding = profile.core, profile.synapse_encoding
    neurons = sum(layer.n_out for layer in quantised.layers)
    bits = axons = 0
    for layer in quantised.layers:
        a, b = partition_use(layer, np.zeros(layer.n_out, dtype=np.int64), 1, encoding)
        axons, bits = axons + int(a[0]), bits + int(b[0])
    one_core = {layer.name: np.zeros(layer.n_out, dtype=np.int64) for layer in quantised.layers}
    outputs = sum(  # every layer on one core: each neuron (or population axon) reaches one core per consumer
        int(output_axons_per_neuron(quantised, layer, one_core, one_core[layer.name], core.population_axon_slots).sum())
        for layer in quantised.layers
    )
    bounds = {
        "neurons": math.ceil(neurons / core.max_neurons),
        "synapse_memory": math.ceil(bits / core.synapse_memory_bits),
        "input_axons": math.ceil(axons / core.max_input_axons),
        "output_axons": math.ceil(outputs / core.max_output_axons),
    }
    return max(bounds.values()), bounds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "mapping_quality.json"))
    args = parser.parse_args(argv)
    rows = []
    for name, (make, profile_name) in NETWORKS.items():
        profile = load_profile(profile_name)
        graph = FloatGraph(make(), name, "nir")
        start = time.perf_counter()
        compiled = compile_network(graph, CompileOptions(profile=profile))
        seconds = time.perf_counter() - start
        synapses = sum(layer.synapse_count for layer in compiled.quantised.layers)
        bound, parts = lower_bound(compiled.quantised, profile)
        used = compiled.mapped.cores_used
        row = {
            "network": name, "profile": profile_name, "synapses": synapses, "cores": used, "chips": compiled.mapped.chips_used,
            "lower_bound": bound, "lower_bounds": parts, "ratio": used / bound, "compile_s": seconds,
            "map_s": compiled.timing_s["pass.map_cores"],
        }
        rows.append(row)
        print(f"{name:<28} {profile_name:<13} {synapses:>10,} synapses  {used:>4} cores / bound {bound:>4} = {used / bound:4.2f}  "
              f"compile {seconds:5.2f} s (map {row['map_s']:.2f} s)", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
