"""spotkern.compat: each stand-in against the peer's loop (spotkern.reference.peers and the spec
loops of spotkern.reference), on the peer's own dtypes."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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

K_SN = K_V2_FRAMES.astype(np.float32)  # sn-spotting: K_V2 * framerate, a float tensor


def _labels(rng, T, C, n):
    lab = np.zeros((T, C))
    lab[rng.integers(0, T, n), rng.integers(0, C, n)] = 1
    return lab


@given(T=st.integers(1, 400), n=st.integers(0, 12), seed=st.integers(0, 2**31))
def test_one_hot_to_shifts_equals_the_peer_loop(T, n, seed):
    rng = np.random.default_rng(seed)
    lab = _labels(rng, T, 17, n)
    got = sn.oneHotToShifts(lab, K_SN)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, one_hot_to_shifts_loop_ref(lab, K_SN))


@given(B=st.integers(1, 4), N=st.integers(1, 16), seed=st.integers(0, 2**31))
def test_get_timestamp_targets_equals_the_peer_loop(B, N, seed):
    rng = np.random.default_rng(seed)
    tse = rng.integers(-3, 3, size=(B, 240, 17)).astype(np.float64)  # many zeros: overflow too
    tse[:, :40] = tse[:, 200:] = -1
    got = sn.getTimestampTargets(tse, N)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, timestamp_targets_loop_ref(tse, N))


def _spotting_output(rng, n, N=15, C=17, extreme=False):
    out = torch.from_numpy(rng.random((n, N, 2 + C)).astype(np.float32))
    if extreme:  # boundary positions where float32 pos * 239 rounds up to a whole row
        out[:, :, 1] = torch.from_numpy(rng.integers(0, 2**23, (n, N)).astype(np.float32) / np.float32(2**23))
    return out


@pytest.mark.parametrize("T", [481, 1040, 5400, 5280, 5370])  # T mod 160 outside [2, 79]: no D2 (T = L
# is outside the peer's domain too: its counter restarts at 0 and rows [200, 240) stay -1)
def test_timestamps2long_equals_the_peer_where_it_is_not_defective(T):
    rng = np.random.default_rng(T)
    starts = calf_clip_starts(T).tolist()
    out = _spotting_output(rng, len(starts), extreme=True)
    out = out[[starts.index(s) for s in starts]]  # clips at one start see the same frames: same output
    torch.testing.assert_close(sn.timestamps2long(out, T, 240, 80), timestamps2long_ref(out, T, 240, 80),
                               rtol=0, atol=0)


def test_timestamps2long_places_every_clip_at_its_true_start():
    """calf.md defect D2 (CALF-T12): the peer misplaces the clip before the last."""
    # T = 5300: the peer writes the clip at 5120 as if it started at 5060 and never uses the last
    # clip (calf.md T12); spotkern places every clip at its true start.
    T = 5300
    n = len(calf_clip_starts(T))
    out = torch.zeros((n, 1, 3))
    out[:, 0, 2] = 1  # class 0
    out[-2, 0, :2] = torch.tensor([0.5, 100 / 239 + 1e-6])  # the 5120 clip, row 100 -> frame 5220
    out[-1, 0, :2] = torch.tensor([0.7, 160 / 239 + 1e-6])  # the last clip (5060), row 160 -> frame 5220
    ours, peer = sn.timestamps2long(out, T, 240, 80), timestamps2long_ref(out, T, 240, 80)
    assert ours[5220, 0] == pytest.approx(0.7) and peer[5160, 0] == pytest.approx(0.5)
    assert peer[5220, 0] != pytest.approx(0.7)


def test_context_aware_loss_equals_the_peer_on_float_inputs():
    rng = np.random.default_rng(1)
    tse = torch.from_numpy(rng.integers(-250, 250, (4, 240, 17)).astype(np.float64))  # sn's float TSE
    scores = torch.from_numpy(rng.uniform(0.01, 0.99, (4, 240, 17)).astype(np.float32))
    K = torch.from_numpy(K_SN)
    got = sn.ContextAwareLoss(K=K)(tse, scores)
    want = calf_segmentation_loss_ref(tse.long(), scores, K)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match="^calf_segmentation_loss: tse must hold integer frames"):
        sn.ContextAwareLoss(K=K)(tse + 0.5, scores)


def test_spotting_loss_equals_the_peer_with_float64_targets():
    rng = np.random.default_rng(2)
    tse = rng.integers(-3, 3, size=(8, 240, 17)).astype(np.float64)
    tse[:, :40] = tse[:, 200:] = -1
    y_true = torch.from_numpy(sn.getTimestampTargets(tse, 15))  # float64, as sn's loader gives
    y_pred = torch.from_numpy(rng.random((8, 15, 19)).astype(np.float32)).requires_grad_()
    got = sn.SpottingLoss(5.0, 0.5)(y_true, y_pred)
    want = calf_spotting_loss_ref(y_true.float(), y_pred)
    torch.testing.assert_close(got, want)
    got.backward()
    assert y_pred.grad is not None and torch.isfinite(y_pred.grad).all()


@given(T=st.integers(1, 300), delta=st.integers(2, 60), ties=st.booleans(), seed=st.integers(0, 2**31))
def test_nms_equals_the_peer_loop(T, delta, ties, seed):
    rng = np.random.default_rng(seed)
    s = rng.random((T, 3))
    if ties:
        s = np.round(s * 4) / 4
    for x in (s, s.astype(np.float32)):
        got = sn.NMS(x, delta)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, nms_ref(x, delta, method="calf").astype(np.float64))


def test_nms_keeps_both_calf_peaks_that_hard_nms_merges():
    s = np.zeros((200, 1))
    s[50, 0], s[70, 0] = 0.9, 0.7  # the example: W = 40, peaks 20 frames apart
    assert (sn.NMS(s, 40)[:, 0] >= 0.7).sum() == 2
    assert (spivak.FlexibleNonMaximumSuppression(True, [40.0], spivak.ScoreDecaySuppress())
            .maybe_apply(s)[:, 0] >= 0.7).sum() == 1


def test_nms_refuses_a_window_the_peer_would_loop_on():
    with pytest.raises(ValueError, match="^NMS: delta must be >= 2"):
        sn.NMS(np.zeros((5, 1)), 1)


@given(T=st.integers(1, 200), seed=st.integers(0, 2**31), f32=st.booleans())
def test_create_detection_scores_equals_maximum_at(T, seed, f32):
    rng = np.random.default_rng(seed)
    conf, delta = rng.random((T, 4)), rng.normal(scale=6, size=(T, 4))
    delta[0, 0] = 2.5  # half-way: rounds to even
    if f32:
        conf = conf.astype(np.float32)
    got = spivak.create_detection_scores({spivak.OUTPUT_CONFIDENCE: conf, spivak.OUTPUT_DELTA: delta}, False)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, create_detection_scores_ref(conf, delta))
    same = spivak.create_detection_scores({spivak.OUTPUT_CONFIDENCE: conf, spivak.OUTPUT_DELTA: delta}, True)
    assert same is conf


@settings(deadline=None)
@given(T=st.integers(1, 200), seed=st.integers(0, 2**31), linear=st.booleans(),
       window=st.sampled_from([1.0, 6.0, 8.0, 5.5, 7.25]))
def test_flexible_nms_equals_the_spec_loop(T, seed, linear, window):
    rng = np.random.default_rng(seed)
    s = np.round(rng.random((T, 3)) * 16) / 16  # ties
    if linear:
        decay = spivak.ScoreDecayLinear(0.0, 2.0)
        want = np.column_stack([nms_ref(s[:, c:c + 1], 1, method="linear", expansion=2.0 * window)[:, 0]
                                for c in range(3)])
    else:
        decay = spivak.ScoreDecaySuppress()
        want = nms_ref(s, int(window), method="hard")
    got = spivak.FlexibleNonMaximumSuppression(True, [window] * 3, decay).maybe_apply(s)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)


def test_flexible_nms_off_returns_the_scores():
    s = np.random.default_rng(0).random((10, 2))
    assert spivak.FlexibleNonMaximumSuppression(False, None, spivak.ScoreDecaySuppress()).maybe_apply(s) is s
