"""What docs/architecture.md promises a contributor: a neuron model, an encoder or a target is
one new file in the package plus one registration line, and a hardware profile is one YAML
file. Each test does exactly that to a copy of the package and runs the copy in a fresh
interpreter, so nothing else could have been needed."""
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def checkout(tmp_path):
    """A copy of the package and deploy.py (numba's cache included, so the copy does not recompile)."""
    shutil.copytree(ROOT / "neurodeploy", tmp_path / "neurodeploy")
    shutil.copy(ROOT / "deploy.py", tmp_path / "deploy.py")
    return tmp_path


def add_file(checkout: Path, relative: str, text: str) -> None:
    path = checkout / relative
    assert not path.exists()
    path.write_text(textwrap.dedent(text))


def register(checkout: Path, relative: str, table_opening: str, line: str) -> None:
    """Insert one line after the registry table's opening line, and nothing else."""
    path = checkout / relative
    before = path.read_text().splitlines(keepends=True)
    index = next(i for i, text in enumerate(before) if text.startswith(table_opening))
    after = before[: index + 1] + [line + "\n"] + before[index + 1:]
    path.write_text("".join(after))
    assert len(after) == len(before) + 1


def run_python(checkout: Path, script: str) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=checkout, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


STEP_LIF = '''\
    """A toy neuron model: leaky integrate-and-fire with its decay and threshold given per step
    (as Sinabs and snnTorch write them), no time constant and no dt.

        v[t] = beta v[t-1] + I[t];  a spike where v > threshold, then v = 0
    """
    from dataclasses import dataclass

    import nir
    import numpy as np

    from .base import Lowering, NeuronModel, Subthreshold


    @dataclass(eq=False)
    class StepLIFNode(nir.NIRNode):
        beta: np.ndarray
        threshold: np.ndarray

        def __post_init__(self):
            self.input_type = {"input": np.array(self.threshold.shape)}
            self.output_type = {"output": np.array(self.threshold.shape)}


    class StepLIFModel(NeuronModel):
        name = "StepLIFNode"
        node_class = StepLIFNode
        fields = ("beta", "threshold")
        shape_field = "threshold"
        threshold_field = "threshold"
        reset_field = None

        def subthreshold(self, low: Lowering) -> Subthreshold:
            return Subthreshold(gain=low.ones, alpha=low.zeros, beta=low.param("beta"), bias=low.bias_in, current_bias=low.zeros)


    STEP_LIF = StepLIFModel()
'''


@pytest.mark.lava
def test_a_neuron_model_is_one_file_and_one_line(checkout):
    add_file(checkout, "neurodeploy/neurons/step_lif.py", STEP_LIF)
    register(checkout, "neurodeploy/neurons/__init__.py", "NEURONS: Registry", '    "StepLIFNode": ".step_lif:STEP_LIF",')
    result = run_python(checkout, '''
        import json

        import nir
        import numpy as np

        from neurodeploy.backends.compare import compare_runs
        from neurodeploy.backends.cpu import run_cpu
        from neurodeploy.backends.float_reference import run_float
        from neurodeploy.backends.lava_backend import run_lava
        from neurodeploy.hardware.profile import load_profile
        from neurodeploy.ir.passes import CompileOptions, compile_network
        from neurodeploy.ir.stages import FloatGraph
        from neurodeploy.neurons.step_lif import StepLIFNode

        rng = np.random.default_rng(0)
        weight = rng.normal(0, 0.8, (8, 12))
        nodes = {"input": nir.Input(np.array([12])), "fc": nir.Linear(weight),
                 "toy": StepLIFNode(beta=np.full(8, 0.8), threshold=np.full(8, 1.0)), "output": nir.Output(np.array([8]))}
        graph = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "toy"), ("toy", "output")], metadata={"dt": 1e-3}, type_check=False)
        compiled = compile_network(FloatGraph(graph, "toy", "nir"), CompileOptions(profile=load_profile("loihi2")))
        x = (rng.random((40, 2, 12)) < 0.3).astype(np.int32)

        v, by_hand = np.zeros((2, 8)), []
        for t in range(40):
            v = 0.8 * v + x[t] @ weight.T
            by_hand.append(v > 1.0)
            v = np.where(by_hand[-1], 0.0, v)
        exact = run_float(compiled.normalised, x.astype(float), record_spikes=True)

        lava = run_lava(compiled.quantised, x, record_spikes=True, record_state=True)
        verdicts = {engine: compare_runs(lava, run_cpu(compiled.quantised, x, record_spikes=True, record_state=True, engine=engine), ["toy"])["passed"]
                    for engine in ("numba", "numpy", "torch")}
        print(json.dumps({"kind": compiled.quantised.layers[0].neurons.kind, "float_as_by_hand": bool(np.array_equal(exact.rasters["toy"], np.array(by_hand))),
                          "spikes": lava.layers["toy"].spikes, "identical_to_lava": verdicts}))
    ''')
    assert result["kind"] == "StepLIFNode" and result["float_as_by_hand"]
    assert result["spikes"] > 0
    assert result["identical_to_lava"] == {"numba": True, "numpy": True, "torch": True}


