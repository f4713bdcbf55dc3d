"""Dense-anchor targets and class-balance weights (dense_anchors.md sections 2.1-2.4): event lists ->
``(T, C)`` / ``(B, T, C)`` confidence, displacement and support targets."""
from __future__ import annotations

import numpy as np
import torch

from spotkern._ext import ext
from spotkern._typing import ArrayT
from spotkern._validation import (
    INDEX_DTYPES,
    _compiling,
    as_dtype,
    check_array,
    check_float,
    check_int,
    check_output_size,
    check_same_kind,
    dtype_name,
    is_tensor,
    to_numpy,
)
from spotkern.ops._cuda import require_cuda
from spotkern.ops._dispatch import eager_cpu

_NO_OFFSETS = np.zeros(0, dtype=np.int64)


# --- custom op (CPU kernel) -----------------------------------------------------------------------

def _targets_op_cpu(frames: torch.Tensor, classes: torch.Tensor, offsets: torch.Tensor | None, num_frames: int,
                    num_classes: int, radius_confidence: float, radius_displacement: float
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    off = _NO_OFFSETS if offsets is None else offsets.numpy()
    confidence, displacement, support = ext().dense_anchor_targets(
        frames.numpy(), classes.numpy(), off, offsets is not None, num_frames, num_classes, radius_confidence,
        radius_displacement)
    return torch.from_numpy(confidence), torch.from_numpy(displacement), torch.from_numpy(support)


_targets_op = torch.library.custom_op("spotkern::dense_anchor_targets", mutates_args=(),
                                      device_types="cpu")(_targets_op_cpu)


@_targets_op.register_fake
def _(frames, classes, offsets, num_frames, num_classes, radius_confidence, radius_displacement):
    shape = (num_frames, num_classes) if offsets is None else (offsets.shape[0] - 1, num_frames, num_classes)
    return (frames.new_empty(shape, dtype=torch.float32), frames.new_empty(shape, dtype=torch.float32),
            frames.new_empty(shape, dtype=torch.bool))


def _dense_anchor_targets_impl(frames, classes, offsets, num_frames: int, num_classes: int,
                               radius_confidence: float, radius_displacement: float):
    """Unchecked dispatch (the ``_impl`` contract, DEVELOPERS.md): ``frames``/``classes``
    contiguous (E,), both int32 or both int64, classes in [0, C); ``offsets`` None or a contiguous
    (B + 1,) int64 CSR; validated ints/floats. Returns (confidence, displacement, support)."""
    if is_tensor(frames):
        op = _targets_op_cpu if eager_cpu(frames, classes, offsets) else torch.ops.spotkern.dense_anchor_targets
        return op(frames, classes, offsets, num_frames, num_classes, radius_confidence, radius_displacement)
    off = _NO_OFFSETS if offsets is None else offsets
    return ext().dense_anchor_targets(frames, classes, off, offsets is not None, num_frames, num_classes,
                                      radius_confidence, radius_displacement)


# --- public functions -----------------------------------------------------------------------------

def dense_anchor_targets(frames: ArrayT, classes: ArrayT, num_frames: int, num_classes: int, *,
                         radius_confidence: float, radius_displacement: float,
                         offsets: ArrayT | None = None) -> tuple[ArrayT, ArrayT, ArrayT]:
    """Confidence, displacement and support targets of dense detection anchors from an event list.

    frames, classes: (E,) int32 or int64 (different dtypes are both widened to int64; strided views
        are copied once); E may be 0. Frames are relative to the half
        (or to the chunk start) and may lie outside [0, num_frames): an action just outside a chunk
        still marks the chunk's frames within its radius, exactly as slicing the half's targets does.
        Classes lie in [0, num_classes). Duplicate (frame, class) events collapse.
    num_frames: T. num_classes: C.
    radius_confidence: rc >= 0 and radius_displacement: rd > 0, in frames (may be fractional: the
        range of an action at a is ceil(a - r) .. floor(a + r), spec 2.1).
    offsets: None for one half, or (B + 1,) int32/int64 CSR over the events (chunk b holds events
        offsets[b] .. offsets[b + 1] - 1) for B chunks of num_frames frames each.

    Returns (confidence, displacement, support), each (T, C), or (B, T, C) with ``offsets``:
      * confidence float32: 1 within rc of an action of the class, else 0 (2.2);
      * displacement float32: (a - t) / rd for the nearest action a of the class within rd, an
        exact tie going to the earlier action (2.3); positive = the action lies ahead. 10.0 (the
        spec's sentinel) outside the support;
      * support bool: frames within rd of an action of the class (where displacement != 10.0).
    """
    fn = "dense_anchor_targets"
    check_array(fn, "frames", frames, dtypes=INDEX_DTYPES, ndim=1, allow_empty=True, contiguous=False)
    check_array(fn, "classes", classes, dtypes=INDEX_DTYPES, ndim=1, allow_empty=True, contiguous=False)
    check_same_kind(fn, frames=frames, classes=classes, offsets=offsets)
    if frames.shape[0] != classes.shape[0]:
        raise ValueError(f"{fn}: frames and classes must have the same length, got {frames.shape[0]} and "
                         f"{classes.shape[0]}")
    T = check_int(fn, "num_frames", num_frames, minimum=1)
    C = check_int(fn, "num_classes", num_classes, minimum=1)
    rc = check_float(fn, "radius_confidence", radius_confidence, minimum=0.0)
    rd = check_float(fn, "radius_displacement", radius_displacement, minimum=0.0, min_inclusive=False)
    E = int(frames.shape[0])
    if offsets is not None:
        check_array(fn, "offsets", offsets, dtypes=INDEX_DTYPES, ndim=1, contiguous=False)
        offsets = as_dtype(offsets, "int64")
    B = 1 if offsets is None else max(int(offsets.shape[0]) - 1, 1)
    check_output_size(fn, "num_frames, num_classes and the chunk count", (B, T, C), 9,  # 2 float32 + 1 bool
                      frames.device if is_tensor(frames) else None)
    index_dt = dtype_name(frames) if dtype_name(frames) == dtype_name(classes) else "int64"
    frames, classes = as_dtype(frames, index_dt), as_dtype(classes, index_dt)
    reading = not (is_tensor(frames) and _compiling())
    if reading and E:
        c = to_numpy(classes.cpu()) if is_tensor(classes) else classes
        if c.min() < 0 or c.max() >= C:
            raise ValueError(f"{fn}: classes must lie in [0, num_classes={C}), got range [{c.min()}, {c.max()}]")
    if reading and offsets is not None:
        o = to_numpy(offsets.cpu()) if is_tensor(offsets) else offsets
        if o[0] != 0 or o[-1] != E or (np.diff(o) < 0).any():
            raise ValueError(f"{fn}: offsets must be non-decreasing from 0 to len(frames)={E}, got "
                             f"{o.tolist() if len(o) <= 8 else '...'}")
    require_cuda(fn, frames)
    return _dense_anchor_targets_impl(frames, classes, offsets, T, C, rc, rd)


COUNT_DTYPES = ("int32", "int64", "float32", "float64")


def class_balance_weights(positive_counts: ArrayT, total_frames: int, *, p: float = 0.03,
                          class_weights: ArrayT | None = None) -> tuple[ArrayT, ArrayT]:
    """Per-class loss weights of dense_anchors.md 2.4 from whole-dataset counts.

    positive_counts: (C,) P_c, the frames inside the head's dilated target (confidence == 1, or the
        displacement support) over all training halves. total_frames: N, all training frames.
    p: the head's positive weight in (0, 1] (0.03 for the confidence head, 1.0 for the
        displacement head; the code's p = 0 scheme is not implemented).
    class_weights: optional (C,) non-negative per-class weights (class_w_c; default all 1).

    Returns (w_pos, w_neg), each (C,) float32 (tensors for tensor input):
    w_pos = class_w * N * p / P_c, w_neg = class_w * N * (1 - p) / (N - P_c). A class with P_c = 0
    (or N - P_c = 0) gets 0 on that side: no anchor ever carries that weight.
    """
    fn = "class_balance_weights"
    check_array(fn, "positive_counts", positive_counts, dtypes=COUNT_DTYPES, ndim=1, finite=True, contiguous=False)
    check_same_kind(fn, positive_counts=positive_counts, class_weights=class_weights)
    N = check_int(fn, "total_frames", total_frames, minimum=1)
    p = check_float(fn, "p", p, minimum=0.0, maximum=1.0, min_inclusive=False)
    P = (to_numpy(positive_counts.detach().cpu()) if is_tensor(positive_counts) else positive_counts).astype(np.float64)
    if (P < 0).any() or (P > N).any():
        raise ValueError(f"{fn}: positive_counts must lie in [0, total_frames={N}]")
    if class_weights is None:
        cw = np.ones_like(P)
    else:
        check_array(fn, "class_weights", class_weights, dtypes=("float32", "float64"), ndim=1, finite=True,
                    contiguous=False)
        cw = (to_numpy(class_weights.detach().cpu()) if is_tensor(class_weights) else class_weights).astype(np.float64)
        if cw.shape != P.shape:
            raise ValueError(f"{fn}: class_weights must have shape {P.shape}, got {cw.shape}")
        if (cw < 0).any():
            raise ValueError(f"{fn}: class_weights must be >= 0")
    Nneg = N - P
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w_pos = np.where(P > 0, cw * N * p / P, 0.0).astype(np.float32)
        w_neg = np.where(Nneg > 0, cw * N * (1.0 - p) / Nneg, 0.0).astype(np.float32)
    # Finite inputs can still overflow float32 (a huge class weight, or a tiny fractional count):
    # an inf weight would turn the loss into inf/NaN, so it is refused here with the class named.
    for side, w in (("w_pos", w_pos), ("w_neg", w_neg)):
        bad = ~np.isfinite(w)
        if bad.any():
            c = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{fn}: the weights overflow float32 ({side} of class {c} is {w[c]}, from "
                             f"positive_counts={P[c]:g}, class_weights={cw[c]:g}, total_frames={N})")
    if is_tensor(positive_counts):
        return torch.from_numpy(w_pos).to(positive_counts.device), torch.from_numpy(w_neg).to(positive_counts.device)
    return w_pos, w_neg
