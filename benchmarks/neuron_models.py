"""How exactly each neuron model reaches Loihi: the tables of docs/neurons.md.

    python benchmarks/neuron_models.py              # all three tables (about a minute on 2 cores)
    python benchmarks/neuron_models.py --tables izhikevich

snntorch    every snnTorch neuron x reset_mechanism x reset_delay in a 12-20-5 network (weights x3,
            30 % input spikes, 100 steps, 8 samples, seeded): the float target (``run_float``) and
            the bit-exact CPU backend (``run_cpu``, Lava's integers) against snnTorch's own spikes
            (float32). Alpha's own spikes are compared one step later (docs/neurons.md).
alpha       snnTorch's Alpha (reset zero and none, three (alpha, beta)) in a 12-20 layer against its
            fixed-point lowering (400 steps, 8 samples): the error of rounding its decays,
            threshold and weights to Loihi's.
izhikevich  the four regimes of Izhikevich (2003), I = 10, 1 s: spike count, first spike, first
            ISI, steady ISI (mean after 100 ms; CH: mean period between burst onsets) of the
            equations (Euler, h = 1 us), of the float scheme and of the fixed-point form at
            2 and 4 substeps per 1 ms step, and the fixed form's error against the equations.

Tables go to stdout (markdown) and, as JSON, to --out.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's neurodeploy, installed or not


def record_snntorch(model, x):
    """Spikes of every snnTorch neuron module, stepping the model (init_hidden modules)."""
    import snntorch as snn
    import torch
    from snntorch import utils

    spikes, hooks = {}, []
    for name, module in model.named_modules():
        if isinstance(module, snn.SpikingNeuron):
            spikes[name] = []
            hooks.append(module.register_forward_hook(
                lambda m, a, out, name=name: spikes[name].append((out[0] if isinstance(out, tuple) else out).detach().numpy().copy())))
    with torch.no_grad():
        utils.reset(model)
        for t in range(x.shape[0]):
            model(x[t])
    for hook in hooks:
        hook.remove()
    return [np.stack(s).astype(bool) for s in spikes.values()]


def compile_snntorch(model):
    from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph
    from neurodeploy.hardware.profile import load_profile
    from neurodeploy.ir.passes import CompileOptions, compile_network

    return compile_network(snntorch_to_float_graph(model), CompileOptions(profile=load_profile("loihi2")))


def compare(ours: np.ndarray, theirs: np.ndarray, lag: int) -> dict:
    """Differing neuron-steps and spike counts where ``ours[t + lag]`` is snnTorch's ``theirs[t]``
    (the fixed point answers one step later per layer, one synaptic delay each; Alpha's own
    spikes come one step before snnTorch's)."""
    first, last = max(0, -lag), theirs.shape[0] - max(0, lag)
    a, b = ours[first + lag : last + lag].reshape(last - first, -1), theirs[first:last].reshape(last - first, -1)
    return {"differing": int((a != b).sum()), "of": int(a.size), "spikes": int(a.sum()), "snntorch_spikes": int(b.sum())}


def snntorch_table(steps=100, batch=8) -> list[dict]:
    import snntorch as snn
    import torch
    from torch import nn

    from neurodeploy.backends.cpu import run_cpu
    from neurodeploy.backends.float_reference import run_float

    def neuron(kind, reset, delay, **extra):
        common = dict(init_hidden=True, reset_mechanism=reset, **extra)
        if kind == "Leaky":
            return snn.Leaky(beta=0.8, reset_delay=delay, **common)
        if kind == "Synaptic":
            return snn.Synaptic(alpha=0.7, beta=0.85, reset_delay=delay, **common)
        if kind == "RLeaky":
            return snn.RLeaky(beta=0.8, linear_features=20, reset_delay=delay, **common)
        if kind == "Lapicque":
            return snn.Lapicque(beta=0.9, **common)
        return snn.Alpha(alpha=0.9, beta=0.8, **common)

    rows = []
    combinations = [(k, r, d) for k in ("Leaky", "Synaptic", "RLeaky") for r in ("subtract", "zero", "none") for d in (True, False)]
    combinations += [("Lapicque", r, True) for r in ("subtract", "zero", "none")] + [("Alpha", r, True) for r in ("zero", "none")]
    for kind, reset, delay in combinations:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(12, 20), neuron(kind, reset, delay), nn.Linear(20, 5), snn.Leaky(beta=0.9, init_hidden=True, output=True))
        gain = 20.0 if kind == "Lapicque" else 3.0
        with torch.no_grad():
            model[0].weight.mul_(gain)
            model[2].weight.mul_(3.0)
        x = (torch.rand((steps, batch, 12), generator=torch.Generator().manual_seed(1)) < 0.3).float()
        theirs = record_snntorch(model.eval(), x)
        compiled = compile_snntorch(model)
        names = [layer.name for layer in compiled.quantised.layers]
        exact = run_float(compiled.normalised, x.numpy().astype(np.float64), record_spikes=True)
        fixed = run_cpu(compiled.quantised, x.numpy().astype(np.int32), record_spikes=True)
        early = -1 if kind == "Alpha" else 0  # Alpha's own spikes lead snnTorch's by a step
        layer = compiled.quantised.layers[0]
        rows.append({
            "module": kind, "reset": reset, "reset_delay": delay if kind not in ("Lapicque", "Alpha") else None,
            "compartment": layer.neurons.compartment,
            "float": compare(exact.rasters[names[0]], theirs[0], early),
            "float_next_layer": compare(exact.rasters[names[1]], theirs[1], 0),
            "fixed": compare(fixed.rasters[names[0]], theirs[0], early + 1),
            "fixed_next_layer": compare(fixed.rasters[names[1]], theirs[1], 2),
        })
    return rows


