"""The peers' loops, written from the specs, as the baselines and oracles of ``spotkern.compat``.

Each function computes what the public implementation computes, the way it computes it (per-frame
Python loops, per-slot writes, the peer's own stitching counter), so the compat tests compare with
the peer's semantics, quirks included, and bench/bench_compat.py times the loop a project replaces.
"""
from __future__ import annotations

import numpy as np
import torch


def one_hot_to_shifts_loop_ref(onehot: np.ndarray, K: np.ndarray) -> np.ndarray:
    """sn-spotting's per-frame TSE loop (calf.md 3.2, rules 1-3 evaluated frame by frame with
    float64 ratios) -> (T, C) float64."""
    onehot = np.asarray(onehot)
    T, C = onehot.shape
    out = np.empty((T, C))
    for c in range(C):
        K1, K2, K3, K4 = (float(v) for v in np.asarray(K)[:, c])
        events = np.flatnonzero(onehot[:, c] == 1)
        if len(events) == 0:
            out[:, c] = K1
            continue
        if len(events) == 1:
            out[:, c] = np.arange(T) - events[0]
            continue
        events = np.concatenate(([-K4], events, [T - K1]))
        for t in range(T):
            k = int(np.searchsorted(events, t, side="right"))
            s1, s2 = t - events[k - 1], t - events[k]
            if s1 < K3 or (s1 < K4 and (s2 <= K1 or (s1 - K3) / (K4 - K3) < (K2 - s2) / (K2 - K1))):
                out[t, c] = s1
            else:
                out[t, c] = s2
    return out


def timestamp_targets_loop_ref(labels: np.ndarray, num_detections: int) -> np.ndarray:
    """sn-spotting's getTimestampTargets: (B, L, C) chunk encodings -> (B, N, 2 + C) float64, the
    cells equal to 0 in row-major order, position t / L in float64, the first N kept."""
    B, L, C = labels.shape
    out = np.zeros((B, num_detections, 2 + C))
    for b in range(B):
        times, classes = np.where(labels[b] == 0)
        for k, (t, c) in enumerate(zip(times, classes)):
            if k >= num_detections:
                break
            out[b, k, 0] = 1.0
            out[b, k, 1] = t / L
            out[b, k, 2 + c] = 1.0
    return out


def timestamps2long_ref(output_spotting: torch.Tensor, video_size: int, chunk_size: int,
                        receptive_field: int) -> torch.Tensor:
    """sn-spotting's timestamps2long: per-slot writes at floor(pos * (L - 1)) in float32 (later
    slots overwrite), stitched with the peer's own start counter, which misplaces the last clip when
    T mod (L - rf) is in [2, rf - 1] (calf.md defect D2)."""
    L, T = chunk_size, video_size
    b = receptive_field // 2
    C = output_spotting.shape[-1] - 2
    out = torch.full((T, C), -1.0)
    start, last = 0, False
    for clip in output_spotting:
        buf = torch.full((L, C), -1.0)
        for slot in clip:
            row = int(torch.floor(slot[1].float() * (L - 1)))
            buf[row, int(torch.argmax(slot[2:]))] = slot[0]
        if start == 0:
            out[0:L - b] = buf[0:L - b]
        elif last:
            out[start + b:start + L] = buf[b:]
            break
        else:
            out[start + b:start + L - b] = buf[b:L - b]
        start += L - 2 * b
        if start + L >= T:
            start, last = T - L, True
    return out


def create_detection_scores_ref(confidence: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """spivak's displacement application (dense_anchors.md 7.1): float64 zeros, u = clip(t +
    rint(delta), 0, T - 1), ``np.maximum.at``."""
    T, C = confidence.shape
    out = np.zeros((T, C))
    u = np.clip(np.arange(T)[:, None] + np.rint(delta).astype(np.int64), 0, T - 1)
    np.maximum.at(out, (u, np.broadcast_to(np.arange(C), (T, C))), confidence)
    return out
