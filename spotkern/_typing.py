"""Type aliases of the public signatures. Annotations only: the ops validate their arguments
themselves (spotkern/_validation.py), whatever a type checker was told."""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import torch

#: an array argument: a numpy array or a torch tensor
Array = np.ndarray | torch.Tensor
#: the kind of an op's array arguments, which its outputs follow: numpy in -> numpy out, tensor in ->
#: tensors on the same device (one call takes one kind; mixing them is a TypeError)
ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)
#: CALF's K, (4, C) frames (calf.md 2.1): an array, a tensor or nested lists
KTable = np.ndarray | torch.Tensor | Sequence[Sequence[float]]
#: one value for every class, or one per class (a length-C sequence, array or tensor)
PerClassInt = int | Sequence[int] | np.ndarray | torch.Tensor
PerClassFloat = float | Sequence[float] | np.ndarray | torch.Tensor
#: a file or folder name
PathLike = str | os.PathLike
#: what torch.device() takes
DeviceLike = str | torch.device
#: anything np.asarray converts (nested lists, arrays), or a tensor (copied to the host)
ArrayLike = npt.ArrayLike | torch.Tensor
#: a split: its name ("train") or an explicit list of games (videos)
Split = str | list[str] | tuple[str, ...]
#: a SoccerNet metric: its name ("loose", "tight", "at1".."at5") or tolerances in seconds
Metric = str | Sequence[float] | np.ndarray
