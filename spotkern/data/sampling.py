"""Training-chunk samplers (dense_anchors.md 5.3, calf.md 9.2-9.4).

Samplers are pure functions of (seed, epoch): ``epoch_plan(epoch)`` returns every chunk of that epoch
as ``(half_index, start)`` arrays, drawn with one ``numpy`` generator seeded by ``[seed, epoch]``.
Resuming at (epoch, step) therefore replays exactly the chunks an uninterrupted run would have seen
(the trainer stores only (epoch, step)), and distributed ranks share one plan and take disjoint slices
of every global batch.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from spotkern._typing import ArrayLike, KTable
from spotkern.ops.calf_k import check_K

log = logging.getLogger("spotkern")


class ChunkSampler:
    """Common batching over an epoch plan. Subclasses define ``_draw(g, n) -> (half_index, start)``."""

    _plan_epoch: int | None  # the epoch whose plan ``batch`` holds (set by its first call)
    _plan: tuple[np.ndarray, np.ndarray]

    def __init__(self, lengths: ArrayLike, chunk_len: int, batch_size: int, chunks_per_epoch: int,
                 seed: int = 0) -> None:
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

    def _draw(self, g: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(half_index (n,), start (n,)) int64 of n chunks drawn with ``g`` (each subclass's rule)."""
        raise NotImplementedError

    def epoch_plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(half_index (S*B,), start (S*B,)) int64 for every chunk of ``epoch`` (S steps of B)."""
        g = np.random.default_rng([self.seed, int(epoch)])
        return self._draw(g, self.steps_per_epoch * self.batch_size)

    def batch(self, epoch: int, step: int, *, rank: int = 0, world_size: int = 1) -> tuple[np.ndarray, np.ndarray]:
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

    def __init__(self, lengths: ArrayLike, chunk_len: int = 224, batch_size: int = 256, chunks_per_epoch: int = 8192,
                 seed: int = 0) -> None:
        super().__init__(lengths, chunk_len, batch_size, chunks_per_epoch, seed)

    def _draw(self, g, n):
        p = self.lengths / self.lengths.sum()
        h = g.choice(len(self.lengths), size=n, p=p)
        span = np.maximum(self.lengths[h] - self.chunk_len, 0) + 1
        start = (g.random(n) * span).astype(np.int64)  # uniform integer in [0, span)
        return h.astype(np.int64), np.minimum(start, span - 1)


def far_mask(tse: np.ndarray, K: ArrayLike) -> np.ndarray:
    """(T,) bool: frames where every class is far, TSE >= K4 or TSE <= K1 (calf.md 9.2)."""
    K = np.asarray(K)
    return ((tse >= K[3][None, :]) | (tse <= K[0][None, :])).all(axis=1)


def runs(mask: np.ndarray) -> np.ndarray:
    """(R, 2) int64 maximal runs [i, j) of True in a 1-D bool array."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return edges.reshape(-1, 2).astype(np.int64)


def calf_anchors(tses: list[np.ndarray] | tuple[np.ndarray, ...], K: KTable,
                 chunk_len: int = 240) -> tuple[list[np.ndarray], np.ndarray]:
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
    pos: list[list[np.ndarray]] = [[] for _ in range(C)]
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

    def __init__(self, lengths: ArrayLike, positives: Sequence[ArrayLike], background: ArrayLike,
                 chunk_len: int = 240, receptive_field: int = 80, batch_size: int = 32, chunks_per_epoch: int = 18000,
                 seed: int = 0) -> None:
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
            # expected when a class has no action in the training halves (small or synthetic sets): a log
            # line at -v, not a warning on every run
            log.debug("CALFChunkSampler: %d empty anchor lists are skipped (classes without any action in the "
                      "training halves, or no background run)", len(sizes) - len(self.nonempty))

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
        return half, clamp_calf_starts(start, self.lengths[half], L)


def clamp_calf_starts(start: np.ndarray, num_frames: np.ndarray | int, chunk_len: int) -> np.ndarray:
    """CALF's chunk-start clamp (calf.md 9.3 step 4): start < 0 -> 0; start + L >= T -> T - L - 1 (so the
    last frame of a half is never in a training chunk); halves shorter than L + 1 start at 0."""
    start = np.where(start < 0, 0, start)
    start = np.where(start + chunk_len >= num_frames, num_frames - chunk_len - 1, start)
    return np.maximum(start, 0).astype(np.int64)


