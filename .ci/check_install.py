"""Checks an installed spotkern (run by .ci/run from a folder outside the checkout).

The package must come from the environment's site-packages (the wheel), not from a checkout on
sys.path; the C++ extension must import; the version must be the single one of spotkern.__version__
(pyproject reads it from there); the PEP 561 marker py.typed must be installed.
"""
import importlib.metadata
import os
import sys
import sysconfig

import spotkern
import spotkern._C

site = os.path.realpath(sysconfig.get_paths()["purelib"])
where = os.path.realpath(os.path.dirname(spotkern.__file__))
problems = []
if os.path.commonpath([site, where]) != site:
    problems.append(f"spotkern was imported from {where}, not from the environment's {site}")
if importlib.metadata.version("spotkern") != spotkern.__version__:
    problems.append(f"metadata version {importlib.metadata.version('spotkern')} != spotkern.__version__ "
                    f"{spotkern.__version__}")
if not os.path.isfile(os.path.join(where, "py.typed")):
    problems.append("py.typed is missing from the installed package")
if problems:
    sys.exit("check_install: " + "; ".join(problems))
print(f"spotkern {spotkern.__version__} installed in {where}; spotkern._C imported "
      f"(OpenMP: {spotkern._C.has_openmp})")
