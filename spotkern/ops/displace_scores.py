"""Displacement scattering (dense_anchors.md section 7.1): confidences moved by their displacements,
a scatter-max into zeros. ``(T, C)`` or ``(B, T, C)`` float32 or float64."""
from __future__ import annotations

import torch

from spotkern._ext import ext
from spotkern._typing import ArrayT
from spotkern._validation import REAL_DTYPES, as_dtype, check_array, check_float, check_same_kind, dtype_name, is_tensor
from spotkern.ops._cuda import require_cuda
from spotkern.ops._dispatch import eager_cpu


def _displace_op_cpu(confidence: torch.Tensor, displacement: torch.Tensor, radius_displacement: float) -> torch.Tensor:
    return torch.from_numpy(ext().displace_scores(confidence.numpy(), displacement.numpy(), radius_displacement))


_displace_op = torch.library.custom_op("spotkern::displace_scores", mutates_args=(),
                                       device_types="cpu")(_displace_op_cpu)


@_displace_op.register_fake
def _(confidence, displacement, radius_displacement):
    return torch.empty_like(confidence)


def _displace_scores_impl(confidence, displacement, radius_displacement: float):
    """Unchecked dispatch (the ``_impl`` contract, DEVELOPERS.md): ``confidence`` and
    ``displacement`` contiguous, same shape, both float32 or both float64, no grad; rd > 0."""
    if is_tensor(confidence):
        op = _displace_op_cpu if eager_cpu(confidence, displacement) else torch.ops.spotkern.displace_scores
        return op(confidence, displacement, radius_displacement)
    return ext().displace_scores(confidence, displacement, radius_displacement)


def displace_scores(confidence: ArrayT, displacement: ArrayT, radius_displacement: float) -> ArrayT:
    """Move every confidence by its displacement and keep the maximum where several land.

    confidence: (T, C) or (B, T, C) float32 or float64 (the confidence head after the sigmoid).
    displacement: same shape, float32 or float64, in rd units (the displacement head's tanh
        output); delta = radius_displacement * displacement frames, computed in float64.
    radius_displacement: rd > 0 in frames (1.0 when ``displacement`` already holds frames, as
        spivak's float64 ``rd * tanh`` arrays do).

    Returns the same shape, float32, or float64 when either input is float64 (the other is then
    widened, exactly; spivak's scores are float64): D[u, c] = max over t with u = clip(t + rint(delta[t, c]),
    0, T - 1) of confidence[t, c], where rint rounds half to even; frames that receive nothing are
    0.0 and out-of-range targets are clamped to the first/last frame (spec 7.1). Deterministic (a
    max does not depend on the order of the updates). NaN or infinite inputs are a ValueError.
    """
    fn = "displace_scores"
    check_array(fn, "confidence", confidence, dtypes=REAL_DTYPES, ndim=(2, 3), allow_empty=True, contiguous=False)
    check_array(fn, "displacement", displacement, dtypes=REAL_DTYPES, ndim=(2, 3), allow_empty=True,
                contiguous=False)
    check_same_kind(fn, confidence=confidence, displacement=displacement)
    if tuple(displacement.shape) != tuple(confidence.shape):
        raise ValueError(f"{fn}: displacement must have the shape of confidence {tuple(confidence.shape)}, got "
                         f"{tuple(displacement.shape)}")
    rd = check_float(fn, "radius_displacement", radius_displacement, minimum=0.0, min_inclusive=False)
    require_cuda(fn, confidence)
    dt = "float64" if "float64" in (dtype_name(confidence), dtype_name(displacement)) else "float32"
    if is_tensor(confidence):  # not differentiable (a scatter-max of rounded shifts)
        confidence, displacement = confidence.detach(), displacement.detach()
    confidence, displacement = as_dtype(confidence, dt), as_dtype(displacement, dt)
    # On the CPU the kernel checks finiteness in one fused pass ("displace_scores: ... contains NaN");
    # CUDA tensors are checked here.
    if is_tensor(confidence) and confidence.is_cuda:
        check_array(fn, "confidence", confidence, dtypes=REAL_DTYPES, allow_empty=True, finite=True)
        check_array(fn, "displacement", displacement, dtypes=REAL_DTYPES, allow_empty=True, finite=True)
    return _displace_scores_impl(confidence, displacement, rd)
