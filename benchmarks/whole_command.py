"""The whole command as a user meets it, side by side in one run: `deploy.py` (Python started,
imports, load, compile, every run, report written) against a plain snnTorch script (Python
started, torch and snnTorch imported, the model loaded, its float inference run) and against
`deploy.py --target loihi-sim` (Lava), on the same model and input, in two forms:

    nir     the model as a NIR file (written by neurodeploy's snnTorch frontend, as
            examples/make_examples.py writes its files): `deploy.py model.nir`, and a script that
            imports torch, snnTorch and nir, reads the file and builds the snnTorch modules from
            its weights (``snntorch_from_nir``; snnTorch's own ``import_from_nir`` drops the reset
            mechanism and delay and flattens the batch axis, so it runs another network)
    pickle  the snnTorch module pickled whole: `deploy.py model.pt --trust-pickle` (which then
            imports torch to read it), and a script that unpickles it

    python benchmarks/whole_command.py                           # MLP 784-500-10, CNN, recurrent; 512 samples and 1
    python benchmarks/whole_command.py --networks mlp --batches 64,1 --lava-samples 0 --repeats 1   # a quick check

Each command runs in a fresh interpreter and is timed by the wall clock (and by its CPU time,
user + system, which other work on the machine disturbs less); the median of --repeats, the
commands of one row interleaved. The input file is read through a memory map by both the plain
script and deploy.py, so a batch of 1 reads one sample. The numba kernels are compiled before
timing (``make setup`` does that on installation: see neurodeploy/warmup.py), and neurodeploy's
own modules byte-compiled (as an installation does), where the environment writes no bytecode.
Before timing, the NIR-built snnTorch model must give the original module's spikes, layer by
layer, on the first samples of the input (and the network must spike). deploy.py's own
time parts (report.json's ``timing_s``) are kept. --lava-samples 0 leaves Lava out. Results go
to stdout (a table) and, as JSON, to --out.
"""
from __future__ import annotations

import argparse
import compileall
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

RUN_FLOAT = """
x = torch.as_tensor(np.load(sys.argv[2], mmap_mode="r")[:, :int(sys.argv[3])], dtype=torch.float32)
shape = [int(s) for s in sys.argv[4].split(",")]
with torch.no_grad():
    utils.reset(model)
    for t in range(x.shape[0]):
        model(x[t].reshape(x.shape[1], *shape))
"""
PLAIN_SNNTORCH = {  # the plain script of each form: argv model, input, batch, shape
    "nir": """
import sys, numpy as np, torch, nir
from snntorch import utils
from whole_command import snntorch_from_nir
model = snntorch_from_nir(nir.read(sys.argv[1])).eval()
""" + RUN_FLOAT,
    "pickle": """
import sys, numpy as np, torch
import whole_command  # noqa: F401 - the saved model's spike function
from snntorch import utils
model = torch.load(sys.argv[1], weights_only=False).eval()
""" + RUN_FLOAT,
}
FORMS = tuple(PLAIN_SNNTORCH)


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


def snntorch_from_nir(graph):
    """The snnTorch model of a chain-shaped NIR graph as neurodeploy's snnTorch frontend writes
    it (``neurons/snntorch.py``): one module per node, in the order of the edges from the input,
    with the node's weights, decays (beta = 1 - dt / tau), threshold and the reset that its
    metadata keeps; a node's recurrent connection (``<name>.w_rec``) becomes RSynaptic's."""
    import nir
    import snntorch as snn
    import torch
    from torch import nn

    dt = float(graph.metadata.get("dt", 1e-4))
    following = {}
    for source, target in graph.edges:
        if not target.startswith(source + "."):  # not the way into a recurrent connection
            following.setdefault(source, []).append(target)
    modules, name = [], "input"
    while True:
        name = next(iter(following.get(name, [])), None)
        if name is None or isinstance(graph.nodes[name], nir.Output):
            break
        node = graph.nodes[name]
        modules.append(_module_of(node, graph.nodes.get(f"{name}.w_rec"), dt, snn, torch, nn, nir))
    return nn.Sequential(*modules)


