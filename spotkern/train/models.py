"""Model construction from a checkpoint's ``model_spec`` (a plain dict, so checkpoints stay
``weights_only``-loadable) and the per-dataset constants derived from the config."""
from __future__ import annotations

import math
import warnings

import numpy as np

from spotkern.data.soccernet_classes import CLASSES_V2, K_V2_SECONDS, k_frames

# Fallback K (seconds) for non-SoccerNet class lists: symmetric, like most v2 classes (calf.md 2.1).
GENERIC_K_SECONDS = (-20, -10, 10, 20)


def dense_chunk_len(cfg, fps: float, trunk_kwargs: dict | None = None) -> int:
    """L = floor(fps * chunk_seconds) (dense_anchors.md 0), rounded down to what the u-net accepts."""
    L = int(math.floor(fps * cfg.chunk_seconds))
    if cfg.trunk == "unet":
        levels = (trunk_kwargs or {}).get("levels")
        if levels is None:
            levels = max(int(round(math.log2(max(L, 7) / 7))) + 1, 1)
        L = max(L // 2 ** (levels - 1), 1) * 2 ** (levels - 1)
    return L


def model_spec(cfg, stage: str, input_dim: int, num_classes: int, fps: float) -> dict:
    """Plain-dict description of the network of a training stage."""
    if stage == "calf":
        return {"kind": "calf", "kwargs": {"input_dim": input_dim, "num_classes": num_classes,
                                           "chunk_size": cfg.calf_chunk, "receptive_field": cfg.calf_receptive_field,
                                           "num_slots": cfg.calf_slots}}
    heads = {"confidence": ["confidence"], "displacement": ["displacement"],
             "joint": ["confidence", "displacement"]}[stage]
    kw = dict(cfg.trunk_kwargs)
    L = dense_chunk_len(cfg, fps, kw)
    kw.setdefault("chunk_size", L)
    return {"kind": "dense", "kwargs": {"trunk": cfg.trunk, "input_dim": input_dim, "num_classes": num_classes,
                                        "heads": heads, **kw}}


def build_model(spec: dict):
    """nn.Module of a ``model_spec``."""
    import spotkern.models as models

    if spec["kind"] == "calf":
        return models.CALFNet(**spec["kwargs"])
    kw = dict(spec["kwargs"])
    kw["heads"] = tuple(kw["heads"])
    return models.DenseSpotter(**kw)


def calf_K(classes, fps: float) -> np.ndarray:
    """(4, C) int32 K in frames: the v2 table for the SoccerNet-v2 classes, else a generic one."""
    if tuple(classes) == CLASSES_V2:
        return k_frames(K_V2_SECONDS, int(round(fps)))
    warnings.warn("calf: no K table for these classes; using K = (-20, -10, 10, 20) s for every class", stacklevel=2)
    ks = np.repeat(np.asarray(GENERIC_K_SECONDS, dtype=np.int64)[:, None], len(classes), axis=1)
    return k_frames(ks, int(round(fps)))
