"""SoccerNet average-mAP from label and prediction files: the official ``evaluate``, fast."""
from __future__ import annotations

import os

import numpy as np

from spotkern._validation import check_choice, check_int
from spotkern.metrics.dictionaries import LABEL_FILES, event_dictionary
from spotkern.metrics.io import MetricFileError, Source, parse_labels, parse_predictions, read_game_list
from spotkern.metrics.soccernet import average_map_from_events, resolve_tolerances


def evaluate(
    labels_dir, predictions, *, split="test", version: int = 2, metric="loose", games=None,
    label_placement: str = "position", prediction_file: str = "results_spotting.json",
    label_file: str | None = None, framerate: int = 2, strict: bool = False, details: bool = False,
) -> dict:
    """SoccerNet action-spotting average-mAP of prediction files, equal to
    ``SoccerNet.Evaluation.ActionSpotting.evaluate`` (soccernet_metric.md).

    Args:
        labels_dir: folder (or zip) holding ``<game>/<label_file>`` for every game.
        predictions: folder or zip holding ``<game>/<prediction_file>`` (the official layouts).
        split: only used when ``games`` is None: if ``labels_dir/<split>`` is a folder, games are
            discovered there (e.g. ``labels_dir=".../soccernet-v2-labels", split="test"``; game paths stay
            relative to that folder); else if ``labels_dir/splits.json`` exists (spotkern's dataset layout),
            its list for ``split``; otherwise games are discovered directly under ``labels_dir``.
            None: discover under ``labels_dir`` itself.
        version: 2 (17 classes, visible / unshown results) or 1 (3 classes; those results are None).
        metric: "loose" (5..60 s), "tight" (1..5 s), "at1".."at5", or a sequence of tolerances in seconds.
        games: the games to evaluate: a sequence of 'league/season/game' paths relative to both roots, or
            a file (.json list or SoccerNet split mapping, or text with one game per line). None: every
            folder holding ``label_file`` (sorted), each listed once.
        label_placement: "position" (ms field, official default) or "gametime" (gameTime seconds,
            reproduces 2021-era figures).
        prediction_file: prediction file name per game.
        label_file: label file name per game; None -> "Labels-v2.json" (v2) or "Labels.json" (v1).
        framerate: evaluation grid in frames per second (2).
        strict: refuse negative positions, halves other than 1/2, unknown labels, non-finite confidences.
        details: add per-tolerance means and per-class APs (see ``average_map_from_arrays``).

    Returns:
        dict with the official keys (``a_mAP``, ``a_mAP_per_class``, ``a_mAP_visible``,
        ``a_mAP_per_class_visible``, ``a_mAP_unshown``, ``a_mAP_per_class_unshown``).

    Raises:
        MetricFileError (a ValueError) naming the file and the field for malformed or missing files.
    """
    fn = "evaluate"
    version = check_int(fn, "version", version, minimum=1, maximum=2)
    framerate = check_int(fn, "framerate", framerate, minimum=1)
    check_choice(fn, "label_placement", label_placement, ("position", "gametime"))
    tolerances = resolve_tolerances(fn, metric)
    for name, value in (("prediction_file", prediction_file), ("label_file", label_file)):
        if value is not None and (not isinstance(value, str) or not value or "/" in value):
            raise ValueError(f"{fn}: {name} must be a file name, got {value!r}")
    if label_file is None:
        label_file = LABEL_FILES[version]
    for name, value in (("labels_dir", labels_dir), ("predictions", predictions)):
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{fn}: {name} must be a path (str or os.PathLike), got {type(value).__name__}")
    if split is not None and not isinstance(split, str):
        raise TypeError(f"{fn}: split must be a string or None, got {type(split).__name__}")

    events = read_events(fn, labels_dir, predictions, split=split, version=version, games=games,
                         label_placement=label_placement, prediction_file=prediction_file, label_file=label_file,
                         framerate=framerate, strict=strict)
    result = average_map_from_events(*events, tolerances, framerate, details)
    if version == 1:
        for key in ("a_mAP_visible", "a_mAP_per_class_visible", "a_mAP_unshown", "a_mAP_per_class_unshown"):
            result[key] = None
    return result


# spotkern's dataset layout (spotkern.data.dataset): {"train": [game, ...], "test": [...], ...} at the root.
SPLITS_FILE = "splits.json"


def _split_from_file(fn, path, split):
    import json

    try:
        with open(path, encoding="utf-8") as f:
            splits = json.load(f)
    except (OSError, ValueError) as e:
        raise MetricFileError(fn, path, "file", f"unreadable ({e})") from None
    if not isinstance(splits, dict) or not isinstance(splits.get(split), list):
        raise MetricFileError(fn, path, split, "no list of games for this split")
    return splits[split]


def read_events(fn, labels_dir, predictions, *, split, version, games, label_placement, prediction_file,
                label_file, framerate, strict) -> tuple:
    """Read every game's files (arguments already checked): returns the positional arguments of
    ``average_map_from_events`` up to the tolerances: (C, H, GT halves, frames, classes, values,
    prediction halves, frames, classes, scores), halves numbered 2 * game + half - 1."""
    num_classes = len(event_dictionary(version))
    labels_root = os.fspath(labels_dir)
    if games is None and split:
        splits_file = os.path.join(labels_root, SPLITS_FILE)
        if os.path.isdir(os.path.join(labels_root, split)):
            labels_root = os.path.join(labels_root, split)
        elif os.path.isfile(splits_file):
            games = _split_from_file(fn, splits_file, split)
    gt = ([], [], [], [])
    pr = ([], [], [], [])
    with Source(fn, "labels_dir", labels_root) as labels, Source(fn, "predictions", predictions) as preds:
        game_list = labels.games(label_file) if games is None else read_game_list(fn, games)
        if not game_list:
            raise ValueError(f"{fn}: no game to evaluate: no {label_file!r} under {labels_root!r}"
                             if games is None else f"{fn}: games is empty")
        for g, game in enumerate(game_list):
            data, where = labels.load_json(game, label_file)
            parse_labels(fn, data, where, half_offset=2 * g, version=version, framerate=framerate,
                         placement=label_placement, strict=strict, out=gt)
            data, where = preds.load_json(game, prediction_file)
            parse_predictions(fn, data, where, half_offset=2 * g, version=version, framerate=framerate,
                              strict=strict, out=pr)
    i64 = lambda x: np.array(x, dtype=np.int64)  # noqa: E731
    return (num_classes, 2 * len(game_list), i64(gt[0]), i64(gt[1]), i64(gt[2]), np.array(gt[3], dtype=np.float64),
            i64(pr[0]), i64(pr[1]), i64(pr[2]), np.array(pr[3], dtype=np.float64))
