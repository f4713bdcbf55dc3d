"""CALF (calf.md): the context-aware loss network, in sn-spotting's setting (``calf_variant="sn"``) or the
CVPR 2020 paper's SoccerNet-v1 setting (``calf_variant="v1"``: v1 loss, K table, sampling and schedule)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from spotkern._typing import Array, DeviceLike
from spotkern.data.batching import CALFTargetBuilder, FeatureBank
from spotkern.data.dataset import SpottingDataset
from spotkern.data.sampling import CALFChunkSampler, CALFV1ChunkSampler, calf_anchors
from spotkern.data.soccernet_classes import CLASSES_V1_CALF
from spotkern.inference.predict import predict_half_calf
from spotkern.losses.unchecked import calf_spotting_loss as _calf_spotting_loss_impl
from spotkern.ops.unchecked import calf_segmentation_loss as _calf_segmentation_loss_impl
from spotkern.train.config import CALF_DEFAULTS, CALF_V1_DEFAULTS, TrainConfig
from spotkern.train.methods.base import TrainingData, TrainingStage, preload_choice
from spotkern.train.models import calf_K
from spotkern.train.optim import linear_decay
from spotkern.train.registry import register_method


class CALFData(TrainingData):
    """CALF chunks (calf.md 9.2-9.4): edge-padded features, chunk TSE with -1 borders and spotting targets
    from the stored, never-mutated per-half encoding (defect D1 fixed)."""

    def __init__(self, stage: CALFStage, train_ds: SpottingDataset, device: DeviceLike, world_size: int) -> None:
        cfg = stage.cfg
        if stage.v1:
            check_v1_setting(train_ds, world_size)
        self.chunk_len = cfg.calf_chunk
        self.bank = FeatureBank(train_ds.halves, device, preload_choice(cfg))
        self.resident = self.bank.preloaded
        self.builder = CALFTargetBuilder(train_ds.halves, stage.K, device, self.chunk_len, cfg.calf_receptive_field,
                                         cfg.calf_slots)
        pos, bg = calf_anchors(self.builder.tses, stage.K, self.chunk_len)
        lengths = train_ds.lengths
        if stage.v1:  # calf.md 9.4: one batch per training half, every action + background chunks
            self.sampler = CALFV1ChunkSampler(lengths, pos, bg, self.chunk_len, cfg.calf_receptive_field, cfg.seed)
        else:
            self.sampler = CALFChunkSampler(lengths, pos, bg, self.chunk_len, cfg.calf_receptive_field,
                                            cfg.batch_size, cfg.chunks_per_epoch, cfg.seed)

    def step_sizes(self) -> np.ndarray:
        if isinstance(self.sampler, CALFV1ChunkSampler):
            return np.diff(self.sampler.offsets)
        return super().step_sizes()

    def features(self, h: torch.Tensor | np.ndarray, s: torch.Tensor | np.ndarray) -> torch.Tensor:
        return self.bank.gather(h, s, self.chunk_len, pad="edge")

    def targets(self, h: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tse, targets, _dropped = self.builder.build(h, s)
        return tse, targets


class CALFStage(TrainingStage):
    """CALFNet with L = 0.000367 (sn) or 0.002 (v1) * L_seg + L_spot (calf.md 5.2, 7)."""

    name = "calf"
    postprocess_kind = "calf"  # CALF's NMS, 20 s (calf.md 10.4)

    def __init__(self, cfg: TrainConfig, **kw: Any) -> None:
        super().__init__(cfg, **kw)
        self.v1 = cfg.calf_variant == "v1"
        self.K = calf_K(self.classes, self.fps) if self.classes else None
        self.K_t: torch.Tensor | None = None

    @property
    def weight_decay(self) -> float:
        return self.cfg.calf_weight_decay  # CALF trains with plain Adam (calf.md 9.1)

    @property
    def loss_scale_for_ranks(self) -> bool:
        return True  # both losses sum over the batch

    def lr_factor(self, epoch: int, global_step: int, total_steps: int) -> float:
        if self.v1:  # calf.md 9.1 (v1): lr -= (1e-3 - 1e-6) / epochs once per epoch, constant within it
            return linear_decay(epoch, self.cfg.decay_epochs or self.epochs, self.cfg.end_fraction)
        return super().lr_factor(epoch, global_step, total_steps)

    def model_spec(self) -> dict:
        cfg = self.cfg
        return {"kind": "calf", "kwargs": {"input_dim": self.feature_dim, "num_classes": self.C,
                                           "chunk_size": cfg.calf_chunk, "receptive_field": cfg.calf_receptive_field,
                                           "num_slots": cfg.calf_slots}}

    def training_data(self, train_ds: SpottingDataset, device: DeviceLike, world_size: int = 1) -> CALFData:
        self.K_t = torch.as_tensor(self.K, device=device)
        return CALFData(self, train_ds, device, world_size)

    def loss(self, outputs: tuple[torch.Tensor, torch.Tensor],
             targets: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        tse, spotting_targets = targets
        seg, spot = outputs[0].float(), outputs[1].float()
        variant = "v1" if self.v1 else "sn"  # calf.md 5.3: zones 4 and 5 differ
        return (self.cfg.lambda_seg * _calf_segmentation_loss_impl(tse, seg, self.K_t, variant=variant)
                + _calf_spotting_loss_impl(spotting_targets, spot))

    def raw_outputs(self, models: dict[str, nn.Module], features: Array, *, border_s: float,
                    cache: dict | None = None) -> dict:
        cfg = self.cfg
        stitched = predict_half_calf(models[self.name], features, chunk_len=cfg.calf_chunk,
                                     receptive_field=cfg.calf_receptive_field, batch_size=cfg.inference_batch)
        return {"confidence": stitched}


def check_v1_setting(train_ds: SpottingDataset, world_size: int) -> None:
    """calf_variant="v1" needs CALF's v1 classes (SoccerNet-v1 data read with soccernet_version=1) and a
    single process: its batches (one per half, 1 chunk or more) are not split across ranks."""
    if tuple(train_ds.classes) != CLASSES_V1_CALF:
        raise ValueError(f"train: calf_variant='v1' needs SoccerNet-v1 data with the classes {CLASSES_V1_CALF} "
                         f"(soccernet_version=1), got {len(train_ds.classes)} classes {tuple(train_ds.classes)[:4]}...")
    if world_size > 1:
        raise ValueError(f"train: calf_variant='v1' does not support distributed training (world_size={world_size}): "
                         "it trains one variable-size batch per half (calf.md 9.4), which cannot be split soundly "
                         "across ranks; run it in a single process")


register_method("calf", (CALFStage,), lambda variant: CALF_V1_DEFAULTS if variant == "v1" else CALF_DEFAULTS)
