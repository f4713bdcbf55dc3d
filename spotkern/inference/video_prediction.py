"""The sidecar of a prediction from video, ``<prediction>/video_prediction.json`` (``VIDEO_PREDICTION_FILE``):
which video file each half is, the run's classes and fps, and the offset from a feature row's time to the
video's time. ``spotkern predict --video`` writes it (``write_video_prediction_manifest``); ``spotkern report``
reads it to play the match video beside the predicted events (``spotkern.report.video``, whose docstring gives
the schema)."""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

from spotkern._files import FileProblem, load_json_file, write_json_atomic

#: the sidecar of a prediction from video, in the prediction folder
VIDEO_PREDICTION_FILE = "video_prediction.json"
#: the results file of a prediction (SoccerNet's name)
RESULTS_FILE = "results_spotting.json"
#: value of the sidecar's "format" key
VIDEO_PREDICTION_FORMAT = "spotkern-video-prediction"
VIDEO_PREDICTION_VERSION = 1


def check_finite(fn: str, name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or (positive and value <= 0):
        raise ValueError(f"{fn}: {name} must be a finite{' positive' if positive else ''} number, got {value!r}")
    return float(value)


def _check_classes(fn: str, classes: object) -> list[str]:
    if isinstance(classes, str) or not isinstance(classes, (list, tuple)) or not classes \
            or not all(isinstance(c, str) and c for c in classes):
        raise ValueError(f"{fn}: classes must be a non-empty list of class names, got {classes!r}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"{fn}: classes must be distinct, got {list(classes)!r}")
    return list(classes)


def check_videos(fn: str, videos: object) -> dict[int, str]:
    """{half: path} from a list (halves 1, 2, ...) or a mapping half -> path (int or digit-string keys)."""
    if isinstance(videos, (str, bytes, os.PathLike)):
        videos = [videos]
    if isinstance(videos, Mapping):
        items = list(videos.items())
    elif isinstance(videos, (list, tuple)):
        items = [(h, v) for h, v in enumerate(videos, start=1)]
    else:
        raise ValueError(f"{fn}: videos must be a list of video files (halves 1, 2, ...) or a mapping "
                         f"half -> file, got {type(videos).__name__}")
    if not items:
        raise ValueError(f"{fn}: videos is empty")
    out: dict[int, str] = {}
    for h, v in items:
        half = int(h) if isinstance(h, int) and not isinstance(h, bool) else \
            int(h) if isinstance(h, str) and h.isdigit() else None
        if half is None or half < 1:
            raise ValueError(f"{fn}: videos: a half must be a positive integer, got {h!r}")
        if not isinstance(v, (str, os.PathLike)) or not os.fspath(v):
            raise ValueError(f"{fn}: videos: half {half}: expected a file path, got {v!r}")
        out[half] = os.fspath(v)
    return dict(sorted(out.items()))


def write_video_prediction_manifest(out_dir: str, videos: Sequence[str] | Mapping[int | str, str],
                                    classes: Sequence[str], fps: float, run: str, offset_s: float = 0.0, *,
                                    results: str | None = None) -> str:
    """Write the sidecar ``<out_dir>/video_prediction.json`` of a prediction from video (schema in the
    module's docstring) atomically; returns its path.

    videos: the video files of halves 1, 2, ... (a list), or a mapping half -> file; stored as absolute
    paths. classes: the run's class names in class-id order (the results file's labels are
    ``result_labels(classes)``). fps: feature rows per second. run: the run folder (stored absolute).
    offset_s: seconds added to a feature row's time (``position`` / 1000) to get the video time.
    results: the results file, relative to ``out_dir`` (default: not recorded; the reader looks for
    ``results_spotting.json`` in ``out_dir``, then in its one game folder)."""
    fn = "write_video_prediction_manifest"
    halves = check_videos(fn, videos)
    doc = {"format": VIDEO_PREDICTION_FORMAT, "version": VIDEO_PREDICTION_VERSION,
           "videos": {str(h): os.path.abspath(v) for h, v in halves.items()},
           "classes": _check_classes(fn, classes), "fps": check_finite(fn, "fps", fps, positive=True),
           "run": os.path.abspath(os.fspath(run)), "offset_s": check_finite(fn, "offset_s", offset_s)}
    if results is not None:
        doc["results"] = os.fspath(results)
    os.makedirs(out_dir, exist_ok=True)
    return write_json_atomic(os.path.join(out_dir, VIDEO_PREDICTION_FILE), doc, indent=1)


def read_video_prediction_manifest(prediction_dir: str) -> dict:
    """The checked sidecar of ``prediction_dir``: {"videos": {half (int): absolute path}, "classes",
    "fps", "run", "offset_s", "results" (absolute path)}; a missing or malformed file raises ValueError
    naming it. Relative video paths are taken relative to ``prediction_dir``."""
    path = os.path.join(prediction_dir, VIDEO_PREDICTION_FILE)
    if not os.path.lexists(path):
        raise ValueError(f"report: {path}: missing (spotkern predict --video writes it; without it, name the "
                         f"videos with --videos A [B])")
    try:
        doc = load_json_file(path)
    except FileProblem as problem:
        raise ValueError(f"report: {problem}") from None
    fn = f"report: {path}"
    if not isinstance(doc, dict):
        raise ValueError(f"{fn}: expected a JSON object, got {type(doc).__name__}")
    if doc.get("format", VIDEO_PREDICTION_FORMAT) != VIDEO_PREDICTION_FORMAT:
        raise ValueError(f"{fn}: format is {doc.get('format')!r}, not {VIDEO_PREDICTION_FORMAT!r}")
    for key in ("videos", "classes"):
        if key not in doc:
            raise ValueError(f"{fn}: missing key {key!r}")
    halves = check_videos(fn, doc["videos"])
    results = doc.get("results", None)
    if results is not None and (not isinstance(results, str) or not results):
        raise ValueError(f"{fn}: results must be a file name, got {results!r}")
    run = doc.get("run")
    return {"videos": {h: os.path.join(os.path.abspath(prediction_dir), v) for h, v in halves.items()},
            "classes": _check_classes(fn, doc["classes"]),
            "fps": None if doc.get("fps") is None else check_finite(fn, "fps", doc["fps"], positive=True),
            "run": run if isinstance(run, str) else None,
            "offset_s": check_finite(fn, "offset_s", doc.get("offset_s", 0.0)),
            "results": None if results is None else os.path.join(os.path.abspath(prediction_dir), results)}