def alpha_table(steps=400, batch=8) -> list[dict]:
    """Alpha alone (12 -> 20, weights x3, bias included) at three (alpha, beta), the profile's
    fixed point (the bit-exact CPU backend) against snnTorch."""
    import snntorch as snn
    import torch
    from torch import nn

    from neurodeploy.backends.cpu import run_cpu

    rows = []
    for alpha, beta in ((0.9, 0.8), (0.95, 0.9), (0.8, 0.5)):
        for reset in ("none", "zero"):
            torch.manual_seed(2)
            model = nn.Sequential(nn.Linear(12, 20), snn.Alpha(alpha=alpha, beta=beta, init_hidden=True, reset_mechanism=reset))
            with torch.no_grad():
                model[0].weight.mul_(3.0)
            x = (torch.rand((steps, batch, 12), generator=torch.Generator().manual_seed(3)) < 0.3).float()
            theirs = record_snntorch(model.eval(), x)[0]
            network = compile_snntorch(model).quantised
            fixed = run_cpu(network, x.numpy().astype(np.int32), record_spikes=True)
            neurons = network.layers[0].neurons
            rows.append({"alpha": alpha, "beta": beta, "reset": reset, "du": int(neurons.du[0]), "dv": int(neurons.dv[0]),
                         "compartment": neurons.compartment, **compare(fixed.rasters[network.layers[0].name], theirs, 0)})
    return rows


def izhikevich_table(duration_ms=1000) -> list[dict]:
    import nir

    from neurodeploy.backends.cpu import run_cpu
    from neurodeploy.backends.float_reference import run_float
    from neurodeploy.hardware.profile import load_profile
    from neurodeploy.ir.passes import CompileOptions, compile_network
    from neurodeploy.ir.stages import FloatGraph
    from neurodeploy.neurons.izhikevich import REGIMES, equation_spike_times
    from neurodeploy.neurons.nir_extension import with_extension

    names = list(REGIMES)
    a, b, c, d = (np.array([REGIMES[name][i] for name in names]) for i in range(4))
    n = len(names)

    def features(times: np.ndarray, name: str) -> dict:
        isi = np.diff(times)
        groups = np.split(times, np.flatnonzero(isi >= 10.0) + 1)
        onsets = np.array([g[0] for g in groups])
        steady = float(np.mean(np.diff(onsets)[onsets[1:] > 100])) if name == "CH" else float(np.mean(isi[times[1:] > 100]))
        return {"spikes": int(len(times)), "first_spike": float(times[0]), "first_isi": float(isi[0]), "steady": steady,
                "bursts": [len(g) for g in groups[:4]] if name in ("IB", "CH") else None}

    reference = equation_spike_times(a, b, c, d, 10.0, duration_ms, h=0.001)
    rows = [{"regime": name, "form": "equations (Euler, h = 1 us)", **features(reference[i], name)} for i, name in enumerate(names)]
    x = np.zeros((duration_ms, 1, 1), np.int32)
    for substeps in (2, 4):
        neuron = with_extension(nir.IF(r=np.ones(n), v_threshold=np.full(n, 30.0), v_reset=c), "Izhikevich", a=a, b=b, d=d, bias=10.0, substeps=substeps)
        nodes = {"input": nir.Input(np.array([1])), "fc": nir.Linear(np.full((n, 1), 1e-3)), "izh": neuron, "output": nir.Output(np.array([n]))}
        graph = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "izh"), ("izh", "output")], metadata={"dt": 1e-3}, type_check=False)
        compiled = compile_network(FloatGraph(graph, "regimes", "nir"), CompileOptions(profile=load_profile("loihi2")))
        runs = {"float scheme": run_float(compiled.normalised, x.astype(float), record_spikes=True),
                "fixed point": run_cpu(compiled.quantised, x, record_spikes=True)}
        h = 1.0 / substeps
        for form, run in runs.items():
            for i, name in enumerate(names):
                times = np.flatnonzero(run.rasters["izh"][:, 0, i]) + 1.0
                row = {"regime": name, "form": f"{form}, h = {h:g} ms", **features(times, name)}
                row["steady_error"] = row["steady"] / rows[i]["steady"] - 1.0
                if form == "fixed point":
                    scheme = np.flatnonzero(runs["float scheme"].rasters["izh"][:, 0, i]) + 1.0
                    k = min(len(times), len(scheme))
                    same = int(np.argmax(times[:k] != scheme[:k])) if np.any(times[:k] != scheme[:k]) else k
                    row["vs_float_scheme"] = {"identical_first": same, "max_shift_ms": float(np.abs(times[:k] - scheme[:k]).max()),
                                              "spikes": [int(len(times)), int(len(scheme))]}
                rows.append(row)
    return rows


