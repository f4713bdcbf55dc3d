"""CALF v1 sampling (calf.md 9.4): per epoch and training half, one positive chunk for every action plus
min(floor(P / C) + 1, R) background chunks, one batch per half; v1's inclusive shift bound (9.3 step 2);
a pure function of (seed, epoch)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spotkern
from spotkern.data.sampling import CALFV1ChunkSampler, calf_anchors
from spotkern.data.soccernet_classes import K_V1_FRAMES

L, RF, C = 240, 80, 3


def _tses(halves):
    """halves: list of (T, [(frame, class), ...]) -> list of (T, C) int32 TSEs (v1 K)."""
    out = []
    for T, ev in halves:
        ev = np.asarray(ev, dtype=np.int64).reshape(-1, 2)
        tse = spotkern.time_shift_encoding_from_events(ev[:, 0].copy(), ev[:, 1].copy(), K_V1_FRAMES, T)
        out.append(np.asarray(tse))
    return out


def _sampler(halves, seed=0):
    tses = _tses(halves)
    pos, bg = calf_anchors(tses, K_V1_FRAMES, L)
    return CALFV1ChunkSampler([t.shape[0] for t in tses], pos, bg, L, RF, seed=seed), tses


def _far_runs(tse):
    """Independent loop: maximal runs [i, j) of frames where every class has TSE >= K4 or <= K1, length >= L."""
    far = [all(tse[t, c] >= K_V1_FRAMES[3, c] or tse[t, c] <= K_V1_FRAMES[0, c] for c in range(C))
           for t in range(tse.shape[0])]
    runs, i = [], None
    for t, f in enumerate(far + [False]):
        if f and i is None:
            i = t
        elif not f and i is not None:
            if t - i >= L:
                runs.append((i, t))
            i = None
    return runs


def _clamp(x, T):
    x = 0 if x < 0 else x
    x = T - L - 1 if x + L >= T else x
    return max(x, 0)


@st.composite
def halves_strategy(draw):
    out = []
    for _ in range(draw(st.integers(1, 3))):
        T = draw(st.sampled_from([1, 2, 239, 240, 241, 481, 700, 1300]) | st.integers(1, 1500))
        frames = st.sampled_from(sorted({0, T - 1, T // 2})) | st.integers(0, T - 1)
        ev = draw(st.lists(st.tuples(frames, st.integers(0, C - 1)), max_size=12))  # duplicates allowed
        out.append((T, ev))
    return out


@settings(max_examples=40)
@given(halves=halves_strategy(), seed=st.integers(0, 2**31), epoch=st.integers(0, 5))
def test_v1_plan_properties(halves, seed, epoch):
    tses = _tses(halves)
    has_chunk = [bool((t == 0).any()) or bool(_far_runs(t)) for t in tses]
    if not any(has_chunk):
        with pytest.raises(ValueError, match="CALFV1ChunkSampler: no chunks"):
            _sampler(halves, seed)
        return
    sampler, _ = _sampler(halves, seed)
    # one step per half that has a chunk, in dataset order
    assert sampler.steps_per_epoch == sum(has_chunk)
    assert sampler.halves.tolist() == [h for h, ok in enumerate(has_chunk) if ok]
    seen = []
    for step, h in enumerate(sampler.halves.tolist()):
        hs, starts = sampler.batch(epoch, step)
        assert (hs == h).all()  # the chunks of one half form one batch
        tse, T = tses[h], tses[h].shape[0]
        actions = sorted(zip(*np.nonzero(tse == 0)))
        runs = _far_runs(tse)
        lo, hi = sampler.offsets[step], sampler.offsets[step + 1]
        anchors, classes = sampler.anchors[lo:hi], sampler.anchor_classes[lo:hi]
        positive = anchors >= 0
        # every action of the half gets exactly one positive chunk
        got = sorted(zip(anchors[positive].tolist(), classes[positive].tolist()))
        assert got == [(int(a), int(c)) for a, c in actions]
        # background chunks: min(floor(P / C) + 1, R) (calf.md 9.4)
        assert int((~positive).sum()) == min(len(actions) // C + 1, len(runs))
        for a, s in zip(anchors[positive].tolist(), starts[positive].tolist()):
            # the action sits at chunk offset 80..160 before the clamp (v1's inclusive bound)
            assert s in {_clamp(a - off, T) for off in range(RF, L - RF + 1)}
        picked = []
        for s in starts[~positive].tolist():
            (k,) = [k for k, (i, j) in enumerate(runs) if s in {_clamp(x, T) for x in range(i, j - L + 1)}]
            picked.append(k)
        assert len(set(picked)) == len(picked)  # one chunk per run at most (distinct runs, 9.4)
        assert ((starts >= 0) & ((starts + L < T) | (starts == 0))).all()
        seen.append((hs, starts))
    # the plan is a pure function of (seed, epoch): a fresh sampler (a resumed run) replays it
    again, _ = _sampler(halves, seed)
    h_all, s_all = again.epoch_plan(epoch)
    assert np.array_equal(np.concatenate([h for h, _ in seen]), h_all)
    assert np.array_equal(np.concatenate([s for _, s in seen]), s_all)
    assert again.chunks_per_epoch == len(h_all) == sampler.offsets[-1]


def _long_half():
    # 40 actions of every class, 400 frames apart, in a long half, plus quiet stretches for background runs
    T = 40 * 400 + 4000
    ev = [(400 * k + 2000, k % C) for k in range(40)]
    return [(T, ev), (3000, [])]


def test_v1_inclusive_offsets_and_epoch_dependence():
    sampler, tses = _sampler(_long_half(), seed=7)
    offsets = set()
    plans = []
    for epoch in range(30):
        h, s = sampler.epoch_plan(epoch)
        pos = sampler.anchors >= 0
        offsets |= set((sampler.anchors[pos] - s[pos]).tolist())  # no clamp applies to these actions
        plans.append(s)
    assert offsets == set(range(RF, L - RF + 1))  # 80..160, both ends (sn's bound would stop at 81)
    assert not np.array_equal(plans[0], plans[1])  # each epoch draws anew
    assert np.array_equal(plans[3], CALFV1ChunkSampler(
        [t.shape[0] for t in tses], *calf_anchors(tses, K_V1_FRAMES, L), L, RF, seed=7).epoch_plan(3)[1])
    assert not np.array_equal(plans[3], CALFV1ChunkSampler(
        [t.shape[0] for t in tses], *calf_anchors(tses, K_V1_FRAMES, L), L, RF, seed=8).epoch_plan(3)[1])


def test_v1_batch_sizes_follow_the_data():
    sampler, _ = _sampler(_long_half())
    # half 0: 40 actions -> min(40 // 3 + 1, R) background; half 1 has no action: min(1, R) = 1 background
    sizes = np.diff(sampler.offsets).tolist()
    assert sizes[0] == 40 + min(14, len(_far_runs(_tses(_long_half())[0])))
    assert sizes[1] == 1
    assert sampler.chunks_per_epoch == sum(sizes)


@pytest.mark.parametrize("kwargs,message", [
    ({"world_size": 2}, "does not support distributed training"),
    ({"step": 2}, "step must be in"),
])
def test_v1_batch_refuses(kwargs, message):
    sampler, _ = _sampler(_long_half())
    step = kwargs.pop("step", 0)
    with pytest.raises(ValueError, match=f"CALFV1ChunkSampler: .*{message}"):
        sampler.batch(0, step, **kwargs)


@pytest.mark.parametrize("args,message", [
    (dict(lengths=[]), "lengths"),
    (dict(positives=[]), "positives"),
    (dict(receptive_field=120), "receptive_field"),
    (dict(background=np.array([[5, 0, 300]])), "background"),
])
def test_v1_sampler_bad_input(args, message):
    kw = dict(lengths=[1000], positives=[np.zeros((0, 2))] * 3, background=np.array([[0, 0, 1000]]),
              chunk_len=L, receptive_field=RF)
    kw.update(args)
    with pytest.raises(ValueError, match=f"CALFV1ChunkSampler: {message}"):
        CALFV1ChunkSampler(**kw)


def _run_of(start, runs):
    """Index of the background run whose start range [i, j - L] holds ``start``."""
    (k,) = [k for k, (i, j) in enumerate(runs) if i <= start <= j - L]
    return k


def test_v1_background_chunks_come_from_distinct_runs():
    """calf.md 9.4 caps the background chunks at the number of runs: one chunk per run, the runs drawn
    without replacement (a run is never used twice while another run of the half goes unused)."""
    # 6 card actions (K = -40, -20, 20, 40) 1000 frames apart: 7 far runs, P // C + 1 = 3 background chunks
    T = 7000
    sampler, tses = _sampler([(T, [(1000 * k, 1) for k in range(1, 7)])], seed=5)
    runs = _far_runs(tses[0])
    assert len(runs) == 7 and sampler.background_per_half.tolist() == [3]
    used = set()
    for epoch in range(20):
        _, s = sampler.batch(epoch, 0)
        picked = [_run_of(x, runs) for x in s[sampler.anchors < 0].tolist()]
        assert len(set(picked)) == 3, (epoch, picked)
        used |= set(picked)
    assert used == set(range(7))  # every run can be drawn
    # as many background chunks as runs: every run exactly once
    T2 = 2600
    sampler, tses = _sampler([(T2, [(1000, 1), (1001, 1), (1002, 1), (1003, 1)])], seed=1)
    runs = _far_runs(tses[0])
    assert len(runs) == 2 and sampler.background_per_half.tolist() == [2]
    for epoch in range(10):
        _, s = sampler.batch(epoch, 0)
        assert sorted(_run_of(x, runs) for x in s[sampler.anchors < 0].tolist()) == [0, 1]
