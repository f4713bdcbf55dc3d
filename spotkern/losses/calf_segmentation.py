"""CALF context-aware segmentation loss (calf.md section 5) as a training loss: the functional op
``spotkern.calf_segmentation_loss`` (``spotkern/ops/calf_segmentation_loss.py``, where the zone forms
and the fused kernels are documented) and its ``nn.Module`` form holding K."""
from __future__ import annotations

import torch
from torch import nn

from spotkern._typing import KTable
from spotkern._validation import check_choice, check_float
from spotkern.ops.calf_k import check_K
from spotkern.ops.calf_segmentation_loss import (  # noqa: F401  (re-exported)
    REDUCTIONS,
    VARIANTS,
    calf_segmentation_loss,
)

#: default weight of the summed segmentation loss in sn's total loss (calf.md 5.2).
LAMBDA_SEG_SUM = 0.000367


class CALFSegmentationLoss(nn.Module):
    """Module form of ``calf_segmentation_loss`` holding K (a (4, C) int32 buffer) and the options.

    forward(tse (B, L, C) int, scores (B, L, C) float) -> 0-d loss (``reduction="sum"``) or per-cell
    losses. The weight of calf.md 5.2 (0.000367 in sn) is applied by the caller.

    K: (4, C) frames, or seconds with ``units="seconds", fps=...`` (converted once, K * fps rounded).
    With ``units`` not given, a K equal to a published SoccerNet K table in seconds (OSL's config
    passes one as a nested list) warns with ``KUnitsWarning``, as ``time_shift_encoding`` does;
    ``units="frames"`` says that it is frames (1 fps).
    """

    K: torch.Tensor  # a buffer (registered in __init__)

    def __init__(self, K: KTable, *, miss_radius: float = 0.9, hit_radius: float = 0.1, variant: str = "sn",
                 reduction: str = "sum", fused: bool | None = None, units: str | None = None,
                 fps: float | None = None) -> None:
        super().__init__()
        fn = "CALFSegmentationLoss"
        K = check_K(fn, K, units=units, fps=fps)
        self.register_buffer("K", torch.as_tensor(K, dtype=torch.int32).clone(), persistent=False)
        self.miss_radius = check_float(fn, "miss_radius", miss_radius, minimum=0.0, maximum=1.0,
                                       min_inclusive=False)
        self.hit_radius = check_float(fn, "hit_radius", hit_radius, minimum=0.0, maximum=1.0)
        self.variant = check_choice(fn, "variant", variant, VARIANTS)
        self.reduction = check_choice(fn, "reduction", reduction, REDUCTIONS)
        self.fused = fused

    def forward(self, tse: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return calf_segmentation_loss(tse, scores, self.K, miss_radius=self.miss_radius,
                                      hit_radius=self.hit_radius, variant=self.variant,
                                      reduction=self.reduction, fused=self.fused,
                                      units="frames")  # converted and checked (warned) once, in __init__

    def extra_repr(self) -> str:
        return (f"num_classes={self.K.shape[1]}, miss_radius={self.miss_radius}, "
                f"hit_radius={self.hit_radius}, variant={self.variant!r}, reduction={self.reduction!r}")
