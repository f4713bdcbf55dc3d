"""Public ops: validate once, dispatch numpy/CPU tensors to the C++ extension and CUDA tensors to
Triton. Each op is a ``torch.library.custom_op`` with a fake kernel, so it traces under
``torch.compile(fullgraph=True)``."""
from spotkern.ops.calf_k import KUnitsWarning
from spotkern.ops.calf_segmentation_loss import calf_segmentation_loss
from spotkern.ops.dense_anchor_targets import class_balance_weights, dense_anchor_targets
from spotkern.ops.displace_scores import displace_scores
from spotkern.ops.nms import nms, nms_sparse
from spotkern.ops.reciprocal_matching import reciprocal_matching
from spotkern.ops.spotting_targets import spotting_targets
from spotkern.ops.time_shift_encoding import (
    time_shift_encoding,
    time_shift_encoding_batch,
    time_shift_encoding_from_events,
)

__all__ = [
    "KUnitsWarning",
    "calf_segmentation_loss",
    "class_balance_weights",
    "dense_anchor_targets",
    "displace_scores",
    "nms",
    "nms_sparse",
    "reciprocal_matching",
    "spotting_targets",
    "time_shift_encoding",
    "time_shift_encoding_batch",
    "time_shift_encoding_from_events",
]

import torch as _torch

from spotkern.ops._cuda import register_cuda_kernels as _register_cuda_kernels

if _torch.cuda.is_available():
    _register_cuda_kernels()
