"""``evaluate(..., array_length=...)`` (soccernet_metric.md sections 3 and 10): "official" keeps the fixed
120-minute array (frames clamped to its last row, negative ones wrapped to its end); "exact" sizes each
half to max(120 min, 1 + its largest non-negative frame), never clamps, and wraps negative frames to the
end of that exact length.

The exact-mode expectations are computed independently of the file reader: frames from the spec's formula
(int(framerate * ms / 1000)), the half lengths and the wrapping by :func:`oracle_events`, and the metric of
those unclamped frames by ``average_map_from_arrays`` (or by hand on tiny cases).
"""
import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotkern.metrics import EVENT_DICTIONARY_V2, MetricFileError, average_map_from_arrays, evaluate
from spotkern.metrics.cli import main
from spotkern.metrics.evaluate import read_events

FPS = 2
ROWS = 120 * 60 * FPS  # the official array: 14,400 rows per half
KEYS = ("a_mAP", "a_mAP_per_class", "a_mAP_visible", "a_mAP_per_class_visible", "a_mAP_unshown",
        "a_mAP_per_class_unshown")
GOAL = EVENT_DICTIONARY_V2["Goal"]


def ms_at(frame):
    """A position (ms) whose 2-fps frame is ``frame`` (frame >= 0)."""
    return frame * 1000 // FPS


def ann(label, position, half=1, visibility="visible"):
    return {"gameTime": f"{half} - 00:00", "label": label, "position": str(position), "visibility": visibility}


def pred(label, position, confidence, half=1):
    return {"gameTime": f"{half} - 0:00", "label": label, "position": position, "half": half,
            "confidence": confidence}


def write_games(root, games):
    """games: [(annotations, predictions), ...] -> (labels_dir, predictions_dir), games 'l/s/game <g>'."""
    labels_dir, preds_dir = os.path.join(root, "labels"), os.path.join(root, "preds")
    for g, (anns, preds) in enumerate(games):
        game = f"league/2020-2021/game {g}"
        for base, name, data in ((labels_dir, "Labels-v2.json", {"annotations": anns}),
                                 (preds_dir, "results_spotting.json", {"predictions": preds})):
            os.makedirs(os.path.join(base, game), exist_ok=True)
            with open(os.path.join(base, game, name), "w") as f:
                json.dump(data, f)
    return labels_dir, preds_dir


def assert_bit_equal(a, b):
    assert set(a) == set(b)
    for key in a:
        x, y = a[key], b[key]
        assert type(x) is type(y), key
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), key
        else:
            assert x == y, key


def assert_close(ours, expected):
    for key in KEYS:
        np.testing.assert_allclose(np.asarray(ours[key], dtype=np.float64), np.asarray(expected[key], dtype=np.float64),
                                   rtol=0, atol=1e-15, err_msg=key)


def oracle_events(games, array_length):
    """The events the evaluator should build, written from the spec, not from spotkern's reader.

    games: [(annotations, predictions)] with known labels, halves 1/2 and integer ms positions only.
    Returns the keyword arguments of ``average_map_from_arrays``.
    """
    gt, pr = [], []  # (half index, frame, class, visible / score)
    for g, (anns, preds) in enumerate(games):
        for a in anns:
            if "position" in a:
                frame = int(FPS * (int(a["position"]) / 1000))
            else:
                frame = FPS * (int(a["gameTime"][-2:]) + 60 * int(a["gameTime"][-5:-3]))
            gt.append([2 * g + int(a["gameTime"][0]) - 1, frame, EVENT_DICTIONARY_V2[a["label"]],
                       a.get("visibility") != "not shown"])
        for p in preds:
            pr.append([2 * g + int(p["half"]) - 1, int(FPS * (int(p["position"]) / 1000)),
                       EVENT_DICTIONARY_V2[p["label"]], float(p["confidence"])])
    if array_length == "official":
        lengths = [ROWS] * (2 * len(games))
    else:
        lengths = [max([ROWS] + [e[1] + 1 for e in gt + pr if e[0] == h and e[1] >= 0])
                   for h in range(2 * len(games))]
    for e in gt + pr:
        if e[1] < 0:
            e[1] += lengths[e[0]]  # NumPy-style wrap to the end of the half's array
            assert e[1] >= 0
        elif array_length == "official":
            e[1] = min(e[1], ROWS - 1)
    col = lambda rows, i, dt: np.array([r[i] for r in rows], dtype=dt)  # noqa: E731
    return dict(gt_halves=col(gt, 0, np.int64), gt_frames=col(gt, 1, np.int64), gt_classes=col(gt, 2, np.int64),
                gt_visible=col(gt, 3, bool), pred_halves=col(pr, 0, np.int64), pred_frames=col(pr, 1, np.int64),
                pred_classes=col(pr, 2, np.int64), pred_scores=col(pr, 3, np.float64),
                num_halves=2 * len(games), num_classes=len(EVENT_DICTIONARY_V2), framerate=FPS)


