import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings


def pytest_configure(config):
    """Triton kernels are tested under the interpreter; this must be set before anything imports
    Triton (pytest calls this as soon as it loads this file, before it imports any test module). The
    sm_70/80/90 compile checks run in subprocesses that drop it. A `pytest --benchmark` (alias of
    `--benchmark-only`, bench/conftest.py) run from the root also loads this file: there the GPU
    benchmarks need real kernels, so it is left unset."""
    if not config.getoption("benchmark_only", default=False):
        os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_ignore_collect(collection_path, config):
    """A benchmark-only run from the root walks tests/ too (testpaths): it holds no benchmark, so its
    modules are not even imported (test files named on the command line are still collected)."""
    if config.getoption("benchmark_only", default=False) and collection_path.name.startswith("test_"):
        return True
    return None


# Bounded example counts keep the suite fast on a 2-core CI machine; raise with
# HYPOTHESIS_PROFILE=thorough locally.
settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared"))


@pytest.fixture(scope="session")
def shared_dir():
    """../shared beside the checkout (real SoccerNet labels and predictions, specs)."""
    if not os.path.isdir(SHARED):
        pytest.skip("../shared is not present beside the checkout")
    return SHARED


@pytest.fixture
def rng():
    return np.random.default_rng(0)