class CALFV1ChunkSampler:
    """CALF v1 / paper sampling (calf.md 9.4, ``calf_variant="v1"``): every epoch, for every training half
    in dataset order, one positive chunk for **every** action of the half (every cell with TSE == 0)
    plus min(floor(P_h / C) + 1, R_h) background chunks (P_h actions, R_h background runs of the half,
    C classes); the chunks of one half form one batch, so an epoch has one step per half (halves with no
    chunk at all are skipped) and batches have varying sizes.

    * Positive start = a + shift with shift uniform in [-(L - rf), -rf] **inclusive** (v1's bound, 9.3
      step 2): before the clamp the action sits at chunk offset rf .. L - rf (80 .. 160).
    * Background chunks: min(floor(P_h / C) + 1, R_h) **distinct** runs of the half, drawn uniformly
      without replacement (the cap by R_h in 9.4 means one chunk per run at most), each giving one chunk
      with a start uniform in [i, j - L]; they follow the positives in run order.
    * Every start is clamped as in 9.3 step 4 (``clamp_calf_starts``).

    ``batch_size`` and ``chunks_per_epoch`` do not apply: the data fix both. The plan is a pure function
    of (seed, epoch) (one ``numpy`` generator seeded by ``[seed, epoch]``), so resuming at (epoch, step)
    is exact. Within an epoch the layout (which half each step takes, how many chunks, which action each
    positive chunk is for) is fixed: ``offsets`` (S + 1,) delimits step k's chunks [offsets[k],
    offsets[k + 1]) of the flat plan, ``halves`` (S,) names its half, ``anchors`` (n,) gives the action
    frame of each chunk (-1 for background) and ``anchor_classes`` (n,) its class (-1 for background).
    Distributed training is refused (``batch`` with world_size > 1): splitting a batch of one chunk
    leaves a rank with none, and per-rank BatchNorm statistics would differ from v1's one batch per half.
    """

    def __init__(self, lengths: ArrayLike, positives: Sequence[ArrayLike], background: ArrayLike,
                 chunk_len: int = 240, receptive_field: int = 80, seed: int = 0) -> None:
        fn = "CALFV1ChunkSampler"
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.ndim != 1 or len(self.lengths) == 0 or (self.lengths <= 0).any():
            raise ValueError(f"{fn}: lengths must be a non-empty list of positive half lengths")
        self.chunk_len, self.receptive_field, self.seed = int(chunk_len), int(receptive_field), int(seed)
        if self.chunk_len < 1:
            raise ValueError(f"{fn}: chunk_len must be >= 1, got {chunk_len}")
        if not 1 <= self.receptive_field < self.chunk_len - self.receptive_field:
            raise ValueError(f"{fn}: receptive_field must satisfy 1 <= receptive_field and "
                             f"2 * receptive_field < chunk_len = {self.chunk_len}, got {receptive_field}")
        if not isinstance(positives, (list, tuple)) or len(positives) == 0:
            raise ValueError(f"{fn}: positives must be a non-empty list of per-class (P_c, 2) arrays")
        C, H = len(positives), len(self.lengths)
        self.num_classes = C
        pos = [np.asarray(p, dtype=np.int64).reshape(-1, 2) for p in positives]
        bg = np.asarray(background, dtype=np.int64).reshape(-1, 3)
        for name, named in [("positives", p[:, 0]) for p in pos] + [("background", bg[:, 0])]:
            if len(named) and (named.min() < 0 or named.max() >= H):
                raise ValueError(f"{fn}: {name} name a half outside [0, {H})")
        ph = np.concatenate([p[:, 0] for p in pos])
        pf = np.concatenate([p[:, 1] for p in pos])
        pc = np.concatenate([np.full(len(p), k, dtype=np.int64) for k, p in enumerate(pos)])
        order = np.lexsort((pc, pf, ph))  # per half, positives by (frame, class)
        ph, pf, pc = ph[order], pf[order], pc[order]
        bg = bg[np.argsort(bg[:, 0], kind="stable")]
        self.runs = [bg[bg[:, 0] == h, 1:] for h in range(H)]
        P = np.bincount(ph, minlength=H)
        R = np.array([len(r) for r in self.runs], dtype=np.int64)
        self._run_offsets = np.concatenate([[0], np.cumsum(R)]).astype(np.int64)  # half h: keys [ro[h], ro[h+1])
        # calf.md 9.4: floor(#positives / C) + 1 background chunks, at most one per run of the half
        nbg = np.minimum(P // C + 1, R)
        self.positives_per_half, self.background_per_half = P, nbg
        self.halves = np.flatnonzero(P + nbg > 0).astype(np.int64)
        if len(self.halves) == 0:
            raise ValueError(f"{fn}: no chunks (no action and no background run in any half)")
        sizes = (P + nbg)[self.halves]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        pstart = np.concatenate([[0], np.cumsum(P)])
        half, anchors, classes = [], [], []
        for h in self.halves:
            lo, hi = pstart[h], pstart[h + 1]
            half += [np.full(P[h] + nbg[h], h, dtype=np.int64)]
            anchors += [pf[lo:hi], np.full(nbg[h], -1, dtype=np.int64)]
            classes += [pc[lo:hi], np.full(nbg[h], -1, dtype=np.int64)]
        self.chunk_halves = np.concatenate(half)
        self.anchors = np.concatenate(anchors)
        self.anchor_classes = np.concatenate(classes)
        self._plan_epoch: int | None = None
        self._plan: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def steps_per_epoch(self) -> int:
        """One step per half that has at least one chunk."""
        return len(self.halves)

    @property
    def chunks_per_epoch(self) -> int:
        """Total chunks of an epoch (the same every epoch)."""
        return int(self.offsets[-1])

    def epoch_plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(half_index (n,), start (n,)) int64 for every chunk of ``epoch``, step by step (step k is
        ``[offsets[k], offsets[k + 1])``; within a step, the positives by (frame, class), then background)."""
        g = np.random.default_rng([self.seed, int(epoch)])
        L, rf = self.chunk_len, self.receptive_field
        n = self.chunks_per_epoch
        # a shift and a start fraction for every chunk, whatever its kind, then one key per background run:
        # the stream layout depends only on the (fixed) data, never on earlier draws
        shift = g.integers(-(L - rf), -rf, size=n, endpoint=True)  # v1: inclusive upper bound (9.3 step 2)
        v = g.random(n)  # start within the run
        keys = g.random(int(self._run_offsets[-1]))  # run order: the nbg smallest keys of a half are its runs
        start = np.empty(n, dtype=np.int64)
        pos = self.anchors >= 0
        start[pos] = self.anchors[pos] + shift[pos]
        for step, h in enumerate(self.halves):
            nbg = int(self.background_per_half[h])
            if nbg == 0:
                continue
            ro = self._run_offsets
            picked = np.sort(np.argsort(keys[ro[h]:ro[h + 1]], kind="stable")[:nbg])  # distinct runs (9.4)
            i, j = self.runs[h][picked, 0], self.runs[h][picked, 1]
            k = slice(self.offsets[step + 1] - nbg, self.offsets[step + 1])  # the step's background slots
            start[k] = i + (v[k] * (j - L - i + 1)).astype(np.int64)  # uniform in [i, j - L]
        return self.chunk_halves.copy(), clamp_calf_starts(start, self.lengths[self.chunk_halves], L)

    def batch(self, epoch: int, step: int, *, rank: int = 0, world_size: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Chunks (half_index, start) of step ``step`` of ``epoch``: every chunk of one half."""
        if world_size != 1:
            raise ValueError(f"CALFV1ChunkSampler: calf_variant='v1' trains one variable-size batch per half and "
                             f"does not support distributed training (world_size={world_size})")
        if not 0 <= step < self.steps_per_epoch:
            raise ValueError(f"CALFV1ChunkSampler: step must be in [0, {self.steps_per_epoch}), got {step}")
        if self._plan is None or self._plan_epoch != epoch:
            self._plan_epoch, self._plan = epoch, self.epoch_plan(epoch)
        h, s = self._plan
        lo, hi = self.offsets[step], self.offsets[step + 1]
        return h[lo:hi], s[lo:hi]
