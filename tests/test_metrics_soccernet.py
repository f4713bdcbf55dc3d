"""SoccerNet average-mAP: the spec's test vectors (soccernet_metric.md section 14) and bad input."""
import json
import os

import numpy as np
import pytest

from spotkern.metrics import (
    EVENT_DICTIONARY_V2,
    MetricFileError,
    average_map_from_arrays,
    average_map_from_dense,
    class_names,
    evaluate,
)
from spotkern.metrics._core import _closest, _match
from spotkern.metrics.io import parse_labels, parse_predictions
from spotkern.metrics.soccernet import _aggregate, _group

V2 = EVENT_DICTIONARY_V2


def test_class_order_is_the_official_one():
    assert class_names(2)[:3] == ["Penalty", "Kick-off", "Goal"] and class_names(2)[16] == "Yellow->red card"
    assert class_names(1) == ["card", "subs", "soccer"]


def test_ground_truth_placement_by_position_and_by_gametime():
    """M-T1."""
    anns = [
        {"gameTime": "1 - 01:26", "label": "Throw-in", "position": "86245", "visibility": "not shown"},
        {"gameTime": "1 - 01:26", "label": "Throw-in", "position": "86700", "visibility": "visible"},
        {"gameTime": "2 - 00:00", "label": "Kick-off", "position": "6", "visibility": "visible"},
        {"gameTime": "1 - 10:30", "label": "Corner"},
        {"gameTime": "2 - 99:59", "label": "Goal", "position": "7300000"},
        {"gameTime": "1 - 10:00", "label": "Unknown"},
    ]
    out = ([], [], [], [])
    parse_labels("evaluate", {"annotations": anns}, "g", half_offset=0, version=2, framerate=2,
                 placement="position", strict=False, out=out)
    cells = list(zip(*out))
    assert cells == [(0, 172, V2["Throw-in"], -1.0), (0, 173, V2["Throw-in"], 1.0), (1, 0, V2["Kick-off"], 1.0),
                     (0, 1260, V2["Corner"], 1.0), (1, 14399, V2["Goal"], 1.0)]
    out = ([], [], [], [])
    parse_labels("evaluate", {"annotations": anns}, "g", half_offset=0, version=2, framerate=2,
                 placement="gametime", strict=False, out=out)
    assert out[1] == [172, 172, 0, 1260, 11998]  # gameTime seconds: 86 s -> frame 172; 99:59 -> 2 * 5999


def test_prediction_placement_last_wins():
    """M-T2."""
    preds = [
        {"position": "86245", "half": "1", "label": "Throw-in", "confidence": "0.4"},
        {"position": 86400, "half": 1, "label": "Throw-in", "confidence": 0.2},
        {"position": "1000", "half": "3", "label": "Goal", "confidence": 0.9},
        {"position": "1000", "half": "1", "label": "Goal", "confidence": -0.5},
    ]
    out = ([], [], [], [])
    parse_predictions("evaluate", {"predictions": preds}, "g", half_offset=0, version=2, framerate=2,
                      strict=False, out=out)
    assert list(zip(*out)) == [(0, 172, 9, 0.4), (0, 172, 9, 0.2), (0, 2, 2, -0.5)]
    h, f, c, s = (np.array(x) for x in out)
    ptr, frames, scores = _group(17, 2, h, f, c, s.astype(float), True)
    assert frames.tolist() == [172] and scores.tolist() == [0.2]  # the later, lower one; -0.5 is no detection
    assert ptr[9 * 2 + 1] - ptr[9 * 2] == 1 and ptr[-1] == 1


def test_each_frame_takes_the_value_of_its_closest_ground_truth():
    """M-T3."""
    gt_frame = np.array([10, 13], dtype=np.int64)
    gt_value = np.array([1.0, -1.0])
    det_frame = np.arange(20, dtype=np.int64)
    out = np.zeros(20)
    _closest(gt_frame, gt_value, 0, 2, det_frame, 0, 20, out, 0)
    np.testing.assert_array_equal(out, [1.0] * 11 + [-1.0] * 9)
    _closest(gt_frame, gt_value, 0, 0, det_frame, 0, 20, out, 0)  # no GT in the half: unshown
    np.testing.assert_array_equal(out, -np.ones(20))


