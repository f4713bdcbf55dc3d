"""Per-class NMS on every backend (tests/backends.py): spec vectors DA-T7/T8 (dense_anchors.md §7.3-7.5) and
CALF-T11 (calf.md §10.4), every method against the literal spec loops, the sparse form, window edges; then
per backend: the Triton tiles, float64 and long columns against the CPU op, CUDA at training sizes, and on
the CPU torch dispatch, custom-op checks, the parallel path and input errors.

Last, ``nms_sparse`` (columns given sparsely, several windows per call, the tuning search's form): at the
listed frames it equals its reference and the dense op bit for bit, for every method, several windows per
call, soft-NMS parameters, thresholds and the edges (T = 1, no frame, ties, frames 0 and T - 1, a segment
per column, windows 0, beyond T and 2**40); bad input is refused by name, by the op and by the binding.
Its CUDA kernel is the C++ kernel on a host copy (no Triton kernel): the triton-interpreter backend runs
that registration on the host."""
import numpy as np
import pytest
import torch
from backends import ALL, CPU, CUDA, INTERPRETER, backends, param, property_test, run, triton_module
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_vectors import CALF_T11, DA_T7, DA_T8
from strategies import NMS_METHODS, nms_problems

import spotkern
from spotkern._ext import ext
from spotkern.ops.nms import METHOD_CODES, _nms_sparse_impl
from spotkern.reference import detections_ref, nms_ref, nms_sparse_ref

SCORES_T7 = np.float32(DA_T7.scores)[:, None]


def col(values):
    return np.array(values, dtype=np.float32)[:, None]


def nms(backend, scores, window, **kw):
    return run(backend, spotkern.nms, scores, window, **kw)


def assert_matches_reference(backend, got, scores, window, **kw):
    """Bit-exact to the spec loop; on the GPU backends bit-exact to the CPU op, and Gaussian decays within
    1e-6 of the loop (its exp may differ from the kernel's in the last float64 bit)."""
    ref = nms_ref(scores, window, **kw)
    if backend == CPU or kw["method"] != "gaussian":
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=0)
    if backend != CPU:
        np.testing.assert_array_equal(got, spotkern.nms(scores, window, **kw))


# --- spec vectors -----------------------------------------------------------------------------------

@backends()
@pytest.mark.parametrize("W", sorted(DA_T7.hard))
def test_hard_nms_keeps_the_peaks(backend, W):
    """DA-T7, hard NMS with W = 4 and 5 (r = 2)."""
    out = nms(backend, SCORES_T7, W, method="hard")
    assert out.dtype == np.float32 and out.shape == (8, 1)
    np.testing.assert_array_equal(out[:, 0], np.float32(DA_T7.hard[W]))


@backends()
@pytest.mark.parametrize("m", sorted(DA_T7.linear))
def test_soft_linear_nms_decays_neighbours_down_to_min_weight(backend, m):
    """DA-T7, soft linear NMS with m = 0 and 0.5."""
    out = nms(backend, SCORES_T7, 2, method="linear", min_weight=m)
    np.testing.assert_allclose(out[:, 0], DA_T7.linear[m], rtol=1e-6)


@backends()
def test_soft_linear_selection_order_and_tie_goes_to_the_lowest_frame(backend):
    """DA-T7, selection order of the linear m = 0 case."""
    # Spec: selection order 2, 5, 7, 3, 1, 6, then 0 and 4 (both 0.05) -> 0 first.
    frames, classes, scores = nms(backend, SCORES_T7, 2, method="linear", output="sparse")
    assert frames.tolist() == DA_T7.linear_order
    assert classes.tolist() == [0] * 8
    assert scores[6] == scores[7]


@backends()
def test_soft_gaussian_nms_decays_neighbours(backend):
    """DA-T7, soft Gaussian NMS."""
    out = nms(backend, SCORES_T7, 2, method="gaussian")
    np.testing.assert_allclose(out[:, 0], DA_T7.gaussian, atol=1e-6)


@backends()
def test_hard_nms_emits_zero_scores(backend):
    """DA-T8."""
    out = nms(backend, col(DA_T8.scores), DA_T8.window, method="hard")
    assert out[:, 0].tolist() == DA_T8.kept


