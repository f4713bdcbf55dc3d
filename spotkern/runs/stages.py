"""Which stage of a run detects (the last one whose checkpoint, and those of the stages it uses, exist), and
loading a stage's network for prediction: from its checkpoint, or from ``model.safetensors`` in a folder of
``spotkern export --format safetensors`` (nothing unpickled)."""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

from torch import nn

from spotkern._typing import DeviceLike
from spotkern.export.weights import has_weights, load_stage_weights
from spotkern.methods.base import TrainingStage
from spotkern.train.checkpoint import load_stage, stage_model

#: the files of a stage folder that hold a trained network
CHECKPOINT_FILES = ("best.pt", "last.pt", "last.prev.pt")

#: a stage class or object (``detecting_stage`` takes either)
StageT = TypeVar("StageT", type[TrainingStage], TrainingStage)


def _has_checkpoint(run_dir: str, name: str) -> bool:
    d = os.path.join(run_dir, name)
    return os.path.isfile(os.path.join(d, "best.pt")) or os.path.isfile(os.path.join(d, "last.pt")) or has_weights(d)


def detecting_stage(run_dir: str, stages: Sequence[StageT]) -> StageT:
    """The last stage (class or object) of ``stages`` whose checkpoint, and those of the stages it uses,
    exist in ``run_dir``."""
    for stage in reversed(stages):
        if all(_has_checkpoint(run_dir, n) for n in (stage.name,) + tuple(stage.uses_stages)):
            return stage
    names = ", ".join(s.name for s in stages)
    raise FileNotFoundError(f"predict_dataset: {run_dir} holds no trained stage ({names}): no best.pt, last.pt or "
                            "model.safetensors")


def load_run_stage(stage_dir: str, device: DeviceLike = "cpu") -> tuple[nn.Module, dict]:
    """(network in eval mode, meta) of a stage folder: its checkpoint (``spotkern.train.checkpoint.load_stage``),
    or, in a folder of ``spotkern export --format safetensors``, its ``model.safetensors`` (checked against the
    export's manifest; nothing unpickled)."""
    if not has_weights(stage_dir) or any(os.path.isfile(os.path.join(stage_dir, n)) for n in CHECKPOINT_FILES):
        return load_stage(stage_dir, device)
    st, path = load_stage_weights(stage_dir, device)
    return stage_model(st, path, device)
