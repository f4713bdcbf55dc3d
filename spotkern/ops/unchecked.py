"""The ops' unchecked fast paths, for the package's own callers: validated, canonical arguments only.

Each name is the op's ``_<op>_impl`` (DEVELOPERS.md, "Conventions"): contiguous numpy arrays or tensors of
the op's canonical dtype (float32 scores, int64 frames and classes, int32 K, ...), no grad, Python
scalars and lists already checked, method names as the op's int code where the op takes one. It only
dispatches (to the C++ extension for numpy, to ``torch.ops.spotkern.*`` for tensors), reads no data on the
host, so it never syncs a CUDA stream and traces under ``torch.compile(fullgraph=True)``. Wrong input gets
the kernels' backstop errors at best, a wrong answer at worst: code that does not already hold canonical
data calls the public op (``spotkern.<op>``), which validates and normalises, then calls this path.

Callers import the module (``from spotkern.ops import unchecked``) and call ``unchecked.<op>(...)``, so
that every unchecked call reads as one at the call site.
"""
from spotkern.ops.calf_segmentation_loss import _calf_segmentation_loss_impl as calf_segmentation_loss
from spotkern.ops.dense_anchor_targets import _dense_anchor_targets_impl as dense_anchor_targets
from spotkern.ops.displace_scores import _displace_scores_impl as displace_scores
from spotkern.ops.nms import METHOD_CODES as NMS_METHOD_CODES
from spotkern.ops.nms import _nms_impl as nms
from spotkern.ops.nms import _nms_sparse_impl as nms_sparse
from spotkern.ops.reciprocal_matching import _reciprocal_matching_impl as reciprocal_matching
from spotkern.ops.spotting_targets import _spotting_targets_impl as spotting_targets
from spotkern.ops.time_shift_encoding import _time_shift_encoding_batch_impl as time_shift_encoding_batch
from spotkern.ops.time_shift_encoding import _time_shift_encoding_from_events_impl as time_shift_encoding_from_events
from spotkern.ops.time_shift_encoding import _time_shift_encoding_impl as time_shift_encoding

__all__ = [
    "NMS_METHOD_CODES",
    "calf_segmentation_loss",
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
