"""``spotkern demo --video``: from match videos to events, end to end on synthetic videos.

Synthetic match videos with a visible cue per event class (``spotkern.video.synth``) -> features with the
``tiny`` encoder (``spotkern.video.extract``) -> the two-step dense method trained on them -> events predicted
from each test match's videos (``spotkern.runs.video.predict_video``) -> SoccerNet average-mAP against the
labels. Everything is written under ``work``; a second call reuses the videos and the features."""
from __future__ import annotations

import json
import logging
import os
import time

from spotkern.methods.config import TrainConfig
from spotkern.metrics import evaluate
from spotkern.runs.video import predict_video
from spotkern.train.trainer import train
from spotkern.video.encoders import build_encoder
from spotkern.video.extract import extract_videos
from spotkern.video.synth import write_synthetic_match_videos

log = logging.getLogger("spotkern")

SPLITS = {"train": 16, "valid": 2, "test": 6}
QUICK_SPLITS = {"train": 3, "valid": 1, "test": 2}


def video_demo_config(work: str, quick: bool = False) -> TrainConfig:
    """The video demo's training configuration: the demo's two-step dense method (a small u-net, soft NMS of
    4 s on the displaced scores, one CPU thread) on the ``tiny`` features of the synthetic videos."""
    d = dict(data=os.path.join(work, "data"), out=os.path.join(work, "run"), method="dense", features="tiny",
             trunk="unet", trunk_kwargs={"levels": 3, "max_width": 128}, chunk_seconds=56.0, batch_size=32,
             chunks_per_epoch=1024, epochs=20, displacement_epochs=6, lr=2e-3, weight_decay=2e-4,
             displacement_lr=2e-3, validate_every=5, inference_batch=128, test_border=20.0, nms_method="linear",
             num_threads=1, displacement_multiplier=1.0)
    if quick:
        d.update(chunks_per_epoch=64, batch_size=16, epochs=2, displacement_epochs=1, validate_every=1,
                 trunk_kwargs={"levels": 2, "width": 64, "max_width": 64})
    return TrainConfig.from_dict(d)


def video_demo(work: str, *, quick: bool = False, seed: int = 0, progress: bool = True, threads: int = 0,
               config: dict | None = None) -> dict:
    """Run the video demo under ``work`` (module docstring); returns {"a_mAP_loose", "a_mAP_tight", "num_games",
    "wall_s", "predictions"}. config: TrainConfig fields overriding the demo's."""
    t0 = time.perf_counter()
    data = os.path.join(work, "data")
    if not os.path.isfile(os.path.join(data, "splits.json")):
        write_synthetic_match_videos(work, splits=QUICK_SPLITS if quick else SPLITS,
                                     half_minutes=2.0 if quick else 3.0, seed=seed, progress=progress)
    with open(os.path.join(data, "splits.json"), encoding="utf-8") as f:
        splits = json.load(f)
    videos = os.path.join(work, "videos")
    log.info("demo: synthetic match videos in %s (%.0f s)", videos, time.perf_counter() - t0)
    extract_videos([videos], data, encoder=build_encoder("tiny"), layout="soccernet", progress=progress)
    log.info("demo: tiny features extracted (%.0f s)", time.perf_counter() - t0)
    cfg = video_demo_config(work, quick)
    if config:
        cfg = TrainConfig.from_dict({**cfg.to_dict(), **config})
    cfg.progress, cfg.seed = progress, seed
    if threads:
        cfg.num_threads = threads
    train(cfg)
    log.info("demo: trained (%.0f s)", time.perf_counter() - t0)
    predictions = os.path.join(work, "predictions")
    games = list(splits["test"])
    for game in games:
        halves = [os.path.join(videos, game, f"{h}_video.mp4") for h in (1, 2)]
        predict_video(cfg.out, halves, os.path.join(predictions, game), progress=False)
    loose = evaluate(data, predictions, games=games, metric="loose")
    tight = evaluate(data, predictions, games=games, metric="tight")
    out = {"a_mAP_loose": float(loose["a_mAP"]), "a_mAP_tight": float(tight["a_mAP"]), "num_games": len(games),
           "wall_s": time.perf_counter() - t0, "predictions": predictions}
    with open(os.path.join(work, "demo_video_result.json"), "w", encoding="utf-8") as f:
        json.dump(out, f)
    return out
