"""The Python API: what ``deploy.py`` does, from a notebook or a script, on objects in memory.

    import neurodeploy

    dep = neurodeploy.deploy(net, data=x_test, labels=y_test, encode="rate:steps=25", target="loihi-sim")
    dep.accuracy          {"float": 0.95, "loihi-sim": 0.94}
    dep.report            the report as a dict: the structure of report.json (docs/report.md)
    dep.spikes            every layer's spikes on the target, name -> (steps, samples, neurons)
    dep.plot()            a matplotlib Figure ("report", "confusion" or "mesh")
    dep.save("out")       report.json, report.png, mesh.png, confusion.png, spikes.npz in out/

    compiled = neurodeploy.compile(net, data=x_test, encode="rate:steps=25")
    compiled.save("net.ndz")                         one versioned file, no pickle
    neurodeploy.load("net.ndz").run(data=x_test, labels=y_test, target="cpu")   no compiling again

``model`` is what ``deploy.py`` takes (a .nir, a .pt, a compiled .ndz, None for the built-in
demo) or an ``nn.Module`` in memory, or a ``Compiled``. ``data`` is a path or a built-in set
name as ``--data`` takes it, or an array of samples (``layout`` as ``--layout``), or a list of
(x, y, t, p) event arrays; ``labels`` an array or a .npy path. Every other keyword is a field of
``pipeline.DeployOptions`` (the command line's options: ``steps``, ``batch``, ``seed``,
``decision``, ``dt``, ``weight_scaling``, ``calibration``, ``verify``, ``model_class``, ...).
Errors are the command line's: a ``UserError`` with one line saying what to change.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from .data import LabelledData, from_arrays
from .errors import UserError
from .frontends.compiled_file import SavedNetwork, read_saved_network, write_saved_network
from .frontends.model_class import save_model
from .pipeline import DeployOptions, DeployOutcome, prepare, saved_from, write_outputs
from .pipeline import deploy as run_pipeline
from .reports.render import confusion_figure, mesh_figure, render_table, report_figure

API_DEFAULTS = {"record": True}  # a notebook wants the spikes; the command line asks for them with --record
OPTIONS = {f.name for f in dataclasses.fields(DeployOptions)}


@dataclasses.dataclass
class Deployment:
    """One deployment's outcome: its report, the runs' results, the input they ran on."""

    outcome: DeployOutcome
    options: DeployOptions

    @property
    def report(self) -> dict[str, Any]:
        """The report as report.json holds it (docs/report.md)."""
        return self.outcome.report.to_dict()

    @property
    def accuracy(self) -> dict[str, float] | None:
        """Per run (float first, then the target), the fraction of labelled samples classified right; None without labels."""
        return self.outcome.report.accuracy

    @property
    def spikes(self) -> dict[str, np.ndarray]:
        """Every layer's spikes on the target: name -> (steps, samples, neurons) bool."""
        result = self.outcome.results.get(self.options.target)
        if result is None:
            raise UserError(f"target {self.options.target}: nothing was run (a dry run keeps no spikes)")
        if result.rasters is None or set(result.rasters) != set(result.layers):  # a readout's decision may keep its layer's alone
            raise UserError("the spikes were not kept: deploy with record=True")
        return result.rasters

    @property
    def monitors(self) -> dict[str, dict[str, np.ndarray]]:
        """What the model's own monitors record (a Brian2 network's SpikeMonitors and StateMonitors),
        on the target: {"spikes": {layer: (steps, samples, n)}, "state": {"layer.v" | "layer.u": (steps, samples, n)}}."""
        from .frontends.model import model_monitors

        wanted = model_monitors(self.outcome.compiled.float_graph)
        result = self.outcome.results.get(self.options.target)
        if result is None:
            return {"spikes": {}, "state": {}}
        spikes = {layer: result.rasters[layer] for layer in wanted["spikes"] if result.rasters is not None and layer in result.rasters}
        state = {f"{layer}.{var}": result.traces[layer][var] for layer, names in wanted["state"].items() for var in names
                 if result.traces is not None and layer in result.traces}
        return {"spikes": spikes, "state": state}

    @property
    def results(self):
        """Each run's RunResult by target (the float reference included)."""
        return self.outcome.results

    @property
    def inputs(self) -> np.ndarray:
        """The input the runs were given, (steps, samples, n_inputs)."""
        return self.outcome.input.values

    @property
    def compiled(self) -> Compiled:
        """The compiled network of this deployment (``.save()`` it to run it again without compiling)."""
        return Compiled(saved_from(self.outcome.compiled, self.outcome.input, self.options))

    def plot(self, kind: str = "report"):
        """A matplotlib Figure: ``report`` (per-layer spikes, synaptic operations, energy),
        ``confusion`` (one confusion matrix per run) or ``mesh`` (the cores on each chip)."""
        figures = {"report": report_figure, "confusion": confusion_figure, "mesh": mesh_figure}
        if kind not in figures:
            raise UserError(f"plot({kind!r}): choose one of {', '.join(figures)}")
        if kind == "confusion" and self.outcome.report.classification is None:
            raise UserError("plot('confusion'): the data had no labels")
        return figures[kind](self.outcome.report)

    def save(self, directory: str | Path) -> list[Path]:
        """Write the deployment's files (report.json, report.png, mesh.png, confusion.png, spikes.npz) to ``directory``."""
        return write_outputs(self.outcome.files, directory)

    def __str__(self) -> str:
        return render_table(self.outcome.report)

    def __repr__(self) -> str:
        accuracy = ", ".join(f"{k} {v:.2%}" for k, v in (self.accuracy or {}).items())
        return f"<Deployment {self.outcome.report.model['source']} on {self.options.target}" + (f": {accuracy}" if accuracy else "") + ">"


