"""What the report shows of one run, computed with spotkern's metrics: per-class APs (loose / tight,
visible / unshown), mAP per matching tolerance, precision-recall points, the events of every game,
the training logs and the post-processing in use."""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from spotkern.metrics.dictionaries import LABEL_FILES, class_names
from spotkern.metrics.e2e_spot import e2e_spot_map
from spotkern.metrics.evaluate import Events, read_events
from spotkern.metrics.generic import e2e_from_events, is_generic, read_generic_events
from spotkern.metrics.io import Source
from spotkern.metrics.per_class import precision_recall_curves
from spotkern.metrics.soccernet import average_map_from_events, resolve_tolerances
from spotkern.postprocess import PostProcess
from spotkern.report.metrics_log import read_metrics_log
from spotkern.runs.predict import run_default_postprocess
from spotkern.train.run_config import require_run
from spotkern.tune import run_config

#: matching tolerances of the mAP-vs-tolerance curve, seconds (the dense-anchor paper's Fig. 2 spans 0-60 s)
CURVE_TOLERANCES = tuple(float(t) for t in range(1, 61))
STAGES = ("calf", "confidence", "displacement", "joint")
POSTPROCESS_FILE = "postprocess.json"


@dataclasses.dataclass
class RunResults:
    """One run on one split. ``events``: the arguments of ``average_map_from_events`` up to the
    tolerances; ``videos``: (game, half number) of each half index; per-class arrays in ``classes`` order."""

    name: str
    run_dir: str
    split: str
    predictions: str
    classes: list
    fps: float
    videos: list
    events: Events
    loose: dict
    tight: dict
    curve: dict
    pr_tolerance: float
    pr_ap: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    logs: dict
    postprocess: PostProcess
    postprocess_source: str
    tuning: PostProcess | None = None
    generic: bool = False
    e2e: dict | None = None


def _soccernet_events(data: str, predictions: str, version: int, prediction_file: str):
    with Source("report", "predictions", predictions) as src:
        games = src.games(prediction_file)
    if not games:
        raise ValueError(f"report: no {prediction_file} under {predictions} (run 'spotkern predict' first)")
    events = read_events("report", data, predictions, split=None, version=version, games=games,
                         label_placement="position", prediction_file=prediction_file,
                         label_file=LABEL_FILES[version], framerate=2, strict=False)
    videos = [(g, h) for g in games for h in (1, 2)]
    return class_names(version), 2.0, videos, events


def _postprocess_in_use(run_dir: str, predictions: str, cfg: dict, classes):
    """(PostProcess, where it comes from): the file ``predict`` wrote beside the results, else the run's
    default from its config."""
    path = os.path.join(predictions, POSTPROCESS_FILE)
    if os.path.isfile(path):
        return PostProcess.load(path), path
    return (run_default_postprocess(run_dir, cfg, classes),
            "the run's default (from config.json; predictions written without a post-processing file)")


def load_run_results(run_dir: str, *, split: str = "test", data: str | None = None,
                     predictions: str | None = None, name: str | None = None, pr_tolerance: float = 5.0,
                     prediction_file: str = "results_spotting.json") -> RunResults:
    """Score the results files of ``run_dir`` on ``split`` (default ``<run>/predictions/<split>``) against
    the labels of ``data`` (default: the run's data root; SoccerNet layout or generic ``dataset.json``)."""
    cfg = {}
    if not os.path.isdir(run_dir) or (data is None and predictions is None):
        require_run(run_dir, "report")  # a results folder given with --data and --predictions needs no config
    if os.path.exists(os.path.join(run_dir, "config.json")):
        cfg = run_config(run_dir, "report")
    data = data or cfg.get("data")
    if not data:
        raise ValueError(f"report: {run_dir}: no data root (no config.json with 'data'; pass --data)")
    predictions = predictions or os.path.join(run_dir, "predictions", str(split))
    generic = is_generic(data)
    e2e = None
    if generic:
        read = read_generic_events(data, predictions, split=split, prediction_file=prediction_file)
        classes, fps, events = read["classes"], read["fps"], read["events"]
        videos = [(v, 1) for v in read["videos"]]
        truth, preds = e2e_from_events(classes, read["videos"], events)
        if any(v["events"] for v in truth):
            e2e = e2e_spot_map(truth, preds)
    else:
        classes, fps, videos, events = _soccernet_events(data, predictions, int(cfg.get("soccernet_version", 2)),
                                                         prediction_file)

    def score(metric):
        res = average_map_from_events(*events, resolve_tolerances("report", metric), fps, True)
        if generic:  # every generic label is "visible": no visible / unshown split
            for key in ("a_mAP_visible", "a_mAP_per_class_visible", "a_mAP_unshown", "a_mAP_per_class_unshown"):
                res[key] = None
        return res

    precision, recall = precision_recall_curves(*events[:5], *events[6:], pr_tolerance, fps)
    logs = {s: rows for s in STAGES if (rows := read_metrics_log(os.path.join(run_dir, s)))}
    pp, source = _postprocess_in_use(run_dir, predictions, cfg, classes)
    tuning = None
    tuned_path = os.path.join(run_dir, POSTPROCESS_FILE)
    if os.path.isfile(tuned_path):
        tuning = PostProcess.load(tuned_path)
    return RunResults(name or os.path.basename(os.path.normpath(run_dir)), run_dir, str(split), predictions,
                      list(classes), float(fps), videos, events, score("loose"), score("tight"),
                      score(list(CURVE_TOLERANCES)), float(pr_tolerance),
                      np.asarray(score([pr_tolerance])["a_mAP_per_class"]), precision, recall, logs, pp, source,
                      tuning, generic, e2e)


def half_events(res: RunResults, h: int) -> tuple[np.ndarray, ...]:
    """(GT frames, GT classes, GT visible, detection frames, classes, scores) of half index ``h``."""
    _, _, gh, gf, gc, gv, ph, pf, pc, ps = res.events
    g, p = gh == h, (ph == h) & (ps >= 0)
    return gf[g], gc[g], gv[g] > 0, pf[p], pc[p], ps[p]
