"""Time-shift encoding on every backend (tests/backends.py): spec vectors CALF-T1..T4 (calf.md §3.2, 9.2),
properties against the reference (matrix, event and batch forms), then per backend: the Triton launcher's
class blocks and tiles, CUDA against the CPU op at training sizes, and on the CPU torch dispatch, custom-op
checks and input errors."""
import numpy as np
import pytest
import torch
from backends import CPU, CUDA, INTERPRETER, backends, property_test, run, triton_module
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_vectors import CALF_T1, CALF_T2, CALF_T3, CALF_T4
from strategies import LABEL_DTYPES, half_batches, halves, label_matrix

import spotkern
from spotkern.data.soccernet_classes import K_V2_FRAMES
from spotkern.reference import time_shift_encoding_ref

from helpers import k_for, onehot

# --- spec vectors -----------------------------------------------------------------------------------


@backends()
@pytest.mark.parametrize("vector", [CALF_T1, CALF_T2, CALF_T3, CALF_T4], ids=["T1", "T2", "T3", "T4"])
def test_tse_tie_fade_and_background_rules(backend, vector):
    """CALF-T1 to CALF-T4, from a one-hot matrix and from events."""
    K = k_for(vector.C, vector.k)
    out = run(backend, spotkern.time_shift_encoding, onehot(vector.T, vector.C, vector.events), K)
    assert out.dtype == np.int32 and out.shape == (vector.T, vector.C)
    assert out.T.tolist() == vector.columns
    frames, classes = (np.array(v, dtype=np.int64).reshape(-1) for v in zip(*vector.events))
    ev = run(backend, spotkern.time_shift_encoding_from_events, frames, classes, K, vector.T)
    assert ev.T.tolist() == vector.columns


# --- properties against the reference ---------------------------------------------------------------

# The interpreter runs every program on the host: shorter halves and fewer examples there and on CUDA
# (whose training-size comparison is test_cuda_matches_the_cpu_op_at_training_sizes).
HALF = {CPU: dict(max_T=20_000, reach=300, max_events=60), INTERPRETER: dict(max_T=400), CUDA: dict(max_T=400)}
FEW = {INTERPRETER: 25, CUDA: 25}


@property_test(lambda b: st.tuples(halves(**HALF[b]), st.sampled_from(LABEL_DTYPES)), examples=FEW)
def test_matrix_form_matches_reference(backend, case):
    """Every label dtype."""
    (T, C, K, frames, classes), dtype = case
    lab = label_matrix(T, C, frames, classes, dtype)
    np.testing.assert_array_equal(run(backend, spotkern.time_shift_encoding, lab, K), time_shift_encoding_ref(lab, K))


@property_test(lambda b: st.tuples(halves(**HALF[b]), st.sampled_from(["int32", "int64"])),
               examples={INTERPRETER: 20, CUDA: 20})
def test_event_form_with_duplicates_matches_reference(backend, case):
    (T, C, K, frames, classes), dtype = case
    frames = np.concatenate([frames, frames[:3]]).astype(dtype)  # duplicates collapse into one action
    classes = np.concatenate([classes, classes[:3]]).astype(dtype)
    out = run(backend, spotkern.time_shift_encoding_from_events, frames, classes, K, T)
    np.testing.assert_array_equal(out, time_shift_encoding_ref(label_matrix(T, C, frames, classes), K))


BATCH = {CPU: dict(max_T=3000, max_C=20, reach=300, max_events=60), INTERPRETER: {}, CUDA: {}}


@property_test(lambda b: half_batches(**BATCH[b]), examples={INTERPRETER: 20, CUDA: 20})
def test_batch_of_halves_matches_per_half_reference(backend, case):
    """Halves of different lengths in one call (on the GPU one launch, a program per half and class block)."""
    K, labs = case
    outs = run(backend, spotkern.time_shift_encoding_batch, labs, K)
    assert len(outs) == len(labs)
    for lab, out in zip(labs, outs):
        np.testing.assert_array_equal(out, time_shift_encoding_ref(lab, K))


