"""CALF YOLO-like spotting targets, written from calf.md section 4 (with the border write of
section 9.3, step 6, done on a copy: defect D1)."""
from __future__ import annotations

import numpy as np


def _one_chunk(tse: np.ndarray, num_slots: int, border: int):
    tse = np.array(tse, copy=True)  # never write into the caller's (half's) encoding (calf.md D1)
    L, C = tse.shape
    tse[:border] = -1  # the first and last `border` rows are ignored (calf.md section 9.3, step 6)
    tse[L - border:] = -1
    targets = np.zeros((num_slots, 2 + C), dtype=np.float64)
    actions = np.argwhere(tse == 0)  # row-major order: time first, then class
    for k, (t, c) in enumerate(actions[:num_slots]):
        targets[k, 0] = 1.0
        targets[k, 1] = t / L  # divided by L, not L - 1
        targets[k, 2 + c] = 1.0
    dropped = max(len(actions) - num_slots, 0)
    return targets.astype(np.float32), dropped


def spotting_targets_ref(chunk_tse: np.ndarray, num_slots: int, border: int = 0) -> tuple[np.ndarray, np.ndarray | int]:
    """Spotting targets of one chunk or a batch of chunks.

    chunk_tse: (L, C) or (B, L, C) integer time-shift encoding slices; action cells equal 0.
    num_slots: N. border: rows [0, border) and [L - border, L) are ignored.
    Returns (targets, dropped): targets (N, 2 + C) or (B, N, 2 + C) float32 (presence, t / L,
    one-hot class); dropped an int or a (B,) int64 array, the actions beyond the N earliest.
    """
    chunk_tse = np.asarray(chunk_tse)
    if chunk_tse.ndim == 2:
        return _one_chunk(chunk_tse, num_slots, border)
    results = [_one_chunk(x, num_slots, border) for x in chunk_tse]
    targets = np.stack([r[0] for r in results])
    dropped = np.array([r[1] for r in results], dtype=np.int64)
    return targets, dropped