def test_greedy_matching_is_not_optimal():
    """M-T4."""
    gt_frame = np.array([10, 14], dtype=np.int64)
    det_frame = np.array([6, 13], dtype=np.int64)
    det_score = np.array([0.8, 0.9])
    tp = np.zeros(2, dtype=np.uint8)
    _match(gt_frame, 0, 2, det_frame, det_score, 0, 2, 10 / 2, tp, 0)
    assert tp.tolist() == [0, 1]
    # Through the public entry: one TP of two GT at 5 s; an optimal assignment would give recall 1.
    r = average_map_from_arrays(np.zeros(2, np.int64), gt_frame, np.zeros(2, np.int64), np.zeros(2, np.int64),
                                det_frame, np.zeros(2, np.int64), det_score, num_halves=1, num_classes=1,
                                metric=[5])
    # thresholds <= 0.8: P 1/2, R 1/2; (0.8, 0.9]: P 1, R 1/2 -> 6 levels with max P 1, 5 with 0.
    assert r["a_mAP"] == 6 / 11


def test_matching_ties_go_to_the_earliest_frame():
    """M-T4's tie rule."""
    gt_frame = np.array([10], dtype=np.int64)
    det_frame = np.array([9, 11], dtype=np.int64)
    tp = np.zeros(2, dtype=np.uint8)
    _match(gt_frame, 0, 1, det_frame, np.array([0.5, 0.5]), 0, 2, 1.0, tp, 0)
    assert tp.tolist() == [1, 0]


def test_eleven_point_ap_pools_the_halves():
    """M-T5."""
    gt_halves = np.array([0, 1])
    gt_frames = np.array([10, 20])
    pred_halves = np.array([0, 0, 1])
    pred_frames = np.array([10, 30, 21])
    scores = np.array([0.9, 0.8, 0.3])
    zeros = lambda n: np.zeros(n, dtype=np.int64)  # noqa: E731
    r = average_map_from_arrays(gt_halves, gt_frames, zeros(2), pred_halves, pred_frames, zeros(3), scores,
                                num_halves=2, num_classes=1, metric="at1")
    assert r["a_mAP"] == 0.8484848484848484
    assert abs(r["a_mAP"] - 28 / 33) < 1e-15
    assert isinstance(r["a_mAP_per_class"], np.ndarray) and r["a_mAP_per_class"].tolist() == [r["a_mAP"]]
    # All GT visible: the visible subset is the whole set, the unshown one is empty.
    assert r["a_mAP_visible"] == r["a_mAP"] and r["a_mAP_unshown"] == 0.0


def test_average_map_is_a_trapezoid_and_unshown_is_scaled_by_17_13():
    """M-T6."""
    ap = np.array([0.2, 0.4, 0.5]).reshape(1, 3, 1).repeat(3, axis=0)
    r = _aggregate(ap)
    assert r["a_mAP"] == 0.375 and r["a_mAP_visible"] == 0.375
    assert r["a_mAP_unshown"] == 0.375 * 17 / 13
    assert r["a_mAP_per_class_unshown"] == [0.375]  # no factor per class
    r1 = _aggregate(ap[:, :1])
    assert r1["a_mAP"] == 0.2 and r1["a_mAP_unshown"] == 0.2  # single tolerance: no factor