def _module_of(node, recurrent, dt, snn, torch, nn, nir):
    def tensor(values):
        return torch.as_tensor(np.asarray(values), dtype=torch.float32)

    def parameter(values):  # one value for a layer whose neurons all share it, as the module was built
        values = np.asarray(values, dtype=np.float64)
        return tensor(values.flat[0]) if np.all(values == values.flat[0]) else tensor(values)

    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = np.asarray(node.weight)
        module = nn.Linear(weight.shape[1], weight.shape[0], bias=isinstance(node, nir.Affine))
        _assign(module, weight, getattr(node, "bias", None), tensor)
        return module
    if isinstance(node, nir.Conv2d):
        weight = np.asarray(node.weight)
        padding = node.padding if isinstance(node.padding, str) else tuple(int(p) for p in np.atleast_1d(node.padding))
        module = nn.Conv2d(weight.shape[1] * int(node.groups), weight.shape[0], tuple(weight.shape[2:]), stride=tuple(np.atleast_1d(node.stride)),
                           padding=padding, dilation=tuple(np.atleast_1d(node.dilation)), groups=int(node.groups))
        _assign(module, weight, node.bias, tensor)
        return module
    if isinstance(node, nir.AvgPool2d):
        return nn.AvgPool2d(tuple(np.atleast_1d(node.kernel_size)), stride=tuple(np.atleast_1d(node.stride)),
                            padding=tuple(np.atleast_1d(node.padding)))
    if isinstance(node, nir.Flatten):
        return nn.Flatten(start_dim=int(node.start_dim) + 1, end_dim=int(node.end_dim))  # the batch axis comes first
    meta = node.metadata or {}
    reset = {"reset_mechanism": meta.get("reset", "subtract"), "reset_delay": bool(meta.get("reset_delay", True)), "init_hidden": True}
    if isinstance(node, nir.LIF):
        return snn.Leaky(beta=parameter(1.0 - dt / np.asarray(node.tau)), threshold=parameter(node.v_threshold), **reset)
    if isinstance(node, nir.CubaLIF):
        decays = {"alpha": parameter(1.0 - dt / np.asarray(node.tau_syn)), "beta": parameter(1.0 - dt / np.asarray(node.tau_mem)),
                  "threshold": parameter(node.v_threshold)}
        if recurrent is None:
            return snn.Synaptic(**decays, **reset)
        weight = np.asarray(recurrent.weight)
        module = snn.RSynaptic(**decays, linear_features=weight.shape[0], **reset)
        _assign(module.recurrent, weight, getattr(recurrent, "bias", None), tensor)
        return module
    raise ValueError(f"snntorch_from_nir: no module for a {type(node).__name__} node")


def _assign(module, weight, bias, tensor) -> None:
    import torch

    with torch.no_grad():
        module.weight.copy_(tensor(weight))
        if bias is not None:
            module.bias.copy_(tensor(bias))


def layer_spikes(model, x: np.ndarray, shape) -> list[np.ndarray]:
    """Every spiking module's spikes (steps, samples, neurons) of ``model`` on ``x``."""
    import torch
    from snntorch import utils

    neurons = [m for m in model.modules() if hasattr(m, "reset_mechanism")]
    seen = {id(m): [] for m in neurons}
    hooks = [m.register_forward_hook(lambda m, _i, out: seen[id(m)].append((out[0] if isinstance(out, tuple) else out).flatten(1).clone()))
             for m in neurons]
    try:
        with torch.no_grad():
            utils.reset(model)
            for t in range(x.shape[0]):
                model(torch.as_tensor(x[t], dtype=torch.float32).reshape(x.shape[1], *shape))
    finally:
        for hook in hooks:
            hook.remove()
    return [torch.stack(seen[id(m)]).numpy() for m in neurons]


def check_nir_model(model, nir_path: Path, x: np.ndarray, shape) -> None:
    """The model built from the NIR file spikes as the original module, layer by layer (and spikes)."""
    import nir

    built = snntorch_from_nir(nir.read(nir_path)).eval()
    original, rebuilt = layer_spikes(model, x, shape), layer_spikes(built, x, shape)
    if len(original) != len(rebuilt) or not all(a.any() for a in original):
        raise RuntimeError(f"{nir_path}: {len(rebuilt)} spiking layers built, {len(original)} in the module, or a silent layer")
    for i, (a, b) in enumerate(zip(original, rebuilt)):
        if not np.array_equal(a, b):
            raise RuntimeError(f"{nir_path}: layer {i} of the NIR-built model spikes differently from the module ({int((a != b).sum())} values)")


