"""The one closed form of CALF's context-aware segmentation loss (calf.md 5.1-5.5), in torch: per-zone
coefficients, the per-cell loss, and the loss with its derivative. Pure torch, no spotkern import, on
the package's lowest floor, so the custom op (``spotkern.ops.calf_segmentation_loss``) and the Triton
module's float64 fallback (``spotkern.triton``, a floor below the ops) both import it from below. The
zone forms are documented in that op's module docstring.
"""
from __future__ import annotations

import math

import torch


def zone_coefficients(s, K, *, variant: str, hit_radius: float, miss_radius: float, dtype, device):
    """(a, b, log_margin, zone3) with loss(s, p) = max(0, log_margin - ln(max(a + b p, eps))) outside zone 3.

    s: TSE as ``dtype`` (..., C); K: (4, C) or (4, ...) broadcastable to s, as ``dtype``. The zone of each
    cell picks its coefficients by ``torch.where`` selection (calf.md 5.5: never an indicator times every
    zone's expression, so an inactive zone's infinity cannot become NaN)."""
    K1, K2, K3, K4 = K[0], K[1], K[2], K[3]
    one = torch.ones((), dtype=dtype, device=device)
    zone2 = (s >= K1) & (s < K2)
    zone3 = (s >= K2) & (s < 0)
    zone4 = (s >= 0) & (s < K3)
    zone5 = (s >= K3) & (s < K4)
    if variant == "sn":
        a = torch.where(zone4, s / K3, one)
        b = torch.where(zone4, (K3 - s) / K3, torch.where(zone5, -(s - K3) / (K4 - K3), -one))
    else:  # v1, calf.md 5.3
        a = torch.where(zone4, s / K3, torch.where(zone5, 1 + (K4 - s) / (K4 - K3), one))
        b = torch.where(zone4, one, -one)
    b = torch.where(zone2, -(K2 - s) / (K2 - K1), b)
    log_margin = torch.where(zone4, torch.tensor(math.log(1.0 - hit_radius), dtype=dtype, device=device),
                             torch.tensor(math.log(miss_radius), dtype=dtype, device=device))
    return a, b, log_margin, zone3


def cell_losses(s, p, K, *, miss_radius, hit_radius, variant, eps):
    """Per-cell loss (..., C) from TSE s (integer) and scores p (float), differentiable in p."""
    dt = p.dtype
    a, b, lm, zone3 = zone_coefficients(s.to(dt), K.to(dt), variant=variant, hit_radius=hit_radius,
                                        miss_radius=miss_radius, dtype=dt, device=p.device)
    cell = torch.relu(lm - torch.log(torch.clamp(a + b * p, min=eps)))
    return torch.where(zone3, torch.zeros((), dtype=dt, device=p.device), cell)


def loss_and_derivative(tse, scores, K, miss_radius, hit_radius, variant: str, eps, per_cell: bool):
    """(loss: 0-d sum or per cell, d loss / d scores per cell) in one pass, no autograd: the derivative is
    -b / (a + b p) on live cells (positive loss, argument not clamped), 0 elsewhere."""
    with torch.no_grad():
        dt, dev = scores.dtype, scores.device
        a, b, lm, zone3 = zone_coefficients(tse.to(dt), K.to(dt), variant=variant, hit_radius=hit_radius,
                                            miss_radius=miss_radius, dtype=dt, device=dev)
        zero = torch.zeros((), dtype=dt, device=dev)
        raw = a + b * scores
        arg = torch.clamp(raw, min=eps)
        val = lm - torch.log(arg)
        live = (~zone3) & (val > 0)
        cell = torch.where(live, val, zero)
        grad = torch.where(live & (raw >= eps), -b / arg, zero)
        return (cell if per_cell else cell.sum()), grad
