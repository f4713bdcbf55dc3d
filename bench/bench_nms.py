"""Per-class NMS on a 5400 x 17 half (one core). Targets: hard <= 0.5 ms (public: 9-57 ms), linear
soft-NMS <= 5 ms (public: ~263 ms, quadratic in T). Rows: the spec loop (reference), a vectorised
NumPy version of the same loop for the soft methods (the public implementation's approach), spotkern.

``nms_sparse`` (the tuning search's form): one class of 4 halves of 5400 frames, the cells >= 0.02 (the
search's lowest threshold) listed, 10 windows of 1-30 s at 2 fps in one call. Rows: its reference (the
spec loop per window on the dense columns), the dense op once per window (what the search would run
without the sparse form), spotkern.nms_sparse.

Inputs: smooth confidence-like scores (sigmoid of a random walk, W = 40, 20 s at 2 fps) and displaced
scores (displace_scores of random confidences, the input of W = 6 hard and W = 8 soft NMS)."""
import math

import numpy as np
import pytest

import spotkern
from spotkern.reference import nms_ref, nms_sparse_ref


def soft_nms_numpy(scores, window, *, method="linear", m=0.0, expansion=2.0, thr=1e-5):
    """The spec loop with NumPy argmax and a vectorised window update (quadratic in T)."""
    T, C = scores.shape
    out = np.full((T, C), -1.0, dtype=np.float32)
    for c in range(C):
        s = scores[:, c].astype(np.float64)
        if method == "linear":
            R = expansion * window / 2
            reach = math.ceil(R)
            d = np.abs(np.arange(-reach, reach + 1))
            w = np.clip(m + (1.0 - m) * d / R, 0.0, 1.0)
        else:
            sigma = window / 2
            reach = math.ceil(3 * sigma)
            d = np.arange(-reach, reach + 1)
            w = 1.0 - (1.0 - m) * np.exp(-(d * d) / (2.0 * sigma * sigma))
        while True:
            i = int(np.argmax(s))
            if s[i] < thr:
                break
            out[i, c] = s[i]
            lo, hi = max(i - reach, 0), min(i + reach, T - 1)
            s[lo:hi + 1] *= w[lo - i + reach:hi - i + reach + 1]
            s[i] = -1.0
    return out


@pytest.fixture(scope="module")
def smooth():
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(size=(5400, 17)), axis=0) / 8
    return (1 / (1 + np.exp(-walk))).astype(np.float32)


@pytest.fixture(scope="module")
def displaced():
    rng = np.random.default_rng(1)
    conf = rng.random((5400, 17)).astype(np.float32) ** 4
    disp = np.tanh(rng.normal(size=(5400, 17))).astype(np.float32)
    return spotkern.displace_scores(conf, disp, 12.0)


# --- hard ---------------------------------------------------------------------------------------------

@pytest.mark.benchmark(group="nms hard W=40 5400x17")
def test_hard40_reference(benchmark, smooth):
    benchmark.pedantic(nms_ref, args=(smooth, 40), rounds=3, iterations=1)


@pytest.mark.benchmark(group="nms hard W=40 5400x17")
def test_hard40_spotkern(benchmark, smooth):
    out = benchmark(spotkern.nms, smooth, 40, method="hard")
    np.testing.assert_array_equal(out, nms_ref(smooth, 40))


@pytest.mark.benchmark(group="nms hard W=6 5400x17")
def test_hard6_reference(benchmark, displaced):
    benchmark.pedantic(nms_ref, args=(displaced, 6), rounds=2, iterations=1)


@pytest.mark.benchmark(group="nms hard W=6 5400x17")
def test_hard6_spotkern(benchmark, displaced):
    out = benchmark(spotkern.nms, displaced, 6, method="hard")
    np.testing.assert_array_equal(out, nms_ref(displaced, 6))


@pytest.mark.benchmark(group="nms calf W=40 5400x17")
def test_calf40_reference(benchmark, smooth):
    benchmark.pedantic(nms_ref, args=(smooth, 40), kwargs={"method": "calf"}, rounds=3, iterations=1)


@pytest.mark.benchmark(group="nms calf W=40 5400x17")
def test_calf40_spotkern(benchmark, smooth):
    out = benchmark(spotkern.nms, smooth, 40, method="calf")
    np.testing.assert_array_equal(out, nms_ref(smooth, 40, method="calf"))


