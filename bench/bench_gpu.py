"""GPU benchmarks of the Triton kernels (skipped without a CUDA device).

One group per (op, size): the reference row (the numpy oracle, or the eager-torch oracle on the
same GPU where one exists), the spotkern CPU row (C++ kernel, one thread) and the spotkern CUDA row
(Triton). CUDA rows synchronise after every call so that the timing covers the kernel. Every CUDA
result is checked against the CPU op before timing.
"""
import numpy as np
import pytest
import torch

import spotkern
from spotkern.data.soccernet_classes import K_V2_FRAMES
from spotkern.reference import (
    displace_scores_ref,
    nms_ref,
    reciprocal_matching_masked_ref,
    spotting_targets_ref,
    time_shift_encoding_ref,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def cuda_timed(fn, *args, **kwargs):
    def run():
        out = fn(*args, **kwargs)
        torch.cuda.synchronize()
        return out
    return run


def assert_same(cuda_out, cpu_out):
    cuda_out = cuda_out if isinstance(cuda_out, tuple) else (cuda_out,)
    cpu_out = cpu_out if isinstance(cpu_out, tuple) else (cpu_out,)
    for a, b in zip(cuda_out, cpu_out):
        np.testing.assert_array_equal(a.cpu().numpy(), np.asarray(b.cpu() if isinstance(b, torch.Tensor) else b))


@pytest.fixture(scope="module")
def half(tse_half):
    return tse_half


# --- time-shift encoding: one half, 64 halves ---------------------------------------------------------

@pytest.mark.benchmark(group="gpu tse 5400x17")
def test_tse_reference(benchmark, half):
    benchmark(time_shift_encoding_ref, half, K_V2_FRAMES)


@pytest.mark.benchmark(group="gpu tse 5400x17")
def test_tse_cpu(benchmark, half):
    benchmark(spotkern.time_shift_encoding, half, K_V2_FRAMES)


@pytest.mark.benchmark(group="gpu tse 5400x17")
def test_tse_cuda(benchmark, half):
    x = torch.from_numpy(half).cuda()
    assert_same(spotkern.time_shift_encoding(x, K_V2_FRAMES), spotkern.time_shift_encoding(half, K_V2_FRAMES))
    benchmark(cuda_timed(spotkern.time_shift_encoding, x, K_V2_FRAMES))


@pytest.mark.benchmark(group="gpu tse 64 halves")
def test_tse_batch_cpu(benchmark, half):
    packed = np.concatenate([half] * 64)
    benchmark(spotkern.time_shift_encoding_batch, packed, K_V2_FRAMES, np.full(64, 5400, dtype=np.int64))


@pytest.mark.benchmark(group="gpu tse 64 halves")
def test_tse_batch_cuda(benchmark, half):
    packed = torch.from_numpy(np.concatenate([half] * 64)).cuda()
    lengths = torch.full((64,), 5400, dtype=torch.int64, device="cuda")
    benchmark(cuda_timed(spotkern.time_shift_encoding_batch, packed, K_V2_FRAMES, lengths))


# --- spotting targets and matching: a batch of 256 CALF chunks --------------------------------------

@pytest.fixture(scope="module")
def chunks(half):
    tse = spotkern.time_shift_encoding(half, K_V2_FRAMES)
    starts = np.random.default_rng(1).integers(0, 5400 - 240, 256)
    return np.stack([tse[s:s + 240] for s in starts])


@pytest.mark.benchmark(group="gpu spotting targets 256x240x17")
def test_targets_reference(benchmark, chunks):
    benchmark(spotting_targets_ref, chunks, 15, 40)


@pytest.mark.benchmark(group="gpu spotting targets 256x240x17")
def test_targets_cpu(benchmark, chunks):
    benchmark(spotkern.spotting_targets, chunks, 15, border=40)


@pytest.mark.benchmark(group="gpu spotting targets 256x240x17")
def test_targets_cuda(benchmark, chunks):
    x = torch.from_numpy(chunks).cuda()
    assert_same(spotkern.spotting_targets(x, 15, border=40), spotkern.spotting_targets(chunks, 15, border=40))
    benchmark(cuda_timed(spotkern.spotting_targets, x, 15, border=40))


@pytest.fixture(scope="module")
def matching_batch():
    rng = np.random.default_rng(2)
    x = rng.random((256, 15)).astype(np.float32)
    a = rng.random((256, 15)) < 0.4
    x[~a] = 0
    p = rng.random((256, 15)).astype(np.float32)
    return x, a, p


@pytest.mark.benchmark(group="gpu matching 256x15")
def test_matching_reference_torch_cuda(benchmark, matching_batch):
    args = [torch.from_numpy(v).cuda() for v in matching_batch]
    benchmark(cuda_timed(reciprocal_matching_masked_ref, *args))


@pytest.mark.benchmark(group="gpu matching 256x15")
def test_matching_cpu(benchmark, matching_batch):
    benchmark(spotkern.reciprocal_matching, *matching_batch)


@pytest.mark.benchmark(group="gpu matching 256x15")
def test_matching_cuda(benchmark, matching_batch):
    args = [torch.from_numpy(v).cuda() for v in matching_batch]
    assert_same(spotkern.reciprocal_matching(*args), spotkern.reciprocal_matching(*matching_batch))
    benchmark(cuda_timed(spotkern.reciprocal_matching, *args))


# --- dense anchors: targets, scattering, NMS on a 5400 x 17 half --------------------------------------

@pytest.fixture(scope="module")
def events():
    rng = np.random.default_rng(3)
    return rng.integers(0, 5400, 60), rng.integers(0, 17, 60)


@pytest.mark.benchmark(group="gpu dense targets 5400x17")
def test_dense_targets_cpu(benchmark, events):
    benchmark(spotkern.dense_anchor_targets, *events, 5400, 17, radius_confidence=6, radius_displacement=12)


@pytest.mark.benchmark(group="gpu dense targets 5400x17")
def test_dense_targets_cuda(benchmark, events):
    f, c = (torch.from_numpy(v).cuda() for v in events)
    kw = dict(radius_confidence=6, radius_displacement=12)
    assert_same(spotkern.dense_anchor_targets(f, c, 5400, 17, **kw),
                spotkern.dense_anchor_targets(*events, 5400, 17, **kw))
    benchmark(cuda_timed(spotkern.dense_anchor_targets, f, c, 5400, 17, **kw))


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(4)
    return rng.random((5400, 17)).astype(np.float32), (rng.random((5400, 17)) * 2 - 1).astype(np.float32)


@pytest.mark.benchmark(group="gpu displace 5400x17")
def test_displace_reference(benchmark, scores):
    benchmark(displace_scores_ref, *scores, 12.0)


@pytest.mark.benchmark(group="gpu displace 5400x17")
def test_displace_cpu(benchmark, scores):
    benchmark(spotkern.displace_scores, *scores, 12.0)


@pytest.mark.benchmark(group="gpu displace 5400x17")
def test_displace_cuda(benchmark, scores):
    conf, disp = (torch.from_numpy(v).cuda() for v in scores)
    assert_same(spotkern.displace_scores(conf, disp, 12.0), spotkern.displace_scores(*scores, 12.0))
    benchmark(cuda_timed(spotkern.displace_scores, conf, disp, 12.0))


@pytest.mark.parametrize("method, window", [("hard", 40), ("calf", 40), ("linear", 8)])
def test_nms_reference(benchmark, scores, method, window):
    benchmark.group = f"gpu nms {method} 5400x17"
    benchmark.pedantic(nms_ref, (scores[0], window), {"method": method}, rounds=1, iterations=1)


@pytest.mark.parametrize("method, window", [("hard", 40), ("calf", 40), ("linear", 8)])
def test_nms_cpu(benchmark, scores, method, window):
    benchmark.group = f"gpu nms {method} 5400x17"
    benchmark(spotkern.nms, scores[0], window, method=method)


@pytest.mark.parametrize("method, window", [("hard", 40), ("calf", 40), ("linear", 8)])
def test_nms_cuda(benchmark, scores, method, window):
    benchmark.group = f"gpu nms {method} 5400x17"
    x = torch.from_numpy(scores[0]).cuda()
    assert_same(spotkern.nms(x, window, method=method), spotkern.nms(scores[0], window, method=method))
    benchmark(cuda_timed(spotkern.nms, x, window, method=method))
