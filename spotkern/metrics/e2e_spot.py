"""The E2E-Spot frame-tolerance mAP (soccernet_metric.md section 13).

The metric of E2E-Spot and its descendants (T-DEED, ...) for tennis, figure skating, FineDiving, FineGym
and SoccerNet Ball. Unlike the SoccerNet average-mAP it matches predictions in score order (not ground
truth in time order), takes tolerances in frames, and integrates the exact precision/recall curve
(all-point interpolation) without threshold quantisation, visibility split or tolerance averaging.

Per class (the classes present in the ground truth, sorted by name) and tolerance:

1. pool the class's predictions over all videos and sort them by score, descending (stable: ties keep
   input order, videos in ``predictions`` order);
2. the i-th prediction (1-based) looks for the nearest not-yet-recalled ground-truth frame of that class
   in its video (ties -> the earlier one in input order); within ``tolerance`` frames it is a true
   positive: that frame is recalled (several GT events on the same frame are recalled together) and the
   precision (#recalled / i) is recorded; otherwise it is a false positive;
3. each recorded precision is replaced by the maximum at this or any later true positive;
4. AP = sum of these precisions / number of GT events of the class (unrecalled events contribute 0).

mAP(tolerance) = unweighted mean of the class APs; predictions of classes absent from the ground truth
are ignored. The sets of videos of ``truth`` and ``predictions`` must be identical.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

_FN = "e2e_spot_map"
FRAME_LIMIT = 2**62


def _events(name, videos, need_score):
    if not isinstance(videos, (list, tuple)):
        raise TypeError(f"{_FN}: {name} must be a list of {{'video', 'events'}} objects, got {type(videos).__name__}")
    for i, v in enumerate(videos):
        if not isinstance(v, dict) or "video" not in v or "events" not in v:
            raise ValueError(f"{_FN}: {name}[{i}] must be an object with 'video' and 'events'")
        if isinstance(v["video"], bool) or not isinstance(v["video"], (str, int)):
            raise TypeError(f"{_FN}: {name}[{i}].video must be a string or an integer, got {v['video']!r}")
        if not isinstance(v["events"], (list, tuple)):
            raise ValueError(f"{_FN}: {name}[{i}].events must be a list")
        for j, e in enumerate(v["events"]):
            where = f"{name}[{i}].events[{j}]"
            if not isinstance(e, dict):
                raise ValueError(f"{_FN}: {where} must be an object")
            for field in ("frame", "label") + (("score",) if need_score else ()):
                if field not in e:
                    raise ValueError(f"{_FN}: {where}.{field} is missing")
            if isinstance(e["frame"], bool) or not isinstance(e["frame"], (int, np.integer)):
                raise TypeError(f"{_FN}: {where}.frame must be an integer, got {e['frame']!r}")
            if not -FRAME_LIMIT < int(e["frame"]) < FRAME_LIMIT:  # frame differences must fit int64
                raise ValueError(f"{_FN}: {where}.frame must lie in (-2**62, 2**62), got {e['frame']}")
            if not isinstance(e["label"], str):
                raise TypeError(f"{_FN}: {where}.label must be a string, got {e['label']!r}")
            if need_score:
                s = e["score"]
                if isinstance(s, bool) or not isinstance(s, (int, float, np.integer, np.floating)) \
                        or not np.isfinite(s):
                    raise ValueError(f"{_FN}: {where}.score must be a finite number, got {s!r}")
            yield v["video"], e


def _average_precision(preds, truth_frames, tolerance):
    """preds: [(video, frame, score)] sorted by score desc; truth_frames: {video: [frame, ...]}."""
    total = sum(len(f) for f in truth_frames.values())
    remaining = {v: np.asarray(f, dtype=np.int64) for v, f in truth_frames.items()}
    open_ = {v: np.ones(len(f), dtype=bool) for v, f in remaining.items()}
    n_recalled = 0
    precisions = []
    for i, (video, frame, _score) in enumerate(preds, 1):
        frames = remaining.get(video)
        if frames is None or not open_[video].any():
            continue
        dist = np.where(open_[video], np.abs(frames - frame), np.iinfo(np.int64).max)
        j = int(np.argmin(dist))  # first minimum = the earlier GT in input order
        if dist[j] <= tolerance:
            # Recall is per (video, frame): duplicate GT frames are recalled together.
            open_[video][frames == frames[j]] = False
            n_recalled += 1
            precisions.append(n_recalled / i)
    best = 0.0
    interpolated = []
    for p in reversed(precisions):
        best = max(p, best)
        interpolated.append(best)
    interpolated.reverse()
    return sum(interpolated) / total


def e2e_spot_map(truth: Sequence[dict], predictions: Sequence[dict],
                 tolerances: Sequence[int] = (0, 1, 2, 4)) -> dict:
    """Frame-tolerance mAP of E2E-Spot (see the module docstring; spec section 13).

    Args:
        truth: list of {"video": id, "events": [{"frame": int, "label": str}, ...]}.
        predictions: list of {"video": id, "events": [{"frame": int, "label": str, "score": float}, ...]}.
        tolerances: tolerances in frames (|pred - gt| <= tolerance is a hit), default (0, 1, 2, 4).

    Returns:
        {"tolerances": [...], "mAP": [mAP per tolerance], "average_mAP": mean over tolerances,
         "classes": [class names, sorted], "AP_per_class": {class: [AP per tolerance]}}.
    """
    tolerances = list(tolerances) if isinstance(tolerances, (list, tuple)) else tolerances
    if not isinstance(tolerances, list) or not tolerances or not all(
            not isinstance(t, bool) and isinstance(t, (int, np.integer)) and 0 <= t < FRAME_LIMIT for t in tolerances):
        raise ValueError(f"{_FN}: tolerances must be a non-empty sequence of integers in [0, 2**62), got "
                         f"{tolerances!r}")
    truth_by_label: defaultdict[str, defaultdict[Any, list[int]]] = defaultdict(lambda: defaultdict(list))
    for video, e in _events("truth", truth, False):
        truth_by_label[e["label"]][video].append(int(e["frame"]))
    pred_by_label = defaultdict(list)
    for video, e in _events("predictions", predictions, True):
        pred_by_label[e["label"]].append((video, int(e["frame"]), float(e["score"])))
    if {v["video"] for v in truth} != {v["video"] for v in predictions}:
        raise ValueError(f"{_FN}: truth and predictions must cover the same set of videos")
    classes = sorted(truth_by_label)
    if not classes:
        raise ValueError(f"{_FN}: truth holds no event")
    per_class = {}
    for label in classes:
        preds = sorted(pred_by_label.get(label, []), key=lambda x: x[2], reverse=True)  # stable
        per_class[label] = [_average_precision(preds, truth_by_label[label], t) for t in tolerances]
    maps = [float(np.mean([per_class[c][k] for c in classes])) for k in range(len(tolerances))]
    return {"tolerances": [int(t) for t in tolerances], "mAP": maps, "average_mAP": float(np.mean(maps)),
            "classes": classes, "AP_per_class": per_class}