@backends()
def test_values_other_than_one_are_not_actions(backend):
    lab = np.array([[0.5], [1.0], [2.0], [0.0]], dtype=np.float32)
    assert run(backend, spotkern.time_shift_encoding, lab, k_for(1))[:, 0].tolist() == [-1, 0, 1, 2]  # one action
    lab = np.array([[1.0], [2.0], [0.5], [1.0], [-1.0], [0.0]], dtype=np.float32)
    np.testing.assert_array_equal(run(backend, spotkern.time_shift_encoding, lab, k_for(1)),
                                  time_shift_encoding_ref(lab, k_for(1)))


def _long_half():
    """1200 frames (a 10-minute stretch) with 30 events of the 17 v2 classes, two at the first and last frame."""
    rng = np.random.default_rng(0)
    lab = np.zeros((1200, 17), dtype=np.float32)
    lab[rng.integers(0, 1200, 30), rng.integers(0, 17, 30)] = 1
    lab[0, 3] = lab[1199, 3] = 1
    return lab


@backends()
def test_long_half_with_the_v2_table_matches_reference(backend):
    """With the v2 K table; on the GPU one class per program (one half) and many tiles per program."""
    lab = _long_half()
    np.testing.assert_array_equal(run(backend, spotkern.time_shift_encoding, lab, K_V2_FRAMES),
                                  time_shift_encoding_ref(lab, K_V2_FRAMES))


# --- the Triton launcher: class blocks and tiles ------------------------------------------------------

@backends(INTERPRETER)
@settings(max_examples=15)
@given(halves(max_T=300), st.sampled_from([1, 4, 32, 64]))
def test_every_class_block_layout_matches_reference(backend, h, block_c):
    """From one class per program up to whole rows with masked lanes (the launcher's ``block_c``)."""
    ktse = triton_module("time_shift_encoding")
    T, C, K, frames, classes = h
    lab = label_matrix(T, C, frames, classes)
    out = ktse.time_shift_encoding_packed_triton(torch.from_numpy(lab), torch.tensor([T]), torch.from_numpy(K),
                                                 block_c).numpy()
    np.testing.assert_array_equal(out, time_shift_encoding_ref(lab, K))


@backends(INTERPRETER)
def test_whole_rows_per_program_on_a_long_half(backend):
    """The long half with 32 class lanes per program (17 used), as many halves would get."""
    ktse = triton_module("time_shift_encoding")
    lab = _long_half()
    out = ktse.time_shift_encoding_packed_triton(torch.from_numpy(lab), torch.tensor([1200]),
                                                 torch.from_numpy(K_V2_FRAMES), 32)
    np.testing.assert_array_equal(out.numpy(), time_shift_encoding_ref(lab, K_V2_FRAMES))


@backends(INTERPRETER)
def test_block_sizes_follow_the_problem(backend):
    ktse = triton_module("time_shift_encoding")
    assert ktse._blocks(1, 5400, 17)[:2] == (1024, 1)  # one half: one class per program
    assert ktse._blocks(64, 5400, 17)[:2] == (256, 4)  # 64 halves x 5 class blocks = 320 programs
    assert ktse._blocks(1024, 5400, 17)[:2] == (32, 32)  # many halves: whole rows, coalesced
    assert ktse._blocks(1024, 10, 17)[0] == 16  # short halves get short tiles
    assert ktse._blocks(1024, 5400, 500)[1] == 64  # many classes: several class blocks


# --- CUDA at training sizes ---------------------------------------------------------------------------

