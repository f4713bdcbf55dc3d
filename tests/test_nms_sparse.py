"""The sparse-column NMS of the tuning search (``spotkern._C.nms_sparse``, wrapped by ``spotkern.tune.sparse_nms``):
at the listed frames it equals the dense op (itself tested against the spec loops in test_nms.py) bit for bit, for
every method, several windows per call, soft-NMS parameters, thresholds and the edges (T = 1, no frame, ties,
frames 0 and T - 1, a segment per column, windows 0, beyond T and 2**40); and bad input is refused by name."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import nms_problems

import spotkern
from spotkern._ext import ext
from spotkern.ops.nms import METHOD_CODES
from spotkern.tune import sparse_nms


def listed(scores, thr):
    """(segments, frames, values) of the cells of (B, T, C) scores >= thr (float64 comparison, as the
    op's), a segment per (b, c) column, in increasing (segment, frame) order."""
    B, T, C = scores.shape
    cols = scores.transpose(0, 2, 1).reshape(B * C, T)
    seg, fr = np.nonzero(cols.astype(np.float64) >= thr)
    return seg.astype(np.int64), fr.astype(np.int64), np.ascontiguousarray(cols[seg, fr])


def dense_at(scores, window, method, thr, seg, fr, **kw):
    """The dense op's output of every column at the listed frames, and whether it kept nothing else."""
    B, T, C = scores.shape
    out = spotkern.nms(scores, window, method=method, threshold=thr, **kw).transpose(0, 2, 1).reshape(B * C, T)
    rest = out.copy()
    rest[seg, fr] = -1
    return out[seg, fr], bool((rest == -1).all())


@given(case=nms_problems(max_T=80), thr_kind=st.sampled_from(["low", "mid", "high"]),
       windows=st.lists(st.integers(0, 90), min_size=1, max_size=4), soft=st.tuples(
           st.sampled_from([0.0, 0.25, 0.9]), st.sampled_from([2.0, 0.5, 1.0, 7.5])))
def test_sparse_equals_the_dense_op_at_the_listed_frames(case, thr_kind, windows, soft):
    method, scores, _ = case
    if scores.shape[-2] == 0:  # T = 0: the sparse form needs T >= 1 (test_bad_input_is_refused_by_name)
        scores = np.zeros((1, 1, scores.shape[-1]), np.float32)
    scores = scores.reshape((-1,) + scores.shape[-2:])
    B, T, C = scores.shape
    is_soft = method in ("linear", "gaussian")
    thr = {"low": 1e-5 if is_soft else -0.5, "mid": 0.3, "high": 0.95}[thr_kind]
    windows = [max(w, 2) if method == "calf" else w for w in windows]
    min_weight, expansion = soft if is_soft else (0.0, 2.0)
    kw = {"min_weight": min_weight} if is_soft else {}
    if method == "linear":
        kw["expansion"] = expansion
    seg, fr, vals = listed(scores, thr)
    sigmas = np.array([w / 2 for w in windows])
    got = ext().nms_sparse(vals, seg, fr, T, np.array(windows, np.int64), sigmas, METHOD_CODES[method], thr,
                           min_weight, expansion)
    assert got.shape == (len(windows), len(vals)) and got.dtype == np.float32
    for k, w in enumerate(windows):
        want, nothing_else = dense_at(scores, w, method, thr, seg, fr, **kw)
        np.testing.assert_array_equal(got[k], want)
        assert nothing_else  # a frame below the threshold is never kept, so listing only the others loses nothing


@pytest.mark.parametrize("method", ["hard", "calf", "linear", "gaussian"])
@pytest.mark.parametrize("window", [2, 3, 8, 2**40])
def test_edges_one_frame_ties_and_both_ends(method, window):
    T = 7
    scores = np.zeros((3, T, 1), np.float32)
    scores[0, [0, T - 1], 0] = 0.5  # a tie at both ends
    scores[1, 0, 0] = 0.9  # a single frame at 0
    scores[2, :, 0] = 0.5  # a plateau
    thr = 0.1
    seg, fr, vals = listed(scores, thr)
    got = sparse_nms(vals, seg, fr, T, [window], method, thr)[0]
    want, nothing_else = dense_at(scores, window, method, thr, seg, fr)
    np.testing.assert_array_equal(got, want)
    assert nothing_else
    one = sparse_nms(np.float32([0.7]), np.int64([0]), np.int64([0]), 1, [window, 0 if method != "calf" else 2],
                     method, thr)
    np.testing.assert_array_equal(one, np.float32([[0.7], [0.7]]))


@pytest.mark.parametrize("method", ["hard", "linear"])
def test_no_frame_and_no_window(method):
    out = sparse_nms(np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64), 10, [4, 6], method, 0.1)
    assert out.shape == (2, 0)
    out = sparse_nms(np.float32([0.5]), np.int64([0]), np.int64([3]), 10, [], method, 0.1)
    assert out.shape == (0, 1)


