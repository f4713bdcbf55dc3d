"""CALF spotting targets on every backend (tests/backends.py): spec vector CALF-T5 (calf.md §4), properties
against the reference, positions t / L, then per backend: the Triton block size, CUDA against the CPU op at
training sizes, and on the CPU the parallel path, a real half, torch dispatch, custom-op checks and input
errors."""
import glob
import json
import os

import numpy as np
import pytest
import torch
from backends import CPU, CUDA, INTERPRETER, backends, property_test, run, triton_module
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_vectors import CALF_T5
from strategies import chunk_tses

import spotkern
from spotkern.data.soccernet_classes import CLASSES_V2, K_V2_FRAMES
from spotkern.reference import spotting_targets_ref

from helpers import onehot

# --- spec vector ----------------------------------------------------------------------------------


def t5_chunk():
    """(240, 3) int32: the encoding of CALF-T5's chunk."""
    return spotkern.time_shift_encoding(onehot(CALF_T5.L, CALF_T5.C, CALF_T5.actions), CALF_T5.K)


def check_t5(targets, dropped):
    assert targets.shape == (5, 5) and targets.dtype == np.float32
    expected = np.zeros((5, 5), dtype=np.float32)
    for k, (t, c) in enumerate(CALF_T5.slots):
        expected[k, 0] = 1
        expected[k, 1] = np.float32(t / CALF_T5.L)
        expected[k, 2 + c] = 1
    np.testing.assert_array_equal(targets, expected)
    assert int(dropped) == CALF_T5.dropped


@backends()
@pytest.mark.parametrize("batched", [False, True], ids=["chunk", "batch"])
def test_border_argument_ignores_border_actions_and_writes_nothing(backend, batched):
    """CALF-T5, the border given as an argument."""
    chunk = t5_chunk()[None] if batched else t5_chunk()
    before = chunk.copy()
    targets, dropped = run(backend, spotkern.spotting_targets, chunk, CALF_T5.num_slots, border=CALF_T5.border)
    check_t5(*((targets[0], dropped[0]) if batched else (targets, dropped)))
    np.testing.assert_array_equal(chunk, before)  # the half's encoding is never written (calf.md D1)


@backends()
def test_border_written_by_the_caller_gives_the_same_targets(backend):
    """CALF-T5, the border written into the chunk."""
    chunk = t5_chunk()
    chunk[:40] = -1
    chunk[200:] = -1
    check_t5(*run(backend, spotkern.spotting_targets, chunk, CALF_T5.num_slots))


@backends()
def test_without_border_keeps_border_actions(backend):
    """CALF-T5 without a border."""
    targets, dropped = run(backend, spotkern.spotting_targets, t5_chunk(), 9)
    assert int(dropped) == 0
    assert targets[0, 1] == np.float32(20 / 240) and targets[0, 3] == 1  # (20, 1) comes first
    assert targets[8, 1] == np.float32(210 / 240) and targets[8, 2] == 1  # (210, 0) last


@backends()
def test_unused_slots_are_zero_and_nothing_dropped(backend):
    targets, dropped = run(backend, spotkern.spotting_targets, t5_chunk(), 15, border=40)
    assert int(dropped) == 0
    assert targets[:7, 0].tolist() == [1] * 7
    assert not targets[7:].any()


# --- properties against the reference -------------------------------------------------------------

CHUNKS = {CPU: {}, INTERPRETER: dict(max_B=4, max_L=80, max_C=8), CUDA: dict(max_B=4, max_L=80, max_C=8)}


@property_test(lambda b: chunk_tses(**CHUNKS[b]), examples={INTERPRETER: 30, CUDA: 30})
def test_batch_matches_reference(backend, case):
    tse, N, border = case
    targets, dropped = run(backend, spotkern.spotting_targets, tse, N, border=border)
    ref_targets, ref_dropped = spotting_targets_ref(tse, N, border)
    assert targets.shape == ref_targets.shape and targets.dtype == np.float32
    assert dropped.dtype == np.int64 and dropped.shape == (tse.shape[0],)
    np.testing.assert_array_equal(targets, ref_targets)
    np.testing.assert_array_equal(dropped, ref_dropped)


@property_test(lambda b: chunk_tses(**{**CHUNKS[b], "max_B": 1}), examples={CPU: 30, INTERPRETER: 10, CUDA: 10})
def test_single_chunk_matches_reference(backend, case):
    tse, N, border = case
    targets, dropped = run(backend, spotkern.spotting_targets, tse[0], N, border=border)
    ref_targets, ref_dropped = spotting_targets_ref(tse[0], N, border)
    np.testing.assert_array_equal(targets, ref_targets)
    assert np.ndim(dropped) == 0 and int(dropped) == ref_dropped


