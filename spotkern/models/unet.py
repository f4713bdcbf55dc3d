"""1-D u-net trunk with pre-activation (ResNet-V2) bottleneck blocks (dense_anchors.md 4.2)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from spotkern._validation import check_int
from spotkern.models.init import glorot_


class BottleneckBlock(nn.Module):
    """Pre-activation bottleneck: r = ReLU(x); out = shortcut + Conv1(C)(ReLU(Conv3(b)(ReLU(Conv1(b)(r)))))
    with b = C/4 and shortcut = x if C_in == C else Conv1(C)(r). Channel-first (B, C, T)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        b = cout // 4
        self.reduce = nn.Conv1d(cin, b, 1)
        self.conv = nn.Conv1d(b, b, 3, padding=1)
        self.expand = nn.Conv1d(b, cout, 1)
        self.shortcut = nn.Conv1d(cin, cout, 1) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = F.relu(x)
        res = self.expand(F.relu(self.conv(F.relu(self.reduce(r)))))
        return (x if self.shortcut is None else self.shortcut(r)) + res


class DenseUNet(nn.Module):
    """u-net trunk: (B, T, input_channels=64) -> (B, T, width=64), no normalisation anywhere.

    Level i has min(max_width, width * 2**i) channels and two bottleneck blocks; levels are joined by
    max-pool 2 on the way down and ConvTranspose(2, stride 2) of the ReLU'd coarser output, added to
    the skip, on the way up; the output is ReLU'd. ``levels`` defaults to log2(chunk_size / 7) + 1
    (6 at 224 frames, 5 at 112), so the coarsest length is 7; T must be divisible by 2**(levels-1).
    With FrameMLP and one 17-class head at 512-d input: 17,465,297 parameters (6 levels).
    """

    @staticmethod
    def default_levels(chunk_size: int) -> int:
        """log2(chunk_size / 7) + 1 rounded (dense_anchors.md 4.2): 6 at 224 frames, 5 at 112."""
        return max(int(round(math.log2(max(chunk_size, 7) / 7))) + 1, 1)

    @classmethod
    def fit_kwargs(cls, chunk_size: int, kwargs: dict) -> dict:
        """Arguments for chunks of about ``chunk_size`` frames: the levels given or ``default_levels``, and
        the length rounded down to a multiple of 2**(levels - 1). An explicit ``chunk_size`` in ``kwargs``
        is kept and derives its own levels."""
        kw = dict(kwargs)
        levels = kw["levels"] if kw.get("levels") is not None else cls.default_levels(chunk_size)
        fitted = max(chunk_size // 2 ** (levels - 1), 1) * 2 ** (levels - 1)
        kw.setdefault("levels", cls.default_levels(kw.get("chunk_size", chunk_size)))
        kw.setdefault("chunk_size", fitted)
        return kw

    def __init__(self, chunk_size: int = 224, levels: int | None = None, width: int = 64, max_width: int = 2048,
                 input_channels: int = 64):
        super().__init__()
        fn = "DenseUNet"
        self.chunk_size = check_int(fn, "chunk_size", chunk_size, minimum=1)
        if levels is None:
            ratio = chunk_size / 7
            lv = math.log2(ratio) if ratio >= 1 else -1
            if lv < 0 or lv != int(lv):
                raise ValueError(f"{fn}: chunk_size must be 7 * 2**k to derive levels, got {chunk_size}; "
                                 f"pass levels explicitly")
            levels = int(lv) + 1
        self.levels = check_int(fn, "levels", levels, minimum=1)
        if chunk_size % (2 ** (levels - 1)):
            raise ValueError(f"{fn}: chunk_size {chunk_size} must be divisible by 2**(levels-1) = "
                             f"{2 ** (levels - 1)}")
        self.input_channels = check_int(fn, "input_channels", input_channels, minimum=1)
        check_int(fn, "width", width, minimum=4)
        check_int(fn, "max_width", max_width, minimum=4)
        widths = [min(max_width, width * 2 ** i) for i in range(levels)]
        self.widths = widths
        self.out_channels = widths[0]
        self.encoder = nn.ModuleList(
            nn.Sequential(BottleneckBlock(widths[i - 1] if i else input_channels, widths[i]),
                          BottleneckBlock(widths[i], widths[i]))
            for i in range(levels))
        self.upsample = nn.ModuleList(
            nn.ConvTranspose1d(widths[i + 1], widths[i], 2, stride=2) for i in range(levels - 1))
        self.decoder = nn.ModuleList(
            nn.Sequential(BottleneckBlock(widths[i], widths[i]), BottleneckBlock(widths[i], widths[i]))
            for i in range(levels - 1))
        glorot_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.input_channels or x.shape[1] % (2 ** (self.levels - 1)):
            raise ValueError(f"DenseUNet: x must be (B, T, {self.input_channels}) with T divisible by "
                             f"{2 ** (self.levels - 1)}, got {tuple(x.shape)}")
        h = x.transpose(1, 2)
        skips = []
        for i, level in enumerate(self.encoder):
            if i:
                h = F.max_pool1d(h, 2, 2)
            h = level(h)
            skips.append(h)
        for i in range(self.levels - 2, -1, -1):
            h = self.upsample[i](F.relu(h)) + skips[i]
            h = self.decoder[i](h)
        return F.relu(h).transpose(1, 2)
