"""CUDA kernel of the dense-anchor targets (dense_anchors.md sections 2.1-2.3): custom op
``spotkern::dense_anchor_targets``.

Gather formulation, no atomics: grid (B, cdiv(T, BLOCK_T), cdiv(C, BLOCK_C)); each program owns a
(BLOCK_T, BLOCK_C) tile of contiguous rows (coalesced stores along time) and walks its chunk's
events (CSR ``offsets``; unsorted, duplicates allowed), skipping events whose radius cannot reach
the tile. Per cell it keeps the nearest action with the earlier one winning an exact tie, which is
order-independent and equals the spec's "in increasing frame order, write only if strictly nearer"
(2.3). Ranges are the spec's ceil(a - r) .. floor(a + r) in float64 (2.1), and the displacement
is float32((a - t) / rd) with a float64 division, exactly as the CPU kernel.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from spotkern.triton._common import pow2, warps_for

SENTINEL = tl.constexpr(10.0)  # spec 2.3, outside the support


@triton.jit
def _clip(x, Tf):
    """A float64 frame bound clipped to [-1, T] and converted to int64 (never out of range)."""
    return tl.minimum(tl.maximum(x, -1.0), Tf).to(tl.int64)


@triton.jit
def _dense_anchor_targets_kernel(frames_ptr, classes_ptr, offsets_ptr, radii_ptr, conf_ptr, disp_ptr, support_ptr,
                                T, C, BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr):
    """frames, classes (E,) int32/int64; offsets (B + 1,) int64; radii (2,) float64 = (rc, rd);
    conf, disp (B, T, C) float32; support (B, T, C) bool."""
    b = tl.program_id(0).to(tl.int64)
    t = tl.program_id(1).to(tl.int64) * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
    rc = tl.load(radii_ptr)
    rd = tl.load(radii_ptr + 1)
    T64 = T.to(tl.int64)
    t_first = tl.program_id(1).to(tl.int64) * BLOCK_T
    t_last = t_first + BLOCK_T - 1
    reach = tl.maximum(rc, rd)
    confident = tl.zeros((BLOCK_T, BLOCK_C), tl.int1)
    found = tl.zeros((BLOCK_T, BLOCK_C), tl.int1)
    best_a = tl.zeros((BLOCK_T, BLOCK_C), tl.int64)
    best_d = tl.zeros((BLOCK_T, BLOCK_C), tl.uint64)  # |a - t| of the nearest action in range
    Tf = T64.to(tl.float64)
    e0 = tl.load(offsets_ptr + b)
    e1 = tl.load(offsets_ptr + b + 1)
    for e in range(e0, e1):
        a = tl.load(frames_ptr + e).to(tl.int64)
        k = tl.load(classes_ptr + e)
        af = a.to(tl.float64)
        # Skip events whose ranges cannot touch this tile (a cheap uniform branch).
        if (af + reach >= t_first.to(tl.float64)) & (af - reach <= t_last.to(tl.float64)):
            col = (cols == k)[None, :]
            tt = t[:, None]
            # The bounds are clipped to [-1, T] in float64 before the int64 conversion, as in the C++
            # kernel: a radius or frame beyond the int64 range must not wrap around.
            lo_c = _clip(tl.math.ceil(af - rc), Tf)
            hi_c = _clip(tl.math.floor(af + rc), Tf)
            confident = confident | (col & (tt >= lo_c) & (tt <= hi_c))
            lo_d = _clip(tl.math.ceil(af - rd), Tf)
            hi_d = _clip(tl.math.floor(af + rd), Tf)
            # |a - t| in uint64 (modular subtraction of the smaller from the larger): exact for every
            # int64 frame, where a - t itself overflows for a within t of INT64_MIN.
            au = a.to(tl.uint64, bitcast=True)
            tu = tt.to(tl.uint64, bitcast=True)
            dist = tl.where(a >= tt, au - tu, tu - au)
            better = col & (tt >= lo_d) & (tt <= hi_d) & \
                ((found == 0) | (dist < best_d) | ((dist == best_d) & (a < best_a)))
            best_a = tl.where(better, a, best_a)
            best_d = tl.where(better, dist, best_d)
            found = found | better
    m = (t < T64)[:, None] & (cols < C)[None, :]
    cell = b * T64 * C + t[:, None] * C + cols[None, :]
    tc = t[:, None]
    # float64(a - t) as the C++ kernel: the int64 difference when it does not overflow (a wrapped
    # difference is larger than a, since t >= 0), else float64(a) - float64(t).
    diff_i = best_a - tc
    diff = tl.where(diff_i <= best_a, diff_i.to(tl.float64), best_a.to(tl.float64) - tc.to(tl.float64))
    disp = tl.where(found, (diff / rd).to(tl.float32), SENTINEL)
    tl.store(conf_ptr + cell, confident.to(tl.float32), mask=m)
    tl.store(disp_ptr + cell, disp, mask=m)
    tl.store(support_ptr + cell, found, mask=m)


def _blocks(T: int, C: int) -> tuple[int, int, int]:
    block_c = pow2(C, 1, 32)
    block_t = pow2(min(T, max(1024 // block_c, 16)), 16, 1024)
    return block_t, block_c, warps_for(block_t * block_c)


def dense_anchor_targets_triton(frames: torch.Tensor, classes: torch.Tensor, offsets: torch.Tensor | None,
                                num_frames: int, num_classes: int, radius_confidence: float,
                                radius_displacement: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Launcher: see the custom op. Returns (confidence, displacement, support), (T, C) without
    offsets, (B, T, C) with them."""
    dev = frames.device
    T, C = num_frames, num_classes
    if offsets is None:
        off = torch.tensor([0, frames.shape[0]], dtype=torch.int64, device=dev)
    else:
        off = offsets.contiguous()
    B = off.shape[0] - 1
    shape = (B, T, C)
    conf = torch.empty(shape, dtype=torch.float32, device=dev)
    disp = torch.empty(shape, dtype=torch.float32, device=dev)
    support = torch.empty(shape, dtype=torch.bool, device=dev)
    if B > 0 and T > 0 and C > 0:
        radii = torch.tensor([float(radius_confidence), float(radius_displacement)], dtype=torch.float64, device=dev)
        block_t, block_c, warps = _blocks(T, C)
        grid = (B, triton.cdiv(T, block_t), triton.cdiv(C, block_c))
        _dense_anchor_targets_kernel[grid](frames.contiguous(), classes.contiguous(), off, radii, conf, disp, support,
                                          T, C, BLOCK_T=block_t, BLOCK_C=block_c, num_warps=warps)
    if offsets is None:
        return conf[0], disp[0], support[0]
    return conf, disp, support


@torch.library.register_kernel("spotkern::dense_anchor_targets", "cuda")
def _dense_anchor_targets_cuda(frames, classes, offsets, num_frames, num_classes, radius_confidence,
                               radius_displacement):
    return dense_anchor_targets_triton(frames, classes, offsets, num_frames, num_classes, radius_confidence,
                                radius_displacement)


def _spec(index: str, T: int, C: int):
    block_t, block_c, warps = _blocks(T, C)
    sig = {"frames_ptr": index, "classes_ptr": index, "offsets_ptr": "*i64", "radii_ptr": "*fp64",
           "conf_ptr": "*fp32", "disp_ptr": "*fp32", "support_ptr": "*i1", "T": "i32", "C": "i32",
           "BLOCK_T": "constexpr", "BLOCK_C": "constexpr"}
    return (_dense_anchor_targets_kernel, sig, {"BLOCK_T": block_t, "BLOCK_C": block_c}, {"num_warps": warps})


# Both index dtypes at a SoccerNet half (T = 5400, C = 17), and the extreme tiles.
COMPILE_SPECS = [_spec(ix, 5400, 17) for ix in ("*i32", "*i64")] + [_spec("*i64", 224, 1), _spec("*i64", 5400, 100)]
