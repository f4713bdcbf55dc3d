"""TSE on a 5400 x 17 half with ~50 actions (target <= 0.2 ms, one core), against the reference."""
import numpy as np
import pytest

import spotkern
from spotkern.data.soccernet_classes import K_V2_FRAMES
from spotkern.reference import time_shift_encoding_ref


@pytest.fixture(scope="module")
def half(tse_half):
    return tse_half


@pytest.mark.benchmark(group="tse 5400x17")
def test_tse_reference(benchmark, half):
    benchmark(time_shift_encoding_ref, half, K_V2_FRAMES)


@pytest.mark.benchmark(group="tse 5400x17")
def test_tse_spotkern(benchmark, half):
    out = benchmark(spotkern.time_shift_encoding, half, K_V2_FRAMES)
    np.testing.assert_array_equal(out, time_shift_encoding_ref(half, K_V2_FRAMES))


@pytest.mark.benchmark(group="tse 64 halves x 5400x17")
def test_tse_batch_reference(benchmark, half):
    benchmark(lambda: [time_shift_encoding_ref(half, K_V2_FRAMES) for _ in range(64)])


@pytest.mark.benchmark(group="tse 64 halves x 5400x17")
def test_tse_batch_spotkern(benchmark, half):
    packed = np.concatenate([half] * 64)
    lengths = np.full(64, 5400, dtype=np.int64)
    benchmark(spotkern.time_shift_encoding_batch, packed, K_V2_FRAMES, lengths)
