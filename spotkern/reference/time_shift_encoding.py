"""CALF time-shift encoding, written from calf.md section 3.2 (the combination table, with the
float64 divisions of the public implementation)."""
from __future__ import annotations

import numpy as np


def time_shift_encoding_ref(onehot: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Time-shift encoding of one half.

    onehot: (T, C), a cell is an action iff it equals 1. K: (4, C) frames, rows K1, K2, K3, K4.
    Returns (T, C) int32.
    """
    onehot = np.asarray(onehot)
    K = np.asarray(K, dtype=np.int64)
    T, C = onehot.shape
    out = np.empty((T, C), dtype=np.int64)
    t = np.arange(T, dtype=np.int64)
    for c in range(C):
        K1, K2, K3, K4 = (int(v) for v in K[:, c])
        actions = np.flatnonzero(onehot[:, c] == 1)
        if len(actions) == 0:  # rule 1
            out[:, c] = K1
            continue
        if len(actions) == 1:  # rule 2: no combination at all
            out[:, c] = t - actions[0]
            continue
        events = np.concatenate([[-K4], actions, [T - K1]])  # rule 3: virtual events
        idx = np.searchsorted(events, t, side="right")  # number of events <= t
        s1 = t - events[idx - 1]
        s2 = t - events[idx]
        left = (s1 - K3) / (K4 - K3)
        right = (K2 - s2) / (K2 - K1)
        fade = (s1 >= K3) & (s1 < K4)
        take_s1 = (s1 < K3) | (fade & (s2 <= K1)) | (fade & (s2 > K1) & (left < right))
        out[:, c] = np.where(take_s1, s1, s2)
    return out.astype(np.int32)
