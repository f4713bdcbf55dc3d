"""Model construction from a checkpoint's ``model_spec`` (a plain dict, so checkpoints stay
``weights_only``-loadable), loading a trained stage, and CALF's K table of a class list. The specs
themselves come from the training stages (``spotkern.train.methods``)."""
from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence

import numpy as np
from torch import nn

from spotkern._typing import DeviceLike
from spotkern.data.soccernet_classes import CLASSES_V1_CALF, CLASSES_V2, K_V1_SECONDS, K_V2_SECONDS
from spotkern.train.checkpoint import load_stage_checkpoint

# Fallback K (seconds) for non-SoccerNet class lists: symmetric, like most v2 classes (calf.md 2.1).
GENERIC_K_SECONDS = (-20, -10, 10, 20)


def build_model(spec: dict) -> nn.Module:
    """nn.Module of a ``model_spec``."""
    import spotkern.models as models

    if spec["kind"] == "calf":
        return models.CALFNet(**spec["kwargs"])
    kw = dict(spec["kwargs"])
    kw["heads"] = tuple(kw["heads"])
    return models.DenseSpotter(**kw)


def load_stage(stage_dir: str, device: DeviceLike = "cpu") -> tuple[nn.Module, dict]:
    """(model in eval mode, meta) from ``<stage_dir>/best.pt`` (else ``last.pt``), weights_only, verified
    (``spotkern.train.checkpoint.StageCheckpoints.load_best``), or from ``model.safetensors`` in a folder
    of ``spotkern export --format safetensors`` (``spotkern.export.weights``)."""
    from spotkern.export.weights import has_weights, load_stage_weights

    if has_weights(stage_dir) and not _has_checkpoint(stage_dir):  # spotkern export --format safetensors
        st, path = load_stage_weights(stage_dir, device)
    else:
        st, path = load_stage_checkpoint(stage_dir, "best", map_location=device)
    spec = json.loads(st["model_spec"])
    model = build_model(spec).to(device)
    model.load_state_dict(st["model"])
    model.eval()
    meta = {"model_spec": spec, "config": json.loads(st["config"]), "classes": list(st["classes"]),
            "fps": float(st["fps"]), "stage": st["stage"], "path": path}
    return model, meta


def _has_checkpoint(stage_dir: str) -> bool:
    return any(os.path.isfile(os.path.join(stage_dir, n)) for n in ("best.pt", "last.pt", "last.prev.pt"))


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
