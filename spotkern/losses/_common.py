"""Helpers shared by the loss modules."""
from __future__ import annotations

import torch

from spotkern._validation import check_float


def check_scalar(fn: str, name: str, value, **bounds) -> float:
    """``check_float`` outside tracing. Under ``torch.compile`` the Python scalar is a trace-time
    constant and ``check_float``'s numpy call would break the graph, so it is returned as is (the
    ``nn.Module`` forms validate their scalars at construction)."""
    if torch.compiler.is_compiling():
        return value
    return check_float(fn, name, value, **bounds)