def test_scores_above_one_and_zero_count():
    """Section 5.2: a score > 1 passes every threshold; exactly 0.0 is a detection."""
    z = np.zeros(1, dtype=np.int64)
    for score in (1.5, 0.0):
        r = average_map_from_arrays(z, z + 5, z, z, z + 5, z, np.array([score]), num_halves=1, num_classes=1,
                                    metric="at1")
        # score 1.5: P = R = 1 at every threshold -> AP 1; score 0: only threshold 0 keeps it -> AP 1 as well
        # (the 11-point max over recall >= j takes that one point).
        assert r["a_mAP"] == 1.0
    r = average_map_from_arrays(z, z + 5, z, z, z + 5, z, np.array([-0.0001]), num_halves=1, num_classes=1,
                                metric="at1")
    assert r["a_mAP"] == 0.0


def test_classes_without_ground_truth_stay_in_the_mean():
    z = np.zeros(1, dtype=np.int64)
    r = average_map_from_arrays(z, z, z, z, z, z, np.array([0.9]), num_halves=1, num_classes=4, metric="at1")
    assert r["a_mAP"] == 0.25 and r["a_mAP_per_class"].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_details_per_tolerance():
    z = np.zeros(1, dtype=np.int64)
    r = average_map_from_arrays(z, z + 10, z, z, z + 12, z, np.array([0.9]), num_halves=1, num_classes=1,
                                metric="tight", details=True)
    # |12 - 10| = 2 frames: inside from 2 s (window +-2 frames) on.
    assert r["tolerances"] == [1, 2, 3, 4, 5] and r["mAP"] == [0.0, 1.0, 1.0, 1.0, 1.0]
    assert r["a_mAP"] == (0.5 + 1 + 1 + 1) / 4
    assert r["AP"].shape == (3, 5, 1)


# ----------------------------------------------------------------------------------------------------
# Files: malformed input names the file and the field

GOOD_ANN = {"gameTime": "1 - 00:10", "label": "Goal", "position": "10000", "visibility": "visible"}
GOOD_PRED = {"gameTime": "1 - 0:10", "position": "10000", "half": 1, "label": "Goal", "confidence": 0.7}
GAME = "league/2016-2017/game"


def write_game(tmp_path, labels=None, preds=None, label_file="Labels-v2.json"):
    for sub, name, data in (("labels", label_file, labels), ("preds", "results_spotting.json", preds)):
        d = tmp_path / sub / GAME
        d.mkdir(parents=True, exist_ok=True)
        if data is not None:
            (d / name).write_text(data if isinstance(data, str) else json.dumps(data))
    return str(tmp_path / "labels"), str(tmp_path / "preds")


def test_evaluate_small_game(tmp_path):
    labels, preds = write_game(tmp_path, {"annotations": [GOOD_ANN]}, {"predictions": [GOOD_PRED]})
    r = evaluate(labels, preds, metric="at1")
    assert r["a_mAP_per_class"][2] == 1.0 and r["a_mAP"] == 1 / 17
    r = evaluate(labels, preds, metric="at1", games=[GAME])
    assert r["a_mAP"] == 1 / 17


