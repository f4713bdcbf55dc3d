"""Triton time-shift encoding kernels (spotkern/triton/time_shift_encoding.py) under
TRITON_INTERPRET=1 against the reference: spec vectors, every label dtype, packed halves of
different lengths, events with duplicates and edge frames."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("triton")
pytestmark = pytest.mark.triton
from spotkern.triton import time_shift_encoding as ktse  # noqa: E402

from spotkern.data.soccernet_classes import K_V2_FRAMES  # noqa: E402
from spotkern.reference import time_shift_encoding_ref  # noqa: E402
from helpers import K8, draw_K, k_for, onehot  # noqa: E402



def run_matrix(labels, K, block_c=None):
    labels = torch.as_tensor(labels)
    lengths = torch.tensor([labels.shape[0]], dtype=torch.int64)
    return ktse.tse_packed(labels, lengths, torch.as_tensor(K, dtype=torch.int32), block_c).numpy()


@pytest.mark.parametrize("T, events, k, expected", [
    (36, [(6, 0), (20, 0)], K8, [-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3,
                                 4, 5, 6, 7, -16, -15, -14, -13, -12, -11, -10, -9]),  # CALF-T1 class 0
    (36, [(10, 0)], K8, list(range(-10, 26))),  # CALF-T1 class 1: one action, no combination
    (36, [], K8, [-8] * 36),  # CALF-T1 class 2: no action
    (20, [(2, 0), (12, 0)], K8, [-2, -1, 0, 1, 2, 3, 4, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7]),  # CALF-T2
    (30, [(5, 0), (9, 0), (22, 0)], K8, [-5, -4, -3, -2, -1, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, -6, -5, -4, -3, -2,
                                         -1, 0, 1, 2, 3, 4, 5, 6, 7]),  # CALF-T3
    (30, [(10, 0)], [-4, -2, 2, 4], [t - 10 for t in range(30)]),  # CALF-T4
])
def test_spec_vectors(T, events, k, expected):
    out = run_matrix(onehot(T, 1, events), k_for(1, k))
    assert out.dtype == np.int32
    assert out[:, 0].tolist() == expected


@st.composite
def halves(draw, max_T=400, max_C=20):
    T = draw(st.integers(1, max_T))
    C = draw(st.integers(1, max_C))
    K = draw_K(draw, C, 60)
    n = draw(st.integers(0, min(40, 3 * T)))
    edge = st.sampled_from([0, T - 1])  # actions at the first and last frame
    frames = draw(st.lists(st.one_of(st.integers(0, T - 1), edge), min_size=n, max_size=n))
    classes = draw(st.lists(st.integers(0, C - 1), min_size=n, max_size=n))
    return T, C, K, np.array(frames, dtype=np.int64), np.array(classes, dtype=np.int64)


DTYPES = [torch.bool, torch.uint8, torch.int32, torch.int64, torch.float32, torch.float64]


@settings(max_examples=25)
@given(halves(), st.sampled_from(DTYPES), st.sampled_from([None, 1, 4, 32, 64]))
def test_matrix_kernel_matches_reference_for_every_dtype(h, dtype, block_c):
    """Every label dtype, and every class-block layout (one class per program up to whole rows
    with masked lanes)."""
    T, C, K, frames, classes = h
    lab = np.zeros((T, C), dtype=np.float32)
    lab[frames, classes] = 1
    out = run_matrix(torch.from_numpy(lab).to(dtype), K, block_c)
    np.testing.assert_array_equal(out, time_shift_encoding_ref(lab, K))


def test_values_other_than_one_are_not_actions():
    lab = np.array([[1.0], [2.0], [0.5], [1.0], [-1.0], [0.0]], dtype=np.float32)
    np.testing.assert_array_equal(run_matrix(lab, k_for(1)), time_shift_encoding_ref(lab, k_for(1)))


@settings(max_examples=20)
@given(st.lists(halves(max_T=200, max_C=1), min_size=1, max_size=5), st.integers(1, 6))
def test_packed_halves_match_per_half_reference(hs, C):
    """Halves of different lengths in one launch (one program per half and class block)."""
    K = k_for(C, [-9, -3, 5, 11])
    labs = []
    for T, _, _, frames, _ in hs:
        lab = np.zeros((T, C), dtype=np.float32)
        lab[frames, frames % C] = 1
        labs.append(lab)
    lengths = torch.tensor([x.shape[0] for x in labs], dtype=torch.int64)
    out = ktse.tse_packed(torch.from_numpy(np.concatenate(labs)), lengths, torch.from_numpy(K), 8).numpy()
    np.testing.assert_array_equal(out, np.concatenate([time_shift_encoding_ref(x, K) for x in labs]))


@settings(max_examples=20)
@given(halves(), st.sampled_from([torch.int32, torch.int64]))
def test_event_kernel_with_duplicates_matches_reference(h, dtype):
    T, C, K, frames, classes = h
    frames = np.concatenate([frames, frames[:3]])  # duplicates collapse into one action
    classes = np.concatenate([classes, classes[:3]])
    lab = np.zeros((T, C), dtype=np.float32)
    lab[frames, classes] = 1
    out = ktse.tse_events(torch.from_numpy(frames).to(dtype), torch.from_numpy(classes).to(dtype),
                          torch.from_numpy(K), T).numpy()
    np.testing.assert_array_equal(out, time_shift_encoding_ref(lab, K))


def test_long_half_with_the_v2_table_matches_reference():
    """1200 frames (a 10-minute stretch) with the v2 K table: many tiles per program, 17 of 32 class
    lanes used, actions at the first and last frame."""
    rng = np.random.default_rng(0)
    lab = np.zeros((1200, 17), dtype=np.float32)
    lab[rng.integers(0, 1200, 30), rng.integers(0, 17, 30)] = 1
    lab[0, 3] = lab[1199, 3] = 1
    for block_c in (1, 32):
        np.testing.assert_array_equal(run_matrix(lab, K_V2_FRAMES, block_c), time_shift_encoding_ref(lab, K_V2_FRAMES))


def test_block_sizes_follow_the_problem():
    assert ktse._blocks(1, 5400, 17)[:2] == (1024, 1)  # one half: one class per program
    assert ktse._blocks(64, 5400, 17)[:2] == (256, 4)  # 64 halves x 5 class blocks = 320 programs
    assert ktse._blocks(1024, 5400, 17)[:2] == (32, 32)  # many halves: whole rows, coalesced
    assert ktse._blocks(1024, 10, 17)[0] == 16  # short halves get short tiles
    assert ktse._blocks(1024, 5400, 500)[1] == 64  # many classes: several class blocks
