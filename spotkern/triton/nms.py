"""CUDA kernels of the per-class 1-D NMS (dense_anchors.md 7.3-7.5, calf.md 10.4): custom ops
``spotkern::nms`` (methods hard, calf, linear, gaussian) and ``spotkern::nms_detections``.

One program per (batch, class) column runs the spec's greedy loop literally (take the best frame,
lowest frame on ties, while it is >= threshold; emit it; suppress or decay its window), so the
selection order, and for the soft methods the order of the float64 decays, is the CPU kernel's:
the output is bit-identical. The argmax is two-level: the column lives in a float64 work buffer cut
into tiles of TILE frames, and the program keeps every tile's maximum and first argmax in
registers (NBP lanes). A selection reads the maximum over the tile maxima, then rewrites only the
tiles its window touches and refreshes their maxima: O(T / TILE + window) per selection instead of
O(T). Frames that can no longer be emitted (suppressed, emitted, or decayed below the threshold:
decays only shrink scores) are -inf in the work buffer.

Scores are transposed to (B, C, T) first (one coalesced torch copy), so every program reads and
writes contiguous time runs; the dense output is transposed back. The soft decay weights per
distance are computed on the host with the CPU kernel's exact float64 expressions (glibc ``exp``
for the Gaussian, as the C++ code) and copied to the device; no value is read back, so the op
never synchronises with the host.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from spotkern.triton._common import pow2

HARD, CALF, LINEAR, GAUSSIAN = 0, 1, 2, 3  # the custom op's method codes (spotkern/ops/nms.py)
DEAD = tl.constexpr(float("-inf"))
NO_FRAME = tl.constexpr(2**31 - 1)


@triton.jit
def _nms_kernel(cols_ptr, work_ptr, out_ptr, before_ptr, after_ptr, weights_ptr, thr_ptr, T, C, W_STRIDE,
               SOFT: tl.constexpr, TILE: tl.constexpr, NBP: tl.constexpr):
    """cols (B, C, T) float32 or float64 scores; work (B, C, T) float64 scratch; out (B, C, T) in
    the scores' dtype, -1 on entry; before, after (C,) int64: a selection at i touches [i - before, i + after]; weights
    (C, W_STRIDE) float64 decay per distance (SOFT only); thr (1,) float64. Grid (B * C,)."""
    col = tl.program_id(0).to(tl.int64)
    c = col % C
    T64 = T.to(tl.int64)
    src = cols_ptr + col * T64
    work = work_ptr + col * T64
    dst = out_ptr + col * T64
    thr = tl.load(thr_ptr)
    # Frames of one column fit int32; only the column offsets above need int64.
    before = tl.load(before_ptr + c).to(tl.int32)
    after = tl.load(after_ptr + c).to(tl.int32)
    lane = tl.arange(0, TILE)
    tiles = tl.arange(0, NBP)
    best = tl.full((NBP,), DEAD, tl.float64)  # per tile: maximum live value
    arg = tl.full((NBP,), NO_FRAME, tl.int32)  # per tile: its first frame
    n_tiles = tl.cdiv(T, TILE)
    for k in range(0, n_tiles):
        f = k * TILE + lane
        v = tl.load(src + f, mask=f < T, other=0.0).to(tl.float64)
        v = tl.where((f < T) & (v >= thr), v, DEAD)  # below the threshold: never emitted
        tl.store(work + f, v, mask=f < T)
        top = tl.max(v, 0)
        best = tl.where(tiles == k, top, best)
        arg = tl.where(tiles == k, tl.min(tl.where(v == top, f, NO_FRAME), 0).to(tl.int32), arg)
    tl.debug_barrier()
    top = tl.max(best, 0)
    while top >= thr:
        i = tl.min(tl.where(best == top, arg, NO_FRAME), 0)  # lowest frame among the maxima
        tl.store(dst + i, top.to(dst.dtype.element_ty))
        lo = tl.maximum(i - before, 0)
        hi = tl.minimum(i + after, T - 1)
        for kt in range(lo // TILE, hi // TILE + 1):
            g = kt * TILE + lane
            u = tl.load(work + g, mask=g < T, other=DEAD)
            inside = (g >= lo) & (g <= hi)
            if SOFT:
                # Decay in float64 in the CPU kernel's order (one multiplication per selection);
                # dead frames stay dead (and -inf * 0 would be NaN).
                dist = tl.abs(g - i)
                w = tl.load(weights_ptr + c * W_STRIDE + dist, mask=inside, other=1.0)
                u = tl.where(inside & (u != DEAD), u * w, u)
                u = tl.where(u >= thr, u, DEAD)
                u = tl.where(g == i, DEAD, u)
            else:
                u = tl.where(inside, DEAD, u)
            tl.store(work + g, u, mask=g < T)
            t_top = tl.max(u, 0)
            best = tl.where(tiles == kt, t_top, best)
            arg = tl.where(tiles == kt, tl.min(tl.where(u == t_top, g, NO_FRAME), 0).to(tl.int32), arg)
        tl.debug_barrier()  # the next selection may read these tiles from other threads
        top = tl.max(best, 0)


def _tile(T: int) -> tuple[int, int]:
    """(TILE, NBP): at most 256 tiles per column (NBP lanes of maxima), tiles of >= 32 frames."""
    tile = pow2(triton.cdiv(max(T, 1), 256), 32, 1 << 16)
    return tile, pow2(triton.cdiv(max(T, 1), tile), 2)


def _soft_table(method: int, windows, sigmas, min_weight: float, expansion: float, T: int):
    """Per-class reach and decay weight per distance, the CPU kernel's float64 expressions."""
    reaches, tables = [], []
    for W, sigma in zip(windows, sigmas):
        if method == LINEAR:
            R = expansion * float(W) / 2
            reach = min(math.ceil(R), T) if R > 0 else 0  # capped first: the table has reach + 1 entries
            table = [min(max(min_weight + (1.0 - min_weight) * float(d) / R, 0.0), 1.0) if R > 0 else 1.0
                     for d in range(reach + 1)]
        else:
            reach = math.ceil(3 * sigma) if sigma > 0 else 0
            reach = min(reach, T)
            s2 = 2.0 * sigma * sigma
            table = [1.0 - (1.0 - min_weight) * math.exp(-float(d * d) / s2) if s2 > 0 else 1.0
                     for d in range(reach + 1)]
        reaches.append(reach)
        tables.append(table[:reach + 1])
    width = max(len(t) for t in tables)
    return reaches, [t + [1.0] * (width - len(t)) for t in tables], width


