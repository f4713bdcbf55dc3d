"""Triton NMS (spotkern/triton/nms.py) under TRITON_INTERPRET=1: spec vectors DA-T7/T8 and
CALF-T11, every method against the literal spec loops (reference) and bit-for-bit against the CPU
op, per-class windows, plateaus of equal scores, zero windows, frames 0 and T-1, the sparse form."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("triton")
pytestmark = pytest.mark.triton
from spotkern.triton import nms as knms  # noqa: E402

import spotkern  # noqa: E402
from spotkern.reference import detections_ref, nms_ref  # noqa: E402

CODES = {"hard": knms.HARD, "calf": knms.CALF, "linear": knms.LINEAR, "gaussian": knms.GAUSSIAN}
DA_T7 = np.float32([0.1, 0.5, 0.9, 0.6, 0.2, 0.85, 0.3, 0.4])[:, None]
CALF_T11 = np.float32([-1, 0.3, -1, 0.5, 0.9, 0.2, 0.8, -1, -1, 0.85, 0.1, -1])[:, None]


def run(scores, window, method="hard", threshold=None, sigma=None, min_weight=0.0, expansion=2.0):
    scores = np.asarray(scores, np.float32)
    C = scores.shape[-1]
    windows = [int(w) for w in np.broadcast_to(np.asarray(window), (C,))]
    if threshold is None:
        threshold = 1e-5 if method in ("linear", "gaussian") else 0.0
    if method == "gaussian":
        sigmas = [w / 2.0 for w in windows] if sigma is None else [float(s) for s in np.broadcast_to(sigma, (C,))]
    else:
        sigmas = [0.0] * C
    out = knms.nms_dense(torch.from_numpy(scores), windows, sigmas, CODES[method], threshold, min_weight, expansion)
    return out.numpy()


@pytest.mark.parametrize("method, W, kw, expected", [
    ("hard", 4, {}, [-1, -1, 0.9, -1, -1, 0.85, -1, -1]),
    ("hard", 5, {}, [-1, -1, 0.9, -1, -1, 0.85, -1, -1]),
    ("linear", 2, {}, [0.05, 0.25, 0.9, 0.3, 0.05, 0.85, 0.075, 0.4]),
    ("linear", 2, {"min_weight": 0.5}, [0.075, 0.375, 0.9, 0.45, 0.1125, 0.85, 0.16875, 0.4]),
    ("gaussian", 2, {}, [0.033644, 0.170110, 0.9, 0.204131, 0.022638, 0.840557, 0.045929, 0.345866]),
])
def test_da_t7(method, W, kw, expected):
    np.testing.assert_allclose(run(DA_T7, W, method, **kw)[:, 0], expected, rtol=1e-5, atol=1e-6)


def test_da_t8_hard_emits_zeros():
    assert run(np.zeros((5, 1), np.float32), 2)[:, 0].tolist() == [0, -1, 0, -1, 0]


@pytest.mark.parametrize("W, expected", [
    (4, [-1, 0.3, -1, -1, 0.9, -1, 0.8, -1, -1, 0.85, -1, -1]),
    (5, [-1, -1, -1, -1, 0.9, -1, -1, -1, -1, 0.85, -1, -1]),
])
def test_calf_t11(W, expected):
    np.testing.assert_array_equal(run(CALF_T11, W, "calf")[:, 0], np.float32(expected))


@st.composite
def nms_cases(draw, max_T=60):
    method = draw(st.sampled_from(list(CODES)))
    ndim = draw(st.sampled_from([2, 3]))
    B = draw(st.integers(1, 2))
    T = draw(st.integers(1, max_T))
    C = draw(st.integers(1, 3))
    shape = (T, C) if ndim == 2 else (B, T, C)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Few levels: plateaus and ties (first frame wins), zeros (emitted by hard NMS), negatives.
    scores = rng.choice(np.float32([0.0, 0.1, 0.3, 0.5, 0.5, 0.9, 1.0, -0.5]), shape).astype(np.float32)
    if draw(st.booleans()):
        scores = (scores + rng.random(shape) * 1e-3).astype(np.float32)
    lo = 2 if method == "calf" else 0
    window = draw(st.one_of(st.integers(lo, 12), st.lists(st.integers(lo, 12), min_size=C, max_size=C)))
    kw = {}
    if method in ("linear", "gaussian"):
        kw["min_weight"] = draw(st.sampled_from([0.0, 0.25, 1.0]))
    if method == "linear":
        kw["expansion"] = draw(st.sampled_from([2.0, 1.0, 0.5]))
    if method == "gaussian" and draw(st.booleans()):
        kw["sigma"] = draw(st.lists(st.sampled_from([0.0, 0.5, 1.3, 3.0]), min_size=C, max_size=C))
    if method in ("hard", "calf") and draw(st.booleans()):
        kw["threshold"] = draw(st.sampled_from([-0.75, 0.2, 0.5]))
    return scores, window, method, kw


@settings(max_examples=30)
@given(nms_cases())
def test_kernel_matches_cpu_op_and_reference(case):
    scores, window, method, kw = case
    got = run(scores, window, method, **kw)
    np.testing.assert_array_equal(got, spotkern.nms(scores, window, method=method, **kw))  # bit-exact
    ref = nms_ref(scores, window, method=method, **kw)
    if method == "gaussian":  # the oracle's exp may differ from glibc's in the last float64 bit
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=0)
    else:
        np.testing.assert_array_equal(got, ref)


@settings(max_examples=20)
@given(nms_cases(max_T=30))
def test_sparse_detections_match_reference(case):
    scores, window, method, kw = case
    dense = run(scores, window, method, **kw)
    got = knms.nms_detections(torch.from_numpy(dense))
    ref = detections_ref(dense)
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g.numpy(), r)
    if dense.ndim == 2:
        np.testing.assert_array_equal(got[3].numpy(), np.zeros(len(ref[0]), np.int64))


@pytest.mark.parametrize("method, W, T", [("hard", 40, 1200), ("calf", 40, 1200), ("linear", 8, 200)])
def test_long_column_uses_many_tiles(method, W, T):
    """Up to 38 tiles of 32 frames, windows spanning tile boundaries (soft NMS emits nearly every
    frame, one interpreted selection each: a shorter column)."""
    scores = np.random.default_rng(1).random((T, 1)).astype(np.float32)
    np.testing.assert_array_equal(run(scores, W, method), spotkern.nms(scores, W, method=method))


def test_empty_inputs():
    assert run(np.zeros((0, 3), np.float32), 4).shape == (0, 3)
    assert run(np.zeros((2, 5, 0), np.float32), 4).shape == (2, 5, 0)


def test_tiles_follow_the_problem():
    assert knms._tile(224) == (32, 8)
    assert knms._tile(5400) == (32, 256)
    assert knms._tile(200_000)[1] <= 256


@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 70), W=st.integers(2, 12), seed=st.integers(0, 2**31),
       method=st.sampled_from(["hard", "calf", "linear", "gaussian"]))
def test_float64_scores_equal_the_cpu_op_bit_for_bit(T, W, seed, method):
    s = np.round(np.random.default_rng(seed).random((T, 2)) * 8) / 8 + 1e-9  # ties, and values float32 cannot hold
    sig = [W / 2.0] * 2 if method == "gaussian" else [0.0] * 2
    thr = 1e-5 if method in ("linear", "gaussian") else 0.0
    got = knms.nms_dense(torch.from_numpy(s), [W, W], sig, CODES[method], thr, 0.0, 2.0)
    assert got.dtype == torch.float64
    np.testing.assert_array_equal(got.numpy(), spotkern.nms(s, W, method=method))
