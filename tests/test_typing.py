"""Every public function and method of the package is annotated (issue 13): each parameter and the
return. Public = the name does not start with ``_``, in a module none of whose names starts with ``_``
(``spotkern.ops.nms``, not ``spotkern.ops._dispatch``), defined there (not re-exported); for a public class,
its public methods, static/class methods and properties, and ``__init__`` (the constructor's
signature). ``self``/``cls`` need no annotation, and ``__init__`` needs no return annotation when
another parameter is annotated (PEP 484: ``-> None`` is then implied). Whether the annotations are
*true* is checked by mypy (``[tool.mypy]`` in pyproject.toml), not here."""
import importlib
import importlib.util
import inspect
import pkgutil
import subprocess
import sys
import types

import spotkern


def public_modules():
    """The package and its public modules; spotkern.triton only where Triton is installed (its
    modules import it at the top)."""
    names = ["spotkern"]
    for m in pkgutil.walk_packages(spotkern.__path__, "spotkern."):
        if any(part.startswith("_") for part in m.name.split(".")[1:]):
            continue
        if m.name.startswith("spotkern.triton") and importlib.util.find_spec("triton") is None:
            continue
        names.append(m.name)
    return [importlib.import_module(n) for n in names]


def _methods(cls):
    """(name, function, is_bound) for the methods the class body defines (inherited ones are checked
    where they are defined; a dataclass's generated ``__init__`` is annotated by construction)."""
    for name, attr in vars(cls).items():
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(attr, staticmethod):
            yield name, attr.__func__, False
        elif isinstance(attr, classmethod):
            yield name, attr.__func__, True
        elif isinstance(attr, property):
            if attr.fget is not None:
                yield name, attr.fget, True
        elif isinstance(attr, types.FunctionType):
            yield name, attr, True


def public_callables(modules):
    """(qualified name, function, is_bound) of every public function and method, each once."""
    seen = set()
    for mod in modules:
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if isinstance(obj, types.FunctionType):
                entries = [(f"{mod.__name__}.{name}", obj, False)]
            elif inspect.isclass(obj):
                entries = [(f"{mod.__name__}.{name}.{m}", f, bound) for m, f, bound in _methods(obj)]
            else:
                continue
            for qualname, fn, bound in entries:
                if id(fn) not in seen:
                    seen.add(id(fn))
                    yield qualname, fn, bound


def missing_annotations(fn, bound: bool) -> list:
    """Names of the unannotated parameters of ``fn`` (and "return" when its return is not)."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if bound and params:
        params = params[1:]  # self / cls
    missing = [p.name for p in params if p.annotation is inspect.Parameter.empty]
    typed_init = fn.__name__ == "__init__" and len(missing) < len(params)
    if sig.return_annotation is inspect.Signature.empty and not typed_init:
        missing.append("return")
    return missing


def test_checker_finds_a_missing_parameter_and_return_annotation():
    class Box:
        def __init__(self, size: int):
            self.size = size

        def grow(self, by) -> int:
            return self.size + by

        @staticmethod
        def make(size: int):
            return Box(size)

        def _private(self, x):
            return x

    def free(a: int, *rest, **extra: str) -> None:
        pass

    found = {q.rsplit(".", 1)[-1]: missing_annotations(f, b)
             for q, f, b in public_callables([types.SimpleNamespace(Box=Box, free=free, __name__=__name__)])}
    assert found == {"__init__": [], "grow": ["by"], "make": ["return"], "free": ["rest"]}


def test_every_public_function_and_method_is_annotated():
    callables = list(public_callables(public_modules()))
    assert len(callables) > 300  # the walk found the package (about 330 today)
    missing = {q: m for q, f, b in callables if (m := missing_annotations(f, b))}
    assert not missing, "unannotated (parameter names, 'return'):\n" + "\n".join(
        f"  {q}: {', '.join(m)}" for q, m in sorted(missing.items()))


def test_public_ops_are_walked_where_they_are_defined():
    """The ops that spotkern re-exports are checked in their own modules (spotkern.ops.<op>)."""
    names = {q for q, _, _ in public_callables(public_modules())}
    ops = [name for name in spotkern.__all__ if inspect.isfunction(getattr(spotkern, name))]
    assert len(ops) >= 10
    for op in ops:
        where = getattr(spotkern, op).__module__
        assert where.startswith("spotkern.ops.") and f"{where}.{op}" in names, op


def test_package_imports_without_docstrings():
    """Under ``python -OO`` every ``__doc__`` is None: the package must not format its docstrings
    unconditionally at import (mypy found ``time_shift_encoding.__doc__.format`` failing there)."""
    code = ("import spotkern, spotkern.cli, spotkern.metrics, spotkern.train; "
            "print(spotkern.time_shift_encoding.__doc__)")
    out = subprocess.run([sys.executable, "-OO", "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None"
