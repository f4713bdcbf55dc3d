"""Plain numpy/Python oracles written straight from the specs (``../shared/specs``).

They are what the tests compare every fast path with and the baselines the benchmarks measure
against. Readability wins over speed here. Names end in ``_ref``.
"""
from spotkern.reference.calf_segmentation_loss import calf_segmentation_loss_ref
from spotkern.reference.calf_spotting_loss import calf_spotting_loss_ref
from spotkern.reference.dense_anchor_targets import class_balance_weights_ref, dense_anchor_targets_ref
from spotkern.reference.displace_scores import displace_scores_ref
from spotkern.reference.nms import detections_ref, nms_ref, nms_sparse_ref
from spotkern.reference.reciprocal_matching import reciprocal_matching_masked_ref, reciprocal_matching_ref
from spotkern.reference.spotting_targets import spotting_targets_ref
from spotkern.reference.time_shift_encoding import time_shift_encoding_ref

__all__ = [
    "class_balance_weights_ref",
    "dense_anchor_targets_ref",
    "detections_ref",
    "displace_scores_ref",
    "nms_ref",
    "nms_sparse_ref",
    "calf_segmentation_loss_ref",
    "calf_spotting_loss_ref",
    "reciprocal_matching_masked_ref",
    "reciprocal_matching_ref",
    "spotting_targets_ref",
    "time_shift_encoding_ref",
]
