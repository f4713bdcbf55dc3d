"""Which stage of a run detects: the last one whose checkpoint, and those of the stages it uses, exist."""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

from spotkern.methods.base import TrainingStage

#: a stage class or object (``detecting_stage`` takes either)
StageT = TypeVar("StageT", type[TrainingStage], TrainingStage)


def _has_checkpoint(run_dir: str, name: str) -> bool:
    d = os.path.join(run_dir, name)
    return os.path.isfile(os.path.join(d, "best.pt")) or os.path.isfile(os.path.join(d, "last.pt"))


def detecting_stage(run_dir: str, stages: Sequence[StageT]) -> StageT:
    """The last stage (class or object) of ``stages`` whose checkpoint, and those of the stages it uses,
    exist in ``run_dir``."""
    for stage in reversed(stages):
        if all(_has_checkpoint(run_dir, n) for n in (stage.name,) + tuple(stage.uses_stages)):
            return stage
    names = ", ".join(s.name for s in stages)
    raise FileNotFoundError(f"predict_dataset: {run_dir} holds no trained stage ({names}): no best.pt or last.pt")
