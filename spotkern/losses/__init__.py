"""Training losses: CALF's context-aware segmentation and spotting losses (calf.md sections 5-7) and
the dense-anchor confidence and displacement losses (dense_anchors.md section 3). Each loss has a
functional form and an ``nn.Module``; all trace under ``torch.compile(fullgraph=True)``."""
from spotkern.losses.calf_segmentation import LAMBDA_SEG_SUM, CALFSegmentationLoss, calf_segmentation_loss
from spotkern.losses.calf_spotting import CALFSpottingLoss, calf_spotting_loss
from spotkern.losses.dense import (
    DenseConfidenceLoss,
    DenseDisplacementLoss,
    dense_anchor_weights,
    dense_confidence_loss,
    dense_displacement_loss,
)

__all__ = [
    "LAMBDA_SEG_SUM",
    "CALFSegmentationLoss",
    "calf_segmentation_loss",
    "CALFSpottingLoss",
    "calf_spotting_loss",
    "DenseConfidenceLoss",
    "DenseDisplacementLoss",
    "dense_anchor_weights",
    "dense_confidence_loss",
    "dense_displacement_loss",
]
