"""``python -m neurodeploy.warmup`` (run by make setup) compiles the numba engine for the input
kinds the pipeline can hand it; if the pipeline ever hands it another dtype, a user's first
command compiles again and this fails."""
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
