"""Prediction with trained checkpoints: whole halves -> post-NMS scores -> ``results_spotting.json``."""
from __future__ import annotations

import json
import logging
import os

import numpy as np
import torch
from tqdm.auto import tqdm

from spotkern.data.dataset import read_dataset
from spotkern.inference.layout import dense_border
from spotkern.inference.predict import (calf_postprocess, dense_postprocess, predict_half_calf,
                                        predict_half_dense)
from spotkern.inference.results import write_results
from spotkern.train.checkpoint import load_stage_checkpoint
from spotkern.train.config import TrainConfig
from spotkern.train.models import build_model, calf_K

log = logging.getLogger("spotkern")


def load_stage(stage_dir: str, device="cpu"):
    """(model in eval mode, meta) from ``<stage_dir>/best.pt`` (else ``last.pt``), weights_only, verified
    (``spotkern.train.checkpoint.StageCheckpoints.load_best``)."""
    st, path = load_stage_checkpoint(stage_dir, "best", map_location=device)
    spec = json.loads(st["model_spec"])
    model = build_model(spec).to(device)
    model.load_state_dict(st["model"])
    model.eval()
    meta = {"model_spec": spec, "config": json.loads(st["config"]), "classes": list(st["classes"]),
            "fps": float(st["fps"]), "stage": st["stage"], "path": path}
    return model, meta


def detect_half(model, stage: str, features, cfg: TrainConfig, fps: float, device, *, border_s: float,
                confidence=None, displacement_model=None, K=None) -> np.ndarray:
    """Post-NMS (T, C) float32 scores (-1 = no detection) of one half for a trained stage.

    stage "calf": CALF clips, stitching and NMS (calf.md 10). "confidence": confidence-only scores,
    hard NMS of ``nms_window_confidence``. "displacement": a displacement model with the stored
    ``confidence`` (T, C) of the two-step method; scores displaced, then NMS of
    ``nms_window_displaced`` (hard) or ``nms_window_soft`` (linear, gaussian; dense_anchors.md 7.2).
    "joint": both heads of one model. ``displacement_model`` adds a displacement pass to a confidence
    model (two-step inference).
    """
    if stage == "calf":
        stitched = predict_half_calf(model, features, chunk_len=cfg.calf_chunk,
                                     receptive_field=cfg.calf_receptive_field, batch_size=cfg.inference_batch)
        return calf_postprocess(stitched, int(round(20 * fps))).cpu().numpy()
    rc = cfg.radius_confidence * fps
    rd = rc * cfg.displacement_multiplier
    L = model.trunk.chunk_size
    B = dense_border(fps, L, border_s)
    kw = {"chunk_len": L, "border": B, "batch_size": cfg.inference_batch}
    conf = confidence
    disp = None
    if stage in ("confidence", "joint"):
        conf = predict_half_dense(model, features, head="confidence", **kw)
    if stage in ("displacement", "joint"):
        disp = predict_half_dense(model, features, head="displacement", **kw)  # rd units
    if displacement_model is not None:
        Ld = displacement_model.trunk.chunk_size
        disp = predict_half_dense(displacement_model, features, head="displacement", chunk_len=Ld,
                                  border=dense_border(fps, Ld, border_s), batch_size=cfg.inference_batch)
    if disp is not None:
        n = min(conf.shape[0], disp.shape[0])  # dense_anchors.md 6: a one-frame mismatch is tolerated
        conf, disp = conf[:n].contiguous(), disp[:n].contiguous()
        soft = cfg.nms_method in ("linear", "gaussian")
        window = int(round((cfg.nms_window_soft if soft else cfg.nms_window_displaced) * fps))
    else:
        window = int(round(cfg.nms_window_confidence * fps))
    out = dense_postprocess(conf.float().cpu(), None if disp is None else disp.float().cpu(), radius_displacement=rd,
                            window=window, method=cfg.nms_method)
    return out.cpu().numpy()


