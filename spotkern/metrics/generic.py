"""Scores of results on the generic ``dataset.json`` format (any sport; ``spotkern.data.dataset``):
the SoccerNet-style average-mAP (tolerances in seconds at the dataset's fps) and the E2E-Spot
frame-tolerance mAP (soccernet_metric.md section 13), from one reading of the files.

Ground truth: the events of the split's videos as training reads them (``read_generic``: one "half" per
video, frames from ``frame`` or ``round(time * fps)``, one event per (frame, label)). All are
"visible": the visible / unshown entries of the SoccerNet result are None.

Predictions, either

* a folder (or zip) holding ``<video>/results_spotting.json`` (what ``spotkern predict`` writes): each
  entry's frame is ``round(position_ms * fps / 1000)`` (exact for the positions spotkern writes, also at
  non-integer fps), ``label`` a class name, ``confidence`` a number; or
* one JSON file in E2E-Spot's format: ``[{"video": name, "events": [{"frame": 12, "label": "x",
  "score": 0.9}, ...]}, ...]``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import TypedDict

import numpy as np

from spotkern._files import FileProblem, load_json_file
from spotkern._typing import Metric, Split
from spotkern.data.dataset import GENERIC_FILE, read_generic
from spotkern.metrics.e2e_spot import e2e_spot_map
from spotkern.metrics.evaluate import Events
from spotkern.metrics.io import MetricFileError, Source
from spotkern.metrics.soccernet import average_map_from_events, resolve_tolerances

E2E_TOLERANCES = (0, 1, 2, 4)
_FN = "evaluate_generic"

#: one prediction read from a file: (frame, label, score, file, field), the last two for error messages
_Entry = tuple[int, str, float, str, str]


class GenericEvents(TypedDict):
    """``read_generic_events``'s result: the split's class names and fps, the videos scored, and
    ``events``, the positional arguments of ``average_map_from_events`` up to the tolerances."""

    classes: list[str]
    fps: float
    videos: list[str]
    events: Events


def is_generic(root: object) -> bool:
    """Whether ``root`` holds a generic ``dataset.json``."""
    return isinstance(root, (str, os.PathLike)) and os.path.isfile(os.path.join(root, GENERIC_FILE))


def _entries_from_results(preds: Source, video: str, prediction_file: str, fps: float) -> list[_Entry]:
    data, where = preds.load_json(video, prediction_file)
    items = data.get("predictions") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise MetricFileError(_FN, where, "predictions", "missing or not a list")
    out: list[_Entry] = []
    for i, p in enumerate(items):
        field = f"predictions[{i}]"
        try:
            ms, label, score = int(p["position"]), p["label"], float(p["confidence"])
        except (KeyError, TypeError, ValueError):
            raise MetricFileError(_FN, where, field, "needs an integer 'position' (ms), a 'label' and a numeric "
                                                     "'confidence'") from None
        if str(p.get("half", "1")) != "1":
            raise MetricFileError(_FN, where, f"{field}.half", "a generic video has one half (1)")
        out.append((int(round(ms * fps / 1000)), label, score, where, field))
    return out


def _entries_from_e2e(path: str, videos: list[str]) -> dict[str, list[_Entry]]:
    try:
        doc = load_json_file(path)
    except FileProblem as e:
        raise MetricFileError(_FN, path, "file", e.problem) from None
    if not isinstance(doc, list) or not all(isinstance(v, dict) and "video" in v for v in doc):
        raise MetricFileError(_FN, path, "file", "expected E2E-Spot's list of {\"video\", \"events\"} objects")
    by_video = {str(v["video"]): v.get("events") for v in doc}
    out: dict[str, list[_Entry]] = {}
    for video in videos:
        if video not in by_video:
            raise MetricFileError(_FN, path, video, "video missing")
        events = by_video[video]
        if not isinstance(events, list):
            raise MetricFileError(_FN, path, f"{video}.events", "must be a list")
        rows: list[_Entry] = []
        for i, event in enumerate(events):
            field = f"{video}.events[{i}]"
            try:
                rows.append((int(event["frame"]), event["label"], float(event["score"]), path, field))
            except (KeyError, TypeError, ValueError):
                raise MetricFileError(_FN, path, field, "needs an integer 'frame', a 'label' and a numeric 'score'") \
                    from None
        out[video] = rows
    return out


def read_generic_events(root: str, predictions: str, *, split: Split = "test", videos: Iterable[str] | None = None,
                        prediction_file: str = "results_spotting.json") -> GenericEvents:
    """Ground truth and predictions of a generic split as event arrays.

    Returns {"classes", "fps", "videos", "events"}: ``events`` the positional arguments of
    ``average_map_from_events`` up to the tolerances (C, H, GT halves, frames, classes, values,
    prediction halves, frames, classes, scores), one half per video in ``videos`` order."""
    ds = read_generic(root, split)
    by_name = {h.game: h for h in ds.halves}
    videos = list(ds.games) if videos is None else [str(v) for v in videos]
    missing = [v for v in videos if v not in by_name]
    if missing:
        raise ValueError(f"{_FN}: videos {missing} are not in split {split!r} of {root}")
    index = {c: i for i, c in enumerate(ds.classes)}
    if os.path.isfile(predictions) and str(predictions).endswith(".json"):
        rows = _entries_from_e2e(os.fspath(predictions), videos)
    else:
        with Source(_FN, "predictions", predictions) as preds:
            rows = {v: _entries_from_results(preds, v, prediction_file, ds.fps) for v in videos}
    gt: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])  # halves, frames, classes
    pr: tuple[list[int], list[int], list[int], list[float]] = ([], [], [], [])  # halves, frames, classes, scores
    for k, video in enumerate(videos):
        h = by_name[video]
        gt[0].append(np.full(len(h.frames), k, dtype=np.int64))
        gt[1].append(h.frames)
        gt[2].append(h.classes)
        for frame, label, score, where, field in rows[video]:
            if label not in index:
                raise MetricFileError(_FN, where, f"{field}.label",
                                      f"unknown label {label!r} (classes: {list(ds.classes)})")
            if not np.isfinite(score):
                raise MetricFileError(_FN, where, field, f"score is not finite: {score!r}")
            if frame < 0:
                raise MetricFileError(_FN, where, field, f"negative frame {frame}")
            pr[0].append(k)
            pr[1].append(frame)
            pr[2].append(index[label])
            pr[3].append(score)
    cat = lambda a: np.concatenate(a).astype(np.int64) if a else np.zeros(0, np.int64)  # noqa: E731
    i64 = lambda a: np.asarray(a, dtype=np.int64)  # noqa: E731
    G = sum(len(x) for x in gt[1])
    events = (len(ds.classes), len(videos), cat(gt[0]), cat(gt[1]), cat(gt[2]), np.ones(G),
              i64(pr[0]), i64(pr[1]), i64(pr[2]), np.asarray(pr[3], dtype=np.float64))
    return {"classes": list(ds.classes), "fps": float(ds.fps), "videos": videos, "events": events}


def e2e_from_events(classes: Sequence[str], videos: Sequence[str], events: Events) -> tuple[list[dict], list[dict]]:
    """(truth, predictions) lists in E2E-Spot's format from ``read_generic_events``'s arrays (scores < 0
    are no detection, as in the SoccerNet metric)."""
    _, _, gh, gf, gc, _, ph, pf, pc, ps = events
    truth = [{"video": v, "events": []} for v in videos]
    preds = [{"video": v, "events": []} for v in videos]
    for h, f, c in zip(gh.tolist(), gf.tolist(), gc.tolist()):
        truth[h]["events"].append({"frame": f, "label": classes[c]})
    for h, f, c, s in zip(ph.tolist(), pf.tolist(), pc.tolist(), ps.tolist()):
        if s >= 0:
            preds[h]["events"].append({"frame": f, "label": classes[c], "score": s})
    return truth, preds


def evaluate_generic(root: str, predictions: str, *, split: Split = "test", metric: Metric = "loose",
                     e2e_tolerances: Sequence[int] = E2E_TOLERANCES, videos: Iterable[str] | None = None,
                     prediction_file: str = "results_spotting.json", details: bool = False) -> dict:
    """Both metrics of a generic split (module docstring).

    Returns the SoccerNet result dict (``a_mAP``, ``a_mAP_per_class`` in the dataset's class order; the
    visible / unshown entries None), plus ``"e2e"``: ``e2e_spot_map``'s dict (mAP per tolerance in
    frames, ``average_mAP``), ``"classes"``, ``"fps"`` and ``"num_games"`` (videos scored)."""
    tolerances = resolve_tolerances(_FN, metric)
    read = read_generic_events(root, predictions, split=split, videos=videos, prediction_file=prediction_file)
    result = average_map_from_events(*read["events"], tolerances, read["fps"], details)
    for key in ("a_mAP_visible", "a_mAP_per_class_visible", "a_mAP_unshown", "a_mAP_per_class_unshown"):
        result[key] = None
    truth, preds = e2e_from_events(read["classes"], read["videos"], read["events"])
    if any(v["events"] for v in truth):
        result["e2e"] = e2e_spot_map(truth, preds, tolerances=list(e2e_tolerances))
    else:
        result["e2e"] = None  # e2e_spot_map needs ground truth; the SoccerNet APs are then 0
    result["classes"], result["fps"], result["num_games"] = read["classes"], read["fps"], len(read["videos"])
    return result


def format_generic(result: dict) -> str:
    """Per-class table: SoccerNet-style a-mAP and E2E-Spot AP per tolerance (in %), then the averages."""
    classes = result["classes"]
    e2e = result.get("e2e")
    tols = e2e["tolerances"] if e2e else []
    width = max(len(c) for c in classes + ["average"])
    head = f"{'class':<{width}}  {'a-mAP':>6}" + "".join(f"  {'e2e@' + str(t):>7}" for t in tols)
    lines = [head]
    per = np.asarray(result["a_mAP_per_class"], dtype=np.float64).reshape(-1)
    for c, name in enumerate(classes):
        row = f"{name:<{width}}  {100 * per[c]:6.2f}"
        ap = e2e["AP_per_class"].get(name) if e2e else None
        row += "".join(f"  {'-':>7}" if ap is None else f"  {100 * ap[k]:7.2f}" for k in range(len(tols)))
        lines.append(row)
    lines.append("-" * len(head))
    lines.append(f"{'average':<{width}}  {100 * float(result['a_mAP']):6.2f}"
                 + "".join(f"  {100 * m:7.2f}" for m in (e2e["mAP"] if e2e else [])))
    if e2e:
        lines.append(f"E2E-Spot mAP averaged over tolerances {tols} frames: {100 * e2e['average_mAP']:.2f}")
    return "\n".join(lines)


def run_evaluate_generic(args: argparse.Namespace) -> int:
    """``spotkern evaluate`` on a generic root (dispatched by ``spotkern.metrics.cli.run_evaluate``)."""
    try:
        result = evaluate_generic(args.labels_dir, args.predictions, split=args.split, metric=args.metric,
                                  e2e_tolerances=getattr(args, "e2e_tolerances", E2E_TOLERANCES),
                                  prediction_file=args.prediction_file)
    except (ValueError, TypeError) as e:
        if getattr(args, "verbose", 0):  # spotkern -v evaluate: the traceback, as every command
            raise
        print(f"spotkern evaluate: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        def plain(x):
            if isinstance(x, np.ndarray):
                return x.tolist()
            if isinstance(x, dict):
                return {k: plain(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [plain(v) for v in x]
            return float(x) if isinstance(x, (np.floating, np.integer)) else x

        print(json.dumps(plain(result), indent=1))
    else:
        metric = args.metric if isinstance(args.metric, str) else ",".join(f"{t:g}" for t in args.metric)
        print(f"generic dataset ({len(result['classes'])} classes, {result['fps']:g} fps), split {args.split}: "
              f"average-mAP ({metric}, tolerances in seconds) and E2E-Spot AP (tolerances in frames)")
        print(format_generic(result))
    return 0