# ----------------------------------------------------------------------------------------------------
# Hand-built games past 120 minutes


def test_late_label_and_prediction_clamped_officially_apart_exactly(tmp_path):
    """GT at 125 min, prediction at 120 min 0.5 s: both clamp to row 14,399 officially (a TP at +-0.5 s);
    exactly they are 599 frames apart (an FP)."""
    games = [([ann("Goal", ms_at(15000))], [pred("Goal", ms_at(14401), 0.9)])]
    dirs = write_games(str(tmp_path), games)
    official = evaluate(*dirs, metric="at1")
    exact = evaluate(*dirs, metric="at1", array_length="exact")
    assert official["a_mAP_per_class"][GOAL] == 1.0 and official["a_mAP"] == 1 / 17
    assert exact["a_mAP_per_class"][GOAL] == 0.0 and exact["a_mAP"] == 0.0
    assert_close(exact, average_map_from_arrays(**oracle_events(games, "exact"), metric="at1"))
    assert_close(official, average_map_from_arrays(**oracle_events(games, "official"), metric="at1"))


def test_collision_at_121_and_122_minutes(tmp_path):
    """Two Goal predictions at 121 and 122 min: officially one clamped cell where the LAST in file order
    wins; exactly two detections. GT at 122 min, at1 (+-1 frame), predictions 0.4 at 122 min then 0.8 at
    121 min.

    official: one detection (0.8) on the clamped GT -> P = R = 1 -> Goal AP 1.
    exact: 0.4 is a TP, 0.8 an FP; thresholds <= 0.4 keep both (P = 1/2, R = 1), thresholds in (0.4, 0.8]
    keep the FP only (P = R = 0): every 11-point level reads 1/2 -> Goal AP 1/2.
    """
    games = [([ann("Goal", 122 * 60_000)], [pred("Goal", 122 * 60_000, 0.4), pred("Goal", 121 * 60_000, 0.8)])]
    dirs = write_games(str(tmp_path), games)
    official = evaluate(*dirs, metric="at1")
    exact = evaluate(*dirs, metric="at1", array_length="exact")
    assert official["a_mAP_per_class"][GOAL] == 1.0
    assert exact["a_mAP_per_class"][GOAL] == 0.5 and exact["a_mAP"] == 0.5 / 17
    assert exact["a_mAP_per_class_visible"][GOAL] == 0.5
    assert_close(exact, average_map_from_arrays(**oracle_events(games, "exact"), metric="at1"))


def test_collision_last_in_file_order_wins_officially_only(tmp_path):
    """A later negative confidence in the clamped official cell erases the detection (section 3); in exact
    mode the two predictions are in different cells and the positive one still counts."""
    games = [([ann("Goal", 121 * 60_000)], [pred("Goal", 121 * 60_000, 0.7), pred("Goal", 123 * 60_000, -1.0)])]
    dirs = write_games(str(tmp_path), games)
    assert evaluate(*dirs, metric="at1")["a_mAP"] == 0.0
    exact = evaluate(*dirs, metric="at1", array_length="exact")
    assert exact["a_mAP_per_class"][GOAL] == 1.0
    assert_close(exact, average_map_from_arrays(**oracle_events(games, "exact"), metric="at1"))


