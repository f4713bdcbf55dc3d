"""Prediction from match videos with a trained run: ``spotkern predict --run RUN --video VIDEO... --out DIR``.

One video is one half; two videos, or a folder holding ``1_*`` and ``2_*`` videos, make a match (halves 1 and
2). Each half's features are extracted (``spotkern.video.extract``) with the encoder that made the run's
training features, as their extraction record says (the ``.npy.json`` sidecar beside
``<data>/<game>/1_<features>.npy``): ``tiny`` needs nothing more; ``resnet152-soccernet`` needs the same weights
file (``weights``) and, for PCA features, the same PCA files, checked by digest. ``features_dir`` takes
features extracted earlier instead (``1_<name>.npy`` / ``2_<name>.npy`` there). The run's networks and
post-processing then give ``<out>/results_spotting.json`` (SoccerNet's format, gameTime per half; the
positions are feature rows at the run's fps, as for SoccerNet's own features) and ``<out>/video_prediction.json``
(``spotkern.inference.video_prediction``: the videos, classes, fps and the offset from a row's time to the
video's time, for ``spotkern report``). No
label file is needed.
"""
from __future__ import annotations

import dataclasses
import glob
import logging
import os
import re
from collections.abc import Callable, Sequence

import numpy as np
import torch

from spotkern._files import write_json_atomic
from spotkern._typing import DeviceLike, PathLike
from spotkern.data.dataset import DataFormatError, detect_features, list_games
from spotkern.export.manifest import MANIFEST_FILE, read_manifest
from spotkern.export.predict import load_program
from spotkern.export.spotter import OnnxSpotter
from spotkern.inference.results_files import results_document
from spotkern.inference.video_prediction import RESULTS_FILE, write_video_prediction_manifest
from spotkern.methods.config import TrainConfig
from spotkern.postprocess import POSTPROCESS_FILE, PostProcess
from spotkern.runs.trained import TrainedRun
from spotkern.video.encoders import build_encoder
from spotkern.video.extract import SIDECAR_SUFFIX, extract_video, feature_name, read_sidecar
from spotkern.video.frames import VIDEO_EXTENSIONS
from spotkern.video.pca import SoccerNetPCA

log = logging.getLogger("spotkern")

FN = "predict"
_HALF = re.compile(r"^([12])_")


def match_halves(videos: Sequence[PathLike]) -> list[tuple[int, str]]:
    """``[(half, video path)]`` of one match: a video is half 1; two videos are halves 1 and 2 (their ``1_`` /
    ``2_`` prefixes decide the order when both have one); a folder gives its ``1_*`` and ``2_*`` videos."""
    paths = [os.fspath(v) for v in videos]
    if not paths:
        raise ValueError(f"{FN}: --video needs one or two videos, or a folder with 1_/2_ videos")
    if len(paths) == 1 and os.path.isdir(paths[0]):
        folder = paths[0]
        found = sorted(f for f in os.listdir(folder) if _HALF.match(f) and f.lower().endswith(VIDEO_EXTENSIONS))
        halves: dict[int, str] = {}
        for f in found:
            h = int(f[0])
            if h in halves:
                raise ValueError(f"{FN}: {folder} holds several videos of half {h}: {halves[h]}, {f}")
            halves[h] = f
        if not halves:
            raise ValueError(f"{FN}: {folder} holds no video named 1_* or 2_* ({', '.join(VIDEO_EXTENSIONS)})")
        return [(h, os.path.join(folder, halves[h])) for h in sorted(halves)]
    if len(paths) > 2:
        raise ValueError(f"{FN}: --video takes one match: one or two videos (halves 1 and 2), got {len(paths)}")
    for p in paths:
        if not os.path.isfile(p):
            raise ValueError(f"{FN}: video {p} does not exist" if not os.path.exists(p) else
                             f"{FN}: {p} is a folder: give one folder alone, or video files")
    numbers = [_HALF.match(os.path.basename(p)) for p in paths]
    if len(paths) == 2 and all(numbers) and {m.group(1) for m in numbers if m} == {"1", "2"}:
        return sorted((int(m.group(1)), p) for m, p in zip(numbers, paths) if m)
    return [(i + 1, p) for i, p in enumerate(paths)]


#: what an extraction record keeps of a sidecar: enough to extract new videos the same way
RECORD_KEYS = ("features", "encoder", "fps", "dim", "weights_digest", "pca_digest")


def training_extraction(cfg: TrainConfig) -> dict | None:
    """The extraction record (``RECORD_KEYS`` of the sidecar) of the training features of a run's config, or
    None where they have none (features made outside spotkern, a generic dataset, data no longer there)."""
    data = cfg.data
    try:
        games = list_games(data, cfg.train_split)
    except (OSError, ValueError, DataFormatError):
        return None
    for game in games:
        gdir = os.path.join(data, game)
        try:
            name = cfg.features if cfg.features != "auto" else detect_features(gdir)
        except (OSError, DataFormatError):
            continue
        side = read_sidecar(os.path.join(gdir, f"1_{name}.npy"))
        if side is not None:
            return {k: side.get(k) for k in RECORD_KEYS}
    return None


