"""Triton matching kernel (spotkern/triton/reciprocal_matching.py) under TRITON_INTERPRET=1:
"calf" against the proposal-round reference, "optimal" against the CPU op and brute force; ties,
equal positions, all-padded and all-real chunks, N = 1."""
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("triton")
pytestmark = pytest.mark.triton
from spotkern.triton import reciprocal_matching as krm  # noqa: E402

import spotkern  # noqa: E402
from spotkern.reference import reciprocal_matching_ref  # noqa: E402

T9 = [
    ([0.5, 0.1, 0.0, 0.0], [1, 1, 0, 0], [0.12, 0.9, 0.45, 0.3], [2, 0, 3, 1]),
    ([0.4, 0.4, 0.8, 0.0], [1, 1, 1, 0], [0.7, 0.41, 0.39, 0.05], [1, 2, 0, 3]),
    ([0.50, 0.65], [1, 1], [0.60, 0.95], [1, 0]),
]


def run(x, a, p, method="calf"):
    return krm.reciprocal_matching(torch.as_tensor(x), torch.as_tensor(a), torch.as_tensor(p), method).numpy()


@pytest.mark.parametrize("case", range(len(T9)))
@pytest.mark.parametrize("presence_dtype", [np.bool_, np.float32])
def test_calf_t9(case, presence_dtype):
    x, a, p, expected = T9[case]
    perm = run(np.array([x], np.float32), np.array([a], presence_dtype), np.array([p], np.float32))
    assert perm.dtype == np.int64
    assert perm[0].tolist() == expected


@st.composite
def chunks(draw, max_B=3, max_N=20):
    B = draw(st.integers(1, max_B))
    N = draw(st.integers(1, max_N))
    # A coarse grid of positions makes ties and equal GT positions frequent.
    grid = draw(st.sampled_from([4, 16, 1000]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = (rng.integers(0, grid + 1, (B, N)) / grid).astype(np.float32)
    p = (rng.integers(0, grid + 1, (B, N)) / grid).astype(np.float32)
    density = draw(st.sampled_from([0.0, 0.5, 1.0]))
    a = rng.random((B, N)) < density
    x[~a] = 0.0  # padded rows have x = 0 (calf.md section 6)
    return x, a, p


@settings(max_examples=30)
@given(chunks(), st.sampled_from([np.bool_, np.float32]))
def test_calf_matches_reference(case, presence_dtype):
    x, a, p = case
    perm = run(x, a.astype(presence_dtype), p)
    np.testing.assert_array_equal(perm, reciprocal_matching_ref(x, a, p))


@settings(max_examples=25)
@given(chunks())
def test_optimal_matches_cpu_op(case):
    """The float64 Hungarian method in the same operation order as the C++ kernel: same ties."""
    x, a, p = case
    perm = run(x, a, p, "optimal")
    np.testing.assert_array_equal(perm, spotkern.reciprocal_matching(x, a, p, method="optimal"))


@settings(max_examples=15)
@given(chunks(max_B=1, max_N=6))
def test_optimal_is_minimum_cost(case):
    x, a, p = case
    perm = run(x, a, p, "optimal")[0]
    assert sorted(perm.tolist()) == list(range(len(perm)))
    real = np.flatnonzero(a[0])
    cost = np.abs(x[0, real].astype(np.float64) - p[0, perm[real]]).sum()
    best = min(np.abs(x[0, real].astype(np.float64) - p[0, list(q)]).sum()
               for q in itertools.permutations(range(len(perm)), len(real)))
    assert cost <= best + 1e-12


def test_similarity_zero_is_not_masked():
    """A prediction at 1.0 against a padded row at 0.0 has similarity exactly 0 (calf.md section 6,
    degenerate case); explicit masks still give a permutation."""
    x = np.zeros((1, 3), np.float32)
    a = np.zeros((1, 3), bool)
    p = np.array([[1.0, 1.0, 1.0]], np.float32)
    perm = run(x, a, p)
    assert perm[0].tolist() == [0, 1, 2]


def test_slot_count_beyond_the_cuda_limit_is_a_named_error():
    """The kernel keeps an (N, N) tile in registers: N above MAX_SLOTS is refused, not miscompiled."""
    n = krm.MAX_SLOTS + 1
    x = torch.zeros((1, n), dtype=torch.float32)
    with pytest.raises(ValueError, match=r"^reciprocal_matching: N = 65 slots exceeds"):
        krm.reciprocal_matching(x, torch.ones((1, n), dtype=torch.bool), x, "calf")


def test_largest_supported_slot_count_matches_reference():
    rng = np.random.default_rng(3)
    n = krm.MAX_SLOTS
    x = rng.random((2, n)).astype(np.float32)
    a = rng.random((2, n)) < 0.5
    p = rng.random((2, n)).astype(np.float32)
    perm = krm.reciprocal_matching(torch.from_numpy(x), torch.from_numpy(a), torch.from_numpy(p), "calf")
    np.testing.assert_array_equal(perm.numpy(), reciprocal_matching_ref(x, a, p))