def test_duplicate_late_labels_collapse_only_officially(tmp_path):
    """Two Goal labels at 121 and 125 min: one clamped cell officially (one action, R = 1 with one TP),
    two actions exactly (one TP -> R = 1/2)."""
    games = [([ann("Goal", 121 * 60_000), ann("Goal", 125 * 60_000)], [pred("Goal", 125 * 60_000, 0.9)])]
    dirs = write_games(str(tmp_path), games)
    assert evaluate(*dirs, metric="at1")["a_mAP_per_class"][GOAL] == 1.0
    exact = evaluate(*dirs, metric="at1", array_length="exact")
    # P = 1 up to R = 1/2, nothing beyond: levels 0 .. 0.5 (6 of 11) read 1.
    assert exact["a_mAP_per_class"][GOAL] == 6 / 11
    assert_close(exact, average_map_from_arrays(**oracle_events(games, "exact"), metric="at1"))


# ----------------------------------------------------------------------------------------------------
# Negative positions with the exact length


def test_negative_prediction_wraps_to_the_end_of_the_exact_half(tmp_path):
    """A Corner label at 125 min makes half 1 15,001 rows long; a Goal prediction at -3 s (frame -6) wraps
    to row 14,995 there (official: 14,394), where the Goal label lies (official: clamped to 14,399)."""
    games = [([ann("Corner", ms_at(15000)), ann("Goal", ms_at(14995))], [pred("Goal", -3000, 0.9)])]
    dirs = write_games(str(tmp_path), games)
    assert evaluate(*dirs, metric="at1")["a_mAP_per_class"][GOAL] == 0.0
    exact = evaluate(*dirs, metric="at1", array_length="exact")
    assert exact["a_mAP_per_class"][GOAL] == 1.0
    assert_close(exact, average_map_from_arrays(**oracle_events(games, "exact"), metric="at1"))


@pytest.mark.parametrize("late_half,goal_ap", [(1, 1.0), (2, 0.0)])
def test_negative_label_wraps_with_its_own_half_length(tmp_path, late_half, goal_ap):
    """The length counts predictions too, of any class, but only of the same half: a Corner prediction at
    frame 15,200 gives half ``late_half`` 15,201 rows. The Goal label at -3 s then wraps to row 15,195 (its
    half is the long one) where the Goal prediction is, or to row 14,394 (the other half is long)."""
    games = [([ann("Goal", -3000)], [pred("Corner", ms_at(15200), 0.5, half=late_half),
                                     pred("Goal", ms_at(15195), 0.9)])]
    dirs = write_games(str(tmp_path), games)
    exact = evaluate(*dirs, metric="at1", array_length="exact")
    assert exact["a_mAP_per_class"][GOAL] == goal_ap
    assert_close(exact, average_map_from_arrays(**oracle_events(games, "exact"), metric="at1"))
    assert evaluate(*dirs, metric="at1")["a_mAP_per_class"][GOAL] == 0.0  # official: 14,394 vs 14,399


def test_lengths_are_per_game(tmp_path):
    """Game 0's late label does not lengthen game 1: there the label at -3 s wraps to row 14,394."""
    games = [([ann("Corner", ms_at(20000))], []),
             ([ann("Goal", -3000)], [pred("Goal", ms_at(14394), 0.9)])]
    dirs = write_games(str(tmp_path), games)
    exact = evaluate(*dirs, metric="at1", array_length="exact")
    assert exact["a_mAP_per_class"][GOAL] == 1.0
    assert_close(exact, average_map_from_arrays(**oracle_events(games, "exact"), metric="at1"))


def test_far_negative_position_is_refused_or_wrapped_by_the_exact_length(tmp_path):
    """-8,000 s is frame -16,000: before the start of a 14,400-row half (refused in both modes, naming the
    field), but inside a half that a label at frame 20,000 makes 20,001 rows long (row 4,001)."""
    short = write_games(str(tmp_path / "a"), [([], [pred("Goal", -8_000_000, 0.9)])])
    for mode in ("official", "exact"):
        with pytest.raises(MetricFileError, match=r"^evaluate: .*results_spotting\.json: predictions\[0\]\."
                                                  r"position: position before the start of the half"):
            evaluate(*short, metric="at1", array_length=mode)
    games = [([ann("Corner", ms_at(20000)), ann("Goal", ms_at(4001))], [pred("Goal", -8_000_000, 0.9)])]
    long = write_games(str(tmp_path / "b"), games)
    with pytest.raises(MetricFileError, match="before the start of the half"):
        evaluate(*long, metric="at1")
    exact = evaluate(*long, metric="at1", array_length="exact")
    assert exact["a_mAP_per_class"][GOAL] == 1.0
    assert_close(exact, average_map_from_arrays(**oracle_events(games, "exact"), metric="at1"))


