"""Dense detection anchors (dense_anchors.md): the two-step method "dense" (a confidence model, then a
displacement model) and "dense-joint" (both heads on one network)."""
from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from spotkern._typing import Array, DeviceLike
from spotkern.data.batching import DenseTargetBuilder, FeatureBank
from spotkern.data.dataset import SpottingDataset
from spotkern.data.sampling import UniformChunkSampler
from spotkern.inference.layout import dense_border
from spotkern.inference.stitching import predict_half_dense
from spotkern.losses import unchecked
from spotkern.methods.base import MEDIUM_TOLERANCES, TrainingData, TrainingStage, preload_choice
from spotkern.methods.config import required
from spotkern.methods.models import register_model_kind
from spotkern.methods.registry import register_method
from spotkern.methods.schedule import mixup_apply
from spotkern.models.heads import DenseSpotter
from spotkern.models.trunks import fit_trunk_kwargs

# The config section of the dense methods (dense_anchors.md 5): batches of 256, 8,192 chunks per epoch,
# validation every 10 epochs, lr and wd decaying to 1 %. lambda_seg and calf_slots do not apply (None).
DENSE_DEFAULTS = {"batch_size": 256, "chunks_per_epoch": 8192, "validate_every": 10, "end_fraction": 0.01}


class DenseData(TrainingData):
    """Uniform chunks (dense_anchors.md 5.3), zero-padded features and dense targets on the device."""

    def __init__(self, stage: DenseStage, train_ds: SpottingDataset, device: DeviceLike) -> None:
        cfg = stage.cfg
        self.chunk_len = stage.chunk_len
        self.bank = FeatureBank(train_ds.halves, device, preload_choice(cfg))
        self.resident = self.bank.preloaded
        self.builder = DenseTargetBuilder(train_ds.halves, stage.C, stage.rc, stage.rd, device,
                                          cfg.positive_weight_confidence)
        self.builder.max_events(self.chunk_len)  # computed here on the host, not while the step is traced
        self.sampler = UniformChunkSampler(train_ds.lengths, self.chunk_len, required(cfg.batch_size, "batch_size"),
                                           required(cfg.chunks_per_epoch, "chunks_per_epoch"), cfg.seed)

    def features(self, h: torch.Tensor | np.ndarray, s: torch.Tensor | np.ndarray) -> torch.Tensor:
        return self.bank.gather(h, s, self.chunk_len, pad="zero")

    def targets(self, h: torch.Tensor, s: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.builder.build(h, s, self.chunk_len)


class DenseStage(TrainingStage):
    """A DenseSpotter (FrameMLP -> trunk -> ``heads``) trained on dense-anchor targets."""

    heads: ClassVar[tuple]

    @property
    def rc(self) -> float:
        """Confidence radius in frames."""
        return self.cfg.radius_confidence * self.fps

    @property
    def rd(self) -> float:
        """Displacement radius in frames (dense_anchors.md 0: a multiple of rc)."""
        return self.rc * self.cfg.displacement_multiplier

    def model_spec(self) -> dict:
        cfg = self.cfg
        # L = floor(fps * chunk_seconds) (dense_anchors.md 0), fitted to what the trunk accepts
        kw = fit_trunk_kwargs(cfg.trunk, int(math.floor(self.fps * cfg.chunk_seconds)), cfg.trunk_kwargs)
        return {"kind": "dense", "kwargs": {"trunk": cfg.trunk, "input_dim": self.feature_dim,
                                            "num_classes": self.C, "heads": list(self.heads), **kw}}

    @property
    def chunk_len(self) -> int:
        return int(self.model_spec()["kwargs"]["chunk_size"])

    def training_data(self, train_ds: SpottingDataset, device: DeviceLike, world_size: int = 1) -> DenseData:
        return DenseData(self, train_ds, device)

    def loss(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        loss: torch.Tensor | float = 0.0
        if "confidence" in self.heads:
            loss = loss + unchecked.dense_confidence_loss(outputs["confidence"].float(), targets["confidence"],
                                                    targets["confidence_weight"])
        if "displacement" in self.heads:
            loss = loss + unchecked.dense_displacement_loss(outputs["displacement"].float(), targets["displacement"],
                                                      targets["displacement_weight"])
        return loss  # type: ignore[return-value]  # a tensor: every stage has a head

    # ------------------------------------------------------------------ detection
    def _head(self, model, features, head: str, border_s: float):
        L = model.trunk.chunk_size
        return predict_half_dense(model, features, chunk_len=L, border=dense_border(self.fps, L, border_s), head=head,
                                  batch_size=self.cfg.inference_batch)


class DenseConfidence(DenseStage):
    """Step 1 of the two-step method: the confidence head, with mixup (dense_anchors.md 5.5)."""

    name = "confidence"
    heads = ("confidence",)

    @property
    def mixup_alpha(self) -> float:
        return self.cfg.mixup_alpha

    def mix(self, x: torch.Tensor, targets: dict[str, torch.Tensor], lam: torch.Tensor,
            perm: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, c, w = mixup_apply(lam, perm, x, targets["confidence"], targets["confidence_weight"])
        return x, dict(targets, confidence=c, confidence_weight=w)

    def raw_outputs(self, models: dict[str, nn.Module], features: Array, *, border_s: float,
                    cache: dict | None = None) -> dict:
        cache = cache or {}
        conf = cache.get("confidence")
        if conf is None:
            conf = self._head(models[self.name], features, "confidence", border_s)
        return {"confidence": conf}


class DenseDisplacement(DenseStage):
    """Step 2: the displacement head, detecting with the best confidence model of step 1; validated with
    the "medium" metric (dense_anchors.md 5.7). Its step-2 overrides default to step 1's values."""

    name = "displacement"
    heads = ("displacement",)
    uses_stages = ("confidence",)
    has_displacement = True

    def _override(self, name: str):
        v = getattr(self.cfg, "displacement_" + name)
        return getattr(self.cfg, name) if v is None else v

    @property
    def lr(self) -> float:
        return self._override("lr")

    @property
    def weight_decay(self) -> float:
        return self._override("weight_decay")

    @property
    def sam_rho(self) -> float:
        return self._override("sam_rho")

    @property
    def epochs(self) -> int:
        return self._override("epochs")

    @property
    def validation_metric(self) -> list[int]:
        return MEDIUM_TOLERANCES

    def raw_outputs(self, models: dict[str, nn.Module], features: Array, *, border_s: float,
                    cache: dict | None = None) -> dict:
        cache = cache or {}
        conf = cache.get("confidence")
        if conf is None:
            conf = self._head(models["confidence"], features, "confidence", border_s)
        disp = self._head(models[self.name], features, "displacement", border_s)  # rd units
        return {"confidence": conf, "displacement": disp, "radius_displacement": self.rd}


class DenseJoint(DenseStage):
    """Both heads on one network ("dense-joint")."""

    name = "joint"
    heads = ("confidence", "displacement")
    has_displacement = True

    def raw_outputs(self, models: dict[str, nn.Module], features: Array, *, border_s: float,
                    cache: dict | None = None) -> dict:
        model = models[self.name]
        return {"confidence": self._head(model, features, "confidence", border_s),
                "displacement": self._head(model, features, "displacement", border_s),
                "radius_displacement": self.rd}


def _dense_defaults(cfg: object) -> dict:
    return DENSE_DEFAULTS


def _build_dense_spotter(kwargs: dict) -> nn.Module:
    return DenseSpotter(**{**kwargs, "heads": tuple(kwargs["heads"])})


register_model_kind("dense", _build_dense_spotter)
register_method("dense", (DenseConfidence, DenseDisplacement), _dense_defaults,
                help_defaults=(("dense", DENSE_DEFAULTS),))
register_method("dense-joint", (DenseJoint,), _dense_defaults, help_defaults=(("dense-joint", DENSE_DEFAULTS),))
