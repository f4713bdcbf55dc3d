"""``pytest --benchmark`` (the README's benchmark command) times the benchmarks of bench/ with real
kernels, and ``python -m pytest tests`` still runs the tests only.

Each case runs pytest in a subprocess on a miniature project holding the repository's own
pyproject.toml, tests/conftest.py and bench/conftest.py, a one-line benchmark and a plain test.
"""
import pytest
from mini_project import make_project, run_pytest

BENCH = '''import os


def test_tiny_sum(benchmark):
    assert benchmark(sum, range(100)) == 4950
    print("TRITON_INTERPRET during the benchmark:", os.environ.get("TRITON_INTERPRET"))


def test_not_a_benchmark():
    print("PLAIN-TEST-IN-BENCH-RAN")
'''
TEST = '''def test_plain():
    print("TEST-IN-TESTS-RAN")
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("mini"), {"bench/bench_tiny.py": BENCH, "tests/test_tiny.py": TEST})


def test_benchmark_flag_times_bench_with_real_kernels(project):
    rc, out = run_pytest(project, "--benchmark")
    assert rc == 0, out
    assert "benchmark: 1 tests" in out, out  # pytest-benchmark's timing table
    assert "test_tiny_sum" in out
    assert "TRITON_INTERPRET during the benchmark: None" in out, out
    assert "PLAIN-TEST-IN-BENCH-RAN" not in out and "TEST-IN-TESTS-RAN" not in out, out
    assert "1 passed, 1 skipped" in out, out


def test_tests_folder_runs_the_tests_only(project):
    rc, out = run_pytest(project, "tests")
    assert rc == 0, out
    assert "TEST-IN-TESTS-RAN" in out and "1 passed" in out, out
    assert "bench_tiny" not in out and "benchmark: 1 tests" not in out, out