@backends()
@pytest.mark.parametrize("L", [240, 1001])
def test_positions_are_the_float64_quotient_rounded_once(backend, L):
    """Every row of a long chunk is an action of class 0: position t / L for every t."""
    tse = np.ones((1, L, 2), dtype=np.int32)
    tse[0, :, 0] = 0
    targets, dropped = run(backend, spotkern.spotting_targets, tse, L, border=0)
    np.testing.assert_array_equal(targets[0, :, 1], (np.arange(L) / L).astype(np.float32))
    assert dropped.tolist() == [0]


# --- the Triton launcher and CUDA at training sizes -----------------------------------------------

@backends(INTERPRETER)
def test_block_grows_with_the_chunk(backend):
    kst = triton_module("spotting_targets")
    assert kst._block(1) == 128
    assert kst._block(160 * 17) == 2048
    assert kst._block(10**6) == 2048


@backends(CUDA)
@settings(max_examples=25)
@given(B=st.integers(1, 16), seed=st.integers(0, 2**16), border=st.sampled_from([0, 40]))
def test_cuda_matches_the_cpu_op_at_training_sizes(backend, B, seed, border):
    g = torch.Generator().manual_seed(seed)
    tse = torch.randint(-300, 300, (B, 240, 17), generator=g, dtype=torch.int32)
    tse[torch.rand(B, 240, 17, generator=g) < 0.01] = 0  # actions, ties included
    got = run(backend, spotkern.spotting_targets, tse, 15, border=border)
    for g_, w in zip(got, spotkern.spotting_targets(tse, 15, border=border)):
        np.testing.assert_array_equal(g_, w)


# --- CPU: the parallel path and a real half -------------------------------------------------------

def test_large_batch_runs_in_parallel_and_matches_reference(rng):
    # B * L * C above the kernel's OpenMP threshold.
    tse = rng.integers(-60, 60, size=(300, 240, 17)).astype(np.int32)
    targets, dropped = spotkern.spotting_targets(tse, 15, border=40)
    ref_targets, ref_dropped = spotting_targets_ref(tse, 15, 40)
    np.testing.assert_array_equal(targets, ref_targets)
    np.testing.assert_array_equal(dropped, ref_dropped)
    assert dropped.sum() > 0


def test_real_half_chunks_match_reference(shared_dir):
    """Chunks of a real SoccerNet-v2 half, labels placed at 2 fps from gameTime (calf.md 2.3)."""
    paths = sorted(glob.glob(os.path.join(shared_dir, "data", "soccernet-v2-labels", "**", "Labels-v2.json"),
                             recursive=True))
    if not paths:
        pytest.skip("no Labels-v2.json under shared/data")
    with open(paths[0]) as f:
        annotations = json.load(f)["annotations"]
    T = 5400
    lab = np.zeros((T, len(CLASSES_V2)), dtype=np.float32)
    for a in annotations:
        half, clock = a["gameTime"].split(" - ")
        if half.strip() != "1" or a["label"] not in CLASSES_V2:
            continue
        mm, ss = (int(v) for v in clock.split(":"))
        lab[min(2 * (60 * mm + ss), T - 1), CLASSES_V2.index(a["label"])] = 1
    assert lab.sum() > 10
    tse = spotkern.time_shift_encoding(lab, K_V2_FRAMES)
    chunks = np.stack([tse[s:s + 240] for s in range(0, T - 240, 37)])
    targets, dropped = spotkern.spotting_targets(chunks, 15, border=40)
    ref_targets, ref_dropped = spotting_targets_ref(chunks, 15, 40)
    np.testing.assert_array_equal(targets, ref_targets)
    np.testing.assert_array_equal(dropped, ref_dropped)
    assert targets[:, :, 0].sum() > 0


# --- torch ----------------------------------------------------------------------------------------

def test_torch_input_returns_tensors_equal_to_numpy():
    batch = np.stack([t5_chunk(), np.full((240, 3), -4, np.int32)])
    targets, dropped = spotkern.spotting_targets(torch.from_numpy(batch), 5, border=40)
    assert isinstance(targets, torch.Tensor) and targets.dtype == torch.float32 and targets.shape == (2, 5, 5)
    assert isinstance(dropped, torch.Tensor) and dropped.dtype == torch.int64 and dropped.tolist() == [2, 0]
    np_targets, _ = spotkern.spotting_targets(batch, 5, border=40)
    np.testing.assert_array_equal(targets.numpy(), np_targets)
    single_targets, single_dropped = spotkern.spotting_targets(torch.from_numpy(t5_chunk()), 5, border=40)
    assert single_targets.shape == (5, 5) and single_dropped.ndim == 0 and int(single_dropped) == 2


