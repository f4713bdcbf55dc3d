"""Dense-anchor targets on a 5400 x 17 half with ~60 actions and on 256 chunks of 224 frames (target:
>= 10x faster than a vectorised NumPy version, one core), against the spec loop and that NumPy
version."""
import numpy as np
import pytest

import spotkern
from spotkern.reference import dense_anchor_targets_ref

RC, RD = 6.0, 12.0  # 3 s and 6 s at 2 fps


def dense_anchor_targets_numpy(frames, classes, T, C, rc, rd):
    """Vectorised NumPy baseline: each frame's nearest action per class by searchsorted (ties to the
    earlier action); within rc -> confidence, within rd -> displacement and support."""
    t = np.arange(T)
    conf = np.zeros((T, C), dtype=np.float32)
    disp = np.full((T, C), 10.0, dtype=np.float32)
    sup = np.zeros((T, C), dtype=bool)
    for c in range(C):
        a = np.unique(frames[classes == c])
        if len(a) == 0:
            continue
        k = np.searchsorted(a, t)
        prev = a[np.maximum(k - 1, 0)]
        nxt = a[np.minimum(k, len(a) - 1)]
        take_prev = (k > 0) & ((k == len(a)) | (t - prev <= nxt - t))
        best = np.where(take_prev, prev, nxt)
        dist = np.abs(best - t)
        conf[:, c] = dist <= rc
        sup[:, c] = dist <= rd
        disp[:, c] = np.where(sup[:, c], (best - t) / rd, 10.0)
    return conf, disp, sup


@pytest.fixture(scope="module")
def half():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 5400, 60).astype(np.int64)
    classes = rng.integers(0, 17, 60).astype(np.int64)
    return frames, classes


@pytest.mark.benchmark(group="dense_anchor_targets 5400x17")
def test_targets_reference(benchmark, half):
    benchmark(dense_anchor_targets_ref, *half, 5400, 17, radius_confidence=RC, radius_displacement=RD)


@pytest.mark.benchmark(group="dense_anchor_targets 5400x17")
def test_targets_numpy(benchmark, half):
    out = benchmark(dense_anchor_targets_numpy, *half, 5400, 17, RC, RD)
    ref = dense_anchor_targets_ref(*half, 5400, 17, radius_confidence=RC, radius_displacement=RD)
    for a, b in zip(out, ref):
        np.testing.assert_array_equal(a, b)


@pytest.mark.benchmark(group="dense_anchor_targets 5400x17")
def test_targets_spotkern(benchmark, half):
    out = benchmark(spotkern.dense_anchor_targets, *half, 5400, 17, radius_confidence=RC, radius_displacement=RD)
    for a, b in zip(out, dense_anchor_targets_numpy(*half, 5400, 17, RC, RD)):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def chunks():
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 6, 256)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    frames = rng.integers(-10, 234, offsets[-1]).astype(np.int64)
    classes = rng.integers(0, 17, offsets[-1]).astype(np.int64)
    return frames, classes, offsets


@pytest.mark.benchmark(group="dense_anchor_targets 256x224x17")
def test_targets_chunks_numpy(benchmark, chunks):
    frames, classes, off = chunks
    benchmark(lambda: [dense_anchor_targets_numpy(frames[off[b]:off[b + 1]], classes[off[b]:off[b + 1]], 224, 17,
                                                  RC, RD) for b in range(256)])


@pytest.mark.benchmark(group="dense_anchor_targets 256x224x17")
def test_targets_chunks_spotkern(benchmark, chunks):
    frames, classes, off = chunks
    benchmark(spotkern.dense_anchor_targets, frames, classes, 224, 17, radius_confidence=RC, radius_displacement=RD,
              offsets=off)