@backends()
@pytest.mark.parametrize("delta", sorted(CALF_T11.kept))
def test_calf_nms_suppresses_a_window_around_each_peak(backend, delta):
    """CALF-T11, delta = 4 and 5."""
    out = nms(backend, col(CALF_T11.scores), delta, method="calf")
    np.testing.assert_array_equal(out[:, 0], np.float32(CALF_T11.kept[delta]))


@backends()
def test_calf_window_is_half_open_and_hard_is_symmetric(backend):
    # A peak exactly W/2 frames after a stronger one survives CALF's NMS, not the hard NMS.
    s = np.zeros((50, 1), np.float32) - 0.5
    s[10, 0], s[30, 0] = 0.9, 0.5
    assert nms(backend, s, 40, method="calf")[30, 0] == np.float32(0.5)
    assert nms(backend, s, 40, method="hard")[30, 0] == -1


# --- properties against the reference ---------------------------------------------------------------

# The interpreter runs every program on the host (soft NMS one selection at a time): shorter columns and
# fewer examples there and on CUDA (whose training-size comparison is test_cuda_matches_the_cpu_op_...).
SIZES = {CPU: {}, INTERPRETER: dict(max_B=2, max_T=60), CUDA: dict(max_B=2, max_T=60)}
HARD = {CPU: dict(max_T=300), INTERPRETER: SIZES[INTERPRETER], CUDA: SIZES[CUDA]}


@property_test(lambda b: st.tuples(nms_problems(("hard", "calf"), **HARD[b]),
                                   st.sampled_from([None, 0.3, -0.5, -0.75, 0.2, 0.5])),
               examples={INTERPRETER: 20, CUDA: 20})
def test_hard_and_calf_match_reference(backend, case):
    (method, s, window), threshold = case
    got = nms(backend, s, window, method=method, threshold=threshold)
    assert_matches_reference(backend, got, s, window, method=method, threshold=threshold)


@property_test(lambda b: st.tuples(nms_problems(("linear", "gaussian"), **SIZES[b]),
                                   st.sampled_from([0.0, 0.25, 0.3, 1.0]), st.sampled_from([None, 0.2]),
                                   st.sampled_from([2.0, 1.5, 1.0, 0.5, 0.0])),
               examples={CPU: 40, INTERPRETER: 15, CUDA: 15})
def test_soft_matches_reference_bit_exactly(backend, case):
    (method, s, window), m, threshold, expansion = case
    kw = dict(method=method, threshold=threshold, min_weight=m)
    if method == "linear":
        kw["expansion"] = expansion
    assert_matches_reference(backend, nms(backend, s, window, **kw), s, window, **kw)


@property_test(lambda b: st.tuples(st.integers(1, 80 if b == CPU else 30),
                                   st.lists(st.one_of(st.floats(0.0, 7.0), st.sampled_from([0.0, 0.5, 1.3, 3.0])),
                                            min_size=2, max_size=2), st.integers(0, 2**31)),
               examples={CPU: 20, INTERPRETER: 10, CUDA: 10})
def test_gaussian_per_class_sigma(backend, case):
    T, sigmas, seed = case
    s = np.random.default_rng(seed).random((T, 2)).astype(np.float32)
    kw = dict(method="gaussian", sigma=sigmas)
    assert_matches_reference(backend, nms(backend, s, 4, **kw), s, 4, **kw)


@property_test(lambda b: nms_problems(max_T=60 if b == CPU else 30, **({} if b == CPU else {"max_B": 2})),
               examples={INTERPRETER: 20, CUDA: 20})
def test_sparse_is_the_sorted_dense(backend, case):
    method, s, window = case
    dense, sparse = nms(backend, s, window, method=method, output="both")
    expected = detections_ref(dense)
    assert len(sparse) == (4 if s.ndim == 3 else 3)
    for got, want in zip(sparse, expected):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    assert_matches_reference(backend, dense, s, window, method=method)