@dataclasses.dataclass
class VideoSpotter:
    """What video prediction needs of a trained run or an exported model: its classes, fps and feature width,
    the extraction record of its training features, its default post-processing and one half's post-NMS scores
    (``predict_half(features, postprocess)``)."""

    where: str
    classes: tuple[str, ...]
    fps: float
    feature_dim: int
    stage: str
    record: dict | None
    resolve: Callable[[PostProcess | PathLike | None, float | None, int | None], PostProcess]
    predict_half: Callable[[np.ndarray, PostProcess], np.ndarray]

    def check_features(self, x: np.ndarray, where: str) -> None:
        if x.ndim != 2 or x.shape[0] < 1:
            raise ValueError(f"{FN}: {where}: features must have shape (T, {self.feature_dim}) with T >= 1, "
                             f"got {tuple(x.shape)}")
        if x.shape[1] != self.feature_dim:
            raise ValueError(f"{FN}: {where}: {x.shape[1]}-d features, but {self.where} was trained on "
                             f"{self.feature_dim}-d features")


def video_spotter(run_dir: str | None = None, model_dir: str | None = None, device: DeviceLike = "cpu") -> VideoSpotter:
    """The ``VideoSpotter`` of a run folder (``spotkern train``'s, or a safetensors export) or of an exported
    model folder (onnx, pt2: ``spotkern export``, whose manifest records the extraction)."""
    if (run_dir is None) == (model_dir is None):
        raise ValueError(f"{FN}: give a run (--run) or an exported model (--model), one of them")
    if run_dir is not None:
        run = TrainedRun(run_dir, device)  # the checkpoints first: a bad run is named before any video is read
        record = training_extraction(run.cfg)
        if record is None and os.path.isfile(os.path.join(run_dir, MANIFEST_FILE)):  # a safetensors export
            record = read_manifest(run_dir, FN, verify=False).get("extraction")
        return VideoSpotter(f"the run {run_dir}", run.classes, run.fps, run.feature_dim, run.stage.name, record,
                            run.postprocess, run.predict_half)
    assert model_dir is not None
    m = read_manifest(model_dir, FN)
    where = f"the exported model {model_dir}"
    if m["export_format"] == "onnx":
        spotter = OnnxSpotter(model_dir)
        return VideoSpotter(where, tuple(spotter.classes), spotter.fps, spotter.feature_dim, str(m["run"]["stage"]),
                            m.get("extraction"), spotter.resolve, spotter.predict_half)
    if m["export_format"] == "pt2":
        program, m = load_program(model_dir, FN)
        shipped = PostProcess.from_dict(m["postprocess"], f"{FN}: {model_dir}/{MANIFEST_FILE}")

        def resolve(postprocess: PostProcess | PathLike | None, threshold: float | None,
                    top_k: int | None) -> PostProcess:
            if postprocess is not None or threshold is not None or top_k is not None:
                raise ValueError(f"{FN}: {model_dir} is a pt2 program with its post-processing built in; "
                                 "--postprocess, --threshold and --top-k need an onnx or safetensors export")
            return shipped

        def predict_half(x: np.ndarray, pp: PostProcess) -> np.ndarray:
            with torch.no_grad():
                return program(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()

        return VideoSpotter(where, tuple(m["classes"]), float(m["fps"]), int(m["feature_dim"]),
                            str(m["run"]["stage"]), m.get("extraction"), resolve, predict_half)
    return video_spotter(run_dir=model_dir, device=device)  # safetensors: a run folder


def _feature_file(features_dir: str, half: int, name: str | None) -> str:
    if name is not None and os.path.isfile(os.path.join(features_dir, f"{half}_{name}.npy")):
        return os.path.join(features_dir, f"{half}_{name}.npy")
    found = sorted(glob.glob(os.path.join(glob.escape(features_dir), f"{half}_*.npy")))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({', '.join(os.path.basename(f) for f in found)})"
        raise ValueError(f"{FN}: --features {features_dir}: {what} feature file {half}_<name>.npy for half {half}"
                         + (f"; the run's features are {name}" if name else ""))
    return found[0]


def _row_offset(npy: str, fps: float) -> float:
    """Seconds from a feature row's time (row / fps) to the video's time of its frame, from the sidecar's
    timestamps (FrameCV keeps the frame that ends each 1 / fps period: about 1 / fps - 1 / video fps)."""
    side = read_sidecar(npy)
    if not side or not side.get("timestamps"):
        return 0.0
    ts = np.asarray(side["timestamps"], dtype=np.float64)
    return float(np.median(ts - np.arange(len(ts)) / float(fps)))


def predict_video(run_dir: str | None, videos: Sequence[PathLike] = (), out_dir: str = "predictions", *,
                  model_dir: str | None = None, features_dir: str | None = None, weights: str | None = None,
                  pca: str | None = None,
                  pca_mean: str | None = None, device: DeviceLike = "cpu",
                  postprocess: PostProcess | PathLike | None = None, threshold: float | None = None,
                  top_k: int | None = None, batch: int = 16, progress: bool = True) -> str:
    """Predict the events of one match from its videos (module docstring) and return the path of
    ``<out_dir>/results_spotting.json``. ``weights`` / ``pca`` / ``pca_mean``: the files the run's features were
    extracted with (resnet152-soccernet); ``features_dir``: features extracted earlier instead of the videos.
    ``model_dir`` instead of ``run_dir``: an exported model (``spotkern export``: onnx, pt2 or safetensors)."""
    run = video_spotter(run_dir, model_dir, device)
    halves = match_halves(videos) if videos else []
    if features_dir is None and not halves:
        raise ValueError(f"{FN}: give --video (one match) or --features (features extracted earlier)")
    record = run.record
    name = record.get("features") if record else None
    files: dict[int, str] = {}
    if features_dir is not None:
        numbers = [h for h, _ in halves] or [h for h in (1, 2)
                                            if glob.glob(os.path.join(glob.escape(features_dir), f"{h}_*.npy"))]
        if not numbers:
            raise ValueError(f"{FN}: --features {features_dir} holds no 1_<name>.npy")
        files = {h: _feature_file(features_dir, h, name) for h in numbers}
    else:
        files = _extract(run, record, halves, out_dir, weights=weights, pca=pca, pca_mean=pca_mean, batch=batch,
                         progress=progress, device=device)
    pp = run.resolve(postprocess, threshold, top_k)
    scores = []
    for h in sorted(files):
        try:
            x = np.load(files[h], mmap_mode="r")
        except (OSError, ValueError) as e:
            raise ValueError(f"{FN}: {files[h]}: not a readable .npy feature file ({e})") from None
        run.check_features(x, files[h])
        feats = np.array(x, dtype=np.float32)  # a writable copy of the memory-mapped file
        if not np.isfinite(feats).all():
            raise ValueError(f"{FN}: {files[h]}: the features hold NaN or infinite values")
        scores.append(run.predict_half(feats, pp))
    if sorted(files) != list(range(1, len(files) + 1)):
        raise ValueError(f"{FN}: the halves must be 1 or 1 and 2, got {sorted(files)}")
    match = os.path.splitext(os.path.basename(halves[0][1]))[0] if halves else os.path.basename(
        os.path.abspath(features_dir or "."))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, RESULTS_FILE)
    write_json_atomic(path, results_document(match, scores, run.classes, run.fps))
    pp.save(os.path.join(out_dir, POSTPROCESS_FILE))
    offsets = [_row_offset(files[h], run.fps) for h in sorted(files)]
    if halves:  # the report's player needs the videos; features alone leave no video to show
        source = os.path.abspath(run_dir if run_dir is not None else str(model_dir))
        write_video_prediction_manifest(out_dir, dict(halves), list(run.classes), run.fps, source,
                                        float(np.mean(offsets)) if offsets else 0.0, results=RESULTS_FILE)
    n = sum(int((s >= 0).sum()) for s in scores)
    log.info("predict: %d events in %d half(s) -> %s", n, len(scores), path)
    return path


