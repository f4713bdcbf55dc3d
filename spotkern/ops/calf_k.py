"""CALF's per-class context-slicing parameters K (calf.md section 2.1), shared by the TSE, the
segmentation loss, the anchors and the background runs."""
from __future__ import annotations

import warnings

import numpy as np
import torch

from spotkern._soccernet import K_V1_SECONDS, K_V2_SECONDS
from spotkern._typing import Array, KTable
from spotkern._validation import INDEX_DTYPES, _compiling, check_storage, dtype_name, is_tensor

#: dtypes K may have: integer frames, or whole frames stored as floats (sn-spotting's K tensor).
K_DTYPES = ("int32", "int64", "float32", "float64")

#: largest |K| in frames: K is cast to int32, and T - K1 must also fit the int32 encoding (2**30 frames
#: is over 17 years at 2 fps).
K_LIMIT = 2**30


UNITS = ("frames", "seconds")


class KUnitsWarning(UserWarning):
    """K looks like a table in seconds but was passed as frames (calf.md defect D3)."""


def _seconds_tables():
    return {"SoccerNet-v2": K_V2_SECONDS, "SoccerNet-v1 (CALF)": K_V1_SECONDS}


def check_K(fn: str, K: KTable, num_classes: int | None = None, *, like: Array | None = None,
            units: str | None = None, fps: float | None = None) -> np.ndarray | torch.Tensor:
    """Validate K, shape (4, C) frames with K1 < K2 < 0 < K3 < K4 for every class, and return it
    as contiguous int32 (numpy, or a tensor on ``like``'s device).

    K may be integer or integral-valued float (sn-spotting keeps K as a float tensor of whole
    frames); a non-integral value is a ValueError that points at ``units``. ``units="seconds"``
    with ``fps`` converts element-wise, K * fps rounded to the nearest frame (calf.md D3; the
    product must be a whole number of frames up to float rounding). With ``units`` not given, a K
    equal to a published SoccerNet table in seconds warns (``KUnitsWarning``): at 2 fps that is the
    OSL-ActionSpotting trap of calf.md D3, at 1 fps it is right (pass ``units="frames"``)."""
    if units is not None and units not in UNITS:
        raise ValueError(f"{fn}: units must be one of {', '.join(map(repr, UNITS))}, got {units!r}")
    if units == "seconds":
        if fps is None or isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) \
                or not (0 < float(fps) < float("inf")):
            raise ValueError(f"{fn}: units='seconds' needs fps=, a positive frame rate, got {fps!r}")
    elif fps is not None:
        raise ValueError(f"{fn}: fps only applies to units='seconds'")
    if isinstance(K, (list, tuple)):
        K = np.asarray(K)
        if K.dtype.kind not in "iuf":
            raise TypeError(f"{fn}: K must hold integer frames, got {K.dtype}")
        if K.dtype.kind in "iu" and K.size and (K.max() > K_LIMIT or K.min() < -K_LIMIT):
            # before a uint64 list wraps in the cast
            raise ValueError(f"{fn}: K must lie in [-{K_LIMIT}, {K_LIMIT}] frames, got range [{K.min()}, {K.max()}]")
        K = K.astype(np.int64 if K.dtype.kind in "iu" else np.float64)
    if isinstance(K, np.ndarray) and _compiling():
        K = torch.as_tensor(K)  # Dynamo traces numpy arrays as tensors but not their numpy attributes
    if not isinstance(K, (np.ndarray, torch.Tensor)):
        raise TypeError(f"{fn}: K must be a (4, C) array, tensor or nested list of frames, got {type(K).__name__}")
    check_storage(fn, "K", K)
    if dtype_name(K) not in K_DTYPES:
        raise TypeError(f"{fn}: K must have dtype {' or '.join(K_DTYPES)}, got {dtype_name(K)}")
    if K.ndim != 2 or K.shape[0] != 4 or K.shape[1] == 0:
        raise ValueError(f"{fn}: K must have shape (4, C), got {tuple(K.shape)}")
    if num_classes is not None and K.shape[1] != num_classes:
        raise ValueError(f"{fn}: K must have shape (4, {num_classes}) to match the classes, got {tuple(K.shape)}")
    if not _compiling():  # values are constants of a compiled graph: checked when running eagerly
        k = K.detach().cpu().numpy() if is_tensor(K) else K
        k = _to_frames(fn, k, units, fps)
        _check_K_values(fn, k)
        if units is None:
            _warn_if_seconds(fn, k)
        K = torch.as_tensor(k) if is_tensor(K) else k
    elif dtype_name(K) not in INDEX_DTYPES:  # traced: float K converts without its (eager-only) value checks
        # K is a tensor here (converted above while compiling)
        K = torch.round(K * float(fps)) if units == "seconds" else K  # type: ignore[arg-type]
    # K is a small parameter table, not a data buffer: a strided view (K[:, :5]) is copied, not refused.
    if like is not None and is_tensor(like):
        K = torch.as_tensor(K).to(device=like.device, dtype=torch.int32).contiguous()
    elif is_tensor(K):
        K = K.to(torch.int32).contiguous()
    else:
        K = np.ascontiguousarray(K, dtype=np.int32)
    return K


