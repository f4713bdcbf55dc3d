"""``spotkern tune``: the per-class search is exact (its scores are the evaluator's), finds the best
setting of every class (brute force over the evaluator), is never worse than the run's default on the
tuning split, and works from the command line on saved scores of synthetic SoccerNet games."""
import itertools
import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotkern.cli import main
from spotkern.data.synth_scores import synth_raw_scores
from spotkern.inference.scores import save_raw_scores
from spotkern.metrics import average_map_from_arrays
from spotkern.metrics.soccernet import _group
from spotkern.postprocess import PostProcess, default_postprocess, pre_nms_scores
from spotkern.tune import TuningSet, search

CLASSES = ["a", "b", "c"]


def random_split(seed, H=4, T=500, C=3):
    """Raw scores of H halves and their ground truth (halves, frames, classes)."""
    g = np.random.default_rng(seed)
    raws, gh, gf, gc = [], [], [], []
    for h in range(H):
        n = int(g.integers(0, 12))
        f, c = g.integers(0, T, n), g.integers(0, C, n)
        raws.append(synth_raw_scores(g, T, C, f, c, radius_displacement=6.0))
        gh += [h] * n
        gf += list(f)
        gc += list(c)
    return raws, tuple(np.asarray(x, dtype=np.int64) for x in (gh, gf, gc))


def tuning_set(raws, gt, C=3):
    pre = [pre_nms_scores(r) for r in raws]
    H = len(pre)
    ptr, frames, _ = _group(C, H, *gt, np.ones(len(gt[0])), False)
    lengths = np.array([p.shape[0] for p in pre])
    scores = np.full((H, lengths.max(), C), -1.0, np.float32)
    for h, p in enumerate(pre):
        scores[h, :len(p)] = p
    return TuningSet(scores, lengths, ptr, frames, CLASSES[:C], 2.0, [("g", h) for h in range(H)], "dense", True)


def evaluate_pp(pp, raws, gt, metric="loose"):
    """The public evaluator on ``pp`` applied to every half, as predict would write it."""
    ph, pf, pc, ps = [], [], [], []
    for h, raw in enumerate(raws):
        out = pp.apply(raw, 2.0)
        t, c = np.nonzero(out >= 0)
        ph += [h] * len(t)
        pf += list(t)
        pc += list(c)
        ps += list(out[t, c])
    i64 = lambda x: np.asarray(x, dtype=np.int64)  # noqa: E731
    return average_map_from_arrays(*gt, i64(ph), i64(pf), i64(pc), np.asarray(ps, dtype=np.float64),
                                   num_halves=len(raws), num_classes=len(CLASSES), metric=metric)


@settings(max_examples=12)
@given(seed=st.integers(0, 2**31), metric=st.sampled_from(["loose", "tight", (3.0,)]),
       nms_method=st.sampled_from(["hard", "linear"]))
def test_tuned_is_exact_and_never_worse_than_the_default(seed, metric, nms_method):
    raws, gt = random_split(seed)
    ts = tuning_set(raws, gt)
    base = default_postprocess({"nms_method": nms_method}, CLASSES, kind="dense", has_displacement=True)
    pp = search(ts, base, metric=metric, methods=["hard", "linear", "gaussian"], windows=[1.0, 3.0, 8.0],
                thresholds=[0.02, 0.1, 0.4])
    tuned, before = evaluate_pp(pp, raws, gt, metric), evaluate_pp(base, raws, gt, metric)
    # the search's numbers are the evaluator's, bit for bit
    assert pp.info["a_mAP_tuned"] == tuned["a_mAP"] and pp.info["a_mAP_baseline"] == before["a_mAP"]
    np.testing.assert_array_equal(pp.info["a_mAP_per_class_tuned"], np.asarray(tuned["a_mAP_per_class"]).ravel())
    np.testing.assert_array_equal(pp.info["a_mAP_per_class_baseline"], np.asarray(before["a_mAP_per_class"]).ravel())
    assert tuned["a_mAP"] >= before["a_mAP"]
    assert all(np.asarray(tuned["a_mAP_per_class"]).ravel() >= np.asarray(before["a_mAP_per_class"]).ravel())
    for c in range(3):  # a class the search could not improve keeps the default setting
        if pp.info["a_mAP_per_class_tuned"][c] == pp.info["a_mAP_per_class_baseline"][c]:
            assert (pp.methods[c], pp.windows[c], pp.thresholds[c]) == (base.methods[c], base.windows[c], None)