@backends()
def test_windows_zero_and_one_keep_every_frame_at_or_above_threshold(backend):
    s = np.array([[0.5], [0.5], [-0.2], [0.0]], np.float32)
    for W in (0, 1):
        assert nms(backend, s, W, method="hard")[:, 0].tolist() == [0.5, 0.5, -1, 0]


@backends()
def test_window_larger_than_T_keeps_the_first_maximum_only(backend):
    s = col([0.2, 0.7, 0.1, 0.7])
    assert nms(backend, s, 100, method="hard")[:, 0].tolist() == [-1, pytest.approx(0.7), -1, -1]


@backends()
def test_all_negative_scores_give_nothing(backend):
    s = -np.random.default_rng(1).random((100, 3)).astype(np.float32) - 0.01
    for method in NMS_METHODS:
        assert (nms(backend, s, 6, method=method) == -1).all()


# The Triton launcher used to return views of one index tensor for 0 or 1 detection (``kept[:, 1].contiguous()``
# is ``kept[:, 1]`` itself then), which the custom op's aliasing check refused with a RuntimeError.
@backends()
@pytest.mark.parametrize("scores, kept", [
    (-np.random.default_rng(1).random((100, 3)) - 0.01, 0),  # all negative: nothing
    (np.zeros((0, 2)), 0),  # no frame
    (np.array([[0.5], [-0.5]]), 1),  # one detection
    (np.full((2, 6, 1), -0.5), 0),  # a batch without detections
], ids=["all-negative", "empty", "one", "batch-of-nothing"])
def test_sparse_with_no_or_one_detection(backend, scores, kept):
    scores = scores.astype(np.float32)
    for method in NMS_METHODS if scores.shape[-2] else ("hard", "calf"):
        sparse = nms(backend, scores, 6, method=method, output="sparse")
        assert len(sparse) == scores.ndim + 1 and all(len(part) == kept for part in sparse)
        for got, want in zip(sparse, detections_ref(nms_ref(scores, 6, method=method))):
            np.testing.assert_array_equal(got, want)


@backends()
def test_empty_inputs(backend):
    assert nms(backend, np.zeros((0, 3), np.float32), 4, method="hard").shape == (0, 3)
    assert nms(backend, np.zeros((2, 5, 0), np.float32), 4, method="hard").shape == (2, 5, 0)


@backends(CPU, CUDA)
def test_long_column_ramps_and_plateaus_match_reference(backend):
    rng = np.random.default_rng(3)
    s = np.concatenate([np.linspace(0, 1, 700), np.full(300, 0.5), np.linspace(1, 0, 500), rng.random(500)])
    s = np.stack([s, s[::-1]], axis=1).astype(np.float32)
    for method, W in [("hard", 40), ("hard", 6), ("calf", 40), ("calf", 7)]:
        assert_matches_reference(backend, nms(backend, s, W, method=method), s, W, method=method)
    for method in ("linear", "gaussian"):
        short = np.ascontiguousarray(s[:400])
        assert_matches_reference(backend, nms(backend, short, 8, method=method), short, 8, method=method)


# The Triton launcher used to list the linear decay weights up to ceil(expansion * W / 2) before capping the
# reach at T (expansion = 1e300 never returned), and to pass hard/CALF reaches beyond int32 (W = 2**40) to
# the kernel, which truncated them.
@pytest.mark.parametrize("backend, method, kw", [
    *(param(b, "linear", {"expansion": 1e300}, id=f"linear-{b}") for b in ALL),
    *(param(b, m, kw, id=f"{m}-{b}") for b in ALL for m, kw in (("gaussian", {"sigma": 1e300}), ("hard", {}),
                                                                  ("calf", {})))])
def test_huge_windows_behave_like_the_whole_half(backend, method, kw):
    s = np.random.default_rng(7).random((50, 2)).astype(np.float32)
    W = 2**40 if method in ("hard", "calf") else 8
    assert_matches_reference(backend, nms(backend, s, W, method=method, **kw), s, W, method=method, **kw)


