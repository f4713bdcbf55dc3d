"""CALF context-aware segmentation loss (calf.md section 5), sn and v1 conventions, numerically safe.

Every cell (frame t, class c) of a chunk has a time-shift encoding value s (borders already set to
-1, calf.md 5.4) and a segmentation score p in [0, 1]. Each of the six zones of calf.md 5.1 is a
hinge on a logarithm of an *affine* function of p, so one form covers them all:

    loss(s, p) = max(0, log_margin - ln(max(a + b * p, eps)))        (zones 1, 2, 4, 5, 6)
    loss(s, p) = 0                                                    (zone 3, K2 <= s < 0)

with, per zone (sn variant; w2 = (K2 - s)/(K2 - K1), w5 = (s - K3)/(K4 - K3)):

    zone 1 (s < K1), zone 6 (s >= K4):  a = 1,      b = -1,             log_margin = ln m-
    zone 2 (K1 <= s < K2):              a = 1,      b = -w2,            log_margin = ln m-
    zone 4 (0 <= s < K3):               a = s/K3,   b = (K3 - s)/K3,    log_margin = ln(1 - m+)
    zone 5 (K3 <= s < K4):              a = 1,      b = -w5,            log_margin = ln m-

and for ``variant="v1"`` (calf.md 5.3) zone 4: a = s/K3, b = 1; zone 5: a = 1 + (K4 - s)/(K4 - K3),
b = -1. The derivative is d loss / d p = -b / (a + b p) on active cells with a positive loss and an
unclamped argument, 0 elsewhere.

Numerical safety (calf.md 5.5 / defect D4): (1) only the active zone's coefficients are evaluated
for a cell (``torch.where`` selection, never a 0/1 indicator times every zone's expression, so an
infinite value in an inactive zone cannot become 0 * inf = NaN); (2) the log argument is clamped to
>= eps (1e-7 in float32, 1e-12 in float64), so p = 1 in zones 1/6 or p = 0 at s = 0 gives a large
finite loss and a zero gradient instead of inf/NaN; (3) the square root that produces p inside
``CALFNet`` has a guarded gradient (``spotkern.models.calf.safe_sqrt``). Wherever the public
formulation is finite the values are the same.

One closed form (``spotkern/_calf_zones.py``) serves two paths with identical semantics:

* the differentiable torch form (``cell_losses``): runs anywhere, fuses under ``torch.compile``; the CPU
  default;
* the fused custom op ``spotkern::calf_segmentation_loss`` returning (loss, d loss / d scores) from
  one pass over the cells; its CUDA kernel is the Triton kernel in
  ``spotkern/triton/calf_segmentation_loss.py`` (forward and backward in one launch), its CPU kernel
  the closed form's ``loss_and_derivative``. Autograd multiplies the stored derivative by the incoming
  gradient.

The reference (public-style, every zone times an indicator) is
``spotkern.reference.calf_segmentation_loss_ref``.
"""
from __future__ import annotations

import torch

from spotkern._calf_zones import cell_losses, loss_and_derivative
from spotkern._typing import KTable
from spotkern._validation import (
    INTEGRAL_DTYPES,
    check_array,
    check_choice,
    check_float,
    check_integral,
    check_same_kind,
    check_working_memory,
    is_tensor,
)
from spotkern.ops._cuda import require_cuda
from spotkern.ops.calf_k import check_K

VARIANTS = ("sn", "v1")
REDUCTIONS = ("sum", "none")
TSE_DTYPES = INTEGRAL_DTYPES  # integer, or whole numbers stored as floats (sn-spotting's float64 TSE)
SCORE_DTYPES = ("float32", "float64")
#: eps of calf.md 5.5 per score dtype.
EPS = {torch.float32: 1e-7, torch.float64: 1e-12}


# --- fused custom op (forward value and derivative in one pass) ------------------------------------

_VARIANT_ID = {"sn": 0, "v1": 1}
_VARIANTS_BY_ID = {v: k for k, v in _VARIANT_ID.items()}


@torch.library.custom_op("spotkern::calf_segmentation_loss", mutates_args=(), device_types=("cpu",))
def _fused_op(tse: torch.Tensor, scores: torch.Tensor, K: torch.Tensor, miss_radius: float,
              hit_radius: float, variant: int, eps: float, per_cell: bool) -> tuple[torch.Tensor, torch.Tensor]:
    return loss_and_derivative(tse, scores, K, miss_radius, hit_radius, _VARIANTS_BY_ID[variant], eps, per_cell)


@_fused_op.register_fake
def _(tse, scores, K, miss_radius, hit_radius, variant, eps, per_cell):
    loss = scores.new_empty(scores.shape) if per_cell else scores.new_empty(())
    return loss, torch.empty_like(scores)


def _fused_setup_context(ctx, inputs, output):
    ctx.save_for_backward(output[1])


def _fused_backward(ctx, grad_loss, grad_grad):
    (dscores,) = ctx.saved_tensors
    # grad_loss is a scalar (sum) or per-cell (none); the derivative is per cell either way.
    return None, grad_loss * dscores, None, None, None, None, None, None


torch.library.register_autograd("spotkern::calf_segmentation_loss", _fused_backward,
                                setup_context=_fused_setup_context)


# --- public API ------------------------------------------------------------------------------------