@pytest.mark.benchmark(group="nms hard W=40 sparse 5400x17")
def test_hard40_sparse_spotkern(benchmark, smooth):
    benchmark(spotkern.nms, smooth, 40, method="hard", output="sparse")


# --- soft ---------------------------------------------------------------------------------------------

@pytest.mark.benchmark(group="nms linear W=8 5400x17")
def test_linear8_numpy(benchmark, displaced):
    out = benchmark.pedantic(soft_nms_numpy, args=(displaced, 8), rounds=1, iterations=1)
    np.testing.assert_array_equal(out, spotkern.nms(displaced, 8, method="linear"))


@pytest.mark.benchmark(group="nms linear W=8 5400x17")
def test_linear8_spotkern(benchmark, displaced):
    out = benchmark(spotkern.nms, displaced, 8, method="linear")
    np.testing.assert_array_equal(out[:, :2], nms_ref(displaced[:, :2], 8, method="linear"))


@pytest.mark.benchmark(group="nms linear W=8 smooth 5400x17")
def test_linear8_smooth_numpy(benchmark, smooth):
    benchmark.pedantic(soft_nms_numpy, args=(smooth, 8), rounds=1, iterations=1)


@pytest.mark.benchmark(group="nms linear W=8 smooth 5400x17")
def test_linear8_smooth_spotkern(benchmark, smooth):
    out = benchmark(spotkern.nms, smooth, 8, method="linear")
    np.testing.assert_array_equal(out, soft_nms_numpy(smooth, 8))


@pytest.mark.benchmark(group="nms gaussian W=8 5400x17")
def test_gaussian8_numpy(benchmark, displaced):
    out = benchmark.pedantic(soft_nms_numpy, args=(displaced, 8), kwargs={"method": "gaussian"}, rounds=1,
                             iterations=1)
    np.testing.assert_allclose(out, spotkern.nms(displaced, 8, method="gaussian"), rtol=1e-6, atol=1e-7)


@pytest.mark.benchmark(group="nms gaussian W=8 5400x17")
def test_gaussian8_spotkern(benchmark, displaced):
    out = benchmark(spotkern.nms, displaced, 8, method="gaussian")
    np.testing.assert_array_equal(out[:, :2], nms_ref(displaced[:, :2], 8, method="gaussian"))


# --- sparse columns, several windows per call (the tuning search) -----------------------------------------

SPARSE_WINDOWS = [2, 4, 6, 8, 10, 14, 20, 30, 40, 60]


@pytest.fixture(scope="module")
def listed_halves():
    """(values, segments, frames, T, dense (4, 5400, 1)) of one class of 4 halves: cells >= 0.02 listed."""
    rng = np.random.default_rng(2)
    dense = (rng.random((4, 5400, 1)) ** 4).astype(np.float32)
    seg, fr = np.nonzero(dense[..., 0] >= np.float32(0.02))
    return (np.ascontiguousarray(dense[seg, fr, 0]), seg.astype(np.int64), fr.astype(np.int64), 5400, dense)


def _dense_per_window(dense, windows, seg, fr):
    return np.stack([spotkern.nms(dense, w, method="hard", threshold=0.02)[seg, fr, 0] for w in windows])


@pytest.mark.benchmark(group="nms_sparse hard 10 windows 4x5400")
def test_sparse_hard_reference(benchmark, listed_halves):
    values, seg, fr, T, _ = listed_halves
    benchmark.pedantic(nms_sparse_ref, args=(values, seg, fr, T, SPARSE_WINDOWS), kwargs={"threshold": 0.02},
                       rounds=1, iterations=1)


@pytest.mark.benchmark(group="nms_sparse hard 10 windows 4x5400")
def test_sparse_hard_dense_op_per_window(benchmark, listed_halves):
    values, seg, fr, T, dense = listed_halves
    benchmark(_dense_per_window, dense, SPARSE_WINDOWS, seg, fr)


@pytest.mark.benchmark(group="nms_sparse hard 10 windows 4x5400")
def test_sparse_hard_spotkern(benchmark, listed_halves):
    values, seg, fr, T, dense = listed_halves
    out = benchmark(spotkern.nms_sparse, values, seg, fr, T, SPARSE_WINDOWS, method="hard", threshold=0.02)
    np.testing.assert_array_equal(out, _dense_per_window(dense, SPARSE_WINDOWS, seg, fr))
