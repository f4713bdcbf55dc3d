"""What a training stage is: the one object that owns everything method-specific about one network.

A training *method* (``TrainConfig.method``) is a sequence of stages registered in
``spotkern.methods.registry`` (dense: confidence then displacement; dense-joint: joint; calf: calf). A stage
owns its model spec, hyper-parameters, sampler, on-device batch builder (features + targets), loss,
detection (raw per-half outputs, then post-processing) and validation metric, so that
``StageTrainer``, the step engine and ``predict`` never branch on a method name.

Subclasses implement the abstract members; everything called inside the training step (``batch``,
``mix``, ``loss``) must be traceable by ``torch.compile(fullgraph=True)`` and must not read device data.
"""
from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from spotkern._typing import Array
from spotkern.data.dataset import SpottingDataset
from spotkern.inference.scores import raw_numpy
from spotkern.methods.config import TrainConfig, required
from spotkern.methods.schedule import linear_decay, mixup_apply
from spotkern.postprocess import default_postprocess

#: the "medium" metric of displacement models: tolerances 1..10 s (dense_anchors.md 5.7)
MEDIUM_TOLERANCES = list(range(1, 11))


def describe_metric(name: str) -> str:
    """A validation metric's name as the training log prints it: "loose" -> "loose: tolerances 5-60 s",
    "medium" -> "medium: tolerances 1-10 s"."""
    spelled = {"loose": "tolerances 5-60 s", "tight": "tolerances 1-5 s",
               "medium": f"tolerances {MEDIUM_TOLERANCES[0]}-{MEDIUM_TOLERANCES[-1]} s"}
    return f"{name}: {spelled[name]}" if name in spelled else name


class TrainingData(abc.ABC):
    """The on-device data path of a stage: a sampler (pure function of (seed, epoch)) and a traceable
    batch builder. ``sampler`` has ``steps_per_epoch`` and ``epoch_plan(epoch) -> (half, start)``."""

    sampler: Any  # steps_per_epoch, batch_size, epoch_plan, batch (spotkern.data.sampling)
    chunk_len: int
    #: True when the features are resident on the training device (the step gathers them itself);
    #: False when they are gathered on the host from memory-mapped files and passed to the step
    resident: bool

    def step_sizes(self) -> np.ndarray:
        """(S,) global chunks of every step of an epoch (fixed batches unless overridden)."""
        return np.full(self.sampler.steps_per_epoch, self.sampler.batch_size, dtype=np.int64)

    @abc.abstractmethod
    def features(self, h: torch.Tensor | np.ndarray, s: torch.Tensor | np.ndarray) -> torch.Tensor:
        """(B, L, F) float32 chunks of halves ``h`` at starts ``s`` (device tensors; host arrays when not
        ``resident``). Traceable when resident."""

    @abc.abstractmethod
    def targets(self, h: torch.Tensor, s: torch.Tensor) -> Any:
        """Targets of the chunks, a tensor, tuple or dict of device tensors. Traceable, sync-free."""


