"""Execution environment of a run: the device and the CPU thread count."""
from __future__ import annotations

import torch


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
    """Context manager: torch CPU threads set to ``n`` (0 = unchanged) and restored on exit. One
    thread avoids OpenMP oversubscription when the cores are shared with other processes."""

    def __init__(self, n: int):
        self.n, self.old = int(n), torch.get_num_threads()

    def __enter__(self):
        if self.n > 0:
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)
