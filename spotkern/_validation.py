"""Input validation shared by every public op: validate once, in Python, with messages that start
with the op's name and name the argument. Works on numpy arrays and torch tensors alike.

Value checks (NaN, ranges) read the data; under ``torch.compile`` they are skipped on tensors so
that tracing sees no data-dependent branch (shapes and dtypes are still checked while tracing).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:  # annotations only, never evaluated at run time (TypeIs: typing_extensions >= 4.10)
    from typing_extensions import TypeIs

FLOAT_DTYPES = ("float32",)
INDEX_DTYPES = ("int32", "int64")
#: float dtypes an op takes for scores and positions (float64 computed in float64 or converted as
#: each op documents).
REAL_DTYPES = ("float32", "float64")
#: dtypes of integer-valued arrays that peers store as floats (CALF's TSE is float64 in sn-spotting).
INTEGRAL_DTYPES = ("int32", "int64", "float32", "float64")


_TORCH_DTYPE_NAMES = {d: str(d).replace("torch.", "") for d in (
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
    torch.float16, torch.bfloat16, torch.float32, torch.float64)}


_NUMPY_DTYPE_NAMES: dict = {}


def is_tensor(x: object) -> TypeIs[torch.Tensor]:
    return isinstance(x, torch.Tensor)


def dtype_name(x) -> str:
    if is_tensor(x):
        return _TORCH_DTYPE_NAMES.get(x.dtype) or str(x.dtype).replace("torch.", "")
    dt = x.dtype
    name = _NUMPY_DTYPE_NAMES.get(dt)
    if name is None:  # np.dtype.name is computed in Python by numpy 2: cache it
        name = _NUMPY_DTYPE_NAMES[dt] = dt.name
    return name


def _compiling() -> bool:
    return torch.compiler.is_compiling()


def check_storage(fn: str, name: str, x) -> None:
    """Refuse arrays whose memory the kernels cannot read as a plain buffer, with a named error
    (instead of pybind11's "incompatible function arguments" or a RuntimeError from ``.numpy()``):
    numpy subclasses (masked arrays: the mask would be ignored), byte-swapped numpy arrays, and
    sparse, meta, negative-bit and conjugate-bit tensors."""
    if is_tensor(x):
        if x.layout != torch.strided:
            raise TypeError(f"{fn}: {name} must be a dense (strided) tensor, got layout {x.layout} (call .to_dense())")
        if _compiling():  # fake tensors while tracing: the eager call checked the real ones
            return
        if x.is_meta:
            raise ValueError(f"{fn}: {name} is a meta tensor, which holds no data")
        if x.is_neg() or x.is_conj():
            raise TypeError(f"{fn}: {name} has a lazy negation/conjugation bit set (call .resolve_neg() / "
                            ".resolve_conj())")
        return
    if type(x) is not np.ndarray:
        kind = "a masked array (its mask would be ignored)" if isinstance(x, np.ma.MaskedArray) else type(x).__name__
        raise TypeError(f"{fn}: {name} must be a plain numpy array, got {kind} (use np.asarray / .filled())")
    if not x.dtype.isnative:
        raise TypeError(f"{fn}: {name} must be in native byte order, got dtype {x.dtype.str} "
                        f"(use x.astype(x.dtype.newbyteorder('=')))")


def check_array(
    fn: str,
    name: str,
    x,
    *,
    dtypes: Iterable[str],
    ndim: int | Iterable[int] | None = None,
    allow_empty: bool = False,
    finite: bool = False,
    bounds: tuple | None = None,
    contiguous: bool = True,
    storage: bool = True,
):
    """Check that ``x`` is a numpy array or torch tensor of an allowed dtype, rank and layout.

    Raises ``TypeError`` for a wrong type or dtype (or storage, ``check_storage``) and
    ``ValueError`` for a wrong rank, an empty array (unless ``allow_empty``), a non-contiguous
    layout (unless ``contiguous=False``: the ops copy strided views once, ``as_contiguous``;
    ``storage=False`` skips ``check_storage`` for a caller that resolves byte order and lazy bits),
    NaN/inf values (when ``finite``), or values outside ``bounds`` = (lo, hi) (inclusive; None =
    unbounded; implies ``finite``; one min/max pass does both checks).
    """
    if not storage:
        if not isinstance(x, (np.ndarray, torch.Tensor)):
            raise TypeError(f"{fn}: {name} must be a numpy array or a torch tensor, got {type(x).__name__}")
    elif type(x) is np.ndarray:
        if not x.dtype.isnative:
            check_storage(fn, name, x)  # raises, naming the byte order
    elif isinstance(x, torch.Tensor):
        if x.layout != torch.strided or (not _compiling() and (x.is_meta or x.is_neg() or x.is_conj())):
            check_storage(fn, name, x)  # raises, naming the layout or bit
    elif isinstance(x, np.ndarray):
        check_storage(fn, name, x)  # a subclass (masked array, matrix): raises
    else:
        raise TypeError(f"{fn}: {name} must be a numpy array or a torch tensor, got {type(x).__name__}")
    dtypes = tuple(dtypes)
    dn = dtype_name(x)
    if dn not in dtypes:
        raise TypeError(f"{fn}: {name} must have dtype {' or '.join(dtypes)}, got {dn}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{fn}: {name} must have {want} dimensions, got shape {tuple(x.shape)}")
    if not allow_empty and any(int(s) == 0 for s in x.shape):
        raise ValueError(f"{fn}: {name} must not be empty, got shape {tuple(x.shape)}")
    if contiguous and not (x.is_contiguous() if is_tensor(x) else x.flags.c_contiguous):
        raise ValueError(f"{fn}: {name} must be C-contiguous (call .contiguous() / np.ascontiguousarray)")
    is_float = x.is_floating_point() if is_tensor(x) else x.dtype.kind == "f"
    if bounds is not None and is_float and (x.numel() if is_tensor(x) else x.size) and \
            not (is_tensor(x) and _compiling()):
        if is_tensor(x):
            lo, hi = torch.stack(torch.aminmax(x)).tolist()  # one device sync; NaN propagates into both
        else:
            lo, hi = float(x.min()), float(x.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{fn}: {name} contains NaN or infinite values")
        if (bounds[0] is not None and lo < bounds[0]) or (bounds[1] is not None and hi > bounds[1]):
            want = f"[{'-inf' if bounds[0] is None else bounds[0]}, {'inf' if bounds[1] is None else bounds[1]}]"
            raise ValueError(f"{fn}: {name} must lie in {want}, got values in [{lo:g}, {hi:g}]")
    elif finite and is_float and not (is_tensor(x) and _compiling()):
        ok = bool(torch.isfinite(x).all()) if is_tensor(x) else bool(np.isfinite(x).all())
        if not ok:
            raise ValueError(f"{fn}: {name} contains NaN or infinite values")
    return x


def check_same_kind(fn: str, **arrays) -> None:
    """All arguments are numpy arrays, or all are tensors on one device."""
    items = [(k, v) for k, v in arrays.items() if v is not None]
    kinds = {is_tensor(v) for _, v in items}
    if len(kinds) > 1:
        names = ", ".join(k for k, _ in items)
        raise TypeError(f"{fn}: {names} must all be numpy arrays or all torch tensors")
    if kinds == {True}:
        devices = {v.device for _, v in items}
        if len(devices) > 1:
            desc = ", ".join(f"{k} on {v.device}" for k, v in items)
            raise ValueError(f"{fn}: tensors must be on one device, got {desc}")


#: the largest integer argument any kernel takes (C++ int64_t).
INT64_MAX = 2**63 - 1


def check_int(fn: str, name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A Python/numpy integer (not bool) within [minimum, maximum]; never beyond int64 (the
    kernels' argument type), whatever ``maximum`` says."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be an integer, got {type(value).__name__}")
    value = int(value)
    maximum = INT64_MAX if maximum is None else min(maximum, INT64_MAX)
    minimum = -INT64_MAX - 1 if minimum is None else minimum
    if minimum is not None and value < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{fn}: {name} must be <= {maximum}, got {value}")
    return value


def check_float(fn: str, name: str, value, *, minimum: float | None = None, maximum: float | None = None,
                min_inclusive: bool = True) -> float:
    """A finite real number within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name} must be a real number, got {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:  # a Python int beyond the float range
        raise ValueError(f"{fn}: {name} must be finite, got an integer of {int(value).bit_length()} bits") from None
    if not math.isfinite(value):  # math, not numpy: traceable by torch.compile
        raise ValueError(f"{fn}: {name} must be finite, got {value}")
    if minimum is not None and (value < minimum or (not min_inclusive and value == minimum)):
        op = ">=" if min_inclusive else ">"
        raise ValueError(f"{fn}: {name} must be {op} {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{fn}: {name} must be <= {maximum}, got {value}")
    return value


def check_choice(fn: str, name: str, value, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{fn}: {name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


class NotEnoughMemoryError(MemoryError):
    """An op's output or working copy cannot fit in the memory of the machine (or device) at all:
    raised before anything is allocated, naming the function, the argument and the bytes needed."""


def _read_int(path: str, key: str | None = None) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read(1 << 16)
    except OSError:
        return None
    if key is None:
        return int(text) if text.strip().isdigit() else None
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return 1024 * int(line.split()[1])  # /proc/meminfo's kB
    return None


def memory_limit(device: torch.device | None = None) -> int | None:
    """Bytes that one process can ever hold: on the CPU the least of RAM + swap, the address-space
    rlimit and the cgroup's memory.max; on a CUDA device its total memory. None when unknown."""
    if device is not None and device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    if device is not None and device.type != "cpu":
        return None
    limits = []
    ram, swap = _read_int("/proc/meminfo", "MemTotal"), _read_int("/proc/meminfo", "SwapTotal")
    if ram is not None:
        limits.append(ram + (swap or 0))
    cgroup = _read_int("/sys/fs/cgroup/memory.max")
    if cgroup is not None:
        limits.append(cgroup)
    try:
        import resource  # optional dependency: none (a POSIX module of the standard library)

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            limits.append(int(soft))
    except (ImportError, OSError, ValueError):
        pass
    return min(limits) if limits else None


#: requests up to this size are not checked (no file is read on the ops' everyday path)
CHECK_FITS_FROM = 1 << 26


def check_fits(fn: str, args: str, nbytes: int, what: str, device: torch.device | None = None) -> None:
    """``NotEnoughMemoryError`` if ``nbytes`` (for ``what``, set by ``args``) exceed ``memory_limit``
    (requests below ``CHECK_FITS_FROM`` bytes pass unread)."""
    if nbytes < CHECK_FITS_FROM:
        return
    limit = memory_limit(device)
    if limit is not None and nbytes > limit:
        where = "this machine" if device is None or device.type == "cpu" else str(device)
        raise NotEnoughMemoryError(f"{fn}: {args} need {nbytes} bytes ({nbytes / 2**30:.1f} GiB) for {what}, more "
                                   f"than the {limit} bytes ({limit / 2**30:.1f} GiB) of memory of {where}")


def check_working_memory(fn: str, name: str, x, *, copies: int = 1, itemsize: int | None = None,
                         what: str = "its working arrays") -> None:
    """``copies`` full-size arrays of the shape of ``x`` (``itemsize`` bytes an element, default its
    own) must fit in memory (``check_fits``): an expanded or broadcast view of 2**31 frames costs
    nothing itself, but every element-wise step on it allocates its full size. Not arrays and
    tensors being traced are left to the other checks."""
    if isinstance(x, np.ndarray):
        n, size, device = x.size, itemsize or x.itemsize, None
    elif isinstance(x, torch.Tensor) and not (x.is_meta or _compiling()):
        n, size, device = x.numel(), itemsize or x.element_size(), x.device
    else:
        return
    if copies * n * size >= CHECK_FITS_FROM:  # the everyday path builds no message
        check_fits(fn, name, copies * n * size, f"{what} ({copies} x {n} elements of {size} bytes)", device)


def check_output_size(fn: str, args: str, shape, itemsize: int, device: torch.device | None = None) -> None:
    """An output of ``shape`` must be addressable (numpy refuses more than 2**63 - 1 bytes with its
    own message): a ValueError naming the arguments that set the size; and it must fit in the memory
    of the machine (``device``'s for a CUDA output): else a ``NotEnoughMemoryError`` (a MemoryError)
    naming them and the bytes, before anything is allocated."""
    n = itemsize
    for d in shape:
        n *= int(d)
    if n > INT64_MAX:
        raise ValueError(f"{fn}: {args} give an output of shape {tuple(int(d) for d in shape)}, more than 2**63 - 1 "
                         f"bytes")
    if n >= CHECK_FITS_FROM:  # the everyday path builds no message
        check_fits(fn, args, n, f"an output of shape {tuple(int(d) for d in shape)}", device)


_TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64, "int32": torch.int32, "int64": torch.int64,
                 "bool": torch.bool, "uint8": torch.uint8}


_NUMPY_DTYPES = {name: np.dtype(name) for name in _TORCH_DTYPES}


def as_contiguous(x):
    """``x`` itself when C-contiguous, else one contiguous copy (numpy or tensor)."""
    if isinstance(x, torch.Tensor):
        return x.contiguous()
    return np.ascontiguousarray(x)  # returns x itself when it already is


def as_dtype(x, dtype: str):
    """``x`` (contiguous) in ``dtype``: itself when it already is, else one converted copy."""
    if isinstance(x, torch.Tensor):
        return x.to(_TORCH_DTYPES[dtype]).contiguous()  # both return x itself when nothing changes
    return np.ascontiguousarray(x, dtype=_NUMPY_DTYPES[dtype])


def check_integral(fn: str, name: str, x, *, lo: int, hi: int, what: str = "integer frames"):
    """Values of an integer or integral-float array lie in [lo, hi] and, for floats, are finite
    whole numbers (sn-spotting stores integer frames as float64). Reads the data: the caller
    skips it while compiling. Returns nothing; raises ValueError naming the first bad value."""
    if (x.numel() if is_tensor(x) else x.size) == 0:
        return
    v = to_numpy(x.detach().cpu()) if is_tensor(x) else x
    if v.dtype.kind == "f":
        bad = ~np.isfinite(v)
        if bad.any():
            raise ValueError(f"{fn}: {name} contains NaN or infinite values")
        frac = v != np.floor(v)
        if frac.any():
            raise ValueError(f"{fn}: {name} must hold {what}, got the non-integral value {float(v[frac].flat[0])!r}")
    vmin, vmax = v.min(), v.max()
    if vmin < lo or vmax > hi:
        raise ValueError(f"{fn}: {name} must lie in [{lo}, {hi}], got values in [{vmin:g}, {vmax:g}]")


def to_numpy(x) -> np.ndarray:
    """A zero-copy numpy view of a CPU tensor (or the array itself)."""
    if is_tensor(x):
        return x.detach().numpy()
    return x