def test_search_finds_the_best_setting_of_every_class():
    """Brute force: every uniform (method, window, threshold) through the public evaluator; the best of
    each class is the search's (per-class AP depends on that class's detections only)."""
    raws, gt = random_split(7, H=3)
    methods, windows, taus = ["hard", "linear", "gaussian"], [1.0, 2.5, 6.0], [0.01, 0.05, 0.3]
    base = PostProcess(["hard"] * 3, [20.0] * 3, [None] * 3, classes=CLASSES)
    pp = search(tuning_set(raws, gt), base, methods=methods, windows=windows, thresholds=taus)
    best = np.full(3, -1.0)
    for m, w, t in itertools.product(methods, windows, taus):
        per_class = evaluate_pp(PostProcess([m] * 3, [w] * 3, [t] * 3), raws, gt)["a_mAP_per_class"]
        best = np.maximum(best, per_class)
    grid = np.asarray(pp.info["grid_best_over_thresholds"])  # (C, methods, windows), rounded to 1e-6
    np.testing.assert_allclose(grid.max(axis=(1, 2)), best, atol=1e-6)
    want = np.maximum(best, pp.info["a_mAP_per_class_baseline"])
    np.testing.assert_array_equal(pp.info["a_mAP_per_class_tuned"], want)


def test_search_arguments_are_checked():
    raws, gt = random_split(1, H=1, T=50)
    ts = tuning_set(raws, gt)
    base = PostProcess(["hard"] * 3, [3.0] * 3, [None] * 3)
    with pytest.raises(ValueError, match="tune: methods must be among"):
        search(ts, base, methods=["soft"])
    with pytest.raises(ValueError, match="tune: windows and thresholds must be finite and > 0"):
        search(ts, base, thresholds=[0.0, 0.1])
    with pytest.raises(ValueError, match="tune: method 'calf' needs windows of >= 2 frames"):
        search(ts, base, methods=["calf"], windows=[0.5, 4])
    with pytest.raises(ValueError, match="tune: the post-processing describes 2 classes"):
        search(ts, PostProcess(["hard"] * 2, [3.0] * 2, [None] * 2))
    with pytest.raises(ValueError, match="tune: metric"):
        search(ts, base, metric="medium")


@pytest.fixture(scope="module")
def synth_run(tmp_path_factory):
    """Synthetic SoccerNet games (2 valid) and a run folder whose valid raw scores come from
    synth_raw_scores around the true actions (no network needed)."""
    from spotkern.data import read_soccernet
    from spotkern.data.soccernet_classes import CLASSES_V2

    root = tmp_path_factory.mktemp("tune")
    data, run = str(root / "data"), str(root / "run")
    assert main(["-q", "synth", data, "--train", "0", "--valid", "2", "--test", "0", "--feature-dim", "4",
                 "--no-progress"]) == 0
    os.makedirs(run)
    with open(os.path.join(run, "config.json"), "w") as f:
        json.dump({"data": data, "method": "dense", "nms_method": "linear"}, f)
    ds = read_soccernet(data, "valid", label_placement="position")
    g = np.random.default_rng(0)
    by_game = {}
    for half in ds.halves:
        raw = synth_raw_scores(g, half.num_frames, 17, half.frames, half.classes)
        by_game.setdefault(half.game, []).append(raw)
    for game, halves in by_game.items():
        save_raw_scores(os.path.join(run, "predictions", "valid"), game, halves, classes=CLASSES_V2, fps=2.0,
                        kind="dense")
    return data, run


def test_tune_command_writes_a_postprocess_file(synth_run, capsys):
    from spotkern.metrics import evaluate

    data, run = synth_run
    out = os.path.join(run, "pp.json")
    assert main(["-q", "tune", run, "--split", "valid", "--windows", "1,2,4,8", "--thresholds", "0.05,0.2",
                 "--out", out]) == 0
    text = capsys.readouterr().out
    assert "Ball out of play" in text and "average" in text and f"wrote {out}" in text
    pp = PostProcess.load(out)
    assert pp.classes[8] == "Ball out of play" and pp.info["split"] == "valid" and pp.info["halves"] == 4
    assert pp.info["a_mAP_tuned"] >= pp.info["a_mAP_baseline"]
    assert set(pp.methods) <= {"hard", "linear", "gaussian"}
    # the search's a-mAP is the evaluator's on the results files the tuned setting writes
    from spotkern.inference.results_files import write_results
    from spotkern.inference.scores import list_raw_scores, load_raw_scores

    scores_dir = os.path.join(run, "predictions", "valid")
    pred = os.path.join(run, "tuned")
    for game in list_raw_scores(scores_dir):
        doc = load_raw_scores(os.path.join(scores_dir, game, "raw_scores.npz"))
        write_results(pred, game, [pp.apply(r, 2.0) for r in doc["halves"]], doc["classes"], 2.0)
    res = evaluate(data, pred, split="valid")
    assert res["a_mAP"] == pytest.approx(pp.info["a_mAP_tuned"], abs=1e-12)


def test_tune_command_errors(synth_run, tmp_path, capsys):
    data, run = synth_run
    assert main(["-q", "tune", run, "--scores", str(tmp_path)]) == 2
    assert "no raw_scores.npz under" in capsys.readouterr().err
    one = tmp_path / "one"
    save_raw_scores(str(one), "synthetic_league/2026-2027/valid-0000 synthetic",
                    [{"confidence": np.zeros((10, 17), np.float32)}], classes=[str(i) for i in range(17)], fps=2.0,
                    kind="dense")
    assert main(["-q", "tune", run, "--scores", str(one)]) == 2
    assert "1 halves of raw scores, expected 2" in capsys.readouterr().err
