"""Triton CUDA kernels of spotkern's custom ops.

Importing this package registers every kernel as the ``cuda`` kernel of its custom op
(``torch.library.register_kernel``). ``spotkern.ops._cuda.register_cuda_kernels`` imports it only
when a CUDA device is present, so CPU-only installs never import Triton. The tests import the
modules directly and run the launchers on CPU tensors under ``TRITON_INTERPRET=1``.
"""
from spotkern.triton import (
    calf_segmentation_loss,  # noqa: F401  (the models engineer's fused loss)
    dense_anchor_targets,  # noqa: F401
    displace_scores,  # noqa: F401
    nms,  # noqa: F401
    reciprocal_matching,  # noqa: F401
    spotting_targets,  # noqa: F401
    time_shift_encoding,  # noqa: F401
)
