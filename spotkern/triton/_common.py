"""Helpers shared by the Triton kernel modules: block-size choice, pointer type names for the
compile specs, and scan combiners."""
from __future__ import annotations

import torch
import triton
import triton.language as tl

# Triton pointer element names of the torch dtypes the kernels accept (for COMPILE_SPECS).
PTR = {
    torch.bool: "*i1",
    torch.uint8: "*u8",
    torch.int32: "*i32",
    torch.int64: "*i64",
    torch.float32: "*fp32",
    torch.float64: "*fp64",
}

INT32_MAX = tl.constexpr(2**31 - 1)


def pow2(n: int, lo: int = 1, hi: int | None = None) -> int:
    """next power of two >= n, clamped to [lo, hi]."""
    p = max(lo, triton.next_power_of_2(max(int(n), 1)))
    return min(p, hi) if hi is not None else p


def warps_for(elements: int) -> int:
    """num_warps for a tile of ``elements`` values: about 8 values per thread (these kernels carry
    int64/float64 temporaries per value; more values per thread costs registers and occupancy),
    1 to 8 warps."""
    return max(1, min(8, elements // (32 * 8)))


@triton.jit
def min_combine(a, b):
    return tl.minimum(a, b)


@triton.jit
def max_combine(a, b):
    return tl.maximum(a, b)
