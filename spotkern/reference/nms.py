"""Per-class 1-D non-maximum suppression, transcribed from dense_anchors.md 7.3 (hard), 7.4 (linear
soft-NMS), 7.5 (Gaussian soft-NMS) and calf.md 10.4 (CALF's half-open window). Literal argmax loops:
quadratic in T, readable on purpose."""
from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt


def _hard_column(s, r, thr):
    s = s.astype(np.float64)  # compare with the threshold in float64, as the float64 pipeline does
    out = np.full(len(s), -1.0)
    while len(s):
        i = int(np.argmax(s))  # first index of the maximum
        if not s[i] >= thr:
            break
        out[i] = s[i]
        s[max(i - r, 0):i + r + 1] = -1.0  # inclusive +-r, r = floor(W / 2)
    return out


def _calf_column(s, delta, thr):
    s = s.astype(np.float64)
    T = len(s)
    out = np.full(T, -1.0)
    while T:
        i = int(np.argmax(s))
        if not s[i] >= thr:
            break
        out[i] = s[i]
        lo = int(max(i - delta / 2, 0))  # truncation of a non-negative float = floor
        hi = min(i + delta // 2, T)
        s[lo:hi] = -1.0  # half-open [i - delta/2, i + delta/2)
    return out


def _soft_column(s, weight, reach, thr):
    s = s.astype(np.float64)
    T = len(s)
    out = np.full(T, -1.0)
    while T:
        i = int(np.argmax(s))
        if not s[i] >= thr:
            break
        out[i] = s[i]  # the current, already decayed value
        for j in range(max(i - reach, 0), min(i + reach, T - 1) + 1):
            s[j] = s[j] * weight(abs(j - i))
        s[i] = -1.0
    return out


def _linear_weight(R, m):
    if R == 0:  # W = 0: the window is frame i alone, which is set to -1 anyway
        return lambda d: 1.0
    return lambda d: min(max(m + (1.0 - m) * d / R, 0.0), 1.0)


def _gaussian_weight(sigma, m):
    if 2.0 * sigma * sigma == 0:  # sigma = 0 (or so small that sigma^2 underflows): no neighbour decays
        return lambda d: 1.0
    return lambda d: 1.0 - (1.0 - m) * math.exp(-(d * d) / (2.0 * sigma * sigma))


def nms_ref(scores: npt.ArrayLike, window: npt.ArrayLike, *, method: str = "hard", threshold: float | None = None,
            sigma: npt.ArrayLike | None = None, min_weight: float = 0.0, expansion: float = 2.0) -> np.ndarray:
    """Dense suppressed scores: (T, C) or (B, T, C) float32, kept/emitted score and -1 elsewhere.

    window: int or length-C ints (frames). threshold: None -> 0.0 (hard, calf) or 1e-5 (soft).
    sigma (gaussian): None -> W / 2, a float or length-C floats.
    """
    scores = np.asarray(scores)
    if scores.ndim == 3:
        return np.stack([nms_ref(s, window, method=method, threshold=threshold, sigma=sigma, min_weight=min_weight,
                                 expansion=expansion) for s in scores])
    T, C = scores.shape
    windows = np.broadcast_to(np.asarray(window), (C,))
    if threshold is None:
        threshold = 0.0 if method in ("hard", "calf") else 1e-5
    sigmas = None
    if method == "gaussian":
        sigmas = windows / 2.0 if sigma is None else np.broadcast_to(np.asarray(sigma, dtype=np.float64), (C,))
    # float64 scores stay float64 (the loop runs in float64 either way); float32 ones round back
    out = np.empty((T, C), dtype=np.float64 if np.asarray(scores).dtype == np.float64 else np.float32)
    for c in range(C):
        W = int(windows[c])
        col = scores[:, c]
        if method == "hard":
            res = _hard_column(col, W // 2, threshold)
        elif method == "calf":
            res = _calf_column(col, W, threshold)
        elif method == "linear":
            R = expansion * W / 2
            res = _soft_column(col, _linear_weight(R, min_weight), math.ceil(R), threshold)
        elif method == "gaussian":
            sg = float(sigmas[c])  # type: ignore[index]  # set above for "gaussian"
            res = _soft_column(col, _gaussian_weight(sg, min_weight), math.ceil(3 * sg), threshold)
        else:
            raise ValueError(f"nms_ref: unknown method {method!r}")
        out[:, c] = res
    return out


def detections_ref(dense: npt.ArrayLike) -> tuple[np.ndarray, ...]:
    """Sparse form of a dense NMS output: cells > -1, sorted by score descending, ties in row-major
    scan order ((batch,) frame, class). Returns (frames, classes, scores[, batch])."""
    dense = np.asarray(dense)
    idx = np.argwhere(dense > -1)  # row-major order
    vals = dense[tuple(idx.T)]
    order = sorted(range(len(vals)), key=lambda k: -float(vals[k]))  # Python's sort is stable
    idx = idx[order].astype(np.int64).reshape(-1, dense.ndim)
    vals = vals[order].astype(np.float32)
    if dense.ndim == 2:
        return idx[:, 0], idx[:, 1], vals
    return idx[:, 1], idx[:, 2], vals, idx[:, 0]


def nms_sparse_ref(values: npt.ArrayLike, segments: npt.ArrayLike, frames: npt.ArrayLike, T: int,
                   windows: npt.ArrayLike, *, method: str = "hard", threshold: float | None = None,
                   sigma: npt.ArrayLike | None = None, min_weight: float = 0.0, expansion: float = 2.0) -> np.ndarray:
    """The dense NMS of columns given sparsely: each segment is a (T,) column holding ``values`` at the
    listed ``frames`` and -1 (below every valid threshold) elsewhere, suppressed by :func:`nms_ref` once per
    window. Returns (len(windows), N): the dense output at the listed cells.

    sigma (gaussian): None -> W / 2 per window, a float or one per window."""
    values = np.asarray(values)
    segments, frames = np.asarray(segments, dtype=np.int64), np.asarray(frames, dtype=np.int64)
    windows = [int(w) for w in np.asarray(windows, dtype=np.int64).reshape(-1)]
    sigmas = [None] * len(windows) if sigma is None else \
        [float(s) for s in np.broadcast_to(np.asarray(sigma, dtype=np.float64), (len(windows),))]
    columns, column_of = np.unique(segments, return_inverse=True)
    dense = np.full((len(columns), T, 1), -1.0, dtype=values.dtype)
    dense[column_of, frames, 0] = values
    out = np.empty((len(windows), len(values)), dtype=np.float64 if values.dtype == np.float64 else np.float32)
    for k, (w, s) in enumerate(zip(windows, sigmas)):
        if not len(columns):
            continue
        kept = nms_ref(dense, w, method=method, threshold=threshold, sigma=s, min_weight=min_weight,
                       expansion=expansion)
        out[k] = kept[column_of, frames, 0]
    return out
