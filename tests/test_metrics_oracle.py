"""spotkern.metrics against the official SoccerNet evaluator (the oracle) on random inputs.

* files: hypothesis-generated game sets (versions 1 and 2) written to a temporary folder and evaluated by
  both ``SoccerNet.Evaluation.ActionSpotting.evaluate`` and ``spotkern.metrics.evaluate``;
* dense arrays: ``average_map_from_dense`` against the official ``average_mAP``;
* sparse arrays: ``average_map_from_arrays`` against ``average_map_from_dense`` on the same events.
"""
import contextlib
import io
import json
import os
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("SoccerNet")
from SoccerNet.Evaluation.ActionSpotting import average_mAP as official_average_map  # noqa: E402
from SoccerNet.Evaluation.ActionSpotting import evaluate as official_evaluate  # noqa: E402

from spotkern.metrics import (  # noqa: E402
    EVENT_DICTIONARY_V1,
    EVENT_DICTIONARY_V2,
    average_map_from_arrays,
    average_map_from_dense,
    evaluate,
)

TOL = 1e-12
KEYS = ("a_mAP", "a_mAP_per_class", "a_mAP_visible", "a_mAP_per_class_visible", "a_mAP_unshown",
        "a_mAP_per_class_unshown")


def assert_same_result(ours, theirs, tol=TOL):
    assert set(ours) >= set(KEYS)
    for key in KEYS:
        a, b = ours[key], theirs[key]
        if b is None:
            assert a is None, key
            continue
        assert type(a) is type(b) or (np.isscalar(a) and np.isscalar(b)), (key, type(a), type(b))
        np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64),
                                   rtol=0, atol=tol, err_msg=key)


