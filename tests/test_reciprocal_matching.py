"""CALF reciprocal matching on every backend (tests/backends.py): spec vectors CALF-T9/T10 (calf.md §6),
properties against both oracles (proposal rounds; masked one-hot/argmax) and, for the optimal option,
brute force; then per backend: the Triton kernel's slot limit, CUDA against the CPU op at training sizes,
and on the CPU the parallel path, torch dispatch, custom-op checks and input errors."""
import itertools

import numpy as np
import pytest
import torch
from backends import CPU, CUDA, INTERPRETER, backends, property_test, run
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from spec_vectors import CALF_T9, CALF_T9_CASE3_OPTIMAL, CALF_T10
from strategies import matching_batches

import spotkern
from spotkern.reference import reciprocal_matching_masked_ref, reciprocal_matching_ref

f32 = np.float32
MAX_TRITON_SLOTS = 64  # spotkern/triton/reciprocal_matching.py MAX_SLOTS: the (N, N) tile in registers


def arrays(x, a, p):
    return np.array(x, f32), np.array(a, bool), np.array(p, f32)


def matching(backend, x, a, p, method="calf"):
    return run(backend, spotkern.reciprocal_matching, x, a, p, method=method)


# --- spec vectors -----------------------------------------------------------------------------------

@backends()
@pytest.mark.parametrize("case", range(len(CALF_T9)))
@pytest.mark.parametrize("presence_dtype", [bool, f32])
def test_rows_take_their_nearest_free_column_and_padding_takes_the_rest(backend, case, presence_dtype):
    """CALF-T9, each case."""
    x, a, p, expected = CALF_T9[case]
    x, a, p = arrays(x, a, p)
    perm = matching(backend, x[None], a.astype(presence_dtype)[None], p[None])
    assert perm.dtype == np.int64 and perm.shape == (1, len(x))
    assert perm[0].tolist() == expected


@pytest.mark.parametrize("case", range(len(CALF_T9)))
def test_the_oracles_agree_with_the_spec_cases(case):
    """CALF-T9."""
    x, a, p, expected = CALF_T9[case]
    x, a, p = arrays(x, a, p)
    assert reciprocal_matching_ref(x, a, p).tolist() == expected
    masked = reciprocal_matching_masked_ref(*(torch.from_numpy(v[None]) for v in (x, a, p)))
    assert masked[0].tolist() == expected


@backends()
def test_matching_step_of_the_spotting_loss_example(backend):
    """CALF-T10's matching."""
    y_true, y_pred = np.array(CALF_T10.y_true[0], f32), np.array(CALF_T10.y_pred[0], f32)
    perm = matching(backend, np.ascontiguousarray(y_true[:, 1]), np.ascontiguousarray(y_true[:, 0]),
                    np.ascontiguousarray(y_pred[:, 1]))
    assert perm.tolist() == CALF_T10.perm


@backends()
def test_reciprocal_matching_is_not_optimal(backend):
    """CALF-T9 case 3."""
    x, a, p = arrays(*CALF_T9[2][:3])
    assert matching(backend, x, a, p, "optimal").tolist() == CALF_T9_CASE3_OPTIMAL
    assert matching(backend, x, a, p).tolist() == CALF_T9[2][3]


@backends()
def test_cases_in_one_batch_match_as_alone(backend):
    """CALF-T9 cases 1 and 2."""
    # Cases 1 and 2 have N = 4 and can share one call.
    x, a, p = (np.stack([np.array(CALF_T9[k][j], dtype) for k in (0, 1)])
               for j, dtype in ((0, f32), (1, bool), (2, f32)))
    assert matching(backend, x, a, p).tolist() == [CALF_T9[0][3], CALF_T9[1][3]]


# --- properties -----------------------------------------------------------------------------------

def is_permutation(perm):
    N = perm.shape[-1]
    return (np.sort(perm, axis=-1) == np.arange(N)).all()


# The interpreter runs every program on the host: smaller batches and fewer examples there and on CUDA
# (whose training-size comparison is test_cuda_matches_the_cpu_op_at_training_sizes).
SMALL = {CPU: {}, INTERPRETER: dict(max_B=3), CUDA: dict(max_B=3)}
FEW = {INTERPRETER: 30, CUDA: 30}


