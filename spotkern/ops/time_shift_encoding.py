"""CALF time-shift encoding (calf.md section 3): ``(T, C)`` labels -> ``(T, C)`` int32 encoding."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

import numpy as np
import torch

from spotkern._ext import ext
from spotkern._typing import Array, ArrayT, KTable
from spotkern._validation import (
    INDEX_DTYPES,
    as_contiguous,
    as_dtype,
    check_array,
    check_int,
    check_same_kind,
    check_storage,
    dtype_name,
    is_tensor,
    to_numpy,
)
from spotkern.ops._cuda import require_cuda
from spotkern.ops._dispatch import eager_cpu
from spotkern.ops.calf_k import K_LIMIT, check_K

LABEL_DTYPES = ("bool", "uint8", "int32", "int64", "float32", "float64")
#: longest half: the int32 encoding holds values down to K1 - T (calf.md 3.2, the virtual event T - K1)
#: and |K| <= K_LIMIT, so T <= 2**31 - 1 - K_LIMIT keeps every value exact (no wrap-around).
MAX_FRAMES = 2**31 - 1 - K_LIMIT


def _check_num_frames(fn: str, name: str, T: int) -> None:
    if T > MAX_FRAMES:
        raise ValueError(f"{fn}: {name} must be <= {MAX_FRAMES} (the int32 encoding would overflow), got {T}")


# --- custom ops (CPU kernels; the CUDA kernels live in spotkern/triton) --------------------------

def _tse_packed_cpu(labels: torch.Tensor, lengths: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(ext().time_shift_encoding_packed(labels.numpy(), lengths.numpy(), K.numpy()))


_tse_packed = torch.library.custom_op("spotkern::time_shift_encoding_packed", mutates_args=(),
                                      device_types="cpu")(_tse_packed_cpu)


@_tse_packed.register_fake
def _(labels, lengths, K):
    return labels.new_empty(labels.shape, dtype=torch.int32)


def _tse_events_cpu(frames: torch.Tensor, classes: torch.Tensor, K: torch.Tensor, num_frames: int) -> torch.Tensor:
    return torch.from_numpy(ext().time_shift_encoding_events(frames.numpy(), classes.numpy(), K.numpy(), num_frames))


_tse_events = torch.library.custom_op("spotkern::time_shift_encoding_events", mutates_args=(),
                                      device_types="cpu")(_tse_events_cpu)


@_tse_events.register_fake
def _(frames, classes, K, num_frames):
    return frames.new_empty((num_frames, K.shape[1]), dtype=torch.int32)


def _time_shift_encoding_impl(labels, lengths, K, fn: str = "time_shift_encoding"):
    """Unchecked dispatch (the ``_impl`` contract, DEVELOPERS.md): ``labels`` contiguous (S, C) of a
    LABEL_DTYPES dtype, ``lengths`` contiguous (H,) int64 positive summing to S, ``K`` contiguous
    (4, C) int32 from ``check_K``, all on one device. Returns (S, C) int32. (The C++ kernel checks
    finite labels in its own pass.)"""
    if is_tensor(labels):
        op = _tse_packed_cpu if eager_cpu(labels, lengths, K) else torch.ops.spotkern.time_shift_encoding_packed
        return op(labels, lengths, K)
    return ext().time_shift_encoding_packed(labels, lengths, K, fn)


def _time_shift_encoding_batch_impl(halves: list, K, fn: str = "time_shift_encoding_batch"):
    """Unchecked dispatch of the list form (numpy only): ``halves`` a list of contiguous (T_h, C)
    numpy arrays of one LABEL_DTYPES dtype, ``K`` (4, C) int32 from ``check_K``. Returns a list of
    (T_h, C) int32. Halves run in parallel; the kernel checks finiteness per half."""
    return ext().time_shift_encoding_list(halves, K, fn)


def _time_shift_encoding_from_events_impl(frames, classes, K, num_frames: int):
    """Unchecked dispatch: ``frames``/``classes`` contiguous (E,) of one index dtype, in range;
    ``K`` (4, C) int32 from ``check_K``; 1 <= num_frames <= MAX_FRAMES. Returns (T, C) int32."""
    if is_tensor(frames):
        op = _tse_events_cpu if eager_cpu(frames, classes, K) else torch.ops.spotkern.time_shift_encoding_events
        return op(frames, classes, K, num_frames)
    return ext().time_shift_encoding_events(frames, classes, K, num_frames)


# --- public functions -----------------------------------------------------------------------------

def _check_labels(fn: str, labels, name: str = "labels"):
    """dtype, rank and (tensors only: numpy is checked by the kernel in its own pass) finiteness;
    returns the labels contiguous (a strided view is copied once)."""
    check_array(fn, name, labels, dtypes=LABEL_DTYPES, ndim=2, finite=is_tensor(labels), contiguous=False)
    return as_contiguous(labels.detach() if is_tensor(labels) else labels)


_K_DOC = """K: (4, C) frames, rows K1 < K2 < 0 < K3 < K4 (calf.md section 2.1): integers, or whole
        numbers stored as floats (sn-spotting's K tensor); a fraction is a ValueError.
    units, fps: K's units; ``units="seconds", fps=2`` converts K * fps to frames element-wise
        (calf.md D3). Left out, K is frames, and a K equal to SoccerNet's table in seconds warns
        (pass ``units="frames"`` at 1 fps)."""


def time_shift_encoding(labels: ArrayT, K: KTable, *, units: str | None = None, fps: float | None = None) -> ArrayT:
    """CALF time-shift encoding of one half.

    labels: (T, C) label matrix; a cell is an action iff it equals 1 (bool, uint8, int32, int64,
        float32 or float64; a strided view is copied once).
    {K}
    Returns (T, C) int32, exactly the CALF encoding (no-action classes, single-action classes,
    virtual events and the tie rule of calf.md section 3.2 included).
    """
    fn = "time_shift_encoding"
    labels = _check_labels(fn, labels)
    _check_num_frames(fn, "labels.shape[0]", int(labels.shape[0]))
    K = check_K(fn, K, labels.shape[1], like=labels, units=units, fps=fps)
    check_same_kind(fn, labels=labels, K=K)
    require_cuda(fn, labels)
    lengths: Array
    if is_tensor(labels):
        lengths = torch.tensor([labels.shape[0]], dtype=torch.int64, device=labels.device)
    else:
        lengths = np.array([labels.shape[0]], dtype=np.int64)
    return _time_shift_encoding_impl(labels, lengths, K, fn)


@overload
def time_shift_encoding_batch(labels: Sequence[ArrayT], K: KTable, lengths: None = None, *, units: str | None = None,
                              fps: float | None = None) -> list[ArrayT]: ...


@overload
def time_shift_encoding_batch(labels: ArrayT, K: KTable, lengths: ArrayT, *, units: str | None = None,
                              fps: float | None = None) -> ArrayT: ...


def time_shift_encoding_batch(labels: Sequence[Array] | Array, K: KTable, lengths: Array | None = None, *,
                              units: str | None = None, fps: float | None = None) -> list[Any] | Array:
    """Time-shift encoding of many halves of different lengths in one call.

    Either ``labels`` is a sequence of (T_h, C) matrices (returns a list of (T_h, C) int32), or
    ``labels`` is the packed (sum T_h, C) matrix and ``lengths`` the (H,) int32/int64 half lengths
    (returns the packed (sum T_h, C) int32 encoding). Halves are encoded in parallel (OpenMP); a list
    of numpy halves is read in place (no packing copy) and checked by the kernel, so one call costs
    less than a loop of ``time_shift_encoding`` even on one thread.
    {K}
    """
    fn = "time_shift_encoding_batch"
    if lengths is None:
        if not isinstance(labels, Sequence) or len(labels) == 0:
            raise TypeError(f"{fn}: labels must be a non-empty sequence of (T, C) arrays, or packed with lengths")
        if not is_tensor(labels[0]):
            return _tse_list_numpy(fn, labels, K, units, fps)
        halves = []
        for i, x in enumerate(labels):
            x = _check_labels(fn, x, f"labels[{i}]")
            if x.shape[1] != labels[0].shape[1] or type(x) is not type(labels[0]):
                raise ValueError(f"{fn}: labels[{i}] differs in type or class count from labels[0]")
            halves.append(x)
        sizes = [int(x.shape[0]) for x in halves]
        packed = torch.cat(halves).contiguous()
        out = time_shift_encoding_batch(packed, K, torch.tensor(sizes, dtype=torch.int64, device=packed.device),
                                        units=units, fps=fps)
        return list(out.split(sizes))
    packed = _check_labels(fn, labels)
    check_array(fn, "lengths", lengths, dtypes=INDEX_DTYPES, ndim=1, contiguous=False)
    check_same_kind(fn, labels=packed, lengths=lengths)
    lengths = as_dtype(lengths, "int64")
    lens = to_numpy(lengths.cpu()) if is_tensor(lengths) else lengths
    if (lens <= 0).any():
        raise ValueError(f"{fn}: lengths must all be positive")
    if int(lens.sum()) != packed.shape[0]:
        raise ValueError(f"{fn}: lengths must sum to labels.shape[0] = {packed.shape[0]}, got {int(lens.sum())}")
    _check_num_frames(fn, "every length", int(lens.max()))
    K = check_K(fn, K, packed.shape[1], like=packed, units=units, fps=fps)
    require_cuda(fn, packed)
    return _time_shift_encoding_impl(packed, lengths, K, fn)


def _tse_list_numpy(fn, labels, K, units, fps):
    """The list form on numpy halves: per-half checks of type, dtype and shape only (the kernel
    checks finiteness in the same pass that finds the events), then one parallel call."""
    first = labels[0]
    halves = []
    for i, x in enumerate(labels):
        name = f"labels[{i}]"
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{fn}: {name} must be a numpy array like labels[0], got {type(x).__name__}")
        check_storage(fn, name, x)
        if dtype_name(x) not in LABEL_DTYPES:
            raise TypeError(f"{fn}: {name} must have dtype {' or '.join(LABEL_DTYPES)}, got {dtype_name(x)}")
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{fn}: {name} must be a non-empty (T, C) matrix, got shape {x.shape}")
        if x.dtype != first.dtype or x.shape[1] != first.shape[1]:
            raise ValueError(f"{fn}: {name} differs in dtype or class count from labels[0]")
        _check_num_frames(fn, f"{name}.shape[0]", x.shape[0])
        halves.append(x if x.flags.c_contiguous else np.ascontiguousarray(x))
    K = check_K(fn, K, first.shape[1], units=units, fps=fps)
    return _time_shift_encoding_batch_impl(halves, K, fn)


if time_shift_encoding.__doc__ and time_shift_encoding_batch.__doc__:  # None under python -OO
    time_shift_encoding.__doc__ = time_shift_encoding.__doc__.format(K=_K_DOC)
    time_shift_encoding_batch.__doc__ = time_shift_encoding_batch.__doc__.format(K=_K_DOC)


def time_shift_encoding_from_events(frames: ArrayT, classes: ArrayT, K: KTable, num_frames: int, *,
                                    units: str | None = None, fps: float | None = None) -> ArrayT:
    """Time-shift encoding of one half from an event list.

    frames, classes: (E,) int32 or int64 (different dtypes are widened to int64), frame indices in
        [0, num_frames) and class indices in [0, C); duplicates collapse into one action. E may be 0.
    K, units, fps: as ``time_shift_encoding``. num_frames: T.
    Returns (T, C) int32, identical to ``time_shift_encoding`` of the equivalent label matrix.
    """
    fn = "time_shift_encoding_from_events"
    check_array(fn, "frames", frames, dtypes=INDEX_DTYPES, ndim=1, allow_empty=True, contiguous=False)
    check_array(fn, "classes", classes, dtypes=INDEX_DTYPES, ndim=1, allow_empty=True, contiguous=False)
    check_same_kind(fn, frames=frames, classes=classes)
    if frames.shape[0] != classes.shape[0]:
        raise ValueError(f"{fn}: frames and classes must have the same length, got {frames.shape[0]} and "
                         f"{classes.shape[0]}")
    index_dt = dtype_name(frames) if dtype_name(frames) == dtype_name(classes) else "int64"
    frames, classes = as_dtype(frames, index_dt), as_dtype(classes, index_dt)
    T = check_int(fn, "num_frames", num_frames, minimum=1, maximum=MAX_FRAMES)
    K = check_K(fn, K, like=frames, units=units, fps=fps)
    C = K.shape[1]
    if frames.shape[0] and not (is_tensor(frames) and torch.compiler.is_compiling()):
        f = to_numpy(frames.cpu()) if is_tensor(frames) else frames
        c = to_numpy(classes.cpu()) if is_tensor(classes) else classes
        if f.min() < 0 or f.max() >= T:
            raise ValueError(f"{fn}: frames must lie in [0, num_frames={T}), got range [{f.min()}, {f.max()}]")
        if c.min() < 0 or c.max() >= C:
            raise ValueError(f"{fn}: classes must lie in [0, C={C}), got range [{c.min()}, {c.max()}]")
    require_cuda(fn, frames)
    return _time_shift_encoding_from_events_impl(frames, classes, K, T)
