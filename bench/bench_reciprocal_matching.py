"""CALF reciprocal matching for B = 32 and B = 256 chunks with N = 15 (target <= 50 us for B = 32,
one core). Rows per group: the numpy reference (proposal rounds), the public implementation's
per-operator torch style (masked one-hot/argmax, what users replace), and spotkern on numpy and on
torch tensors, plus the optimal option."""
import numpy as np
import pytest
import torch

import spotkern
from spotkern.reference import reciprocal_matching_masked_ref, reciprocal_matching_ref

N = 15


def make_batch(B, seed=0):
    """Targets-like GT (real rows first at t / 240, padded rows at 0) and sigmoid-like predictions."""
    rng = np.random.default_rng(seed)
    x = np.zeros((B, N), np.float32)
    real = np.zeros((B, N), bool)
    for b in range(B):
        n = rng.integers(0, N + 1)
        x[b, :n] = np.sort(rng.integers(40, 200, n)) / np.float32(240)
        real[b, :n] = True
    p = rng.random((B, N), dtype=np.float32)
    return x, real, p


@pytest.fixture(scope="module", params=[32, 256], ids=lambda B: f"B{B}")
def batch(request):
    return request.param, make_batch(request.param)


def group(benchmark, B):
    benchmark.group = f"reciprocal_matching B={B} N={N}"


def test_matching_reference_numpy(benchmark, batch):
    B, (x, real, p) = batch
    group(benchmark, B)
    benchmark(reciprocal_matching_ref, x, real, p)


def test_matching_reference_torch_masked(benchmark, batch):
    B, (x, real, p) = batch
    group(benchmark, B)
    args = (torch.from_numpy(x), torch.from_numpy(real.astype(np.float32)), torch.from_numpy(p))
    benchmark(reciprocal_matching_masked_ref, *args)


def test_matching_spotkern_numpy(benchmark, batch):
    B, (x, real, p) = batch
    group(benchmark, B)
    perm = benchmark(spotkern.reciprocal_matching, x, real, p)
    np.testing.assert_array_equal(perm, reciprocal_matching_ref(x, real, p))


def test_matching_spotkern_torch(benchmark, batch):
    B, (x, real, p) = batch
    group(benchmark, B)
    args = (torch.from_numpy(x), torch.from_numpy(real.astype(np.float32)), torch.from_numpy(p))
    perm = benchmark(spotkern.reciprocal_matching, *args)
    np.testing.assert_array_equal(perm.numpy(), reciprocal_matching_ref(x, real, p))


def test_matching_spotkern_optimal_numpy(benchmark, batch):
    B, (x, real, p) = batch
    group(benchmark, B)
    perm = benchmark(spotkern.reciprocal_matching, x, real, p, method="optimal")
    assert (np.sort(perm, axis=1) == np.arange(N)).all()
