"""The backends every op test runs on, so that one test states an op's semantics once for all of them.

* ``"cpu"``: the public op as the test calls it (numpy arrays, or CPU tensors for the tensor-only losses):
  the C++ kernels.
* ``"triton-interpreter"``: the public op on CPU tensors, with every ``spotkern::*`` custom op sent to its
  registered CUDA kernel, i.e. the Triton launcher of ``spotkern/triton/<op>.py``, which runs on the host
  under ``TRITON_INTERPRET=1`` (tests/conftest.py sets it). The op's own argument handling (defaults,
  dtype widening, packing) runs as it does on a GPU, so no test re-implements it.
* ``"cuda"``: the public op on CUDA tensors, real Triton kernels; only on a machine with a CUDA GPU and
  ``TRITON_INTERPRET`` unset or 0 (``bench/gpu_check.sh`` runs ``pytest tests -m cuda``).

A test takes the backend from ``@backends()`` (all three) or ``@backends(CPU, CUDA)`` and calls
``run(backend, op, *args, **kwargs)``: the arguments are moved to the backend, the op runs there, and the
result comes back in the kind the CPU op would give for the same arguments (numpy for numpy arguments,
CPU tensors otherwise), so the same assertions hold on every backend. Property tests use
``@property_test(strategy_for, examples=...)``: one hypothesis test per backend, with sizes and example
counts per backend (the interpreter runs every Triton program on the host, about a thousand times slower).
"""
from __future__ import annotations

import importlib
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from torch.utils._python_dispatch import TorchDispatchMode

CPU, INTERPRETER, CUDA = "cpu", "triton-interpreter", "cuda"
ALL = (CPU, INTERPRETER, CUDA)


def _triton_missing() -> bool:
    try:
        importlib.import_module("triton")
    except ImportError:
        return True
    return False


def _interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


_MARKS = {
    CPU: (),
    INTERPRETER: (pytest.mark.triton,
                  pytest.mark.skipif(_triton_missing(), reason="Triton is not installed"),
                  pytest.mark.skipif(not _interpreted(), reason="TRITON_INTERPRET is not 1 (tests/conftest.py "
                                                                "sets it)")),
    CUDA: (pytest.mark.cuda,
           pytest.mark.skipif(not torch.cuda.is_available() or _interpreted(),
                              reason="needs a CUDA GPU and real Triton kernels (TRITON_INTERPRET unset or 0): "
                                     "run bench/gpu_check.sh")),
}


def marks(backend: str) -> list:
    """The marks of ``backend`` (for a whole module: ``pytestmark = marks(CUDA)``)."""
    return list(_MARKS[backend])


def backends(*names: str):
    """``pytest.mark.parametrize("backend", ...)`` over ``names`` (default: all three), each carrying its
    marks (``triton`` for the interpreter, ``cuda`` for the GPU) and its skip condition."""
    return pytest.mark.parametrize("backend", [param(n) for n in names or ALL])


def param(backend: str, *values, id: str | None = None, marks=()):
    """``pytest.param(backend, *values)`` with the backend's marks (and ``marks``), for a parametrisation
    that pairs backends with other arguments (e.g. the CALF loss's torch form and fused op per backend)."""
    extra = list(marks) if isinstance(marks, (list, tuple)) else [marks]
    return pytest.param(backend, *values, marks=[*_MARKS[backend], *extra], id=id or backend)


def triton_module(op: str):
    """``spotkern.triton.<op>`` (the launchers, their block-size rules and COMPILE_SPECS), for the tests
    of one backend's internals; imported on use so that the CPU tests run without Triton."""
    pytest.importorskip("triton")
    return importlib.import_module(f"spotkern.triton.{op}")


_CUDA_KEYS = torch._C.DispatchKeySet(torch._C.DispatchKey.CUDA)


class TritonOnHost(TorchDispatchMode):
    """Sends every ``spotkern::*`` op to its registered CUDA kernel (the Triton launcher), which the
    interpreter runs on CPU tensors; records the ops it sent, so a test can tell that Triton ran."""

    def __init__(self):
        super().__init__()
        importlib.import_module("spotkern.triton")  # registers the CUDA kernels (done on first CUDA use otherwise)
        self.sent: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.namespace == "spotkern":
            self.sent.append(func.name())
            return func.redispatch(_CUDA_KEYS, *args, **kwargs)
        return func(*args, **kwargs)


def _to_device(x, device):
    """numpy arrays -> tensors, tensors -> ``device``, through lists, tuples and dicts; scalars as they are."""
    if isinstance(x, np.ndarray) and not isinstance(x, np.ma.MaskedArray):
        t = torch.from_numpy(x) if all(s >= 0 for s in x.strides) else torch.tensor(x)
        return t.to(device)
    if isinstance(x, torch.Tensor):
        return x.to(device)  # differentiable: gradients reach a CPU leaf the test holds
    if isinstance(x, (list, tuple)):
        return type(x)(_to_device(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _to_device(v, device) for k, v in x.items()}
    return x


def _tensors(x):
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _tensors(v)
    elif isinstance(x, dict):
        for v in x.values():
            yield from _tensors(v)


def _back(x, device_type, as_numpy):
    """The op's outputs as the CPU op would return them: numpy for numpy arguments, CPU tensors otherwise."""
    if isinstance(x, torch.Tensor):
        assert x.device.type == device_type, f"an output lives on {x.device}, not on the {device_type} backend"
        x = x.cpu()
        return x.numpy() if as_numpy else x
    if isinstance(x, (list, tuple)):
        return type(x)(_back(v, device_type, as_numpy) for v in x)
    return x


def run(backend: str, op, *args, **kwargs):
    """``op(*args, **kwargs)`` on ``backend``; the result as the CPU op gives it for these arguments."""
    if backend == CPU:
        return op(*args, **kwargs)
    as_numpy = not any(True for _ in _tensors((args, kwargs)))
    device = "cuda" if backend == CUDA else "cpu"
    args, kwargs = _to_device(args, device), _to_device(kwargs, device)
    if backend == CUDA:
        return _back(op(*args, **kwargs), "cuda", as_numpy)
    with TritonOnHost() as mode:
        out = op(*args, **kwargs)
    assert mode.sent, f"{getattr(op, '__name__', op)} ran no spotkern op: nothing reached a Triton kernel"
    return _back(out, "cpu", as_numpy)


def property_test(strategy_for, *, examples: dict | None = None, names: tuple = ALL):
    """A hypothesis test per backend: ``body(backend, case)`` with ``case`` drawn from
    ``strategy_for(backend)`` (sizes per backend), ``examples[backend]`` examples where given (else the
    profile's count, tests/conftest.py)."""
    examples = examples or {}

    def decorate(body):
        checks = {}
        for name in names:
            check = given(case=strategy_for(name))(body)
            checks[name] = settings(max_examples=examples[name])(check) if name in examples else check

        def test(backend):
            checks[backend](backend)

        test.__name__, test.__qualname__, test.__doc__ = body.__name__, body.__qualname__, body.__doc__
        test.__module__ = body.__module__
        return backends(*names)(test)

    return decorate
