"""CALF spotting loss in the public implementation's style (calf.md sections 6-7), written from the spec:
calf.md 7 on the predictions permuted by the masked one-hot/argmax matching
``reciprocal_matching_masked_ref`` (N iterations per phase, several hundred small ops). A baseline of
``bench/bench_train_step.py`` and an independent oracle for ``spotkern.losses.calf_spotting_loss``.
"""
from __future__ import annotations

import torch

from spotkern.reference.reciprocal_matching import reciprocal_matching_masked_ref


def calf_spotting_loss_ref(targets: torch.Tensor, predictions: torch.Tensor, *, lambda_coord: float = 5.0,
                           lambda_noobj: float = 0.5) -> torch.Tensor:
    """calf.md 7 with the masked matching: targets, predictions (B, N, 2+C) -> 0-d sum."""
    perm = reciprocal_matching_masked_ref(targets[..., 1], targets[..., 0], predictions[..., 1].detach())
    matched = torch.gather(predictions, 1, perm.unsqueeze(-1).expand_as(predictions))
    alpha = targets[..., 0]
    loss = (alpha * lambda_coord * (targets[..., 1] - matched[..., 1]) ** 2
            + alpha * (1 - matched[..., 0]) ** 2
            + (1 - alpha) * lambda_noobj * matched[..., 0] ** 2
            + alpha * ((targets[..., 2:] - matched[..., 2:]) ** 2).sum(-1))
    return loss.sum()
