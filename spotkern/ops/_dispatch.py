"""Eager CPU calls skip the dispatcher.

A ``torch.library.custom_op`` call adds its dispatch on top of the kernel (more than the kernel itself
for a small NMS; ``bench/`` measures both), and the first call imports ``torch._dynamo``. For a plain
eager call on CPU tensors nothing needs the dispatcher: the ops call their CPU kernel function directly
then. Everything else (``torch.compile`` tracing, fake/meta tensors, dispatch
and function modes, functorch transforms, autograd, CUDA) still goes through ``torch.ops.spotkern.*``.
"""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode


def eager_cpu(*tensors) -> bool:
    """True when ``tensors`` (None entries ignored) are plain CPU tensors without grad, outside any
    tracing, dispatch or function mode: the CPU kernel can be called directly."""
    if torch.compiler.is_compiling() or _get_current_dispatch_mode() is not None \
            or torch._C._len_torch_function_stack() > 0:
        return False
    for t in tensors:
        if t is None:
            continue
        if type(t) is not torch.Tensor or t.device.type != "cpu" or t.requires_grad \
                or torch._C._functorch.is_functorch_wrapped_tensor(t):
            return False
    return True
