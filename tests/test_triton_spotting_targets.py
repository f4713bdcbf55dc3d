"""Triton spotting-targets kernel (spotkern/triton/spotting_targets.py) under TRITON_INTERPRET=1
against the reference: spec vector CALF-T5, borders, overflow, empty chunks, T = 1."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

pytest.importorskip("triton")
pytestmark = pytest.mark.triton
from spotkern.triton import spotting_targets as kst  # noqa: E402

from spotkern.reference import spotting_targets_ref  # noqa: E402
from spotkern.reference import time_shift_encoding_ref  # noqa: E402
from spotkern.data.soccernet_classes import K_V1_FRAMES  # noqa: E402

T5_ACTIONS = [(50, 0), (60, 2), (60, 1), (90, 0), (100, 1), (150, 2), (180, 0), (20, 1), (210, 0)]
T5_EXPECTED = [(50, 0), (60, 1), (60, 2), (90, 0), (100, 1)]


def run(tse, N, border):
    targets, dropped = kst.spotting_targets(torch.as_tensor(tse), N, border)
    return targets.numpy(), dropped.numpy()


def test_calf_t5():
    lab = np.zeros((240, 3), dtype=np.float32)
    for f, c in T5_ACTIONS:
        lab[f, c] = 1
    tse = time_shift_encoding_ref(lab, K_V1_FRAMES)[None]
    targets, dropped = run(tse, 5, 40)
    expected = np.zeros((5, 5), dtype=np.float32)
    for k, (t, c) in enumerate(T5_EXPECTED):
        expected[k, 0] = 1
        expected[k, 1] = np.float32(t / 240)
        expected[k, 2 + c] = 1
    np.testing.assert_array_equal(targets[0], expected)
    assert dropped.tolist() == [2]


@st.composite
def chunk_batches(draw, max_B=4, max_L=80, max_C=8):
    B = draw(st.integers(1, max_B))
    L = draw(st.integers(1, max_L))
    C = draw(st.integers(1, max_C))
    tse = draw(hnp.arrays(np.int32, (B, L, C), elements=st.integers(-3, 3)))
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 1.0]))  # none, sparse, dense, every cell an action
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    tse = np.where(rng.random(tse.shape) < density, 0, np.where(tse == 0, 1, tse)).astype(np.int32)
    N = draw(st.integers(1, 20))
    border = draw(st.integers(0, L // 2))
    return tse, N, border


@settings(max_examples=30)
@given(chunk_batches())
def test_kernel_matches_reference(case):
    tse, N, border = case
    targets, dropped = run(tse, N, border)
    ref_targets, ref_dropped = spotting_targets_ref(tse, N, border)
    np.testing.assert_array_equal(targets, ref_targets)
    np.testing.assert_array_equal(dropped, ref_dropped)


@pytest.mark.parametrize("L", [240, 1001])
def test_positions_are_the_float64_quotient_rounded_once(L):
    """Every row of a long chunk is an action of class 0: position t / L for every t."""
    tse = np.ones((1, L, 2), dtype=np.int32)
    tse[0, :, 0] = 0
    targets, dropped = run(tse, L, 0)
    np.testing.assert_array_equal(targets[0, :, 1], (np.arange(L) / L).astype(np.float32))
    assert dropped.tolist() == [0]


def test_block_grows_with_the_chunk():
    assert kst._block(1) == 128
    assert kst._block(160 * 17) == 2048
    assert kst._block(10**6) == 2048