def saved_nir(model, shape, path: Path) -> None:
    import nir

    from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph

    nir.write(path, snntorch_to_float_graph(model, input_shape=shape).graph)


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
    parser.add_argument("--forms", default=",".join(FORMS), help="the model's forms: nir (the main comparison), pickle")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--lava-samples", type=int, default=4, help="samples of the Lava command (it runs samples one after another)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "whole_command.json"))
    args = parser.parse_args(argv)
    forms = args.forms.split(",")
    if set(forms) - set(FORMS):
        parser.error(f"--forms: choose from {', '.join(FORMS)}")

    import torch
    from backend_speed import networks

    from neurodeploy.warmup import warm

    warm()
    if sys.dont_write_bytecode:  # as installed: neurodeploy's modules read from bytecode, not compiled at every start
        compileall.compile_dir(ROOT / "neurodeploy", quiet=1)
    python = sys.executable
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for name in args.networks.split(","):
            make, shape = networks()[name]
            batch_max = max(int(b) for b in args.batches.split(","))
            rng = np.random.default_rng(0)
            x = (rng.random((args.steps, batch_max, *shape)) < args.rate).astype(np.float32)
            input_path = scratch / f"{name}.npy"
            np.save(input_path, x)
            models = {"nir": scratch / f"{name}.nir", "pickle": scratch / f"{name}.pt"}
            saved_nir(make(), shape, models["nir"])
            saved_model(make, models["pickle"])
            if "nir" in forms:
                check_nir_model(make(), models["nir"], x[:, :4], shape)
            del x
            shape_text = ",".join(str(s) for s in shape)
            deploy = {form: [python, "deploy.py", str(models[form]), *(["--trust-pickle"] if form == "pickle" else []), "--input", str(input_path),
                             "--input-shape", shape_text, "--report-dir", str(scratch / "report")] for form in forms}
            for batch in (int(b) for b in args.batches.split(",")):
                row = {"network": name, "batch": batch, "steps": args.steps, "load_average_before": os.getloadavg()}
                commands = {}
                for form in forms:
                    commands[f"snntorch_{form}"] = [python, "-c", PLAIN_SNNTORCH[form], str(models[form]), str(input_path), str(batch), shape_text]
                    commands[f"deploy_cpu_{form}"] = [*deploy[form], "--batch", str(batch), "--target", "cpu"]
                for key in commands:
                    row[key] = {"walls_s": [], "cpu_s": [], "samples": batch}
                for _ in range(args.repeats):  # interleaved, so that a change in the machine's load reaches every command
                    for key, command in commands.items():
                        wall, cpu = timed(command)
                        row[key]["walls_s"].append(wall)
                        row[key]["cpu_s"].append(cpu)
                        if key.startswith("deploy_cpu"):
                            row[key].setdefault("timing_s", []).append(json.loads((scratch / "report" / "report.json").read_text())["timing_s"])
                for key in commands:
                    row[key]["wall_s"] = float(np.median(row[key]["walls_s"]))
                    row[key]["cpu_median_s"] = float(np.median(row[key]["cpu_s"]))
                for form in forms:
                    plain, ours = row[f"snntorch_{form}"], row[f"deploy_cpu_{form}"]
                    row[f"deploy_cpu_vs_snntorch_{form}"] = plain["wall_s"] / ours["wall_s"]
                    row[f"deploy_cpu_vs_snntorch_cpu_time_{form}"] = plain["cpu_median_s"] / ours["cpu_median_s"]
                if args.lava_samples > 0:
                    samples = min(batch, args.lava_samples)
                    wall, cpu = timed([*deploy[forms[0]], "--batch", str(samples), "--target", "loihi-sim"])
                    row["deploy_lava"] = {"wall_s": wall, "cpu_s": cpu, "samples": samples}
                row["load_average_after"] = os.getloadavg()
                rows.append(row)
                print(_line(row, forms), flush=True)
    machine = {"platform": platform.platform(), "processor": _processor(), "cpus": os.cpu_count(), "python": platform.python_version(),
               "torch": torch.__version__, "load_average": os.getloadavg()}
    out = {"rate": args.rate, "steps": args.steps, "repeats": args.repeats, "forms": forms, "machine": machine, "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print("\n" + _table(rows, forms))
    print(f"machine: {machine}\nwrote {args.out}")
    return 0


def _line(row: dict, forms: list[str]) -> str:
    parts = [f"{row['network']:>4} batch {row['batch']:>4}"]
    for form in forms:
        cpu, plain = row[f"deploy_cpu_{form}"], row[f"snntorch_{form}"]
        parts.append(f"{form}: snnTorch script {plain['wall_s']:6.2f} s (CPU {plain['cpu_median_s']:.2f} s), deploy.py --target cpu "
                     f"{cpu['wall_s']:6.2f} s (CPU {cpu['cpu_median_s']:.2f} s): {row[f'deploy_cpu_vs_snntorch_{form}']:.2f}x")
    if "deploy_lava" in row:
        parts.append(f"loihi-sim {row['deploy_lava']['wall_s']:.2f} s on {row['deploy_lava']['samples']} sample(s)")
    return " | ".join(parts) + f" | load {row['load_average_before'][0]:.1f}"


def _table(rows: list[dict], forms: list[str]) -> str:
    """The rows as docs/benchmarks.md's table (seconds: median wall, CPU in brackets), one row per form."""
    lines = ["| network | batch | model | snnTorch script | deploy.py --target cpu | of which load / run.float / run.cpu / run.overflow / report "
             "| deploy.py vs snnTorch (wall, CPU) | load |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        for form in forms:
            cpu, plain = row[f"deploy_cpu_{form}"], row[f"snntorch_{form}"]
            keys = ("load", "run.float", "run.cpu", "run.overflow", "report")
            parts = " / ".join(f"{float(np.median([t.get(k, 0.0) for t in cpu['timing_s']])):.2f}" for k in keys)
            lines.append(f"| {row['network']} | {row['batch']} | {form} | {plain['wall_s']:.2f} ({plain['cpu_median_s']:.2f}) | {cpu['wall_s']:.2f} "
                         f"({cpu['cpu_median_s']:.2f}) | {parts} | {row[f'deploy_cpu_vs_snntorch_{form}']:.2f}x, "
                         f"{row[f'deploy_cpu_vs_snntorch_cpu_time_{form}']:.2f}x | {row['load_average_before'][0]:.1f} |")
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
