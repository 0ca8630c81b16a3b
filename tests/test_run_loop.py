"""The pipeline's run loop: the float reference in a thread beside the bit-exact run, and the
cpu target's engine chosen by the run's size; neither changes the report."""
import json
from types import SimpleNamespace

import nir
import numpy as np
import pytest

from neurodeploy import pipeline
from neurodeploy.backends import TARGETS
from neurodeploy.pipeline import DeployOptions, deploy
from neurodeploy.reports.render import render_json

from netgen import random_nir_graph


def _report(outcome) -> dict:
    report = json.loads(render_json(outcome.report))
    report.pop("timing_s")
    return report


def _spikes(report: dict) -> int:
    return sum(layer["spikes"] for layer in report["layers"])


def _network(tmp_path, sizes, seed=0):
    path = tmp_path / "net.nir"
    nir.write(path, random_nir_graph(np.random.default_rng(seed), sizes, kinds=["LIF"] * (len(sizes) - 1)))
    return str(path)


def test_the_float_reference_beside_the_bit_exact_run_gives_the_sequential_report(tmp_path, monkeypatch):
    # 16 samples x 30 steps: the float reference's event-driven numba kernels run while the engine does
    options = DeployOptions(model=_network(tmp_path, [60, 40, 10]), target="cpu", batch=16, steps=30, rate=0.3, cpu_engine="numba",
                            plots=False)
    threads = []
    beside = pipeline._beside
    monkeypatch.setattr(pipeline, "_beside", lambda run_target, name: threads.append(name) or beside(run_target, name))
    overlapped = _report(deploy(options))
    assert threads == ["float"]
    monkeypatch.setattr(pipeline, "_overlap", lambda *args: False)
    sequential = _report(deploy(options))
    assert threads[-1] is None
    assert _spikes(sequential) > 0 and sequential["fidelity"] is not None
    assert overlapped == sequential


def test_a_small_run_takes_the_numpy_engine_and_reports_as_the_numba_engine(tmp_path, monkeypatch):
    monkeypatch.delenv(pipeline.CPU_ENGINE_VARIABLE, raising=False)
    ran = []
    numpy_target = TARGETS.get("cpu-numpy")
    run = numpy_target.run
    monkeypatch.setattr(numpy_target, "run", lambda *args: ran.append(args[1].shape) or run(*args))
    options = DeployOptions(model=_network(tmp_path, [30, 20, 5]), target="cpu", batch=2, steps=25, rate=0.3, plots=False)
    chosen = _report(deploy(options))
    assert ran, "a run of a few thousand synapse-steps goes to the numpy engine"
    numba = _report(deploy(DeployOptions(**{**vars(options), "cpu_engine": "numba"})))
    assert _spikes(numba) > 0
    assert chosen == numba


def test_the_engine_by_the_run_size_and_where_the_float_reference_runs_beside(monkeypatch):
    monkeypatch.delenv(pipeline.CPU_ENGINE_VARIABLE, raising=False)
    options = DeployOptions(target="cpu")

    def network(synapses):
        return SimpleNamespace(quantised=SimpleNamespace(layers=[SimpleNamespace(synapse_count=synapses)] * 2))

    def plan(**changes):
        values = {"options": options, "verify": None, "order": ("cpu", "float"), **changes}
        return SimpleNamespace(**values)

    def engine(samples, steps=100, synapses=400_000, **changes):
        return pipeline._cpu_engine(network(synapses), SimpleNamespace(steps=steps, batch=samples), plan(**changes))

    assert engine(1) == "numpy" and engine(2) == "numba"  # 8e7 and 1.6e8 synapse-sample-steps
    assert engine(1, steps=1000, synapses=10) == "numpy" and engine(1, steps=1001, synapses=10) == "numba"  # its per-step cost
    assert engine(1, verify=("loihi-sim", "cpu")) == "numba"  # --verify compares the numba engine
    assert engine(1, options=DeployOptions(target="cpu", cpu_engine="numba")) == "numba"
    monkeypatch.setenv(pipeline.CPU_ENGINE_VARIABLE, "numba")
    assert engine(1) == "numba"

    def overlap(engine="numba", **changes):
        return pipeline._overlap(plan(**changes), engine)

    assert overlap()
    assert not overlap(order=("loihi-sim", "float"))  # Lava forks its processes
    assert not overlap(order=("cpu", "loihi-sim", "float"))
    assert not overlap(options=DeployOptions(target="cpu", workers=2))  # Ray's workers run the shards
    assert not overlap("numpy")  # a small run: no thread


def test_an_error_of_the_run_beside_is_raised_after_the_block():
    done = []

    def run_target(name):
        raise ValueError(f"{name} failed")

    with pytest.raises(ValueError, match="float failed"):
        with pipeline._beside(run_target, "float"):
            done.append("block")
    assert done == ["block"]
