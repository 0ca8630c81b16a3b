"""The energy and time model against SANA-FE, network by network: the figures of docs/energy.md.

    python benchmarks/energy_vs_sanafe.py            # the test networks and a 784-500-10 MLP (about a minute)

Each network is compiled by neurodeploy (loihi1 profile; the test networks on smaller cores, as
``tests/test_energy_sanafe.py`` builds them) and run on the CPU backend with one sample; the same
integers, placement and input run on SANA-FE's Loihi description (``tests/sanafe_bridge.py``).
Printed and written to benchmarks/results/energy_vs_sanafe.json: whether the spikes are
identical, the report's energy and time over SANA-FE's (time against its detailed timing model,
its default, and its analytical one), and the energy per term.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def mlp_784(rng):
    import nir
    from test_energy_sanafe import chain, lif

    nodes = {
        "input": nir.Input(np.array([784])),
        "fc1": nir.Linear(rng.normal(0.0, 4.0 / np.sqrt(784), (500, 784)) + 0.02), "lif1": lif(500),
        "fc2": nir.Linear(rng.normal(0.0, 4.0 / np.sqrt(500), (10, 500)) + 0.05), "lif2": lif(10),
    }
    return chain(nodes, ["input", "fc1", "lif1", "fc2", "lif2"], 10)


def measure(name, build_graph, per_core, steps, rate, directory) -> dict:
    import sanafe_bridge as sb

    from neurodeploy.backends.core_counts import plan_core_counts
    from neurodeploy.backends.cpu import run_cpu
    from neurodeploy.hardware.profile import load_profile
    from neurodeploy.ir.passes import CompileOptions, compile_network
    from neurodeploy.ir.stages import INPUT
    from neurodeploy.reports.report import ReportSources, build_report

    from netgen import float_graph

    base = load_profile("loihi1")
    profile = dataclasses.replace(base, core=dataclasses.replace(base.core, max_neurons=per_core))
    rng = np.random.default_rng(0)
    compiled = compile_network(float_graph(build_graph(rng)), CompileOptions(profile=profile))
    network = compiled.quantised
    plan = plan_core_counts(compiled.mapped)
    x = (rng.random((steps, 1, network.n_inputs)) < rate).astype(np.uint8)
    result = run_cpu(network, x, record_spikes=True, core_plan=plan)
    report = build_report(ReportSources(compiled, target="cpu", results={"cpu": result}, input={"description": name}))
    loihi = sb.Loihi(Path(directory), inputs_per_core=per_core)
    snn = sb.build(loihi, network, plan, profile.system.cores_per_tile, x[:, 0])
    sizes = {INPUT: network.n_inputs, **{layer.name: layer.n_out for layer in network.layers}}
    detailed = sb.run(loihi, snn, steps, sizes)
    simple = sb.run(loihi, snn, steps, sizes, timing_model="simple")
    identical = all(np.array_equal(result.rasters[layer.name][:, 0], detailed.rasters[layer.name]) for layer in network.layers)
    energy = report.totals["energy_j"]
    return {
        "network": name,
        "problems_for_exactness": sb.exactness_problems(network),
        "cores": len(plan.sites), "tiles": plan.tiles_in_use, "steps": steps, "input_rate": rate,
        "spikes": {layer.name: int(result.layers[layer.name].spikes) for layer in network.layers},
        "spikes_identical": bool(identical and np.array_equal(x[:, 0] != 0, detailed.rasters[INPUT])),
        "energy_j": energy["total"], "sanafe_energy_j": detailed.energy["total"],
        "energy_ratio": energy["total"] / detailed.energy["total"],
        "time_s": report.latency["time_per_sample_s"], "sanafe_detailed_time_s": detailed.sim_time, "sanafe_simple_time_s": simple.sim_time,
        "time_ratio_detailed": report.latency["time_per_sample_s"] / detailed.sim_time,
        "time_ratio_simple": report.latency["time_per_sample_s"] / simple.sim_time,
        "energy_terms_j": energy["terms"], "sanafe_energy_categories_j": detailed.energy,
    }


def main(argv=None) -> int:
    from test_energy_sanafe import NETWORKS, RATE, STEPS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "energy_vs_sanafe.json"))
    args = parser.parse_args(argv)
    cases = [(name, build, per_core, STEPS, RATE) for name, (build, per_core) in sorted(NETWORKS.items())]
    cases.append(("mlp-784-500-10", mlp_784, 1024, 50, 0.1))
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for case in cases:
            row = measure(*case, directory)
            rows.append(row)
            print(f"{row['network']:>15}: {row['cores']} cores on {row['tiles']} tiles, spikes identical {row['spikes_identical']}, "
                  f"energy {row['energy_ratio']:.6f} of SANA-FE's, time {row['time_ratio_detailed']:.4f} of its detailed model "
                  f"and {row['time_ratio_simple']:.6f} of its analytical one")
    Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