@backends()
@pytest.mark.parametrize("method", ["hard", "calf"])
@pytest.mark.parametrize("W", [2**63 - 1, 2**63 - 2])
def test_int64_max_window_is_the_whole_half(backend, method, W):
    # Used to overflow (W + 1) / 2 in the CALF window and crash; any W >= 2T covers the column.
    s = np.random.default_rng(8).random((30, 2)).astype(np.float32)
    out = nms(backend, s, W, method=method)
    np.testing.assert_array_equal(out, nms_ref(s, 10**4, method=method))
    assert (out > -1).sum() == 2  # one detection per class


# --- the Triton kernels: tiles, long columns, float64; CUDA at training sizes -------------------------

@backends(INTERPRETER)
def test_tiles_follow_the_problem(backend):
    knms = triton_module("nms")
    assert knms._tile(224) == (32, 8)
    assert knms._tile(5400) == (32, 256)
    assert knms._tile(200_000)[1] <= 256


@backends(INTERPRETER)
def test_detections_of_one_half_are_batch_zero(backend):
    """The detections kernel always writes a batch column; for a (T, C) half it is all zeros."""
    knms = triton_module("nms")
    dense = torch.from_numpy(nms(CPU, np.random.default_rng(2).random((30, 3)).astype(np.float32), 4, method="hard"))
    got = knms.nms_detections_triton(dense)
    ref = detections_ref(dense.numpy())
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g.numpy(), r)
    np.testing.assert_array_equal(got[3].numpy(), np.zeros(len(ref[0]), np.int64))


@backends(INTERPRETER, CUDA)
@pytest.mark.parametrize("method, W, T", [("hard", 40, 1200), ("calf", 40, 1200), ("linear", 8, 200)])
def test_long_column_uses_many_tiles(backend, method, W, T):
    """Up to 38 tiles of 32 frames, windows spanning tile boundaries (soft NMS emits nearly every
    frame, one interpreted selection each: a shorter column)."""
    scores = np.random.default_rng(1).random((T, 1)).astype(np.float32)
    np.testing.assert_array_equal(nms(backend, scores, W, method=method), spotkern.nms(scores, W, method=method))


@property_test(lambda b: st.tuples(st.integers(1, 70), st.integers(2, 12), st.integers(0, 2**31),
                                   st.sampled_from(NMS_METHODS)),
               examples={INTERPRETER: 25, CUDA: 25}, names=(INTERPRETER, CUDA))
def test_float64_scores_equal_the_cpu_op_bit_for_bit(backend, case):
    T, W, seed, method = case
    s = np.round(np.random.default_rng(seed).random((T, 2)) * 8) / 8 + 1e-9  # ties, and values float32 cannot hold
    got = nms(backend, s, W, method=method)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, spotkern.nms(s, W, method=method))


@backends(CUDA)
@settings(max_examples=25)
@given(T=st.integers(1, 600), seed=st.integers(0, 2**16), method=st.sampled_from(NMS_METHODS), W=st.integers(2, 50))
def test_cuda_matches_the_cpu_op_at_training_sizes(backend, T, seed, method, W):
    g = torch.Generator().manual_seed(seed)
    scores = torch.round(torch.rand(T, 17, generator=g) * 50) / 50  # plateaus of equal scores
    dense, sparse = nms(backend, scores, W, method=method, output="both")
    cpu_dense, cpu_sparse = spotkern.nms(scores, W, method=method, output="both")
    np.testing.assert_array_equal(dense, cpu_dense)
    for got, want in zip(sparse, cpu_sparse):
        np.testing.assert_array_equal(got, want)


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


@pytest.mark.parametrize("window", [2**63, 2**70, np.uint64(2**64 - 1), np.array([4, 2**64 - 1], np.uint64)])
def test_window_beyond_int64_is_a_named_value_error(window):
    with pytest.raises(ValueError, match="^nms: window must be <= "):
        spotkern.nms(GOOD, window, method="hard")


# --- nms_sparse: columns given sparsely, several windows per call -------------------------------------

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


def nms_sparse(backend, *args, **kw):
    return run(backend, spotkern.nms_sparse, *args, **kw)


@property_test(lambda b: st.tuples(nms_problems(max_T=80 if b == CPU else 40), st.sampled_from(["low", "mid", "high"]),
                                   st.lists(st.integers(0, 90), min_size=1, max_size=4),
                                   st.sampled_from([0.0, 0.25, 0.9]), st.sampled_from([2.0, 0.5, 1.0, 7.5]),
                                   st.sampled_from(["float32", "float64"])),
               examples={INTERPRETER: 15, CUDA: 15})
