"""Benchmark fixtures, the ``--benchmark`` flag (``pytest --benchmark`` runs every benchmark of bench/) and
``--benchmark-quick`` (the kernel benchmarks only)."""
import numpy as np
import pytest

#: the kernel benchmarks that ``--benchmark-quick`` keeps (each op's reference and spotkern rows); the
#: training-step, pipeline, tuning, metrics, compat and GPU modules take most of a full run's ~10 minutes
QUICK_MODULES = ("bench_nms.py", "bench_time_shift_encoding.py", "bench_dense_anchor_targets.py",
                 "bench_displace_scores.py", "bench_reciprocal_matching.py", "bench_spotting_targets.py",
                 "bench_calf_segmentation_loss.py")
#: pytest-benchmark's time budget per benchmark in the quick run (its default is 1 s)
QUICK_MAX_TIME = 0.1


def pytest_addoption(parser):
    """``--benchmark``: the command the README promises, an alias of pytest-benchmark's ``--benchmark-only``
    (it sets the same option, so everything that reads ``benchmark_only`` sees it: pytest-benchmark skips
    non-benchmarks, tests/conftest.py leaves TRITON_INTERPRET unset so real kernels are timed).
    ``--benchmark-quick``: the same, on the kernels only (``QUICK_MODULES``), ``QUICK_MAX_TIME`` seconds
    each: well under 90 s on 2 cores instead of about ten minutes."""
    group = parser.getgroup("benchmark")
    group.addoption("--benchmark", action="store_true", dest="benchmark_only",
                    help="run the benchmarks only, timing real kernels (alias of --benchmark-only)")
    group.addoption("--benchmark-quick", action="store_true", dest="benchmark_quick",
                    help="--benchmark on the kernel benchmarks only, shorter rounds (about a minute)")


@pytest.hookimpl(tryfirst=True)  # before tests/conftest.py reads benchmark_only
def pytest_configure(config):
    if config.getoption("benchmark_quick", default=False):
        config.option.benchmark_only = True
        config.option.benchmark_max_time = min(float(config.option.benchmark_max_time), QUICK_MAX_TIME)


def pytest_ignore_collect(collection_path, config):
    """``--benchmark-quick`` does not even import the benchmark modules outside ``QUICK_MODULES``."""
    if (config.getoption("benchmark_quick", default=False) and collection_path.name.startswith("bench_")
            and collection_path.suffix == ".py" and collection_path.name not in QUICK_MODULES):
        return True
    return None


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
