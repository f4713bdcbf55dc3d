"""CALF iterative reciprocal matching (calf.md section 6) of GT slots to prediction slots, for a
whole batch in one call, and an optimal (minimum total |x - p|) alternative."""
from __future__ import annotations

import torch

from spotkern._ext import ext
from spotkern._typing import ArrayT
from spotkern._validation import (
    REAL_DTYPES,
    _compiling,
    as_contiguous,
    as_dtype,
    check_array,
    check_choice,
    check_same_kind,
    dtype_name,
    is_tensor,
    to_numpy,
)
from spotkern.ops._cuda import require_cuda
from spotkern.ops._dispatch import eager_cpu

METHODS = ("calf", "optimal")
#: method name -> the int code of the binding (csrc/reciprocal_matching.h MatchingMethod)
METHOD_CODES = {m: k for k, m in enumerate(METHODS)}
#: largest N (csrc/reciprocal_matching.h kMaxMatchingSlots): O(N^3) time, O(N^2) memory per chunk
MAX_SLOTS = 1024
PRESENCE_DTYPES = ("bool", "uint8", "int32", "int64", "float32", "float64")


# --- custom op (CPU kernel; a CUDA kernel may be registered from spotkern/triton) -----------------

def _reciprocal_matching_cpu(gt_positions: torch.Tensor, gt_presence: torch.Tensor, pred_positions: torch.Tensor,
                             method: str) -> torch.Tensor:
    return torch.from_numpy(ext().reciprocal_matching(gt_positions.numpy(), gt_presence.numpy(),
                                                      pred_positions.numpy(), METHOD_CODES[method]))


_reciprocal_matching = torch.library.custom_op("spotkern::reciprocal_matching", mutates_args=(),
                                               device_types="cpu")(_reciprocal_matching_cpu)


@_reciprocal_matching.register_fake
def _(gt_positions, gt_presence, pred_positions, method):
    return gt_positions.new_empty(gt_positions.shape, dtype=torch.int64)


def _reciprocal_matching_impl(gt_positions, gt_presence, pred_positions, method: str):
    """Unchecked dispatch (the ``_impl`` contract, DEVELOPERS.md): (B, N) contiguous float32
    positions, (B, N) bool or float32 presence, no grad, 1 <= N <= MAX_SLOTS, method in METHODS.
    Returns (B, N) int64. The C++ kernel still checks finiteness and 0/1 presence (its own pass)."""
    if is_tensor(gt_positions):
        direct = eager_cpu(gt_positions, gt_presence, pred_positions)
        op = _reciprocal_matching_cpu if direct else torch.ops.spotkern.reciprocal_matching
        return op(gt_positions, gt_presence, pred_positions, method)
    return ext().reciprocal_matching(gt_positions, gt_presence, pred_positions, METHOD_CODES[method])


# --- public function ------------------------------------------------------------------------------