def nms_triton(scores: torch.Tensor, windows: list[int], sigmas: list[float], method: int, threshold: float,
               min_weight: float, expansion: float) -> torch.Tensor:
    """Launcher: scores (T, C) or (B, T, C) float32 or float64 -> dense kept scores in the same
    dtype, -1 elsewhere (float64 scores are exact: the work buffer is float64 either way)."""
    shape = scores.shape
    x = scores[None] if scores.ndim == 2 else scores
    B, T, C = x.shape
    dev = scores.device
    if x.numel() == 0:
        return torch.full(shape, -1.0, dtype=scores.dtype, device=dev)
    cols = x.transpose(1, 2).contiguous()  # (B, C, T): contiguous time runs per program
    out = torch.full((B, C, T), -1.0, dtype=scores.dtype, device=dev)
    work = torch.empty((B, C, T), dtype=torch.float64, device=dev)
    soft = method in (LINEAR, GAUSSIAN)
    if soft:
        reaches, table, width = _soft_table(method, windows, sigmas, min_weight, expansion, T)
        before = after = reaches
        weights = torch.tensor(table, dtype=torch.float64, device=dev)
    else:
        if method == HARD:  # symmetric, inclusive +-floor(W/2) (7.3)
            before = after = [w // 2 for w in windows]
        else:  # CALF: [i - ceil(W/2), i + floor(W/2)) (calf.md 10.4)
            before = [(w + 1) // 2 for w in windows]
            after = [w // 2 - 1 for w in windows]
        # the kernel holds frame offsets in int32: a reach beyond the half is the whole half (W = 2**40, 2**63 - 1)
        before, after = [min(b, T) for b in before], [min(a, T) for a in after]
        width = 1
        weights = torch.ones((C, 1), dtype=torch.float64, device=dev)
    before_t = torch.tensor(before, dtype=torch.int64, device=dev)
    after_t = torch.tensor(after, dtype=torch.int64, device=dev)
    thr = torch.full((1,), float(threshold), dtype=torch.float64, device=dev)
    tile, nbp = _tile(T)
    _nms_kernel[(B * C,)](cols, work, out, before_t, after_t, weights, thr, T, C, width, SOFT=soft, TILE=tile,
                         NBP=nbp, num_warps=1 if tile <= 64 else 4)
    return out.transpose(1, 2).reshape(shape)


def nms_detections_triton(dense: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sparse detections of a dense (T, C) or (B, T, C) NMS output on its device: (frames, classes,
    scores, batch), sorted by score descending, ties in row-major order (a stable sort of the
    row-major cells). The output size depends on the data, so this step (unlike the NMS itself)
    has to learn the count on the host."""
    x = dense[None] if dense.ndim == 2 else dense
    kept = torch.nonzero(x > -1)  # row-major order: batch, frame, class
    vals = x[kept[:, 0], kept[:, 1], kept[:, 2]] + 0.0  # -0.0 -> +0.0: equal scores are ties
    order = torch.sort(vals, descending=True, stable=True).indices
    kept = kept[order]
    # clone, not contiguous(): with 0 or 1 detections a column is already contiguous, and the custom op's
    # outputs must not alias one another
    return kept[:, 1].clone(), kept[:, 2].clone(), vals[order], kept[:, 0].clone()


@torch.library.register_kernel("spotkern::nms", "cuda")
def _nms_cuda(scores, windows, sigmas, method, threshold, min_weight, expansion):
    return nms_triton(scores, windows, sigmas, method, threshold, min_weight, expansion)


@torch.library.register_kernel("spotkern::nms_detections", "cuda")
def _nms_detections_cuda(dense):
    return nms_detections_triton(dense)


def _spec(T: int, soft: bool, ptr: str = "*fp32"):
    tile, nbp = _tile(T)
    sig = {"cols_ptr": ptr, "work_ptr": "*fp64", "out_ptr": ptr, "before_ptr": "*i64", "after_ptr": "*i64",
           "weights_ptr": "*fp64", "thr_ptr": "*fp64", "T": "i32", "C": "i32", "W_STRIDE": "i32",
           "SOFT": "constexpr", "TILE": "constexpr", "NBP": "constexpr"}
    return (_nms_kernel, sig, {"SOFT": soft, "TILE": tile, "NBP": nbp}, {"num_warps": 1 if tile <= 64 else 4})


# A chunk (T = 224), a half (T = 5400) and a long video (T = 200,000), hard/calf and soft; float64
# scores (sn-spotting's and spivak's NumPy default) on a half.
COMPILE_SPECS = ([_spec(T, soft) for T in (224, 5400, 200_000) for soft in (False, True)]
                 + [_spec(5400, soft, "*fp64") for soft in (False, True)])