def predict_dataset(run_dir: str, data: str, split="test", out_dir: str | None = None, *, device="cpu",
                    style: str = "spotkern", progress: bool = True, overrides: dict | None = None) -> list:
    """Run the trained models of ``run_dir`` on every half of ``split`` and write one results file per
    game under ``out_dir`` (default ``<run_dir>/predictions/<split>``). Returns the written paths."""
    from spotkern.train.trainer import cpu_threads

    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        threads = json.load(f).get("num_threads", 0)
    with cpu_threads((overrides or {}).get("num_threads", threads)):
        return _predict_dataset(run_dir, data, split, out_dir, device=device, style=style, progress=progress,
                                overrides=overrides)


def _predict_dataset(run_dir, data, split, out_dir, *, device, style, progress, overrides):
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        cfg = TrainConfig.from_dict({**json.load(f), **(overrides or {})})
    device = torch.device(device)
    if cfg.method == "calf":
        model, meta = load_stage(os.path.join(run_dir, "calf"), device)
        stage, disp_model = "calf", None
    elif cfg.method == "dense-joint":
        model, meta = load_stage(os.path.join(run_dir, "joint"), device)
        stage, disp_model = "joint", None
    else:
        model, meta = load_stage(os.path.join(run_dir, "confidence"), device)
        stage, disp_model = "confidence", None
        if os.path.isdir(os.path.join(run_dir, "displacement")):
            disp_model, _ = load_stage(os.path.join(run_dir, "displacement"), device)
    kw = {"soccernet_version": cfg.soccernet_version} if cfg.soccernet_version != 2 else {}
    ds = read_dataset(data, split, features=cfg.features, label_placement=cfg.label_placement, **kw)
    if list(ds.classes) != meta["classes"]:
        raise ValueError(f"predict_dataset: the dataset's classes differ from the checkpoint's {meta['classes']}")
    out_dir = out_dir or os.path.join(run_dir, "predictions", str(split))
    K = calf_K(ds.classes, ds.fps) if stage == "calf" else None
    by_game: dict = {}
    for half in tqdm(ds.halves, desc="predict", disable=not progress, unit="half"):
        scores = detect_half(model, stage, half.features, cfg, ds.fps, device, border_s=cfg.test_border,
                             displacement_model=disp_model, K=K)
        by_game.setdefault(half.game, {})[half.half] = scores
    paths = []
    for game, halves in by_game.items():
        ordered = [halves[h] for h in sorted(halves)]
        paths.append(write_results(out_dir, game, ordered, ds.classes, ds.fps, style))
    log.info("predict: wrote %d results files under %s", len(paths), out_dir)
    return paths


def score_predictions(run_dir: str, data: str, out_dir: str, paths, metric="loose") -> dict:
    """SoccerNet average-mAP of the results files ``paths`` that ``predict_dataset`` wrote under
    ``out_dir`` (SoccerNet layout: labels in ``<data>/<game>/``), with the metric version of the run's
    data (``soccernet_version`` in ``<run_dir>/config.json``): version 1 scores a CALF v1 run against
    the games' Labels.json (its visible/unshown entries are None)."""
    from spotkern.metrics import evaluate

    check_scorable(data)
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        version = int(json.load(f).get("soccernet_version", 2))
    if not paths:
        raise ValueError("score_predictions: paths is empty (no results file was written)")
    games = [os.path.relpath(os.path.dirname(p), out_dir).replace(os.sep, "/") for p in paths]
    return evaluate(data, out_dir, games=games, version=version, metric=metric,
                    prediction_file=os.path.basename(paths[0]))


def check_scorable(data: str) -> None:
    """``score_predictions`` reads SoccerNet label files (``<data>/<game>/Labels[-v2].json``): a generic
    ``dataset.json`` root has none, so refuse it up front (before a prediction run) with a clear message."""
    from spotkern.data.dataset import GENERIC_FILE

    if os.path.isfile(os.path.join(data, GENERIC_FILE)):
        raise ValueError(f"score_predictions: {data} holds the generic {GENERIC_FILE}; scoring results files "
                         "needs the SoccerNet layout (label files per game)")
