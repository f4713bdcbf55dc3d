"""Model construction from a checkpoint's ``model_spec`` (a plain dict, so checkpoints stay
``weights_only``-loadable) and the per-dataset constants derived from the config."""
from __future__ import annotations

import math
import warnings

import numpy as np

from spotkern.data.soccernet_classes import CLASSES_V1_CALF, CLASSES_V2, K_V1_SECONDS, K_V2_SECONDS

# Fallback K (seconds) for non-SoccerNet class lists: symmetric, like most v2 classes (calf.md 2.1).
GENERIC_K_SECONDS = (-20, -10, 10, 20)


def _unet_levels(L: int, trunk_kwargs: dict | None) -> int:
    """The u-net's levels: the explicit ``levels`` or log2(L / 7) + 1 rounded (dense_anchors.md 4.2)."""
    levels = (trunk_kwargs or {}).get("levels")
    return max(int(round(math.log2(max(L, 7) / 7))) + 1, 1) if levels is None else levels


def dense_chunk_len(cfg, fps: float, trunk_kwargs: dict | None = None) -> int:
    """L = floor(fps * chunk_seconds) (dense_anchors.md 0), rounded down to what the u-net accepts."""
    L = int(math.floor(fps * cfg.chunk_seconds))
    if cfg.trunk == "unet":
        levels = _unet_levels(L, trunk_kwargs)
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
    if cfg.trunk == "unet" and "levels" not in kw:
        # The levels L was rounded for (DenseUNet alone derives them only when L = 7 * 2**k).
        kw["levels"] = _unet_levels(kw.get("chunk_size", int(math.floor(fps * cfg.chunk_seconds))), None)
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