BAD_FILES = [
    # (id, labels, predictions, field fragment, kwargs)
    ("bad-json-labels", "{not json", {"predictions": []}, "file", {}),
    ("bad-json-preds", {"annotations": []}, "[1, 2", "file", {}),
    ("labels-not-object", [1, 2], {"predictions": []}, "annotations", {}),
    ("missing-annotations", {"UrlLocal": "x"}, {"predictions": []}, "annotations", {}),
    ("missing-predictions", {"annotations": []}, {"UrlLocal": "x"}, "predictions", {}),
    ("annotation-not-object", {"annotations": ["Goal"]}, {"predictions": []}, "annotations[0]", {}),
    ("missing-gameTime", {"annotations": [{"label": "Goal"}]}, {"predictions": []}, "annotations[0].gameTime", {}),
    ("missing-label", {"annotations": [{"gameTime": "1 - 00:10"}]}, {"predictions": []}, "annotations[0].label",
     {}),
    ("bad-gameTime", {"annotations": [dict(GOOD_ANN, gameTime="1 - xx:10")]}, {"predictions": []},
     "annotations[0].gameTime", {}),
    ("bad-gameTime-half", {"annotations": [dict(GOOD_ANN, gameTime="a - 00:10")]}, {"predictions": []},
     "annotations[0].gameTime", {}),
    ("gameTime-not-string", {"annotations": [dict(GOOD_ANN, gameTime=10)]}, {"predictions": []},
     "annotations[0].gameTime", {}),
    ("bad-label-position", {"annotations": [dict(GOOD_ANN, position="10.5")]}, {"predictions": []},
     "annotations[0].position", {}),
    ("label-not-string", {"annotations": [dict(GOOD_ANN, label=["Goal"])]}, {"predictions": []},
     "annotations[0].label", {}),
    ("unknown-label-strict", {"annotations": [dict(GOOD_ANN, label="Goals")]}, {"predictions": []},
     "annotations[0].label", {"strict": True}),
    ("missing-position", {"annotations": []}, {"predictions": [{"half": 1, "label": "Goal", "confidence": 1}]},
     "predictions[0].position", {}),
    ("bad-position", {"annotations": []}, {"predictions": [dict(GOOD_PRED, position="254500.0")]},
     "predictions[0].position", {}),
    ("missing-half", {"annotations": []}, {"predictions": [{"position": 1, "label": "Goal", "confidence": 1}]},
     "predictions[0].half", {}),
    ("bad-half", {"annotations": []}, {"predictions": [dict(GOOD_PRED, half="first")]}, "predictions[0].half",
     {}),
    ("bad-half-strict", {"annotations": []}, {"predictions": [dict(GOOD_PRED, half=3)]}, "predictions[0].half",
     {"strict": True}),
    ("missing-confidence", {"annotations": []}, {"predictions": [{"position": 1, "half": 1, "label": "Goal"}]},
     "predictions[0].confidence", {}),
    ("bad-confidence", {"annotations": []}, {"predictions": [dict(GOOD_PRED, confidence="high")]},
     "predictions[0].confidence", {}),
    ("unknown-pred-label-strict", {"annotations": []}, {"predictions": [dict(GOOD_PRED, label="Goals")]},
     "predictions[0].label", {"strict": True}),
    ("negative-position-strict", {"annotations": []}, {"predictions": [dict(GOOD_PRED, position=-10)]},
     "predictions[0].position", {"strict": True}),
    ("position-before-array", {"annotations": []}, {"predictions": [dict(GOOD_PRED, position=-8_000_000)]},
     "predictions[0].position", {}),
    ("missing-prediction-file", {"annotations": []}, None, "file", {}),
]


@pytest.mark.parametrize("labels,preds,field,kwargs", [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES])
def test_malformed_files_name_file_and_field(tmp_path, labels, preds, field, kwargs):
    labels_dir, preds_dir = write_game(tmp_path, labels, preds)
    with pytest.raises(MetricFileError) as e:
        evaluate(labels_dir, preds_dir, metric="at1", **kwargs)
    msg = str(e.value)
    assert msg.startswith("evaluate: ")
    is_label = field.startswith("annotations") or (field == "file" and isinstance(labels, str))
    assert ("Labels-v2.json" if is_label else "results_spotting.json") in msg
    assert e.value.field == field and f": {field}:" in msg


def test_v1_unknown_prediction_label_is_refused(tmp_path):
    """The official v1 path raises KeyError for a label outside card/subs/soccer (spec section 8)."""
    labels_dir, preds_dir = write_game(tmp_path, {"annotations": [{"gameTime": "1 - 00:10", "label": "y-card"}]},
                                       {"predictions": [dict(GOOD_PRED, label="Goal")]}, label_file="Labels.json")
    with pytest.raises(MetricFileError, match=r"predictions\[0\]\.label: unknown label 'Goal' for SoccerNet-v1"):
        evaluate(labels_dir, preds_dir, version=1, metric="at1")


