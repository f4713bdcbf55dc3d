"""CALF's per-class context-slicing parameters K (calf.md section 2.1), shared by the TSE, the
segmentation loss, the anchors and the background runs."""
from __future__ import annotations

import numpy as np
import torch

from spotkern._validation import INDEX_DTYPES, _compiling, dtype_name, is_tensor

#: largest |K| in frames: K is cast to int32, and T - K1 must also fit the int32 encoding (2**30 frames
#: is over 17 years at 2 fps).
K_LIMIT = 2**30


def check_K(fn: str, K, num_classes: int | None = None, *, like=None):
    """Validate K, shape (4, C) integer frames with K1 < K2 < 0 < K3 < K4 for every class, and
    return it as contiguous int32 (numpy, or a tensor on ``like``'s device)."""
    if isinstance(K, (list, tuple)):
        K = np.asarray(K)
        if K.dtype.kind not in "iu":
            raise TypeError(f"{fn}: K must hold integer frames, got {K.dtype}")
        if K.size and (K.max() > K_LIMIT or K.min() < -K_LIMIT):  # before a uint64 list wraps in the cast
            raise ValueError(f"{fn}: K must lie in [-{K_LIMIT}, {K_LIMIT}] frames, got range [{K.min()}, {K.max()}]")
        K = K.astype(np.int64)
    if isinstance(K, np.ndarray) and _compiling():
        K = torch.as_tensor(K)  # Dynamo traces numpy arrays as tensors but not their numpy attributes
    if not isinstance(K, (np.ndarray, torch.Tensor)):
        raise TypeError(f"{fn}: K must be a (4, C) integer array, tensor or nested list, got {type(K).__name__}")
    if dtype_name(K) not in INDEX_DTYPES:
        raise TypeError(f"{fn}: K must have dtype int32 or int64, got {dtype_name(K)}")
    if K.ndim != 2 or K.shape[0] != 4 or K.shape[1] == 0:
        raise ValueError(f"{fn}: K must have shape (4, C), got {tuple(K.shape)}")
    if num_classes is not None and K.shape[1] != num_classes:
        raise ValueError(f"{fn}: K must have shape (4, {num_classes}) to match the classes, got {tuple(K.shape)}")
    if not _compiling():  # values are constants of a compiled graph: checked when running eagerly
        _check_K_values(fn, K.cpu().numpy() if is_tensor(K) else K)
    # K is a small parameter table, not a data buffer: a strided view (K[:, :5]) is copied, not refused.
    if like is not None and is_tensor(like):
        K = torch.as_tensor(K).to(device=like.device, dtype=torch.int32).contiguous()
    elif is_tensor(K):
        K = K.to(torch.int32).contiguous()
    else:
        K = np.ascontiguousarray(K, dtype=np.int32)
    return K


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
