"""``spotkern.metrics.per_class``: the threshold sweep and the per-class a-mAP equal the evaluator's
per-class results bit for bit; the precision-recall points interpolate to the evaluator's AP."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spotkern.metrics import average_map_from_arrays
from spotkern.metrics.per_class import class_ap_sweep, class_average_map, precision_recall_curves
from spotkern.metrics.soccernet import METRICS, _group


def random_class(g, H, T, n_gt, n_det, coarse):
    """Ground truth and one detection per cell of one class over H halves."""
    gh, gf = g.integers(0, H, n_gt), g.integers(0, T, n_gt)
    cells = np.unique(np.stack([g.integers(0, H, n_det), g.integers(0, T, n_det)], axis=1), axis=0)
    scores = g.random(len(cells)).astype(np.float32)
    if coarse:  # ties, exact zeros and scores on the 200 thresholds
        scores = (np.round(scores * 8) / 8).astype(np.float32)
    return gh, gf, cells[:, 0], cells[:, 1], scores


@given(seed=st.integers(0, 2**31), H=st.integers(1, 4), T=st.sampled_from([1, 5, 60, 400, 3000]),
       n_gt=st.integers(0, 30), n_det=st.integers(0, 400), coarse=st.booleans(),
       metric=st.sampled_from(["loose", "tight", "at1", (2.5, 7.0), (7.0, 2.5, 7.0, 0.5), (3.0, 1e12)]))
def test_sweep_equals_the_evaluator_for_every_threshold(seed, H, T, n_gt, n_det, coarse, metric):
    """Edges: T = 1 (every GT of a half competes for one cell), GTs close enough to compete at some
    tolerances and isolated ones (the sweep's two matching paths), unsorted and repeated tolerances."""
    g = np.random.default_rng(seed)
    gh, gf, ph, pf, ps = random_class(g, H, T, n_gt, n_det, coarse)
    ptr, frames, _ = _group(1, H, gh, gf, np.zeros(n_gt, np.int64), np.ones(n_gt), False)
    taus = np.array(sorted({0.0, 0.1, 0.125, float(np.float32(0.3)), 0.5, 1.0}))
    tol = np.asarray(METRICS[metric] if isinstance(metric, str) else metric, dtype=np.float64)
    # two "settings": the scores, and the scores halved (column 1)
    kept = np.stack([ps, ps / 2], axis=1).astype(np.float32)
    ap = class_ap_sweep(kept, ph, pf, H, ptr, frames, tol * 2, taus)
    for j in range(2):
        for u, tau in enumerate(taus):
            sel = kept[:, j] >= tau
            res = average_map_from_arrays(gh, gf, np.zeros(n_gt, np.int64), ph[sel], pf[sel],
                                          np.zeros(sel.sum(), np.int64), kept[sel, j], num_halves=H, num_classes=1,
                                          metric=metric, details=True)
            np.testing.assert_array_equal(ap[j, u], res["AP"][0, :, 0])
            per_class = np.asarray(res["a_mAP_per_class"], dtype=np.float64).reshape(-1)[0]
            assert class_average_map(ap[j, u]) == per_class


def test_sweep_refuses_unsorted_thresholds():
    with pytest.raises(ValueError, match="class_ap_sweep: taus must be a non-empty ascending"):
        class_ap_sweep(np.zeros((0, 1), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64), 1,
                       np.zeros(2, np.int64), np.zeros(0, np.int64), [2.0], [0.5, 0.1])


def interpolated_ap(precision, recall):
    """soccernet_metric.md 5.3: mean over the 11 recall levels of the best precision at recall >= level."""
    return sum(max([p for p, r in zip(precision, recall) if r >= j / 10], default=0.0) for j in range(11)) / 11


@given(seed=st.integers(0, 2**31), C=st.integers(1, 3), H=st.integers(1, 3), coarse=st.booleans(),
       tolerance=st.sampled_from([1.0, 5.0, 30.0]))
def test_precision_recall_points_interpolate_to_the_evaluators_ap(seed, C, H, coarse, tolerance):
    g = np.random.default_rng(seed)
    n_gt, n_det = int(g.integers(0, 20)), int(g.integers(0, 80))
    gt = (g.integers(0, H, n_gt), g.integers(0, 300, n_gt), g.integers(0, C, n_gt))
    pred = (g.integers(0, H, n_det), g.integers(0, 300, n_det), g.integers(0, C, n_det))
    scores = g.random(n_det)
    if coarse:
        scores = np.round(scores * 6) / 6
    precision, recall = precision_recall_curves(C, H, *gt, *pred, scores, tolerance, 2)
    res = average_map_from_arrays(*gt, *pred, scores, num_halves=H, num_classes=C, metric=[tolerance],
                                  details=True)
    assert precision.shape == recall.shape == (C, 200)
    for c in range(C):
        assert interpolated_ap(precision[c], recall[c]) == pytest.approx(res["AP"][0, 0, c], abs=1e-12)
        assert np.all(np.diff(recall[c]) <= 0)  # recall never grows with the threshold


@given(seed=st.integers(0, 2**31), n_gt=st.integers(0, 40), n_det=st.integers(0, 60), tp_share=st.floats(0, 1),
       nt=st.sampled_from([1, 2, 200]))
def test_prefix_max_interpolation_equals_the_cores(seed, n_gt, n_det, tp_share, nt):
    """The sweep's O(nt) 11-point interpolation gives the core's AP to the bit, including no GT, no
    detection, and TPs that exceed the GT count (the core's nan_to_num path)."""
    from spotkern.metrics._core import _interpolated_ap
    from spotkern.metrics.per_class import _interpolated_ap_monotone

    g = np.random.default_rng(seed)
    all_hist = np.bincount(g.integers(0, nt + 1, n_det), minlength=nt + 1).astype(np.int64)
    tp_hist = np.array([g.binomial(a, tp_share) for a in all_hist], dtype=np.int64)
    want = _interpolated_ap(tp_hist, all_hist, n_gt, nt)
    got = _interpolated_ap_monotone(tp_hist, all_hist, n_gt, nt, np.empty(nt), np.empty(nt))
    assert got == want