def test_predictions_zip_and_missing_member(tmp_path):
    import zipfile
    labels_dir, _ = write_game(tmp_path, {"annotations": [GOOD_ANN]}, {"predictions": [GOOD_PRED]})
    zpath = tmp_path / "preds.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr(f"{GAME}/results_spotting.json", json.dumps({"predictions": [GOOD_PRED]}))
    assert evaluate(labels_dir, str(zpath), metric="at1")["a_mAP"] == 1 / 17
    with pytest.raises(MetricFileError, match=r"preds\.zip!league/2016-2017/game/other\.json: file: missing"):
        evaluate(labels_dir, str(zpath), metric="at1", prediction_file="other.json")
    lpath = tmp_path / "labels.zip"  # labels may be zipped too (games discovered inside)
    with zipfile.ZipFile(lpath, "w") as z:
        z.writestr(f"{GAME}/Labels-v2.json", json.dumps({"annotations": [GOOD_ANN]}))
        z.writestr("other/Readme.txt", "not a game")
    assert evaluate(str(lpath), str(zpath), metric="at1")["a_mAP"] == 1 / 17


def test_split_subfolder_and_game_list_files(tmp_path):
    labels_dir, preds_dir = write_game(tmp_path, {"annotations": [GOOD_ANN]}, {"predictions": [GOOD_PRED]})
    os.rename(labels_dir, tmp_path / "test")
    os.makedirs(labels_dir)
    os.rename(tmp_path / "test", os.path.join(labels_dir, "test"))
    assert evaluate(labels_dir, preds_dir, split="test", metric="at1")["a_mAP"] == 1 / 17
    (tmp_path / "games.txt").write_text(f"{GAME}\n")
    (tmp_path / "games.json").write_text(json.dumps({"league": {"2016-2017": ["game"]}}))
    for games in (str(tmp_path / "games.txt"), str(tmp_path / "games.json")):
        assert evaluate(os.path.join(labels_dir, "test"), preds_dir, games=games, metric="at1")["a_mAP"] == 1 / 17
    # spotkern's dataset layout: splits.json at the root lists the games of each split.
    root = os.path.join(labels_dir, "test")
    os.makedirs(os.path.join(root, "other/2000-2001/unlisted"))
    (tmp_path / "labels" / "test" / "other/2000-2001/unlisted/Labels-v2.json").write_text('{"annotations": []}')
    with pytest.raises(MetricFileError, match="unlisted/results_spotting.json: file: missing"):
        evaluate(root, preds_dir, split="test", metric="at1", strict=True)  # discovered, but has no predictions
    with pytest.warns(UserWarning, match=r"1 of 2 game\(s\) have no results_spotting.json .*scored with no detections"):
        r = evaluate(root, preds_dir, split="test", metric="at1")  # the unlisted game has no labels either
    assert r["num_games"] == 2 and r["a_mAP"] == 1 / 17
    (tmp_path / "labels" / "test" / "splits.json").write_text(json.dumps({"test": [GAME], "train": ["x"]}))
    assert evaluate(root, preds_dir, split="test", metric="at1")["a_mAP"] == 1 / 17
    with pytest.raises(MetricFileError, match=r"splits\.json: valid: no list of games"):
        evaluate(root, preds_dir, split="valid", metric="at1")


BAD_EVALUATE_ARGS = [
    ("version", {"version": 3}, ValueError),
    ("metric", {"metric": "medium"}, ValueError),
    ("metric", {"metric": [0, 5]}, ValueError),
    ("label_placement", {"label_placement": "ms"}, ValueError),
    ("prediction_file", {"prediction_file": "a/b.json"}, ValueError),
    ("games", {"games": [1, 2]}, TypeError),
    ("labels_dir", {"labels_dir": "/nonexistent/labels"}, ValueError),
]


