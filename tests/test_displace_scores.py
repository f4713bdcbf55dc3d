"""Displacement scattering: spec vector (dense_anchors.md 9 DA-T6), properties against the spec loop,
torch dispatch, custom-op checks and input errors."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import spotkern
from spotkern.reference import displace_scores_ref

CONF = np.array([0.2, 0.9, 0.5, 0.7, 0.1, 0.3], dtype=np.float32)[:, None]
DELTA = np.array([0.4, 1.5, -0.5, -1.5, 2.6, 9.0], dtype=np.float32)[:, None]  # frames
EXPECTED = np.float32([0.2, 0.7, 0.5, 0.9, 0.0, 0.3])


def test_da_t6_in_frames():
    out = spotkern.displace_scores(CONF, DELTA, 1.0)
    assert out.dtype == np.float32 and out.shape == (6, 1)
    np.testing.assert_array_equal(out[:, 0], EXPECTED)


def test_da_t6_in_rd_units_scales_before_rounding():
    # delta / rd is exact for rd = 4, so rint sees the same half-integers (1.5 -> 2, -0.5 -> -0, -1.5 -> -2).
    out = spotkern.displace_scores(CONF, DELTA / np.float32(4), 4.0)
    np.testing.assert_array_equal(out[:, 0], EXPECTED)


def test_round_half_to_even():
    T = 9
    conf = np.zeros((T, 5), np.float32)
    conf[4] = [0.1, 0.2, 0.3, 0.4, 0.5]
    delta = np.zeros((T, 5), np.float32)
    delta[4] = [0.5, 1.5, 2.5, -0.5, -2.5]  # -> 0, 2, 2, 0, -2
    out = spotkern.displace_scores(conf, delta, 1.0)
    assert [int(np.flatnonzero(out[:, c])[0]) for c in range(5)] == [4, 6, 6, 4, 2]


@st.composite
def problems(draw):
    batched = draw(st.booleans())
    B = draw(st.integers(1, 3)) if batched else None
    T = draw(st.integers(0, 150))
    C = draw(st.integers(1, 4))
    shape = ((B,) if batched else ()) + (T, C)
    n = int(np.prod(shape))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    rd = draw(st.sampled_from([1.0, 2.0, 6.0, 12.0, 2.5]))
    conf = rng.random(n).astype(np.float32)
    if draw(st.booleans()):
        conf = np.round(conf * 3) / 3  # ties on collisions
    kind = draw(st.sampled_from(["uniform", "halves", "huge"]))
    if kind == "uniform":
        disp = rng.uniform(-1, 1, n)
    elif kind == "halves":  # exact half-frame displacements: the rounding rule decides
        disp = rng.integers(-2 * T - 4, 2 * T + 4, n) / 2 / rd
    else:  # far out of range: clamped to the first/last frame
        disp = rng.uniform(-1e6, 1e6, n)
    return conf.astype(np.float32).reshape(shape), disp.astype(np.float32).reshape(shape), rd


@given(problems())
def test_matches_reference(p):
    conf, disp, rd = p
    out = spotkern.displace_scores(conf, disp, rd)
    np.testing.assert_array_equal(out, displace_scores_ref(conf, disp, rd))


def test_zero_displacement_is_identity_for_non_negative_scores():
    conf = np.random.default_rng(0).random((50, 3)).astype(np.float32)
    np.testing.assert_array_equal(spotkern.displace_scores(conf, np.zeros_like(conf), 12.0), conf)


# --- torch --------------------------------------------------------------------------------------------

def test_torch_input_returns_tensor_equal_to_numpy():
    rng = np.random.default_rng(0)
    conf = rng.random((2, 100, 3)).astype(np.float32)
    disp = rng.uniform(-1, 1, (2, 100, 3)).astype(np.float32)
    out = spotkern.displace_scores(torch.from_numpy(conf), torch.from_numpy(disp), 12.0)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (2, 100, 3)
    np.testing.assert_array_equal(out.numpy(), spotkern.displace_scores(conf, disp, 12.0))


def test_opcheck():
    rng = np.random.default_rng(0)
    conf = torch.from_numpy(rng.random((40, 3)).astype(np.float32))
    disp = torch.from_numpy(rng.uniform(-1, 1, (40, 3)).astype(np.float32))
    torch.library.opcheck(torch.ops.spotkern.displace_scores.default, (conf, disp, 6.0))
    torch.library.opcheck(torch.ops.spotkern.displace_scores.default, (conf[None], disp[None], 6.0))


def test_compiles_fullgraph():
    def f(conf, disp):
        return spotkern.displace_scores(torch.sigmoid(conf), torch.tanh(disp), 12.0) * 2

    rng = np.random.default_rng(0)
    conf = torch.from_numpy(rng.normal(size=(64, 3)).astype(np.float32))
    disp = torch.from_numpy(rng.normal(size=(64, 3)).astype(np.float32))
    compiled = torch.compile(f, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(conf, disp), f(conf, disp))


# --- bad input ----------------------------------------------------------------------------------------

GOOD = np.random.default_rng(0).random((10, 2)).astype(np.float32)


def _with(value):
    x = GOOD.copy()
    x[4, 1] = value
    return x


@pytest.mark.parametrize(
    "conf, disp, rd, exc, match",
    [
        (_with(np.nan), GOOD, 6.0, ValueError, "confidence contains NaN"),
        (GOOD, _with(np.nan), 6.0, ValueError, "displacement contains NaN"),
        (GOOD, _with(-np.inf), 6.0, ValueError, "displacement contains NaN or infinite"),
        (GOOD.astype(np.float16), GOOD, 6.0, TypeError, "confidence must have dtype float32 or float64"),
        (GOOD, GOOD.astype(np.float16), 6.0, TypeError, "displacement must have dtype float32"),
        (GOOD, GOOD[:5], 6.0, ValueError, "displacement must have the shape of confidence"),
        (GOOD[:, 0], GOOD[:, 0], 6.0, ValueError, "confidence must have 2 or 3 dimensions"),
        (GOOD, torch.from_numpy(GOOD), 6.0, TypeError, "must all be numpy arrays or all torch tensors"),
        (GOOD, GOOD, 0.0, ValueError, "radius_displacement must be > 0"),
        (GOOD, GOOD, float("inf"), ValueError, "radius_displacement must be finite"),
        (GOOD, GOOD, "6", TypeError, "radius_displacement must be a real number"),
    ],
)
def test_bad_input_raises_named_error(conf, disp, rd, exc, match):
    with pytest.raises(exc, match=match) as info:
        spotkern.displace_scores(conf, disp, rd)
    assert str(info.value).startswith("displace_scores:")


def test_large_batch_parallel_path_equals_per_half():
    rng = np.random.default_rng(5)
    conf = rng.random((80, 224, 17)).astype(np.float32)
    disp = np.tanh(rng.normal(size=(80, 224, 17))).astype(np.float32)
    out = spotkern.displace_scores(conf, disp, 12.0)
    for b in (0, 41, 79):
        np.testing.assert_array_equal(out[b], displace_scores_ref(conf[b], disp[b], 12.0))
