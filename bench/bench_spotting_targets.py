"""CALF spotting targets for 256 chunks of 240 frames (C = 17, N = 15, border 40), against the
reference, in one run."""
import numpy as np
import pytest
import torch

import spotkern
from spotkern.data.soccernet_classes import K_V2_FRAMES
from spotkern.reference import spotting_targets_ref

GROUP = "spotting_targets 256 chunks x 240 x 17, N=15"


@pytest.fixture(scope="module")
def chunks():
    """256 training chunks sliced from a half's TSE (5400 x 17, ~200 actions), as CALF samples them."""
    rng = np.random.default_rng(0)
    lab = np.zeros((5400, 17), dtype=np.float32)
    lab[rng.integers(0, 5400, 200), rng.integers(0, 17, 200)] = 1
    tse = spotkern.time_shift_encoding(lab, K_V2_FRAMES)
    starts = rng.integers(0, 5400 - 240, 256)
    return np.ascontiguousarray(np.stack([tse[s:s + 240] for s in starts]))


@pytest.mark.benchmark(group=GROUP)
def test_targets_reference(benchmark, chunks):
    benchmark(spotting_targets_ref, chunks, 15, 40)


@pytest.mark.benchmark(group=GROUP)
def test_targets_spotkern_numpy(benchmark, chunks):
    targets, dropped = benchmark(spotkern.spotting_targets, chunks, 15, border=40)
    ref_targets, ref_dropped = spotting_targets_ref(chunks, 15, 40)
    np.testing.assert_array_equal(targets, ref_targets)
    np.testing.assert_array_equal(dropped, ref_dropped)


@pytest.mark.benchmark(group=GROUP)
def test_targets_spotkern_torch(benchmark, chunks):
    t = torch.from_numpy(chunks)
    targets, _ = benchmark(spotkern.spotting_targets, t, 15, border=40)
    np.testing.assert_array_equal(targets.numpy(), spotting_targets_ref(chunks, 15, 40)[0])
