"""``python -m neurodeploy.warmup`` (run by make setup) compiles the numba engine for the input
kinds the pipeline can hand it; if the pipeline ever hands it another dtype, a user's first
command compiles again and this fails."""
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from neurodeploy.encoders import InputBatch, to_integer_input
from neurodeploy.ir.stages import InputEncoding
from neurodeploy.warmup import INPUT_KINDS, warm


def test_the_pipeline_hands_the_engine_only_the_warmed_input_kinds():
    values = [np.ones((2, 1, 3), dtype) for dtype in (np.uint8, np.bool_, np.int64, np.float32, np.float64)]
    for encoding in (InputEncoding("spikes"), InputEncoding("graded", 1.0, 100.0, 8)):
        network = SimpleNamespace(input_encoding=encoding)
        for array in values:
            x = to_integer_input(InputBatch(array, encoding, {}), network)
            assert x.dtype == INPUT_KINDS[encoding.kind], (encoding.kind, array.dtype, x.dtype)


def test_warmup_runs_every_kind():
    assert set(warm()) == set(INPUT_KINDS)


def test_a_deployment_after_warmup_compiles_no_kernel(tmp_path):
    """Every numba specialisation a deployment meets (the float reference's kernels: a CNN's
    convolutions with their input made in the chunk's call, its readout summing v, a recurrent
    layer's chunk; the engine) is one that warmup compiled: a fresh process, warmed, then
    deployments that add no signature to any kernel."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from make_examples import write_examples

    models = write_examples(tmp_path)
    runs = [(models["cnn_dvs"], "2,34,34", 16), (models["cnn_dvs"], "2,34,34", 1), (models["rnn_cubalif"], "12", 16)]
    code = textwrap.dedent(f"""
        from neurodeploy.backends import float_kernels, numba_engine
        from neurodeploy.pipeline import DeployOptions, deploy
        from neurodeploy.warmup import warm

        def signatures():
            return {{(m.__name__, n): len(f.signatures) for m in (float_kernels, numba_engine) for n, f in vars(m).items() if hasattr(f, "signatures")}}

        warm()
        before = signatures()
        for model, shape, batch in {[(str(m), s, b) for m, s, b in runs]!r}:
            outcome = deploy(DeployOptions(model=model, input_shape=tuple(int(x) for x in shape.split(",")), batch=batch, steps=20, target="cpu",
                                           cpu_engine="numba"))
            assert all(layer.spikes > 0 for layer in outcome.results["float"].layers.values()), model
        after = signatures()
        print(sorted(name for name in after if after[name] != before.get(name)))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", f"compiled at a user's first command: {done.stdout.strip()}"
