"""Time-shift encoding: spec vectors (calf.md section 12), properties against the reference, torch
dispatch, custom-op checks and input errors."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import spotkern
from spotkern.reference import time_shift_encoding_ref
from helpers import draw_K, k_for, onehot



# --- spec vectors -----------------------------------------------------------------------------------

def test_calf_t1_no_single_and_many_action_classes():
    out = spotkern.time_shift_encoding(onehot(36, 3, [(6, 0), (20, 0), (10, 1)]), k_for(3))
    expected0 = [-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5,
                 6, 7, -16, -15, -14, -13, -12, -11, -10, -9]
    assert out.dtype == np.int32 and out.shape == (36, 3)
    assert out[:, 0].tolist() == expected0
    assert out[:, 1].tolist() == list(range(-10, 26))
    assert out[:, 2].tolist() == [-8] * 36


def test_calf_t2_tie_goes_to_future_action():
    out = spotkern.time_shift_encoding(onehot(20, 1, [(2, 0), (12, 0)]), k_for(1))
    assert out[:, 0].tolist() == [-2, -1, 0, 1, 2, 3, 4, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7]


def test_calf_t3_fade_rule_keeps_past_action():
    out = spotkern.time_shift_encoding(onehot(30, 1, [(5, 0), (9, 0), (22, 0)]), k_for(1))
    assert out[:, 0].tolist() == [-5, -4, -3, -2, -1, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, -6, -5, -4, -3, -2,
                                  -1, 0, 1, 2, 3, 4, 5, 6, 7]


def test_calf_t4_single_action_keeps_ramp_and_empty_class_is_K1():
    out = spotkern.time_shift_encoding(onehot(30, 2, [(10, 0)]), k_for(2, [-4, -2, 2, 4]))
    assert out[:, 0].tolist() == [t - 10 for t in range(30)]
    assert out[:, 1].tolist() == [-4] * 30


# --- properties against the reference ---------------------------------------------------------------

@st.composite
def halves(draw, max_T=20_000):
    T = draw(st.integers(1, max_T))
    C = draw(st.integers(1, 20))
    K = draw_K(draw, C, 300)
    n = draw(st.integers(0, min(60, 3 * T)))
    edge = st.sampled_from([0, T - 1])
    frames = draw(st.lists(st.one_of(st.integers(0, T - 1), edge), min_size=n, max_size=n))
    classes = draw(st.lists(st.integers(0, C - 1), min_size=n, max_size=n))
    return T, C, K, np.array(frames, dtype=np.int64), np.array(classes, dtype=np.int64)


@given(halves())
def test_matrix_form_matches_reference(h):
    T, C, K, frames, classes = h
    lab = np.zeros((T, C), dtype=np.float64)
    lab[frames, classes] = 1
    np.testing.assert_array_equal(spotkern.time_shift_encoding(lab, K), time_shift_encoding_ref(lab, K))


@given(halves(), st.sampled_from(["int32", "int64"]))
def test_event_form_with_duplicates_matches_reference(h, dtype):
    T, C, K, frames, classes = h
    frames = np.concatenate([frames, frames[:3]]).astype(dtype)  # duplicates collapse
    classes = np.concatenate([classes, classes[:3]]).astype(dtype)
    lab = np.zeros((T, C), dtype=np.uint8)
    lab[frames, classes] = 1
    out = spotkern.time_shift_encoding_from_events(frames, classes, K, T)
    np.testing.assert_array_equal(out, time_shift_encoding_ref(lab, K))


@given(st.lists(halves(max_T=3000), min_size=1, max_size=5).filter(lambda hs: len({h[1] for h in hs}) == 1))
def test_batch_of_halves_matches_per_half_reference(hs):
    K = hs[0][2]
    labs = []
    for T, C, _, frames, classes in hs:
        lab = np.zeros((T, C), dtype=np.int32)
        lab[frames, classes] = 1
        labs.append(lab)
    outs = spotkern.time_shift_encoding_batch(labs, K)
    assert len(outs) == len(labs)
    for lab, out in zip(labs, outs):
        np.testing.assert_array_equal(out, time_shift_encoding_ref(lab, K))


def test_values_other_than_one_are_not_actions():
    lab = np.array([[0.5], [1.0], [2.0], [0.0]], dtype=np.float32)
    out = spotkern.time_shift_encoding(lab, k_for(1))
    assert out[:, 0].tolist() == [-1, 0, 1, 2]  # one action, at frame 1


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
