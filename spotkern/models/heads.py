"""Dense-anchor input reduction, heads and the full model (dense_anchors.md sections 4.1 and 4.3).

Defaults follow the public code: Glorot-uniform kernels, zero biases, no normalisation.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spotkern._validation import check_int
from spotkern.models.init import glorot_
from spotkern.models.trunks import TRUNKS, build_trunk

HEADS = ("confidence", "displacement")


class FrameMLP(nn.Module):
    """Per-frame input reduction: [Linear F -> 512, ReLU if F > 512], Linear -> 256, ReLU,
    Linear -> 64, ReLU (dense_anchors.md 4.1). forward((B, T, F)) -> (B, T, 64)."""

    out_channels = 64

    def __init__(self, input_dim: int = 512):
        super().__init__()
        self.input_dim = check_int("FrameMLP", "input_dim", input_dim, minimum=1)
        self.projection = nn.Linear(input_dim, 512) if input_dim > 512 else None
        self.fc1 = nn.Linear(min(input_dim, 512), 256)
        self.fc2 = nn.Linear(256, 64)
        glorot_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.projection is not None:
            x = F.relu(self.projection(x))
        return F.relu(self.fc2(F.relu(self.fc1(x))))


class TemporalHead(nn.Module):
    """Kernel-3 'same' convolution, channels -> num_classes, over time (dense_anchors.md 4.3).

    forward((B, T, channels)) -> (B, T, num_classes); ``activation`` None (logits) or "tanh"."""

    def __init__(self, channels: int, num_classes: int, activation: str | None = None):
        super().__init__()
        if activation not in (None, "tanh"):
            raise ValueError(f"TemporalHead: activation must be None or 'tanh', got {activation!r}")
        self.conv = nn.Conv1d(channels, num_classes, 3, padding=1)
        self.activation = activation
        glorot_(self)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = self.conv(h.transpose(1, 2)).transpose(1, 2).contiguous()  # (B, T, C) rows for the losses
        return torch.tanh(out) if self.activation == "tanh" else out


class DenseSpotter(nn.Module):
    """Dense-anchor spotting model: FrameMLP -> trunk -> heads.

    trunk: a registered trunk name (``spotkern.models.trunks``: "unet" ``DenseUNet``, "transformer"
        ``DenseTransformer``) or a module mapping (B, T, 64) -> (B, T, trunk.out_channels).
        ``trunk_kwargs`` go to the named trunk's constructor
        (e.g. ``chunk_size``, ``levels``, ``size``).
    heads: subset of ("confidence", "displacement"); the paper trains one network per head.
    forward(x (B, T, F)) -> {"confidence": logits (B, T, C), "displacement": tanh output in rd units
    (B, T, C)} with only the requested heads.
    """

    def __init__(self, trunk: str | nn.Module = "unet", input_dim: int = 512, num_classes: int = 17,
                 heads: str | Sequence[str] = ("confidence", "displacement"), **trunk_kwargs: Any) -> None:
        super().__init__()
        fn = "DenseSpotter"
        check_int(fn, "input_dim", input_dim, minimum=1)
        check_int(fn, "num_classes", num_classes, minimum=1)
        if isinstance(heads, str):
            heads = (heads,)
        heads = tuple(heads)
        if not heads or any(h not in HEADS for h in heads) or len(set(heads)) != len(heads):
            raise ValueError(f"{fn}: heads must be a non-empty subset of {HEADS}, got {heads!r}")
        if isinstance(trunk, str):
            trunk = build_trunk(trunk, **trunk_kwargs)
        elif not isinstance(trunk, nn.Module):
            raise TypeError(f"{fn}: trunk must be one of {', '.join(map(repr, TRUNKS))} or an nn.Module, got "
                            f"{type(trunk).__name__}")
        elif trunk_kwargs:
            raise TypeError(f"{fn}: trunk keyword arguments need a trunk name, got {sorted(trunk_kwargs)}")
        self.input_dim, self.num_classes, self.heads = input_dim, num_classes, heads
        self.mlp = FrameMLP(input_dim)
        self.trunk = trunk
        width: int = trunk.out_channels  # type: ignore[assignment]  # an int of every trunk; nn.Module hides its type
        self.head_modules = nn.ModuleDict(
            {h: TemporalHead(width, num_classes, "tanh" if h == "displacement" else None) for h in heads})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 3 or x.shape[-1] != self.input_dim:
            raise ValueError(f"DenseSpotter: x must be (B, T, {self.input_dim}), got {tuple(x.shape)}")
        h = self.trunk(self.mlp(x))
        return {name: head(h) for name, head in self.head_modules.items()}
