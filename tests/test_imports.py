"""A run imports only what it uses: a NIR model on the bit-exact CPU target needs neither torch,
nor Lava, nor Ray, nor (without --plots) matplotlib, and a small run not numba (it runs on the
numpy engine): each costs up to seconds of a user's command."""
import json
import os
import subprocess
import sys
from pathlib import Path

import nir
import numpy as np

from netgen import random_nir_graph

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
from neurodeploy import cli
status = cli.main(sys.argv[1:])
print(json.dumps({"status": status, "modules": sorted({name.split(".")[0] for name in sys.modules})}))
"""


def test_a_small_nir_model_on_the_cpu_target_imports_no_torch_lava_ray_matplotlib_or_numba(tmp_path):
    net = tmp_path / "net.nir"
    nir.write(net, random_nir_graph(np.random.default_rng(0), [12, 8, 3], kinds=["LIF", "LIF"]))
    argv = [str(net), "--target", "cpu", "--batch", "2", "--steps", "5", "--report-dir", str(tmp_path / "report"), "--json"]
    env = {key: value for key, value in os.environ.items() if key != "NEURODEPLOY_CPU_ENGINE"}  # the engine as a user's run chooses it
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == 0, done.stderr
    assert {"nir", "scipy"} <= set(result["modules"]), "the probe must see the run's own imports"
    assert not {"torch", "lava", "ray", "snntorch", "matplotlib", "numba"} & set(result["modules"])