@backends(CUDA)
@settings(max_examples=25)
@given(T=st.integers(1, 600), n=st.integers(0, 30), seed=st.integers(0, 2**16))
def test_cuda_matches_the_cpu_op_at_training_sizes(backend, T, n, seed):
    rng = np.random.default_rng(seed)
    lab = np.zeros((T, 17), np.float32)
    lab[rng.integers(0, T, n), rng.integers(0, 17, n)] = 1
    lab[0, 0] = lab[T - 1, 16] = 1  # events at the first and last frame
    lab, K = torch.from_numpy(lab), torch.from_numpy(K_V2_FRAMES)
    np.testing.assert_array_equal(run(backend, spotkern.time_shift_encoding, lab, K),
                                  spotkern.time_shift_encoding(lab, K))
    halves_ = [lab, lab[: max(T // 2, 1)]]
    for got, want in zip(run(backend, spotkern.time_shift_encoding_batch, halves_, K),
                         spotkern.time_shift_encoding_batch(halves_, K)):
        np.testing.assert_array_equal(got, want)


# --- torch ------------------------------------------------------------------------------------------

def test_torch_input_returns_tensor_equal_to_numpy():
    lab = onehot(200, 4, [(0, 0), (199, 0), (50, 1), (51, 1), (100, 2)])
    K = k_for(4)
    out = spotkern.time_shift_encoding(torch.from_numpy(lab), torch.from_numpy(K))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.int32 and out.device.type == "cpu"
    np.testing.assert_array_equal(out.numpy(), spotkern.time_shift_encoding(lab, K))
    outs = spotkern.time_shift_encoding_batch([torch.from_numpy(lab)] * 2, torch.from_numpy(K))
    assert all(isinstance(o, torch.Tensor) and o.shape == (200, 4) for o in outs)
    ev = spotkern.time_shift_encoding_from_events(torch.tensor([0, 199, 50]), torch.tensor([0, 0, 1]), K, 200)
    assert isinstance(ev, torch.Tensor) and ev.shape == (200, 4)


def test_opcheck():
    lab = torch.from_numpy(onehot(64, 3, [(3, 0), (40, 0), (10, 2)]))
    K = torch.from_numpy(k_for(3))
    torch.library.opcheck(torch.ops.spotkern.time_shift_encoding_packed.default,
                          (lab, torch.tensor([30, 34]), K))
    torch.library.opcheck(torch.ops.spotkern.time_shift_encoding_events.default,
                          (torch.tensor([3, 40, 10]), torch.tensor([0, 0, 2]), K, 64))


def test_compiles_fullgraph():
    K = torch.from_numpy(k_for(3))

    def f(lab):
        return spotkern.time_shift_encoding(lab, K).float() * 2

    lab = torch.from_numpy(onehot(64, 3, [(3, 0), (40, 0), (10, 2)]))
    compiled = torch.compile(f, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(lab), f(lab))


# --- bad input ----------------------------------------------------------------------------------------

GOOD = onehot(10, 2, [(3, 0)])


@pytest.mark.parametrize(
    "labels, K, exc, match",
    [
        (np.zeros(10, np.float32), k_for(2), ValueError, "labels must have 2 dimensions"),
        (np.zeros((0, 2), np.float32), k_for(2), ValueError, "labels must not be empty"),
        (np.zeros((10, 0), np.float32), k_for(0), ValueError, "labels must not be empty"),
        (GOOD.astype(np.float16), k_for(2), TypeError, "labels must have dtype"),
        (np.full((10, 2), np.nan, np.float32), k_for(2), ValueError, "labels contains NaN"),
        ([[0, 1]], k_for(2), TypeError, "labels must be a numpy array"),
        (GOOD, k_for(3), ValueError, r"K must have shape \(4, 2\)"),
        (GOOD, k_for(2)[:3], ValueError, r"K must have shape \(4, C\)"),
        (GOOD, k_for(2).astype(np.float16), TypeError, "K must have dtype"),
        (GOOD, k_for(2) + np.float32(0.5), ValueError, "K must hold whole frames, got -7.5 .K in seconds"),
        (GOOD, np.where(k_for(2) == 4, np.nan, k_for(2)), ValueError, "K contains NaN"),
        (np.ma.masked_array(GOOD), k_for(2), TypeError, "labels must be a plain numpy array"),
        (GOOD, k_for(2, [-4, -8, 4, 8]), ValueError, "K1 < K2 < 0 < K3 < K4"),
        (GOOD, k_for(2, [-8, -4, 8, 8]), ValueError, "K1 < K2 < 0 < K3 < K4"),
        (GOOD, k_for(2, [-8, 0, 4, 8]), ValueError, "K1 < K2 < 0 < K3 < K4"),
    ],
)
def test_bad_input_raises_named_error(labels, K, exc, match):
    with pytest.raises(exc, match=match) as info:
        spotkern.time_shift_encoding(labels, K)
    assert str(info.value).startswith("time_shift_encoding:")


@pytest.mark.parametrize(
    "frames, classes, T, exc, match",
    [
        (np.array([-1]), np.array([0]), 10, ValueError, "frames must lie in"),
        (np.array([10]), np.array([0]), 10, ValueError, "frames must lie in"),
        (np.array([3]), np.array([2]), 10, ValueError, "classes must lie in"),
        (np.array([3]), np.array([0]), 0, ValueError, "num_frames must be >= 1"),
        (np.array([3.0]), np.array([0]), 10, TypeError, "frames must have dtype"),
        (np.array([3, 4]), np.array([0]), 10, ValueError, "same length"),
    ],
)
def test_bad_events_raise_named_error(frames, classes, T, exc, match):
    with pytest.raises(exc, match=match) as info:
        spotkern.time_shift_encoding_from_events(frames, classes, k_for(2), T)
    assert str(info.value).startswith("time_shift_encoding_from_events:")


def test_bad_batch_lengths_raise_named_error():
    lab = onehot(10, 2, [])
    with pytest.raises(ValueError, match="lengths must sum"):
        spotkern.time_shift_encoding_batch(lab, k_for(2), np.array([4, 5], np.int64))
    with pytest.raises(ValueError, match="lengths must all be positive"):
        spotkern.time_shift_encoding_batch(lab, k_for(2), np.array([10, 0], np.int64))
    with pytest.raises(TypeError, match="non-empty sequence"):
        spotkern.time_shift_encoding_batch([], k_for(2))


def test_cpp_backstop_rejects_converted_dtypes():
    """The binding takes buffers as they are: a float16 array is refused, never silently cast."""
    from spotkern._ext import ext

    with pytest.raises(TypeError):
        ext().time_shift_encoding_packed(GOOD.astype(np.float16), np.array([10]), k_for(2))


def test_compiles_fullgraph_with_numpy_K_and_strided_K_view():
    """K is a parameter table: a numpy K and a strided view of a wider table both work, eagerly and compiled."""
    wide = k_for(6)
    K = wide[:, ::2]  # (4, 3), not contiguous
    lab = torch.from_numpy(onehot(64, 3, [(3, 0), (40, 0), (10, 2)]))

    def f(x):
        return spotkern.time_shift_encoding(x, K)

    expected = time_shift_encoding_ref(lab.numpy(), K)
    np.testing.assert_array_equal(f(lab).numpy(), expected)
    np.testing.assert_array_equal(torch.compile(f, fullgraph=True, backend="eager")(lab).numpy(), expected)


# --- range limits (audit) ------------------------------------------------------------------------------

@pytest.mark.parametrize("K", [
    np.array([[-2**32 - 8], [-4], [4], [8]], dtype=np.int64),   # wraps to -8 in an int32 cast
    [[-2**32 - 8], [-4], [4], [8]],
    np.array([[-8], [-4], [4], [2**32 + 8]], dtype=np.int64),   # K4 wraps to 8
])
def test_K_outside_int32_is_refused_not_wrapped(K):
    """An int64 K is range-checked before the int32 cast: -2**32 - 8 must not silently become -8."""
    with pytest.raises(ValueError, match="K must lie in") as info:
        spotkern.time_shift_encoding(onehot(10, 1, [(3, 0)]), K)
    assert str(info.value).startswith("time_shift_encoding:")


@pytest.mark.parametrize("T", [2**31 + 10, 2**40])
def test_num_frames_beyond_the_int32_encoding_is_refused(T):
    """s = t - a would wrap in the int32 output past 2**31 frames (and T = 2**40 cannot be allocated):
    a named ValueError before any allocation."""
    with pytest.raises(ValueError, match="num_frames must be <=") as info:
        spotkern.time_shift_encoding_from_events(np.array([0, 5]), np.array([0, 0]), k_for(1), T)
    assert str(info.value).startswith("time_shift_encoding_from_events:")


def test_largest_K_still_encodes_exactly():
    """|K| = 2**30 (the limit) is accepted and gives the spec's values (rule 1 and rule 3 ramps)."""
    big = 2**30
    K = np.array([[-big, -big], [-1, -1], [1, 1], [big, big]], dtype=np.int64)
    out = spotkern.time_shift_encoding(onehot(12, 2, [(2, 0), (9, 0)]), K)
    assert out[:, 1].tolist() == [-big] * 12  # no action: K1
    # s1 < K4 = 2**30 everywhere and s2 > K1, so the fade rule decides between the two actions:
    np.testing.assert_array_equal(out, time_shift_encoding_ref(onehot(12, 2, [(2, 0), (9, 0)]), K))