FLOOR_IF = '''\
    """A toy neuron model and its compartment: an integrate-and-fire neuron whose membrane never
    drops below zero (it has no state the CUBA compartment could not hold, but CUBA cannot floor).

        float    v[t] = max(0, v[t-1] + I[t]);  a spike where v > threshold, then v -= threshold
        integer  v = clip(max(0, v + (a_in << 6)), 2**23 - 1);  spike v > vth << 6;  v -= vth << 6
    """
    from dataclasses import dataclass, field
    from typing import ClassVar

    import nir
    import numpy as np

    from .base import Lowering, NeuronDynamics, NeuronModel, Subthreshold
    from .compartment import Compartment


    @dataclass(eq=False)
    class FloorIFNode(nir.NIRNode):
        threshold: np.ndarray

        def __post_init__(self):
            self.input_type = {"input": np.array(self.threshold.shape)}
            self.output_type = {"output": np.array(self.threshold.shape)}


    @dataclass(frozen=True)
    class FloorDynamics(NeuronDynamics):
        compartment: ClassVar[str] = "floor-if"


    @dataclass(frozen=True)
    class FloorNeurons:
        compartment: ClassVar[str] = "floor-if"
        spiking: ClassVar[bool] = True
        inclusive: ClassVar[bool] = False  # the spike rule every engine reads: one spike per step, no floor
        max_spikes: ClassVar[int] = 1
        several_spikes: ClassVar[bool] = False
        v_floor: ClassVar[None] = None
        kind: str
        vth: np.ndarray
        v_init: np.ndarray = field(default=None)

        @property
        def size(self):
            return int(self.vth.shape[0])


    class FloorIFModel(NeuronModel):
        name = "FloorIFNode"
        node_class = FloorIFNode
        fields = ("threshold",)
        shape_field = "threshold"

        def subthreshold(self, low: Lowering) -> Subthreshold:
            raise NotImplementedError

        def lower(self, low: Lowering):
            z = low.zeros
            return FloorDynamics(self.name, z, low.ones, low.param("threshold"), z, z, z, "subtract", low.param("threshold")), low.ones


    class FloorIFCompartment(Compartment):
        name = "floor-if"
        lava_module = "floor_if"

        def quantise(self, name, dyn, bias_total, scale, arith):
            vth = np.round(dyn.threshold * scale / 64).astype(np.int32)
            return FloorNeurons(dyn.kind, vth, np.zeros(dyn.size, np.int32)), []

        def limits(self, neurons, arith):
            return [("vth", 1, arith.threshold_max)]

        def configs(self, neurons):
            return [(int(x),) for x in neurons.vth]

        def update_bias(self, neurons):
            return np.zeros(neurons.size, np.int32)

        def float_init(self, dyn, batch):
            return {"u": np.zeros((batch, dyn.size)), "v": np.zeros((batch, dyn.size))}

        def float_step(self, dyn, state, a):
            v = np.maximum(0.0, state["v"] + a)
            spikes = v > dyn.threshold
            state.update(u=a, v=np.where(spikes, v - dyn.threshold, v))
            return spikes

        def init_state(self, neurons, batch, arith):
            return {"u": np.zeros((batch, neurons.size), np.int32), "v": np.zeros((batch, neurons.size), np.int32)}

        def step(self, neurons, state, a_in, arith):
            u = a_in.astype(np.int64) << 6
            v = np.clip(np.maximum(0, state["v"] + u), 0, arith.state_max)
            threshold = neurons.vth.astype(np.int64) << 6
            spikes = v > threshold
            state.update(u=u.astype(np.int32), v=np.where(spikes, v - threshold, v).astype(np.int32))
            return spikes, 0, 0

        def torch_params(self, neurons, arith, device):
            import torch

            return {"threshold": torch.as_tensor(neurons.vth.astype(np.int64) << 6, device=device), "limit": arith.state_max}

        def torch_init(self, params, batch):
            import torch

            n = params["threshold"].shape[0]
            return {"u": torch.zeros((batch, n), dtype=torch.int64), "v": torch.zeros((batch, n), dtype=torch.int64)}

        def torch_step(self, params, state, a_in):
            import torch

            u = a_in.to(torch.int64) * 64
            v = torch.clamp(state["v"] + u, 0, params["limit"])
            spikes = v > params["threshold"]
            state.update(u=u, v=torch.where(spikes, v - params["threshold"], v))
            zero = torch.zeros((), dtype=torch.int64)
            return spikes.to(torch.float64), torch.count_nonzero(a_in), zero, zero


    FLOOR_IF = FloorIFModel()
    FLOOR_IF_COMPARTMENT = FloorIFCompartment()
'''

