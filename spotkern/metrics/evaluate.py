"""SoccerNet average-mAP from label and prediction files: the official ``evaluate``, fast."""
from __future__ import annotations

import os
import warnings

import numpy as np

from spotkern._files import FileProblem, load_json_file
from spotkern._typing import Metric, PathLike
from spotkern._validation import check_choice, check_int
from spotkern.metrics.dictionaries import LABEL_FILES, event_dictionary
from spotkern.metrics.io import (
    EventLists,
    GameList,
    MetricFileError,
    Source,
    exact_half_lengths,
    official_split_games,
    parse_labels,
    parse_predictions,
    read_game_list,
    wrap_exact_rows,
)
from spotkern.metrics.soccernet import MAX_FRAMERATE, average_map_from_events, resolve_tolerances


def evaluate(
    labels_dir: PathLike, predictions: PathLike, *, split: str | None = "test", version: int = 2,
    metric: Metric = "loose", games: GameList | None = None,
    label_placement: str = "position", prediction_file: str = "results_spotting.json",
    label_file: str | None = None, framerate: int = 2, strict: bool = False, details: bool = False,
    array_length: str = "official",
) -> dict:
    """SoccerNet action-spotting average-mAP of prediction files, equal to
    ``SoccerNet.Evaluation.ActionSpotting.evaluate`` (soccernet_metric.md).

    Args:
        labels_dir: folder (or zip) holding ``<game>/<label_file>`` for every game.
        predictions: folder or zip holding ``<game>/<prediction_file>`` (the official layouts).
        split: only used when ``games`` is None: if ``labels_dir/<split>`` is a folder, games are
            discovered there (e.g. ``labels_dir=".../soccernet-v2-labels", split="test"``; game paths stay
            relative to that folder); else if ``labels_dir/splits.json`` exists (spotkern's dataset layout),
            its list for ``split``; else, when the ``SoccerNet`` package is installed and ``labels_dir``
            holds every game of its bundled list for ``split`` (a SoccerNet download), that list in its
            order, as the official ``dataset="SoccerNet"``; otherwise games are discovered directly under
            ``labels_dir``. None: discover under ``labels_dir`` itself.
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
        strict: refuse negative positions, halves other than 1/2, unknown labels, non-finite confidences,
            a game without a predictions file and, when games are discovered under ``labels_dir``, a
            game of ``predictions`` without a label file. Without ``strict`` those two are warnings: a
            game without predictions is scored with no detections (the official evaluator crashes), one
            without labels is not scored. No predictions file for any game is an error either way.
        details: add per-tolerance means and per-class APs (see ``average_map_from_arrays``).
        array_length: length of each half's array (soccernet_metric.md sections 3, 10):

            * "official" (default): the official fixed 120 minutes, ``L = 120 * 60 * framerate`` rows
              (14,400 at 2 fps) for every half: later frames are clamped to row L - 1 (so two
              predictions of one class at 121 and 122 min share a cell and the last one in file order
              wins), negative frames wrap to L + frame like a NumPy index.
            * "exact": each half of each game is sized to its true length,
              ``L = max(120 * 60 * framerate, 1 + the largest non-negative frame of any label or
              prediction of that half)`` (counting the events that enter the arrays: known classes,
              half 1 or 2). Frames are never clamped; negative frames (non-strict mode) wrap to
              L + frame, as the official mode wraps them to the end of its 14,400 rows. For halves
              whose frames all lie inside 120 minutes the result is identical to "official".

            Either way a frame still negative after wrapping is refused (MetricFileError), ``strict``
            refuses every negative position, and duplicate-GT collapse, last-prediction-wins collisions,
            the visibility partition, AP and the aggregation are unchanged.

    Returns:
        dict with the official keys (``a_mAP``, ``a_mAP_per_class``, ``a_mAP_visible``,
        ``a_mAP_per_class_visible``, ``a_mAP_unshown``, ``a_mAP_per_class_unshown``) and ``num_games``,
        the number of games scored.

    Only regular files are read (a FIFO or a link to a device in place of a file is an error naming it,
    not a hang), JSON files up to 256 MiB.

    Raises:
        MetricFileError (a ValueError) naming the file and the field for malformed or missing files.
    """
    fn = "evaluate"
    version = check_int(fn, "version", version, minimum=1, maximum=2)
    framerate = check_int(fn, "framerate", framerate, minimum=1, maximum=MAX_FRAMERATE)
    check_choice(fn, "label_placement", label_placement, ("position", "gametime"))
    if not isinstance(array_length, str):
        raise TypeError(f"{fn}: array_length must be a string ('official' or 'exact'), got "
                        f"{type(array_length).__name__}")
    check_choice(fn, "array_length", array_length, ARRAY_LENGTHS)
    tolerances = resolve_tolerances(fn, metric)
    for name, value in (("prediction_file", prediction_file), ("label_file", label_file)):
        if value is not None and (not isinstance(value, str) or not value or "/" in value):
            raise ValueError(f"{fn}: {name} must be a file name, got {value!r}")
    if label_file is None:
        label_file = LABEL_FILES[version]
    for name, path in (("labels_dir", labels_dir), ("predictions", predictions)):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"{fn}: {name} must be a path (str or os.PathLike), got {type(path).__name__}")
    if split is not None and not isinstance(split, str):
        raise TypeError(f"{fn}: split must be a string or None, got {type(split).__name__}")

    events = read_events(fn, labels_dir, predictions, split=split, version=version, games=games,
                         label_placement=label_placement, prediction_file=prediction_file, label_file=label_file,
                         framerate=framerate, strict=strict, array_length=array_length)
    result = average_map_from_events(*events, tolerances, framerate, details)
    result["num_games"] = events[1] // 2
    if version == 1:
        for key in ("a_mAP_visible", "a_mAP_per_class_visible", "a_mAP_unshown", "a_mAP_per_class_unshown"):
            result[key] = None
    return result


