"""Loads the C++ extension ``spotkern._C``.

A missing or broken extension is loud: importing spotkern warns with the import error, and every op
that needs it raises ``RuntimeError`` with the same text. CI sets ``SPOTKERN_REQUIRE_EXT=1``, under
which a test fails when the extension is absent.
"""
from __future__ import annotations

import warnings

try:
    from spotkern import _C  # type: ignore[attr-defined]

    EXT_ERROR: str | None = None
except ImportError as exc:  # pragma: no cover - exercised only on broken installs
    _C = None
    EXT_ERROR = f"{type(exc).__name__}: {exc}"
    warnings.warn(
        "spotkern: the C++ extension spotkern._C could not be imported, CPU ops are unavailable "
        f"({EXT_ERROR}). Reinstall with a C++17 compiler: pip install -e . -v",
        RuntimeWarning,
        stacklevel=2,
    )


def ext():
    """Return the extension module or raise a RuntimeError naming the import error."""
    if _C is None:
        raise RuntimeError(f"spotkern: the C++ extension is not built ({EXT_ERROR})")
    return _C
