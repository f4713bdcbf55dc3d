"""A whole training method in one file, as CONTRIBUTING.md describes: "toy-linear", a per-frame linear
classifier trained on the dense confidence targets. Importing this module registers it; nothing else in
spotkern changes. tests/test_toy_method.py trains, validates and predicts with it.

It has its own model kind (``toy-linear``), its own stage (model spec, data path, loss, detection), and its
own config section: the defaults of the method-dependent fields and one check of its own."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from spotkern.data.batching import DenseTargetBuilder, FeatureBank
from spotkern.data.sampling import UniformChunkSampler
from spotkern.inference.layout import dense_border
from spotkern.inference.stitching import predict_half_dense
from spotkern.losses.dense import dense_confidence_loss
from spotkern.methods import TrainingData, TrainingStage, register_method, register_model_kind

NAME = "toy-linear"
TOY_DEFAULTS = {"batch_size": 4, "chunks_per_epoch": 8, "validate_every": 1, "end_fraction": 0.5}
#: the toy's own rule: its chunks stay short (a linear model sees one frame anyway)
MAX_CHUNK_SECONDS = 64.0


class ToyLinear(nn.Module):
    """(B, L, F) -> {"confidence": (B, L, C) logits}: one linear layer per frame."""

    def __init__(self, input_dim: int, num_classes: int, chunk_size: int) -> None:
        super().__init__()
        self.chunk_size = chunk_size
        self.linear = nn.Linear(input_dim, num_classes)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"confidence": self.linear(x)}

    @property
    def trunk(self) -> ToyLinear:  # predict_half_dense's callers read model.trunk.chunk_size
        return self


class ToyData(TrainingData):
    def __init__(self, stage: ToyStage, train_ds: Any, device: torch.device) -> None:
        cfg = stage.cfg
        self.chunk_len = stage.chunk_len
        self.bank = FeatureBank(train_ds.halves, device, "auto")
        self.resident = self.bank.preloaded
        rc = cfg.radius_confidence * stage.fps
        self.builder = DenseTargetBuilder(train_ds.halves, stage.C, rc, rc, device, cfg.positive_weight_confidence)
        self.builder.max_events(self.chunk_len)
        self.sampler = UniformChunkSampler(train_ds.lengths, self.chunk_len, cfg.batch_size, cfg.chunks_per_epoch,
                                           cfg.seed)

    def features(self, h: torch.Tensor | np.ndarray, s: torch.Tensor | np.ndarray) -> torch.Tensor:
        return self.bank.gather(h, s, self.chunk_len, pad="zero")

    def targets(self, h: torch.Tensor, s: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.builder.build(h, s, self.chunk_len)


class ToyStage(TrainingStage):
    name = "toy"
    postprocess_kind = "dense"
    has_displacement = False

    @property
    def chunk_len(self) -> int:
        return int(math.floor(self.fps * self.cfg.chunk_seconds))

    def model_spec(self) -> dict:
        return {"kind": NAME, "kwargs": {"input_dim": self.feature_dim, "num_classes": self.C,
                                         "chunk_size": self.chunk_len}}

    def training_data(self, train_ds: Any, device: torch.device, world_size: int = 1) -> ToyData:
        return ToyData(self, train_ds, device)

    def loss(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        return dense_confidence_loss(outputs["confidence"].float(), targets["confidence"],
                                     targets["confidence_weight"])

    def raw_outputs(self, models: dict[str, nn.Module], features: Any, *, border_s: float,
                    cache: dict | None = None) -> dict:
        model = models[self.name]
        L = self.chunk_len
        conf = predict_half_dense(model, features, chunk_len=L, border=dense_border(self.fps, L, border_s),
                                  head="confidence", batch_size=self.cfg.inference_batch)
        return {"confidence": conf}


def check_toy_config(cfg: Any) -> None:
    if cfg.chunk_seconds > MAX_CHUNK_SECONDS:
        raise ValueError(f"TrainConfig: chunk_seconds must be <= {MAX_CHUNK_SECONDS:g} for method {NAME!r}, "
                         f"got {cfg.chunk_seconds:g}")


register_model_kind(NAME, lambda kwargs: ToyLinear(**kwargs))
register_method(NAME, (ToyStage,), lambda cfg: TOY_DEFAULTS, check=check_toy_config,
                help_defaults=((NAME, TOY_DEFAULTS),))