FLOOR_IF_LAVA = '''\
    """The toy compartment's Lava process (written apart from its numpy step, as a second statement)."""
    import numpy as np
    from lava.magma.core.decorator import implements, requires, tag
    from lava.magma.core.model.py.model import PyLoihiProcessModel
    from lava.magma.core.model.py.ports import PyInPort, PyOutPort
    from lava.magma.core.model.py.type import LavaPyType
    from lava.magma.core.process.ports.ports import InPort, OutPort
    from lava.magma.core.process.process import AbstractProcess
    from lava.magma.core.process.variable import Var
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

    from neurodeploy.backends.lava_processes.sampled_models import SampledState


    class FloorIF(AbstractProcess):
        def __init__(self, *, shape, vth, name=None):
            super().__init__(shape=shape, name=name)
            self.a_in, self.s_out = InPort(shape=shape), OutPort(shape=shape)
            self.u, self.v, self.vth = Var(shape=shape, init=0), Var(shape=shape, init=0), Var(shape=shape, init=vth)


    @implements(proc=FloorIF, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("fixed_pt")
    class PyFloorIFModel(PyLoihiProcessModel):
        a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)
        s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32)
        u: np.ndarray = LavaPyType(np.ndarray, np.int32)
        v: np.ndarray = LavaPyType(np.ndarray, np.int32)
        vth: np.ndarray = LavaPyType(np.ndarray, np.int32)

        def run_spk(self):
            self.u[:] = np.int64(self.a_in.recv()) * 64
            self.v[:] = np.minimum(np.maximum(np.int64(self.v) + self.u, 0), 2**23 - 1)
            fired = self.v > (np.int64(self.vth) << 6)
            self.v[fired] -= self.vth[fired] << 6
            self.s_out_buff = fired
            self.s_out.send(fired)


    class PySampledFloorIFModel(SampledState, PyFloorIFModel):
        pass


    def sampled_models():
        return {FloorIF: PySampledFloorIFModel}


    def build_process(layer, name, **extra):
        zeros = np.zeros(layer.n_out, np.int32)
        process = FloorIF(shape=(layer.n_out,), vth=layer.neurons.vth, name=name)
        for key, value in {**extra, "initial": {"u": zeros, "v": zeros}, "aliases": {}}.items():
            process.proc_params[key] = value
        return process
'''