def test_sparse_input_equals_its_reference_and_the_dense_op_at_the_listed_frames(backend, case):
    (method, scores, _), thr_kind, windows, min_weight, expansion, dtype = case
    if scores.shape[-2] == 0:  # T = 0: the sparse form needs T >= 1 (test_sparse_input_bad_scalars_...)
        scores = np.zeros((1, 1, scores.shape[-1]), np.float32)
    scores = scores.reshape((-1,) + scores.shape[-2:]).astype(dtype)
    T = scores.shape[1]
    is_soft = method in ("linear", "gaussian")
    thr = {"low": 1e-5 if is_soft else -0.5, "mid": 0.3, "high": 0.95}[thr_kind]
    windows = [max(w, 2) if method == "calf" else w for w in windows]
    kw = {"min_weight": min_weight} if is_soft else {}
    if method == "linear":
        kw["expansion"] = expansion
    seg, fr, vals = listed(scores, thr)
    got = nms_sparse(backend, vals, seg, fr, T, windows, method=method, threshold=thr, **kw)
    assert got.shape == (len(windows), len(vals)) and got.dtype == scores.dtype
    np.testing.assert_array_equal(got, nms_sparse_ref(vals, seg, fr, T, windows, method=method, threshold=thr, **kw))
    for k, w in enumerate(windows):
        want, nothing_else = dense_at(scores, w, method, thr, seg, fr, **kw)
        np.testing.assert_array_equal(got[k], want)
        assert nothing_else  # a frame below the threshold is never kept, so listing only the others loses nothing


@backends()
@pytest.mark.parametrize("method", ["hard", "calf", "linear", "gaussian"])
@pytest.mark.parametrize("window", [2, 3, 8, 2**40])
def test_sparse_input_edges_one_frame_ties_and_both_ends(backend, method, window):
    T = 7
    scores = np.zeros((3, T, 1), np.float32)
    scores[0, [0, T - 1], 0] = 0.5  # a tie at both ends
    scores[1, 0, 0] = 0.9  # a single frame at 0
    scores[2, :, 0] = 0.5  # a plateau
    thr = 0.1
    seg, fr, vals = listed(scores, thr)
    got = nms_sparse(backend, vals, seg, fr, T, [window], method=method, threshold=thr)[0]
    want, nothing_else = dense_at(scores, window, method, thr, seg, fr)
    np.testing.assert_array_equal(got, want)
    assert nothing_else
    one = nms_sparse(backend, np.float32([0.7]), np.int64([0]), np.int64([0]), 1,
                     [window, 0 if method != "calf" else 2], method=method, threshold=thr)
    np.testing.assert_array_equal(one, np.float32([[0.7], [0.7]]))


@backends()
@pytest.mark.parametrize("method", ["hard", "linear"])
def test_sparse_input_with_no_frame_or_no_window_is_empty(backend, method):
    out = nms_sparse(backend, np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64), 10, [4, 6],
                     method=method, threshold=0.1)
    assert out.shape == (2, 0)
    out = nms_sparse(backend, np.float32([0.5]), np.int64([0]), np.int64([3]), 10, [], method=method, threshold=0.1)
    assert out.shape == (0, 1)


@backends()
def test_sparse_input_segments_never_interact(backend):
    """Two segments whose frames are adjacent in the kernel's walk would suppress each other if its stride
    were short."""
    T = 5
    vals = np.float32([0.9, 0.8])
    got = nms_sparse(backend, vals, np.int64([0, 1]), np.int64([T - 1, 0]), T, [2**40], method="hard", threshold=0.1)
    np.testing.assert_array_equal(got, vals[None, :])
    got = nms_sparse(backend, vals, np.int64([0, 1]), np.int64([T - 1, 0]), T, [1000], method="gaussian",
                     threshold=0.1)
    np.testing.assert_array_equal(got, vals[None, :])


