"""Execution environment of a run: the device and the CPU thread count."""
from __future__ import annotations

import os

import torch

#: machines with at most this many usable cores train on one thread by default
SMALL_MACHINE_CORES = 2


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def default_cpu_threads() -> int:
    """torch CPU threads of a run whose ``num_threads`` is 0: one thread on a machine with at most two usable
    cores, torch's own choice elsewhere. Measured on the 2-core development machine (``spotkern bench``, batch
    16, shared with other work): 1 thread gave 11.8 u-net / 34.2 CALF training chunks/s, torch's default (2)
    1.75 / 9.5: with a second busy process, two OpenMP threads wait on each other at every parallel region."""
    return 1 if usable_cores() <= SMALL_MACHINE_CORES else torch.get_num_threads()


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """"auto" (CUDA when available, else CPU) or a torch device string; a CUDA device without one, or
    an unknown name, is a named ValueError rather than a failure deep inside the first .to()."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: no CUDA device is available (this torch build or machine has none)")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank)
    return dev


class cpu_threads:
    """Context manager: torch CPU threads set to ``n`` (0 = ``default_cpu_threads()``) and restored on exit.
    One thread avoids OpenMP oversubscription when the cores are shared with other processes."""

    def __init__(self, n: int):
        self.n, self.old = int(n) or default_cpu_threads(), torch.get_num_threads()

    def __enter__(self):
        if self.n > 0:
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)
