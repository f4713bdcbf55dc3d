"""Frame encoders: ``(N, 224, 224, 3)`` uint8 BGR frames (``spotkern.video.frames``) -> ``(N, D)`` float32 features.

``build_encoder(name, weights=None, device="cpu")`` with ``name`` in ``ENCODERS``:

* ``resnet152-soccernet``: Keras's ResNet-152 cut at ``avg_pool`` (2048-d) with Keras's "caffe"
  preprocessing applied to the BGR frames as SoccerNet does (soccernet_features.md 2), loaded from the
  weights file the user gives (``spotkern.video.resnet``); ``digest`` is the file's sha256.
* ``tiny``: no weights file, a small fixed network for tests, the demo and CPU smoke runs. Three strided
  convolutions (ReLU) with weights drawn once from a fixed seed (numpy's PCG64, the same on every
  machine), global average pooling (``TINY_CONV`` dims), followed by the frame's mean colours over a 4 x 4
  grid (48 dims): the features carry what the frame shows (its colours and layout) as well as its texture.
  Both parts are scaled to about unit spread on natural frames (``TINY_CONV_SCALE``, colours centred on grey
  and scaled by ``TINY_COLOUR_SCALE``), as a network downstream expects its inputs. ``digest`` is the sha256
  of its definition and weights.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spotkern.video.resnet import build_resnet152_soccernet, caffe_preprocess

#: the names ``build_encoder`` takes
ENCODERS = ("resnet152-soccernet", "tiny")
TINY_SEED = 0
TINY_CHANNELS = (16, 32, 80)  # conv widths; the last is TINY_CONV
TINY_CONV = TINY_CHANNELS[-1]
TINY_GRID = 4  # mean colours over a TINY_GRID x TINY_GRID grid
TINY_DIM = TINY_CONV + 3 * TINY_GRID * TINY_GRID
#: output scales: the pooled conv responses are of order 1e-2, the mean colours lie in [0, 1]
TINY_CONV_SCALE = 50.0
TINY_COLOUR_SCALE = 4.0


class FrameEncoder:
    """An encoder of 224 x 224 BGR uint8 frames: ``name``, ``dim`` (feature size), ``digest`` (sha256 of
    the weights file, or of the definition), ``device``; ``encode(frames)`` -> ``(N, dim)`` float32."""

    def __init__(self, name: str, dim: int, digest: str, module: nn.Module,
                 preprocess: Callable[[np.ndarray], torch.Tensor], device: str = "cpu") -> None:
        self.name = name
        self.dim = int(dim)
        self.digest = digest
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()
        self._preprocess = preprocess
        self._forward: Callable[[torch.Tensor], torch.Tensor] = self.module
        self.channels_last = False
        self.bf16 = False
        self.compiled = False

    def configure(self, *, channels_last: bool = False, bf16: bool = False, compile: bool = False) -> FrameEncoder:
        """Run the network in channels_last memory format, under bf16 autocast (features still returned as
        float32; they differ from float32's by bf16's rounding) and/or through ``torch.compile``; returns
        ``self``. bench/bench_video_extract.py measures where each pays."""
        self.channels_last, self.bf16, self.compiled = bool(channels_last), bool(bf16), bool(compile)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.module = self.module.to(memory_format=fmt)  # type: ignore[call-overload]  # Module.to takes it
        self._forward = torch.compile(self.module) if compile else self.module
        return self

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """``(N, 224, 224, 3)`` uint8 BGR -> ``(N, dim)`` float32 numpy, under ``torch.inference_mode``."""
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
            raise TypeError(f"FrameEncoder.encode: frames must be a uint8 numpy array, got "
                            f"{type(frames).__name__} {getattr(frames, 'dtype', '')}")
        if frames.ndim != 4 or frames.shape[1:] != (224, 224, 3):
            raise ValueError(f"FrameEncoder.encode: frames must be (N, 224, 224, 3), got {frames.shape}")
        if len(frames) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            x = self._preprocess(frames).to(self.device)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = self._forward(x)
            return y.float().cpu().numpy().reshape(len(frames), self.dim)

    def __repr__(self) -> str:
        return f"FrameEncoder({self.name!r}, dim={self.dim}, digest={self.digest[:12]}..., device={self.device})"


class TinyFrameNet(nn.Module):
    """``tiny``'s network: ``(N, 3, 224, 224)`` float in [0, 1] (BGR) -> ``(N, TINY_DIM)``."""

    def __init__(self, seed: int = TINY_SEED) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        specs = [(3, TINY_CHANNELS[0], 7, 4), (TINY_CHANNELS[0], TINY_CHANNELS[1], 3, 2),
                 (TINY_CHANNELS[1], TINY_CHANNELS[2], 3, 2)]
        self.convs = nn.ModuleList()
        for cin, cout, k, s in specs:
            conv = nn.Conv2d(cin, cout, k, stride=s, padding=k // 2)
            fan_in = cin * k * k
            w = rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / fan_in)
            b = rng.uniform(-0.1, 0.1, cout)
            conv.load_state_dict({"weight": torch.from_numpy(w.astype(np.float32)),
                                  "bias": torch.from_numpy(b.astype(np.float32))})
            self.convs.append(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        colours = (F.adaptive_avg_pool2d(x, TINY_GRID).flatten(1) - 0.5) * TINY_COLOUR_SCALE
        h = x - 0.5
        for conv in self.convs:
            h = F.relu(conv(h))
        return torch.cat([h.mean(dim=(2, 3)) * TINY_CONV_SCALE, colours], dim=1)


def _tiny_preprocess(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)


def _module_digest(module: nn.Module, definition: str) -> str:
    h = hashlib.sha256(definition.encode())
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def build_encoder(name: str, weights: str | None = None, device: str = "cpu") -> FrameEncoder:
    """The encoder ``name`` (``ENCODERS``) on ``device``. ``resnet152-soccernet`` needs ``weights`` (Keras's
    ``resnet152_weights_tf_dim_ordering_tf_kernels.h5`` layout); ``tiny`` takes none. An unknown name or a
    missing/extra weights file is a ``ValueError``."""
    if name == "tiny":
        if weights is not None:
            raise ValueError("build_encoder: the tiny encoder takes no weights file")
        module = TinyFrameNet(TINY_SEED)
        definition = (f"tiny v2 seed={TINY_SEED} channels={TINY_CHANNELS} grid={TINY_GRID} "
                      f"scales={TINY_CONV_SCALE},{TINY_COLOUR_SCALE}")
        return FrameEncoder("tiny", TINY_DIM, _module_digest(module, definition), module, _tiny_preprocess, device)
    if name == "resnet152-soccernet":
        if not weights:
            raise ValueError("build_encoder: resnet152-soccernet needs a weights file (Keras's "
                             "resnet152_weights_tf_dim_ordering_tf_kernels.h5): pass weights= / --weights")
        resnet, digest = build_resnet152_soccernet(weights, device=device)
        return FrameEncoder(name, 2048, digest, resnet, caffe_preprocess, device)
    raise ValueError(f"build_encoder: unknown encoder {name!r}; the encoders are {', '.join(ENCODERS)}")
