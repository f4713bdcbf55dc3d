"""CUDA kernel of the displacement scattering (dense_anchors.md section 7.1): custom op
``spotkern::displace_scores``.

Every (t, c) cell sends its confidence to u = clip(t + rint(rd * displacement), 0, T - 1) with a
scatter-max into zeros. Determinism: an atomic max on the float32 **bits** read as int32. For
non-negative floats the integer order is the float order, and the maximum does not depend on the
order in which colliding updates arrive, so the output is bit-identical to the CPU op whatever the
scheduling. Negative confidences (and -0.0, whose bits are the most negative int32) can never beat
the initial +0.0, as on the CPU (``conf > out``); NaN confidences are skipped, as ``NaN > out`` is
false on the CPU. The rounding is the CPU kernel's float64 computation: rd * d rounded once,
clamped to [-T, T], rint half-to-even by adding and subtracting 1.5 * 2^52 (no FMA contraction:
compiled with ``enable_fp_fusion=False``).

Grid (B, cdiv(T, BLOCK_T)): each program reads a (BLOCK_T, BLOCK_C) tile of contiguous rows
(coalesced along time) and issues one atomic per cell; offsets in int64.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from spotkern.triton._common import pow2, warps_for


@triton.jit
def _displace_scores_kernel(conf_ptr, disp_ptr, out_ptr, rd_ptr, T, C,
                           BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr, WIDE: tl.constexpr):
    """conf, disp (B, T, C) float32 (WIDE = False) or float64 (WIDE); out (B, T, C) int32 (int64)
    view of float32 (float64) zeros; rd_ptr (1,) float64 (a Python float argument would be passed
    as float32)."""
    rd = tl.load(rd_ptr)
    b = tl.program_id(0).to(tl.int64)
    t = tl.program_id(1).to(tl.int64) * BLOCK_T + tl.arange(0, BLOCK_T)
    T64 = T.to(tl.int64)
    base = b * T64 * C
    for c0 in range(0, C, BLOCK_C):
        cols = c0 + tl.arange(0, BLOCK_C)
        m = (t < T64)[:, None] & (cols < C)[None, :]
        cell = base + t[:, None] * C + cols[None, :]
        conf = tl.load(conf_ptr + cell, mask=m, other=0.0)
        d = tl.load(disp_ptr + cell, mask=m, other=0.0).to(tl.float64) * rd
        span = T64.to(tl.float64)
        d = tl.minimum(tl.maximum(d, -span), span)
        magic = 6755399441055744.0  # 1.5 * 2^52: (d + magic) - magic = rint(d), half to even
        r = (d + magic) - magic
        u = t[:, None] + r.to(tl.int64)
        u = tl.minimum(tl.maximum(u, 0), T64 - 1)
        if WIDE:  # the same bit trick on 64 bits: non-negative doubles order as int64
            bits = conf.to(tl.int64, bitcast=True)
        else:
            bits = conf.to(tl.int32, bitcast=True)
        live = m & (conf == conf) & (bits > 0)  # NaN and non-positive values never win over +0.0
        tl.atomic_max(out_ptr + base + u * C + cols[None, :], bits, mask=live, sem="relaxed")


def _blocks(C: int) -> tuple[int, int, int]:
    block_c = pow2(C, 1, 32)
    block_t = max(1024 // block_c, 32)
    return block_t, block_c, warps_for(block_t * block_c)


def displace_scores_triton(confidence: torch.Tensor, displacement: torch.Tensor,
                           radius_displacement: float) -> torch.Tensor:
    """Launcher: confidence, displacement (T, C) or (B, T, C), both float32 or both float64 -> same
    shape and dtype."""
    shape = confidence.shape
    conf = (confidence[None] if confidence.ndim == 2 else confidence).contiguous()
    disp = (displacement[None] if displacement.ndim == 2 else displacement).contiguous()
    B, T, C = conf.shape
    wide = conf.dtype == torch.float64
    out = torch.zeros(conf.shape, dtype=conf.dtype, device=conf.device)
    if conf.numel():
        block_t, block_c, warps = _blocks(C)
        grid = (B, triton.cdiv(T, block_t))
        rd = torch.full((1,), float(radius_displacement), dtype=torch.float64, device=conf.device)
        _displace_scores_kernel[grid](conf, disp, out.view(torch.int64 if wide else torch.int32), rd, T, C,
                                     BLOCK_T=block_t, BLOCK_C=block_c, WIDE=wide, num_warps=warps,
                                     enable_fp_fusion=False)
    return out.reshape(shape)


@torch.library.register_kernel("spotkern::displace_scores", "cuda")
def _displace_scores_cuda(confidence, displacement, radius_displacement):
    return displace_scores_triton(confidence, displacement, radius_displacement)


def _spec(C: int, wide: bool = False):
    block_t, block_c, warps = _blocks(C)
    f, i = ("*fp64", "*i64") if wide else ("*fp32", "*i32")
    sig = {"conf_ptr": f, "disp_ptr": f, "out_ptr": i, "rd_ptr": "*fp64", "T": "i32", "C": "i32",
           "BLOCK_T": "constexpr", "BLOCK_C": "constexpr", "WIDE": "constexpr"}
    return (_displace_scores_kernel, sig, {"BLOCK_T": block_t, "BLOCK_C": block_c, "WIDE": wide},
            {"num_warps": warps, "enable_fp_fusion": False})


COMPILE_SPECS = [_spec(17), _spec(1), _spec(100), _spec(17, wide=True)]
