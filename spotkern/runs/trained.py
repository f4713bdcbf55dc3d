"""A trained run loaded for prediction: its configuration, the stage that detects and that stage's networks
(with those of the stages it uses), the classes and frame rate it was trained with, and its default
post-processing. ``predict_dataset`` predicts the halves of a dataset split with it; video prediction and
``spotkern export`` use it on halves they read themselves."""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import torch
from torch import nn

from spotkern._files import load_json_object
from spotkern._typing import Array, DeviceLike, PathLike
from spotkern.inference.scores import raw_numpy
from spotkern.methods.base import TrainingStage
from spotkern.methods.config import TrainConfig
from spotkern.methods.registry import method_entry
from spotkern.postprocess import PostProcess, resolve_postprocess
from spotkern.runs.stages import detecting_stage, load_run_stage

RUN_CONFIG = "config.json"


def read_run_config(run_dir: str, overrides: dict | None = None, fn: str = "predict") -> TrainConfig:
    """The TrainConfig of the run ``run_dir`` (its ``config.json``), with ``overrides``; a folder that is
    not a run is a ValueError saying so."""
    path = os.path.join(run_dir, RUN_CONFIG)
    if not os.path.isdir(run_dir):
        raise ValueError(f"{fn}: there is no run at {run_dir} (not a directory)")
    if not os.path.exists(path):
        raise ValueError(f"{fn}: there is no run at {run_dir} (no {RUN_CONFIG}; 'spotkern train' writes it)")
    doc = load_json_object(path, f"{fn}: run config")
    return TrainConfig.from_dict({**doc, **(overrides or {})})


class TrainedRun:
    """The run ``run_dir`` loaded on ``device``: ``cfg``, ``stage`` (the detecting stage, built with the
    checkpoint's classes and fps), ``models`` ({stage name: network in eval mode}), ``classes``, ``fps`` and
    ``feature_dim`` (what the networks take). The checkpoints are read and verified here, before any data."""

    def __init__(self, run_dir: str, device: DeviceLike = "cpu", overrides: dict | None = None) -> None:
        self.run_dir = run_dir
        self.cfg = read_run_config(run_dir, overrides)
        self.device = torch.device(device)
        stage_cls = detecting_stage(run_dir, method_entry(self.cfg.method).stages_for(self.cfg))
        self.models: dict[str, nn.Module] = {}
        meta: dict = {}
        for name in (stage_cls.name,) + tuple(stage_cls.uses_stages):
            self.models[name], meta = load_run_stage(os.path.join(run_dir, name), self.device)
        self.classes: tuple[str, ...] = tuple(meta["classes"])
        self.fps = float(meta["fps"])
        self.feature_dim = int(meta["model_spec"]["kwargs"]["input_dim"])
        self.stage: TrainingStage = stage_cls(self.cfg, feature_dim=self.feature_dim, num_classes=len(self.classes),
                                              fps=self.fps, classes=self.classes)

    def check_features(self, features: Array, where: str, fn: str = "predict") -> None:
        """Refuse a (T, D) feature array the networks cannot take: another width, no frame, non-finite."""
        shape = tuple(features.shape)
        if len(shape) != 2 or shape[0] < 1:
            raise ValueError(f"{fn}: {where}: features must have shape (T, {self.feature_dim}) with T >= 1, "
                             f"got {shape}")
        if shape[1] != self.feature_dim:
            raise ValueError(f"{fn}: {where}: {shape[1]}-d features, but the run {self.run_dir} was trained on "
                             f"{self.feature_dim}-d features")

    def raw_outputs(self, features: Array) -> dict:
        """The detecting stage's raw outputs of one half (numpy): {"confidence": (T, C), ...}."""
        return raw_numpy(self.stage.raw_outputs(self.models, features, border_s=self.cfg.test_border))

    def postprocess(self, postprocess: PostProcess | PathLike | None = None, threshold: float | None = None,
                    top_k: int | None = None) -> PostProcess:
        """The post-processing to apply: the run's default (decided by the detecting stage), a given one or its
        JSON file, with an optional threshold / top-k."""
        return resolve_postprocess(self.cfg, self.classes, kind=self.stage.postprocess_kind,
                                   has_displacement=self.stage.has_displacement, postprocess=postprocess,
                                   threshold=threshold, top_k=top_k)

    def predict_half(self, features: Array, pp: PostProcess) -> np.ndarray:
        """(T, C) post-NMS scores (-1 = no detection) of one half."""
        return np.asarray(pp.apply(self.raw_outputs(features), self.fps))

    def describe(self) -> dict:
        """What a prediction records about the run: method, detecting stage, classes, fps, feature width."""
        return {"run": os.path.abspath(self.run_dir), "method": self.cfg.method, "stage": self.stage.name,
                "classes": list(self.classes), "fps": self.fps, "feature_dim": self.feature_dim,
                "config": json.loads(json.dumps(dataclasses.asdict(self.cfg)))}