@pytest.mark.parametrize("method", ["hard", "calf", "linear", "gaussian"])
@pytest.mark.parametrize("seed", range(4))
def test_sparse_input_halves_shorter_than_T_equal_each_halfs_own_op(method, seed):
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
    got = spotkern.nms_sparse(vals, seg, fr, max(lengths), windows, method=method, threshold=thr)
    for k, w in enumerate(windows):
        want = np.concatenate([spotkern.nms(h[:, None], w, method=method, threshold=thr)[h >= thr, 0] for h in halves])
        np.testing.assert_array_equal(got[k], want)


def test_sparse_input_tensors_int32_and_strided_views_equal_numpy():
    g = np.random.default_rng(3)
    seg, fr = np.int64([0, 0, 0, 2, 2]), np.int64([0, 3, 4, 1, 6])
    vals = g.random(10).astype(np.float32)[::2]  # a strided view, copied once
    want = spotkern.nms_sparse(np.ascontiguousarray(vals), seg, fr, 8, [2, 6], method="linear", min_weight=0.3)
    got = spotkern.nms_sparse(torch.from_numpy(np.ascontiguousarray(vals)), torch.from_numpy(seg.astype(np.int32)),
                              torch.from_numpy(fr), 8, torch.tensor([2, 6]), method="linear", min_weight=0.3)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(spotkern.nms_sparse(vals, seg.astype(np.int32), fr, 8, np.int64([2, 6]),
                                                      method="linear", min_weight=0.3), want)
    grad = torch.from_numpy(np.ascontiguousarray(vals)).requires_grad_()
    out = spotkern.nms_sparse(grad, torch.from_numpy(seg), torch.from_numpy(fr), 8, [2, 6], method="linear",
                              min_weight=0.3)
    assert not out.requires_grad


def test_sparse_input_gaussian_sigma_per_window_matches_reference():
    vals, seg, fr = np.float32([0.9, 0.7, 0.8, 0.6]), np.int64([0, 0, 0, 1]), np.int64([2, 3, 5, 0])
    got = spotkern.nms_sparse(vals, seg, fr, 9, [4, 4, 6], method="gaussian", sigma=[0.5, 3.0, 0.0])
    want = nms_sparse_ref(vals, seg, fr, 9, [4, 4, 6], method="gaussian", sigma=[0.5, 3.0, 0.0])
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got[0], got[1])  # the sigma reached the kernel


def test_sparse_input_opcheck_and_unchecked_path_traces_fullgraph():
    v, s, f = torch.tensor([0.5, 0.6, 0.2]), torch.tensor([0, 0, 1]), torch.tensor([1, 3, 0])
    for code in range(4):
        torch.library.opcheck(torch.ops.spotkern.nms_sparse.default,
                              (v, s, f, 5, [2, 4], [1.0, 2.0], code, 1e-5, 0.0, 2.0))

    def step(v, s, f):
        return _nms_sparse_impl(v, s, f, 5, [2, 4], [1.0, 2.0], METHOD_CODES["gaussian"], 1e-5, 0.0, 2.0) * 2

    torch.testing.assert_close(torch.compile(step, fullgraph=True, backend="eager")(v, s, f), step(v, s, f))


SPARSE_GOOD = dict(values=np.float32([0.5, 0.6]), segments=np.int64([0, 0]), frames=np.int64([1, 3]), T=5,
                   windows=[2])


