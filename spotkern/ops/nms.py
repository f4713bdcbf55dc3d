"""Per-class 1-D non-maximum suppression (dense_anchors.md 7.3-7.5, calf.md 10.4) on ``(T, C)`` or
``(B, T, C)`` float32 or float64 scores, with a dense and a sparse output (:func:`nms`), and on columns
given sparsely, several windows per call (:func:`nms_sparse`, the tuning search's form)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, overload

import numpy as np
import torch

from spotkern._ext import ext
from spotkern._typing import Array, ArrayT, PerClassFloat, PerClassInt
from spotkern._validation import (
    INDEX_DTYPES,
    REAL_DTYPES,
    as_contiguous,
    as_dtype,
    check_array,
    check_choice,
    check_float,
    check_int,
    check_same_kind,
    check_working_memory,
    is_tensor,
)
from spotkern.ops._cuda import require_cuda
from spotkern.ops._dispatch import eager_cpu

METHODS = ("hard", "calf", "linear", "gaussian")
OUTPUTS = ("dense", "sparse", "both")
#: method name -> the int code of the bindings and of the custom op (csrc/nms.h NmsMethod)
METHOD_CODES = {m: k for k, m in enumerate(METHODS)}
_MAX_WINDOW = 2**63 - 1


# --- custom ops (CPU kernels) ---------------------------------------------------------------------

def _nms_op_cpu(scores: torch.Tensor, windows: list[int], sigmas: list[float], method: int, threshold: float,
                min_weight: float, expansion: float) -> torch.Tensor:
    return torch.from_numpy(ext().nms_dense(scores.numpy(), np.asarray(windows, dtype=np.int64).reshape(-1),
                                            np.asarray(sigmas, dtype=np.float64).reshape(-1), method, threshold,
                                            min_weight, expansion))


_nms_op = torch.library.custom_op("spotkern::nms", mutates_args=(), device_types="cpu")(_nms_op_cpu)


@_nms_op.register_fake
def _(scores, windows, sigmas, method, threshold, min_weight, expansion):
    return torch.empty_like(scores)


def _detections_op_cpu(dense: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    frames, classes, scores, batch = ext().nms_detections(dense.numpy())
    return torch.from_numpy(frames), torch.from_numpy(classes), torch.from_numpy(scores), torch.from_numpy(batch)


_detections_op = torch.library.custom_op("spotkern::nms_detections", mutates_args=(),
                                         device_types="cpu")(_detections_op_cpu)


@_detections_op.register_fake
def _(dense):
    n = torch.library.get_ctx().new_dynamic_size()
    return (dense.new_empty((n,), dtype=torch.int64), dense.new_empty((n,), dtype=torch.int64),
            dense.new_empty((n,)), dense.new_empty((n,), dtype=torch.int64))


def _nms_impl(scores, windows: list, sigmas: list, code: int, threshold: float, min_weight: float,
              expansion: float, output: str):
    """Unchecked dispatch (the ``_impl`` contract, DEVELOPERS.md): ``scores`` contiguous (T, C) or
    (B, T, C) float32/float64 numpy array or tensor (not requiring grad), ``windows``/``sigmas``
    Python lists of C ints/floats, ``code`` = METHOD_CODES[method], the rest validated floats.
    Reads no data on the host (the sparse output learns its size on the device, see
    spotkern/triton/nms.py)."""
    if is_tensor(scores):
        direct = eager_cpu(scores)
        dense = (_nms_op_cpu if direct else torch.ops.spotkern.nms)(scores, windows, sigmas, code, threshold,
                                                                    min_weight, expansion)
        if output != "dense":
            sparse = (_detections_op_cpu if direct else torch.ops.spotkern.nms_detections)(dense)
        else:
            sparse = None
    else:
        dense = ext().nms_dense(scores, np.asarray(windows, dtype=np.int64), np.asarray(sigmas, dtype=np.float64),
                                code, threshold, min_weight, expansion)
        sparse = ext().nms_detections(dense) if output != "dense" else None
    if sparse is not None:
        sparse = tuple(sparse[:3]) if scores.ndim == 2 else tuple(sparse)
    if output == "dense":
        return dense
    return sparse if output == "sparse" else (dense, sparse)


# --- argument checks ------------------------------------------------------------------------------

def _real(v) -> float:
    """float(v), with a Python int beyond the float range as inf (refused as not finite below)."""
    try:
        return float(v)
    except OverflowError:
        return math.inf


def _method_parameters(fn, method, windows, threshold, min_weight, expansion, sigma, *, per):
    """``nms``'s and ``nms_sparse``'s shared parameters, checked: ``(threshold, min_weight, expansion,
    sigmas)``, the threshold defaulting to 1e-5 for soft methods and 0 for the others, one sigma per window
    (``windows`` / 2 by default; ``per`` names what a window belongs to in messages), zeros unless
    ``method`` is gaussian."""
    soft = method in ("linear", "gaussian")
    if threshold is None:
        threshold = 1e-5 if soft else 0.0
    threshold = check_float(fn, "threshold", threshold, minimum=0.0 if soft else -1.0, min_inclusive=False)
    min_weight = check_float(fn, "min_weight", min_weight, minimum=0.0, maximum=1.0)
    expansion = check_float(fn, "expansion", expansion, minimum=0.0)
    if method == "gaussian":
        sigmas = [w / 2.0 for w in windows] if sigma is None else \
            _per_class(fn, "sigma", sigma, len(windows), integer=False, per=per)
        if any(s < 0 for s in sigmas):
            raise ValueError(f"{fn}: sigma must be >= 0")
    elif sigma is not None:
        raise ValueError(f"{fn}: sigma only applies to method 'gaussian', got method {method!r}")
    else:
        sigmas = [0.0] * len(windows)
    return threshold, min_weight, expansion, sigmas


def _per_class(fn, name, value, C, *, integer, per="class"):
    """A scalar or a length-C sequence/array/tensor -> list of C Python numbers (plain Python on
    lists, so that torch.compile traces it); ``per`` names what the C entries are in messages."""
    scalar_types = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    want = "integers" if integer else "real numbers"
    if is_tensor(value) or isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ValueError(f"{fn}: {name} must be a scalar or have one entry per {per} ({C}), got shape "
                             f"{tuple(value.shape)}")
        if is_tensor(value):
            kind = "b" if value.dtype == torch.bool else "f" if value.dtype.is_floating_point else "i"
        else:
            kind = value.dtype.kind
        if kind not in ("iu" if integer else "iuf"):
            raise TypeError(f"{fn}: {name} must hold {want}, got {value.dtype}")
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if len(value) != C:
            raise ValueError(f"{fn}: {name} must be a scalar or have one entry per {per} ({C}), got {len(value)}")
        if any(isinstance(v, bool) or not isinstance(v, scalar_types) for v in value):
            raise TypeError(f"{fn}: {name} must hold {want}")
        values = [int(v) if integer else _real(v) for v in value]
    else:
        if isinstance(value, bool) or not isinstance(value, scalar_types):
            kind = "an integer" if integer else "a real number"
            raise TypeError(f"{fn}: {name} must be {kind} or one per {per}, got {type(value).__name__}")
        values = [int(value) if integer else _real(value)] * C
    if not integer and not all(math.isfinite(v) for v in values):
        raise ValueError(f"{fn}: {name} must be finite")
    return values


# The return follows ``output``: the dense scores, the sparse detections, or both.
@overload
def nms(scores: ArrayT, window: PerClassInt, *, method: str | None = None, threshold: float | None = None,
        sigma: PerClassFloat | None = None, min_weight: float = 0.0, expansion: float = 2.0,
        output: Literal["dense"] = "dense") -> ArrayT: ...


@overload
def nms(scores: ArrayT, window: PerClassInt, *, method: str | None = None, threshold: float | None = None,
        sigma: PerClassFloat | None = None, min_weight: float = 0.0, expansion: float = 2.0,
        output: Literal["sparse"]) -> tuple[ArrayT, ...]: ...


@overload
def nms(scores: ArrayT, window: PerClassInt, *, method: str | None = None, threshold: float | None = None,
        sigma: PerClassFloat | None = None, min_weight: float = 0.0, expansion: float = 2.0,
        output: Literal["both"]) -> tuple[ArrayT, tuple[ArrayT, ...]]: ...


def nms(scores: Array, window: PerClassInt, *, method: str | None = None, threshold: float | None = None,
        sigma: PerClassFloat | None = None, min_weight: float = 0.0, expansion: float = 2.0,
        output: str = "dense") -> Array | tuple[Array, ...] | tuple[Array, tuple[Array, ...]]:
    """Per-class 1-D non-maximum suppression.

    scores: (T, C) or (B, T, C) float32 or float64 (every batch row and class column is
        independent); float64 scores are compared, decayed and returned in float64 (bit-exact to
        the spec loop run on float64, as sn-spotting's and spivak's NumPy code does). NaN or
        infinite scores are a ValueError. T, C or B may be 0. A strided view is copied once.
    window: W in frames, an int or one per class (length-C sequence, array or tensor), 0 <= W <= 2**63 - 1
        (W >= 2 for "calf", whose window would not cover its own peak otherwise).
    method: required (no default: CALF's and the dense anchors' NMS differ on the same window, so
      a default would silently differ from one of the peers a user replaces):
      * "hard" (dense_anchors.md 7.3): take the best frame (lowest frame on ties) while its score
        >= threshold, keep it, suppress +-floor(W/2) frames around it (inclusive).
      * "calf" (calf.md 10.4): as hard, with CALF's half-open window [i - W/2, i + W/2)
        (ceil(W/2) frames before, floor(W/2) - 1 after).
      * "linear" (7.4): soft-NMS; emit the current, already decayed best score while it is
        >= threshold, then multiply the scores within ceil(R) frames by
        clip(m + (1 - m) |d| / R, 0, 1), R = expansion * W / 2. Float64 arithmetic, bit-exact to
        the spec loop.
      * "gaussian" (7.5): as linear with w(d) = 1 - (1 - m) exp(-d^2 / (2 sigma^2)) for
        |d| <= ceil(3 sigma).
    threshold: None -> 0.0 for hard/calf (scores of exactly 0 are emitted) and 1e-5 for the soft
        methods. Must be > -1 (hard/calf: suppressed frames are -1 in the spec) or > 0 (soft).
    sigma: Gaussian sigma in frames, a float or one per class, >= 0; None -> W / 2. Only for
        method="gaussian".
    min_weight: m in [0, 1] of the soft decays. expansion: >= 0, linear soft-NMS only.
    output:
      * "dense": same shape and dtype as scores, the kept/emitted score and -1 elsewhere;
      * "sparse": (frames, classes, scores) for (T, C) input, (frames, classes, scores, batch) for
        (B, T, C), int64/int64/scores' dtype/int64, sorted by score descending; equal scores keep
        row-major order (batch, then frame, then class);
      * "both": (dense, sparse).
    numpy in -> numpy out; tensor in -> tensors out on its device. NMS is not differentiable: a
    tensor that requires grad gives a detached result (``requires_grad=False``).
    """
    fn = "nms"
    check_array(fn, "scores", scores, dtypes=REAL_DTYPES, ndim=(2, 3), allow_empty=True, contiguous=False)
    if is_tensor(scores) and scores.is_contiguous() or not is_tensor(scores) and scores.flags.c_contiguous:
        check_working_memory(fn, "scores", scores, what="the dense output")
    else:  # a strided or broadcast view is copied once
        check_working_memory(fn, "scores", scores, copies=2, what="a contiguous copy and the dense output")
    if method is None:
        raise TypeError(f"{fn}: method is required: 'hard' (dense anchors, +-floor(W/2) inclusive), 'calf' "
                        f"(CALF's [i - W/2, i + W/2)), 'linear' or 'gaussian' (soft); see the README's Ops section")
    check_choice(fn, "method", method, METHODS)
    check_choice(fn, "output", output, OUTPUTS)
    C = int(scores.shape[-1])
    windows = _per_class(fn, "window", window, C, integer=True)
    if any(w < (2 if method == "calf" else 0) for w in windows):
        bound = 2 if method == "calf" else 0
        raise ValueError(f"{fn}: window must be >= {bound} for method {method!r}, got {min(windows)}")
    if any(w > _MAX_WINDOW for w in windows):  # the kernels take int64 windows
        raise ValueError(f"{fn}: window must be <= {_MAX_WINDOW} (2**63 - 1), got {max(windows)}")
    threshold, min_weight, expansion, sigmas = _method_parameters(fn, method, windows, threshold, min_weight,
                                                                  expansion, sigma, per="class")
    require_cuda(fn, scores)
    scores = as_contiguous(scores.detach() if is_tensor(scores) else scores)
    # On the CPU the kernel checks finiteness in one fused pass ("nms: scores contains NaN ...");
    # CUDA tensors are checked here.
    if is_tensor(scores) and scores.is_cuda:
        check_array(fn, "scores", scores, dtypes=REAL_DTYPES, allow_empty=True, finite=True)
    return _nms_impl(scores, windows, sigmas, METHOD_CODES[method], threshold, min_weight, expansion, output)


# --- sparse columns, several windows per call ----------------------------------------------------

def _nms_sparse_op_cpu(values: torch.Tensor, segments: torch.Tensor, frames: torch.Tensor, T: int,
                       windows: list[int], sigmas: list[float], method: int, threshold: float, min_weight: float,
                       expansion: float) -> torch.Tensor:
    return torch.from_numpy(ext().nms_sparse(values.numpy(), segments.numpy(), frames.numpy(), T,
                                             np.asarray(windows, dtype=np.int64).reshape(-1),
                                             np.asarray(sigmas, dtype=np.float64).reshape(-1), method, threshold,
                                             min_weight, expansion))


_nms_sparse_op = torch.library.custom_op("spotkern::nms_sparse", mutates_args=(),
                                         device_types="cpu")(_nms_sparse_op_cpu)


@_nms_sparse_op.register_fake
def _(values, segments, frames, T, windows, sigmas, method, threshold, min_weight, expansion):
    return values.new_empty((len(windows), values.shape[0]))


@_nms_sparse_op.register_kernel("cuda")
def _nms_sparse_cuda(values, segments, frames, T, windows, sigmas, method, threshold, min_weight, expansion):
    """CUDA tensors: no Triton kernel, the C++ kernel on a host copy (copies the columns to the host and the
    result back, which synchronises the stream). The sparse form serves the tuning search on the CPU."""
    out = _nms_sparse_op_cpu(values.cpu(), segments.cpu(), frames.cpu(), T, windows, sigmas, method, threshold,
                             min_weight, expansion)
    return out.to(values.device)


def _nms_sparse_impl(values, segments, frames, T: int, windows: list, sigmas: list, code: int, threshold: float,
                     min_weight: float, expansion: float):
    """Unchecked dispatch (the ``_impl`` contract, DEVELOPERS.md): ``values`` contiguous (N,) float32/float64,
    ``segments``/``frames`` contiguous (N,) int64, all numpy or all tensors (not requiring grad), ``T`` and
    ``windows``/``sigmas`` (Python lists of equal lengths) checked, ``code`` = METHOD_CODES[method], the
    rest validated floats. The kernel checks the listed cells (in range, increasing, finite values)."""
    if is_tensor(values):
        op = _nms_sparse_op_cpu if eager_cpu(values, segments, frames) else torch.ops.spotkern.nms_sparse
        return op(values, segments, frames, T, windows, sigmas, code, threshold, min_weight, expansion)
    return ext().nms_sparse(values, segments, frames, T, np.asarray(windows, dtype=np.int64),
                            np.asarray(sigmas, dtype=np.float64), code, threshold, min_weight, expansion)


def nms_sparse(values: ArrayT, segments: ArrayT, frames: ArrayT, T: int, windows: Sequence[int] | Array, *,
               method: str | None = None, threshold: float | None = None,
               sigma: float | Sequence[float] | Array | None = None, min_weight: float = 0.0,
               expansion: float = 2.0) -> ArrayT:
    """:func:`nms` of 1-D columns of T frames given sparsely, for several windows in one call.

    The columns ("segments", e.g. a class of a half, or a (batch, class) column) hold ``values`` at the
    listed cells and a score below ``threshold`` everywhere else (such a cell is never kept and never
    decays anything, so it needs no listing). Returns (len(windows), N), row k: ``nms(column, windows[k],
    method=method, threshold=threshold, sigma=..., min_weight=..., expansion=...)`` of every column, read at
    the listed cells, bit for bit (the kept/emitted score, -1 elsewhere). One pass over the listed cells
    per window, whatever T is: the tuning search runs every window of a method on the cells above its
    lowest threshold.

    values: (N,) float32 or float64 (the output's dtype; compared and decayed as :func:`nms` does); NaN or
        infinite values are a ValueError.
    segments, frames: (N,) int32 or int64, the column and frame of each value, (segment, frame) strictly
        increasing, 0 <= frame < T, segment >= 0 (a segment's columns never interact: each is its own op).
    T: frames per column, 1 <= T <= 2**31 - 1 (every column has the same T; a shorter column gives the
        same result with the longer T, since its missing frames are never listed).
    windows: a sequence of window lengths W (frames), each as :func:`nms`'s ``window`` (0 <= W <= 2**63 - 1,
        >= 2 for "calf"); may be empty.
    method, threshold, min_weight, expansion: as :func:`nms` (method required).
    sigma: "gaussian" only: a float or one per window (>= 0); None -> W / 2 per window.
    numpy in -> numpy out; tensor in -> tensor out on its device (CUDA tensors run the C++ kernel on a host
    copy: there is no Triton kernel of the sparse form). All three arrays are numpy or tensors on one device.
    """
    fn = "nms_sparse"
    check_array(fn, "values", values, dtypes=REAL_DTYPES, ndim=1, allow_empty=True, contiguous=False)
    check_array(fn, "segments", segments, dtypes=INDEX_DTYPES, ndim=1, allow_empty=True, contiguous=False)
    check_array(fn, "frames", frames, dtypes=INDEX_DTYPES, ndim=1, allow_empty=True, contiguous=False)
    check_same_kind(fn, values=values, segments=segments, frames=frames)
    n = int(values.shape[0])
    if int(segments.shape[0]) != n or int(frames.shape[0]) != n:
        raise ValueError(f"{fn}: values, segments and frames must have equal lengths, got {n}, "
                         f"{int(segments.shape[0])} and {int(frames.shape[0])}")
    T = check_int(fn, "T", T, minimum=1, maximum=2**31 - 1)
    if method is None:
        raise TypeError(f"{fn}: method is required: 'hard', 'calf', 'linear' or 'gaussian' (as nms)")
    check_choice(fn, "method", method, METHODS)
    if isinstance(windows, (int, np.integer)) and not isinstance(windows, bool):
        raise TypeError(f"{fn}: windows must be a sequence of window lengths (one output row each), got an "
                        f"integer; pass [{int(windows)}]")
    if is_tensor(windows) or isinstance(windows, np.ndarray):
        if windows.ndim != 1:
            raise ValueError(f"{fn}: windows must be 1-D, got shape {tuple(windows.shape)}")
        windows = windows.tolist()
    if not isinstance(windows, (list, tuple)):
        raise TypeError(f"{fn}: windows must be a sequence of integers, got {type(windows).__name__}")
    windows = [check_int(fn, "windows", w, minimum=2 if method == "calf" else 0) for w in windows]
    threshold, min_weight, expansion, sigmas = _method_parameters(fn, method, windows, threshold, min_weight,
                                                                  expansion, sigma, per="window")
    if is_tensor(values):
        values, segments, frames = values.detach(), segments.detach(), frames.detach()
    values = as_contiguous(values)
    segments, frames = as_dtype(segments, "int64"), as_dtype(frames, "int64")
    return _nms_sparse_impl(values, segments, frames, T, windows, sigmas, METHOD_CODES[method], threshold,
                            min_weight, expansion)
