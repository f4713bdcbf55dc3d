"""Packaging: the sdist ships everything the extension needs to compile, the version has one source.

The full sdist -> wheel -> fresh-venv install runs in .ci/run (it compiles); these checks are the fast
part: building an sdist only copies files.
"""
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

import spotkern

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTENSION_DIRS = ("csrc", "python")
CXX_SUFFIXES = (".h", ".hpp", ".cpp")


def _project_files(root):
    """Paths (relative, '/'-separated) of the extension's C++ sources and headers under root."""
    return {f"{d}/{name}" for d in EXTENSION_DIRS for name in os.listdir(os.path.join(root, d))
            if name.endswith(CXX_SUFFIXES)}


@pytest.fixture(scope="module")
def sdist_members(tmp_path_factory):
    """Members of an sdist built (without build isolation, nothing is downloaded) from a copy of the
    project to which a new header, csrc/zz_new_header.h, was added: the manifest must pick up headers
    nobody listed."""
    pytest.importorskip("build", reason="the dev extras install 'build'")
    pytest.importorskip("pybind11", reason="the dev extras install pybind11 (setup.py imports it)")
    if not os.path.isfile(os.path.join(ROOT, "MANIFEST.in")):
        pytest.skip("not a source checkout")
    src = tmp_path_factory.mktemp("src") / "spotkern-src"
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info", "*.pyc")
    for d in (*EXTENSION_DIRS, "spotkern", "docs"):
        if os.path.isdir(os.path.join(ROOT, d)):
            shutil.copytree(os.path.join(ROOT, d), src / d, ignore=ignore)
    for f in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md"):
        shutil.copy(os.path.join(ROOT, f), src / f)
    (src / "csrc" / "zz_new_header.h").write_text("#pragma once\n")
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out), str(src)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (tarball,) = out.glob("spotkern-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    prefix = f"spotkern-{spotkern.__version__}/"
    assert all(n.startswith(prefix) or n == prefix.rstrip("/") for n in names), "sdist not named after __version__"
    return {n[len(prefix):] for n in names if n.startswith(prefix)}


def test_sdist_ships_every_cpp_source_and_header(sdist_members):
    expected = _project_files(ROOT) | {"csrc/zz_new_header.h"}
    shipped = {m for m in sdist_members if m.split("/")[0] in EXTENSION_DIRS and m.endswith(CXX_SUFFIXES)}
    assert shipped == expected, f"missing {sorted(expected - shipped)}, unexpected {sorted(shipped - expected)}"


def test_sdist_ships_the_build_files_and_the_typing_marker(sdist_members):
    for f in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "spotkern/py.typed", "spotkern/_ext.py"):
        assert f in sdist_members, f


def test_py_typed_marker_is_in_the_package():
    assert os.path.isfile(os.path.join(os.path.dirname(spotkern.__file__), "py.typed"))


def test_version_has_a_single_source():
    """pyproject.toml declares the version dynamic, read from spotkern.__version__; the installed
    metadata agrees (a mismatch means an install older than the source: reinstall)."""
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "spotkern._version.__version__"}
    assert importlib.metadata.version("spotkern") == spotkern.__version__
