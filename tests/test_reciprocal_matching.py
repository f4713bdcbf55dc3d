"""CALF reciprocal matching: spec vector CALF-T9 (calf.md section 12), properties against both
oracles (proposal rounds; masked one-hot/argmax), the optimal option against brute force, torch
dispatch, custom-op checks and input errors."""
import itertools

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import spotkern
from spotkern.reference import reciprocal_matching_masked_ref, reciprocal_matching_ref

f32 = np.float32

# (GT positions, presence, predicted positions, expected perm): calf.md CALF-T9.
T9 = [
    ([0.5, 0.1, 0.0, 0.0], [1, 1, 0, 0], [0.12, 0.9, 0.45, 0.3], [2, 0, 3, 1]),
    ([0.4, 0.4, 0.8, 0.0], [1, 1, 1, 0], [0.7, 0.41, 0.39, 0.05], [1, 2, 0, 3]),
    ([0.50, 0.65], [1, 1], [0.60, 0.95], [1, 0]),
]


def arrays(x, a, p):
    return np.array(x, f32), np.array(a, bool), np.array(p, f32)


# --- spec vector ----------------------------------------------------------------------------------

@pytest.mark.parametrize("case", range(len(T9)))
@pytest.mark.parametrize("presence_dtype", [bool, f32])
def test_calf_t9(case, presence_dtype):
    x, a, p, expected = T9[case]
    x, a, p = arrays(x, a, p)
    perm = spotkern.reciprocal_matching(x[None], a.astype(presence_dtype)[None], p[None])
    assert perm.dtype == np.int64 and perm.shape == (1, len(x))
    assert perm[0].tolist() == expected
    assert reciprocal_matching_ref(x, a, p).tolist() == expected  # the oracles agree with the spec too
    masked = reciprocal_matching_masked_ref(*(torch.from_numpy(v[None]) for v in (x, a, p)))
    assert masked[0].tolist() == expected


def test_calf_t10_matching_step():
    # calf.md CALF-T10: y_true rows (presence, position) = (1, 0.5), (0, 0); predicted positions 0.4, 0.55.
    perm = spotkern.reciprocal_matching(np.array([0.5, 0.0], f32), np.array([1.0, 0.0], f32), np.array([0.4, 0.55], f32))
    assert perm.tolist() == [1, 0]


def test_calf_t9_case3_is_not_optimal():
    x, a, p = arrays(*T9[2][:3])
    assert spotkern.reciprocal_matching(x, a, p, method="optimal").tolist() == [0, 1]
    assert spotkern.reciprocal_matching(x, a, p).tolist() == [1, 0]


def test_calf_t9_cases_in_one_batch():
    # Cases 1 and 2 have N = 4 and can share one call.
    x, a, p = (np.stack([np.array(T9[k][j], dtype) for k in (0, 1)]) for j, dtype in ((0, f32), (1, bool), (2, f32)))
    assert spotkern.reciprocal_matching(x, a, p).tolist() == [T9[0][3], T9[1][3]]


# --- properties -----------------------------------------------------------------------------------

@st.composite
def matching_batches(draw, max_B=64, max_N=20, padded_at_zero=None):
    B = draw(st.integers(1, max_B))
    N = draw(st.integers(1, max_N))
    # A few shared values make coinciding positions (and hence similarity ties) frequent; 0 and 1
    # are the edges of the sigmoid/t-over-L range.
    pool = draw(st.lists(st.floats(0, 1, width=32), min_size=1, max_size=4))
    value = st.one_of(st.sampled_from([0.0, 1.0] + pool), st.floats(0, 1, width=32),
                      st.integers(0, 239).map(lambda t: float(f32(t / 240))))
    x = np.array(draw(st.lists(value, min_size=B * N, max_size=B * N)), f32).reshape(B, N)
    p = np.array(draw(st.lists(value, min_size=B * N, max_size=B * N)), f32).reshape(B, N)
    # 0..N real rows per chunk, anywhere (CALF's targets put them first; the op does not rely on it).
    real = np.array(draw(st.lists(st.booleans(), min_size=B * N, max_size=B * N)), bool).reshape(B, N)
    if draw(st.booleans()):
        real[0] = draw(st.booleans())  # all rows real or all padded in one chunk
    if padded_at_zero if padded_at_zero is not None else draw(st.booleans()):
        x[~real] = 0  # padded rows as CALF's targets have them
    return x, real, p


def is_permutation(perm):
    N = perm.shape[-1]
    return (np.sort(perm, axis=-1) == np.arange(N)).all()


@given(matching_batches())
def test_calf_matches_proposal_round_reference(case):
    x, real, p = case
    perm = spotkern.reciprocal_matching(x, real, p)
    assert perm.shape == x.shape and perm.dtype == np.int64
    np.testing.assert_array_equal(perm, reciprocal_matching_ref(x, real, p))
    assert is_permutation(perm)


@settings(max_examples=15)
@given(matching_batches(max_B=3, max_N=64))
def test_calf_matches_reference_up_to_n64(case):
    x, real, p = case
    np.testing.assert_array_equal(spotkern.reciprocal_matching(x, real, p), reciprocal_matching_ref(x, real, p))


