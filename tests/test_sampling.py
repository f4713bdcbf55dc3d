"""Chunk samplers, CALF anchors (CALF-T4), TSE immutability (CALF-T15), device gathering."""
import warnings

import numpy as np
import pytest
import torch
from spec_vectors import CALF_T4

import spotkern
from spotkern.data.batching import CALFTargetBuilder, FeatureBank
from spotkern.data.dataset import Half
from spotkern.data.sampling import CALFChunkSampler, UniformChunkSampler, calf_anchors, far_mask, runs
from spotkern.data.soccernet_classes import K_V2_FRAMES

from helpers import k_for


def _half(T, events=(), F=3, seed=0):
    x = np.random.default_rng(seed).standard_normal((T, F)).astype(np.float32)
    ev = np.asarray(sorted(events), dtype=np.int64).reshape(-1, 2)
    return Half("g", 1, x, ev[:, 0].copy(), ev[:, 1].copy())


def test_uniform_sampler_bounds_distribution_and_determinism():
    lengths = [300, 900, 224]
    s = UniformChunkSampler(lengths, chunk_len=224, batch_size=64, chunks_per_epoch=6400, seed=5)
    assert s.steps_per_epoch == 100
    h, st = s.epoch_plan(0)
    assert len(h) == 6400
    T = np.asarray(lengths)[h]
    assert (st >= 0).all() and (st <= T - 224).all()
    assert (st[h == 2] == 0).all()  # T == L: the only start
    frac = np.bincount(h, minlength=3) / len(h)
    np.testing.assert_allclose(frac, np.asarray(lengths) / sum(lengths), atol=0.03)
    # Starts cover the whole range of the long half, both ends included.
    assert st[h == 1].min() == 0 and st[h == 1].max() == 900 - 224
    h2, st2 = s.epoch_plan(0)
    np.testing.assert_array_equal(h, h2)
    np.testing.assert_array_equal(st, st2)
    h3, _ = s.epoch_plan(1)
    assert not np.array_equal(h, h3)


def test_rank_shares_tile_the_global_batch():
    s = UniformChunkSampler([1000, 2000], chunk_len=10, batch_size=8, chunks_per_epoch=64, seed=1)
    gh, gs = s.batch(3, 2)
    parts = [s.batch(3, 2, rank=r, world_size=4) for r in range(4)]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), gh)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), gs)
    with pytest.raises(ValueError, match="divisible"):
        s.batch(0, 0, world_size=3)


def test_background_anchors_are_the_runs_of_far_frames_a_chunk_long():
    """CALF-T4."""
    T = CALF_T4.T
    K = k_for(CALF_T4.C, CALF_T4.k)
    frames, classes = (np.array(v) for v in zip(*CALF_T4.events))
    tse = spotkern.time_shift_encoding_from_events(frames, classes, K, T)
    assert tse.T.tolist() == CALF_T4.columns
    mask = far_mask(tse, K)
    np.testing.assert_array_equal(np.flatnonzero(mask), np.concatenate([np.arange(*r) for r in CALF_T4.far_runs]))
    np.testing.assert_array_equal(runs(mask), CALF_T4.far_runs)
    pos, bg = calf_anchors([tse], K, chunk_len=CALF_T4.chunk_len)
    assert pos[0].tolist() == [[0, 10]] and pos[1].shape == (0, 2)
    assert bg.tolist() == [[0, 14, 30]]


def test_calf_sampler_offsets_clamp_and_balance(caplog):
    lengths = [2000, 2000]
    positives = [np.array([[0, 1000]]), np.array([[1, 100], [1, 1990]]), np.zeros((0, 2), np.int64)]
    background = np.array([[0, 1300, 1800]])
    with caplog.at_level("DEBUG", logger="spotkern"):  # a log line at -v, not a warning (issue 21.4)
        s = CALFChunkSampler(lengths, positives, background, batch_size=50, chunks_per_epoch=3000, seed=2)
    assert "1 empty anchor lists are skipped" in caplog.text
    h, st = s.epoch_plan(0)
    T = np.asarray(lengths)[h]
    assert (st >= 0).all() and (st + 240 < T).all()  # clamp: the last frame is never inside a chunk
    a = st[(h == 0) & (st < 1100)]  # chunks of the class-0 anchor at 1000
    assert set(1000 - a) == set(range(81, 161))  # offset uniform in [81, 160] (shift in [-160, -81])
    bgs = st[(h == 0) & (st >= 1200)]
    assert bgs.min() >= 1300 and bgs.max() <= 1800 - 240
    late = st[(h == 1) & (st > 1000)]
    assert set(late) == {2000 - 240 - 1}  # anchor at 1990: clamped to T - L - 1
    early = st[(h == 1) & (st < 200)]
    assert set(early) == set(range(0, 20))  # anchor at 100: 100 + [-160, -81], negatives clamped to 0
    assert abs((early == 0).mean() - 61 / 80) < 0.1
    # Lists are balanced: class 0, class 1 and background each about a third.
    n0 = ((h == 0) & (st < 1100)).sum()
    assert abs(n0 / len(h) - 1 / 3) < 0.04


