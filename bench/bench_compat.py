"""spotkern.compat stand-ins against the peers' loops (spotkern.reference.peers and the spec loops of
spotkern.reference), one group per function, on the peers' own dtypes (one core)."""
import numpy as np
import pytest
import torch

from spotkern.compat import sn_spotting as sn
from spotkern.compat import spivak
from spotkern.data.soccernet_classes import K_V2_FRAMES
from spotkern.inference.layout import calf_clip_starts
from spotkern.reference import calf_segmentation_loss_ref, calf_spotting_loss_ref, nms_ref
from spotkern.reference.peers import (
    create_detection_scores_ref,
    one_hot_to_shifts_loop_ref,
    timestamp_targets_loop_ref,
    timestamps2long_ref,
)

K_SN = K_V2_FRAMES.astype(np.float32)


@pytest.fixture(scope="module")
def half64(tse_half):
    return tse_half.astype(np.float64)  # sn-spotting's label matrix


@pytest.fixture(scope="module")
def chunks():
    rng = np.random.default_rng(0)
    tse = rng.integers(-300, 300, (32, 240, 17)).astype(np.float64)
    tse[rng.random(tse.shape) < 0.002] = 0  # ~8 actions per chunk
    tse[:, :40] = tse[:, 200:] = -1
    return tse


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.normal(size=(5400, 17)), axis=0) / 8
    return 1 / (1 + np.exp(-walk))  # float64, as both peers hold scores


def _pair(benchmark, name, peer, ours, args, rounds=None):
    if name == "peer":
        return benchmark.pedantic(peer, args=args, rounds=rounds or 3, iterations=1)
    return benchmark(ours, *args)


@pytest.mark.parametrize("name", ["peer", "spotkern"])
@pytest.mark.benchmark(group="compat oneHotToShifts 5400x17")
def test_one_hot_to_shifts(benchmark, name, half64):
    _pair(benchmark, name, one_hot_to_shifts_loop_ref, sn.oneHotToShifts, (half64, K_SN), rounds=1)


@pytest.mark.parametrize("name", ["peer", "spotkern"])
@pytest.mark.benchmark(group="compat getTimestampTargets 32x240x17")
def test_get_timestamp_targets(benchmark, name, chunks):
    _pair(benchmark, name, timestamp_targets_loop_ref, sn.getTimestampTargets, (chunks, 15))


@pytest.mark.parametrize("name", ["peer", "spotkern"])
@pytest.mark.benchmark(group="compat timestamps2long 34 clips")
def test_timestamps2long(benchmark, name):
    out = torch.rand(len(calf_clip_starts(5400)), 15, 19)
    _pair(benchmark, name, timestamps2long_ref, sn.timestamps2long, (out, 5400, 240, 80))


@pytest.mark.parametrize("name", ["peer", "spotkern"])
@pytest.mark.benchmark(group="compat ContextAwareLoss B=32")
def test_context_aware_loss(benchmark, name, chunks):
    tse, seg, K = torch.from_numpy(chunks), torch.rand(32, 240, 17), torch.from_numpy(K_SN)
    loss = sn.ContextAwareLoss(K=K)
    _pair(benchmark, name, lambda t, s: calf_segmentation_loss_ref(t.long(), s, K), loss, (tse, seg), rounds=20)


@pytest.mark.parametrize("name", ["peer", "spotkern"])
@pytest.mark.benchmark(group="compat SpottingLoss B=32")
def test_spotting_loss(benchmark, name, chunks):
    y_true, y_pred = torch.from_numpy(sn.getTimestampTargets(chunks, 15)), torch.rand(32, 15, 19)
    loss = sn.SpottingLoss(5.0, 0.5)
    _pair(benchmark, name, lambda t, p: calf_spotting_loss_ref(t.float(), p), loss, (y_true, y_pred), rounds=20)


@pytest.mark.parametrize("name", ["peer", "spotkern"])
@pytest.mark.benchmark(group="compat NMS W=40 5400x17")
def test_nms(benchmark, name, scores):
    _pair(benchmark, name, lambda s, d: nms_ref(s, d, method="calf"), sn.NMS, (scores, 40))


@pytest.mark.parametrize("name", ["peer", "spotkern"])
@pytest.mark.benchmark(group="compat create_detection_scores 5400x17")
def test_create_detection_scores(benchmark, name, scores):
    delta = np.random.default_rng(2).normal(scale=6, size=scores.shape)
    outputs = {spivak.OUTPUT_CONFIDENCE: scores, spivak.OUTPUT_DELTA: delta}
    _pair(benchmark, name, lambda o: create_detection_scores_ref(o["confidence"], o["delta"]),
          lambda o: spivak.create_detection_scores(o, False), (outputs,), rounds=10)


@pytest.mark.parametrize("name", ["peer", "spotkern"])
@pytest.mark.parametrize("decay, window", [("hard", 6.0), ("linear", 8.0)])
@pytest.mark.benchmark(group="compat FlexibleNonMaximumSuppression 5400x17")
def test_flexible_nms(benchmark, name, decay, window, scores):
    benchmark.group += f" {decay} W={window:g}"
    score_decay = spivak.ScoreDecaySuppress() if decay == "hard" else spivak.ScoreDecayLinear(0.0, 2.0)
    flexible = spivak.FlexibleNonMaximumSuppression(True, [window] * 17, score_decay)
    method = "hard" if decay == "hard" else "linear"
    _pair(benchmark, name, lambda s: nms_ref(s, int(window), method=method), flexible.maybe_apply, (scores,))
