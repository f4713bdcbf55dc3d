"""Transformer-encoder trunk (dense_anchors.md 4.5): learned positions, input map, pre-LN layers."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spotkern._validation import check_int

#: (layers, hidden, heads, intermediate) per named size (dense_anchors.md 4.5 table).
SIZES = {"default": (3, 64, 4, 256), "small": (4, 128, 4, 512), "base": (12, 256, 8, 1024)}
LN_EPS = 1e-6


def _trunc_normal_(t, std=0.02):
    nn.init.trunc_normal_(t, std=std, a=-2 * std, b=2 * std)


class EncoderLayer(nn.Module):
    """Pre-LN layer: h += MHA(LN(h)); h += FFN(LN(h)); FFN = Linear -> GELU (erf) -> Linear."""

    def __init__(self, hidden: int, heads: int, intermediate: int):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(hidden, eps=LN_EPS)
        self.q, self.k, self.v, self.o = (nn.Linear(hidden, hidden) for _ in range(4))
        self.ln2 = nn.LayerNorm(hidden, eps=LN_EPS)
        self.ff1 = nn.Linear(hidden, intermediate)
        self.ff2 = nn.Linear(intermediate, hidden)
        for m in (self.q, self.k, self.v, self.o, self.ff1, self.ff2):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        B, T, D = h.shape
        x = self.ln1(h)

        def split(t):
            return t.view(B, T, self.heads, D // self.heads).transpose(1, 2)

        # queries scaled by d_head ** -0.5 (the SDPA default), softmax, no mask
        att = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)))
        h = h + self.o(att.transpose(1, 2).reshape(B, T, D))
        return h + self.ff2(F.gelu(self.ff1(self.ln2(h))))


class DenseTransformer(nn.Module):
    """Transformer trunk: (B, T, 64) -> (B, T, hidden), T <= chunk_size.

    size: "default" (3 layers, hidden 64, 4 heads, intermediate 256), "small" (4, 128, 4, 512) or
    "base" (12, 256, 8, 1024); explicit layers/hidden/num_heads/intermediate override it. With FrameMLP and
    one 17-class head at 512-d input and 224 frames: 319,633 / 970,321 / 9,669,457 parameters.
    """

    def __init__(self, size: str = "default", chunk_size: int = 224, input_channels: int = 64, *,
                 layers: int | None = None, hidden: int | None = None, num_heads: int | None = None,
                 intermediate: int | None = None):
        super().__init__()
        fn = "DenseTransformer"
        if size not in SIZES:
            raise ValueError(f"{fn}: size must be one of {', '.join(map(repr, SIZES))}, got {size!r}")
        d_layers, d_hidden, d_heads, d_inter = SIZES[size]
        layers = check_int(fn, "layers", d_layers if layers is None else layers, minimum=1)
        hidden = check_int(fn, "hidden", d_hidden if hidden is None else hidden, minimum=1)
        heads = check_int(fn, "num_heads", d_heads if num_heads is None else num_heads, minimum=1)
        intermediate = check_int(fn, "intermediate", d_inter if intermediate is None else intermediate, minimum=1)
        if hidden % heads:
            raise ValueError(f"{fn}: hidden ({hidden}) must be divisible by num_heads ({heads})")
        self.chunk_size = check_int(fn, "chunk_size", chunk_size, minimum=1)
        self.input_channels = check_int(fn, "input_channels", input_channels, minimum=1)
        self.out_channels = hidden
        self.positions = nn.Parameter(torch.empty(chunk_size, input_channels))
        _trunc_normal_(self.positions)
        self.input_map = nn.Linear(input_channels, hidden)
        _trunc_normal_(self.input_map.weight)
        nn.init.zeros_(self.input_map.bias)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, intermediate) for _ in range(layers))
        self.final_ln = nn.LayerNorm(hidden, eps=LN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.input_channels or x.shape[1] > self.chunk_size:
            raise ValueError(f"DenseTransformer: x must be (B, T <= {self.chunk_size}, {self.input_channels}), "
                             f"got {tuple(x.shape)}")
        h = self.input_map(x + self.positions[: x.shape[1]])
        for layer in self.layers:
            h = layer(h)
        return self.final_ln(h)
