"""What a stage's schedule and batch mixing use: the linear decay of the learning rate (dense_anchors.md 5.2)
and mixup's convex combination of a batch (5.5). The optimiser, SAM and mixup's draws live in
``spotkern.train.optim``; these two sit below the methods, which need them to define their stages."""
from __future__ import annotations

import math

import torch


def linear_decay(step: int, total_steps: int, end_fraction: float = 0.01) -> float:
    """Multiplier v(k)/v of dense_anchors.md 5.2: 1 -> end_fraction linearly over total_steps, with
    the horizon extended to K * ceil(k / K) past the end (``cycle=True``)."""
    K = max(int(total_steps), 1)
    horizon = K * math.ceil(step / K) if step > K else K
    return (1.0 - end_fraction) * (1.0 - step / horizon) + end_fraction


def mixup_apply(lam: torch.Tensor, perm: torch.Tensor, *tensors: torch.Tensor) -> tuple:
    """lam_i * t_i + (1 - lam_i) * t_perm(i) for every tensor (B, ...) of ``tensors`` (traceable)."""
    def mix(t):
        lt = lam.view((t.shape[0],) + (1,) * (t.dim() - 1)).to(t.dtype)
        return lt * t + (1 - lt) * t[perm]

    return tuple(mix(t) for t in tensors)
