"""Dense-anchor targets and class-balance weights: spec vectors (dense_anchors.md 9 DA-T1..T4),
properties against the spec loops, chunks, torch dispatch, custom-op checks and input errors."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import spotkern
from spotkern.reference import class_balance_weights_ref, dense_anchor_targets_ref


def single(frames, T, rc, rd):
    f = np.array(frames, dtype=np.int64)
    return spotkern.dense_anchor_targets(f, np.zeros_like(f), T, 1, radius_confidence=rc, radius_displacement=rd)


# --- spec vectors -----------------------------------------------------------------------------------

def test_da_t1_targets():
    conf, disp, sup = single([4, 10], 16, 2, 4)
    assert conf.dtype == np.float32 and disp.dtype == np.float32 and sup.dtype == np.bool_
    assert conf.shape == disp.shape == sup.shape == (16, 1)
    assert conf[:, 0].tolist() == [0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0]
    assert disp[:, 0].tolist() == [1, 0.75, 0.5, 0.25, 0, -0.25, -0.5, -0.75, 0.5, 0.25, 0, -0.25, -0.5, -0.75, -1, 10]
    assert sup[:, 0].tolist() == [True] * 15 + [False]


def test_da_t2_displacement_tie_goes_to_earlier_action():
    _, disp, _ = single([2, 6], 9, 1, 3)
    np.testing.assert_array_equal(disp[:, 0], np.float32([2 / 3, 1 / 3, 0, -1 / 3, -2 / 3, 1 / 3, 0, -1 / 3, -2 / 3]))


def test_da_t3_fractional_radius_rounds_inward():
    conf, _, _ = single([4, 10], 16, 2.5, 4)
    assert conf[:, 0].tolist() == [0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0]


def test_da_t4_weights():
    w_pos, w_neg = spotkern.class_balance_weights(np.array([10]), 40, p=0.03)
    assert w_pos.dtype == np.float32
    np.testing.assert_allclose(w_pos, [0.12], rtol=1e-6)
    np.testing.assert_allclose(w_neg, [40 * 0.97 / 30], rtol=1e-6)
    w_pos, w_neg = spotkern.class_balance_weights(np.array([10, 4]), 40, p=1.0)  # displacement head
    np.testing.assert_allclose(w_pos, [40 / 10, 40 / 4], rtol=1e-6)
    assert w_neg.tolist() == [0, 0]


def test_weights_balance_each_class_and_match_reference():
    P = np.array([10, 1, 0, 40, 25], dtype=np.int64)
    cw = np.array([1.0, 2.0, 1.0, 1.0, 0.5])
    w_pos, w_neg = spotkern.class_balance_weights(P, 40, p=0.03, class_weights=cw)
    ref = class_balance_weights_ref(P, 40, 0.03, cw)
    np.testing.assert_allclose(w_pos, ref[0], rtol=1e-6)
    np.testing.assert_allclose(w_neg, ref[1], rtol=1e-6)
    # Totals per class: p * N on positives and (1 - p) * N on negatives (times the class weight).
    for c in (0, 1, 4):
        np.testing.assert_allclose(P[c] * w_pos[c], cw[c] * 0.03 * 40, rtol=1e-6)
        np.testing.assert_allclose((40 - P[c]) * w_neg[c], cw[c] * 0.97 * 40, rtol=1e-6)
    assert w_pos[2] == 0 and w_neg[3] == 0  # no positives / no negatives: no anchor carries them
    tp, tn = spotkern.class_balance_weights(torch.from_numpy(P), 40, p=0.03, class_weights=torch.from_numpy(cw))
    assert isinstance(tp, torch.Tensor)
    np.testing.assert_array_equal(tp.numpy(), w_pos)
    np.testing.assert_array_equal(tn.numpy(), w_neg)


# --- properties against the reference ---------------------------------------------------------------

@st.composite
def event_lists(draw, max_T=300):
    T = draw(st.integers(1, max_T))
    C = draw(st.integers(1, 5))
    n = draw(st.integers(0, 25))
    edge = st.sampled_from([0, T - 1, -3, T + 2])  # events at the ends and just outside
    frames = draw(st.lists(st.one_of(st.integers(0, T - 1), edge), min_size=n, max_size=n))
    classes = draw(st.lists(st.integers(0, C - 1), min_size=n, max_size=n))
    frames, classes = frames + frames[:2], classes + classes[:2]  # duplicates collapse
    rc = draw(st.sampled_from([0, 1, 2, 2.5, 3, 6, 0.4]))
    rd = draw(st.sampled_from([1, 2, 3, 4, 6, 12, 2.5, 0.5]))
    return T, C, np.array(frames, dtype=np.int64), np.array(classes, dtype=np.int64), rc, rd


@given(event_lists(), st.sampled_from(["int32", "int64"]))
def test_half_matches_reference(ev, dtype):
    T, C, frames, classes, rc, rd = ev
    out = spotkern.dense_anchor_targets(frames.astype(dtype), classes.astype(dtype), T, C, radius_confidence=rc,
                                        radius_displacement=rd)
    ref = dense_anchor_targets_ref(frames, classes, T, C, radius_confidence=rc, radius_displacement=rd)
    for got, want in zip(out, ref):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@given(st.lists(event_lists(max_T=60), min_size=1, max_size=4))
def test_chunks_match_reference(chunks):
    T, C, _, _, rc, rd = chunks[0]
    fs, cs = [], []
    for _, _, f, c, _, _ in chunks:
        keep = c < C
        fs.append(f[keep])
        cs.append(c[keep])
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in fs])]).astype(np.int64)
    frames, classes = np.concatenate(fs), np.concatenate(cs)
    out = spotkern.dense_anchor_targets(frames, classes, T, C, radius_confidence=rc, radius_displacement=rd,
                                        offsets=offsets)
    ref = dense_anchor_targets_ref(frames, classes, T, C, radius_confidence=rc, radius_displacement=rd,
                                   offsets=offsets)
    for got, want in zip(out, ref):
        assert got.shape == (len(chunks), T, C)
        np.testing.assert_array_equal(got, want)


@given(event_lists(max_T=400), st.integers(0, 399), st.integers(1, 100))
def test_chunk_targets_equal_the_slice_of_the_half(ev, start, L):
    T, C, frames, classes, rc, rd = ev
    start = min(start, T - 1)
    L = min(L, T - start)
    inside = (frames >= 0) & (frames < T)  # the half's own events
    chunk = spotkern.dense_anchor_targets(frames[inside] - start, classes[inside], L, C, radius_confidence=rc,
                                          radius_displacement=rd, offsets=np.array([0, inside.sum()]))
    half = spotkern.dense_anchor_targets(frames[inside], classes[inside], T, C, radius_confidence=rc,
                                         radius_displacement=rd)
    for h, c in zip(half, chunk):
        np.testing.assert_array_equal(c[0], h[start:start + L])


# --- torch --------------------------------------------------------------------------------------------

def test_torch_input_returns_tensors_equal_to_numpy():
    frames = np.array([0, 50, 52, 199, 100], dtype=np.int64)
    classes = np.array([0, 1, 1, 2, 0], dtype=np.int64)
    kw = dict(radius_confidence=6, radius_displacement=12)
    ref = spotkern.dense_anchor_targets(frames, classes, 200, 3, **kw)
    out = spotkern.dense_anchor_targets(torch.from_numpy(frames), torch.from_numpy(classes), 200, 3, **kw)
    for t, a in zip(out, ref):
        assert isinstance(t, torch.Tensor)
        np.testing.assert_array_equal(t.numpy(), a)
    out = spotkern.dense_anchor_targets(torch.from_numpy(frames), torch.from_numpy(classes), 100, 3, **kw,
                                        offsets=torch.tensor([0, 2, 5]))
    assert out[0].shape == (2, 100, 3) and out[2].dtype == torch.bool


def test_opcheck():
    frames, classes = torch.tensor([3, 40, 10, 41]), torch.tensor([0, 0, 2, 1])
    op = torch.ops.spotkern.dense_anchor_targets.default
    torch.library.opcheck(op, (frames, classes, None, 64, 3, 3.0, 6.0))
    torch.library.opcheck(op, (frames, classes, torch.tensor([0, 1, 4]), 32, 3, 2.5, 6.0))


def test_compiles_fullgraph():
    def f(frames, classes, offsets):
        conf, disp, sup = spotkern.dense_anchor_targets(frames, classes, 32, 3, radius_confidence=3,
                                                        radius_displacement=6.0, offsets=offsets)
        return conf * 2, torch.where(sup, disp, 0.0)

    args = (torch.tensor([3, 40, 10, 41]), torch.tensor([0, 0, 2, 1]), torch.tensor([0, 1, 4]))
    compiled = torch.compile(f, fullgraph=True, backend="eager")
    for got, want in zip(compiled(*args), f(*args)):
        torch.testing.assert_close(got, want)


# --- bad input ----------------------------------------------------------------------------------------

F = np.array([3, 5], dtype=np.int64)
K = np.array([0, 1], dtype=np.int64)


@pytest.mark.parametrize(
    "frames, classes, T, C, kw, exc, match",
    [
        (F, np.array([0, 2]), 10, 2, {}, ValueError, "classes must lie in"),
        (F, np.array([0, -1]), 10, 2, {}, ValueError, "classes must lie in"),
        (F.astype(np.float32), K, 10, 2, {}, TypeError, "frames must have dtype"),
        (F, K[:1], 10, 2, {}, ValueError, "same length"),
        (F[:, None], K, 10, 2, {}, ValueError, "frames must have 1 dimensions"),
        (F, K, 0, 2, {}, ValueError, "num_frames must be >= 1"),
        (F, K, 10, 0, {}, ValueError, "num_classes must be >= 1"),
        (F, K, 10, 2, {"radius_confidence": -1}, ValueError, "radius_confidence must be >= 0"),
        (F, K, 10, 2, {"radius_displacement": 0}, ValueError, "radius_displacement must be > 0"),
        (F, K, 10, 2, {"radius_displacement": float("nan")}, ValueError, "radius_displacement must be finite"),
        (F, K, 10, 2, {"offsets": np.array([0, 1])}, ValueError, "offsets must be non-decreasing from 0"),
        (F, K, 10, 2, {"offsets": np.array([1, 2])}, ValueError, "offsets must be non-decreasing from 0"),
        (F, K, 10, 2, {"offsets": np.array([0, 2, 1, 2])}, ValueError, "offsets must be non-decreasing"),
        (F, K, 10, 2, {"offsets": np.array([0, 2], np.float64)}, TypeError, "offsets must have dtype int32 or int64"),
        (F, K, 10, 2, {"offsets": torch.tensor([0, 2])}, TypeError, "must all be numpy arrays or all torch"),
    ],
)
def test_bad_input_raises_named_error(frames, classes, T, C, kw, exc, match):
    kw = {"radius_confidence": 2, "radius_displacement": 4, **kw}
    with pytest.raises(exc, match=match) as info:
        spotkern.dense_anchor_targets(frames, classes, T, C, **kw)
    assert str(info.value).startswith("dense_anchor_targets:")


@pytest.mark.parametrize(
    "counts, N, kw, exc, match",
    [
        (np.array([10, 50]), 40, {}, ValueError, "positive_counts must lie in"),
        (np.array([-1, 5]), 40, {}, ValueError, "positive_counts must lie in"),
        (np.array([1.0, np.nan]), 40, {}, ValueError, "positive_counts contains NaN"),
        (np.array([1, 5]), 0, {}, ValueError, "total_frames must be >= 1"),
        (np.array([1, 5]), 40, {"p": 0.0}, ValueError, "p must be > 0"),
        (np.array([1, 5]), 40, {"p": 1.5}, ValueError, "p must be <= 1"),
        (np.array([1, 5]), 40, {"class_weights": np.ones(3)}, ValueError, "class_weights must have shape"),
        (np.array([1, 5]), 40, {"class_weights": -np.ones(2)}, ValueError, "class_weights must be >= 0"),
        ([1, 5], 40, {}, TypeError, "positive_counts must be a numpy array"),
    ],
)
def test_bad_weights_raise_named_error(counts, N, kw, exc, match):
    with pytest.raises(exc, match=match) as info:
        spotkern.class_balance_weights(counts, N, **kw)
    assert str(info.value).startswith("class_balance_weights:")


def test_many_chunks_parallel_path_matches_reference():
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 6, 300)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    frames = rng.integers(-10, 234, offsets[-1]).astype(np.int64)
    classes = rng.integers(0, 17, offsets[-1]).astype(np.int64)
    out = spotkern.dense_anchor_targets(frames, classes, 224, 17, radius_confidence=6, radius_displacement=12,
                                        offsets=offsets)
    for b in (0, 150, 299):
        sl = slice(offsets[b], offsets[b + 1])
        ref = dense_anchor_targets_ref(frames[sl], classes[sl], 224, 17, radius_confidence=6, radius_displacement=12)
        for got, want in zip(out, ref):
            np.testing.assert_array_equal(got[b], want)


# --- extreme arguments (audit) --------------------------------------------------------------------------

@pytest.mark.parametrize("r", [1e19, 1e300])
def test_radius_beyond_int64_covers_the_whole_half(r):
    # Spec 2.1: the range ceil(a - r) .. floor(a + r) clipped to [0, T - 1] is every frame; the
    # bounds must not wrap around when r exceeds the int64 range.
    conf, disp, sup = single([5], 10, r, r)
    assert conf[:, 0].tolist() == [1] * 10
    assert sup[:, 0].all()
    np.testing.assert_array_equal(disp[:, 0], np.float32([(5 - t) / r for t in range(10)]))


@pytest.mark.parametrize("frames", [[5, 2**63 - 1], [2**63 - 1, 5, 2**63 - 2], [-2**63, 5], [-2**63, -2**63 + 1, 5]])
def test_events_at_the_int64_extremes_do_not_overflow(frames):
    # Far-away events reach nothing; the midpoint with a far neighbour must not overflow and steal
    # the support of the event at frame 5 (spec 2.3: nearest action within rd).
    f = np.array(frames, dtype=np.int64)
    out = spotkern.dense_anchor_targets(f, np.zeros_like(f), 10, 1, radius_confidence=1, radius_displacement=4)
    ref = dense_anchor_targets_ref(f, np.zeros_like(f), 10, 1, radius_confidence=1, radius_displacement=4)
    for got, want in zip(out, ref):
        np.testing.assert_array_equal(got, want)
    assert out[1][:, 0].tolist() == [10, 1, 0.75, 0.5, 0.25, 0, -0.25, -0.5, -0.75, -1]


def test_weights_reject_mixed_numpy_and_tensor():
    with pytest.raises(TypeError, match="^class_balance_weights: .*must all be numpy arrays or all torch"):
        spotkern.class_balance_weights(np.array([1, 2]), 10, class_weights=torch.ones(2, dtype=torch.float64))