def _to_frames(fn: str, k: np.ndarray, units, fps) -> np.ndarray:
    """int64 frames from integer or float K (in ``units``); named errors for NaN and fractions."""
    if units == "seconds":
        k = np.asarray(k, dtype=np.float64) * float(fps)
    if k.dtype.kind in "iu":
        return k  # the range check of _check_K_values runs on the uncast values
    if not np.isfinite(k).all():
        raise ValueError(f"{fn}: K contains NaN or infinite values")
    r = np.rint(k)
    # seconds * fps may land a rounding error away from a whole frame (1.1 * 10); frames must be exact
    tol = 1e-9 * np.maximum(1.0, np.abs(k)) if units == "seconds" else 0.0
    off = np.abs(k - r) > tol
    if off.any():
        bad = float(k[off].flat[0])
        hint = (f"K * fps must be whole frames, got {bad!r} frames" if units == "seconds" else
                f"K must hold whole frames, got {bad!r} (K in seconds? pass units='seconds', fps=...)")
        raise ValueError(f"{fn}: {hint}")
    if np.abs(r).max() > K_LIMIT:
        raise ValueError(f"{fn}: K must lie in [-{K_LIMIT}, {K_LIMIT}] frames, got range [{r.min():g}, {r.max():g}]")
    return r.astype(np.int64)


def _warn_if_seconds(fn: str, k: np.ndarray) -> None:
    for name, table in _seconds_tables().items():
        # the corner first: the frames tables differ there, and array_equal costs a few microseconds
        if k.shape == table.shape and k[0, 0] == table[0, 0] and np.array_equal(k, table):
            warnings.warn(
                f"{fn}: K equals the {name} K table in seconds (calf.md 2.1); K is read as frames. At 2 fps "
                f"pass units='seconds', fps=2 (or the frames table); at 1 fps pass units='frames'.",
                KUnitsWarning, stacklevel=3)
            return


def _check_K_values(fn: str, k: np.ndarray) -> None:
    """Order and range of the original (uncast) values: an int64 K outside int32 would otherwise wrap
    in the int32 cast (e.g. -2**32 - 8 -> -8) and pass as a different, valid table. Given the order,
    K1 >= -K_LIMIT and K4 <= K_LIMIT bound every entry (one vectorised pass; details only on failure)."""
    ok = (k[0] < k[1]) & (k[1] < 0) & (0 < k[2]) & (k[2] < k[3]) & (k[0] >= -K_LIMIT) & (k[3] <= K_LIMIT)
    if ok.all():
        return
    order = (k[0] < k[1]) & (k[1] < 0) & (0 < k[2]) & (k[2] < k[3])
    if not order.all():
        c = int(np.flatnonzero(~order)[0])
        raise ValueError(
            f"{fn}: K must satisfy K1 < K2 < 0 < K3 < K4 for every class; class {c} has {k[:, c].tolist()}"
        )
    raise ValueError(f"{fn}: K must lie in [-{K_LIMIT}, {K_LIMIT}] frames, got range [{int(k.min())}, {int(k.max())}]")