@dataclasses.dataclass
class Compiled:
    """A compiled network (quantised and mapped onto the cores of its profile), ready to run on
    any target without compiling again."""

    saved: SavedNetwork

    @property
    def network(self):
        """Its stages (``ir.passes.CompiledNetwork``: float_graph, normalised, quantised, mapped)."""
        return self.saved.compiled

    @property
    def profile(self):
        return self.saved.profile

    @property
    def encode(self) -> str | None:
        """The --encode spec of the data it was compiled with (raw data given to ``run`` is encoded alike)."""
        return self.saved.encode

    def save(self, path: str | Path) -> Path:
        """One versioned file (.ndz; numpy arrays and JSON, no pickle)."""
        return write_saved_network(self.saved, path)

    def run(self, data: Any = None, labels: Any = None, encode: str | None = None, target: str = "loihi-sim", **options: Any) -> Deployment:
        """``deploy`` this network."""
        return deploy(self, data=data, labels=labels, encode=encode, target=target, **options)

    def __repr__(self) -> str:
        mapped = self.network.mapped
        return (f"<Compiled {self.network.float_graph.source}: {len(mapped.layers)} layers on {mapped.cores_used} cores of "
                f"{self.profile.name}" + (f", encode {self.encode}" if self.encode else "") + ">")


def _options(model: Any, data: Any, labels: Any, encode: str | None, target: str, profile: str | None, extra: dict[str, Any]) -> DeployOptions:
    unknown = sorted(set(extra) - OPTIONS)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}: the options are {', '.join(sorted(OPTIONS - {'model', 'data', 'labels'}))}")
    if isinstance(model, Compiled):
        model = model.saved
    settings = {**API_DEFAULTS, **extra}
    layout = settings.pop("layout", None)
    if data is not None and not isinstance(data, (str, Path, LabelledData)):
        data, labels = from_arrays(data, labels, layout=layout), None
    elif isinstance(data, Path):
        data = str(data)
    return DeployOptions(model=model, data=data, labels=labels, layout=layout if not isinstance(data, LabelledData) else None,
                         encode=encode, target=target, profile=profile, **settings)


def deploy(model: Any = None, data: Any = None, labels: Any = None, encode: str | None = None, target: str = "loihi-sim",
           profile: str | None = None, **options: Any) -> Deployment:
    """Deploy ``model`` on ``data`` (see the module docstring): compile, run on ``target`` and the
    float reference, and report."""
    settings = _options(model, data, labels, encode, target, profile, options)
    return Deployment(run_pipeline(settings), settings)


def compile(model: Any = None, data: Any = None, labels: Any = None, encode: str | None = None, profile: str | None = None,
            **options: Any) -> Compiled:  # noqa: A001 - neurodeploy.compile mirrors the pipeline's compile stage
    """Compile ``model`` (quantised and mapped onto cores) for ``data`` encoded by ``encode``
    (which fixes whether its input is spikes or graded values, and is kept with it); nothing runs."""
    settings = _options(model, data, labels, encode, "none", profile, options)
    prepared = prepare(settings)
    return Compiled(saved_from(prepared.compiled, prepared.batch, settings))


def from_brian2(network: Any, namespace: dict | None = None, *, source: str = "<brian2>") -> Any:
    """A built Brian2 network (or its objects) as a model for ``deploy`` and ``compile``, its
    plasticity as the learning specification ``learn=`` can take (frontends/brian2_model.py, docs/brian2.md)."""
    from .frontends.brian2_model import from_brian2 as read_brian2

    return read_brian2(network, namespace, source=source)


def load(path: str | Path) -> Compiled:
    """A compiled network saved by ``Compiled.save`` (or ``deploy.py --save-compiled``)."""
    return Compiled(read_saved_network(path))


__all__ = ["Compiled", "Deployment", "compile", "deploy", "from_brian2", "load", "save_model"]