def markdown(tables: dict) -> str:
    out = []
    if "snntorch" in tables:
        out += ["| snnTorch module | reset | reset_delay | compartment | float vs snnTorch: differing neuron-steps (next layer) | "
                "fixed point: spikes (snnTorch's) | fixed point: differing neuron-steps (next layer) |", "|---|---|---|---|---|---|---|"]
        for r in tables["snntorch"]:
            f, fn, q, qn = r["float"], r["float_next_layer"], r["fixed"], r["fixed_next_layer"]
            out.append(f"| {r['module']} | {r['reset']} | {'' if r['reset_delay'] is None else r['reset_delay']} | {r['compartment']} | "
                       f"{f['differing']} ({fn['differing']}) of {f['of']} | {q['spikes']} ({q['snntorch_spikes']}) | "
                       f"{q['differing'] / q['of']:.2%} ({qn['differing'] / qn['of']:.2%}) |")
        out.append("")
    if "alpha" in tables:
        out += ["| alpha, beta | reset | compartment | du, dv | spikes snnTorch | spikes fixed point | differing neuron-steps |",
                "|---|---|---|---|---|---|---|"]
        for r in tables["alpha"]:
            out.append(f"| {r['alpha']}, {r['beta']} | {r['reset']} | {r['compartment']} | {r['du']}, {r['dv']} | {r['snntorch_spikes']} | {r['spikes']} | "
                       f"{r['differing']} ({r['differing'] / r['of']:.2%}) |")
        out.append("")
    if "izhikevich" in tables:
        out += ["| regime | form | spikes in 1 s | 1st spike (ms) | 1st ISI (ms) | steady ISI, CH: burst period (ms) | vs equations | "
                "fixed vs its float scheme |", "|---|---|---|---|---|---|---|---|"]
        for r in sorted(tables["izhikevich"], key=lambda r: list(("RS", "IB", "CH", "FS")).index(r["regime"])):
            error = f"{r['steady_error']:+.1%}" if "steady_error" in r else ""
            versus = ""
            if "vs_float_scheme" in r:
                v = r["vs_float_scheme"]
                versus = f"first {v['identical_first']} identical, max shift {v['max_shift_ms']:g} ms, {v['spikes'][0]} vs {v['spikes'][1]} spikes"
            numbers = f"{r['spikes']} | {r['first_spike']:.2f} | {r['first_isi']:.2f} | {r['steady']:.2f}"
            out.append(f"| {r['regime']} | {r['form']} | {numbers} | {error} | {versus} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", default="snntorch,alpha,izhikevich")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "neuron_models.json")
    args = parser.parse_args()
    makers = {"snntorch": snntorch_table, "alpha": alpha_table, "izhikevich": izhikevich_table}
    tables = {name: makers[name]() for name in args.tables.split(",")}
    print(markdown(tables))
    args.out.write_text(json.dumps(tables, indent=1) + "\n")


if __name__ == "__main__":
    main()
