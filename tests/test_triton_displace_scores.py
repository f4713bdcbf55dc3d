"""Triton displacement scattering (spotkern/triton/displace_scores.py) under TRITON_INTERPRET=1
against the reference: spec vector DA-T6, heavy collisions (the atomic max on the float bits is
order-independent), rounding half to even, clamping at both ends, negative and -0.0 confidences."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("triton")
pytestmark = pytest.mark.triton
from spotkern.triton import displace_scores as kds  # noqa: E402

from spotkern.reference import displace_scores_ref  # noqa: E402


def run(conf, disp, rd):
    return kds.displace_scores(torch.as_tensor(conf), torch.as_tensor(disp), rd).numpy()


def test_da_t6():
    conf = np.float32([0.2, 0.9, 0.5, 0.7, 0.1, 0.3])[:, None]
    disp = np.float32([0.4, 1.5, -0.5, -1.5, 2.6, 9.0])[:, None]
    np.testing.assert_array_equal(run(conf, disp, 1.0)[:, 0], np.float32([0.2, 0.7, 0.5, 0.9, 0.0, 0.3]))


@st.composite
def score_maps(draw):
    ndim = draw(st.sampled_from([2, 3]))
    B = draw(st.integers(1, 3))
    T = draw(st.integers(1, 70))
    C = draw(st.integers(1, 40))
    shape = (T, C) if ndim == 2 else (B, T, C)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Few distinct values: equal confidences colliding on one frame (ties), exact halves of a frame
    # (rint half to even), displacements far past both ends (clamping), negative and -0.0 scores.
    conf = rng.choice(np.float32([0.0, -0.0, 0.25, 0.5, 0.75, 1.0, -0.5, 1e-30]), shape).astype(np.float32)
    conf += (rng.random(shape) < 0.3) * rng.random(shape).astype(np.float32)
    disp = (rng.integers(-16, 17, shape) / 8).astype(np.float32) * draw(st.sampled_from([1, 4, 100]))
    rd = draw(st.sampled_from([1.0, 2.0, 6.0, 12.0, 0.3, 2.5]))
    return conf.astype(np.float32), disp.astype(np.float32), rd


@settings(max_examples=30)
@given(score_maps())
def test_kernel_matches_reference(case):
    conf, disp, rd = case
    np.testing.assert_array_equal(run(conf, disp, rd), displace_scores_ref(conf, disp, rd))


def test_all_cells_collide_on_one_frame():
    """Every cell of a class lands on frame 0: the maximum wins whatever the order of the atomics."""
    rng = np.random.default_rng(0)
    conf = rng.random((500, 3)).astype(np.float32)
    disp = np.full((500, 3), -1.0, dtype=np.float32)
    out = run(conf, disp, 1000.0)
    np.testing.assert_array_equal(out[0], conf.max(axis=0))
    assert (out[1:] == 0).all()


def test_empty_input():
    out = run(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32), 1.0)
    assert out.shape == (0, 3)


@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 60), seed=st.integers(0, 2**31), rd=st.sampled_from([1.0, 6.0]))
def test_float64_equals_the_cpu_op_bit_for_bit(T, seed, rd):
    import spotkern

    rng = np.random.default_rng(seed)
    conf = rng.random((2, T, 3)) + 1e-12  # values float32 cannot hold
    conf[0, 0, 0] = -0.0
    disp = np.round(rng.uniform(-1, 1, (2, T, 3)) * 2 * rd) / (2 * rd)  # half-way shifts
    got = run(conf, disp, rd)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, spotkern.displace_scores(conf, disp, rd))
