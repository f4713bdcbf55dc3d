"""CUDA kernels of the CALF time-shift encoding (calf.md section 3): custom ops
``spotkern::time_shift_encoding_packed`` and ``spotkern::time_shift_encoding_events``.

One program per (half, block of classes) walks its half twice in (BLOCK_T, BLOCK_C) tiles, which
are contiguous rows of the time-major (T, C) matrix (coalesced loads along time):

1. backward: a reverse min-scan of the action frames gives, for every row t, the first action
   > t (stored temporarily in the output), plus the action count n and the first action per class;
2. forward: a max-scan gives the last action <= t; with the virtual events -K4 and T - K1 the
   combination table of calf.md section 3.2 is evaluated with the integer cross-multiplication of
   section 3.3 (exactly the reference's float64 decisions).

Rules 1 and 2 (n = 0, n = 1) need n, known after the backward pass. Halves of a packed batch
are independent programs; offsets are int64 (packed rows * C can exceed 2^31).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from spotkern.triton._common import INT32_MAX, PTR, max_combine, min_combine, pow2, warps_for


@triton.jit
def _time_shift_encoding_packed_kernel(labels_ptr, offsets_ptr, K_ptr, out_ptr, C,
                      BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr):
    """labels (sum T_h, C), offsets (H + 1,) int64 row offsets of the halves, K (4, C) int32,
    out (sum T_h, C) int32. Grid (H, cdiv(C, BLOCK_C))."""
    h = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    cmask = cols < C
    start = tl.load(offsets_ptr + h)
    T = tl.load(offsets_ptr + h + 1) - start
    C64 = C.to(tl.int64)
    # Unused lanes get a valid K so that no lane computes garbage that could trap.
    K1 = tl.load(K_ptr + cols, mask=cmask, other=-4).to(tl.int64)
    K2 = tl.load(K_ptr + C + cols, mask=cmask, other=-2).to(tl.int64)
    K3 = tl.load(K_ptr + 2 * C + cols, mask=cmask, other=2).to(tl.int64)
    K4 = tl.load(K_ptr + 3 * C + cols, mask=cmask, other=4).to(tl.int64)
    rows = tl.arange(0, BLOCK_T)
    n_tiles = tl.cdiv(T, BLOCK_T)
    base = labels_ptr + start * C64
    obase = out_ptr + start * C64

    # Pass 1 (backward in time): next action strictly after t, via the labels shifted by one row.
    carry_next = tl.full((BLOCK_C,), INT32_MAX, tl.int32)
    count = tl.zeros((BLOCK_C,), tl.int32)
    for k in range(0, n_tiles):
        t = (n_tiles - 1 - k) * BLOCK_T + rows  # int64 relative frames
        tn = t + 1
        m = (tn < T)[:, None] & cmask[None, :]
        lab = tl.load(base + tn[:, None] * C64 + cols[None, :], mask=m, other=0)
        act = (lab == 1) & m
        count += tl.sum(act.to(tl.int32), axis=0)
        nxt = tl.associative_scan(tl.where(act, tn.to(tl.int32)[:, None], INT32_MAX), 0, min_combine, reverse=True)
        nxt = tl.minimum(nxt, carry_next[None, :])
        carry_next = tl.min(nxt, axis=0)
        tl.store(obase + t[:, None] * C64 + cols[None, :], nxt, mask=(t < T)[:, None] & cmask[None, :])
    # Row 0 is never a "next" action; count it and take it as the first action if it is one.
    lab0 = tl.load(base + cols, mask=cmask, other=0)
    act0 = (lab0 == 1) & cmask
    count += act0.to(tl.int32)
    first = tl.where(act0, 0, carry_next).to(tl.int64)
    # The same addresses are read back below, possibly by other threads of the program.
    tl.debug_barrier()

    # Pass 2 (forward in time): last action <= t, then the rules of calf.md section 3.2.
    carry_prev = tl.full((BLOCK_C,), -1, tl.int32)
    for k in range(0, n_tiles):
        t = k * BLOCK_T + rows
        m = (t < T)[:, None] & cmask[None, :]
        lab = tl.load(base + t[:, None] * C64 + cols[None, :], mask=m, other=0)
        act = (lab == 1) & m
        prv = tl.associative_scan(tl.where(act, t.to(tl.int32)[:, None], -1), 0, max_combine)
        prv = tl.maximum(prv, carry_prev[None, :])
        carry_prev = tl.max(prv, axis=0)
        optr = obase + t[:, None] * C64 + cols[None, :]
        nxt = tl.load(optr, mask=m, other=INT32_MAX)
        tt = t[:, None]
        # Rule 3: virtual events -K4 before the half and T - K1 after it.
        prev_e = tl.where(prv >= 0, prv.to(tl.int64), -K4[None, :])
        next_e = tl.where(nxt != INT32_MAX, nxt.to(tl.int64), T - K1[None, :])
        s1 = tt - prev_e
        s2 = tt - next_e
        k1, k2, k3, k4 = K1[None, :], K2[None, :], K3[None, :], K4[None, :]
        # Fade zone: (s1 - K3)/(K4 - K3) < (K2 - s2)/(K2 - K1), cross-multiplied (section 3.3);
        # strict, so a tie goes to the future action.
        fade_s1 = (s2 <= k1) | ((s1 - k3) * (k2 - k1) < (k2 - s2) * (k4 - k3))
        take_s1 = (s1 < k3) | ((s1 < k4) & fade_s1)
        combined = tl.where(take_s1, s1, s2)
        n = count[None, :]
        res = tl.where(n == 0, k1, tl.where(n == 1, tt - first[None, :], combined))  # rules 1, 2
        tl.store(optr, res.to(tl.int32), mask=m)


@triton.jit
def _time_shift_encoding_events_scatter_kernel(frames_ptr, classes_ptr, dense_ptr, E, C, BLOCK: tl.constexpr):
    """dense[frames[i], classes[i]] = 1 for i < E (duplicates collapse). dense (T, C) uint8."""
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = i < E
    f = tl.load(frames_ptr + i, mask=m, other=0).to(tl.int64)
    c = tl.load(classes_ptr + i, mask=m, other=0).to(tl.int64)
    tl.store(dense_ptr + f * C + c, tl.full((BLOCK,), 1, tl.uint8), mask=m)


PROGRAMS_WANTED = 256  # about two programs per SM on an A100/H100


def _blocks(halves: int, rows_per_half: int, C: int) -> tuple[int, int, int]:
    """(BLOCK_T, BLOCK_C, num_warps). Each program walks its half sequentially, so parallelism
    comes from halves x class blocks: the class block is the widest (up to 64 classes, whole rows
    and fully coalesced loads) that still gives about PROGRAMS_WANTED programs; a single half is
    cut down to one class per program. Tiles hold about 1024 cells (fewer for short halves)."""
    block_c = pow2(C, 1, 64)
    while block_c > 1 and halves * triton.cdiv(C, block_c) < PROGRAMS_WANTED:
        block_c //= 2
    block_t = pow2(min(max(rows_per_half, 1), max(1024 // block_c, 16)), 16, 1024)
    return block_t, block_c, warps_for(block_t * block_c)


def time_shift_encoding_packed_triton(labels: torch.Tensor, lengths: torch.Tensor, K: torch.Tensor,
                                      block_c: int | None = None) -> torch.Tensor:
    """Launcher: labels (sum T_h, C), lengths (H,) int64, K (4, C) int32 -> (sum T_h, C) int32.
    ``block_c`` overrides the class block (a power of two; the tests cover every layout)."""
    total, C = labels.shape
    H = lengths.shape[0]
    out = torch.empty((total, C), dtype=torch.int32, device=labels.device)
    if total == 0 or H == 0:
        return out
    offsets = torch.zeros(H + 1, dtype=torch.int64, device=labels.device)
    torch.cumsum(lengths, 0, out=offsets[1:])
    block_t, bc, warps = _blocks(H, total // H, C)
    if block_c is not None:
        bc = block_c
        block_t = pow2(min(max(total // H, 1), max(1024 // bc, 16)), 16, 1024)
        warps = warps_for(block_t * bc)
    block_c = bc
    grid = (H, triton.cdiv(C, block_c))
    _time_shift_encoding_packed_kernel[grid](labels, offsets, K.contiguous(), out, C, BLOCK_T=block_t, BLOCK_C=block_c,
                            num_warps=warps)
    return out


def time_shift_encoding_events_triton(frames: torch.Tensor, classes: torch.Tensor, K: torch.Tensor,
                                      num_frames: int) -> torch.Tensor:
    """Launcher: frames, classes (E,) int32/int64, K (4, C) int32 -> (num_frames, C) int32."""
    C = K.shape[1]
    dense = torch.zeros((num_frames, C), dtype=torch.uint8, device=frames.device)
    E = frames.shape[0]
    if E:
        block = pow2(E, 32, 1024)
        _time_shift_encoding_events_scatter_kernel[(triton.cdiv(E, block),)](frames, classes, dense, E, C, BLOCK=block,
                                                       num_warps=warps_for(block))
    lengths = torch.full((1,), num_frames, dtype=torch.int64, device=frames.device)
    return time_shift_encoding_packed_triton(dense, lengths, K)


@torch.library.register_kernel("spotkern::time_shift_encoding_packed", "cuda")
def _time_shift_encoding_packed_cuda(labels, lengths, K):
    return time_shift_encoding_packed_triton(labels, lengths, K)


@torch.library.register_kernel("spotkern::time_shift_encoding_events", "cuda")
def _time_shift_encoding_events_cuda(frames, classes, K, num_frames):
    return time_shift_encoding_events_triton(frames, classes, K, num_frames)


def _specs():
    def packed(dtype, block_t, block_c):
        sig = {"labels_ptr": PTR[dtype], "offsets_ptr": "*i64", "K_ptr": "*i32", "out_ptr": "*i32", "C": "i32",
               "BLOCK_T": "constexpr", "BLOCK_C": "constexpr"}
        return (_time_shift_encoding_packed_kernel, sig, {"BLOCK_T": block_t, "BLOCK_C": block_c},
                {"num_warps": warps_for(block_t * block_c)})

    # Every label dtype for 64 SoccerNet-v2 halves (C = 17), and for float32 one half (one class
    # per program) and 1024 halves of 64 classes (whole rows).
    specs = [packed(dtype, *_blocks(64, 5400, 17)[:2]) for dtype in PTR]
    specs += [packed(torch.float32, *_blocks(H, 5400, C)[:2]) for H, C in ((1, 17), (1024, 64))]
    for dtype in (torch.int32, torch.int64):
        sig = {"frames_ptr": PTR[dtype], "classes_ptr": PTR[dtype], "dense_ptr": "*u8", "E": "i32", "C": "i32",
               "BLOCK": "constexpr"}
        specs.append((_time_shift_encoding_events_scatter_kernel, sig, {"BLOCK": 1024}, {"num_warps": warps_for(1024)}))
    return specs


COMPILE_SPECS = _specs()