def _extract(run: VideoSpotter, record: dict | None, halves: list[tuple[int, str]], out_dir: str, *,
             weights: str | None, pca: str | None, pca_mean: str | None, batch: int, progress: bool,
             device: DeviceLike) -> dict[int, str]:
    """Extract each half with the encoder of the run's training features; {half: .npy path}."""
    if record is None:
        raise ValueError(f"{FN}: {run.where}: its training features carry no extraction record "
                         f"(*.npy{SIDECAR_SUFFIX}), so the encoder to use is unknown: extract the videos with the "
                         "encoder the features came from ('spotkern extract') and pass --features")
    encoder_name = str(record.get("encoder"))
    if encoder_name != "tiny" and not weights:
        raise ValueError(f"{FN}: the run's features were extracted with {encoder_name}: pass its --weights file")
    encoder = build_encoder(encoder_name, weights if encoder_name != "tiny" else None, device=str(device))
    if record.get("weights_digest") and encoder.digest != record["weights_digest"]:
        raise ValueError(f"{FN}: --weights {weights}: not the weights file the run's features were extracted with "
                         f"(sha256 {encoder.digest[:12]}..., the features' {str(record['weights_digest'])[:12]}...)")
    projection = None
    if record.get("pca_digest"):
        if not (pca and pca_mean):
            raise ValueError(f"{FN}: the run's features went through a PCA: pass --pca and --pca-mean")
        projection = SoccerNetPCA.from_pickles(pca, pca_mean)
        if projection.digest != record["pca_digest"]:
            raise ValueError(f"{FN}: --pca {pca} / --pca-mean {pca_mean}: not the PCA the run's features went through")
    elif pca or pca_mean:
        raise ValueError(f"{FN}: the run's features went through no PCA: drop --pca/--pca-mean")
    fps = float(record.get("fps") or run.fps)
    name = str(record.get("features") or feature_name(encoder, projection))
    files = {}
    for h, video in halves:
        files[h] = extract_video(video, out_dir, encoder=encoder, pca=projection, fps=fps, batch=batch,
                                 layout="soccernet", name=name, rel=os.path.join("features", f"{h}_video"),
                                 progress=progress)
    return files