def test_far_negative_label_position_is_refused_with_its_field(tmp_path):
    dirs = write_games(str(tmp_path), [([ann("Corner", 0), ann("Goal", -8_000_000)], [])])
    with pytest.raises(MetricFileError) as e:
        evaluate(*dirs, metric="at1", array_length="exact")
    assert e.value.field == "annotations[1].position" and "Labels-v2.json" in e.value.file


@pytest.mark.parametrize("labels,preds,field", [
    ([ann("Goal", -1000)], [], "annotations[0].position"),
    ([ann("Goal", -200)], [], "annotations[0].position"),  # frame 0, but a negative position
    ([{"gameTime": "1 - -1:00", "label": "Goal"}], [], "annotations[0].gameTime"),  # frame -120
    ([], [pred("Goal", -1000, 0.5)], "predictions[0].position"),
], ids=["label-position", "label-position-frame-0", "label-gametime", "prediction-position"])
def test_strict_still_refuses_negative_positions(tmp_path, labels, preds, field):
    dirs = write_games(str(tmp_path), [(labels, preds)])
    with pytest.raises(MetricFileError, match="^evaluate: ") as e:
        evaluate(*dirs, metric="at1", strict=True, array_length="exact")
    assert e.value.field == field and "negative position" in str(e.value)


@pytest.mark.parametrize("position", [10**30, 1e300])
def test_exact_refuses_frames_beyond_int64_arithmetic(tmp_path, position):
    """Official mode clamps such positions; exact mode keeps frames and must not overflow int64."""
    dirs = write_games(str(tmp_path), [([ann("Goal", 0)], [pred("Goal", position, 0.5)])])
    assert evaluate(*dirs, metric="at1")["a_mAP"] == 0.0
    with pytest.raises(MetricFileError, match=r"predictions\[0\]\.position: position out of range") as e:
        evaluate(*dirs, metric="at1", array_length="exact")
    assert str(e.value).startswith("evaluate: ")


# ----------------------------------------------------------------------------------------------------
# Random games


LABELS = list(EVENT_DICTIONARY_V2)
# Dense around the end of the official array and past it, so that clamps, collisions and ties are common;
# a few negative positions (wrapped), a few near the start.
LATE_MS = st.one_of(st.integers(7_150_000, 7_260_000), st.integers(7_260_000, 7_700_000), st.integers(-3_000, -1),
                    st.integers(0, 5_000))
INSIDE_MS = st.one_of(st.integers(0, 40_000), st.integers(7_190_000, 7_199_999), st.integers(-3_000, -1))


@st.composite
def annotation(draw, positions, extras):
    half = draw(st.sampled_from([1, 2] + ([3] if extras else [])))
    label = draw(st.sampled_from(LABELS + (["Unknown"] if extras else [])))
    a = {"gameTime": f"{half} - {draw(st.integers(0, 99)):02d}:{draw(st.integers(0, 59)):02d}", "label": label}
    if draw(st.integers(0, 4)):  # mostly with position; else gameTime seconds (always < 100 min)
        ms = draw(positions)
        a["position"] = draw(st.sampled_from([ms, str(ms)])) if extras else str(ms)
    vis = draw(st.sampled_from(["visible", "not shown", None]))
    if vis is not None:
        a["visibility"] = vis
    return a


@st.composite
def prediction(draw, positions, extras):
    k = draw(st.integers(0, 199))
    conf = draw(st.sampled_from([k / 199, 0.0, -0.5, 1.5, 0.999]))
    ms = draw(positions)
    return {"position": draw(st.sampled_from([ms, str(ms)])) if extras else ms,
            "half": draw(st.sampled_from([1, 2] + (["1", 3] if extras else []))),
            "label": draw(st.sampled_from(LABELS + (["Unknown"] if extras else []))),
            "confidence": draw(st.sampled_from([conf, str(conf)])) if extras else conf}


def game_sets(positions, extras):
    game = st.tuples(st.lists(annotation(positions, extras), max_size=20),
                     st.lists(prediction(positions, extras), max_size=30))
    return st.lists(game, min_size=1, max_size=3)


