"""Dense-anchor losses (dense_anchors.md section 3): weighted BCE on confidence logits and the
normalised Huber loss on displacements.

Both take per-anchor weights (B, T, C): w_pos,c inside the dilated target and w_neg,c outside
(dense_anchors.md 2.4); ``dense_anchor_weights`` builds them from a mask and the per-class weights
of ``spotkern.class_balance_weights``. Both reduce by the mean over every anchor of the chunk
(zero-weight anchors included) and then over the batch, i.e. the mean over all B*T*C anchors.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spotkern._validation import (
    _compiling,
    check_array,
    check_choice,
    check_float,
    check_same_kind,
    check_working_memory,
    is_tensor,
)

REDUCTIONS = ("mean", "sum", "none")
FLOATS = ("float32", "float64")


def _reduce(x, reduction):
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    return x


def _check_triplet(fn, first_name, first, targets, weights, target_bounds=None):
    """Shapes, dtypes and values: finite everywhere, weights >= 0 and targets within ``target_bounds``
    (a negative weight or a target outside [0, 1] would give a loss that is silently meaningless)."""
    check_same_kind(fn, **{first_name: first, "targets": targets, "weights": weights})
    if not is_tensor(first):
        raise TypeError(f"{fn}: {first_name} must be a torch tensor, got {type(first).__name__}")
    # the value checks and every element-wise step allocate the inputs' full size (an expanded view too)
    check_working_memory(fn, first_name, first, what="the per-anchor losses")
    check_array(fn, first_name, first, dtypes=FLOATS, ndim=(2, 3), finite=True, contiguous=False)
    check_array(fn, "targets", targets, dtypes=FLOATS, ndim=(2, 3), finite=True, bounds=target_bounds, contiguous=False)
    check_array(fn, "weights", weights, dtypes=FLOATS, ndim=(2, 3), finite=True, bounds=(0.0, None), contiguous=False)
    for name, x in (("targets", targets), ("weights", weights)):
        if tuple(x.shape) != tuple(first.shape):
            raise ValueError(f"{fn}: {name} must have the shape of {first_name} {tuple(first.shape)}, got "
                             f"{tuple(x.shape)}")
        if x.dtype != first.dtype:
            raise TypeError(f"{fn}: {name} must have the dtype of {first_name} ({first.dtype}), got {x.dtype}")


def dense_anchor_weights(inside: torch.Tensor, w_pos: torch.Tensor, w_neg: torch.Tensor) -> torch.Tensor:
    """Per-anchor loss weights (dense_anchors.md 2.4): ``w_pos[c]`` where ``inside`` else ``w_neg[c]``.

    inside: (T, C) or (B, T, C) bool (confidence target == 1, or the displacement support).
    w_pos, w_neg: (C,) float32 per-class weights (``spotkern.class_balance_weights``).
    Returns float32 of the shape of ``inside``.
    """
    fn = "dense_anchor_weights"
    check_same_kind(fn, inside=inside, w_pos=w_pos, w_neg=w_neg)
    if not is_tensor(inside):
        raise TypeError(f"{fn}: inside must be a torch tensor, got {type(inside).__name__}")
    check_array(fn, "inside", inside, dtypes=("bool",), ndim=(2, 3), contiguous=False)
    check_array(fn, "w_pos", w_pos, dtypes=FLOATS, ndim=1, finite=True, contiguous=False)
    check_array(fn, "w_neg", w_neg, dtypes=FLOATS, ndim=1, finite=True, contiguous=False)
    C = inside.shape[-1]
    for name, w in (("w_pos", w_pos), ("w_neg", w_neg)):
        if w.shape[0] != C:
            raise ValueError(f"{fn}: {name} must have shape ({C},), got {tuple(w.shape)}")
    return torch.where(inside, w_pos, w_neg)


def dense_confidence_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, *,
                          focal_gamma: float = 0.0, focal_epsilon: float = 1e-7,
                          reduction: str = "mean") -> torch.Tensor:
    """Weighted binary cross-entropy on confidence logits (dense_anchors.md 3.1).

    logits: (B, T, C) or (T, C) float32 raw head outputs z (no sigmoid).
    targets: same shape, confidence targets y in [0, 1] (fractional after mixup).
    weights: same shape, per-anchor weights >= 0 (``dense_anchor_weights``; mixed with the targets
        under mixup). Targets outside [0, 1] or negative weights are a ValueError.
    focal_gamma: exponent of the optional focal factor max(|y - sigmoid(z)|, focal_epsilon)^gamma
        (0 = off, the default).
    reduction: "mean" (default: mean over all anchors, equal to the per-chunk mean over T*C then the
        batch mean), "sum", or "none" (per anchor).
    Per anchor: weight * (max(z, 0) - z*y + ln(1 + exp(-|z|))) [* focal factor].
    """
    fn = "dense_confidence_loss"
    _check_triplet(fn, "logits", logits, targets, weights, target_bounds=(0.0, 1.0))
    focal_gamma = check_float(fn, "focal_gamma", focal_gamma, minimum=0.0)
    focal_epsilon = check_float(fn, "focal_epsilon", focal_epsilon, minimum=0.0)
    check_choice(fn, "reduction", reduction, REDUCTIONS)
    return _dense_confidence_loss_impl(logits, targets, weights, focal_gamma=focal_gamma, focal_epsilon=focal_epsilon,
                                       reduction=reduction)


def _dense_confidence_loss_impl(logits, targets, weights, *, focal_gamma: float = 0.0, focal_epsilon: float = 1e-7,
                                reduction: str = "mean"):
    """``dense_confidence_loss`` without validation (the trainer's internal path: inputs built by
    spotkern, valid by construction; no data read, any strides)."""
    # binary_cross_entropy_with_logits is the stable from-logits form of the spec.
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    if focal_gamma != 0.0:
        factor = torch.clamp((targets - torch.sigmoid(logits)).abs(), min=focal_epsilon) ** focal_gamma
        bce = bce * factor
    return _reduce(weights * bce, reduction)


def dense_displacement_loss(predictions: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, *,
                            delta: float = 0.5, reduction: str = "mean") -> torch.Tensor:
    """Huber loss on rd-normalised displacements, divided by delta (dense_anchors.md 3.2).

    predictions: (B, T, C) or (T, C) float32 head output in rd units (tanh applied).
    targets: same shape, displacement targets in rd units (the 10.0 sentinel outside the support is
        clipped to [-1, 1]; its weight must be 0: a positive weight on a target outside [-1, 1] is a
        ValueError).
    weights: same shape, per-anchor weights (N / P_c on the support, 0 elsewhere).
    delta: Huber delta in rd units (0.5). With x = clip(target) - prediction the per-anchor loss is
        x^2 / (2 delta) for |x| <= delta and |x| - delta/2 beyond (Huber_delta(x) / delta).
    reduction: "mean" (default, over all anchors), "sum" or "none".
    """
    fn = "dense_displacement_loss"
    _check_triplet(fn, "predictions", predictions, targets, weights)
    if not _compiling():
        # Outside the support the target is the 10.0 sentinel (clipped to 1 below): a non-zero weight
        # there would silently pull the prediction towards +1.
        stray = (weights > 0) & (targets.abs() > 1.0)
        if bool(stray.any()):
            raise ValueError(f"{fn}: weights must be 0 where targets lie outside [-1, 1] (the 10.0 sentinel "
                             f"outside the support); {int(stray.sum())} anchors have a positive weight there")
    delta = check_float(fn, "delta", delta, minimum=0.0, min_inclusive=False)
    check_choice(fn, "reduction", reduction, REDUCTIONS)
    return _dense_displacement_loss_impl(predictions, targets, weights, delta=delta, reduction=reduction)


def _dense_displacement_loss_impl(predictions, targets, weights, *, delta: float = 0.5, reduction: str = "mean"):
    """``dense_displacement_loss`` without validation (the trainer's internal path)."""
    x = torch.clamp(targets, -1.0, 1.0) - predictions
    ax = x.abs()
    huber = torch.where(ax <= delta, 0.5 * x * x / delta, ax - 0.5 * delta)
    return _reduce(weights * huber, reduction)


class DenseConfidenceLoss(nn.Module):
    """Module form of ``dense_confidence_loss``: forward(logits, targets, weights) -> loss."""

    def __init__(self, *, focal_gamma: float = 0.0, focal_epsilon: float = 1e-7, reduction: str = "mean"):
        super().__init__()
        fn = "DenseConfidenceLoss"
        self.focal_gamma = check_float(fn, "focal_gamma", focal_gamma, minimum=0.0)
        self.focal_epsilon = check_float(fn, "focal_epsilon", focal_epsilon, minimum=0.0)
        self.reduction = check_choice(fn, "reduction", reduction, REDUCTIONS)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return dense_confidence_loss(logits, targets, weights, focal_gamma=self.focal_gamma,
                                     focal_epsilon=self.focal_epsilon, reduction=self.reduction)


class DenseDisplacementLoss(nn.Module):
    """Module form of ``dense_displacement_loss``: forward(predictions, targets, weights) -> loss."""

    def __init__(self, *, delta: float = 0.5, reduction: str = "mean"):
        super().__init__()
        fn = "DenseDisplacementLoss"
        self.delta = check_float(fn, "delta", delta, minimum=0.0, min_inclusive=False)
        self.reduction = check_choice(fn, "reduction", reduction, REDUCTIONS)

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return dense_displacement_loss(predictions, targets, weights, delta=self.delta, reduction=self.reduction)