def quiet(f, *args, **kwargs):
    """The official evaluator prints tqdm bars; keep the test output readable."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        return f(*args, **kwargs)


# ----------------------------------------------------------------------------------------------------
# Files

V2_LABELS = list(EVENT_DICTIONARY_V2) + ["Unknown"]
V1_GT_LABELS = ["soccer-ball", "soccer-ball-own", "y-card", "r-card", "yr-card", "substitution-in",
                "penalty-missed"]
V1_PRED_LABELS = list(EVENT_DICTIONARY_V1)

# Positions concentrated on a few dozen frames so that matches, collisions and ties are frequent;
# plus positions past the end of the 120-minute array (clamped) and slightly negative ones (wrapped).
positions_ms = st.one_of(
    st.integers(0, 40_000),
    st.integers(7_199_000, 7_300_000),
    st.integers(-3_000, -1),
)
# Confidences: exact thresholds k/199, 0.0, negative, > 1 and arbitrary values, as numbers or strings.
confidences = st.one_of(
    st.integers(0, 199).map(lambda k: k / 199),
    st.sampled_from([0.0, -0.0, -0.5, -1.0, 1.0, 1.5, 2.0, 0.999]),
    st.floats(-0.2, 1.2, allow_nan=False),
)


def game_time(half, ms):
    s = max(ms, 0) // 1000
    return f"{half} - {s // 60:02d}:{s % 60:02d}"


@st.composite
def v2_annotation(draw):
    half = draw(st.sampled_from([1, 2, 1, 2, 3]))
    ms = draw(positions_ms)
    ann = {"gameTime": game_time(half, ms), "label": draw(st.sampled_from(V2_LABELS))}
    if draw(st.integers(0, 5)):  # mostly with position, sometimes only gameTime
        ann["position"] = draw(st.sampled_from([str(ms), ms]))
    vis = draw(st.sampled_from(["visible", "not shown", None]))
    if vis is not None:
        ann["visibility"] = vis
    return ann


@st.composite
def v1_annotation(draw):
    half = draw(st.sampled_from([1, 2]))
    ms = draw(st.integers(0, 40_000) | st.integers(7_199_000, 7_300_000))
    return {"gameTime": game_time(half, ms), "label": draw(st.sampled_from(V1_GT_LABELS)), "team": "home"}


@st.composite
def prediction(draw, labels):
    ms = draw(positions_ms)
    conf = draw(confidences)
    return {
        "gameTime": "1 - 0:00",
        "position": draw(st.sampled_from([ms, str(ms)])),
        "half": draw(st.sampled_from([1, 2, "1", "2", 1, 2, 3])),
        "label": draw(st.sampled_from(labels)),
        "confidence": draw(st.sampled_from([conf, conf, str(conf)])),
    }


def game_sets(version):
    ann = v2_annotation() if version == 2 else v1_annotation()
    labels = V2_LABELS if version == 2 else V1_PRED_LABELS
    game = st.tuples(st.lists(ann, max_size=25), st.lists(prediction(labels), max_size=40))
    return st.lists(game, min_size=1, max_size=3)


def write_games(root, games, label_file):
    labels_dir = os.path.join(root, "labels")
    preds_dir = os.path.join(root, "preds")
    for g, (anns, preds) in enumerate(games):
        game = f"league/2020-2021/game {g}"
        for base, name, data in ((labels_dir, label_file, {"annotations": anns}),
                                 (preds_dir, "results_spotting.json", {"UrlLocal": game, "predictions": preds})):
            os.makedirs(os.path.join(base, game))
            with open(os.path.join(base, game, name), "w") as f:
                json.dump(data, f)
    return labels_dir, preds_dir


def check_files(games, version, metric, placement="position"):
    label_file = "Labels-v2.json" if version == 2 else "Labels.json"
    with tempfile.TemporaryDirectory() as root:
        labels_dir, preds_dir = write_games(root, games, label_file)
        ours = evaluate(labels_dir, preds_dir, version=version, metric=metric, label_placement=placement)
        if placement == "gametime":  # the official evaluator places by gameTime when position is absent
            for anns, _ in games:
                for a in anns:
                    a.pop("position", None)
            labels_dir, preds_dir = write_games(os.path.join(root, "gt"), games, label_file)
        theirs = quiet(official_evaluate, labels_dir, preds_dir, prediction_file="results_spotting.json",
                       version=version, metric=metric, label_files=label_file, dataset=None,
                       EVENT_DICTIONARY=EVENT_DICTIONARY_V2 if version == 2 else EVENT_DICTIONARY_V1)
    assert_same_result(ours, theirs)


# The official evaluator costs ~0.15 s per tolerance on 17 classes: mostly single tolerances here (the
# multi-tolerance averaging is covered by the dense test below, and loose on the real data).
@settings(max_examples=20)
@given(games=game_sets(2), metric=st.sampled_from(["at1", "at2", "at3", "at4", "at5", "tight"]))
def test_files_v2_equal_official(games, metric):
    check_files(games, 2, metric)


@settings(max_examples=8)
@given(games=game_sets(2), metric=st.sampled_from(["at1", "at2"]))
def test_files_v2_gametime_placement_equal_official(games, metric):
    check_files(games, 2, metric, placement="gametime")


@settings(max_examples=15)
@given(games=game_sets(1), metric=st.sampled_from(["at1", "at4", "tight"]))
def test_files_v1_equal_official(games, metric):
    check_files(games, 1, metric)


def test_files_real_world_quirks_equal_official():
    """One hand-made game holding every quirk at once (a fixed regression case for the property tests)."""
    anns = [
        {"gameTime": "1 - 00:10", "label": "Goal", "position": "10000", "visibility": "visible"},
        {"gameTime": "1 - 00:10", "label": "Goal", "position": "10400", "visibility": "not shown"},  # same cell
        {"gameTime": "1 - 00:12", "label": "Corner", "visibility": "not shown"},  # gameTime only
        {"gameTime": "2 - 99:59", "label": "Foul", "position": "7300000"},  # clamped
        {"gameTime": "1 - 00:00", "label": "Foul", "position": "-600"},  # wraps to the end
        {"gameTime": "1 - 00:20", "label": "Unknown", "position": "20000"},
        {"gameTime": "3 - 00:20", "label": "Goal", "position": "20000"},  # half 3 ignored
    ]
    preds = [
        {"position": 10100, "half": 1, "label": "Goal", "confidence": 0.9},
        {"position": "10200", "half": "1", "label": "Goal", "confidence": "0.3"},  # same cell: last wins
        {"position": 12000, "half": 1, "label": "Corner", "confidence": 1.7},
        {"position": 13000, "half": 1, "label": "Corner", "confidence": -0.2},
        {"position": 7250000, "half": 2, "label": "Foul", "confidence": 0.0},
        {"position": 7190000, "half": 1, "label": "Foul", "confidence": 0.5},
        {"position": 5000, "half": 3, "label": "Goal", "confidence": "not read"},
        {"position": 5000, "half": 1, "label": "Unknown", "confidence": 0.9},
    ]
    for metric in ("tight", "at5"):
        check_files([(anns, preds), ([], [])], 2, metric)


# ----------------------------------------------------------------------------------------------------
# Dense arrays (the official average_mAP)


def closest_reference(target):
    """Section 4, literally: GT i owns [max(0, (g[i-1]+g[i])//2), min(T, (g[i]+g[i+1])//2))."""
    T, C = target.shape
    out = np.full((T, C), -1.0)
    for c in range(C):
        g = list(np.nonzero(target[:, c])[0])
        if not g:
            continue
        g = [-g[0]] + g + [2 * T]
        for i in range(1, len(g) - 1):
            out[max(0, (g[i - 1] + g[i]) // 2):min(T, (g[i] + g[i + 1]) // 2), c] = target[g[i], c]
    return out


@st.composite
def dense_halves(draw):
    H = draw(st.integers(1, 3))
    C = draw(st.integers(1, 3))
    halves = []
    for _ in range(H):
        T = draw(st.integers(1, 40))
        target = np.array(draw(st.lists(st.sampled_from([0.0] * 6 + [1.0, -1.0]), min_size=T * C,
                                        max_size=T * C))).reshape(T, C)
        det = np.array(draw(st.lists(st.one_of(st.just(-1.0), st.just(-1.0), confidences, st.just(np.nan)),
                                     min_size=T * C, max_size=T * C))).reshape(T, C)
        halves.append((target, det))
    return halves


@settings(max_examples=60)
@given(halves=dense_halves(), deltas=st.sampled_from([[1], [3], [1, 2, 3, 4, 5], [5, 10, 15], [0.5, 2.5]]),
       framerate=st.sampled_from([2, 2, 1, 5]))
def test_dense_equal_official_average_map(halves, deltas, framerate):
    targets = [t for t, _ in halves]
    detections = [d for _, d in halves]
    closests = [closest_reference(t) for t in targets]
    res = quiet(official_average_map, targets, detections, closests, framerate, np.array(deltas))
    theirs = dict(zip(KEYS, res))
    ours = average_map_from_dense(targets, detections, metric=deltas, framerate=framerate)
    assert_same_result(ours, theirs)


def test_closest_reference_matches_spec_vector():
    """M-T3 for the test's own reference: GT +1 at 10, -1 at 13 in 20 frames."""
    target = np.zeros((20, 1))
    target[10, 0], target[13, 0] = 1, -1
    np.testing.assert_array_equal(closest_reference(target)[:, 0], [1.0] * 11 + [-1.0] * 9)


# ----------------------------------------------------------------------------------------------------
# Sparse arrays == dense arrays of the same events


@st.composite
def sparse_events(draw):
    H = draw(st.integers(1, 3))
    C = draw(st.integers(1, 4))
    T = 60
    G = draw(st.integers(0, 30))
    P = draw(st.integers(0, 50))
    ints = lambda n, hi: np.array(draw(st.lists(st.integers(0, hi - 1), min_size=n, max_size=n)),  # noqa: E731
                                  dtype=np.int64)
    gt = (ints(G, H), ints(G, T), ints(G, C), np.array(draw(st.lists(st.booleans(), min_size=G, max_size=G)),
                                                        dtype=bool))
    scores = np.array(draw(st.lists(confidences, min_size=P, max_size=P)), dtype=np.float64)
    pred = (ints(P, H), ints(P, T), ints(P, C), scores)
    return H, C, T, gt, pred


@settings(max_examples=60)
@given(ev=sparse_events(), metric=st.sampled_from(["loose", "tight", "at2"]))
def test_arrays_equal_dense(ev, metric):
    H, C, T, (gh, gf, gc, gv), (ph, pf, pc, ps) = ev
    targets = [np.zeros((T, C)) for _ in range(H)]
    detections = [np.full((T, C), -1.0) for _ in range(H)]
    for h, f, c, v in zip(gh, gf, gc, gv):  # file order: the last label of a cell sets its visibility
        targets[h][f, c] = 1.0 if v else -1.0
    for h, f, c, s in zip(ph, pf, pc, ps):  # the last prediction of a cell wins
        detections[h][f, c] = s
    ours = average_map_from_arrays(gh, gf, gc, ph, pf, pc, ps, num_halves=H, num_classes=C, gt_visible=gv,
                                   metric=metric)
    assert_same_result(ours, average_map_from_dense(targets, detections, metric=metric), tol=0)