@settings(max_examples=40)
@given(games=game_sets(LATE_MS, extras=False), metric=st.sampled_from(["loose", "at1", "tight"]))
def test_exact_mode_equals_unclamped_events(tmp_path_factory, games, metric):
    dirs = write_games(str(tmp_path_factory.mktemp("g")), games)
    for mode in ("exact", "official"):
        expected = oracle_events(games, mode)
        # The events themselves, row for row (file order is kept): halves, frames, classes, visibility/scores.
        events = read_events("evaluate", *dirs, split=None, version=2, games=None, label_placement="position",
                             prediction_file="results_spotting.json", label_file="Labels-v2.json",
                             framerate=FPS, strict=False, array_length=mode)
        for got, key in zip(events[2:], ("gt_halves", "gt_frames", "gt_classes", "gt_visible", "pred_halves",
                                         "pred_frames", "pred_classes", "pred_scores")):
            want = np.where(expected[key], 1.0, -1.0) if key == "gt_visible" else expected[key]
            np.testing.assert_array_equal(got, want, err_msg=f"{mode}: {key}")
        assert_close(evaluate(*dirs, metric=metric, array_length=mode),
                     average_map_from_arrays(**expected, metric=metric))


@settings(max_examples=40)
@given(games=game_sets(INSIDE_MS, extras=True), metric=st.sampled_from(["loose", "at2", [1, 3]]))
def test_exact_equals_official_inside_120_minutes(tmp_path_factory, games, metric):
    """Every frame < 14,400 (unknown labels, half 3, string fields, negative positions included): the two
    modes give bit-equal dicts."""
    dirs = write_games(str(tmp_path_factory.mktemp("g")), games)
    assert_bit_equal(evaluate(*dirs, metric=metric, details=True),
                     evaluate(*dirs, metric=metric, details=True, array_length="exact"))


# ----------------------------------------------------------------------------------------------------
# Real data: every frame lies inside 120 minutes, so "exact" must be bit-equal to "official"


@pytest.mark.parametrize("metric", ["loose", "tight"])
def test_real_data_exact_equals_official(shared_dir, metric):
    labels = os.path.join(shared_dir, "data", "soccernet-v2-labels", "test")
    preds = os.path.join(shared_dir, "data", "sn-spotting-pooling-predictions", "NETVLAD_v2",
                         "results_spotting_test.zip")
    if not (os.path.isdir(labels) and os.path.isfile(preds)):
        pytest.skip("real SoccerNet data not found under ../shared/data")
    official = evaluate(labels, preds, metric=metric)
    assert_bit_equal(official, evaluate(labels, preds, metric=metric, array_length="exact"))
    assert official["a_mAP"] == {"loose": 0.31382766826473724, "tight": 0.04222371313449455}[metric]  # spec §11


# ----------------------------------------------------------------------------------------------------
# CLI and bad arguments


def test_cli_array_length_flag(tmp_path, capsys):
    games = [([ann("Goal", 122 * 60_000)], [pred("Goal", 122 * 60_000, 0.4), pred("Goal", 121 * 60_000, 0.8)])]
    dirs = write_games(str(tmp_path), games)
    results = {}
    for mode in ("official", "exact"):
        assert main([*dirs, "--metric", "at1", "--json", "--array-length", mode]) == 0
        results[mode] = json.loads(capsys.readouterr().out)
        assert results[mode]["a_mAP"] == evaluate(*dirs, metric="at1", array_length=mode)["a_mAP"]
    assert results["exact"]["a_mAP"] != results["official"]["a_mAP"]
    assert main([*dirs, "--metric", "at1", "--json"]) == 0  # default: official
    assert json.loads(capsys.readouterr().out) == results["official"]
    assert main([*dirs, "--metric", "at1", "--array-length", "exact"]) == 0
    assert "exact half lengths" in capsys.readouterr().out.splitlines()[0]
    with pytest.raises(SystemExit):
        main([*dirs, "--array-length", "true"])


@pytest.mark.parametrize("value,exc", [
    ("Exact", ValueError), ("", ValueError), ("120min", ValueError),
    (None, TypeError), (1, TypeError), (["exact"], TypeError), (b"exact", TypeError),
])
def test_bad_array_length(tmp_path, value, exc):
    dirs = write_games(str(tmp_path), [([ann("Goal", 0)], [])])
    with pytest.raises(exc, match=r"^evaluate: array_length"):
        evaluate(*dirs, array_length=value)
