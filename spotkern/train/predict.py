"""Prediction with trained runs: whole halves -> raw outputs -> post-NMS scores -> ``results_spotting.json``.

The run's method (``config.json``) names its stages (``spotkern.train.registry``); the last stage with a
checkpoint (and the checkpoints of the stages it uses) detects: for the two-step dense method, the
displacement model with the confidence model, or the confidence model alone if step 2 never ran.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import TypeVar

from tqdm.auto import tqdm

from spotkern._typing import DeviceLike, Metric, Split
from spotkern.data.dataset import read_dataset
from spotkern.inference.results import write_results
from spotkern.train.config import TrainConfig
from spotkern.train.methods.base import TrainingStage
from spotkern.train.models import load_stage
from spotkern.train.registry import method_entry
from spotkern.train.runtime import cpu_threads

log = logging.getLogger("spotkern")

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


def predict_dataset(run_dir: str, data: str, split: Split = "test", out_dir: str | None = None, *,
                    device: DeviceLike = "cpu",
                    style: str = "spotkern", progress: bool = True, overrides: dict | None = None) -> list:
    """Run the trained models of ``run_dir`` on every half of ``split`` and write one results file per
    game under ``out_dir`` (default ``<run_dir>/predictions/<split>``). Returns the written paths."""
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        threads = json.load(f).get("num_threads", 0)
    with cpu_threads((overrides or {}).get("num_threads", threads)):
        return _predict_dataset(run_dir, data, split, out_dir, device=device, style=style, progress=progress,
                                overrides=overrides)


def _predict_dataset(run_dir, data, split, out_dir, *, device, style, progress, overrides):
    import torch

    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        cfg = TrainConfig.from_dict({**json.load(f), **(overrides or {})})
    device = torch.device(device)
    # the checkpoints first: a missing or damaged model is reported before any data is read
    stage_cls = detecting_stage(run_dir, method_entry(cfg.method).stages)
    models, classes = {}, None
    for name in (stage_cls.name,) + tuple(stage_cls.uses_stages):
        models[name], meta = load_stage(os.path.join(run_dir, name), device)
        classes = meta["classes"]
    kw = {"soccernet_version": cfg.soccernet_version} if cfg.soccernet_version != 2 else {}
    ds = read_dataset(data, split, features=cfg.features, label_placement=cfg.label_placement, **kw)
    if list(ds.classes) != classes:
        raise ValueError(f"predict_dataset: the dataset's classes differ from the checkpoint's {classes}")
    stage = stage_cls(cfg, feature_dim=ds.feature_dim, num_classes=ds.num_classes, fps=ds.fps, classes=ds.classes)
    out_dir = out_dir or os.path.join(run_dir, "predictions", str(split))
    by_game: dict = {}
    for half in tqdm(ds.halves, desc="predict", disable=not progress, unit="half"):
        scores = stage.detect(models, half.features, border_s=cfg.test_border)
        by_game.setdefault(half.game, {})[half.half] = scores
    paths = []
    for game, halves in by_game.items():
        ordered = [halves[h] for h in sorted(halves)]
        paths.append(write_results(out_dir, game, ordered, ds.classes, ds.fps, style))
    log.info("predict: wrote %d results files under %s", len(paths), out_dir)
    return paths


def score_predictions(run_dir: str, data: str, out_dir: str, paths: Sequence[str], metric: Metric = "loose") -> dict:
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
