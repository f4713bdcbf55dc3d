"""Training-chunk samplers (dense_anchors.md 5.3, calf.md 9.2-9.3).

Samplers are pure functions of (seed, epoch): ``epoch_plan(epoch)`` returns every chunk of that epoch
as ``(half_index, start)`` arrays, drawn with one ``numpy`` generator seeded by ``[seed, epoch]``.
Resuming at (epoch, step) therefore replays exactly the chunks an uninterrupted run would have seen
(the trainer stores only (epoch, step)), and distributed ranks share one plan and take disjoint slices
of every global batch.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from spotkern.ops._K import check_K


class ChunkSampler:
    """Common batching over an epoch plan. Subclasses define ``_draw(g, n) -> (half_index, start)``."""

    def __init__(self, lengths, chunk_len: int, batch_size: int, chunks_per_epoch: int, seed: int = 0):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.ndim != 1 or len(self.lengths) == 0 or (self.lengths <= 0).any():
            raise ValueError(f"{type(self).__name__}: lengths must be a non-empty list of positive half lengths")
        for name, v in (("chunk_len", chunk_len), ("batch_size", batch_size), ("chunks_per_epoch", chunks_per_epoch)):
            if int(v) < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be >= 1, got {v}")
        self.chunk_len, self.batch_size = int(chunk_len), int(batch_size)
        self.chunks_per_epoch, self.seed = int(chunks_per_epoch), int(seed)

    @property
    def steps_per_epoch(self) -> int:
        """ceil(chunks_per_epoch / batch_size) (dense_anchors.md 5.3: 8192 / 256 = 32)."""
        return math.ceil(self.chunks_per_epoch / self.batch_size)

    def epoch_plan(self, epoch: int):
        """(half_index (S*B,), start (S*B,)) int64 for every chunk of ``epoch`` (S steps of B)."""
        g = np.random.default_rng([self.seed, int(epoch)])
        return self._draw(g, self.steps_per_epoch * self.batch_size)

    def batch(self, epoch: int, step: int, *, rank: int = 0, world_size: int = 1):
        """Chunks of global batch ``step`` of ``epoch``; with ``world_size`` > 1, rank ``rank``'s
        contiguous share (batch_size must be divisible by world_size)."""
        if self.batch_size % world_size:
            raise ValueError(f"batch_size {self.batch_size} is not divisible by world_size {world_size}")
        h, s = self.epoch_plan(epoch) if getattr(self, "_plan_epoch", None) != epoch else self._plan
        self._plan_epoch, self._plan = epoch, (h, s)
        per = self.batch_size // world_size
        lo = step * self.batch_size + rank * per
        return h[lo:lo + per], s[lo:lo + per]


class UniformChunkSampler(ChunkSampler):
    """Dense anchors: a half with probability proportional to its length, then a start uniform in
    [0, T - L] so the chunk lies inside the half (dense_anchors.md 5.3). Halves shorter than L start
    at 0 (the chunk is zero-padded when gathered)."""

    def __init__(self, lengths, chunk_len: int = 224, batch_size: int = 256, chunks_per_epoch: int = 8192, seed: int = 0):
        super().__init__(lengths, chunk_len, batch_size, chunks_per_epoch, seed)

    def _draw(self, g, n):
        p = self.lengths / self.lengths.sum()
        h = g.choice(len(self.lengths), size=n, p=p)
        span = np.maximum(self.lengths[h] - self.chunk_len, 0) + 1
        start = (g.random(n) * span).astype(np.int64)  # uniform integer in [0, span)
        return h.astype(np.int64), np.minimum(start, span - 1)


def far_mask(tse: np.ndarray, K) -> np.ndarray:
    """(T,) bool: frames where every class is far, TSE >= K4 or TSE <= K1 (calf.md 9.2)."""
    K = np.asarray(K)
    return ((tse >= K[3][None, :]) | (tse <= K[0][None, :])).all(axis=1)


def runs(mask: np.ndarray) -> np.ndarray:
    """(R, 2) int64 maximal runs [i, j) of True in a 1-D bool array."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return edges.reshape(-1, 2).astype(np.int64)