@property_test(lambda b: st.tuples(matching_batches(**SMALL[b]), st.sampled_from([bool, f32])), examples=FEW)
def test_calf_matches_proposal_round_reference(backend, case):
    (x, real, p), presence_dtype = case
    perm = matching(backend, x, real.astype(presence_dtype), p)
    assert perm.shape == x.shape and perm.dtype == np.int64
    np.testing.assert_array_equal(perm, reciprocal_matching_ref(x, real, p))
    assert is_permutation(perm)


@property_test(lambda b: matching_batches(max_B=3, max_N=MAX_TRITON_SLOTS), examples={CPU: 15, CUDA: 15},
               names=(CPU, CUDA))
def test_calf_matches_reference_up_to_n64(backend, case):
    x, real, p = case
    np.testing.assert_array_equal(matching(backend, x, real, p), reciprocal_matching_ref(x, real, p))


@property_test(lambda b: matching_batches(**SMALL[b]), examples={INTERPRETER: 10, CUDA: 10})
def test_calf_matches_masked_reference_outside_the_degenerate_case(backend, case):
    x, real, p = case
    sim = f32(1) - np.abs(x[:, :, None] - p[:, None, :])
    keep = ~(sim == 0).any(axis=(1, 2))  # calf.md section 6, "Degenerate case"
    assume(keep.any())
    perm = matching(backend, x, real, p)
    masked = reciprocal_matching_masked_ref(torch.from_numpy(x), torch.from_numpy(real), torch.from_numpy(p))
    np.testing.assert_array_equal(perm[keep], masked.numpy()[keep])


@backends()
@pytest.mark.parametrize("x, real, p, expected", [
    ([0.3, 0.0, 0.0], [True, False, False], [0.3, 1.0, 1.0], [0, 1, 2]),
    ([0.0, 0.0, 0.0], [False, False, False], [1.0, 1.0, 1.0], [0, 1, 2]),  # every row padded
], ids=["one-real-row", "all-padded"])
def test_degenerate_similarity_zero_is_still_a_permutation(backend, x, real, p, expected):
    """A prediction saturated at 1.0 against a padded row at 0.0 has similarity exactly 0 (calf.md
    section 6, degenerate case); explicit masks still give a permutation."""
    x, real, p = np.array([x], f32), np.array([real]), np.array([p], f32)
    perm = matching(backend, x, real, p)
    assert perm[0].tolist() == expected
    np.testing.assert_array_equal(perm, reciprocal_matching_ref(x, real, p))


@backends()
def test_similarity_is_float32(backend):
    """calf.md section 6: sim = 1 - |x - p| in float32. 2e-8 and 1e-8 both give sim 1.0 against 0.0
    (and the same sim against 0.9), so both rows propose to column 0 and row 0 wins it; in float64
    row 0 would prefer column 1 and the result would be [1, 0]."""
    x = np.array([[0.0, 0.9]], f32)
    real = np.array([[True, True]])
    p = np.array([[2e-8, 1e-8]], f32)
    assert matching(backend, x, real, p).tolist() == [[0, 1]]
    assert reciprocal_matching_ref(x, real, p).tolist() == [[0, 1]]
    masked = reciprocal_matching_masked_ref(torch.from_numpy(x), torch.from_numpy(real), torch.from_numpy(p))
    assert masked.tolist() == [[0, 1]]


@backends()
def test_positions_outside_unit_interval_still_give_a_permutation(backend):
    x = np.array([[-5.0, 3.0, 0.5, 0.0]], f32)
    real = np.array([[True, True, True, False]])
    p = np.array([[7.0, -2.0, 0.5, 9.0]], f32)
    perm = matching(backend, x, real, p)
    assert is_permutation(perm)
    np.testing.assert_array_equal(perm, reciprocal_matching_ref(x, real, p))


@property_test(lambda b: st.tuples(matching_batches(padded_at_zero=True, **SMALL[b]),
                                   st.sampled_from(["calf", "optimal"])), examples={INTERPRETER: 15, CUDA: 15})
def test_padded_rows_take_leftovers_by_ascending_position(backend, case):
    (x, real, p), method = case
    perm = matching(backend, x, real, p, method)
    for b in range(x.shape[0]):
        pad_rows = np.flatnonzero(~real[b])
        left = sorted(set(range(x.shape[1])) - set(perm[b, real[b]].tolist()))
        # Padded rows sit at 0, so similarity 1 - p in float32; ties -> lowest column.
        left.sort(key=lambda j: (-(f32(1) - abs(f32(0) - p[b, j])), j))
        assert perm[b, pad_rows].tolist() == left


