"""Issue 11: what spotting projects pass is accepted, exactly (float K and TSE, int64 wherever an
integer array is taken, float64 scores and positions, strided views), the truly wrong values are
still refused, and nms/K units name their traps. Hypothesis properties compare every widened or
strided input with the float32 / int32 contiguous path."""
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import draw_K

import spotkern
from spotkern.data.soccernet_classes import K_V1_SECONDS, K_V2_FRAMES, K_V2_SECONDS
from spotkern.inference.stitching import calf_decode_clips
from spotkern.losses import CALFSegmentationLoss, CALFSpottingLoss, calf_segmentation_loss
from spotkern.ops.calf_k import KUnitsWarning
from spotkern.reference import nms_ref


def _half(rng, T=600, C=17, n=20):
    lab = np.zeros((T, C), np.float32)
    lab[rng.integers(0, T, n), rng.integers(0, C, n)] = 1
    return lab


# --- K and TSE as sn-spotting keeps them ---------------------------------------------------------

def test_float_K_and_float_tse_are_accepted_exactly():
    rng = np.random.default_rng(0)
    lab = _half(rng)
    want = spotkern.time_shift_encoding(lab, K_V2_FRAMES)
    K_float = torch.from_numpy(K_V2_FRAMES.astype(np.float32))  # sn: K_V2 * framerate, a float tensor
    np.testing.assert_array_equal(spotkern.time_shift_encoding(lab, K_float.numpy()), want)
    tse = torch.from_numpy(want[None, :240]).double()  # sn stores the TSE as float64
    seg = torch.rand(1, 240, 17)
    got = CALFSegmentationLoss(K=K_float)(tse, seg)
    torch.testing.assert_close(got, calf_segmentation_loss(tse.int(), seg, K_V2_FRAMES), rtol=0, atol=0)


@pytest.mark.parametrize("bad, match", [
    (K_V2_FRAMES + 0.5, r"K must hold whole frames, got -199.5 \(K in seconds\? pass units='seconds'"),
    (np.where(K_V2_FRAMES == -200, np.inf, K_V2_FRAMES), "K contains NaN or infinite values"),
    (K_V2_FRAMES.astype(np.float64) * 2**40, r"K must lie in \[-1073741824, 1073741824\]"),
])
def test_truly_wrong_K_is_still_refused(bad, match):
    with pytest.raises(ValueError, match="^time_shift_encoding: " + match):
        spotkern.time_shift_encoding(np.zeros((10, 17), np.float32), bad)


def test_K_in_seconds_converts_explicitly_and_warns_when_it_looks_like_seconds():
    lab = _half(np.random.default_rng(1))
    want = spotkern.time_shift_encoding(lab, K_V2_FRAMES)
    np.testing.assert_array_equal(spotkern.time_shift_encoding(lab, K_V2_SECONDS, units="seconds", fps=2), want)
    np.testing.assert_array_equal(spotkern.time_shift_encoding(lab, K_V2_SECONDS * 1.0, units="seconds", fps=2.0),
                                  want)
    for K in (K_V2_SECONDS, K_V1_SECONDS):  # OSL's config gives K in seconds (calf.md D3)
        with pytest.warns(KUnitsWarning, match="K equals the SoccerNet-v. .*table in seconds"):
            spotkern.time_shift_encoding(np.zeros((10, K.shape[1]), np.float32), K)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 1 fps: frames are seconds, said explicitly
        spotkern.time_shift_encoding(lab, K_V2_SECONDS, units="frames")
    with pytest.raises(ValueError, match="^time_shift_encoding: K \\* fps must be whole frames, got -2.5 frames"):
        spotkern.time_shift_encoding(lab[:, :1], np.array([[-5], [-2.5], [2.5], [5]]), units="seconds", fps=1)
    with pytest.raises(ValueError, match="^time_shift_encoding: units='seconds' needs fps="):
        spotkern.time_shift_encoding(lab, K_V2_SECONDS, units="seconds")
    with pytest.raises(ValueError, match="^time_shift_encoding: units must be one of"):
        spotkern.time_shift_encoding(lab, K_V2_SECONDS, units="minutes")
    with pytest.raises(ValueError, match="^CALFSegmentationLoss: K must hold whole frames"):
        CALFSegmentationLoss(K=K_V2_SECONDS / 2.0 + 0.25)


