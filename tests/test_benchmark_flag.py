"""``pytest --benchmark`` (the README's benchmark command) times the benchmarks of bench/ with real
kernels, and ``python -m pytest tests`` still runs the tests only.

Each case runs pytest in a subprocess on a miniature project holding the repository's own
pyproject.toml, tests/conftest.py and bench/conftest.py, a one-line benchmark and a plain test.
"""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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
    if not os.path.isfile(os.path.join(ROOT, "bench", "conftest.py")):
        pytest.skip("bench/ is not present (not a source checkout)")
    root = tmp_path_factory.mktemp("mini")
    for d in ("tests", "bench"):
        (root / d).mkdir()
        shutil.copy(os.path.join(ROOT, d, "conftest.py"), root / d / "conftest.py")
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), root / "pyproject.toml")
    (root / "bench" / "bench_tiny.py").write_text(BENCH)
    (root / "tests" / "test_tiny.py").write_text(TEST)
    return root


def _pytest(project, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "PYTEST_ADDOPTS")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", *args], cwd=project,
                          env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_benchmark_flag_times_bench_with_real_kernels(project):
    rc, out = _pytest(project, "--benchmark")
    assert rc == 0, out
    assert "benchmark: 1 tests" in out, out  # pytest-benchmark's timing table
    assert "test_tiny_sum" in out
    assert "TRITON_INTERPRET during the benchmark: None" in out, out
    assert "PLAIN-TEST-IN-BENCH-RAN" not in out and "TEST-IN-TESTS-RAN" not in out, out
    assert "1 passed, 1 skipped" in out, out


def test_tests_folder_runs_the_tests_only(project):
    rc, out = _pytest(project, "tests")
    assert rc == 0, out
    assert "TEST-IN-TESTS-RAN" in out and "1 passed" in out, out
    assert "bench_tiny" not in out and "benchmark: 1 tests" not in out, out