def brute_force_cost(x, real, p):
    rows = np.flatnonzero(real)
    best = np.inf
    for cols in itertools.permutations(range(len(x)), len(rows)):
        best = min(best, sum(abs(float(x[i]) - float(p[j])) for i, j in zip(rows, cols)))
    return 0.0 if len(rows) == 0 else best


def real_cost(x, real, p, perm):
    return sum(abs(float(x[i]) - float(p[perm[i]])) for i in np.flatnonzero(real))


@property_test(lambda b: matching_batches(max_B=4 if b == CPU else 1, max_N=7 if b == CPU else 6),
               examples={INTERPRETER: 15, CUDA: 15})
def test_optimal_is_minimum_total_distance(backend, case):
    x, real, p = case
    perm = matching(backend, x, real, p, "optimal")
    calf = matching(backend, x, real, p)
    assert is_permutation(perm)
    for b in range(x.shape[0]):
        cost = real_cost(x[b], real[b], p[b], perm[b])
        assert cost <= brute_force_cost(x[b], real[b], p[b]) + 1e-9
        assert cost <= real_cost(x[b], real[b], p[b], calf[b]) + 1e-9


@property_test(lambda b: matching_batches(max_B=2, max_N=MAX_TRITON_SLOTS), examples={CPU: 20, CUDA: 20},
               names=(CPU, CUDA))
def test_optimal_never_worse_than_calf_up_to_n64(backend, case):
    x, real, p = case
    perm = matching(backend, x, real, p, "optimal")
    calf = matching(backend, x, real, p)
    assert is_permutation(perm)
    for b in range(x.shape[0]):
        assert real_cost(x[b], real[b], p[b], perm[b]) <= real_cost(x[b], real[b], p[b], calf[b]) + 1e-9


@property_test(lambda b: matching_batches(max_B=3), examples={INTERPRETER: 25, CUDA: 25}, names=(INTERPRETER, CUDA))
def test_optimal_equals_the_cpu_op(backend, case):
    """The float64 Hungarian method in the same operation order as the C++ kernel: the same ties."""
    x, real, p = case
    np.testing.assert_array_equal(matching(backend, x, real, p, "optimal"),
                                  spotkern.reciprocal_matching(x, real, p, method="optimal"))


@backends()
def test_optimal_on_fixed_case(backend):
    # Greedy/CALF picks 0.4 -> 0.41 first; the optimum shifts both rows.
    x, real, p = arrays([0.4, 0.45, 0.0], [1, 1, 0], [0.41, 0.9, 0.5])
    assert matching(backend, x, real, p, "optimal").tolist() == [0, 2, 1]


@backends()
def test_largest_triton_slot_count_matches_reference(backend):
    rng = np.random.default_rng(3)
    n = MAX_TRITON_SLOTS
    x = rng.random((2, n)).astype(f32)
    real = rng.random((2, n)) < 0.5
    p = rng.random((2, n)).astype(f32)
    np.testing.assert_array_equal(matching(backend, x, real, p), reciprocal_matching_ref(x, real, p))


# --- the Triton kernel's slot limit and CUDA at training sizes ------------------------------------

@backends(INTERPRETER, CUDA)
def test_slot_count_beyond_the_triton_limit_is_a_named_error(backend):
    """The kernel keeps an (N, N) tile in registers: N above its limit is refused, not miscompiled."""
    x = np.zeros((1, MAX_TRITON_SLOTS + 1), f32)
    with pytest.raises(ValueError, match=r"^reciprocal_matching: N = 65 slots exceeds"):
        matching(backend, x, np.ones(x.shape, bool), x)


@backends(CUDA)
@settings(max_examples=25)
@given(B=st.integers(1, 64), N=st.integers(1, 64), seed=st.integers(0, 2**16),
       method=st.sampled_from(["calf", "optimal"]))