def reciprocal_matching(gt_positions: ArrayT, gt_presence: ArrayT, pred_positions: ArrayT, *,
                        method: str = "calf") -> ArrayT:
    """Match the N GT slots of every chunk to its N prediction slots.

    gt_positions: (B, N) or (N,) float32 or float64, GT positions x (targets column 1).
    gt_presence: same shape, 0/1 as bool, uint8, int32, int64, float32 or float64 (targets column
        0); 1 marks a real GT row, 0 a padded one.
    pred_positions: same shape, float32 or float64, predicted positions p (the network's sigmoid
        outputs). Positions must be finite; CALF's lie in [0, 1]. No gradient flows through the
        matching. 1 <= N <= 1024 (the matching costs O(N^3) per chunk; CALF uses 5 or 15).
    float64 positions are rounded to float32 first (documented conversion): the similarity is
    defined in float32 (calf.md 6), as sn-spotting computes it on its float32 tensors. Strided
    views (``y[:, :, 1]``) are copied once.
    method:
        "calf" (default): CALF's proposal rounds, exactly calf.md section 6. Similarity
            1 - |x - p| in float32; phase A matches the real rows, phase B then the padded rows to
            the free columns; every unmatched row proposes to its most similar free column (ties ->
            lowest column), every column accepts its most similar proposer (ties -> lowest row).
            Explicit masks make the result a permutation even where the reference's masked
            formulation degenerates (similarity exactly 0).
        "optimal": the real rows take an assignment of minimum total |x - p| (Hungarian method,
            float64 costs; CALF's rule is not optimal, calf.md CALF-T9 case 3); the padded rows then
            take the leftover columns as in CALF's phase B.

    Returns perm: (B, N) or (N,) int64, a permutation per chunk; perm[b, i] is the prediction slot
    matched to GT slot i, so ``pred[b, perm[b, i]]`` is compared with ``gt[b, i]``.
    numpy in -> numpy out; torch tensors in -> a tensor on the same device.
    """
    fn = "reciprocal_matching"
    check_choice(fn, "method", method, METHODS)
    # On numpy and CPU tensors, finite positions and 0/1 presence are checked by the C++ kernel
    # (python/bind_reciprocal_matching.cpp) with the same messages: a torch reduction per check costs
    # more than the matching itself, and the kernel's checks also run inside compiled graphs. Other
    # devices are checked here.
    off_cpu = is_tensor(gt_positions) and gt_positions.device.type != "cpu"
    check_array(fn, "gt_positions", gt_positions, dtypes=REAL_DTYPES, ndim=(1, 2), contiguous=False)
    check_array(fn, "gt_presence", gt_presence, dtypes=PRESENCE_DTYPES, ndim=(1, 2), contiguous=False)
    check_array(fn, "pred_positions", pred_positions, dtypes=REAL_DTYPES, ndim=(1, 2), contiguous=False)
    check_same_kind(fn, gt_positions=gt_positions, gt_presence=gt_presence, pred_positions=pred_positions)
    shape = tuple(gt_positions.shape)
    for name, a in (("gt_presence", gt_presence), ("pred_positions", pred_positions)):
        if tuple(a.shape) != shape:
            raise ValueError(f"{fn}: {name} must have the shape of gt_positions {shape}, got {tuple(a.shape)}")
    if shape[-1] > MAX_SLOTS:
        raise ValueError(f"{fn}: N must be <= {MAX_SLOTS} slots (the matching costs O(N^3) time and O(N^2) "
                         f"memory per chunk), got N = {shape[-1]}")
    tensor = is_tensor(gt_positions)
    if is_tensor(gt_positions):  # = tensor; the call also narrows the types for a type checker
        gt_positions, gt_presence, pred_positions = (a.detach() for a in (gt_positions, gt_presence, pred_positions))
    gt_positions, pred_positions = as_dtype(gt_positions, "float32"), as_dtype(pred_positions, "float32")
    if off_cpu:
        check_array(fn, "gt_positions", gt_positions, dtypes=("float32",), finite=True)
        check_array(fn, "pred_positions", pred_positions, dtypes=("float32",), finite=True)
    presence_dt = dtype_name(gt_presence)
    if presence_dt not in ("bool", "float32"):  # 0/1 checked on the given values, then a bool copy
        if not (tensor and _compiling()):
            p = to_numpy(gt_presence.cpu()) if is_tensor(gt_presence) else gt_presence
            if p.size and not ((p == 0) | (p == 1)).all():
                raise ValueError(f"{fn}: gt_presence must hold only 0 and 1")
        gt_presence = gt_presence != 0
    gt_presence = as_contiguous(gt_presence)
    if off_cpu and gt_presence.dtype != torch.bool and not _compiling():
        if not bool(((gt_presence == 0) | (gt_presence == 1)).all()):
            raise ValueError(f"{fn}: gt_presence must hold only 0 and 1")
    require_cuda(fn, gt_positions)
    single = len(shape) == 1
    if single:
        gt_positions, gt_presence, pred_positions = gt_positions[None], gt_presence[None], pred_positions[None]
    perm = _reciprocal_matching_impl(gt_positions, gt_presence, pred_positions, method)
    return perm[0] if single else perm
