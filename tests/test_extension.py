import os

import pytest


def test_extension_is_built_when_required():
    """CI sets SPOTKERN_REQUIRE_EXT=1: a missing C++ extension must fail loudly, showing why."""
    from spotkern._ext import _C, EXT_ERROR

    if os.environ.get("SPOTKERN_REQUIRE_EXT") == "1":
        assert _C is not None, f"spotkern._C failed to import: {EXT_ERROR}"
    elif _C is None:
        pytest.skip(f"extension missing (not required here): {EXT_ERROR}")
    assert hasattr(_C, "time_shift_encoding_packed")


def test_missing_extension_raises_named_error(monkeypatch):
    import spotkern._ext as ext_mod

    monkeypatch.setattr(ext_mod, "_C", None)
    monkeypatch.setattr(ext_mod, "EXT_ERROR", "ImportError: boom")
    with pytest.raises(RuntimeError, match="boom"):
        ext_mod.ext()


def test_cpu_import_does_not_import_triton():
    """CPU-only installs never import Triton (importing spotkern must not pull it in)."""
    import subprocess
    import sys

    code = "import sys, spotkern; print('triton' in sys.modules)"
    env = dict(os.environ)
    env["CUDA_VISIBLE_DEVICES"] = ""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False", out.stderr
