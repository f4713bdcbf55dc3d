"""Atomic checkpoints, loaded with ``torch.load(weights_only=True)``.

A checkpoint holds only tensors and plain Python containers/numbers/strings (no pickled objects), so
loading never executes code from the file.
"""
from __future__ import annotations

import os

import torch


def save_checkpoint(path: str, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file in the same directory, fsync, then
    ``os.replace`` — an interruption leaves either the old or the new checkpoint, never a torn one."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: str, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; a missing file is a clear FileNotFoundError."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_checkpoint: {path} does not exist")
    return torch.load(path, map_location=map_location, weights_only=True)