@pytest.mark.lava
def test_a_compartment_is_two_files_and_one_line(checkout):
    """A neuron model with its own compartment: the model and the compartment in one module (one
    line each in NEURONS and COMPARTMENTS), its Lava process in lava_processes/."""
    add_file(checkout, "neurodeploy/neurons/floor_if.py", FLOOR_IF)
    add_file(checkout, "neurodeploy/backends/lava_processes/floor_if.py", FLOOR_IF_LAVA)
    register(checkout, "neurodeploy/neurons/__init__.py", "NEURONS: Registry", '    "FloorIFNode": ".floor_if:FLOOR_IF",')
    register(checkout, "neurodeploy/neurons/__init__.py", "COMPARTMENTS: Registry", '    "floor-if": ".floor_if:FLOOR_IF_COMPARTMENT",')
    result = run_python(checkout, '''
        import json

        import nir
        import numpy as np

        from neurodeploy.backends.compare import compare_runs
        from neurodeploy.backends.cpu import run_cpu
        from neurodeploy.backends.float_reference import run_float
        from neurodeploy.backends.lava_backend import run_lava
        from neurodeploy.hardware.profile import load_profile
        from neurodeploy.ir.passes import CompileOptions, compile_network
        from neurodeploy.ir.stages import FloatGraph
        from neurodeploy.neurons.floor_if import FloorIFNode

        rng = np.random.default_rng(0)
        weight = rng.normal(0, 0.8, (8, 12))
        nodes = {"input": nir.Input(np.array([12])), "fc": nir.Linear(weight), "toy": FloorIFNode(threshold=np.full(8, 1.5)),
                 "output": nir.Output(np.array([8]))}
        graph = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "toy"), ("toy", "output")], metadata={"dt": 1e-3}, type_check=False)
        compiled = compile_network(FloatGraph(graph, "toy", "nir"), CompileOptions(profile=load_profile("loihi2")))
        x = (rng.random((40, 2, 12)) < 0.4).astype(np.int32)
        v, by_hand = np.zeros((2, 8)), []
        for t in range(40):
            v = np.maximum(0.0, v + x[t] @ weight.T)
            by_hand.append(v > 1.5)
            v = np.where(by_hand[-1], v - 1.5, v)
        exact = run_float(compiled.normalised, x.astype(float), record_spikes=True)
        lava = run_lava(compiled.quantised, x, record_spikes=True, record_state=True)
        runs = {engine: run_cpu(compiled.quantised, x, record_spikes=True, record_state=True, engine=engine) for engine in ("numba", "numpy", "torch")}
        print(json.dumps({"float_as_by_hand": bool(np.array_equal(exact.rasters["toy"], np.array(by_hand))), "spikes": lava.layers["toy"].spikes,
                          "identical_to_lava": {e: compare_runs(lava, r, ["toy"])["passed"] for e, r in runs.items()},
                          "numba_note": runs["numba"].notes}))
    ''')
    assert result["float_as_by_hand"] and result["spikes"] > 0
    assert result["identical_to_lava"] == {"numba": True, "numpy": True, "torch": True}
    assert "no kernel for the floor-if compartment" in result["numba_note"][0]


PER_SAMPLE = '''\
    """A toy target: the bit-exact backend one sample at a time (numpy engine), the runs joined."""
    import dataclasses

    import numpy as np

    from .cpu import run_cpu
    from .results import RunResult
    from .target import RunRequest, Target


    def _join(maps):
        return None if maps[0] is None else {key: np.concatenate([m[key] for m in maps], axis=1) for key in maps[0]}


    class PerSample(Target):
        name = "per-sample"
        stage = "quantised"
        bit_exact = True
        summary = "the numpy engine, one sample at a time"

        def run(self, stage, inputs: np.ndarray, request: RunRequest) -> RunResult:
            parts = [run_cpu(stage, inputs[:, b : b + 1], record_spikes=request.record_spikes, record_state=request.record_state,
                             windows=request.windows, engine="numpy") for b in range(inputs.shape[1])]
            layers = {}
            for name, first in parts[0].layers.items():
                acts = [part.layers[name] for part in parts]
                layers[name] = dataclasses.replace(
                    first,
                    **{key: sum(getattr(a, key) for a in acts) for key in ("spikes", "synops", "neuron_updates", "active_neuron_updates")},
                    spike_counts=np.concatenate([a.spike_counts for a in acts]),
                    saturations={key: sum(a.saturations[key] for a in acts) for key in first.saturations},
                    window_counts=None if first.window_counts is None else np.concatenate([a.window_counts for a in acts]),
                )
            traces = None if parts[0].traces is None else {name: _join([part.traces[name] for part in parts]) for name in parts[0].traces}
            return RunResult(
                target=self.name, steps=parts[0].steps, batch=inputs.shape[1], layers=layers, output_layer=parts[0].output_layer,
                output_v_sum=np.concatenate([part.output_v_sum for part in parts]), rasters=_join([part.rasters for part in parts]),
                traces=traces, wall_s=sum(part.wall_s for part in parts),
            )


    PER_SAMPLE = PerSample()
'''


def write_net(path: Path) -> Path:
    import nir
    import numpy as np

    from netgen import random_nir_graph

    nir.write(path, random_nir_graph(np.random.default_rng(0), [20, 15, 4], kinds=["LIF", "CubaLIF"]))
    return path


