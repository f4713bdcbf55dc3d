"""CALF (calf.md): the context-aware loss network, in sn-spotting's setting (``calf_variant="sn"``,
``CALFStage``) or the CVPR 2020 paper's SoccerNet-v1 setting (``calf_variant="v1"``, ``CALFV1Stage``: v1 loss,
K table, sampling and schedule), with the method's config section (defaults and checks) and CALF's K table."""
from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from spotkern._typing import Array, DeviceLike
from spotkern.data.batching import CALFTargetBuilder, FeatureBank
from spotkern.data.dataset import SpottingDataset
from spotkern.data.sampling import CALFChunkSampler, CALFV1ChunkSampler, calf_anchors
from spotkern.data.soccernet_classes import CLASSES_V1_CALF, CLASSES_V2, K_V1_SECONDS, K_V2_SECONDS
from spotkern.inference.stitching import predict_half_calf
from spotkern.losses import unchecked as losses_unchecked
from spotkern.methods.base import TrainingData, TrainingStage, preload_choice
from spotkern.methods.config import TrainConfig, required
from spotkern.methods.models import register_model_kind
from spotkern.methods.registry import register_method
from spotkern.methods.schedule import linear_decay
from spotkern.models.calf import CALFNet
from spotkern.ops import unchecked as ops_unchecked

# The config section of CALF. calf.md 9.1 (sn): an epoch is 18,000 chunks in batches of 32, validation every
# 20 epochs; the learning rate decays linearly from 1e-3 to 1e-6 as in the paper (spotkern uses the linear
# schedule for every method rather than sn's ReduceLROnPlateau); the loss weight and slot count are sn's
# (calf.md 5.2, 4: 0.000367, N = 15). calf_variant="v1" (calf.md 9.1 v1 column, 9.4, 5.2, 4): lambda_seg
# 0.002, N = 5, validation every 20 epochs, lr 1e-3 linearly to 1e-6; batch_size and chunks_per_epoch do not
# apply (one batch per training half holding every action of the half plus background chunks) and stay None.
CALF_DEFAULTS = {"batch_size": 32, "chunks_per_epoch": 18000, "validate_every": 20, "end_fraction": 0.001,
                 "lambda_seg": 0.000367, "calf_slots": 15}
CALF_V1_DEFAULTS = {"validate_every": 20, "end_fraction": 0.001, "lambda_seg": 0.002, "calf_slots": 5}
#: fields that calf_variant="v1" does not use: giving one is an error rather than silently ignored
V1_UNUSED_FIELDS = ("batch_size", "chunks_per_epoch")
# Fallback K (seconds) for non-SoccerNet class lists: symmetric, like most v2 classes (calf.md 2.1).
GENERIC_K_SECONDS = (-20, -10, 10, 20)


def calf_K(classes: Sequence[str], fps: float) -> np.ndarray:
    """(4, C) int32 K in frames: the v2 table for the SoccerNet-v2 classes (calf.md 2.1), the v1 table for
    CALF's v1 classes goal/card/subs (2.2), else a generic one. Seconds -> frames element-wise, K_s * fps
    rounded to the nearest frame (defect D3; an fps of 12.5 or 1.5 is not rounded to an integer first)."""
    if tuple(classes) == CLASSES_V2:
        ks = K_V2_SECONDS
    elif tuple(classes) == CLASSES_V1_CALF:
        ks = K_V1_SECONDS
    else:
        warnings.warn("calf: no K table for these classes; using K = (-20, -10, 10, 20) s for every class",
                      stacklevel=2)
        ks = np.repeat(np.asarray(GENERIC_K_SECONDS, dtype=np.int64)[:, None], len(classes), axis=1)
    return np.round(np.asarray(ks, dtype=np.float64) * float(fps)).astype(np.int32)


