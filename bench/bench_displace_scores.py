"""Displacement scattering on a 5400 x 17 half (target <= 0.1 ms, one core; the public NumPy version
takes ~25 ms), against the spec loop and a vectorised NumPy scatter-max (np.maximum.at)."""
import numpy as np
import pytest

import spotkern
from spotkern.reference import displace_scores_ref

RD = 12.0  # 6 s at 2 fps


def displace_scores_numpy(confidence, displacement, rd):
    """Vectorised NumPy baseline (the public implementation's approach)."""
    T, C = confidence.shape
    t = np.arange(T)[:, None]
    u = np.clip(t + np.rint(rd * displacement.astype(np.float64)), 0, T - 1).astype(np.int64)
    out = np.zeros((T, C), dtype=np.float32)
    np.maximum.at(out, (u, np.broadcast_to(np.arange(C), (T, C))), confidence)
    return out


@pytest.fixture(scope="module")
def half():
    rng = np.random.default_rng(0)
    conf = rng.random((5400, 17)).astype(np.float32)
    disp = np.tanh(rng.normal(size=(5400, 17))).astype(np.float32)
    return conf, disp


@pytest.mark.benchmark(group="displace_scores 5400x17")
def test_displace_reference(benchmark, half):
    benchmark.pedantic(displace_scores_ref, args=(*half, RD), rounds=2, iterations=1)


@pytest.mark.benchmark(group="displace_scores 5400x17")
def test_displace_numpy(benchmark, half):
    out = benchmark(displace_scores_numpy, *half, RD)
    np.testing.assert_array_equal(out, spotkern.displace_scores(*half, RD))


@pytest.mark.benchmark(group="displace_scores 5400x17")
def test_displace_spotkern(benchmark, half):
    out = benchmark(spotkern.displace_scores, *half, RD)
    np.testing.assert_array_equal(out, displace_scores_numpy(*half, RD))


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(1)
    conf = rng.random((256, 224, 17)).astype(np.float32)
    disp = np.tanh(rng.normal(size=(256, 224, 17))).astype(np.float32)
    return conf, disp


@pytest.mark.benchmark(group="displace_scores 256x224x17")
def test_displace_batch_numpy(benchmark, batch):
    benchmark(lambda: [displace_scores_numpy(c, d, RD) for c, d in zip(*batch)])


@pytest.mark.benchmark(group="displace_scores 256x224x17")
def test_displace_batch_spotkern(benchmark, batch):
    benchmark(spotkern.displace_scores, *batch, RD)
