"""Stand-ins for sn-spotting's CALF functions (``Benchmarks/CALF/src``): replace

    from preprocessing import oneHotToShifts, getTimestampTargets, timestamps2long
    from loss import ContextAwareLoss, SpottingLoss
    from metrics_visibility_fast import NMS

by ``from spotkern.compat.sn_spotting import ...``. Inputs and outputs keep sn-spotting's types
(numpy float64 encodings and targets, torch losses, a float64 NMS array); the values are the peer's,
except where calf.md 11 lists a defect (noted per function).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spotkern._typing import ArrayLike, KTable
from spotkern._validation import check_int, is_tensor
from spotkern.inference.layout import calf_clip_starts, calf_stitch
from spotkern.inference.stitching import calf_decode_clips
from spotkern.losses.calf_segmentation import CALFSegmentationLoss
from spotkern.losses.calf_spotting import calf_spotting_loss
from spotkern.ops.nms import nms
from spotkern.ops.spotting_targets import spotting_targets
from spotkern.ops.time_shift_encoding import time_shift_encoding

__all__ = ["oneHotToShifts", "getTimestampTargets", "timestamps2long", "ContextAwareLoss", "SpottingLoss", "NMS"]


def _numpy(x):
    return x.detach().cpu().numpy() if is_tensor(x) else np.asarray(x)


def oneHotToShifts(onehot: ArrayLike, params: ArrayLike) -> np.ndarray:  # noqa: N802 (the peer's name)
    """CALF time-shift encoding of one half, as sn-spotting's ``oneHotToShifts`` (calf.md 3).

    onehot: (T, C) 0/1 label matrix (any real or integer dtype; a cell is an action iff it is 1).
    params: (4, C) K in frames, rows K1..K4; sn-spotting passes ``K_V2 * framerate`` as float32,
        whole numbers (a fraction is a ValueError instead of a silently different encoding).
    Returns (T, C) float64, identical to the peer's loop (one C++ pass instead of a Python loop).
    """
    return time_shift_encoding(np.ascontiguousarray(_numpy(onehot)), _numpy(params), units="frames").astype(np.float64)


def getTimestampTargets(labels: ArrayLike, num_detections: int) -> np.ndarray:  # noqa: N802
    """YOLO-like spotting targets, as sn-spotting's ``getTimestampTargets`` (calf.md 4).

    labels: (B, L, C) chunk encodings (float64 in sn-spotting, borders already set to -1); cells
        equal to 0 are actions, taken in row-major order (time, then class).
    num_detections: N. Returns (B, N, 2 + C) float64: presence 1, position t / L (in float64, as
        the peer), one-hot class; actions beyond the first N are dropped. The peer prints a
        warning when the count reaches N; this stand-in stays silent (``spotkern.spotting_targets``
        returns the dropped counts).
    """
    lab = _numpy(labels)
    N = check_int("getTimestampTargets", "num_detections", num_detections, minimum=1)
    targets, _ = spotting_targets(lab, N)
    out = targets.astype(np.float64)
    L = lab.shape[-2]
    # spotting_targets rounds t / L to float32 once; t is recovered exactly and divided in float64.
    present = out[..., 0] == 1
    out[..., 1] = np.where(present, np.rint(out[..., 1] * L) / L, 0.0)
    return out


def timestamps2long(output_spotting: torch.Tensor, video_size: int, chunk_size: int,
                    receptive_field: int) -> torch.Tensor:
    """Spotting output of a half's clips -> (T, C) clip scores, as sn-spotting's ``timestamps2long``.

    output_spotting: (n, N, 2 + C) tensor of the clips at sn-spotting's starts (stride
        chunk_size - 2 * (receptive_field // 2), the last clip at T - chunk_size; calf.md 10.1).
    Each slot writes its confidence at row floor(pos * (chunk_size - 1)) computed in float32 as the
    peer (``calf_decode_clips(decode="sn")``), class = first argmax, later slots overwriting
    earlier ones. Stitching differs from the peer on purpose: every clip is placed at its true start
    (calf.md defect D2). The peer misplaces the last 200 frames of a half when T mod 160 is in
    [2, 79]; elsewhere the outputs are identical. Returns a float32 tensor, -1 where nothing landed.
    """
    fn = "timestamps2long"
    if not is_tensor(output_spotting):
        raise TypeError(f"{fn}: output_spotting must be a torch tensor, got {type(output_spotting).__name__}")
    T = check_int(fn, "video_size", video_size, minimum=1)
    L = check_int(fn, "chunk_size", chunk_size, minimum=1)
    border = check_int(fn, "receptive_field", receptive_field, minimum=0) // 2
    starts = calf_clip_starts(T, L, L - 2 * border)
    if output_spotting.shape[0] != len(starts):
        raise ValueError(f"{fn}: output_spotting must hold the {len(starts)} clips of a {T}-frame half, got "
                         f"{output_spotting.shape[0]}")
    clips = calf_decode_clips(output_spotting.detach().float(), L, decode="sn")
    return calf_stitch(clips, starts, T, border=border)


class ContextAwareLoss(nn.Module):
    """sn-spotting's ``ContextAwareLoss(K, hit_radius=0.1, miss_radius=0.9)``: forward(labels, output)
    -> the summed six-zone segmentation loss (calf.md 5). ``K`` may be sn-spotting's float tensor
    ``K_V2 * framerate``; ``labels`` its float TSE chunk (whole numbers). Values equal the peer's
    wherever the peer is finite; where it gives inf/NaN (a saturated score, calf.md D4) this one
    stays finite."""

    def __init__(self, K: KTable, hit_radius: float = 0.1, miss_radius: float = 0.9) -> None:
        super().__init__()
        self.loss = CALFSegmentationLoss(K, miss_radius=miss_radius, hit_radius=hit_radius, variant="sn")

    def forward(self, labels: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        return self.loss(labels, output)


class SpottingLoss(nn.Module):
    """sn-spotting's ``SpottingLoss(lambda_coord, lambda_noobj)``: forward(y_true, y_pred) -> the
    summed spotting loss with CALF's iterative reciprocal matching (calf.md 6, 7). ``y_true`` may be
    float64 (getTimestampTargets' dtype): it is rounded to ``y_pred``'s dtype. The matching is the
    peer's except in its degenerate case (a similarity of exactly 0), where the peer may return a
    non-permutation and this one a permutation (calf.md 6)."""

    def __init__(self, lambda_coord: float, lambda_noobj: float):
        super().__init__()
        self.lambda_coord = float(lambda_coord)
        self.lambda_noobj = float(lambda_noobj)

    def forward(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return calf_spotting_loss(y_true, y_pred, lambda_coord=self.lambda_coord, lambda_noobj=self.lambda_noobj)


def NMS(detections: ArrayLike, delta: int | float) -> np.ndarray:  # noqa: N802
    """CALF's NMS, as sn-spotting's ``NMS(detections, delta)`` (calf.md 10.4).

    detections: (T, C) clip scores (numpy or tensor, float32 or float64, compared in their own
        dtype as the peer). delta: the window in frames (40 = 20 s at 2 fps), a whole number >= 2
        (the peer loops forever for delta < 2: its window would not cover the peak).
    Returns (T, C) float64 (the peer's ``np.zeros(...) - 1``): kept scores, -1 elsewhere.
    """
    fn = "NMS"
    if isinstance(delta, (float, np.floating)) and float(delta).is_integer():
        delta = int(delta)
    W = check_int(fn, "delta", delta, minimum=2)
    scores = np.ascontiguousarray(_numpy(detections))
    return nms(scores, W, method="calf").astype(np.float64)
