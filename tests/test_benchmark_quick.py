"""``pytest --benchmark-quick`` (bench/conftest.py) times only the kernel benchmarks (``QUICK_MODULES``),
with real kernels and short rounds, and does not import the other benchmark modules.

A subprocess runs pytest on a miniature project holding the repository's pyproject.toml and both
conftest.py files, one benchmark module named like a kernel module and one like the training-step one.
"""
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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
    if not os.path.isfile(os.path.join(ROOT, "bench", "conftest.py")):
        pytest.skip("bench/ is not present (not a source checkout)")
    spec = importlib.util.spec_from_file_location("bench_conftest", os.path.join(ROOT, "bench", "conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    QUICK_MODULES = module.QUICK_MODULES
    assert "bench_nms.py" in QUICK_MODULES and "bench_train_engine.py" not in QUICK_MODULES
    root = tmp_path_factory.mktemp("quick")
    for d in ("tests", "bench"):
        (root / d).mkdir()
        shutil.copy(os.path.join(ROOT, d, "conftest.py"), root / d / "conftest.py")
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), root / "pyproject.toml")
    (root / "bench" / "bench_nms.py").write_text(KERNEL)
    (root / "bench" / "bench_train_engine.py").write_text(SLOW)
    (root / "tests" / "test_plain.py").write_text("def test_plain():\n    print('TEST-RAN')\n")
    return root


def _pytest(project, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "PYTEST_ADDOPTS")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", *args], cwd=project,
                          env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_benchmark_quick_selects_the_kernel_benchmarks(project):
    rc, out = _pytest(project, "--benchmark-quick")
    assert rc == 0, out
    assert "test_kernel_sum" in out and "1 passed" in out, out
    assert "SLOW-MODULE-IMPORTED" not in out and "TEST-RAN" not in out, out
    assert "TRITON_INTERPRET: None" in out and "MAX_TIME: 0.1" in out, out


def test_benchmark_runs_every_benchmark(project):
    rc, out = _pytest(project, "--benchmark")
    assert rc == 0, out
    assert "SLOW-MODULE-IMPORTED" in out and "2 passed" in out, out
    assert "MAX_TIME: 1.0" in out, out
