"""SoccerNet average-mAP on the 100 real test games (NetVLAD predictions): spotkern vs the official
evaluator (SoccerNet 0.2.0) in the same run. Targets (issue 7): >= 100x faster metric time, <= 1 s wall
including JSON loading, <= 200 MB peak memory.

Groups per metric (loose, tight):
* "metric time": the official ``average_mAP`` on its own dense arrays vs spotkern's core on parsed events;
* "wall": the official ``evaluate`` vs ``spotkern.metrics.evaluate``, files to result;
Peak memory (tracemalloc) goes into ``extra_info["peak_MB"]`` and is printed (run with -s): for the
official evaluator the peak up to the start of its metric phase (its dense arrays, captured while building
them, so that tracing does not slow its Python loops), for spotkern a whole traced ``evaluate``.
Skipped when ../shared (the real data) or the SoccerNet package is absent.
"""
import contextlib
import io
import os
import tracemalloc

import numpy as np
import pytest

from spotkern.metrics import evaluate
from spotkern.metrics.evaluate import read_events
from spotkern.metrics.soccernet import average_map_from_events, resolve_tolerances

SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
LABELS = os.path.join(SHARED, "data", "soccernet-v2-labels", "test")
PREDS = os.path.join(SHARED, "data", "sn-spotting-pooling-predictions", "NETVLAD_v2", "results_spotting_test.zip")
EXPECTED = {"loose": 0.31382766826473724, "tight": 0.04222371313449455}  # spec section 11
METRICS = ("loose", "tight")


@pytest.fixture(scope="module")
def sn():
    if not (os.path.isdir(LABELS) and os.path.isfile(PREDS)):
        pytest.skip("../shared/data (real SoccerNet data) is not present")
    return pytest.importorskip("SoccerNet.Evaluation.ActionSpotting")


def quiet(f, *args, **kwargs):
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        return f(*args, **kwargs)


def official_evaluate(sn, metric):
    return quiet(sn.evaluate, LABELS, PREDS, split="test", version=2, metric=metric)


@pytest.fixture(scope="module")
def official_arrays(sn):
    """The dense (targets, detections, closests) lists the official evaluate builds (captured once), and
    the peak traced memory (MB) of building them."""
    captured = {}
    original = sn.average_mAP

    def capture(targets, detections, closests, framerate=2, deltas=None):
        captured["peak_MB"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        captured["args"] = (targets, detections, closests, framerate)
        return original(targets, detections, closests, framerate, deltas=deltas)

    sn.average_mAP = capture
    tracemalloc.start()
    try:
        quiet(sn.evaluate, LABELS, PREDS, split="test", version=2, metric="at5")
    finally:
        sn.average_mAP = original
        if tracemalloc.is_tracing():
            tracemalloc.stop()
    yield captured
    captured.clear()


@pytest.fixture(scope="module")
def events(sn):
    return read_events("evaluate", LABELS, PREDS, split=None, version=2, games=None, label_placement="position",
                       prediction_file="results_spotting.json", label_file="Labels-v2.json", framerate=2,
                       strict=False)


def deltas(metric):
    return np.arange(12) * 5 + 5 if metric == "loose" else np.arange(5) + 1


@pytest.mark.parametrize("metric", METRICS)
def test_metric_time_official(benchmark, sn, official_arrays, metric):
    benchmark.group = f"soccernet {metric}: metric time, 100 games"
    targets, detections, closests, framerate = official_arrays["args"]
    benchmark.extra_info["peak_MB"] = round(official_arrays["peak_MB"], 1)
    print(f"\nofficial evaluate: peak traced memory {official_arrays['peak_MB']:.1f} MB (dense arrays)")
    res = benchmark.pedantic(lambda: quiet(sn.average_mAP, targets, detections, closests, framerate,
                                           deltas=deltas(metric)), rounds=1, iterations=1)
    assert res[0] == EXPECTED[metric]


@pytest.mark.parametrize("metric", METRICS)
def test_metric_time_spotkern(benchmark, events, metric):
    benchmark.group = f"soccernet {metric}: metric time, 100 games"
    tol = resolve_tolerances("bench", metric)
    res = benchmark(average_map_from_events, *events, tol, 2)
    assert res["a_mAP"] == EXPECTED[metric]


@pytest.mark.parametrize("metric", METRICS)
def test_wall_official(benchmark, sn, metric):
    benchmark.group = f"soccernet {metric}: wall incl. JSON, 100 games"
    res = benchmark.pedantic(official_evaluate, (sn, metric), rounds=1, iterations=1)
    assert res["a_mAP"] == EXPECTED[metric]


@pytest.mark.parametrize("metric", METRICS)
def test_wall_spotkern(benchmark, sn, metric):
    benchmark.group = f"soccernet {metric}: wall incl. JSON, 100 games"
    res = benchmark(evaluate, LABELS, PREDS, metric=metric)
    assert res["a_mAP"] == EXPECTED[metric]
    tracemalloc.start()
    try:
        evaluate(LABELS, PREDS, metric=metric)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    benchmark.extra_info["peak_MB"] = round(peak, 1)
    print(f"\nspotkern evaluate ({metric}): peak traced memory {peak:.1f} MB")
