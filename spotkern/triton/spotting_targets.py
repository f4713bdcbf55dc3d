"""CUDA kernel of CALF's spotting targets (calf.md section 4): custom op ``spotkern::spotting_targets``.

One program per chunk scans the kept rows [border, L - border) of its (L, C) slice as one
contiguous run of cells (row-major: time, then class, the order of section 4 rule 1), in blocks of
BLOCK cells: an inclusive prefix sum of the action mask (TSE == 0) plus the count carried from
earlier blocks ranks every action, and the actions ranked below N write their slot. The targets
are zeroed on the device beforehand, so unused slots stay all-zero (rule 4); dropped = count - N.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from spotkern.triton._common import pow2, warps_for


@triton.jit
def _spotting_targets_kernel(tse_ptr, targets_ptr, dropped_ptr, L, C, N, border, BLOCK: tl.constexpr):
    """tse (B, L, C) int32; targets (B, N, 2 + C) float32, zero on entry; dropped (B,) int64.
    Grid (B,)."""
    b = tl.program_id(0).to(tl.int64)
    # Batch offsets in int64 (B * L * C can pass 2^31); cells within one chunk fit int32 (the
    # launcher checks L * C < 2^31).
    chunk = tse_ptr + b * L * C
    slots = targets_ptr + b * N * (C + 2)
    lo = border * C  # first kept cell
    hi = (L - border) * C  # one past the last kept cell
    count = tl.zeros((), tl.int32)
    for start in range(lo, hi, BLOCK):
        cell = start + tl.arange(0, BLOCK)
        inside = cell < hi
        act = (tl.load(chunk + cell, mask=inside, other=1) == 0) & inside
        rank = count + tl.cumsum(act.to(tl.int32), 0) - 1
        keep = act & (rank < N)
        t = cell // C
        c = cell - t * C
        slot = slots + rank * (C + 2)
        tl.store(slot, tl.full((BLOCK,), 1.0, tl.float32), mask=keep)
        # t / L rounded once from float64 to float32, as the reference's float64 targets cast to
        # float32 (the C++ kernel does the same); float64 division is IEEE-rounded (div.rn.f64).
        pos = t.to(tl.float64) / L.to(tl.float64)
        tl.store(slot + 1, pos.to(tl.float32), mask=keep)
        tl.store(slot + 2 + c, tl.full((BLOCK,), 1.0, tl.float32), mask=keep)
        count += tl.sum(act.to(tl.int32), 0)
    tl.store(dropped_ptr + b, tl.maximum(count - N, 0).to(tl.int64))


def _block(cells: int) -> int:
    return pow2(cells, 128, 2048)


def spotting_targets_triton(chunk_tse: torch.Tensor, num_slots: int, border: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Launcher: chunk_tse (B, L, C) int32 -> (targets (B, N, 2 + C) float32, dropped (B,) int64)."""
    B, L, C = chunk_tse.shape
    targets = torch.zeros((B, num_slots, 2 + C), dtype=torch.float32, device=chunk_tse.device)
    dropped = torch.empty((B,), dtype=torch.int64, device=chunk_tse.device)
    if B == 0:
        return targets, dropped
    if L * C >= 2**31:
        raise ValueError(f"spotting_targets: a chunk of L * C = {L * C} cells exceeds the CUDA kernel's 2^31 limit")
    block = _block((L - 2 * border) * C)
    _spotting_targets_kernel[(B,)](chunk_tse, targets, dropped, L, C, num_slots, border, BLOCK=block,
                                  num_warps=warps_for(block))
    return targets, dropped


@torch.library.register_kernel("spotkern::spotting_targets", "cuda")
def _spotting_targets_cuda(chunk_tse, num_slots, border):
    return spotting_targets_triton(chunk_tse.contiguous(), num_slots, border)


def _spec(block: int):
    sig = {"tse_ptr": "*i32", "targets_ptr": "*fp32", "dropped_ptr": "*i64", "L": "i32", "C": "i32", "N": "i32",
           "border": "i32", "BLOCK": "constexpr"}
    return (_spotting_targets_kernel, sig, {"BLOCK": block}, {"num_warps": warps_for(block)})


# CALF v2 chunks (160 kept rows x 17 classes) and the smallest and largest blocks.
COMPILE_SPECS = [_spec(_block(160 * 17)), _spec(128)]
