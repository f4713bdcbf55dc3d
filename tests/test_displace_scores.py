"""Displacement scattering on every backend (tests/backends.py): spec vector DA-T6 (dense_anchors.md
§7.1), properties against the spec loop (collisions: the GPU's atomic max on the float bits is
order-independent; rounding half to even; clamping at both ends; negative and -0.0 scores), float64;
then per backend: CUDA against the CPU op at training sizes, and on the CPU torch dispatch, custom-op
checks, input errors and the parallel path."""
import numpy as np
import pytest
import torch
from backends import CPU, CUDA, INTERPRETER, backends, property_test, run
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_vectors import DA_T6
from strategies import displacement_maps

import spotkern
from spotkern.reference import displace_scores_ref

CONF = np.float32(DA_T6.confidence)[:, None]
DELTA = np.float32(DA_T6.displacement)[:, None]  # frames


@backends()
def test_scores_land_on_rounded_targets_keeping_the_highest(backend):
    """DA-T6: each score moves to t + rint(delta), clipped; a frame receiving several keeps the highest,
    one receiving none gets 0."""
    out = run(backend, spotkern.displace_scores, CONF, DELTA, 1.0)
    assert out.dtype == np.float32 and out.shape == (6, 1)
    np.testing.assert_array_equal(out[:, 0], np.float32(DA_T6.expected))


@backends()
def test_displacement_in_rd_units_scales_before_rounding(backend):
    """DA-T6 with the displacements in rd units."""
    # delta / rd is exact for rd = 4, so rint sees the same half-integers (1.5 -> 2, -0.5 -> -0, -1.5 -> -2).
    out = run(backend, spotkern.displace_scores, CONF, DELTA / np.float32(4), 4.0)
    np.testing.assert_array_equal(out[:, 0], np.float32(DA_T6.expected))


@backends()
def test_round_half_to_even(backend):
    T = 9
    conf = np.zeros((T, 5), np.float32)
    conf[4] = [0.1, 0.2, 0.3, 0.4, 0.5]
    delta = np.zeros((T, 5), np.float32)
    delta[4] = [0.5, 1.5, 2.5, -0.5, -2.5]  # -> 0, 2, 2, 0, -2
    out = run(backend, spotkern.displace_scores, conf, delta, 1.0)
    assert [int(np.flatnonzero(out[:, c])[0]) for c in range(5)] == [4, 6, 6, 4, 2]


# The interpreter runs every program on the host: shorter maps and fewer examples there and on CUDA
# (whose training-size comparison is test_cuda_matches_the_cpu_op_at_training_sizes).
MAPS = {CPU: {}, INTERPRETER: dict(max_T=70), CUDA: dict(max_T=70)}


@property_test(lambda b: displacement_maps(**MAPS[b]), examples={INTERPRETER: 30, CUDA: 30})
def test_matches_reference(backend, case):
    conf, disp, rd = case
    np.testing.assert_array_equal(run(backend, spotkern.displace_scores, conf, disp, rd),
                                  displace_scores_ref(conf, disp, rd))


@backends()
def test_zero_displacement_is_identity_for_non_negative_scores(backend):
    conf = np.random.default_rng(0).random((50, 3)).astype(np.float32)
    np.testing.assert_array_equal(run(backend, spotkern.displace_scores, conf, np.zeros_like(conf), 12.0), conf)


@backends()
def test_all_cells_collide_on_one_frame(backend):
    """Every cell of a class lands on frame 0: the maximum wins whatever the order of the GPU's atomics."""
    rng = np.random.default_rng(0)
    conf = rng.random((500, 3)).astype(np.float32)
    disp = np.full((500, 3), -1.0, dtype=np.float32)
    out = run(backend, spotkern.displace_scores, conf, disp, 1000.0)
    np.testing.assert_array_equal(out[0], conf.max(axis=0))
    assert (out[1:] == 0).all()


@backends()
def test_empty_input(backend):
    out = run(backend, spotkern.displace_scores, np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32), 1.0)
    assert out.shape == (0, 3)


@property_test(lambda b: st.tuples(st.integers(1, 60), st.integers(0, 2**31), st.sampled_from([1.0, 6.0])),
               examples={INTERPRETER: 25, CUDA: 25}, names=(INTERPRETER, CUDA))
def test_float64_equals_the_cpu_op_bit_for_bit(backend, case):
    T, seed, rd = case
    rng = np.random.default_rng(seed)
    conf = rng.random((2, T, 3)) + 1e-12  # values float32 cannot hold
    conf[0, 0, 0] = -0.0
    disp = np.round(rng.uniform(-1, 1, (2, T, 3)) * 2 * rd) / (2 * rd)  # half-way shifts
    got = run(backend, spotkern.displace_scores, conf, disp, rd)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, spotkern.displace_scores(conf, disp, rd))


@backends(CUDA)
@settings(max_examples=25)
@given(T=st.integers(1, 800), seed=st.integers(0, 2**16))
def test_cuda_matches_the_cpu_op_at_training_sizes(backend, T, seed):
    g = torch.Generator().manual_seed(seed)
    conf = torch.rand(T, 17, generator=g)
    disp = torch.rand(T, 17, generator=g) * 2 - 1
    np.testing.assert_array_equal(run(backend, spotkern.displace_scores, conf, disp, 12.0),
                                  spotkern.displace_scores(conf, disp, 12.0))


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
