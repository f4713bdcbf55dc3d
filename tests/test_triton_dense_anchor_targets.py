"""Triton dense-anchor targets (spotkern/triton/dense_anchor_targets.py) under TRITON_INTERPRET=1
against the reference: spec vectors DA-T1/T2/T3, ties to the earlier action, fractional radii,
events outside the chunk, duplicates, empty chunks, one half and CSR batches."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("triton")
pytestmark = pytest.mark.triton
from spotkern.triton import dense_anchor_targets as kdat  # noqa: E402

import spotkern  # noqa: E402
from spotkern.reference import dense_anchor_targets_ref  # noqa: E402


def run(frames, classes, T, C, rc, rd, offsets=None):
    off = None if offsets is None else torch.as_tensor(offsets)
    out = kdat.dense_anchor_targets(torch.as_tensor(frames), torch.as_tensor(classes), off, T, C, rc, rd)
    return tuple(o.numpy() for o in out)


def test_da_t1_and_t3():
    for rc in (2.0, 2.5):  # DA-T3: a fractional radius rounds inward to the same range
        conf, disp, support = run(np.int64([4, 10]), np.int64([0, 0]), 16, 1, rc, 4.0)
        assert conf[:, 0].tolist() == [0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0]
    np.testing.assert_array_equal(disp[:, 0], np.float32([1, 0.75, 0.5, 0.25, 0, -0.25, -0.5, -0.75, 0.5, 0.25, 0,
                                                          -0.25, -0.5, -0.75, -1, 10]))
    assert support[:, 0].tolist() == [True] * 15 + [False]


def test_da_t2_tie_goes_to_earlier_action():
    _, disp, _ = run(np.int32([6, 2]), np.int32([0, 0]), 9, 1, 1.0, 3.0)  # unsorted events
    np.testing.assert_array_equal(disp[:, 0], np.float32([2 / 3, 1 / 3, 0, -1 / 3, -2 / 3, 1 / 3, 0, -1 / 3, -2 / 3]))


@st.composite
def event_batches(draw):
    B = draw(st.integers(1, 3))
    T = draw(st.integers(1, 60))
    C = draw(st.integers(1, 5))
    counts = draw(st.lists(st.integers(0, 8), min_size=B, max_size=B))
    E = sum(counts)
    edge = st.sampled_from([0, T - 1, -3, T + 2])  # first/last frame, and just outside the chunk
    frames = draw(st.lists(st.one_of(st.integers(-5, T + 5), edge), min_size=E, max_size=E))
    classes = draw(st.lists(st.integers(0, C - 1), min_size=E, max_size=E))
    rc = draw(st.sampled_from([0.0, 1.0, 2.5, 3.0, 6.0]))
    rd = draw(st.sampled_from([0.5, 1.0, 4.0, 6.5, 12.0, 0.3]))
    dtype = draw(st.sampled_from([np.int32, np.int64]))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return np.array(frames, dtype), np.array(classes, dtype), offsets, T, C, rc, rd


@settings(max_examples=25)
@given(event_batches(), st.booleans())
def test_kernel_matches_reference_and_cpu_op(case, batched):
    frames, classes, offsets, T, C, rc, rd = case
    if not batched:
        offsets = None
    got = run(frames, classes, T, C, rc, rd, offsets)
    cpu = spotkern.dense_anchor_targets(frames, classes, T, C, radius_confidence=rc, radius_displacement=rd,
                                        offsets=offsets)
    ref = dense_anchor_targets_ref(frames, classes, T, C, radius_confidence=rc, radius_displacement=rd,
                                   offsets=offsets)
    for g, c, r in zip(got, cpu, ref):
        assert g.dtype == c.dtype and g.shape == c.shape
        np.testing.assert_array_equal(g, c)
        np.testing.assert_array_equal(g, r)


def test_blocks_follow_the_problem():
    assert kdat._blocks(5400, 17)[:2] == (32, 32)
    assert kdat._blocks(5400, 1)[:2] == (1024, 1)
    assert kdat._blocks(3, 17)[0] == 16


# --- extreme arguments: the kernel follows the C++ overflow guards -------------------------------------

@pytest.mark.parametrize("r", [1e19, 1e300])
def test_radius_beyond_int64_covers_the_whole_half(r):
    got = run(np.int64([5]), np.int64([0]), 10, 1, r, r)
    cpu = spotkern.dense_anchor_targets(np.int64([5]), np.int64([0]), 10, 1, radius_confidence=r,
                                        radius_displacement=r)
    assert got[0][:, 0].tolist() == [1] * 10 and got[2].all()
    for g, c in zip(got, cpu):
        np.testing.assert_array_equal(g, c)


@pytest.mark.parametrize("frames", [[5, 2**63 - 1], [2**63 - 1, 5, 2**63 - 2], [-2**63, 5], [-2**63, -2**63 + 1, 5]])
@pytest.mark.parametrize("rd", [4.0, 1e300])
def test_events_at_the_int64_extremes(frames, rd):
    # |a - t| overflows int64 for a near INT64_MIN: the nearest action must still win, and the
    # displacement of a far action (reachable only with a huge rd) must match the CPU op bit for bit.
    f = np.array(frames, dtype=np.int64)
    got = run(f, np.zeros_like(f), 10, 1, 1.0, rd)
    cpu = spotkern.dense_anchor_targets(f, np.zeros_like(f), 10, 1, radius_confidence=1.0, radius_displacement=rd)
    ref = dense_anchor_targets_ref(f, np.zeros_like(f), 10, 1, radius_confidence=1.0, radius_displacement=rd)
    for g, c, r in zip(got, cpu, ref):
        np.testing.assert_array_equal(g, c)
        np.testing.assert_array_equal(g, r)
    assert got[2].all() if rd > 10 else got[1][0, 0] == 10.0


def test_only_far_actions_before_int64_min_plus_t():
    # Both actions lie below INT64_MIN + t for every t: the nearer (larger) one owns every frame.
    f = np.array([-2**63, -2**63 + 1], dtype=np.int64)
    got = run(f, np.zeros_like(f), 4, 1, 0.0, 1e300)
    cpu = spotkern.dense_anchor_targets(f, np.zeros_like(f), 4, 1, radius_confidence=0.0, radius_displacement=1e300)
    for g, c in zip(got, cpu):
        np.testing.assert_array_equal(g, c)
    assert got[2].all()
