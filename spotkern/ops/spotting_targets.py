"""CALF YOLO-like spotting targets (calf.md section 4): chunk TSE slices ``(B, L, C)`` ->
targets ``(B, N, 2 + C)`` float32 and the number of dropped actions per chunk."""
from __future__ import annotations

import torch

from spotkern._ext import ext
from spotkern._typing import ArrayT
from spotkern._validation import (
    INTEGRAL_DTYPES,
    _compiling,
    as_contiguous,
    as_dtype,
    check_array,
    check_int,
    check_integral,
    check_output_size,
    dtype_name,
    is_tensor,
)
from spotkern.ops._cuda import require_cuda
from spotkern.ops._dispatch import eager_cpu

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


# --- custom op (CPU kernel; a CUDA kernel may be registered from spotkern/triton) -----------------

def _spotting_targets_cpu(chunk_tse: torch.Tensor, num_slots: int, border: int) -> tuple[torch.Tensor, torch.Tensor]:
    targets, dropped = ext().spotting_targets(chunk_tse.numpy(), num_slots, border)
    return torch.from_numpy(targets), torch.from_numpy(dropped)


_spotting_targets = torch.library.custom_op("spotkern::spotting_targets", mutates_args=(),
                                            device_types="cpu")(_spotting_targets_cpu)


@_spotting_targets.register_fake
def _(chunk_tse, num_slots, border):
    B, _, C = chunk_tse.shape
    return (chunk_tse.new_empty((B, num_slots, 2 + C), dtype=torch.float32),
            chunk_tse.new_empty((B,), dtype=torch.int64))


def _spotting_targets_impl(chunk_tse, num_slots: int, border: int):
    """Unchecked dispatch (the ``_impl`` contract, DEVELOPERS.md): ``chunk_tse`` contiguous
    (B, L, C) int32, B, L, C >= 1; num_slots >= 1; 0 <= 2 * border <= L. Returns (targets, dropped)."""
    if is_tensor(chunk_tse):
        op = _spotting_targets_cpu if eager_cpu(chunk_tse) else torch.ops.spotkern.spotting_targets
        return op(chunk_tse, num_slots, border)
    return ext().spotting_targets(chunk_tse, num_slots, border)


# --- public function ------------------------------------------------------------------------------

def spotting_targets(chunk_tse: ArrayT, num_slots: int, *, border: int = 0) -> tuple[ArrayT, ArrayT]:
    """CALF's YOLO-like spotting targets of a batch of training chunks.

    chunk_tse: (B, L, C) or (L, C), each chunk's slice of its half's time-shift encoding
        (``time_shift_encoding``); action cells are the cells equal to 0. Never modified. int32
        (the fast path), or int64 / integral-valued float32 / float64 (sn-spotting stores its TSE
        as float64), converted to int32 once: a non-integral, NaN or beyond-int32 value is a
        ValueError. Strided views are copied once.
    num_slots: N >= 1 (15 for SoccerNet-v2, 5 for v1).
    border: rows [0, border) and [L - border, L) of every chunk are ignored, as if set to -1
        (CALF uses border = 40 with L = 240, calf.md section 9.3 step 6), without copying the slice
        (calf.md defect D1). 0 <= 2 * border <= L.

    Returns (targets, dropped):
        targets: (B, N, 2 + C) float32, or (N, 2 + C) for 2-D input. The k-th action (t, c) in
            row-major order (time, then class) fills slot k: column 0 = 1 (presence), column 1 =
            t / L (chunk length L, not L - 1), column 2 + c = 1. Unused slots are all zero.
        dropped: (B,) int64, or a 0-d count for 2-D input: the actions beyond the N earliest, which
            CALF drops (calf.md section 4, rule 3).
    numpy in -> numpy out; torch tensor in -> tensors on the same device.
    """
    fn = "spotting_targets"
    check_array(fn, "chunk_tse", chunk_tse, dtypes=INTEGRAL_DTYPES, ndim=(2, 3), contiguous=False)
    N = check_int(fn, "num_slots", num_slots, minimum=1)
    b = check_int(fn, "border", border, minimum=0)
    L = int(chunk_tse.shape[-2])
    if 2 * b > L:
        raise ValueError(f"{fn}: border must satisfy 2 * border <= L = {L} (the chunk length), got {b}")
    check_output_size(fn, "num_slots and the chunk count", (*chunk_tse.shape[:-2], N, 2 + chunk_tse.shape[-1]), 4,
                      chunk_tse.device if is_tensor(chunk_tse) else None)
    require_cuda(fn, chunk_tse)
    if dtype_name(chunk_tse) == "int32":
        chunk_tse = as_contiguous(chunk_tse)
    else:
        if not (is_tensor(chunk_tse) and _compiling()):
            check_integral(fn, "chunk_tse", chunk_tse, lo=INT32_MIN, hi=INT32_MAX)
        chunk_tse = as_dtype(chunk_tse.detach() if is_tensor(chunk_tse) else chunk_tse, "int32")
    single = chunk_tse.ndim == 2
    batch = chunk_tse[None] if single else chunk_tse
    targets, dropped = _spotting_targets_impl(batch, N, b)
    if single:
        return targets[0], dropped[0]
    return targets, dropped