def deploy_py(checkout: Path, *argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "deploy.py", *map(str, argv)], cwd=checkout, capture_output=True, text=True, timeout=600)


def test_a_target_is_one_file_and_one_line(checkout):
    add_file(checkout, "neurodeploy/backends/per_sample.py", PER_SAMPLE)
    register(checkout, "neurodeploy/backends/__init__.py", "TARGETS: Registry", '    "per-sample": ".per_sample:PER_SAMPLE",')
    net = write_net(checkout / "net.nir")
    done = deploy_py(checkout, net, "--target", "per-sample", "--verify-against", "cpu", "--steps", "25", "--batch", "3", "--rate", "0.3",
                     "--report-dir", checkout / "r")
    assert done.returncode == 0, done.stderr
    report = json.loads((checkout / "r" / "report.json").read_text())
    assert report["target"] == "per-sample" and sum(layer["spikes"] for layer in report["layers"]) > 0
    assert report["verify"]["passed"] and report["verify"]["candidate"] == "per-sample"
    assert "per-sample: the numpy engine, one sample at a time" in deploy_py(checkout, "--help").stdout


def test_a_profile_is_one_yaml_file(checkout):
    import yaml

    raw = yaml.safe_load((checkout / "neurodeploy" / "hw_profiles" / "loihi2.yaml").read_text())
    raw["name"], raw["core"]["max_neurons"] = "tiny_chip", 4
    (checkout / "neurodeploy" / "hw_profiles" / "tiny_chip.yaml").write_text(yaml.safe_dump(raw))
    net = write_net(checkout / "net.nir")
    done = deploy_py(checkout, net, "--target", "none", "--profile", "tiny_chip", "--report-dir", checkout / "r")
    assert done.returncode == 0, done.stderr
    report = json.loads((checkout / "r" / "report.json").read_text())
    assert report["profile"]["name"] == "tiny_chip" and report["chip"]["cores_used"] == -(-15 // 4) + 1


PERIODIC = '''\
    """A toy encoder: input i spikes at every step t with (t + i) % period == 0 (a clock, phase-shifted by index)."""
    import numpy as np

    from ..ir.stages import InputEncoding
    from .base import EncodeRequest, Encoder, InputBatch


    class Periodic(Encoder):
        name = "periodic"
        summary = "input i spikes when (step + i) % period == 0 (period=4)"
        parameters = {"period": int}

        def encode(self, request: EncodeRequest) -> InputBatch:
            steps, batch, period = request.steps or 20, request.batch or 1, request.params.get("period", 4)
            n = int(np.prod(request.shape))
            clock = (np.arange(steps)[:, None] + np.arange(n)[None, :]) % period == 0
            values = np.broadcast_to(clock[:, None, :], (steps, batch, n)).astype(np.uint8)
            description = {"source": "periodic", "steps": steps, "batch": batch, "shape": list(request.shape), "encoding": "spikes",
                           "period": period, "description": f"every input once every {period} steps, {steps} steps, {batch} sample(s)"}
            return InputBatch(values=values, encoding=InputEncoding("spikes"), description=description)


    PERIODIC = Periodic()
'''


def test_an_encoder_is_one_file_and_one_line(checkout):
    import numpy as np

    add_file(checkout, "neurodeploy/encoders/periodic.py", PERIODIC)
    register(checkout, "neurodeploy/encoders/__init__.py", "ENCODERS: Registry", '    "periodic": ".periodic:PERIODIC",')
    net = write_net(checkout / "net.nir")
    done = deploy_py(checkout, net, "--target", "cpu", "--encode", "periodic:period=3", "--steps", "24", "--batch", "2", "--report-dir", checkout / "r")
    assert done.returncode == 0, done.stderr
    report = json.loads((checkout / "r" / "report.json").read_text())
    assert report["input"]["source"] == "periodic" and report["input"]["period"] == 3
    events = 2 * int(((np.arange(24)[:, None] + np.arange(20)[None, :]) % 3 == 0).sum())
    assert report["layers"][0]["synops"] == events * 15  # 20 inputs, each event reaching the 15 neurons of a dense layer
    assert report["layers"][0]["spikes"] > 0
    bad = deploy_py(checkout, net, "--encode", "periodic:phase=1", "--report-dir", checkout / "nothing")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "periodic has no parameter 'phase' (periodic takes period)" in bad.stderr