def test_cuda_matches_the_cpu_op_at_training_sizes(backend, B, N, seed, method):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(B, N, generator=g)
    pres = (torch.rand(B, N, generator=g) < 0.5).float()
    pred = torch.round(torch.rand(B, N, generator=g) * 20) / 20  # ties
    np.testing.assert_array_equal(matching(backend, gt, pres, pred, method),
                                  spotkern.reciprocal_matching(gt, pres, pred, method=method))


# --- CPU: the parallel path -----------------------------------------------------------------------

@pytest.mark.parametrize("method", ["calf", "optimal"])
def test_large_batch_runs_in_parallel_and_matches_per_chunk_calls(rng, method):
    B, N = 2000, 15  # B * N * N above the kernel's OpenMP threshold
    x = rng.random((B, N), dtype=f32)
    real = rng.random((B, N)) < 0.5
    p = rng.random((B, N), dtype=f32)
    perm = spotkern.reciprocal_matching(x, real, p, method=method)
    assert is_permutation(perm)
    for b in range(0, B, 97):
        np.testing.assert_array_equal(perm[b], spotkern.reciprocal_matching(x[b], real[b], p[b], method=method))
    if method == "calf":
        np.testing.assert_array_equal(perm[:40], reciprocal_matching_ref(x[:40], real[:40], p[:40]))


# --- torch ----------------------------------------------------------------------------------------

def t9_tensors():
    x, a, p = arrays(*CALF_T9[0][:3])
    return torch.from_numpy(x[None]), torch.from_numpy(a[None]), torch.from_numpy(p[None])


def test_torch_input_returns_tensor_equal_to_numpy():
    x, a, p = t9_tensors()
    for presence in (a, a.float()):
        perm = spotkern.reciprocal_matching(x, presence, p)
        assert isinstance(perm, torch.Tensor) and perm.dtype == torch.int64 and perm.tolist() == [CALF_T9[0][3]]
    single = spotkern.reciprocal_matching(x[0], a[0], p[0], method="optimal")
    assert single.shape == (4,) and single.tolist() == CALF_T9[0][3]


def test_prediction_requiring_grad_gets_gradient_through_the_gather():
    x, a, p = t9_tensors()
    p = p.clone().requires_grad_(True)
    perm = spotkern.reciprocal_matching(x, a, p)
    matched = torch.gather(p, 1, perm)
    ((matched - x) ** 2).sum().backward()
    expected = torch.zeros_like(p)
    expected[0, perm[0]] = 2 * (matched.detach() - x)[0]
    torch.testing.assert_close(p.grad, expected)


def test_opcheck():
    x, a, p = t9_tensors()
    for method in ("calf", "optimal"):
        torch.library.opcheck(torch.ops.spotkern.reciprocal_matching.default, (x, a, p, method))
        torch.library.opcheck(torch.ops.spotkern.reciprocal_matching.default, (x, a.float(), p, method))


def _compiled(backend):
    def f(x, a, p):
        perm = spotkern.reciprocal_matching(x, a, p)
        return torch.gather(p, 1, perm) * 2

    x, a, p = t9_tensors()
    compiled = torch.compile(f, fullgraph=True, backend=backend)
    torch.testing.assert_close(compiled(x, a.float(), p), f(x, a.float(), p))


def test_value_checks_also_run_inside_compiled_graphs():
    """Python skips data checks while tracing; the kernel's own checks still reject NaN at run time."""
    x, a, p = t9_tensors()
    compiled = torch.compile(lambda x, a, p: spotkern.reciprocal_matching(x, a, p), fullgraph=True, backend="eager")
    assert compiled(x, a, p).tolist() == [CALF_T9[0][3]]
    with pytest.raises(ValueError, match="reciprocal_matching: pred_positions contains NaN"):
        compiled(x, a, torch.full_like(p, float("nan")))
    with pytest.raises(ValueError, match="reciprocal_matching: gt_presence must hold only 0 and 1"):
        compiled(x, torch.full_like(p, 0.5), p)


def test_compiles_fullgraph():
    _compiled("eager")


def test_compiles_fullgraph_inductor():
    _compiled("inductor")


# --- bad input ------------------------------------------------------------------------------------

X = np.array([[0.5, 0.1, 0.0]], f32)
A = np.array([[1, 1, 0]], bool)
P = np.array([[0.2, 0.6, 0.9]], f32)


def nan_at(a, i=1):
    a = a.copy()
    a.flat[i] = np.nan
    return a