def test_segments_never_interact():
    """Two segments whose frames are adjacent in x would suppress each other if the stride were short."""
    T = 5
    vals = np.float32([0.9, 0.8])
    got = sparse_nms(vals, np.int64([0, 1]), np.int64([T - 1, 0]), T, [2**40], "hard", 0.1)
    np.testing.assert_array_equal(got, vals[None, :])
    got = sparse_nms(vals, np.int64([0, 1]), np.int64([T - 1, 0]), T, [1000], "gaussian", 0.1)
    np.testing.assert_array_equal(got, vals[None, :])


def good():
    return dict(values=np.float32([0.5, 0.6]), segments=np.int64([0, 0]), frames=np.int64([1, 3]), T=5,
                windows=np.int64([2]), sigmas=np.float64([1.0]), method=0, threshold=0.1, min_weight=0.0,
                expansion=2.0)


@pytest.mark.parametrize("change, match", [
    ({"frames": np.int64([3, 1])}, r"\(segments, frames\) must be strictly increasing"),
    ({"frames": np.int64([1, 1])}, r"\(segments, frames\) must be strictly increasing"),
    ({"segments": np.int64([1, 0])}, r"\(segments, frames\) must be strictly increasing"),
    ({"frames": np.int64([1, 5])}, r"frames must lie in \[0, T\)"),
    ({"frames": np.int64([-1, 3])}, r"frames must lie in \[0, T\)"),
    ({"segments": np.int64([-1, -1])}, "segments must lie in"),
    ({"segments": np.int64([0, 2**61])}, "segments must lie in"),
    ({"values": np.float32([np.nan, 0.6])}, "values contains NaN or infinite values"),
    ({"values": np.float32([0.5])}, "values, segments and frames must have equal lengths"),
    ({"windows": np.int64([-1])}, "windows must be >= 0"),
    ({"windows": np.int64([1]), "method": 1}, "windows must be >= 2 for method 'calf'"),
    ({"sigmas": np.float64([1.0, 2.0])}, "windows and sigmas must be 1-D of equal lengths"),
    ({"T": 0}, r"T must be in \[1, 2\^31 - 1\]"),
    ({"method": 7}, "unknown method code 7"),
])
def test_bad_input_is_refused_by_name(change, match):
    args = good()
    args.update(change)
    with pytest.raises(ValueError, match="nms_sparse: " + match):
        ext().nms_sparse(**args)


def test_wrong_dtype_is_refused_not_converted():
    args = good()
    args["frames"] = args["frames"].astype(np.int32)
    with pytest.raises(TypeError):
        ext().nms_sparse(**args)


@pytest.mark.parametrize("method", ["hard", "calf", "linear", "gaussian"])
@pytest.mark.parametrize("seed", range(4))
def test_halves_of_different_lengths_against_each_halfs_own_op(method, seed):
    """The search passes the longest half's T for every half; each half's result is still the dense op's
    on that half alone (its own T caps the windows and reaches), including windows longer than a half."""
    g = np.random.default_rng(seed)
    lengths = [int(x) for x in g.integers(1, 40, 4)]
    halves = [np.round(g.random(n) * 6).astype(np.float32) / 6 for n in lengths]  # ties
    thr = 0.2
    seg = np.concatenate([np.full(int((h >= thr).sum()), i) for i, h in enumerate(halves)]).astype(np.int64)
    fr = np.concatenate([np.flatnonzero(h >= thr) for h in halves]).astype(np.int64)
    vals = np.concatenate([h[h >= thr] for h in halves]).astype(np.float32)
    windows = [2, 5, 13, 39, 80, 2**40]
    got = sparse_nms(vals, seg, fr, max(lengths), windows, method, thr)
    for k, w in enumerate(windows):
        want = np.concatenate([spotkern.nms(h[:, None], w, method=method, threshold=thr)[h >= thr, 0] for h in halves])
        np.testing.assert_array_equal(got[k], want)


def test_wrapper_refuses_an_unknown_method_by_name():
    with pytest.raises(ValueError, match="sparse_nms: method"):
        sparse_nms(np.float32([0.5]), np.int64([0]), np.int64([0]), 4, [2], "soft", 0.1)