@given(T=st.integers(1, 200), n=st.integers(0, 10), data=st.data())
def test_tse_float_K_strided_labels_and_int64_equal_the_canonical_path(T, n, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    K = draw_K(data.draw, 3, 30)
    lab = _half(rng, T, 3, n)
    want = spotkern.time_shift_encoding(lab, K)
    wide = np.zeros((T, 6), np.float64)
    wide[:, ::2] = lab
    np.testing.assert_array_equal(spotkern.time_shift_encoding(wide[:, ::2], K.astype(np.float64)), want)
    np.testing.assert_array_equal(spotkern.time_shift_encoding(torch.from_numpy(wide)[:, ::2], K.astype(np.int64)),
                                  torch.from_numpy(want))
    f, c = np.nonzero(lab == 1)
    np.testing.assert_array_equal(
        spotkern.time_shift_encoding_from_events(f.astype(np.int32), c.astype(np.int64), K.astype(np.float32), T),
        want)


def test_tse_batch_list_equals_single_calls_and_refuses_nan_by_index():
    rng = np.random.default_rng(2)
    halves = [_half(rng, T) for T in (1, 300, 5400, 77)]
    got = spotkern.time_shift_encoding_batch(halves, K_V2_FRAMES.astype(np.float64))
    for h, g in zip(halves, got):
        np.testing.assert_array_equal(g, spotkern.time_shift_encoding(h, K_V2_FRAMES))
    packed = spotkern.time_shift_encoding_batch(np.concatenate(halves), K_V2_FRAMES,
                                                np.array([len(h) for h in halves], np.int32))
    np.testing.assert_array_equal(packed, np.concatenate(got))
    halves[2] = halves[2].copy()
    halves[2][7, 3] = np.nan
    with pytest.raises(ValueError, match=r"^time_shift_encoding_batch: labels\[2\] contains NaN"):
        spotkern.time_shift_encoding_batch(halves, K_V2_FRAMES)
    with pytest.raises(ValueError, match=r"^time_shift_encoding_batch: labels\[1\] differs in dtype"):
        spotkern.time_shift_encoding_batch([halves[0], halves[1].astype(np.float64)], K_V2_FRAMES)


# --- targets, matching and the spotting loss ------------------------------------------------------

@given(B=st.integers(1, 3), L=st.integers(1, 40), N=st.integers(1, 6), seed=st.integers(0, 2**31))
def test_spotting_targets_int64_float_and_strided_equal_int32(B, L, N, seed):
    tse = np.random.default_rng(seed).integers(-2, 3, (B, L, 3)).astype(np.int32)
    want = spotkern.spotting_targets(tse, N)
    wide = np.zeros((B, L, 6), np.int64)
    wide[..., ::2] = tse
    for x in (tse.astype(np.int64), tse.astype(np.float64), tse.astype(np.float32), wide[..., ::2]):
        got = spotkern.spotting_targets(x, N)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    got = spotkern.spotting_targets(torch.from_numpy(wide)[..., ::2], N)
    np.testing.assert_array_equal(got[0].numpy(), want[0])


@given(B=st.integers(1, 4), N=st.integers(1, 15), seed=st.integers(0, 2**31), ties=st.booleans())
def test_matching_float64_and_strided_equal_float32(B, N, seed, ties):
    rng = np.random.default_rng(seed)
    y = rng.random((B, N, 3))
    if ties:
        y = np.round(y * 4) / 4
    y[..., 0] = rng.random((B, N)) < 0.6
    p = rng.random((B, N, 3))
    want = spotkern.reciprocal_matching(np.ascontiguousarray(y[..., 1], np.float32),
                                        np.ascontiguousarray(y[..., 0], np.float32),
                                        np.ascontiguousarray(p[..., 1], np.float32))
    np.testing.assert_array_equal(spotkern.reciprocal_matching(y[..., 1], y[..., 0], p[..., 1]), want)  # float64 views
    yt, pt = torch.from_numpy(y), torch.from_numpy(p).float()
    np.testing.assert_array_equal(spotkern.reciprocal_matching(yt[:, :, 1], yt[:, :, 0].long(), pt[:, :, 1]).numpy(),
                                  want)


def test_spotting_loss_takes_float64_targets_and_float32_predictions():
    rng = np.random.default_rng(3)
    tse = rng.integers(-3, 3, (4, 240, 17)).astype(np.int32)
    targets = torch.from_numpy(spotkern.spotting_targets(tse, 15)[0])
    pred = torch.rand(4, 15, 19)
    want = CALFSpottingLoss()(targets, pred)
    torch.testing.assert_close(CALFSpottingLoss()(targets.double(), pred), want, rtol=0, atol=0)


def test_matching_truly_wrong_values_are_still_refused():
    x = np.zeros((1, 3))
    with pytest.raises(ValueError, match="^reciprocal_matching: gt_positions contains NaN"):
        spotkern.reciprocal_matching(x + np.nan, x, x)
    with pytest.raises(ValueError, match="^reciprocal_matching: gt_presence must hold only 0 and 1"):
        spotkern.reciprocal_matching(x, x + 2, x)


# --- dense targets, displacement, NMS -------------------------------------------------------------

@given(E=st.integers(0, 12), seed=st.integers(0, 2**31))
def test_dense_targets_mixed_index_dtypes_and_strided_equal_int64(E, seed):
    rng = np.random.default_rng(seed)
    f, c = rng.integers(-5, 45, E), rng.integers(0, 3, E)
    want = spotkern.dense_anchor_targets(f, c, 40, 3, radius_confidence=2, radius_displacement=4)
    fc = np.stack([f, c], axis=1)  # (E, 2): columns are strided views
    got = spotkern.dense_anchor_targets(fc[:, 0].astype(np.int32), fc[:, 1], 40, 3, radius_confidence=2,
                                        radius_displacement=4)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    got = spotkern.dense_anchor_targets(f, c, 20, 3, radius_confidence=2, radius_displacement=4,
                                        offsets=np.array([0, E // 2, E], np.int32))
    assert got[0].shape == (2, 20, 3)


@given(T=st.integers(0, 60), seed=st.integers(0, 2**31), rd=st.sampled_from([1.0, 6.0, 12.0]))
def test_displace_scores_float64_and_strided_equal_float32_widened(T, seed, rd):
    rng = np.random.default_rng(seed)
    conf = rng.random((T, 4)).astype(np.float32)
    disp = rng.uniform(-1, 1, (T, 4)).astype(np.float32)
    disp[: T // 3] = np.round(disp[: T // 3] * 2 * rd) / (2 * rd)  # half-way shifts: round half to even
    want = spotkern.displace_scores(conf, disp, rd)
    got = spotkern.displace_scores(conf.astype(np.float64), disp.astype(np.float64), rd)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want.astype(np.float64))
    mixed = spotkern.displace_scores(conf, disp.astype(np.float64), rd)  # one float64 input: float64 out
    np.testing.assert_array_equal(mixed, got)
    both = np.stack([conf, disp], axis=-1)
    np.testing.assert_array_equal(spotkern.displace_scores(both[..., 0], both[..., 1], rd), want)


@given(T=st.integers(0, 80), W=st.integers(2, 20), seed=st.integers(0, 2**31),
       method=st.sampled_from(["hard", "calf", "linear", "gaussian"]), ties=st.booleans())
def test_nms_float64_is_exact_and_equals_float32_widened(T, W, seed, method, ties):
    rng = np.random.default_rng(seed)
    s = rng.random((T, 3))
    if ties:
        s = np.round(s * 8) / 8
    got = spotkern.nms(s, W, method=method)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, nms_ref(s, W, method=method))  # the spec loop, in float64
    s32 = s.astype(np.float32)
    np.testing.assert_array_equal(spotkern.nms(s32, W, method=method),
                                  spotkern.nms(s32.astype(np.float64), W, method=method).astype(np.float32))
    frames, classes, values = spotkern.nms(np.asfortranarray(s), W, method=method, output="sparse")
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, got[frames, classes])


def test_nms_needs_an_explicit_method_because_calf_and_hard_differ():
    s = np.zeros((200, 1), np.float64)
    s[50, 0], s[70, 0] = 0.9, 0.7  # the example, W = 40
    with pytest.raises(TypeError, match="^nms: method is required"):
        spotkern.nms(s, 40)
    assert (spotkern.nms(s, 40, method="calf") > 0).sum() == 2  # CALF: [i - 20, i + 20) spares 70
    assert (spotkern.nms(s, 40, method="hard") > 0).sum() == 1


def test_nms_on_a_tensor_requiring_grad_returns_a_detached_result():
    s = torch.rand(30, 2, dtype=torch.float64, requires_grad=True)
    dense, (f, c, v) = spotkern.nms(s, 4, method="hard", output="both")
    assert not dense.requires_grad and not v.requires_grad and dense.dtype == torch.float64
    out = spotkern.displace_scores(s, torch.zeros_like(s), 1.0)
    assert not out.requires_grad


def test_nms_float64_opcheck():
    s = torch.from_numpy(np.random.default_rng(0).random((2, 32, 3)))
    for code in range(4):
        torch.library.opcheck(torch.ops.spotkern.nms.default, (s, [4, 6, 8], [2.0, 3.0, 4.0], code, 1e-5, 0.0, 2.0))
    torch.library.opcheck(torch.ops.spotkern.displace_scores.default, (s, s * 0.5, 6.0))


# --- CALF decode: the peer's float32 rule ---------------------------------------------------------

def test_calf_decode_sn_mode_is_the_float32_rule_on_the_boundary_positions():
    pos = np.arange(2**23, dtype=np.float64) / 2**23  # every float32 k / 2^23 in [0, 1)
    f64 = np.floor(pos * 239)
    f32 = np.floor(pos.astype(np.float32) * np.float32(239))  # sn-spotting: a float32 tensor * 239
    apart = np.flatnonzero(f64 != f32)
    assert len(apart) == 39 and (f32[apart] == f64[apart] + 1).all()
    for k in apart[:3].tolist() + [0, 2**23 - 1]:
        spot = torch.zeros(1, 1, 3)
        spot[0, 0, :3] = torch.tensor([0.5, float(pos[k]), 1.0])
        row_sn = int(torch.nonzero(calf_decode_clips(spot, 240, decode="sn")[0, :, 0] > 0)[0])
        row_ref = int(torch.nonzero(calf_decode_clips(spot, 240, decode="reference")[0, :, 0] > 0)[0])
        assert (row_sn, row_ref) == (int(f32[k]), int(f64[k]))


# --- named errors for storage and argument ranges (issue 12.5, 12.6) ------------------------------

@pytest.mark.parametrize("call, exc, match", [
    (lambda: spotkern.spotting_targets(np.zeros((2, 10, 3), np.int32), 2**64), ValueError,
     "^spotting_targets: num_slots must be <= 9223372036854775807"),
    (lambda: spotkern.spotting_targets(np.zeros((2, 10, 3), np.int32), 2**62), ValueError,
     r"^spotting_targets: num_slots and the chunk count give an output of shape \(2, 4611686018427387904, 5\)"),
    (lambda: spotkern.dense_anchor_targets(np.zeros(1, np.int64), np.zeros(1, np.int64), 2**40, 2**40,
                                           radius_confidence=1, radius_displacement=2), ValueError,
     "^dense_anchor_targets: num_frames, num_classes and the chunk count give an output"),
    (lambda: spotkern.dense_anchor_targets(np.zeros(1, np.int64), np.zeros(1, np.int64), 10, 2,
                                           radius_confidence=10**400, radius_displacement=2), ValueError,
     "^dense_anchor_targets: radius_confidence must be finite"),
    (lambda: spotkern.nms(np.zeros((4, 2)), 4, method="gaussian", sigma=[10**400, 1]), ValueError,
     "^nms: sigma must be finite"),
    (lambda: spotkern.displace_scores(np.zeros((4, 2), ">f8"), np.zeros((4, 2)), 1.0), TypeError,
     "^displace_scores: confidence must be in native byte order"),
    (lambda: spotkern.reciprocal_matching(torch.zeros(2, 3).conj(), torch.zeros(2, 3), torch.zeros(2, 3)),
     None, None),  # a real tensor's conj() is itself: accepted
    (lambda: spotkern.time_shift_encoding(torch.zeros(10, 2).to_sparse(), K_V2_FRAMES[:, :2]), TypeError,
     "^time_shift_encoding: labels must be a dense"),
    (lambda: spotkern.spotting_targets(torch.zeros(2, 10, 3, dtype=torch.int32, device="meta"), 2), ValueError,
     "^spotting_targets: chunk_tse is a meta tensor"),
    (lambda: spotkern.class_balance_weights(np.array([1e-40, 5.0]), 10), ValueError,
     r"^class_balance_weights: the weights overflow float32 \(w_pos of class 0"),
    (lambda: spotkern.class_balance_weights(np.ma.masked_array([1.0, 2.0], [0, 1]), 10), TypeError,
     "^class_balance_weights: positive_counts must be a plain numpy array, got a masked array"),
    (lambda: spotkern.class_balance_weights(np.array([1.0, 2.0]), 1000, class_weights=np.array([1e38, 1.0])),
     ValueError, r"^class_balance_weights: the weights overflow float32 \(w_pos of class 0"),
])
def test_named_errors_for_storage_and_ranges(call, exc, match):
    if exc is None:
        call()
        return
    with pytest.raises(exc, match=match):
        call()
