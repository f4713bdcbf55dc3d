"""The post-processing search of ``spotkern tune`` against a naive loop over the public evaluator, on
synthetic raw scores of SoccerNet-sized halves (5400 frames x 17 classes, the v2 class frequencies,
about 225 actions per game), one core.

Both search 3 NMS methods (hard, linear, gaussian) x 20 windows (1-60 s) x 6 thresholds (0.02-0.5) per
class, from the same run default (linear soft NMS of 4 s at the op's threshold), and find the same
per-class optimum:

* naive: for every (method, window, threshold), the post-processing of every half with
  ``PostProcess.apply`` (spotkern's NMS op), then the public ``average_map_from_arrays`` on the kept
  detections, keeping the best setting of each class (the loop a user writes with predict --from-scores
  and evaluate, without the JSON files);
* spotkern: ``spotkern.tune.search`` (per class, the frames above the lowest threshold listed once, one
  sparse NMS call per method for all windows, one sweep for all thresholds and tolerances).

Groups: 10 games (both rows) and 100 games (the README's row; the naive row takes minutes). A plain
``--benchmark-disable`` smoke run skips the 100-game group.
"""
import itertools

import numpy as np
import pytest

from spotkern.data.synth import V2_CLASS_COUNTS
from spotkern.data.synth_scores import synth_raw_scores
from spotkern.metrics import average_map_from_arrays
from spotkern.metrics.soccernet import _group
from spotkern.postprocess import PostProcess, default_postprocess, pre_nms_scores
from spotkern.tune import SEARCH_METHODS, SEARCH_THRESHOLDS, SEARCH_WINDOWS, TuningSet, search

T, C, FPS = 5400, 17, 2.0
CLASSES = [str(c) for c in range(C)]


def synthetic_split(games: int, seed: int = 0):
    """(TuningSet, ground truth events) of ``games`` games of synthetic raw scores."""
    g = np.random.default_rng(seed)
    p = V2_CLASS_COUNTS / V2_CLASS_COUNTS.sum()
    H = 2 * games
    scores = np.empty((H, T, C), np.float32)
    gh, gf, gc = [], [], []
    for h in range(H):
        n = g.poisson(112)
        f, c = g.integers(0, T, n), g.choice(C, n, p=p)
        scores[h] = pre_nms_scores(synth_raw_scores(g, T, C, f, c))
        gh.append(np.full(n, h))
        gf.append(f)
        gc.append(c)
    gt = tuple(np.concatenate(x).astype(np.int64) for x in (gh, gf, gc))
    ptr, frames, _ = _group(C, H, *gt, np.ones(len(gt[0])), False)
    ts = TuningSet(scores, np.full(H, T), ptr, frames, CLASSES, FPS, [(str(h // 2), h % 2 + 1) for h in range(H)])
    return ts, gt


def naive_search(ts: TuningSet, gt, baseline: PostProcess):
    """Per-class best a-mAP over the grid (and the baseline) with the public evaluator."""
    H = ts.num_halves

    def per_class(outputs):
        ph, pf, pc, ps = [], [], [], []
        for h, out in enumerate(outputs):
            t, c = np.nonzero(out >= 0)
            ph.append(np.full(len(t), h))
            pf.append(t)
            pc.append(c)
            ps.append(out[t, c])
        cat = lambda a: np.concatenate(a).astype(np.int64)  # noqa: E731
        res = average_map_from_arrays(*gt, cat(ph), cat(pf), cat(pc), np.concatenate(ps).astype(np.float64),
                                      num_halves=H, num_classes=C, metric="loose")
        return np.asarray(res["a_mAP_per_class"])

    def outputs(pp):
        return [pp.apply_scores(np.ascontiguousarray(ts.half_scores(h)), FPS) for h in range(H)]

    best = per_class(outputs(baseline))
    for m, w, tau in itertools.product(SEARCH_METHODS, SEARCH_WINDOWS, SEARCH_THRESHOLDS):
        best = np.maximum(best, per_class(outputs(PostProcess([m] * C, [w] * C, [tau] * C))))
    return best


def baseline_of():
    return default_postprocess({"nms_method": "linear"}, CLASSES, kind="dense", has_displacement=True)


GROUP = "tune search, {} games x 17 classes x 3 methods x 20 windows x 6 thresholds"


@pytest.fixture(scope="module")
def split10():
    return synthetic_split(10)


def test_tune_10_naive(benchmark, split10):
    benchmark.group = GROUP.format(10)
    ts, gt = split10
    best = benchmark.pedantic(naive_search, (ts, gt, baseline_of()), rounds=1, iterations=1)
    pp = search(ts, baseline_of())
    np.testing.assert_allclose(pp.info["a_mAP_per_class_tuned"], best, rtol=0, atol=1e-15)


def test_tune_10_spotkern(benchmark, split10):
    benchmark.group = GROUP.format(10)
    ts, _ = split10
    search(ts, baseline_of())  # numba compilation outside the timing
    pp = benchmark.pedantic(search, (ts, baseline_of()), rounds=3, iterations=1)
    assert pp.info["a_mAP_tuned"] >= pp.info["a_mAP_baseline"]


@pytest.fixture(scope="module")
def split100():
    return synthetic_split(100)


def test_tune_100_spotkern(benchmark, request):
    if benchmark.disabled:
        pytest.skip("100 games: measured with --benchmark-only (the 10-game group is the smoke test)")
    benchmark.group = GROUP.format(100)
    ts, _ = request.getfixturevalue("split100")
    search(ts, baseline_of())
    pp = benchmark.pedantic(search, (ts, baseline_of()), rounds=3, iterations=1)
    benchmark.extra_info["a_mAP_baseline"] = pp.info["a_mAP_baseline"]
    benchmark.extra_info["a_mAP_tuned"] = pp.info["a_mAP_tuned"]
    assert pp.info["a_mAP_tuned"] >= pp.info["a_mAP_baseline"]


def test_tune_100_naive(benchmark, request):
    if benchmark.disabled:
        pytest.skip("100 games: measured with --benchmark-only (the 10-game group is the smoke test)")
    benchmark.group = GROUP.format(100)
    ts, gt = request.getfixturevalue("split100")
    benchmark.pedantic(naive_search, (ts, gt, baseline_of()), rounds=1, iterations=1)
