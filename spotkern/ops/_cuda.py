"""CUDA dispatch: the Triton kernels register themselves as the CUDA kernels of the custom ops.

They are imported only when a CUDA device is present, so CPU-only installs never import Triton.
A CUDA tensor reaching an op without a usable Triton gets a clear error from ``require_cuda``.
"""
from __future__ import annotations

import torch

CUDA_ERROR: str | None = None
_registered = False


def register_cuda_kernels() -> None:
    """Import spotkern.triton (which registers every CUDA kernel); remember why if it fails."""
    global CUDA_ERROR, _registered
    if _registered:
        return
    try:
        import spotkern.triton  # noqa: F401  # optional dependency: triton
    except Exception as exc:  # ImportError, or a Triton that fails to initialise: keep CPU use working
        CUDA_ERROR = f"{type(exc).__name__}: {exc}"
    _registered = True


def require_cuda(fn: str, x) -> None:
    """Raise if ``x`` is a CUDA tensor and no CUDA kernels could be registered."""
    if isinstance(x, torch.Tensor) and x.is_cuda:
        register_cuda_kernels()
        if CUDA_ERROR is not None:
            raise RuntimeError(
                f"{fn}: CUDA tensors need Triton (pip install 'spotkern[triton]'); import failed: {CUDA_ERROR}"
            )