def test_stored_tse_is_immutable():
    """CALF-T15 / defect D1: 200 chunks with their border writes and targets leave the stored TSE
    bit-identical to a fresh encoding."""
    g = np.random.default_rng(0)
    T = 3000
    ev = sorted({(int(f), int(c)) for f, c in zip(g.integers(0, T, 150), g.integers(0, 17, 150))})
    half = _half(T, ev)
    builder = CALFTargetBuilder([half], K_V2_FRAMES)
    fresh = spotkern.time_shift_encoding_from_events(half.frames, half.classes, K_V2_FRAMES, T)
    zeros = int((fresh == 0).sum())
    pos, bg = calf_anchors(builder.tses, K_V2_FRAMES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = CALFChunkSampler([T], pos, bg, batch_size=20, chunks_per_epoch=200, seed=0)
    total_targets = 0
    for step in range(s.steps_per_epoch):
        h, st = s.batch(0, step)
        chunk, targets, dropped = builder.build(h, st)
        assert (chunk[:, :40] == -1).all() and (chunk[:, 200:] == -1).all()
        total_targets += int(targets[..., 0].sum())
    assert total_targets > 0
    np.testing.assert_array_equal(builder.tses[0], fresh)
    np.testing.assert_array_equal(builder.tse.numpy(), fresh)
    assert int((builder.tse == 0).sum()) == zeros
    with pytest.raises(ValueError):
        builder.tses[0][0, 0] = -1  # the stored encoding is read-only


def test_calf_targets_equal_manual_copy():
    g = np.random.default_rng(1)
    T = 1000
    ev = sorted({(int(f), int(c)) for f, c in zip(g.integers(0, T, 60), g.integers(0, 17, 60))})
    half = _half(T, ev)
    builder = CALFTargetBuilder([half], K_V2_FRAMES)
    starts = np.array([0, 100, 759, 500])
    chunk, targets, _ = builder.build(np.zeros(4, np.int64), starts)
    for b, s0 in enumerate(starts):
        want = builder.tses[0][s0:s0 + 240].copy()
        want[:40] = -1
        want[200:] = -1
        np.testing.assert_array_equal(chunk[b].numpy(), want)
        t, _ = spotkern.spotting_targets(want, 15)
        np.testing.assert_array_equal(targets[b].numpy(), t)


@pytest.mark.parametrize("T", [1, 100, 199, 239])
def test_calf_targets_of_a_half_shorter_than_a_chunk(T):
    """A half shorter than L = 240 frames: the chunk rows past its end are padding, not frames, so their TSE
    is -1 (ignored, calf.md 5.4) instead of copies of the last row, which would turn an action on the last
    frame into up to N spotting targets and a run of action frames in the segmentation loss."""
    from spotkern.data.soccernet_classes import K_V1_FRAMES

    ev = sorted({(T - 1, 0), (T // 2, 1)})
    builder = CALFTargetBuilder([_half(T, ev)], K_V1_FRAMES, num_slots=5)
    chunk, targets, dropped = builder.build(np.zeros(1, np.int64), np.zeros(1, np.int64))
    want = np.full((240, 3), -1, dtype=builder.tses[0].dtype)
    want[:T] = builder.tses[0]
    want[:40] = -1
    want[200:] = -1
    np.testing.assert_array_equal(chunk[0].numpy(), want)
    real = [(f, c) for f, c in ev if 40 <= f < 200]  # the actions outside the borders, once each
    assert int(targets[0, :, 0].sum()) == len(real) and int(dropped[0]) == 0
    np.testing.assert_array_equal(targets[0].numpy(), spotkern.spotting_targets(want, 5)[0])


@pytest.mark.parametrize("preload", [True, False])
def test_feature_bank_gather_and_padding(preload):
    halves = [_half(50, seed=1), _half(20, seed=2)]
    bank = FeatureBank(halves, preload=preload)
    assert bank.preloaded is preload
    h, s = np.array([0, 1, 1]), np.array([10, 0, 5])
    z = bank.gather(h, s, 24, pad="zero").numpy()
    e = bank.gather(torch.as_tensor(h), torch.as_tensor(s), 24, pad="edge").numpy()
    np.testing.assert_array_equal(z[0], halves[0].features[10:34])
    np.testing.assert_array_equal(z[2, :15], halves[1].features[5:20])
    assert (z[2, 15:] == 0).all() and (z[1, 20:] == 0).all()
    np.testing.assert_array_equal(e[2, 15:], np.repeat(halves[1].features[-1:], 9, axis=0))


def test_dense_targets_equal_slices_of_whole_half_targets():
    """Chunk targets built from the widened event window equal the whole-half targets sliced
    (dense_anchors.md 2), including actions just outside the chunk and at frames 0 and T - 1."""
    from spotkern.data.batching import DenseTargetBuilder

    g = np.random.default_rng(4)
    halves = []
    for k, T in enumerate((400, 250, 224)):
        ev = {(int(f), int(c)) for f, c in zip(g.integers(0, T, 40), g.integers(0, 5, 40))}
        ev |= {(0, 1), (T - 1, 2), (T - 1, 1)}
        halves.append(_half(T, ev, seed=k))
    rc, rd = 2.5, 5.0
    b = DenseTargetBuilder(halves, 5, rc, rd)
    L = 224
    h = np.array([0, 0, 0, 1, 1, 2, 0])
    s = np.array([0, 176, 90, 0, 26, 0, 13])
    out = b.build(h, s, L)
    total = sum(x.num_frames for x in halves)
    conf_count = np.zeros(5)
    for i, (hi, si) in enumerate(zip(h, s)):
        half = halves[hi]
        conf, disp, sup = spotkern.dense_anchor_targets(half.frames, half.classes, half.num_frames, 5,
                                                         radius_confidence=rc, radius_displacement=rd)
        np.testing.assert_array_equal(out["confidence"][i].numpy(), conf[si:si + L])
        np.testing.assert_array_equal(out["displacement"][i].numpy(), np.clip(disp[si:si + L], -1, 1))
        np.testing.assert_array_equal(out["displacement_weight"][i].numpy() > 0, sup[si:si + L])
    for half in halves:
        conf, _, _ = spotkern.dense_anchor_targets(half.frames, half.classes, half.num_frames, 5,
                                                   radius_confidence=rc, radius_displacement=rd)
        conf_count += conf.sum(axis=0)
    w_pos, w_neg = spotkern.class_balance_weights(conf_count.astype(np.int64), total, p=0.03)
    cw = out["confidence_weight"].numpy()
    cf = out["confidence"].numpy()
    np.testing.assert_allclose(cw, np.where(cf > 0, w_pos, w_neg), rtol=1e-6)


# --- bad input (audit) ------------------------------------------------------------------------------

@pytest.mark.parametrize("rf", [0, -5, 120, 200])
def test_calf_sampler_rejects_receptive_fields_that_put_the_action_outside_the_chunk(rf):
    """rf = -5 used to give shifts in [-245, 5): actions at chunk offsets -4 .. 245, partly outside
    the 240-frame chunk; rf >= L/2 an empty shift range (numpy's unnamed 'low >= high')."""
    with pytest.raises(ValueError, match="^CALFChunkSampler: receptive_field"):
        CALFChunkSampler([1000], [np.array([[0, 500]])], np.zeros((0, 3), np.int64), receptive_field=rf)


@pytest.mark.parametrize("tses", [[], [np.zeros(5, np.int32)], [np.zeros((5, 1), np.int32), np.zeros((5, 2), np.int32)],
                                  [np.zeros((5, 1), np.float32)]])
def test_calf_anchors_bad_encodings(tses):
    with pytest.raises(ValueError, match="^calf_anchors: tses"):
        calf_anchors(tses, np.array([[-8], [-4], [4], [8]], np.int32))