def test_opcheck():
    batch = torch.from_numpy(np.stack([t5_chunk(), t5_chunk()]))
    torch.library.opcheck(torch.ops.spotkern.spotting_targets.default, (batch, 5, 40))
    torch.library.opcheck(torch.ops.spotkern.spotting_targets.default, (batch, 15, 0))


def _compiled_pipeline(backend):
    def f(tse):
        targets, dropped = spotkern.spotting_targets(tse, 5, border=40)
        return targets * 2, dropped + 1

    batch = torch.from_numpy(np.stack([t5_chunk(), t5_chunk()]))
    compiled = torch.compile(f, fullgraph=True, backend=backend)
    got, want = compiled(batch), f(batch)
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])


def test_compiles_fullgraph():
    _compiled_pipeline("eager")


def test_compiles_fullgraph_inductor():
    _compiled_pipeline("inductor")


# --- bad input ------------------------------------------------------------------------------------

GOOD = np.zeros((2, 10, 3), np.int32)


@pytest.mark.parametrize(
    "chunk_tse, num_slots, border, exc, match",
    [
        (np.zeros(10, np.int32), 5, 0, ValueError, "chunk_tse must have 2 or 3 dimensions"),
        (np.zeros((1, 2, 10, 3), np.int32), 5, 0, ValueError, "chunk_tse must have 2 or 3 dimensions"),
        (np.zeros((0, 10, 3), np.int32), 5, 0, ValueError, "chunk_tse must not be empty"),
        (np.zeros((2, 0, 3), np.int32), 5, 0, ValueError, "chunk_tse must not be empty"),
        (np.zeros((2, 10, 0), np.int32), 5, 0, ValueError, "chunk_tse must not be empty"),
        (GOOD.astype(np.float64) + 0.5, 5, 0, ValueError, "chunk_tse must hold integer frames, got the non-integral"),
        (np.where(GOOD == 0, np.nan, GOOD.astype(np.float32)), 5, 0, ValueError, "chunk_tse contains NaN"),
        (GOOD.astype(np.int64) + 2**40, 5, 0, ValueError, r"chunk_tse must lie in \[-2147483648, 2147483647\]"),
        (GOOD.astype(np.float16), 5, 0, TypeError, "chunk_tse must have dtype int32 or int64 or float32"),
        (GOOD.tolist(), 5, 0, TypeError, "chunk_tse must be a numpy array"),
        (GOOD, 0, 0, ValueError, "num_slots must be >= 1"),
        (GOOD, -3, 0, ValueError, "num_slots must be >= 1"),
        (GOOD, 5.0, 0, TypeError, "num_slots must be an integer"),
        (GOOD, True, 0, TypeError, "num_slots must be an integer"),
        (GOOD, 5, -1, ValueError, "border must be >= 0"),
        (GOOD, 5, 6, ValueError, r"border must satisfy 2 \* border <= L = 10"),
        (GOOD, 5, 2.5, TypeError, "border must be an integer"),
    ],
)
def test_bad_input_raises_named_error(chunk_tse, num_slots, border, exc, match):
    with pytest.raises(exc, match=match) as info:
        spotkern.spotting_targets(chunk_tse, num_slots, border=border)
    assert str(info.value).startswith("spotting_targets:")


def test_bad_tensor_input_raises_named_error():
    with pytest.raises(ValueError, match="chunk_tse must hold integer frames"):
        spotkern.spotting_targets(torch.full((2, 10, 3), 0.25, dtype=torch.float64), 5)
    with pytest.raises(TypeError, match="chunk_tse must have dtype int32 or int64"):
        spotkern.spotting_targets(torch.zeros(2, 10, 3, dtype=torch.int16), 5)


def test_border_of_half_the_chunk_ignores_everything():
    targets, dropped = spotkern.spotting_targets(np.zeros((2, 10, 3), np.int32), 4, border=5)
    assert not targets.any() and dropped.tolist() == [0, 0]


def test_cpp_backstop_rejects_converted_dtypes_and_bad_arguments():
    from spotkern._ext import ext

    with pytest.raises(TypeError):
        ext().spotting_targets(GOOD.astype(np.int64), 5, 0)
    with pytest.raises(ValueError, match="spotting_targets: border"):
        ext().spotting_targets(GOOD, 5, 6)
    with pytest.raises(ValueError, match="spotting_targets: num_slots"):
        ext().spotting_targets(GOOD, 0, 0)
