"""Compile the numba engine's kernels ahead of a user's first command: ``python -m neurodeploy.warmup``
(``make setup`` runs it).

numba compiles ``numba_engine._simulate`` for each type of input array it meets and caches the
machine code beside the module (``cache=True``); compiling takes most of a minute per kind, which
would otherwise fall on the first ``deploy.py`` run after installation, and again on the first
run with the other kind. The pipeline hands the engine one of two kinds (``encoders.to_integer_input``):
uint8 spikes and int32 graded values, always C-contiguous and three-dimensional; every other
argument has one type whatever the network (``numba_engine.PackedNetwork``). Running a tiny network
once with each fills the cache for every later run. The float reference's event-driven products
(``backends/float_kernels.py``, a few seconds to compile) are compiled with the first kind. The
learning engine (``backends/learning_engine.py``, ``--learn``) has one signature whatever the
rule: one tiny learning layer fills its cache.
"""
from __future__ import annotations

import time

import numpy as np

INPUT_KINDS = {"spikes": np.uint8, "graded": np.int32}


def warm() -> dict[str, float]:
    """Run a tiny network once per input kind on the numba engine (and compile the float
    reference's kernels); seconds per kind."""
    import nir

    from .backends import float_kernels
    from .backends.cpu import run_cpu
    from .hardware.profile import load_profile
    from .ir.passes import CompileOptions, compile_network
    from .ir.stages import FloatGraph, InputEncoding

    rng = np.random.default_rng(0)
    nodes = {
        "input": nir.Input(np.array([4])),
        "fc": nir.Linear(rng.normal(0, 1, (3, 4))),
        "lif": nir.LIF(tau=np.full(3, 5e-3), r=np.full(3, 5.0), v_leak=np.zeros(3), v_threshold=np.ones(3), v_reset=np.zeros(3)),
        "output": nir.Output(np.array([3])),
    }
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], metadata={"dt": 1e-3}, type_check=False)
    seconds, profile = {}, load_profile("loihi2")
    for kind, dtype in INPUT_KINDS.items():
        encoding = InputEncoding("graded", 1.0, 1.0, 8) if kind == "graded" else InputEncoding("spikes")
        compiled = compile_network(FloatGraph(graph=graph, source="warmup", format="nir"), CompileOptions(profile=profile, input_encoding=encoding))
        start = time.perf_counter()
        run_cpu(compiled.quantised, np.ones((2, 1, 4), dtype))
        if not seconds:
            float_kernels.warm()
        seconds[kind] = time.perf_counter() - start
    return seconds


def warm_learning() -> float:
    """Run a tiny learning layer once on the learning engine; seconds."""
    from .backends.learning_engine import LearningEngine
    from .hardware.fixed_point import Reset
    from .learning.program import LayerProgram, PostNeurons
    from .learning.rules import LearningRule

    neurons = PostNeurons(du=4095, dv=0, vth=1, bias_mant=0, bias_exp=0, v_init=0, reset=Reset.ZERO, reset_sub=0, dtheta=0, theta_step=0)
    program = LayerProgram(name="warmup", source="input", rule=LearningRule(dw="2^-2*y0*x1 - 2^-2*x0*y1", x1_impulse=16, x1_tau=10, y1_impulse=16,
                                                                             y1_tau=10), weights=np.full((2, 3), 100), sign_mode="excitatory",
                           num_weight_bits=8, weight_exp=0, neurons=neurons)
    start = time.perf_counter()
    LearningEngine(program).run(np.ones((4, 3), np.uint8), resets=[0, 2], raster=True)
    return time.perf_counter() - start


def main() -> int:
    for kind, seconds in warm().items():
        print(f"numba engine ready for {kind} input ({seconds:.1f} s)")
    print(f"numba learning engine ready ({warm_learning():.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
