"""CALF context-aware segmentation loss in the public implementation's style (calf.md sections 5.1-5.4),
written from the spec: the baseline of ``bench/bench_calf_segmentation_loss.py`` and an independent
oracle for ``spotkern.calf_segmentation_loss``.

Every zone's expression is evaluated on every cell (in the reference's q = 1 - p form, calf.md 5.1, with
s clamped into the zone) and multiplied by a 0/1 zone indicator, with no epsilon. It therefore returns
NaN when a score saturates at 0 or 1 (defect D4); elsewhere it equals ``spotkern.calf_segmentation_loss``.
"""
from __future__ import annotations

import numpy.typing as npt
import torch


def calf_segmentation_loss_ref(tse: torch.Tensor, scores: torch.Tensor, K: npt.ArrayLike, *, miss_radius: float = 0.9,
                               hit_radius: float = 0.1, variant: str = "sn", reduction: str = "sum") -> torch.Tensor:
    """Six-zone loss, all zones evaluated on every cell and multiplied by 0/1 zone indicators.

    tse (..., C) integer, scores (..., C) float, K (4, C). Each zone's expression reads s clamped
    into that zone's range (as the public code does), so its log argument stays in [min(p, 1 - p), 1]
    and only a saturated score (p = 0 or 1) gives an infinite term, which the indicator product
    turns into NaN for the whole sum (defect D4). Returns the 0-d sum (``reduction="sum"``) or the
    per-cell losses (``"none"``).
    """
    s = tse.to(scores.dtype)
    K = torch.as_tensor(K, device=scores.device).to(scores.dtype)
    K1, K2, K3, K4 = K[0], K[1], K[2], K[3]
    q = 1 - scores
    lm = torch.log(torch.tensor(miss_radius, dtype=scores.dtype))
    lh = torch.log(torch.tensor(1 - hit_radius, dtype=scores.dtype))
    ind1 = (s < K1).to(scores.dtype)
    ind2 = ((s >= K1) & (s < K2)).to(scores.dtype)
    ind4 = ((s >= 0) & (s < K3)).to(scores.dtype)
    ind5 = ((s >= K3) & (s < K4)).to(scores.dtype)
    ind6 = (s >= K4).to(scores.dtype)
    s2 = torch.minimum(torch.maximum(s, K1), K2)
    s4 = torch.minimum(torch.clamp(s, min=0), K3)
    s5 = torch.minimum(torch.maximum(s, K3), K4)
    zone1 = torch.relu(-torch.log(q) + lm)
    zone2 = torch.relu(-torch.log(q + (1 - q) * (s2 - K1) / (K2 - K1)) + lm)
    if variant == "sn":
        zone4 = torch.relu(-torch.log(1 - q + q * s4 / K3) + lh)
        zone5 = torch.relu(-torch.log(q + (1 - q) * (s5 - K4) / (K3 - K4)) + lm)
    else:  # v1, calf.md 5.3
        zone4 = torch.relu(-torch.log(scores + s4 / K3) + lh)
        zone5 = torch.relu(-torch.log(q + (K4 - s5) / (K4 - K3)) + lm)
    zone6 = torch.relu(-torch.log(q) + lm)
    cells = ind1 * zone1 + ind2 * zone2 + ind4 * zone4 + ind5 * zone5 + ind6 * zone6
    return cells.sum() if reduction == "sum" else cells