def calf_segmentation_loss(tse: torch.Tensor, scores: torch.Tensor, K: KTable, *, miss_radius: float = 0.9,
                           hit_radius: float = 0.1, variant: str = "sn", reduction: str = "sum",
                           fused: bool | None = None, units: str | None = None, fps: float | None = None
                           ) -> torch.Tensor:
    """CALF context-aware segmentation loss (calf.md section 5; zone forms in the module docstring).

    tse: (B, L, C) or (L, C) int32/int64 tensor, the chunk's time-shift encoding with the chunk
        borders set to -1 (-1 lies in zone 3, so border rows cost exactly 0; calf.md 5.4); or
        integral-valued float32/float64 (sn-spotting's TSE), converted to int64 (a fraction or NaN
        is a ValueError).
    scores: same shape, float32 (float64 for the oracle/gradcheck) segmentation scores p in [0, 1]
        (sn convention: high = "an action of this class is here").
    K: (4, C) integer frames, K1 < K2 < 0 < K3 < K4 per class (calf.md 2.1); K2 <= -1 is implied.
    miss_radius, hit_radius: margins m- in (0, 1] and m+ in [0, 1) (defaults 0.9, 0.1; the paper's
        "no margins" ablation is 1.0, 0.0).
    variant: "sn" (default) or "v1" (calf.md 5.3, zones 4 and 5 differ).
    reduction: "sum" (default, L_seg of calf.md 5.2: a plain sum over batch, frames and classes)
        returns a 0-d tensor; "none" returns the per-cell losses, shape of ``scores``.
    fused: use the fused custom op (value and derivative in one pass; Triton kernel on CUDA).
        Default: True for CUDA tensors, False on CPU (the torch form, which ``torch.compile`` fuses).
    units, fps: as ``time_shift_encoding``'s: ``units="seconds", fps=...`` converts a K in seconds to
        frames (K * fps, rounded); ``units=None``: K in frames, and a K equal to a published SoccerNet
        table in seconds warns (``KUnitsWarning``); ``units="frames"``: K in frames, no warning.
    Differentiable with respect to ``scores``; never inf/NaN for scores in [0, 1].
    """
    fn = "calf_segmentation_loss"
    check_same_kind(fn, tse=tse, scores=scores)
    if not is_tensor(scores):
        raise TypeError(f"{fn}: scores must be a torch tensor, got {type(scores).__name__}")
    check_working_memory(fn, "scores", scores, what="the per-cell losses")  # an expanded view too
    check_array(fn, "tse", tse, dtypes=TSE_DTYPES, ndim=(2, 3), contiguous=False)
    check_array(fn, "scores", scores, dtypes=SCORE_DTYPES, ndim=(2, 3), finite=True, contiguous=False)
    if tuple(tse.shape) != tuple(scores.shape):
        raise ValueError(f"{fn}: tse and scores must have the same shape, got {tuple(tse.shape)} and "
                         f"{tuple(scores.shape)}")
    if tse.is_floating_point():  # sn-spotting's float64 TSE: whole frames, converted once
        if not torch.compiler.is_compiling():
            check_integral(fn, "tse", tse, lo=-(2**62), hi=2**62)
        tse = tse.to(torch.int64)
    K = check_K(fn, K, scores.shape[-1], like=scores, units=units, fps=fps)
    miss_radius = check_float(fn, "miss_radius", miss_radius, minimum=0.0, maximum=1.0, min_inclusive=False)
    hit_radius = check_float(fn, "hit_radius", hit_radius, minimum=0.0, maximum=1.0)
    if hit_radius == 1.0:
        raise ValueError(f"{fn}: hit_radius must be < 1, got {hit_radius}")
    check_choice(fn, "variant", variant, VARIANTS)
    check_choice(fn, "reduction", reduction, REDUCTIONS)
    if fused is not None and not isinstance(fused, bool):
        raise TypeError(f"{fn}: fused must be None or a bool, got {type(fused).__name__}")
    if fused or (fused is None and scores.is_cuda):
        require_cuda(fn, scores)
    return _calf_segmentation_loss_impl(tse, scores, K, miss_radius=miss_radius, hit_radius=hit_radius,
                                        variant=variant, reduction=reduction, fused=fused)


def _calf_segmentation_loss_impl(tse, scores, K, *, miss_radius: float = 0.9, hit_radius: float = 0.1,
                                 variant: str = "sn", reduction: str = "sum", fused: bool | None = None):
    """``calf_segmentation_loss`` without validation (the trainer's internal path): K a (4, C) int32
    tensor on the scores' device; inputs of any strides; no data read."""
    eps = EPS[scores.dtype]
    if fused is None:
        fused = scores.is_cuda
    if fused:
        loss, _ = torch.ops.spotkern.calf_segmentation_loss(
            tse.contiguous(), scores.contiguous(), K, miss_radius, hit_radius, _VARIANT_ID[variant], eps,
            reduction == "none")
        return loss
    if torch.compiler.is_compiling():
        # Same maths on flat cells with a per-cell K gather: inductor's CPU code for a (..., C)
        # layout with C = 17 runs a 16-wide vector loop plus a 1-wide tail per row.
        C = scores.shape[-1]
        classes = torch.arange(scores.numel(), device=scores.device) % C
        cells = cell_losses(tse.reshape(-1), scores.reshape(-1), K[:, classes], miss_radius=miss_radius,
                                   hit_radius=hit_radius, variant=variant, eps=eps).view(scores.shape)
    else:
        cells = cell_losses(tse, scores, K, miss_radius=miss_radius, hit_radius=hit_radius,
                                   variant=variant, eps=eps)
    return cells.sum() if reduction == "sum" else cells