class TrainingStage(abc.ABC):
    """One network of a training method. Light to build (no data): ``predict`` builds stages from a
    run's config to detect with its checkpoints; ``training_data`` adds the data path for training.

    cfg: the run's TrainConfig; feature_dim, num_classes, fps, classes: the dataset's.
    """

    #: stage name: the checkpoint folder ``<run>/<name>/`` and the log's ``stage`` column
    name: ClassVar[str]
    #: earlier stages of the method whose best model this stage's detection also needs
    uses_stages: ClassVar[tuple] = ()
    #: which default post-processing applies (``spotkern.postprocess.default_postprocess``): "dense" or "calf";
    #: also the ``kind`` of the raw scores it saves (``spotkern.inference.scores``)
    postprocess_kind: ClassVar[str] = "dense"
    #: whether ``raw_outputs`` holds displacements (then post-processing scatters the scores by them first)
    has_displacement: ClassVar[bool] = False

    def __init__(self, cfg: TrainConfig, *, feature_dim: int, num_classes: int, fps: float,
                 classes: Sequence[str] = ()) -> None:
        self.cfg, self.feature_dim, self.C, self.fps = cfg, int(feature_dim), int(num_classes), float(fps)
        self.classes = tuple(classes)

    # ------------------------------------------------------------------ hyper-parameters
    @property
    def lr(self) -> float:
        return self.cfg.lr

    @property
    def weight_decay(self) -> float:
        return self.cfg.weight_decay

    @property
    def sam_rho(self) -> float:
        return self.cfg.sam_rho

    @property
    def epochs(self) -> int:
        return self.cfg.epochs

    @property
    def mixup_alpha(self) -> float:
        """Mixup's alpha for this stage's batches (0 = off)."""
        return 0.0

    @property
    def loss_scale_for_ranks(self) -> bool:
        """True when the loss is a sum over the batch: it is multiplied by the world size so that the
        mean of the ranks' gradients equals the gradient of the global sum."""
        return False

    def lr_factor(self, epoch: int, global_step: int, total_steps: int) -> float:
        """Learning-rate (and decay) multiplier of a step: linear decay per step (dense_anchors.md 5.2)."""
        return linear_decay(global_step, total_steps, required(self.cfg.end_fraction, "end_fraction"))

    # ------------------------------------------------------------------ model
    @abc.abstractmethod
    def model_spec(self) -> dict:
        """Plain-dict description of the network (stored in checkpoints; ``build_model`` rebuilds it)."""

    # ------------------------------------------------------------------ training (traceable)
    @abc.abstractmethod
    def training_data(self, train_ds: SpottingDataset, device: torch.device, world_size: int = 1) -> TrainingData:
        """The sampler and on-device batch builder of ``train_ds``."""

    def mix(self, x: torch.Tensor, targets: Any, lam: torch.Tensor, perm: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Mixup of a batch (dense_anchors.md 5.5); stages with mixup override which targets mix."""
        return mixup_apply(lam, perm, x)[0], targets

    @abc.abstractmethod
    def loss(self, outputs: Any, targets: Any) -> torch.Tensor:
        """0-d training loss of a batch from the network's outputs (unchecked internal loss path)."""

    # ------------------------------------------------------------------ detection and validation
    @property
    def validation_metric(self) -> str | Sequence[float]:
        """What ``validate`` maximises: "loose" or a list of tolerances in seconds."""
        return "loose"

    @property
    def validation_metric_name(self) -> str:
        """Short name of ``validation_metric`` in the logs and metrics.csv: "loose", "tight", "medium"
        (tolerances 1, 2, ..., 10 s, ``MEDIUM_TOLERANCES``) or "tolerances" (another list);
        ``describe_metric`` spells it out."""
        m = self.validation_metric
        return m if isinstance(m, str) else ("medium" if m == MEDIUM_TOLERANCES else "tolerances")

    @abc.abstractmethod
    def raw_outputs(self, models: dict[str, nn.Module], features: Array, *, border_s: float,
                    cache: dict | None = None) -> dict:
        """Per-half network outputs before post-processing: {"confidence": (T, C) float32 tensor,
        "displacement": (T, C) rd units (optional), "radius_displacement": rd in frames (with it)}.
        models: {stage name: model} of this stage and ``uses_stages``; cache: precomputed entries
        (e.g. the stored confidences of the two-step validation) used instead of running a model."""

    def postprocess(self, raw: dict) -> np.ndarray:
        """(T, C) float32 post-NMS scores (-1 = no detection) of one half from ``raw_outputs``, with the run's
        default post-processing: the same path as ``spotkern predict`` without a post-processing file."""
        raw = raw_numpy(raw)
        classes = self.classes or [str(c) for c in range(self.C)]
        pp = default_postprocess(self.cfg, classes, kind=self.postprocess_kind, has_displacement=self.has_displacement)
        return pp.apply(raw, self.fps)  # type: ignore[return-value]  # numpy raw (raw_numpy) in, numpy out

    def detect(self, models: dict[str, nn.Module], features: Array, *, border_s: float,
               cache: dict | None = None) -> np.ndarray:
        return self.postprocess(self.raw_outputs(models, features, border_s=border_s, cache=cache))


def preload_choice(cfg: TrainConfig) -> bool | str:
    """TrainConfig.preload ("auto" | "true" | "false") as FeatureBank's argument."""
    return {"true": True, "false": False}.get(str(cfg.preload).lower(), "auto")