@pytest.mark.parametrize(
    "x, a, p, method, exc, match",
    [
        (X[None], A[None], P[None], "calf", ValueError, "gt_positions must have 1 or 2 dimensions"),
        (X, A, P[:, :2], "calf", ValueError, "pred_positions must have the shape of gt_positions"),
        (X, A[:, :2], P, "calf", ValueError, "gt_presence must have the shape of gt_positions"),
        (X, A, np.concatenate([P, P]), "calf", ValueError, "pred_positions must have the shape"),
        (nan_at(X), A, P, "calf", ValueError, "gt_positions contains NaN"),
        (X, A, nan_at(P), "calf", ValueError, "pred_positions contains NaN"),
        (X, A, P + np.array([[np.inf, 0, 0]], f32), "optimal", ValueError, "pred_positions contains NaN or infinite"),
        (X.astype(np.float16), A, P, "calf", TypeError, "gt_positions must have dtype float32 or float64"),
        (X, A, P.astype(np.int64), "calf", TypeError, "pred_positions must have dtype float32 or float64"),
        (X, A.astype(np.float16), P, "calf", TypeError, "gt_presence must have dtype bool or uint8"),
        (X, A.astype(np.int64) * 2, P, "calf", ValueError, "gt_presence must hold only 0 and 1"),
        (X, A.astype(np.float64) * 0.5, P, "calf", ValueError, "gt_presence must hold only 0 and 1"),
        (np.zeros((1, 2000), f32), np.ones((1, 2000), f32), np.zeros((1, 2000), f32), "calf", ValueError,
         r"N must be <= 1024 slots \(the matching costs O\(N\^3\)"),
        (X, np.array([[1, 0.5, 0]], f32), P, "calf", ValueError, "gt_presence must hold only 0 and 1"),
        (X, np.array([[1, np.nan, 0]], f32), P, "calf", ValueError, "gt_presence must hold only 0 and 1"),
        (X, np.array([[2, 1, 0]], f32), P, "calf", ValueError, "gt_presence must hold only 0 and 1"),
        (np.zeros((0, 3), f32), np.zeros((0, 3), bool), np.zeros((0, 3), f32), "calf", ValueError,
         "gt_positions must not be empty"),
        (np.zeros((2, 0), f32), np.zeros((2, 0), bool), np.zeros((2, 0), f32), "calf", ValueError,
         "gt_positions must not be empty"),
        (X, A, P, "hungarian", ValueError, "method must be one of"),
        (X.tolist(), A, P, "calf", TypeError, "gt_positions must be a numpy array"),
        (X, torch.from_numpy(A), P, "calf", TypeError, "must all be numpy arrays or all torch tensors"),
    ],
)
def test_bad_input_raises_named_error(x, a, p, method, exc, match):
    with pytest.raises(exc, match=match) as info:
        spotkern.reciprocal_matching(x, a, p, method=method)
    assert str(info.value).startswith("reciprocal_matching:")


def test_bad_tensor_input_raises_named_error():
    x, a, p = t9_tensors()
    with pytest.raises(ValueError, match="reciprocal_matching: pred_positions contains NaN"):
        spotkern.reciprocal_matching(x, a, torch.full_like(p, float("nan")))
    with pytest.raises(TypeError, match="reciprocal_matching: gt_positions must have dtype float32 or float64"):
        spotkern.reciprocal_matching(x.half(), a, p)
    with pytest.raises(ValueError, match="reciprocal_matching: gt_presence must hold only 0 and 1"):
        spotkern.reciprocal_matching(x, torch.full_like(p, 0.5), p)


def test_cpp_backstop_rejects_converted_dtypes_and_bad_shapes():
    from spotkern._ext import ext

    with pytest.raises(TypeError):
        ext().reciprocal_matching(X.astype(np.float64), A, P, 0)
    with pytest.raises(ValueError, match="reciprocal_matching: pred_positions"):
        ext().reciprocal_matching(X, A, P[:, :2], 0)
    with pytest.raises(ValueError, match="reciprocal_matching: unknown method code 2"):
        ext().reciprocal_matching(X, A, P, 2)
    big = np.zeros((1, 1025), np.float32)
    with pytest.raises(ValueError, match="reciprocal_matching: N must be <= 1024"):
        ext().reciprocal_matching(big, big, big, 0)