def calf_anchors(tses, K, chunk_len: int = 240):
    """CALF anchors of a list of half TSEs (calf.md 9.2).

    tses: list of (T_h, C) int32 encodings. Returns (positives, background): positives is a list of C
    (P_c, 2) int64 arrays of (half, frame), one per class; background a (R, 3) int64 array of
    (half, i, j) far runs with j - i >= chunk_len.
    """
    fn = "calf_anchors"
    if not isinstance(tses, (list, tuple)) or len(tses) == 0:
        raise ValueError(f"{fn}: tses must be a non-empty list of (T, C) encodings")
    tses = [np.asarray(t) for t in tses]
    for i, t in enumerate(tses):
        if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] != tses[0].shape[1] or t.dtype.kind not in "iu":
            raise ValueError(f"{fn}: tses[{i}] must be a non-empty (T, C) integer encoding with the C of tses[0], "
                             f"got shape {t.shape} and dtype {t.dtype}")
    K = check_K(fn, K, tses[0].shape[1])
    C = K.shape[1]
    pos = [[] for _ in range(C)]
    bg = []
    for h, tse in enumerate(tses):
        t, c = np.nonzero(np.asarray(tse) == 0)
        for k in range(C):
            sel = t[c == k]
            pos[k].append(np.stack([np.full_like(sel, h), sel], axis=1))
        r = runs(far_mask(tse, K))
        r = r[(r[:, 1] - r[:, 0]) >= chunk_len]
        bg.append(np.concatenate([np.full((len(r), 1), h, dtype=np.int64), r], axis=1))
    positives = [np.concatenate(p).astype(np.int64).reshape(-1, 2) for p in pos]
    return positives, np.concatenate(bg).astype(np.int64).reshape(-1, 3)


class CALFChunkSampler(ChunkSampler):
    """CALF's class-balanced sampling (calf.md 9.3): a list uniformly among the C class lists and the
    background list (empty lists skipped, with one warning), an anchor uniformly within it, then
    start = a + U[-(L - rf), -rf) for actions or U[i, j - L] for background runs, clamped to
    [0, T - L - 1] as the reference does. Default epoch: 18,000 chunks in batches of 32."""

    def __init__(self, lengths, positives, background, chunk_len: int = 240, receptive_field: int = 80,
                 batch_size: int = 32, chunks_per_epoch: int = 18000, seed: int = 0):
        super().__init__(lengths, chunk_len, batch_size, chunks_per_epoch, seed)
        self.receptive_field = int(receptive_field)
        # the shift U[-(L - rf), -rf) puts the action at chunk offset rf + 1 .. L - rf (calf.md 9.3 step 2):
        # inside the chunk and a non-empty range only for 1 <= rf and 2 rf < L
        if not 1 <= self.receptive_field < self.chunk_len - self.receptive_field:
            raise ValueError(f"CALFChunkSampler: receptive_field must satisfy 1 <= receptive_field and "
                             f"2 * receptive_field < chunk_len = {self.chunk_len}, got {receptive_field}")
        self.lists = [np.asarray(p, dtype=np.int64).reshape(-1, 2) for p in positives]
        self.background = np.asarray(background, dtype=np.int64).reshape(-1, 3)
        sizes = [len(p) for p in self.lists] + [len(self.background)]
        self.nonempty = np.flatnonzero(np.asarray(sizes) > 0)
        if len(self.nonempty) == 0:
            raise ValueError("CALFChunkSampler: no anchors (no action and no background run)")
        if len(self.nonempty) < len(sizes):
            warnings.warn(f"CALFChunkSampler: {len(sizes) - len(self.nonempty)} empty anchor lists are skipped",
                          stacklevel=2)

    def _draw(self, g, n):
        L, rf, C = self.chunk_len, self.receptive_field, len(self.lists)
        which = self.nonempty[g.integers(0, len(self.nonempty), size=n)]
        u = g.random(n)  # anchor within its list
        shift = g.integers(-L + rf, -rf, size=n)  # numpy randint(-L + rf, -rf): upper bound exclusive
        v = g.random(n)  # start within a background run
        half = np.empty(n, dtype=np.int64)
        start = np.empty(n, dtype=np.int64)
        for k in np.unique(which):
            sel = which == k
            if k < C:
                a = self.lists[k][(u[sel] * len(self.lists[k])).astype(np.int64)]
                half[sel], start[sel] = a[:, 0], a[:, 1] + shift[sel]
            else:
                r = self.background[(u[sel] * len(self.background)).astype(np.int64)]
                half[sel] = r[:, 0]
                start[sel] = r[:, 1] + (v[sel] * (r[:, 2] - L - r[:, 1] + 1)).astype(np.int64)
        T = self.lengths[half]
        start = np.where(start < 0, 0, start)
        start = np.where(start + L >= T, T - L - 1, start)  # calf.md 9.3 step 4 (last frame never used)
        return half, np.maximum(start, 0)
