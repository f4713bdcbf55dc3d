"""Weight initialisation shared by the dense-anchor modules (dense_anchors.md 4: Glorot-uniform kernels,
zero biases, as the public code)."""
from __future__ import annotations

from torch import nn


def glorot_(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases for every Linear/Conv1d/ConvTranspose1d inside."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.ConvTranspose1d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