@pytest.mark.parametrize("change, kw, exc, match", [
    ({"values": np.float16([0.5, 0.6])}, {}, TypeError, "values must have dtype"),
    ({"values": [0.5, 0.6]}, {}, TypeError, "values must be"),
    ({"frames": np.float32([1, 3])}, {}, TypeError, "frames must have dtype"),
    ({"segments": torch.tensor([0, 0])}, {}, TypeError,
     "values, segments, frames must all be numpy arrays or all torch tensors"),
    ({"values": np.float32([[0.5, 0.6]])}, {}, ValueError, "values must have 1 dimensions"),
    ({"values": np.float32([0.5])}, {}, ValueError, "values, segments and frames must have equal lengths"),
    ({"T": 0}, {}, ValueError, "T must be >= 1"),
    ({"T": 2**31}, {}, ValueError, "T must be <= 2147483647"),
    ({"T": 5.0}, {}, TypeError, "T must be an integer"),
    ({"windows": 4}, {}, TypeError, "windows must be a sequence"),
    ({"windows": [-1]}, {}, ValueError, "windows must be >= 0"),
    ({"windows": [1]}, {"method": "calf"}, ValueError, "windows must be >= 2"),
    ({"windows": [2**63]}, {}, ValueError, "windows must be <= "),
    ({"windows": [2.5]}, {}, TypeError, "windows must be an integer"),
    ({"windows": np.int64([[2]])}, {}, ValueError, "windows must be 1-D"),
    ({}, {"method": None}, TypeError, "method is required"),
    ({}, {"method": "soft"}, ValueError, "method must be one of"),
    ({}, {"threshold": -1.0}, ValueError, "threshold must be"),
    ({}, {"method": "linear", "threshold": 0.0}, ValueError, "threshold must be"),
    ({}, {"min_weight": 1.5}, ValueError, "min_weight must be"),
    ({}, {"expansion": float("nan")}, ValueError, "expansion must be"),
    ({}, {"sigma": 1.0}, ValueError, "sigma only applies to method 'gaussian'"),
    ({}, {"method": "gaussian", "sigma": [1.0, 2.0]}, ValueError, "sigma must be a scalar or .* per window"),
    ({}, {"method": "gaussian", "sigma": -1.0}, ValueError, "sigma must be >= 0"),
    # value checks: the kernel's own pass, same "nms_sparse: <argument>" messages
    ({"frames": np.int64([3, 1])}, {}, ValueError, r"\(segments, frames\) must be strictly increasing"),
    ({"frames": np.int64([1, 5])}, {}, ValueError, r"frames must lie in \[0, T\)"),
    ({"segments": np.int64([-1, -1])}, {}, ValueError, "segments must lie in"),
    ({"values": np.float32([np.nan, 0.6])}, {}, ValueError, "values contains NaN or infinite values"),
])
def test_sparse_input_bad_scalars_arrays_and_values_are_refused_by_name(change, kw, exc, match):
    args = {**SPARSE_GOOD, **change}
    kw = {"method": "hard", **kw}
    with pytest.raises(exc, match="^nms_sparse: " + match):
        spotkern.nms_sparse(args["values"], args["segments"], args["frames"], args["T"], args["windows"], **kw)


def _binding_args():
    return dict(values=np.float32([0.5, 0.6]), segments=np.int64([0, 0]), frames=np.int64([1, 3]), T=5,
                windows=np.int64([2]), sigmas=np.float64([1.0]), method=0, threshold=0.1, min_weight=0.0,
                expansion=2.0)


@pytest.mark.parametrize("change, match", [
    ({"frames": np.int64([1, 1])}, r"\(segments, frames\) must be strictly increasing"),
    ({"segments": np.int64([1, 0])}, r"\(segments, frames\) must be strictly increasing"),
    ({"frames": np.int64([-1, 3])}, r"frames must lie in \[0, T\)"),
    ({"segments": np.int64([0, 2**61])}, "segments must lie in"),
    ({"values": np.float32([0.5])}, "values, segments and frames must have equal lengths"),
    ({"windows": np.int64([-1])}, "windows must be >= 0"),
    ({"windows": np.int64([1]), "method": 1}, "windows must be >= 2 for method 'calf'"),
    ({"sigmas": np.float64([1.0, 2.0])}, "windows and sigmas must be 1-D of equal lengths"),
    ({"T": 0}, r"T must be in \[1, 2\^31 - 1\]"),
    ({"method": 7}, "unknown method code 7"),
])
def test_sparse_input_binding_backstop_refuses_by_name(change, match):
    args = {**_binding_args(), **change}
    with pytest.raises(ValueError, match="nms_sparse: " + match):
        ext().nms_sparse(**args)


def test_sparse_input_binding_refuses_a_wrong_dtype_instead_of_converting():
    args = _binding_args()
    args["frames"] = args["frames"].astype(np.int32)
    with pytest.raises(TypeError):
        ext().nms_sparse(**args)
