"""Benchmark fixtures and the ``--benchmark`` flag (``pytest --benchmark`` runs every benchmark of bench/)."""
import numpy as np
import pytest


def pytest_addoption(parser):
    """``--benchmark``: the command the README promises, an alias of pytest-benchmark's ``--benchmark-only``
    (it sets the same option, so everything that reads ``benchmark_only`` sees it: pytest-benchmark skips
    non-benchmarks, tests/conftest.py leaves TRITON_INTERPRET unset so real kernels are timed)."""
    parser.getgroup("benchmark").addoption(
        "--benchmark", action="store_true", dest="benchmark_only",
        help="run the benchmarks only, timing real kernels (alias of --benchmark-only)")


@pytest.hookimpl(optionalhook=True)  # a pytest-benchmark hook: no error where the plugin is absent
def pytest_benchmark_update_machine_info(config, machine_info):
    """Add what the timings depend on beyond pytest-benchmark's own fields: the torch and numpy versions
    and the load average when the results are written (``bench/make_readme.py`` prints them)."""
    import os

    import torch

    machine_info["torch_version"] = torch.__version__
    machine_info["numpy_version"] = np.__version__
    if hasattr(os, "getloadavg"):
        machine_info["load_average"] = [round(x, 2) for x in os.getloadavg()]


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Targets are stated for one core: pin torch and the extension's OpenMP to one thread."""
    import torch

    from spotkern._ext import ext

    torch.set_num_threads(1)
    ext().set_num_threads(1)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def tse_half():
    """A 5400 x 17 float32 label matrix with ~50 actions (the TSE benchmarks' half)."""
    rng = np.random.default_rng(0)
    lab = np.zeros((5400, 17), dtype=np.float32)
    lab[rng.integers(0, 5400, 50), rng.integers(0, 17, 50)] = 1
    return lab
