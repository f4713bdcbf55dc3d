"""CALF network (``ContextAwareModel``, calf.md section 8), with 1-D layers.

The public code uses 2-D convolutions with (k, 1) kernels on a (time, 1) grid; here every temporal
convolution is the equivalent ``Conv1d`` (same parameter count and PyTorch default initialisation,
calf.md 8.2) and the first (1, F) convolution is the equivalent per-frame ``Linear``. Weights convert
from a sn checkpoint by squeezing/unsqueezing the trailing kernel dimension.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from spotkern._validation import check_int

CAPSULE_DIM = 16


def safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """sqrt(x) for x >= 0 with gradient 0 at x = 0 instead of inf (calf.md 5.5, defect D4).

    The double ``where`` keeps the value exact (sqrt(0) = 0) and never evaluates the derivative of
    sqrt at 0, so no inf/NaN reaches the capsules' gradients."""
    positive = x > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, x, torch.ones_like(x))), torch.zeros_like(x))


def _same_pad(k: int) -> tuple[int, int]:
    """'same' zero padding of a kernel-k convolution: (k-1)//2 before, the rest after (calf.md 8.2)."""
    return (k - 1) // 2, k - 1 - (k - 1) // 2


def _pooled(n: int) -> int:
    """Length after an unpadded max-pool, kernel 3, stride 2."""
    return (n - 3) // 2 + 1


class _SameConv1d(nn.Conv1d):
    """Conv1d with CALF's 'same' padding (the extra frame of an even kernel goes at the end)."""

    def __init__(self, cin: int, cout: int, k: int):
        super().__init__(cin, cout, k)
        self._pad = _same_pad(k)

    def forward(self, x):
        return super().forward(F.pad(x, self._pad))


class CALFNet(nn.Module):
    """CALF network: frame MLP, temporal pyramid, capsules, segmentation and spotting heads.

    Args: input_dim F (512), num_classes C (17; 3 for v1), chunk_size L (240; the BatchNorm runs over
    the L time positions, so the model is tied to L), receptive_field rf (80; pyramid kernels
    ceil(rf/7), ceil(rf/3), ceil(rf/2), rf), num_slots N (15; 5 for v1).
    forward(x (B, 1, L, F) or (B, L, F) float) -> (segmentation (B, L, C) in [0, 1],
    spotting (B, N, 2+C): [sigmoid confidence, sigmoid position, softmax class probabilities]).
    578,245 parameters for the v2 defaults, 332,129 for v1 (C = 3, N = 5) (calf.md 8.1).
    """

    def __init__(self, input_dim: int = 512, num_classes: int = 17, chunk_size: int = 240,
                 receptive_field: int = 80, num_slots: int = 15):
        super().__init__()
        fn = "CALFNet"
        self.input_dim = check_int(fn, "input_dim", input_dim, minimum=1)
        self.num_classes = C = check_int(fn, "num_classes", num_classes, minimum=1)
        self.chunk_size = L = check_int(fn, "chunk_size", chunk_size, minimum=1)
        self.receptive_field = rf = check_int(fn, "receptive_field", receptive_field, minimum=1)
        self.num_slots = N = check_int(fn, "num_slots", num_slots, minimum=1)
        self.flat_length = _pooled(_pooled(_pooled(L)))
        if self.flat_length < 1:
            raise ValueError(f"{fn}: chunk_size must be >= 15 (three valid max-pools), got {L}")
        # steps 1-2: frame MLP
        self.frame_fc1 = nn.Linear(input_dim, 128)
        self.frame_fc2 = nn.Conv1d(128, 32, 1)
        # step 3: temporal pyramid
        kernels = (math.ceil(rf / 7), math.ceil(rf / 3), math.ceil(rf / 2), rf)
        self.pyramid = nn.ModuleList(_SameConv1d(32, w, k) for k, w in zip(kernels, (8, 16, 32, 64)))
        # step 5: capsule conv (no activation); step 6: BatchNorm over the L time positions
        self.capsule_conv = _SameConv1d(152, CAPSULE_DIM * C, 3)
        self.capsule_bn = nn.BatchNorm2d(L, eps=1e-3, momentum=0.01)
        # steps 9-13: spotting head
        self.spot_conv1 = _SameConv1d(17 * C, 32, 3)
        self.spot_conv2 = _SameConv1d(32, 16, 3)
        self.conf_pos = nn.Linear(16 * self.flat_length, 2 * N)
        self.classes = nn.Linear(16 * self.flat_length, N * C)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"CALFNet: x must be a torch tensor, got {type(x).__name__}")
        w = self.frame_fc1.weight
        # under autocast the layers cast their inputs themselves; otherwise a float64 or int input would
        # fail deep inside the first matmul with an unnamed dtype error
        if x.dtype != w.dtype and not (x.is_floating_point() and torch.is_autocast_enabled(x.device.type)):
            raise TypeError(f"CALFNet: x must have the model's dtype {str(w.dtype).replace('torch.', '')}, got "
                            f"{str(x.dtype).replace('torch.', '')}")
        if x.dim() == 4:
            if x.shape[1] != 1:
                raise ValueError(f"CALFNet: x must be (B, 1, L, F) or (B, L, F), got {tuple(x.shape)}")
            x = x.squeeze(1)
        if x.dim() != 3 or x.shape[1] != self.chunk_size or x.shape[2] != self.input_dim:
            raise ValueError(f"CALFNet: x must be (B, 1, {self.chunk_size}, {self.input_dim}) or "
                             f"(B, {self.chunk_size}, {self.input_dim}), got {tuple(x.shape)}")
        B, L, C = x.shape[0], self.chunk_size, self.num_classes
        h = F.relu(self.frame_fc1(x)).transpose(1, 2)            # (B, 128, L)
        h = F.relu(self.frame_fc2(h))                            # (B, 32, L)
        h = torch.cat([h] + [F.relu(conv(h)) for conv in self.pyramid], dim=1)  # (B, 152, L)
        raw = self.capsule_conv(h)                               # (B, 16C, L), channel k = d*C + c
        # time as the BN channel axis; contiguous because the CPU batch_norm backward in eval mode
        # returns wrong gradients for some strided views (torch 2.13, see tests/test_models_calf.py)
        caps = raw.transpose(1, 2).reshape(B, L, CAPSULE_DIM, C).contiguous()
        caps = torch.sigmoid(self.capsule_bn(caps))
        seg = safe_sqrt(((2 * caps - 1) ** 2).mean(dim=2))        # (B, L, C), calf.md 8.1 step 7
        s = torch.cat([raw, (1 - seg).transpose(1, 2)], dim=1)    # (B, 17C, L)
        s = F.max_pool1d(F.relu(s), 3, 2)
        s = F.max_pool1d(F.relu(self.spot_conv1(s)), 3, 2)
        s = F.max_pool1d(F.relu(self.spot_conv2(s)), 3, 2)
        flat = s.flatten(1)                                      # channel-major, index = ch*29 + t
        conf_pos = torch.sigmoid(self.conf_pos(flat)).view(B, self.num_slots, 2)
        cls = torch.softmax(self.classes(flat).view(B, self.num_slots, C), dim=-1)
        return seg, torch.cat([conf_pos, cls], dim=-1)
