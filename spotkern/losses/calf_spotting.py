"""CALF spotting loss (calf.md section 7) with the iterative reciprocal matching (calf.md section 6).

L_spot = sum_b sum_i [ a*l_coord*(x - p)^2 + a*(1 - c)^2 + (1 - a)*l_noobj*c^2 + a*sum_k (y_k - q_k)^2 ]

where (a, x, y) is GT slot i of ``targets`` (presence, position, one-hot class) and (c, p, q) the
prediction slot ``perm[b, i]`` (sigmoid confidence, sigmoid position, softmax class probabilities).
The matching uses positions only and carries no gradient; gradients reach the predictions through
the gather.
"""
from __future__ import annotations

import torch
from torch import nn

from spotkern._validation import (
    check_array,
    check_choice,
    check_float,
    check_same_kind,
    check_working_memory,
    is_tensor,
)
from spotkern.ops import unchecked
from spotkern.ops.reciprocal_matching import reciprocal_matching

METHODS = ("calf", "optimal")
REDUCTIONS = ("sum", "none")


def _matching(gt_positions, gt_presence, pred_positions, method):
    return reciprocal_matching(gt_positions, gt_presence, pred_positions, method=method)


def calf_spotting_loss(targets: torch.Tensor, predictions: torch.Tensor, *, lambda_coord: float = 5.0,
                       lambda_noobj: float = 0.5, matching: str = "calf", perm: torch.Tensor | None = None,
                       reduction: str = "sum") -> torch.Tensor:
    """CALF spotting loss (calf.md section 7).

    targets: (B, N, 2+C) float32 from ``spotkern.spotting_targets``: col 0 presence (0/1), col 1
        position t/L, cols 2.. one-hot class (padded slots all zero). float64 targets with float32
        predictions (sn-spotting's) are rounded to float32: the loss runs in the predictions' dtype.
    predictions: (B, N, 2+C) float32 network output (CALFNet): col 0 sigmoid confidence, col 1
        sigmoid position, cols 2.. softmax class probabilities.
    lambda_coord, lambda_noobj: weights of the position term (5.0) and of the confidence of
        predictions matched to padded slots (0.5).
    matching: "calf" (the reference's iterative reciprocal matching, calf.md 6) or "optimal"
        (minimum total |x - p|), passed to ``spotkern.reciprocal_matching``.
    perm: optional precomputed (B, N) int64 matching (GT slot i -> prediction slot perm[b, i]);
        when given, ``matching`` is not run.
    reduction: "sum" (calf.md 7: sum over batch and slots) -> 0-d; "none" -> per GT slot (B, N).
    """
    fn = "calf_spotting_loss"
    check_same_kind(fn, targets=targets, predictions=predictions, perm=perm)
    if not is_tensor(predictions):
        raise TypeError(f"{fn}: predictions must be a torch tensor, got {type(predictions).__name__}")
    check_working_memory(fn, "predictions", predictions, what="the per-slot losses")  # an expanded view too
    check_array(fn, "targets", targets, dtypes=("float32", "float64"), ndim=3, finite=True, contiguous=False)
    check_array(fn, "predictions", predictions, dtypes=("float32", "float64"), ndim=3, finite=True, contiguous=False)
    if tuple(targets.shape) != tuple(predictions.shape):
        raise ValueError(f"{fn}: targets and predictions must have the same shape (B, N, 2+C), got "
                         f"{tuple(targets.shape)} and {tuple(predictions.shape)}")
    if targets.dtype != predictions.dtype:  # e.g. sn-spotting's float64 targets: the loss runs in the
        targets = targets.to(predictions.dtype)  # predictions' dtype (their gradient's dtype)
    if predictions.shape[-1] < 3:
        raise ValueError(f"{fn}: predictions must have at least 3 columns (conf, pos, >= 1 class), got "
                         f"{predictions.shape[-1]}")
    lambda_coord = check_float(fn, "lambda_coord", lambda_coord, minimum=0.0)
    lambda_noobj = check_float(fn, "lambda_noobj", lambda_noobj, minimum=0.0)
    check_choice(fn, "matching", matching, METHODS)
    check_choice(fn, "reduction", reduction, REDUCTIONS)
    B, N, D = predictions.shape
    if perm is None:
        pred_pos = predictions[..., 1].detach()
        if pred_pos.dtype != torch.float32:
            pred_pos = pred_pos.float()
        args = (targets[..., 1].float().contiguous(), targets[..., 0].float().contiguous(), pred_pos.contiguous())
        if torch.compiler.is_compiling():
            perm = _matching(*args, matching)
        else:
            try:
                perm = _matching(*args, matching)
            except ValueError as exc:  # the matching checks the presence column: report it under our name
                msg = str(exc).split(": ", 1)[-1]
                for old, new in (("gt_presence", "targets[..., 0] (presence)"),
                                 ("gt_positions", "targets[..., 1] (position)"),
                                 ("pred_positions", "predictions[..., 1] (position)")):
                    msg = msg.replace(old, new)
                raise ValueError(f"{fn}: {msg}") from exc
    else:
        check_array(fn, "perm", perm, dtypes=("int64",), ndim=2, contiguous=False)
        if tuple(perm.shape) != (B, N):
            raise ValueError(f"{fn}: perm must have shape {(B, N)}, got {tuple(perm.shape)}")
        if not torch.compiler.is_compiling():
            # an out-of-range index would crash the gather; a repeated one would silently count one
            # prediction twice and leave another without any loss (calf.md 6: perm is a permutation)
            expected = torch.arange(N, device=perm.device).expand(B, N)
            if not bool((torch.sort(perm, dim=-1).values == expected).all()):
                raise ValueError(f"{fn}: perm must hold a permutation of 0..{N - 1} in every row")
    return _calf_spotting_loss_impl(targets, predictions, lambda_coord=lambda_coord, lambda_noobj=lambda_noobj,
                                    perm=perm, reduction=reduction)


