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
from spotkern.train.checkpoint import load_checkpoint
from spotkern.train.config import TrainConfig
from spotkern.train.models import build_model, calf_K

log = logging.getLogger("spotkern")


def load_stage(stage_dir: str, device="cpu"):
    """(model in eval mode, meta) from ``<stage_dir>/best.pt`` (else ``last.pt``), weights_only."""
    path = os.path.join(stage_dir, "best.pt")
    if not os.path.isfile(path):
        path = os.path.join(stage_dir, "last.pt")
    st = load_checkpoint(path, map_location=device)
    spec = json.loads(st["model_spec"])
    model = build_model(spec).to(device)
    model.load_state_dict(st["model"])
    model.eval()
    meta = {"model_spec": spec, "config": json.loads(st["config"]), "classes": list(st["classes"]),
            "fps": float(st["fps"]), "stage": st["stage"], "path": path}
    return model, meta


def raw_half(model, stage: str, features, cfg: TrainConfig, fps: float, device, *, border_s: float,
             confidence=None, displacement_model=None) -> dict:
    """The raw outputs of one half before post-processing (``spotkern.postprocess``): {"confidence":
    (T, C) float32 tensor, and for displacement models "displacement" (T, C) in rd units and
    "radius_displacement" rd in frames}. Stages as in ``detect_half``; for CALF "confidence" holds the
    stitched clip scores before NMS (-1 where no slot landed)."""
    if stage == "calf":
        stitched = predict_half_calf(model, features, chunk_len=cfg.calf_chunk,
                                     receptive_field=cfg.calf_receptive_field, batch_size=cfg.inference_batch)
        return {"confidence": stitched}
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
    if disp is None:
        return {"confidence": conf.float().cpu()}
    n = min(conf.shape[0], disp.shape[0])  # dense_anchors.md 6: a one-frame mismatch is tolerated
    return {"confidence": conf[:n].float().cpu().contiguous(), "displacement": disp[:n].float().cpu().contiguous(),
            "radius_displacement": rd}


def detect_half(model, stage: str, features, cfg: TrainConfig, fps: float, device, *, border_s: float,
                confidence=None, displacement_model=None, K=None) -> np.ndarray:
    """Post-NMS (T, C) float32 scores (-1 = no detection) of one half for a trained stage.

    stage "calf": CALF clips, stitching and NMS (calf.md 10). "confidence": confidence-only scores,
    hard NMS of ``nms_window_confidence``. "displacement": a displacement model with the stored
    ``confidence`` (T, C) of the two-step method; scores displaced, then NMS of
    ``nms_window_displaced`` (hard) or ``nms_window_soft`` (linear, gaussian; dense_anchors.md 7.2).
    "joint": both heads of one model. ``displacement_model`` adds a displacement pass to a confidence
    model (two-step inference). (``postprocess.default_postprocess`` describes the same post-processing.)
    """
    raw = raw_half(model, stage, features, cfg, fps, device, border_s=border_s, confidence=confidence,
                   displacement_model=displacement_model)
    if stage == "calf":
        return calf_postprocess(raw["confidence"], int(round(20 * fps))).cpu().numpy()
    disp = raw.get("displacement")
    if disp is not None:
        soft = cfg.nms_method in ("linear", "gaussian")
        window = int(round((cfg.nms_window_soft if soft else cfg.nms_window_displaced) * fps))
    else:
        window = int(round(cfg.nms_window_confidence * fps))
    out = dense_postprocess(raw["confidence"], disp, radius_displacement=raw.get("radius_displacement", 1.0),
                            window=window, method=cfg.nms_method)
    return out.cpu().numpy()


def predict_dataset(run_dir: str, data: str, split="test", out_dir: str | None = None, *, device="cpu",
                    style: str = "spotkern", progress: bool = True, overrides: dict | None = None,
                    postprocess=None, threshold: float | None = None, top_k: int | None = None,
                    save_scores: bool = False, from_scores: str | None = None) -> list:
    """Run the trained models of ``run_dir`` on every half of ``split`` and write one results file per
    game under ``out_dir`` (default ``<run_dir>/predictions/<split>``). Returns the written paths.

    postprocess: a ``spotkern.postprocess.PostProcess`` or its JSON file (``spotkern tune``) instead of
    the run's default; threshold / top_k: one score threshold for every class / the most detections per
    half, over it. The post-processing applied is recorded in ``<out_dir>/postprocess.json``.
    save_scores: also write each game's raw outputs (``raw_scores.npz``, ``spotkern.inference.scores``).
    from_scores: a folder of raw scores saved earlier: post-process those instead of running the networks."""
    from spotkern.train.trainer import cpu_threads

    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    out_dir = out_dir or os.path.join(run_dir, "predictions", str(split))
    if from_scores is not None:
        from spotkern.inference.scores import postprocess_saved_scores

        return postprocess_saved_scores(from_scores, out_dir, config, postprocess=postprocess, threshold=threshold,
                                        top_k=top_k, style=style)
    with cpu_threads((overrides or {}).get("num_threads", config.get("num_threads", 0))):
        return _predict_dataset(run_dir, data, split, out_dir, device=device, style=style, progress=progress,
                                overrides=overrides, post=(postprocess, threshold, top_k), save_scores=save_scores)


