"""A miniature copy of the repository for tests that run pytest in a subprocess: its pyproject.toml and
both conftest.py files, plus the modules a test writes (``tests/test_benchmark_flag.py``,
``tests/test_benchmark_quick.py``)."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_project(root, files: dict) -> str:
    """``root`` with the repository's pyproject.toml, tests/conftest.py and bench/conftest.py, and ``files``
    (``{"bench/bench_x.py": source}``); skips the test outside a source checkout (no bench/)."""
    if not os.path.isfile(os.path.join(ROOT, "bench", "conftest.py")):
        pytest.skip("bench/ is not present (not a source checkout)")
    for d in ("tests", "bench"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
        shutil.copy(os.path.join(ROOT, d, "conftest.py"), os.path.join(root, d, "conftest.py"))
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), os.path.join(root, "pyproject.toml"))
    for rel, text in files.items():
        with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
            f.write(text)
    return str(root)


def run_pytest(project, *args) -> tuple[int, str]:
    """pytest on ``project`` in a subprocess (no TRITON_INTERPRET or PYTEST_ADDOPTS from this run):
    ``(return code, stdout + stderr)``."""
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "PYTEST_ADDOPTS")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", *args], cwd=project,
                          env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr
