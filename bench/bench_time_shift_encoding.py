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


# --- many halves in one call against a Python loop of the single op (issue 11.4), one thread and two ---

@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("halves", [16, 600])
@pytest.mark.parametrize("how", ["loop", "batch"])
def test_tse_many_halves(benchmark, half, how, halves, threads):
    from spotkern._ext import ext

    benchmark.group = f"tse {halves} halves x 5400x17, {threads} thread(s)"
    labels = [half] * halves
    ext().set_num_threads(threads)
    try:
        if how == "loop":
            benchmark.pedantic(lambda: [spotkern.time_shift_encoding(h, K_V2_FRAMES) for h in labels],
                               rounds=3 if halves > 100 else 10, iterations=1)
        else:
            benchmark.pedantic(spotkern.time_shift_encoding_batch, args=(labels, K_V2_FRAMES),
                               rounds=3 if halves > 100 else 10, iterations=1)
    finally:
        ext().set_num_threads(1)