@given(matching_batches())
def test_calf_matches_masked_reference_outside_the_degenerate_case(case):
    x, real, p = case
    sim = f32(1) - np.abs(x[:, :, None] - p[:, None, :])
    keep = ~(sim == 0).any(axis=(1, 2))  # calf.md section 6, "Degenerate case"
    assume(keep.any())
    perm = spotkern.reciprocal_matching(x, real, p)
    masked = reciprocal_matching_masked_ref(torch.from_numpy(x), torch.from_numpy(real), torch.from_numpy(p))
    np.testing.assert_array_equal(perm[keep], masked.numpy()[keep])


def test_degenerate_similarity_zero_is_still_a_permutation():
    # A prediction saturated at 1.0 against padded rows at 0.0: sim = 0 exactly.
    x = np.array([[0.3, 0.0, 0.0]], f32)
    real = np.array([[True, False, False]])
    p = np.array([[0.3, 1.0, 1.0]], f32)
    perm = spotkern.reciprocal_matching(x, real, p)
    assert perm[0].tolist() == [0, 1, 2]
    np.testing.assert_array_equal(perm, reciprocal_matching_ref(x, real, p))


def test_similarity_is_float32():
    """calf.md section 6: sim = 1 - |x - p| in float32. 2e-8 and 1e-8 both give sim 1.0 against 0.0
    (and the same sim against 0.9), so both rows propose to column 0 and row 0 wins it; in float64
    row 0 would prefer column 1 and the result would be [1, 0]."""
    x = np.array([[0.0, 0.9]], f32)
    real = np.array([[True, True]])
    p = np.array([[2e-8, 1e-8]], f32)
    assert spotkern.reciprocal_matching(x, real, p).tolist() == [[0, 1]]
    assert reciprocal_matching_ref(x, real, p).tolist() == [[0, 1]]
    masked = reciprocal_matching_masked_ref(torch.from_numpy(x), torch.from_numpy(real), torch.from_numpy(p))
    assert masked.tolist() == [[0, 1]]


def test_positions_outside_unit_interval_still_give_a_permutation():
    x = np.array([[-5.0, 3.0, 0.5, 0.0]], f32)
    real = np.array([[True, True, True, False]])
    p = np.array([[7.0, -2.0, 0.5, 9.0]], f32)
    perm = spotkern.reciprocal_matching(x, real, p)
    assert is_permutation(perm)
    np.testing.assert_array_equal(perm, reciprocal_matching_ref(x, real, p))


@given(matching_batches(padded_at_zero=True), st.sampled_from(["calf", "optimal"]))
def test_padded_rows_take_leftovers_by_ascending_position(case, method):
    x, real, p = case
    perm = spotkern.reciprocal_matching(x, real, p, method=method)
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


@given(matching_batches(max_B=4, max_N=7))
def test_optimal_is_minimum_total_distance(case):
    x, real, p = case
    perm = spotkern.reciprocal_matching(x, real, p, method="optimal")
    calf = spotkern.reciprocal_matching(x, real, p)
    assert is_permutation(perm)
    for b in range(x.shape[0]):
        cost = real_cost(x[b], real[b], p[b], perm[b])
        assert cost <= brute_force_cost(x[b], real[b], p[b]) + 1e-9
        assert cost <= real_cost(x[b], real[b], p[b], calf[b]) + 1e-9


@settings(max_examples=20)
@given(matching_batches(max_B=2, max_N=64))
def test_optimal_never_worse_than_calf_up_to_n64(case):
    x, real, p = case
    perm = spotkern.reciprocal_matching(x, real, p, method="optimal")
    calf = spotkern.reciprocal_matching(x, real, p)
    assert is_permutation(perm)
    for b in range(x.shape[0]):
        assert real_cost(x[b], real[b], p[b], perm[b]) <= real_cost(x[b], real[b], p[b], calf[b]) + 1e-9


def test_optimal_on_fixed_case():
    # Greedy/CALF picks 0.4 -> 0.41 first; the optimum shifts both rows.
    x, real, p = arrays([0.4, 0.45, 0.0], [1, 1, 0], [0.41, 0.9, 0.5])
    assert spotkern.reciprocal_matching(x, real, p, method="optimal").tolist() == [0, 2, 1]


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
    x, a, p = arrays(*T9[0][:3])
    return torch.from_numpy(x[None]), torch.from_numpy(a[None]), torch.from_numpy(p[None])


def test_torch_input_returns_tensor_equal_to_numpy():
    x, a, p = t9_tensors()
    for presence in (a, a.float()):
        perm = spotkern.reciprocal_matching(x, presence, p)
        assert isinstance(perm, torch.Tensor) and perm.dtype == torch.int64 and perm.tolist() == [T9[0][3]]
    single = spotkern.reciprocal_matching(x[0], a[0], p[0], method="optimal")
    assert single.shape == (4,) and single.tolist() == T9[0][3]


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
    assert compiled(x, a, p).tolist() == [T9[0][3]]
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