class CALFData(TrainingData):
    """CALF chunks (calf.md 9.2-9.4): edge-padded features, chunk TSE with -1 borders and spotting targets
    from the stored, never-mutated per-half encoding (no defect D1)."""

    def __init__(self, stage: CALFStage, train_ds: SpottingDataset, device: DeviceLike, world_size: int) -> None:
        cfg = stage.cfg
        stage.check_training(train_ds, world_size)
        self.chunk_len = cfg.calf_chunk
        self.bank = FeatureBank(train_ds.halves, device, preload_choice(cfg))
        self.resident = self.bank.preloaded
        K = stage.K_table()
        self.builder = CALFTargetBuilder(train_ds.halves, K, device, self.chunk_len, cfg.calf_receptive_field,
                                         required(cfg.calf_slots, "calf_slots"))
        pos, bg = calf_anchors(self.builder.tses, K, self.chunk_len)
        self.sampler = stage.sampler(train_ds.lengths, pos, bg)

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
    """CALFNet with L = lambda_seg * L_seg + L_spot (calf.md 5.2, 7), in sn-spotting's setting."""

    name = "calf"
    postprocess_kind = "calf"  # CALF's NMS, 20 s (calf.md 10.4)
    #: the segmentation loss's zones 4 and 5 (calf.md 5.3)
    segmentation_variant = "sn"

    def __init__(self, cfg: TrainConfig, **kw: Any) -> None:
        super().__init__(cfg, **kw)
        self.K = calf_K(self.classes, self.fps) if self.classes else None
        self.K_t: torch.Tensor | None = None

    @property
    def weight_decay(self) -> float:
        return self.cfg.calf_weight_decay  # CALF trains with plain Adam (calf.md 9.1)

    @property
    def loss_scale_for_ranks(self) -> bool:
        return True  # both losses sum over the batch

    def model_spec(self) -> dict:
        cfg = self.cfg
        return {"kind": "calf", "kwargs": {"input_dim": self.feature_dim, "num_classes": self.C,
                                           "chunk_size": cfg.calf_chunk, "receptive_field": cfg.calf_receptive_field,
                                           "num_slots": cfg.calf_slots}}

    def K_table(self) -> np.ndarray:
        """(4, C) K in frames of the stage's classes (a stage built without classes has none)."""
        if self.K is None:
            raise ValueError(f"{type(self).__name__}: built without classes, so it has no K table")
        return self.K

    def check_training(self, train_ds: SpottingDataset, world_size: int) -> None:
        """Refuse training data or a process count this stage cannot train on (nothing to refuse here)."""

    def sampler(self, lengths: np.ndarray, positives: Any, background: Any) -> Any:
        """The chunk sampler (calf.md 9.3): batches of ``batch_size``, ``chunks_per_epoch`` chunks an epoch."""
        cfg = self.cfg
        return CALFChunkSampler(lengths, positives, background, cfg.calf_chunk, cfg.calf_receptive_field,
                                required(cfg.batch_size, "batch_size"),
                                required(cfg.chunks_per_epoch, "chunks_per_epoch"), cfg.seed)

    def training_data(self, train_ds: SpottingDataset, device: DeviceLike, world_size: int = 1) -> CALFData:
        self.K_t = torch.as_tensor(self.K_table(), device=device)
        return CALFData(self, train_ds, device, world_size)

    def loss(self, outputs: tuple[torch.Tensor, torch.Tensor],
             targets: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        tse, spotting_targets = targets
        seg, spot = outputs[0].float(), outputs[1].float()
        return (required(self.cfg.lambda_seg, "lambda_seg") * ops_unchecked.calf_segmentation_loss(tse, seg, self.K_t,
                                                                   variant=self.segmentation_variant)
                + losses_unchecked.calf_spotting_loss(spotting_targets, spot))

    def raw_outputs(self, models: dict[str, nn.Module], features: Array, *, border_s: float,
                    cache: dict | None = None) -> dict:
        cfg = self.cfg
        stitched = predict_half_calf(models[self.name], features, chunk_len=cfg.calf_chunk,
                                     receptive_field=cfg.calf_receptive_field, batch_size=cfg.inference_batch)
        return {"confidence": stitched}


class CALFV1Stage(CALFStage):
    """CALF in the CVPR 2020 paper's SoccerNet-v1 setting (``calf_variant="v1"``): the v1 segmentation loss
    (calf.md 5.3), the v1 sampling (9.4: one batch per training half) and a learning rate that decays once per
    epoch (9.1). Needs CALF's v1 classes and a single process (``check_v1_setting``)."""

    segmentation_variant = "v1"

    def check_training(self, train_ds: SpottingDataset, world_size: int) -> None:
        check_v1_setting(train_ds, world_size)

    def sampler(self, lengths: np.ndarray, positives: Any, background: Any) -> Any:
        """calf.md 9.4: one batch per training half, every action of the half plus background chunks."""
        cfg = self.cfg
        return CALFV1ChunkSampler(lengths, positives, background, cfg.calf_chunk, cfg.calf_receptive_field, cfg.seed)

    def lr_factor(self, epoch: int, global_step: int, total_steps: int) -> float:
        # calf.md 9.1 (v1): lr -= (1e-3 - 1e-6) / epochs once per epoch, constant within it
        end = required(self.cfg.end_fraction, "end_fraction")
        return linear_decay(epoch, self.cfg.decay_epochs or self.epochs, end)


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


def _calf_defaults(cfg: Any) -> dict:
    return CALF_V1_DEFAULTS if getattr(cfg, "calf_variant", "sn") == "v1" else CALF_DEFAULTS


def _calf_stages(cfg: TrainConfig) -> tuple:
    return (CALFV1Stage,) if cfg.calf_variant == "v1" else (CALFStage,)


def check_calf_config(cfg: TrainConfig) -> None:
    """CALF's own checks of a TrainConfig (its other fields are already type-checked): the v1 setting's data
    version and unused fields, the slot count and the segmentation loss weight."""
    if cfg.calf_variant == "v1":
        if cfg.soccernet_version != 1:
            raise ValueError(f"TrainConfig: calf_variant='v1' needs SoccerNet-v1 data (Labels.json, classes "
                             f"goal/card/subs): set soccernet_version=1, got {cfg.soccernet_version}")
        for name in V1_UNUSED_FIELDS:
            if getattr(cfg, name) is not None:
                raise ValueError(f"TrainConfig: {name} does not apply to calf_variant='v1' (one batch per "
                                 f"training half, calf.md 9.4); leave it unset, got {getattr(cfg, name)}")
    if cfg.calf_slots is None or cfg.calf_slots < 1:
        raise ValueError(f"TrainConfig: calf_slots must be an integer >= 1, got {cfg.calf_slots!r}")
    w = cfg.lambda_seg
    if isinstance(w, bool) or not isinstance(w, numbers.Real) or not (math.isfinite(w) and w >= 0):
        raise ValueError(f"TrainConfig: lambda_seg must be a finite number >= 0, got {w!r}")


register_model_kind("calf", lambda kwargs: CALFNet(**kwargs))
register_method("calf", _calf_stages, _calf_defaults, check=check_calf_config,
                help_defaults=(("calf", CALF_DEFAULTS), ("calf v1", CALF_V1_DEFAULTS)),
                own_fields={"calf_variant": "sn"})
