"""Fused CALF segmentation loss for CUDA (calf.md section 5): one pass over the cells computes the
per-cell loss (or per-block partial sums) **and** d loss / d score, so the backward pass is a single
multiply by the incoming gradient (``spotkern/ops/calf_segmentation_loss.py`` registers the autograd).

Registered as the CUDA kernel of ``spotkern::calf_segmentation_loss`` for float32 scores; float64
CUDA scores take the closed form in torch (same maths). Zone selection, eps clamp and derivative
rules are those of the module docstring of ``spotkern.ops.calf_segmentation_loss``.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from spotkern._calf_zones import loss_and_derivative

BLOCK = 1024


@triton.jit
def _calf_segmentation_loss_kernel(tse_ptr, scores_ptr, k_ptr, loss_ptr, grad_ptr, n_cells, num_classes,
                                  log_miss, log_hit, eps,
                                  VARIANT: tl.constexpr, PER_CELL: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_cells
    c = offs % num_classes
    p = tl.load(scores_ptr + offs, mask=mask, other=0.0)
    # padding lanes read s = -1 (zone 3: loss 0, derivative 0)
    s = tl.load(tse_ptr + offs, mask=mask, other=-1).to(tl.float32)
    k1 = tl.load(k_ptr + c, mask=mask, other=-2).to(tl.float32)
    k2 = tl.load(k_ptr + num_classes + c, mask=mask, other=-1).to(tl.float32)
    k3 = tl.load(k_ptr + 2 * num_classes + c, mask=mask, other=1).to(tl.float32)
    k4 = tl.load(k_ptr + 3 * num_classes + c, mask=mask, other=2).to(tl.float32)
    zone2 = (s >= k1) & (s < k2)
    zone3 = (s >= k2) & (s < 0)
    zone4 = (s >= 0) & (s < k3)
    zone5 = (s >= k3) & (s < k4)
    # one affine argument a + b*p per zone, selected (never multiplied by an indicator)
    if VARIANT == 0:
        a = tl.where(zone4, s / k3, 1.0)
        b = tl.where(zone4, (k3 - s) / k3, tl.where(zone5, -(s - k3) / (k4 - k3), -1.0))
    else:
        a = tl.where(zone4, s / k3, tl.where(zone5, 1.0 + (k4 - s) / (k4 - k3), 1.0))
        b = tl.where(zone4, 1.0, -1.0)
    b = tl.where(zone2, -(k2 - s) / (k2 - k1), b)
    log_margin = tl.where(zone4, log_hit, log_miss)
    raw = a + b * p
    arg = tl.maximum(raw, eps)
    val = log_margin - tl.log(arg)
    live = (zone3 == 0) & (val > 0) & mask
    cell = tl.where(live, val, 0.0)
    grad = tl.where(live & (raw >= eps), -b / arg, 0.0)
    tl.store(grad_ptr + offs, grad, mask=mask)
    if PER_CELL:
        tl.store(loss_ptr + offs, cell, mask=mask)
    else:
        tl.store(loss_ptr + pid, tl.sum(cell, axis=0))


def calf_segmentation_loss_triton(tse: torch.Tensor, scores: torch.Tensor, K: torch.Tensor, miss_radius: float,
                                  hit_radius: float, variant: int, eps: float,
                                  per_cell: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Launch the fused kernel: tse (..., C) int32/int64, scores (..., C) float32 contiguous, K (4, C)
    int32 -> (loss: per-cell (..., C) or 0-d sum, d loss / d scores (..., C)). Runs on CUDA tensors,
    and on CPU tensors under ``TRITON_INTERPRET=1`` (the tests)."""
    n = scores.numel()
    C = scores.shape[-1]
    grad = torch.empty_like(scores)
    grid = (max(triton.cdiv(n, BLOCK), 1),)
    loss = torch.empty_like(scores) if per_cell else torch.zeros(grid[0], dtype=scores.dtype, device=scores.device)
    if n:
        _calf_segmentation_loss_kernel[grid](
            tse, scores, K.contiguous(), loss, grad, n, C, math.log(miss_radius), math.log(1.0 - hit_radius),
            eps, VARIANT=variant, PER_CELL=per_cell, BLOCK_SIZE=BLOCK)
    return (loss if per_cell else loss.sum()), grad


@torch.library.register_kernel("spotkern::calf_segmentation_loss", "cuda")
def _calf_segmentation_loss_cuda(tse, scores, K, miss_radius, hit_radius, variant, eps, per_cell):
    # float64 (oracle runs) and more cells than int32 offsets address: the same closed form in torch
    if scores.dtype != torch.float32 or scores.numel() >= 2**31 - BLOCK:
        return loss_and_derivative(tse, scores, K, miss_radius, hit_radius, ("sn", "v1")[variant], eps, per_cell)
    return calf_segmentation_loss_triton(tse.contiguous(), scores.contiguous(), K, miss_radius, hit_radius,
                                         variant, eps, per_cell)


def _spec(tse_type: str, variant: int, per_cell: bool):
    signature = {
        "tse_ptr": tse_type, "scores_ptr": "*fp32", "k_ptr": "*i32", "loss_ptr": "*fp32", "grad_ptr": "*fp32",
        "n_cells": "i32", "num_classes": "i32", "log_miss": "fp32", "log_hit": "fp32", "eps": "fp32",
        "VARIANT": "constexpr", "PER_CELL": "constexpr", "BLOCK_SIZE": "constexpr",
    }
    return (_calf_segmentation_loss_kernel, signature,
            {"VARIANT": variant, "PER_CELL": per_cell, "BLOCK_SIZE": BLOCK})


#: every (tse dtype, variant, reduction) the CUDA kernel is launched with (tests/test_triton_compile.py).
COMPILE_SPECS = [_spec(t, v, pc) for t in ("*i32", "*i64") for v in (0, 1) for pc in (False, True)]
