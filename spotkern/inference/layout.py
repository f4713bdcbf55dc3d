"""Whole-half chunk layouts and stitching (calf.md 10.1-10.3, dense_anchors.md 6).

Pure index arithmetic on integers, shared by inference and tests.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from spotkern._typing import Array, ArrayT


def calf_clip_starts(num_frames: int, chunk_len: int = 240, stride: int = 160) -> np.ndarray:
    """(n,) int64 clip starts: every multiple of ``stride`` below T - 1, then the last replaced by
    T - L (calf.md 10.1). A half shorter than L is one clip at 0 (padded with its last frame)."""
    T, L = int(num_frames), int(chunk_len)
    if T < 1 or L < 1 or stride < 1:
        raise ValueError(f"calf_clip_starts: num_frames, chunk_len and stride must be >= 1, got {T}, {L}, {stride}")
    if stride > L:  # clips must overlap or touch, else the frames between them belong to no clip
        raise ValueError(f"calf_clip_starts: stride must be <= chunk_len = {L}, got {stride}")
    if T < L:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, max(T - 1, 1), stride, dtype=np.int64)
    starts[-1] = T - L
    return starts


def calf_stitch(clips: ArrayT, starts: Sequence[int] | Array, num_frames: int, border: int = 40) -> ArrayT:
    """Stitch per-clip (n, L, C) outputs into (T, C), each clip at its **true** start (calf.md 10.3,
    not the peer's defect D2): the first clip writes rows [0, L - b), middle clips [b, L - b), the last clip
    [b, L); later clips overwrite earlier ones; frames never written stay -1 (there are none).
    A single clip (T < L) contributes rows [0, T). Works on numpy arrays and tensors."""
    n, L, C = clips.shape
    T = int(num_frames)
    starts = [int(s) for s in (starts.tolist() if hasattr(starts, "tolist") else starts)]
    if len(starts) != n:
        raise ValueError(f"calf_stitch: {n} clips but {len(starts)} starts")
    if not 0 <= 2 * int(border) < L:  # a middle clip keeps rows [border, L - border): at least one row
        raise ValueError(f"calf_stitch: border must satisfy 0 <= 2 * border < L = {L}, got {border}")
    if torch.is_tensor(clips):
        out = torch.full((T, C), -1.0, dtype=clips.dtype, device=clips.device)
    else:
        out = np.full((T, C), -1.0, dtype=clips.dtype)
    for k, s in enumerate(starts):
        lo = 0 if k == 0 else border
        hi = L if (k == n - 1) else L - border
        f0, f1 = max(s + lo, 0), min(s + hi, T)  # writes outside [0, T) are dropped
        if f1 > f0:
            out[f0:f1] = clips[k, f0 - s:f1 - s]
    return out


def dense_border(fps: float, chunk_len: int, border_seconds: float) -> int:
    """B = min(ceil(fps * border_s), (L - floor(fps * 10)) // 2) (dense_anchors.md 6)."""
    return int(min(math.ceil(fps * border_seconds), (chunk_len - math.floor(fps * 10)) // 2))


def dense_chunk_layout(num_frames: int, chunk_len: int, border: int) -> np.ndarray:
    """(n, 6) int64 rows (start, valid, out_start, out_end, frame_start, frame_end) of the centre-crop
    layout of dense_anchors.md 6 (test vector DA-T9): stride L - 2B, the last start clamped to T - L,
    the first chunk keeps [0, L - B), the last [B, valid), later chunks win the overlap."""
    T, L, B = int(num_frames), int(chunk_len), int(border)
    if T < 1 or L < 1 or B < 0 or L - 2 * B < 1:
        raise ValueError(f"dense_chunk_layout: need T >= 1, L >= 1 and L - 2*border >= 1, got {T}, {L}, {B}")
    rows, start = [], 0
    while True:
        valid = min(L, T - start)
        out_start = 0 if start == 0 else B
        last = start >= T - L
        out_end = valid if last else valid - B
        rows.append((start, valid, out_start, out_end, start + out_start, start + out_end))
        if last:
            break
        start += L - 2 * B
        if start > T - L:
            start = T - L
    return np.asarray(rows, dtype=np.int64)


def dense_merge(chunks: ArrayT, layout: np.ndarray, num_frames: int) -> ArrayT:
    """(n, L, C) chunk outputs -> (T, C) by the layout's central crops, in chunk order."""
    n, L, C = chunks.shape
    if torch.is_tensor(chunks):
        out = torch.zeros((int(num_frames), C), dtype=chunks.dtype, device=chunks.device)
    else:
        out = np.zeros((int(num_frames), C), dtype=chunks.dtype)
    for k, (_start, _valid, o0, o1, f0, f1) in enumerate(np.asarray(layout).tolist()):
        out[f0:f1] = chunks[k, o0:o1]
    return out