@pytest.mark.parametrize("name,kwargs,exc", BAD_EVALUATE_ARGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_EVALUATE_ARGS)])
def test_evaluate_bad_arguments(tmp_path, name, kwargs, exc):
    labels_dir, preds_dir = write_game(tmp_path, {"annotations": []}, {"predictions": []})
    kwargs = dict(kwargs)
    labels_dir = kwargs.pop("labels_dir", labels_dir)
    with pytest.raises(exc, match=rf"^evaluate: {name}"):
        evaluate(labels_dir, preds_dir, **kwargs)


# ----------------------------------------------------------------------------------------------------
# In-memory entry points: bad input

IDX = np.array([0, 1], dtype=np.int64)
S = np.array([0.5, 0.6])


def arrays_call(**over):
    args = dict(gt_halves=IDX, gt_frames=IDX, gt_classes=IDX, pred_halves=IDX, pred_frames=IDX, pred_classes=IDX,
                pred_scores=S, num_halves=2, num_classes=2)
    args.update(over)
    return average_map_from_arrays(**args)


BAD_ARRAYS = [
    ("gt_frames", {"gt_frames": IDX.astype(np.float64)}, TypeError),
    ("pred_scores", {"pred_scores": S.astype(np.int64)}, TypeError),
    ("gt_halves", {"gt_halves": IDX[:1]}, ValueError),
    ("pred_frames", {"pred_frames": -IDX}, ValueError),
    ("gt_classes", {"gt_classes": IDX + 1}, ValueError),
    ("pred_halves", {"pred_halves": IDX + 1}, ValueError),
    ("gt_visible", {"gt_visible": IDX}, TypeError),
    ("gt_visible", {"gt_visible": np.ones(3, dtype=bool)}, ValueError),
    ("num_halves", {"num_halves": 0}, ValueError),
    ("num_classes", {"num_classes": 2.0}, TypeError),
    ("metric", {"metric": "loosest"}, ValueError),
    ("framerate", {"framerate": 0}, ValueError),
    ("gt_frames", {"gt_frames": np.zeros((2, 1), dtype=np.int64)}, ValueError),
]


@pytest.mark.parametrize("name,over,exc", BAD_ARRAYS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_ARRAYS)])
def test_arrays_bad_input(name, over, exc):
    with pytest.raises(exc, match=rf"^average_map_from_arrays: {name}"):
        arrays_call(**over)


def test_arrays_accept_torch_and_empty():
    import torch
    r = arrays_call(gt_frames=torch.tensor([0, 1]), pred_scores=torch.tensor([0.5, 0.6], dtype=torch.float32))
    assert r["a_mAP"] == arrays_call()["a_mAP"] == 1.0
    e = np.zeros(0, dtype=np.int64)
    r = average_map_from_arrays(e, e, e, e, e, e, np.zeros(0), num_halves=1, num_classes=3)
    assert r["a_mAP"] == 0.0 and r["a_mAP_per_class"] == [0.0, 0.0, 0.0]


BAD_DENSE = [
    ("targets", [np.zeros((4, 2))], [], ValueError),
    ("targets", np.zeros((1, 4, 2)), [np.zeros((4, 2))], TypeError),
    ("targets\\[0\\]", [np.zeros((4, 2), dtype=np.int64)], [np.zeros((4, 2))], TypeError),
    ("targets\\[0\\]", [np.full((4, 2), np.nan)], [np.zeros((4, 2))], ValueError),
    ("targets\\[0\\]", [np.zeros((4, 2))], [np.zeros((4, 3))], ValueError),
    ("targets\\[1\\]", [np.zeros((4, 2)), np.zeros((4, 3))], [np.zeros((4, 2)), np.zeros((4, 3))], ValueError),
    ("detections\\[0\\]", [np.zeros((4, 2))], [np.zeros(8)], ValueError),
]


@pytest.mark.parametrize("name,targets,detections,exc", BAD_DENSE, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_DENSE)])
def test_dense_bad_input(name, targets, detections, exc):
    with pytest.raises(exc, match=rf"^average_map_from_dense: {name}"):
        average_map_from_dense(targets, detections, metric="at1")