def _predict_dataset(run_dir, data, split, out_dir, *, device, style, progress, overrides, post, save_scores):
    from spotkern.inference.scores import save_raw_scores
    from spotkern.postprocess import POSTPROCESS_FILE, resolve_postprocess

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
    kind = "calf" if stage == "calf" else "dense"
    pp = resolve_postprocess(cfg, ds.classes, kind=kind, has_displacement=stage == "joint" or disp_model is not None,
                             postprocess=post[0], threshold=post[1], top_k=post[2])
    by_game: dict = {}
    raws: dict = {}
    for half in tqdm(ds.halves, desc="predict", disable=not progress, unit="half"):
        raw = raw_half(model, stage, half.features, cfg, ds.fps, device, border_s=cfg.test_border,
                       displacement_model=disp_model)
        raw = {k: v.cpu().numpy() if torch.is_tensor(v) else v for k, v in raw.items()}
        by_game.setdefault(half.game, {})[half.half] = pp.apply(raw, ds.fps)
        if save_scores:
            raws.setdefault(half.game, {})[half.half] = raw
    paths = []
    for game, halves in by_game.items():
        ordered = [halves[h] for h in sorted(halves)]
        paths.append(write_results(out_dir, game, ordered, ds.classes, ds.fps, style))
        if save_scores:
            save_raw_scores(out_dir, game, [raws[game][h] for h in sorted(halves)], classes=ds.classes, fps=ds.fps,
                            kind=kind)
    pp.save(os.path.join(out_dir, POSTPROCESS_FILE))
    log.info("predict: wrote %d results files under %s", len(paths), out_dir)
    return paths


def score_predictions(run_dir: str, data: str, out_dir: str, paths, metric="loose", split="test") -> dict:
    """SoccerNet average-mAP of the results files ``paths`` that ``predict_dataset`` wrote under
    ``out_dir`` (SoccerNet layout: labels in ``<data>/<game>/``), with the metric version of the run's
    data (``soccernet_version`` in ``<run_dir>/config.json``): version 1 scores a CALF v1 run against
    the games' Labels.json (its visible/unshown entries are None). A generic ``dataset.json`` root is
    scored by ``spotkern.metrics.generic.evaluate_generic`` (the same a-mAP at the dataset's fps, plus
    the E2E-Spot mAP under "e2e") against the events of ``split``."""
    from spotkern.metrics import evaluate
    from spotkern.metrics.generic import evaluate_generic, is_generic

    check_scorable(data)
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        version = int(json.load(f).get("soccernet_version", 2))
    if not paths:
        raise ValueError("score_predictions: paths is empty (no results file was written)")
    games = [os.path.relpath(os.path.dirname(p), out_dir).replace(os.sep, "/") for p in paths]
    if is_generic(data):
        return evaluate_generic(data, out_dir, split=split, metric=metric, videos=games,
                                prediction_file=os.path.basename(paths[0]))
    return evaluate(data, out_dir, games=games, version=version, metric=metric,
                    prediction_file=os.path.basename(paths[0]))


def check_scorable(data: str) -> None:
    """``score_predictions`` reads the labels of ``data`` (SoccerNet label files per game, or a generic
    ``dataset.json``): refuse a root that is neither up front (before a prediction run)."""
    from spotkern.data.dataset import GENERIC_FILE, SPLITS_FILE

    if not os.path.isdir(data):
        raise ValueError(f"score_predictions: data root {data} is not a directory")
    if os.path.isfile(os.path.join(data, GENERIC_FILE)) or os.path.isfile(os.path.join(data, SPLITS_FILE)):
        return
    if not any(os.path.isdir(os.path.join(data, d)) for d in os.listdir(data)):
        raise ValueError(f"score_predictions: {data} holds neither a {GENERIC_FILE} nor game folders with labels")