# Section 10 option: the official fixed 120-minute array per half, or each half's true length.
ARRAY_LENGTHS = ("official", "exact")

# spotkern's dataset layout (spotkern.data.dataset): {"train": [game, ...], "test": [...], ...} at the root.
SPLITS_FILE = "splits.json"


def _split_from_file(fn, path, split):
    try:
        splits = load_json_file(path)
    except FileProblem as e:
        raise MetricFileError(fn, path, "file", e.problem) from None
    if not isinstance(splits, dict) or not isinstance(splits.get(split), list):
        raise MetricFileError(fn, path, split, "no list of games for this split")
    return splits[split]


#: the events of ``read_events``: (C, H, then the GT halves, frames, classes, values and the prediction halves,
#: frames, classes, scores as 1-D arrays)
Events = tuple[int, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def read_events(fn: str, labels_dir: PathLike, predictions: PathLike, *, split: str | None, version: int,
                games: GameList | None, label_placement: str, prediction_file: str, label_file: str, framerate: int,
                strict: bool, array_length: str = "official") -> Events:
    """Read every game's files (arguments already checked): returns the positional arguments of
    ``average_map_from_events`` up to the tolerances: (C, H, GT halves, frames, classes, values,
    prediction halves, frames, classes, scores), halves numbered 2 * game + half - 1.

    ``array_length`` as in :func:`evaluate`: "exact" keeps frames unclamped and wraps negative ones per
    half once both files of a game are read (the length depends on the labels AND the predictions)."""
    num_classes = len(event_dictionary(version))
    labels_root = os.fspath(labels_dir)
    if games is None and split:
        splits_file = os.path.join(labels_root, SPLITS_FILE)
        if os.path.isdir(os.path.join(labels_root, split)):
            labels_root = os.path.join(labels_root, split)
        elif os.path.isfile(splits_file):
            games = _split_from_file(fn, splits_file, split)
    gt: EventLists = ([], [], [], [])
    pr: EventLists = ([], [], [], [])
    # None: official rows (clamped / wrapped while parsing, no per-event cost added); a list: exact mode.
    negatives: list | None = [] if array_length == "exact" else None
    min_length = 120 * 60 * framerate
    with Source(fn, "labels_dir", labels_root) as labels, Source(fn, "predictions", predictions) as preds:
        game_list = None if games is None else read_game_list(fn, games)
        if game_list is None and split and labels_root == os.fspath(labels_dir):
            # A SoccerNet root holding every game of the official split list: the official game list
            # (and order), as the evaluator's default dataset="SoccerNet" (a full SoccerNet download also
            # holds the other splits' games, which discovery would pick up).
            official = official_split_games(split)
            if official and all(labels.has(g, label_file) for g in official):
                game_list = official
        discovered = game_list is None
        if discovered:
            game_list = labels.games(label_file)
        if not game_list:
            raise ValueError(f"{fn}: no game to evaluate: no {label_file!r} under {labels_root!r}"
                             if games is None else f"{fn}: games is empty")
        if discovered:
            _check_unlabelled(fn, labels, preds, game_list, label_file, prediction_file, strict)
        unpredicted = []
        for g, game in enumerate(game_list):
            starts = (len(gt[0]), len(pr[0]))
            data, where = labels.load_json(game, label_file)
            parse_labels(fn, data, where, half_offset=2 * g, version=version, framerate=framerate,
                         placement=label_placement, strict=strict, out=gt, negatives=negatives)
            if not preds.has(game, prediction_file) and not strict:
                unpredicted.append(game)  # no detections (checked below: not every game)
            else:
                data, where = preds.load_json(game, prediction_file)  # strict: "missing" names the file
                parse_predictions(fn, data, where, half_offset=2 * g, version=version, framerate=framerate,
                                  strict=strict, out=pr, negatives=negatives)
            if negatives:  # exact mode, only games with negative frames need their half lengths
                lengths = exact_half_lengths((gt, pr), starts, 2 * g, min_length)
                wrap_exact_rows(fn, negatives, lengths, 2 * g)
        if unpredicted:
            _report_unpredicted(fn, preds, game_list, unpredicted, prediction_file)
    i64 = lambda x: np.array(x, dtype=np.int64)  # noqa: E731
    return (num_classes, 2 * len(game_list), i64(gt[0]), i64(gt[1]), i64(gt[2]), np.array(gt[3], dtype=np.float64),
            i64(pr[0]), i64(pr[1]), i64(pr[2]), np.array(pr[3], dtype=np.float64))


def _listing(games: list) -> str:
    return ", ".join(games[:3]) + (f" and {len(games) - 3} more" if len(games) > 3 else "")


def _check_unlabelled(fn, labels, preds, game_list, label_file, prediction_file, strict):
    """Games discovered under ``labels_dir``: a game of the predictions without a label file is an error
    under ``strict``, else a warning (it is not scored): an incomplete labels folder is never scored
    without a word."""
    known = set(game_list)
    extra = [g for g in preds.games(prediction_file) if g not in known]
    if not extra:
        return
    if strict:
        raise MetricFileError(fn, labels.describe(f"{extra[0]}/{label_file}"), "file",
                              f"missing, but {preds.describe(f'{extra[0]}/{prediction_file}')} exists (strict)")
    warnings.warn(f"{fn}: {len(extra)} game(s) have predictions but no {label_file} under {labels.path} and are "
                  f"not scored: {_listing(extra)}", UserWarning, stacklevel=4)


def _report_unpredicted(fn, preds, game_list, unpredicted, prediction_file):
    """Non-strict mode: games without a predictions file are scored with no detections, with a warning;
    none at all is an error (a wrong ``prediction_file`` or ``predictions`` root)."""
    if len(unpredicted) == len(game_list):
        raise MetricFileError(fn, preds.describe(f"{unpredicted[0]}/{prediction_file}"), "file",
                              f"missing (no game of the {len(game_list)} has a {prediction_file!r})")
    warnings.warn(f"{fn}: {len(unpredicted)} of {len(game_list)} game(s) have no {prediction_file} under "
                  f"{preds.path} and are scored with no detections: {_listing(unpredicted)}", UserWarning,
                  stacklevel=4)
