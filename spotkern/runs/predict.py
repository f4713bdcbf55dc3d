"""Prediction with trained runs: whole halves -> raw outputs -> post-NMS scores -> ``results_spotting.json``.

The run's method (``config.json``) names its stages (``spotkern.methods.registry``); the last stage with a
checkpoint (and the checkpoints of the stages it uses) detects: for the two-step dense method, the
displacement model with the confidence model, or the confidence model alone if step 2 never ran. The stage
decides the post-processing (``postprocess_kind``, ``has_displacement``), as it does in validation.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from spotkern._typing import DeviceLike, Metric, PathLike, Split
from spotkern.data.dataset import GENERIC_FILE, SPLITS_FILE, read_dataset, split_games
from spotkern.inference.results_files import write_results
from spotkern.inference.scores import postprocess_saved_scores, raw_numpy, save_raw_scores
from spotkern.methods.config import TrainConfig
from spotkern.methods.registry import method_entry
from spotkern.metrics import evaluate
from spotkern.metrics.generic import evaluate_generic, is_generic
from spotkern.postprocess import POSTPROCESS_FILE, PostProcess, default_postprocess, resolve_postprocess
from spotkern.runs.stages import detecting_stage, load_run_stage
from spotkern.train.runtime import cpu_threads

log = logging.getLogger("spotkern")

def run_default_postprocess(run_dir: str, config: dict, classes: Sequence[str]) -> PostProcess:
    """The post-processing ``predict_dataset`` applies by default to the run ``run_dir`` (its ``config.json``
    as ``config``): that of the stage that detects (``detecting_stage``; the method's last stage when the run
    holds no checkpoint)."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig.from_dict({k: v for k, v in config.items() if k in known})
    stages = method_entry(cfg.method).stages_for(cfg)
    try:
        stage = detecting_stage(run_dir, stages)
    except FileNotFoundError:
        stage = stages[-1]
    return default_postprocess(cfg, classes, kind=stage.postprocess_kind, has_displacement=stage.has_displacement)


def predict_dataset(run_dir: str, data: str, split: Split = "test", out_dir: str | None = None, *,
                    device: DeviceLike = "cpu", style: str = "spotkern", progress: bool = True,
                    overrides: dict | None = None, postprocess: PostProcess | PathLike | None = None,
                    threshold: float | None = None, top_k: int | None = None,
                    save_scores: bool = False, from_scores: str | None = None) -> list:
    """Run the trained models of ``run_dir`` on every half of ``split`` and write one results file per
    game under ``out_dir`` (default ``<run_dir>/predictions/<split>``). Returns the written paths.

    postprocess: a ``spotkern.postprocess.PostProcess`` or its JSON file (``spotkern tune``) instead of
    the run's default (``spotkern.postprocess.default_postprocess``: what the stage's own ``postprocess``
    does); threshold / top_k: one score threshold for every class / the most detections per half, over
    it. The post-processing applied is recorded in ``<out_dir>/postprocess.json``.
    save_scores: also write each game's raw outputs (``raw_scores.npz``, ``spotkern.inference.scores``).
    from_scores: a folder of raw scores saved earlier: post-process those of the games of ``split`` instead
    of running the networks (``spotkern.inference.scores.postprocess_saved_scores``: games without saved
    scores are a warning)."""
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    out_dir = out_dir or os.path.join(run_dir, "predictions", str(split))
    if from_scores is not None:
        return postprocess_saved_scores(from_scores, out_dir, config, postprocess=postprocess, threshold=threshold,
                                        top_k=top_k, style=style, games=split_games(data, split),
                                        split=split if isinstance(split, str) else None)
    with cpu_threads((overrides or {}).get("num_threads", config.get("num_threads", 0))):
        return _predict_dataset(run_dir, data, split, out_dir, device=device, style=style, progress=progress,
                                overrides=overrides, post=(postprocess, threshold, top_k), save_scores=save_scores)


def _predict_dataset(run_dir, data, split, out_dir, *, device, style, progress, overrides, post, save_scores):
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        cfg = TrainConfig.from_dict({**json.load(f), **(overrides or {})})
    device = torch.device(device)
    # the checkpoints first: a missing or damaged model is reported before any data is read
    stage_cls = detecting_stage(run_dir, method_entry(cfg.method).stages_for(cfg))
    models, classes = {}, None
    for name in (stage_cls.name,) + tuple(stage_cls.uses_stages):
        models[name], meta = load_run_stage(os.path.join(run_dir, name), device)
        classes = meta["classes"]
    kw = {"soccernet_version": cfg.soccernet_version} if cfg.soccernet_version != 2 else {}
    # labels are not needed to predict (only --evaluate reads them): games with features alone are read
    ds = read_dataset(data, split, features=cfg.features, label_placement=cfg.label_placement,
                      require_labels=False, **kw)
    if list(ds.classes) != classes:
        raise ValueError(f"predict_dataset: the dataset's classes differ from the checkpoint's {classes}")
    stage = stage_cls(cfg, feature_dim=ds.feature_dim, num_classes=ds.num_classes, fps=ds.fps, classes=ds.classes)
    kind = stage.postprocess_kind
    pp = resolve_postprocess(cfg, ds.classes, kind=kind, has_displacement=stage.has_displacement,
                             postprocess=post[0], threshold=post[1], top_k=post[2])
    by_game: dict = {}
    raws: dict = {}
    for half in tqdm(ds.halves, desc="predict", disable=not progress, unit="half"):
        raw = raw_numpy(stage.raw_outputs(models, half.features, border_s=cfg.test_border))
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
    return paths


def score_predictions(run_dir: str, data: str, out_dir: str, paths: Sequence[str], metric: Metric = "loose",
                      split: str = "test") -> dict:
    """SoccerNet average-mAP of the results files ``paths`` that ``predict_dataset`` wrote under
    ``out_dir`` (SoccerNet layout: labels in ``<data>/<game>/``), with the metric version of the run's
    data (``soccernet_version`` in ``<run_dir>/config.json``): version 1 scores a CALF v1 run against
    the games' Labels.json (its visible/unshown entries are None). A generic ``dataset.json`` root is
    scored by ``spotkern.metrics.generic.evaluate_generic`` (the same a-mAP at the dataset's fps, plus
    the E2E-Spot mAP under "e2e") against the events of ``split``."""
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
    if not os.path.isdir(data):
        raise ValueError(f"score_predictions: data root {data} is not a directory")
    if os.path.isfile(os.path.join(data, GENERIC_FILE)) or os.path.isfile(os.path.join(data, SPLITS_FILE)):
        return
    if not any(os.path.isdir(os.path.join(data, d)) for d in os.listdir(data)):
        raise ValueError(f"score_predictions: {data} holds neither a {GENERIC_FILE} nor game folders with labels")
