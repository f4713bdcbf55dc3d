"""E2E-Spot frame-tolerance mAP (soccernet_metric.md section 13, test vector M-T8) on hand-computed cases."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotkern.metrics import e2e_spot_map


def gt(video, *events):
    return {"video": video, "events": [{"frame": f, "label": lab} for f, lab in events]}


def pr(video, *events):
    return {"video": video, "events": [{"frame": f, "label": lab, "score": s} for f, lab, s in events]}


def test_a_prediction_one_frame_off_hits_at_tolerance_1_and_misses_at_0():
    """M-T8."""
    truth = [gt("v", (10, "a"), (20, "a"))]
    preds = [pr("v", (11, "a", 0.9), (30, "a", 0.8), (20, "a", 0.7))]
    r = e2e_spot_map(truth, preds, tolerances=[1, 0])
    assert r["AP_per_class"]["a"] == [pytest.approx((1 + 2 / 3) / 2, abs=1e-15), pytest.approx(1 / 6, abs=1e-15)]
    assert r["mAP"] == r["AP_per_class"]["a"] and r["classes"] == ["a"]
    assert r["average_mAP"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 6) / 2, abs=1e-15)


def test_interpolation_uses_later_precision():
    # Ranked: FP, TP (P 1/2), TP (P 2/3): interpolated [2/3, 2/3] -> AP = (4/3) / 2 GT.
    truth = [gt("v", (5, "a"), (50, "a"))]
    preds = [pr("v", (100, "a", 0.9), (5, "a", 0.8), (50, "a", 0.7))]
    assert e2e_spot_map(truth, preds, tolerances=[0])["mAP"] == [pytest.approx(2 / 3, abs=1e-15)]


def test_score_order_not_time_order_and_nearest_gt():
    # The higher-scored prediction at 12 takes GT 11 (nearest), leaving GT 9 for the one at 10.
    truth = [gt("v", (9, "a"), (11, "a"))]
    preds = [pr("v", (10, "a", 0.5), (12, "a", 0.9))]
    assert e2e_spot_map(truth, preds, tolerances=[1])["mAP"] == [1.0]
    # Tie in distance: 10 takes the earlier GT in input order (9); 8 is then 3 away from GT 11 -> FP at tol 1
    # (had the tie gone to 11, both would hit).
    truth = [gt("v", (9, "a"), (11, "a"))]
    preds = [pr("v", (10, "a", 0.9), (8, "a", 0.5))]
    r = e2e_spot_map(truth, preds, tolerances=[1, 3])
    assert r["mAP"] == [pytest.approx(0.5, abs=1e-15), 1.0]  # tol 1: AP = 1/2 ; tol 3: both hit


def test_classes_videos_and_unmatched_labels():
    truth = [gt("v1", (10, "b")), gt("v2", (10, "a"))]
    # "a" predicted only in the wrong video; "c" is absent from the GT and ignored.
    preds = [pr("v1", (10, "a", 0.9), (10, "b", 0.8), (3, "c", 1.0)), pr("v2")]
    r = e2e_spot_map(truth, preds, tolerances=[0])
    assert r["classes"] == ["a", "b"]
    assert r["AP_per_class"] == {"a": [0.0], "b": [1.0]} and r["mAP"] == [0.5]


def test_duplicate_gt_frames_are_recalled_together():
    # Two GT events on one frame: one hit recalls both keys but the denominator counts 2.
    truth = [gt("v", (10, "a"), (10, "a"))]
    preds = [pr("v", (10, "a", 0.9), (10, "a", 0.8))]
    assert e2e_spot_map(truth, preds, tolerances=[0])["mAP"] == [0.5]


def test_stable_order_for_equal_scores():
    truth = [gt("v", (10, "a"))]
    # Equal scores keep input order: the FP first -> precision 1/2 at the TP.
    assert e2e_spot_map(truth, [pr("v", (50, "a", 0.5), (10, "a", 0.5))], tolerances=[0])["mAP"] == [0.5]
    assert e2e_spot_map(truth, [pr("v", (10, "a", 0.5), (50, "a", 0.5))], tolerances=[0])["mAP"] == [1.0]


BAD = [
    ("videos", [gt("v", (1, "a"))], [pr("w")], {}, ValueError, "same set of videos"),
    ("score", [gt("v", (1, "a"))], [{"video": "v", "events": [{"frame": 1, "label": "a"}]}], {}, ValueError,
     r"predictions\[0\]\.events\[0\]\.score is missing"),
    ("frame", [{"video": "v", "events": [{"frame": 1.5, "label": "a"}]}], [pr("v")], {}, TypeError,
     r"truth\[0\]\.events\[0\]\.frame"),
    ("tolerances", [gt("v", (1, "a"))], [pr("v")], {"tolerances": [-1]}, ValueError, "tolerances"),
    ("empty", [gt("v")], [pr("v")], {}, ValueError, "truth holds no event"),
    ("type", "truth", [pr("v")], {}, TypeError, "truth must be a list"),
]


@pytest.mark.parametrize("name,truth,preds,kw,exc,msg", BAD, ids=[b[0] for b in BAD])
def test_bad_input(name, truth, preds, kw, exc, msg):
    with pytest.raises(exc, match=f"^e2e_spot_map: .*{msg}"):
        e2e_spot_map(truth, preds, **kw)


def brute_force_ap(preds, gts, tol):
    """Literal reading of section 13 for one class and one video, plain Python lists."""
    order = sorted(range(len(preds)), key=lambda i: -preds[i][1])
    recalled = set()
    pcs = []
    for rank, i in enumerate(order, 1):
        f = preds[i][0]
        cands = [g for g in gts if g not in recalled]
        if not cands:
            continue
        best = min(cands, key=lambda g: (abs(g - f), gts.index(g)))
        if abs(best - f) <= tol:
            recalled.add(best)
            pcs.append(len(recalled) / rank)
    return sum(max(pcs[k:]) for k in range(len(pcs))) / len(gts)


@settings(max_examples=60)
@given(gts=st.lists(st.integers(0, 30), min_size=1, max_size=8),
       preds=st.lists(st.tuples(st.integers(0, 30), st.sampled_from([0.1, 0.5, 0.9, 0.3])), max_size=10),
       tol=st.integers(0, 3))
def test_single_class_matches_brute_force(gts, preds, tol):
    r = e2e_spot_map([gt("v", *[(g, "a") for g in gts])], [pr("v", *[(f, "a", s) for f, s in preds])],
                     tolerances=[tol])
    assert r["mAP"][0] == pytest.approx(brute_force_ap(preds, gts, tol), abs=1e-12)