def _calf_spotting_loss_impl(targets, predictions, *, lambda_coord: float = 5.0, lambda_noobj: float = 0.5,
                             matching: str = "calf", perm=None, reduction: str = "sum"):
    """``calf_spotting_loss`` without validation (the trainer's internal path): the matching runs on the
    unchecked ``unchecked.reciprocal_matching``; no data read."""
    B, N, D = predictions.shape
    if perm is None:
        perm = unchecked.reciprocal_matching(targets[..., 1].float().contiguous(), targets[..., 0].float().contiguous(),
                                         predictions[..., 1].detach().float().contiguous(), matching)
    matched = torch.gather(predictions, 1, perm.unsqueeze(-1).expand(B, N, D))
    alpha = targets[..., 0]
    conf = matched[..., 0]
    per_slot = (
        alpha * lambda_coord * (targets[..., 1] - matched[..., 1]).square()
        + alpha * (1 - conf).square()
        + (1 - alpha) * lambda_noobj * conf.square()
        + alpha * (targets[..., 2:] - matched[..., 2:]).square().sum(-1)
    )
    return per_slot.sum() if reduction == "sum" else per_slot


class CALFSpottingLoss(nn.Module):
    """Module form of ``calf_spotting_loss``: forward(targets, predictions[, perm]) -> loss."""

    def __init__(self, *, lambda_coord: float = 5.0, lambda_noobj: float = 0.5, matching: str = "calf",
                 reduction: str = "sum"):
        super().__init__()
        fn = "CALFSpottingLoss"
        self.lambda_coord = check_float(fn, "lambda_coord", lambda_coord, minimum=0.0)
        self.lambda_noobj = check_float(fn, "lambda_noobj", lambda_noobj, minimum=0.0)
        self.matching = check_choice(fn, "matching", matching, METHODS)
        self.reduction = check_choice(fn, "reduction", reduction, REDUCTIONS)

    def forward(self, targets: torch.Tensor, predictions: torch.Tensor,
                perm: torch.Tensor | None = None) -> torch.Tensor:
        return calf_spotting_loss(targets, predictions, lambda_coord=self.lambda_coord,
                                  lambda_noobj=self.lambda_noobj, matching=self.matching, perm=perm,
                                  reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"lambda_coord={self.lambda_coord}, lambda_noobj={self.lambda_noobj}, matching={self.matching!r}"
