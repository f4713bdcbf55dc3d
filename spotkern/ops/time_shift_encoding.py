"""CALF time-shift encoding (calf.md section 3): ``(T, C)`` labels -> ``(T, C)`` int32 encoding."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from spotkern._ext import ext
from spotkern._validation import INDEX_DTYPES, check_array, check_int, check_same_kind, is_tensor, to_numpy
from spotkern.ops._cuda import require_cuda
from spotkern.ops._K import K_LIMIT, check_K

LABEL_DTYPES = ("bool", "uint8", "int32", "int64", "float32", "float64")
#: longest half: the int32 encoding holds values down to K1 - T (calf.md 3.2, the virtual event T - K1)
#: and |K| <= K_LIMIT, so T <= 2**31 - 1 - K_LIMIT keeps every value exact (no wrap-around).
MAX_FRAMES = 2**31 - 1 - K_LIMIT


def _check_num_frames(fn: str, name: str, T: int) -> None:
    if T > MAX_FRAMES:
        raise ValueError(f"{fn}: {name} must be <= {MAX_FRAMES} (the int32 encoding would overflow), got {T}")


# --- custom ops (CPU kernels; the CUDA kernels live in spotkern/triton) --------------------------

@torch.library.custom_op("spotkern::time_shift_encoding_packed", mutates_args=(), device_types="cpu")
def _tse_packed(labels: torch.Tensor, lengths: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(ext().time_shift_encoding_packed(labels.numpy(), lengths.numpy(), K.numpy()))


@_tse_packed.register_fake
def _(labels, lengths, K):
    return labels.new_empty(labels.shape, dtype=torch.int32)


@torch.library.custom_op("spotkern::time_shift_encoding_events", mutates_args=(), device_types="cpu")
def _tse_events(frames: torch.Tensor, classes: torch.Tensor, K: torch.Tensor, num_frames: int) -> torch.Tensor:
    return torch.from_numpy(ext().time_shift_encoding_events(frames.numpy(), classes.numpy(), K.numpy(), num_frames))


@_tse_events.register_fake
def _(frames, classes, K, num_frames):
    return frames.new_empty((num_frames, K.shape[1]), dtype=torch.int32)


# --- public functions -----------------------------------------------------------------------------

def _check_labels(fn: str, labels):
    check_array(fn, "labels", labels, dtypes=LABEL_DTYPES, ndim=2, finite=True)
    return labels


def time_shift_encoding(labels, K):
    """CALF time-shift encoding of one half.

    labels: (T, C) label matrix; a cell is an action iff it equals 1 (bool, uint8, int32, int64,
        float32 or float64).
    K: (4, C) integer frames, rows K1 < K2 < 0 < K3 < K4 (calf.md section 2.1).
    Returns (T, C) int32, exactly the CALF encoding (no-action classes, single-action classes,
    virtual events and the tie rule of calf.md section 3.2 included).
    """
    fn = "time_shift_encoding"
    _check_labels(fn, labels)
    _check_num_frames(fn, "labels.shape[0]", int(labels.shape[0]))
    K = check_K(fn, K, labels.shape[1], like=labels)
    check_same_kind(fn, labels=labels, K=K)
    require_cuda(fn, labels)
    if is_tensor(labels):
        lengths = torch.tensor([labels.shape[0]], dtype=torch.int64, device=labels.device)
        return torch.ops.spotkern.time_shift_encoding_packed(labels, lengths, K)
    lengths = np.array([labels.shape[0]], dtype=np.int64)
    return ext().time_shift_encoding_packed(labels, lengths, K)


def time_shift_encoding_batch(labels, K, lengths=None):
    """Time-shift encoding of many halves of different lengths in one call.

    Either ``labels`` is a sequence of (T_h, C) matrices (returns a list of (T_h, C) int32), or
    ``labels`` is the packed (sum T_h, C) matrix and ``lengths`` the (H,) int64 half lengths
    (returns the packed (sum T_h, C) int32 encoding). Halves are encoded in parallel.
    """
    fn = "time_shift_encoding_batch"
    if lengths is None:
        if not isinstance(labels, Sequence) or len(labels) == 0:
            raise TypeError(f"{fn}: labels must be a non-empty sequence of (T, C) arrays, or packed with lengths")
        for i, x in enumerate(labels):
            _check_labels(fn, x)
            if x.shape[1] != labels[0].shape[1] or type(x) is not type(labels[0]):
                raise ValueError(f"{fn}: labels[{i}] differs in type or class count from labels[0]")
        sizes = [int(x.shape[0]) for x in labels]
        if is_tensor(labels[0]):
            packed = torch.cat(list(labels)).contiguous()
            lens = torch.tensor(sizes, dtype=torch.int64, device=packed.device)
        else:
            packed = np.ascontiguousarray(np.concatenate(labels))
            lens = np.asarray(sizes, dtype=np.int64)
        out = time_shift_encoding_batch(packed, K, lens)
        return list(out.split(sizes)) if is_tensor(out) else np.split(out, np.cumsum(sizes)[:-1])
    _check_labels(fn, labels)
    check_array(fn, "lengths", lengths, dtypes=("int64",), ndim=1)
    check_same_kind(fn, labels=labels, lengths=lengths)
    lens = to_numpy(lengths.cpu() if is_tensor(lengths) else lengths)
    if (lens <= 0).any():
        raise ValueError(f"{fn}: lengths must all be positive")
    if int(lens.sum()) != labels.shape[0]:
        raise ValueError(f"{fn}: lengths must sum to labels.shape[0] = {labels.shape[0]}, got {int(lens.sum())}")
    _check_num_frames(fn, "every length", int(lens.max()))
    K = check_K(fn, K, labels.shape[1], like=labels)
    require_cuda(fn, labels)
    if is_tensor(labels):
        return torch.ops.spotkern.time_shift_encoding_packed(labels, lengths, K)
    return ext().time_shift_encoding_packed(labels, lengths, K)


def time_shift_encoding_from_events(frames, classes, K, num_frames: int):
    """Time-shift encoding of one half from an event list.

    frames, classes: (E,) int32 or int64 (same dtype), frame indices in [0, num_frames) and class
        indices in [0, C); duplicates collapse into one action. E may be 0.
    K: (4, C) integer frames. num_frames: T.
    Returns (T, C) int32, identical to ``time_shift_encoding`` of the equivalent label matrix.
    """
    fn = "time_shift_encoding_from_events"
    check_array(fn, "frames", frames, dtypes=INDEX_DTYPES, ndim=1, allow_empty=True)
    check_array(fn, "classes", classes, dtypes=INDEX_DTYPES, ndim=1, allow_empty=True)
    check_same_kind(fn, frames=frames, classes=classes)
    if frames.shape[0] != classes.shape[0]:
        raise ValueError(f"{fn}: frames and classes must have the same length, got {frames.shape[0]} and {classes.shape[0]}")
    if frames.dtype != classes.dtype:
        raise TypeError(f"{fn}: frames and classes must have the same dtype, got {frames.dtype} and {classes.dtype}")
    T = check_int(fn, "num_frames", num_frames, minimum=1, maximum=MAX_FRAMES)
    K = check_K(fn, K, like=frames)
    C = K.shape[1]
    if frames.shape[0] and not (is_tensor(frames) and torch.compiler.is_compiling()):
        f = to_numpy(frames.cpu()) if is_tensor(frames) else frames
        c = to_numpy(classes.cpu()) if is_tensor(classes) else classes
        if f.min() < 0 or f.max() >= T:
            raise ValueError(f"{fn}: frames must lie in [0, num_frames={T}), got range [{f.min()}, {f.max()}]")
        if c.min() < 0 or c.max() >= C:
            raise ValueError(f"{fn}: classes must lie in [0, C={C}), got range [{c.min()}, {c.max()}]")
    require_cuda(fn, frames)
    if is_tensor(frames):
        return torch.ops.spotkern.time_shift_encoding_events(frames, classes, K, T)
    return ext().time_shift_encoding_events(frames, classes, K, T)
