"""``pytest --benchmark-quick`` (bench/conftest.py) times only the kernel benchmarks (``QUICK_MODULES``),
with real kernels and short rounds, and does not import the other benchmark modules.

A subprocess runs pytest on a miniature project holding the repository's pyproject.toml and both
conftest.py files, one benchmark module named like a kernel module and one like the training-step one.
"""
import importlib.util
import os

import pytest
from mini_project import ROOT, make_project, run_pytest

KERNEL = '''import os


def test_kernel_sum(benchmark):
    assert benchmark(sum, range(100)) == 4950
    print("TRITON_INTERPRET:", os.environ.get("TRITON_INTERPRET"))
    print("MAX_TIME:", benchmark._max_time)
'''
SLOW = '''print("SLOW-MODULE-IMPORTED")


def test_train_step(benchmark):
    benchmark(sum, range(100))
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("quick"), {
        "bench/bench_nms.py": KERNEL, "bench/bench_train_engine.py": SLOW,
        "tests/test_plain.py": "def test_plain():\n    print('TEST-RAN')\n"})
    spec = importlib.util.spec_from_file_location("bench_conftest", os.path.join(ROOT, "bench", "conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "bench_nms.py" in module.QUICK_MODULES and "bench_train_engine.py" not in module.QUICK_MODULES
    return root


def test_benchmark_quick_selects_the_kernel_benchmarks(project):
    rc, out = run_pytest(project, "--benchmark-quick")
    assert rc == 0, out
    assert "test_kernel_sum" in out and "1 passed" in out, out
    assert "SLOW-MODULE-IMPORTED" not in out and "TEST-RAN" not in out, out
    assert "TRITON_INTERPRET: None" in out and "MAX_TIME: 0.1" in out, out


def test_benchmark_runs_every_benchmark(project):
    rc, out = run_pytest(project, "--benchmark")
    assert rc == 0, out
    assert "SLOW-MODULE-IMPORTED" in out and "2 passed" in out, out
    assert "MAX_TIME: 1.0" in out, out
