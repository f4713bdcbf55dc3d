"""Dense-anchor targets and class-balance weights, transcribed from dense_anchors.md sections 2.1-2.4
(the loops of spivak's ``create_frame_range``, confidence head and ``create_delta_targets``)."""
from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

DISPLACEMENT_SENTINEL = 10.0  # VERY_LARGE_DELTA, dense_anchors.md 2.3


def frame_range_ref(a: int, r: float, T: int) -> range:
    """Frames ceil(a - r) ... floor(a + r), both inclusive, clipped to [0, T - 1] (spec 2.1)."""
    lo = max(math.ceil(a - r), 0)
    hi = min(math.floor(a + r), T - 1)
    return range(lo, hi + 1)


def _one_half(frames, classes, T, C, rc, rd):
    confidence = np.zeros((T, C), dtype=np.float64)
    displacement = np.full((T, C), DISPLACEMENT_SENTINEL, dtype=np.float64)
    # Per class in increasing frame order (spec 2.3); duplicates give identical ranges.
    for a, c in sorted(zip((int(f) for f in frames), (int(k) for k in classes)), key=lambda e: (e[1], e[0])):
        for t in frame_range_ref(a, rc, T):
            confidence[t, c] = 1.0
        for t in frame_range_ref(a, rd, T):
            candidate = (a - t) / rd
            if abs(candidate) < abs(displacement[t, c]):  # strict: an exact tie keeps the earlier action
                displacement[t, c] = candidate
    support = displacement != DISPLACEMENT_SENTINEL
    return confidence.astype(np.float32), displacement.astype(np.float32), support


def dense_anchor_targets_ref(frames: npt.ArrayLike, classes: npt.ArrayLike, num_frames: int, num_classes: int, *,
                             radius_confidence: float, radius_displacement: float,
                             offsets: npt.ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confidence, displacement and support targets from an event list.

    frames, classes: (E,) integers. Without ``offsets``: one half, outputs (T, C). With ``offsets``
    (B + 1,): chunk b holds events offsets[b] .. offsets[b + 1] - 1, outputs (B, T, C).
    Returns (confidence float32 0/1, displacement float32 in rd units or 10.0, support bool).
    """
    frames = np.asarray(frames)
    classes = np.asarray(classes)
    args = (num_frames, num_classes, float(radius_confidence), float(radius_displacement))
    if offsets is None:
        return _one_half(frames, classes, *args)
    offsets = np.asarray(offsets)
    parts = [_one_half(frames[offsets[b]:offsets[b + 1]], classes[offsets[b]:offsets[b + 1]], *args)
             for b in range(len(offsets) - 1)]
    confidence, displacement, support = (np.stack([p[k] for p in parts]) for k in range(3))
    return confidence, displacement, support


def class_balance_weights_ref(positive_counts: npt.ArrayLike, total_frames: int, p: float,
                              class_weights: npt.ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-class (w_pos, w_neg) of spec 2.4: w_pos = cw * N * p / P_c, w_neg = cw * N * (1 - p) / N_c.

    A class with P_c = 0 (or N_c = 0) gets weight 0 on that side: no anchor ever carries it.
    """
    P = np.asarray(positive_counts, dtype=np.float64)
    N = float(total_frames)
    cw = np.ones_like(P) if class_weights is None else np.asarray(class_weights, dtype=np.float64)
    w_pos = np.zeros_like(P)
    w_neg = np.zeros_like(P)
    for c in range(len(P)):
        if P[c] > 0:
            w_pos[c] = cw[c] * N * p / P[c]
        if N - P[c] > 0:
            w_neg[c] = cw[c] * N * (1 - p) / (N - P[c])
    return w_pos, w_neg
