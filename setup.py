"""Builds spotkern._C: the pure C++17 kernels of csrc/ plus the pybind11 layer of python/.

Only setuptools and pybind11 are needed (no torch): the extension exchanges numpy buffers, so the
wheel is not tied to the torch ABI. The extension is optional so that the package still installs
without a compiler; spotkern warns loudly at import when it is missing, and CI sets
SPOTKERN_REQUIRE_EXT=1 so a missing extension fails the tests.

Sources and headers are globbed, so a new csrc/<op>.cpp or csrc/<name>.h needs no edit here; the headers
are the extension's ``depends`` (a header edit rebuilds it in place) and MANIFEST.in ships them in the
sdist. Translation units compile in parallel (SPOTKERN_BUILD_JOBS, default: every core).
"""
import glob
import os
import sys
import tempfile

from pybind11.setup_helpers import ParallelCompile, Pybind11Extension, build_ext
from setuptools import setup


def _openmp_flags(compiler):
    """Return the OpenMP compile/link flags if this compiler accepts them, else none."""
    if sys.platform == "darwin" or os.environ.get("SPOTKERN_NO_OPENMP"):
        return []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp.cpp")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n")
        try:
            compiler.compile([src], output_dir=tmp, extra_postargs=["-fopenmp"])
        except Exception:
            return []
    return ["-fopenmp"]


class BuildExt(build_ext):
    def build_extensions(self):
        omp = _openmp_flags(self.compiler)
        for ext in self.extensions:
            ext.extra_compile_args += ["-O3", "-fno-math-errno"] + omp
            ext.extra_link_args += omp
        super().build_extensions()


ParallelCompile("SPOTKERN_BUILD_JOBS", default=0).install()

ext = Pybind11Extension(
    "spotkern._C",
    sorted(glob.glob("csrc/*.cpp") + glob.glob("python/*.cpp")),
    depends=sorted(glob.glob("csrc/*.h") + glob.glob("python/*.h")),
    include_dirs=["csrc", "python"],
    cxx_std=17,
    optional=os.environ.get("SPOTKERN_REQUIRE_EXT") != "1",
)

setup(ext_modules=[ext], cmdclass={"build_ext": BuildExt})
