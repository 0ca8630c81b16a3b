import os
import sys
import zlib

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # tests/netgen.py
# deploy() and deploy.py (subprocesses inherit it) run the cpu target on the numba engine, which
# they would otherwise leave for the numpy engine on small runs; tests/test_run_loop.py tests that choice
os.environ.setdefault("NEURODEPLOY_CPU_ENGINE", "numba")

from neurodeploy.hardware.profile import load_profile  # noqa: E402


@pytest.fixture(scope="session")
def loihi2():
    return load_profile("loihi2")


@pytest.fixture(scope="session")
def loihi1():
    return load_profile("loihi1")


@pytest.fixture(scope="session")
def kapoho():
    return load_profile("kapoho_point")


@pytest.fixture(scope="session")
def demo_model():
    """The built-in demo, trained once for the whole suite: what deploy() loads when no model
    is given (frontends.load(None)); pass it as DeployOptions(model=demo_model)."""
    from neurodeploy.frontends import load

    return load(None, seed=0)


@pytest.fixture
def rng(request):
    """A generator seeded from the test's name: reproducible, different per test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
