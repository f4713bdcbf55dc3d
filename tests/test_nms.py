"""Per-class NMS: spec vectors (dense_anchors.md 9 DA-T7/T8, calf.md 12 CALF-T11), properties against
the literal spec loops, sparse output, torch dispatch, custom-op checks and input errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import spotkern
from spotkern.reference import detections_ref, nms_ref

DA_T7 = np.array([0.1, 0.5, 0.9, 0.6, 0.2, 0.85, 0.3, 0.4], dtype=np.float32)[:, None]


def col(values):
    return np.array(values, dtype=np.float32)[:, None]


# --- spec vectors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("W", [4, 5])
def test_da_t7_hard(W):
    out = spotkern.nms(DA_T7, W, method="hard")
    assert out.dtype == np.float32 and out.shape == (8, 1)
    np.testing.assert_array_equal(out[:, 0], np.float32([-1, -1, 0.9, -1, -1, 0.85, -1, -1]))


@pytest.mark.parametrize("m, expected", [
    (0.0, [0.05, 0.25, 0.9, 0.3, 0.05, 0.85, 0.075, 0.4]),
    (0.5, [0.075, 0.375, 0.9, 0.45, 0.1125, 0.85, 0.16875, 0.4]),
])
def test_da_t7_soft_linear(m, expected):
    out = spotkern.nms(DA_T7, 2, method="linear", min_weight=m)
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-6)


def test_da_t7_soft_linear_selection_order_and_tie():
    # Spec: selection order 2, 5, 7, 3, 1, 6, then 0 and 4 (both 0.05) -> 0 first.
    frames, classes, scores = spotkern.nms(DA_T7, 2, method="linear", output="sparse")
    assert frames.tolist() == [2, 5, 7, 3, 1, 6, 0, 4]
    assert classes.tolist() == [0] * 8
    assert scores[6] == scores[7]


def test_da_t7_soft_gaussian():
    out = spotkern.nms(DA_T7, 2, method="gaussian")
    expected = [0.033644, 0.170110, 0.9, 0.204131, 0.022638, 0.840557, 0.045929, 0.345866]
    np.testing.assert_allclose(out[:, 0], expected, atol=1e-6)


def test_da_t8_hard_emits_zeros():
    out = spotkern.nms(np.zeros((5, 1), np.float32), 2, method="hard")
    assert out[:, 0].tolist() == [0, -1, 0, -1, 0]


@pytest.mark.parametrize("delta, expected", [
    (4, [-1, 0.3, -1, -1, 0.9, -1, 0.8, -1, -1, 0.85, -1, -1]),
    (5, [-1, -1, -1, -1, 0.9, -1, -1, -1, -1, 0.85, -1, -1]),
])
def test_calf_t11(delta, expected):
    scores = col([-1, 0.3, -1, 0.5, 0.9, 0.2, 0.8, -1, -1, 0.85, 0.1, -1])
    np.testing.assert_array_equal(spotkern.nms(scores, delta, method="calf")[:, 0], np.float32(expected))


def test_calf_window_is_half_open_and_hard_is_symmetric():
    # A peak exactly W/2 frames after a stronger one survives CALF's NMS, not the hard NMS.
    s = np.zeros((50, 1), np.float32) - 0.5
    s[10, 0], s[30, 0] = 0.9, 0.5
    assert spotkern.nms(s, 40, method="calf")[30, 0] == np.float32(0.5)
    assert spotkern.nms(s, 40, method="hard")[30, 0] == -1


# --- properties against the reference ---------------------------------------------------------------

LEVELS = [-0.5, 0.0, 0.25, 0.5, 0.75, 1.0]  # few levels -> ties and plateaus


@st.composite
def problems(draw, methods=("hard", "calf", "linear", "gaussian"), max_T=120):
    method = draw(st.sampled_from(methods))
    batched = draw(st.booleans())
    B = draw(st.integers(1, 3)) if batched else None
    T = draw(st.integers(0 if method in ("hard", "calf") else 1, max_T))
    C = draw(st.integers(1, 3))
    n = (B or 1) * T * C
    kind = draw(st.sampled_from(["levels", "uniform", "negative", "ramp"]))
    if kind == "levels":
        vals = draw(st.lists(st.sampled_from(LEVELS), min_size=n, max_size=n))
        s = np.array(vals, dtype=np.float32)
    elif kind == "uniform":
        seed = draw(st.integers(0, 2**31))
        s = np.random.default_rng(seed).random(n).astype(np.float32)
    elif kind == "negative":
        seed = draw(st.integers(0, 2**31))
        s = -np.random.default_rng(seed).random(n).astype(np.float32) - 1e-3
    else:  # ramps and plateaus
        s = (np.arange(n) % draw(st.integers(1, 40)) / 40.0).astype(np.float32)
    s = s.reshape(((B,) if batched else ()) + (T, C))
    lo = 2 if method == "calf" else 0
    if draw(st.booleans()):
        window = draw(st.integers(lo, T + 5))
    else:
        window = np.array(draw(st.lists(st.integers(lo, T + 5), min_size=C, max_size=C)), dtype=np.int64)
    return method, s, window


@given(problems(methods=("hard", "calf"), max_T=300), st.sampled_from([None, 0.3, -0.5]))
def test_hard_and_calf_match_reference(p, threshold):
    method, s, window = p
    out = spotkern.nms(s, window, method=method, threshold=threshold)
    np.testing.assert_array_equal(out, nms_ref(s, window, method=method, threshold=threshold))


@settings(max_examples=40)
@given(problems(methods=("linear", "gaussian")), st.sampled_from([0.0, 0.3, 1.0]), st.sampled_from([None, 0.2]),
       st.sampled_from([2.0, 1.5, 0.0]))
def test_soft_matches_reference_bit_exactly(p, m, threshold, expansion):
    method, s, window = p
    kw = dict(method=method, threshold=threshold, min_weight=m)
    if method == "linear":
        kw["expansion"] = expansion
    out = spotkern.nms(s, window, **kw)
    np.testing.assert_array_equal(out, nms_ref(s, window, **kw))


@settings(max_examples=20)
@given(st.integers(1, 80), st.lists(st.floats(0.0, 7.0), min_size=2, max_size=2), st.integers(0, 2**31))
def test_gaussian_per_class_sigma(T, sigmas, seed):
    s = np.random.default_rng(seed).random((T, 2)).astype(np.float32)
    out = spotkern.nms(s, 4, method="gaussian", sigma=sigmas)
    np.testing.assert_array_equal(out, nms_ref(s, 4, method="gaussian", sigma=sigmas))


@given(problems(max_T=60))
def test_sparse_is_the_sorted_dense(p):
    method, s, window = p
    dense, sparse = spotkern.nms(s, window, method=method, output="both")
    expected = detections_ref(dense)
    assert len(sparse) == (4 if s.ndim == 3 else 3)
    for got, want in zip(sparse, expected):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    np.testing.assert_array_equal(dense, nms_ref(s, window, method=method))


def test_windows_zero_and_one_keep_every_frame_at_or_above_threshold():
    s = np.array([[0.5], [0.5], [-0.2], [0.0]], np.float32)
    for W in (0, 1):
        assert spotkern.nms(s, W, method="hard")[:, 0].tolist() == [0.5, 0.5, -1, 0]


def test_window_larger_than_T_keeps_the_first_maximum_only():
    s = col([0.2, 0.7, 0.1, 0.7])
    assert spotkern.nms(s, 100, method="hard")[:, 0].tolist() == [-1, pytest.approx(0.7), -1, -1]


def test_all_negative_scores_give_nothing():
    s = -np.random.default_rng(1).random((100, 3)).astype(np.float32) - 0.01
    for method in ("hard", "calf", "linear", "gaussian"):
        assert (spotkern.nms(s, 6, method=method) == -1).all()
        frames, classes, scores = spotkern.nms(s, 6, method=method, output="sparse")
        assert len(frames) == len(classes) == len(scores) == 0


def test_long_column_ramps_and_plateaus_match_reference():
    rng = np.random.default_rng(3)
    s = np.concatenate([np.linspace(0, 1, 700), np.full(300, 0.5), np.linspace(1, 0, 500), rng.random(500)])
    s = np.stack([s, s[::-1]], axis=1).astype(np.float32)
    for method, W in [("hard", 40), ("hard", 6), ("calf", 40), ("calf", 7)]:
        np.testing.assert_array_equal(spotkern.nms(s, W, method=method), nms_ref(s, W, method=method))
    for method in ("linear", "gaussian"):
        np.testing.assert_array_equal(spotkern.nms(s[:400], 8, method=method), nms_ref(s[:400], 8, method=method))


# --- torch --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["hard", "calf", "linear", "gaussian"])
def test_torch_input_returns_tensors_equal_to_numpy(method):
    s = np.random.default_rng(0).random((2, 64, 3)).astype(np.float32)
    window = torch.tensor([4, 6, 8])
    dense, (f, c, v, b) = spotkern.nms(torch.from_numpy(s), window, method=method, output="both")
    assert isinstance(dense, torch.Tensor) and dense.dtype == torch.float32 and dense.shape == (2, 64, 3)
    nd, (nf, nc, nv, nb) = spotkern.nms(s, [4, 6, 8], method=method, output="both")
    np.testing.assert_array_equal(dense.numpy(), nd)
    for t, a in [(f, nf), (c, nc), (v, nv), (b, nb)]:
        assert isinstance(t, torch.Tensor)
        np.testing.assert_array_equal(t.numpy(), a)


def test_opcheck():
    s = torch.from_numpy(np.random.default_rng(0).random((2, 32, 3)).astype(np.float32))
    for code in range(4):
        torch.library.opcheck(torch.ops.spotkern.nms.default, (s, [4, 6, 8], [2.0, 3.0, 4.0], code, 1e-5, 0.0, 2.0))
    dense = spotkern.nms(s, 6, method="hard")
    torch.library.opcheck(torch.ops.spotkern.nms_detections.default, (dense,))
    torch.library.opcheck(torch.ops.spotkern.nms_detections.default, (dense[0],))


def test_compiles_fullgraph():
    def f(s):
        return spotkern.nms(s, [4, 6, 8], method="linear") * 2

    s = torch.from_numpy(np.random.default_rng(0).random((64, 3)).astype(np.float32))
    compiled = torch.compile(f, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(s), f(s))


def test_compiles_fullgraph_sparse():
    import torch._dynamo

    def f(s):
        frames, classes, scores = spotkern.nms(s, 6, method="hard", output="sparse")
        return frames * 100 + classes, scores

    s = torch.from_numpy(np.random.default_rng(0).random((64, 3)).astype(np.float32))
    with torch._dynamo.config.patch(capture_dynamic_output_shape_ops=True):
        compiled = torch.compile(f, fullgraph=True, backend="eager")
        got = compiled(s)
    want = f(s)
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])


# --- bad input ----------------------------------------------------------------------------------------

GOOD = np.random.default_rng(0).random((10, 2)).astype(np.float32)


def _with(value, at=(3, 1)):
    s = GOOD.copy()
    s[at] = value
    return s


@pytest.mark.parametrize(
    "scores, window, kw, exc, match",
    [
        (_with(np.nan), 4, {}, ValueError, "scores contains NaN"),
        (_with(np.inf), 4, {"method": "linear"}, ValueError, "scores contains NaN"),
        (torch.from_numpy(_with(np.nan)), 4, {}, ValueError, "scores contains NaN"),
        (GOOD.astype(np.float16), 4, {}, TypeError, "scores must have dtype float32 or float64"),
        (np.ma.masked_array(GOOD), 4, {}, TypeError, "scores must be a plain numpy array"),
        (GOOD.astype(">f4"), 4, {}, TypeError, "scores must be in native byte order"),
        (torch.from_numpy(GOOD).to_sparse(), 4, {}, TypeError, "scores must be a dense"),
        (torch.empty((10, 2), device="meta"), 4, {}, ValueError, "scores is a meta tensor"),
        (torch.from_numpy(GOOD).to(torch.bfloat16), 4, {}, TypeError, "scores must have dtype"),
        (torch._neg_view(torch.from_numpy(GOOD)), 4, {}, TypeError, "scores has a lazy negation"),
        (GOOD, 4, {"method": None}, TypeError, "method is required"),
        (GOOD, 4, {"threshold": 10**400}, ValueError, "threshold must be finite"),
        (GOOD[:, 0], 4, {}, ValueError, "scores must have 2 or 3 dimensions"),
        (GOOD.tolist(), 4, {}, TypeError, "scores must be a numpy array"),
        (GOOD, -1, {}, ValueError, "window must be >= 0"),
        (GOOD, 1, {"method": "calf"}, ValueError, "window must be >= 2"),
        (GOOD, [4, 4, 4], {}, ValueError, "window must be a scalar or have one entry per class"),
        (GOOD, 4.0, {}, TypeError, "window must be an integer"),
        (GOOD, np.array([4.0, 2.0]), {}, TypeError, "window must hold integers"),
        (GOOD, True, {}, TypeError, "window must be an integer"),
        (GOOD, 4, {"method": "soft"}, ValueError, "method must be one of"),
        (GOOD, 4, {"output": "list"}, ValueError, "output must be one of"),
        (GOOD, 4, {"threshold": -1.0}, ValueError, "threshold must be > -1"),
        (GOOD, 4, {"method": "linear", "threshold": 0.0}, ValueError, "threshold must be > 0"),
        (GOOD, 4, {"threshold": float("nan")}, ValueError, "threshold must be finite"),
        (GOOD, 4, {"sigma": 2.0}, ValueError, "sigma only applies"),
        (GOOD, 4, {"method": "gaussian", "sigma": -1.0}, ValueError, "sigma must be >= 0"),
        (GOOD, 4, {"method": "gaussian", "sigma": [1.0]}, ValueError, "sigma must be a scalar or have one"),
        (GOOD, 4, {"method": "linear", "min_weight": 1.5}, ValueError, "min_weight must be <= 1"),
        (GOOD, 4, {"method": "linear", "expansion": -2.0}, ValueError, "expansion must be >= 0"),
    ],
)
def test_bad_input_raises_named_error(scores, window, kw, exc, match):
    with pytest.raises(exc, match=match) as info:
        spotkern.nms(scores, window, **{"method": "hard", **kw})
    assert str(info.value).startswith("nms:")


def test_cpp_backstop_rejects_converted_dtypes():
    from spotkern._ext import ext

    with pytest.raises(TypeError):
        ext().nms_dense(GOOD.astype(np.float16), np.array([4, 4]), np.array([2.0, 2.0]), 0, 0.0, 0.0, 2.0)
    with pytest.raises(ValueError, match="unknown method code 4"):
        ext().nms_dense(GOOD, np.array([4, 4]), np.array([2.0, 2.0]), 4, 0.0, 0.0, 2.0)


def test_large_batch_parallel_path_equals_per_half():
    # 12 x 2000 x 17 cells take the OpenMP path; each half must equal its own (reference-checked) result.
    rng = np.random.default_rng(5)
    s = np.round(rng.random((12, 2000, 17)) * 20).astype(np.float32) / 20  # many ties
    for method, W in [("hard", 6), ("calf", 40), ("linear", 8), ("gaussian", 8)]:
        batched = spotkern.nms(s, W, method=method)
        for b in (0, 7, 11):
            np.testing.assert_array_equal(batched[b], spotkern.nms(np.ascontiguousarray(s[b]), W, method=method))


@pytest.mark.parametrize("method", ["linear", "gaussian"])
def test_soft_long_column_with_ties_matches_reference(method):
    rng = np.random.default_rng(6)
    s = (np.round(rng.random((3000, 1)) * 8) / 8).astype(np.float32)
    np.testing.assert_array_equal(spotkern.nms(s, 8, method=method), nms_ref(s, 8, method=method))


@pytest.mark.parametrize("method, kw", [("linear", {"expansion": 1e300}), ("gaussian", {"sigma": 1e300}),
                                        ("hard", {}), ("calf", {})])
def test_huge_windows_behave_like_the_whole_half(method, kw):
    s = np.random.default_rng(7).random((50, 2)).astype(np.float32)
    W = 2**40 if method in ("hard", "calf") else 8
    out = spotkern.nms(s, W, method=method, **kw)
    np.testing.assert_array_equal(out, nms_ref(s, W, method=method, **kw))


@pytest.mark.parametrize("method", ["hard", "calf"])
@pytest.mark.parametrize("W", [2**63 - 1, 2**63 - 2])
def test_int64_max_window_is_the_whole_half(method, W):
    # Used to overflow (W + 1) / 2 in the CALF window and crash; any W >= 2T covers the column.
    s = np.random.default_rng(8).random((30, 2)).astype(np.float32)
    out = spotkern.nms(s, W, method=method)
    np.testing.assert_array_equal(out, nms_ref(s, 10**4, method=method))
    assert (out > -1).sum() == 2  # one detection per class


@pytest.mark.parametrize("window", [2**63, 2**70, np.uint64(2**64 - 1), np.array([4, 2**64 - 1], np.uint64)])
def test_window_beyond_int64_is_a_named_value_error(window):
    with pytest.raises(ValueError, match="^nms: window must be <= "):
        spotkern.nms(GOOD, window, method="hard")
