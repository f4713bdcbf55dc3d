"""Dense-anchor targets on every backend (tests/backends.py): spec vectors DA-T1..T3 (dense_anchors.md
§2.3), properties against the spec loops for one half and CSR batches of chunks, extreme arguments; then
per backend: the Triton block sizes, CUDA against the CPU op at training sizes, and on the CPU the
class-balance weights (DA-T4, no Triton kernel), the parallel path, torch dispatch, custom-op checks and
input errors."""
import numpy as np
import pytest
import torch
from backends import CPU, CUDA, INTERPRETER, backends, property_test, run, triton_module
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_vectors import DA_T1, DA_T2, DA_T3, DA_T4
from strategies import event_batches

import spotkern
from spotkern.reference import class_balance_weights_ref, dense_anchor_targets_ref


def single(backend, frames, T, rc, rd, dtype=np.int64):
    """dense_anchor_targets on ``backend`` of one class's Python frame list."""
    f = np.array(frames, dtype=dtype)
    return run(backend, spotkern.dense_anchor_targets, f, np.zeros_like(f), T, 1, radius_confidence=rc,
               radius_displacement=rd)


def assert_equal_to_reference(out, frames, classes, T, C, rc, rd, offsets=None):
    ref = dense_anchor_targets_ref(frames, classes, T, C, radius_confidence=rc, radius_displacement=rd,
                                   offsets=offsets)
    for got, want in zip(out, ref):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


# --- spec vectors -----------------------------------------------------------------------------------

@backends()
def test_targets_of_two_actions_tie_to_the_earlier_and_mark_outside_support(backend):
    """DA-T1: confidence, displacement and support of two actions (frame 7 equidistant: the earlier
    action; frame 15 outside the support: 10.0)."""
    conf, disp, sup = single(backend, DA_T1.frames, DA_T1.T, DA_T1.rc, DA_T1.rd)
    assert conf.dtype == np.float32 and disp.dtype == np.float32 and sup.dtype == np.bool_
    assert conf.shape == disp.shape == sup.shape == (16, 1)
    assert conf[:, 0].tolist() == DA_T1.confidence
    assert disp[:, 0].tolist() == DA_T1.displacement
    assert sup[:, 0].tolist() == DA_T1.support


@backends()
@pytest.mark.parametrize("order, dtype", [(1, np.int64), (-1, np.int32)], ids=["sorted-int64", "unsorted-int32"])
def test_displacement_tie_goes_to_earlier_action(backend, order, dtype):
    """DA-T2, in sorted and unsorted event order."""
    _, disp, _ = single(backend, DA_T2.frames[::order], DA_T2.T, DA_T2.rc, DA_T2.rd, dtype)
    np.testing.assert_array_equal(disp[:, 0], np.float32(DA_T2.displacement))


@backends()
def test_fractional_radius_rounds_inward(backend):
    """DA-T3."""
    conf, _, _ = single(backend, DA_T3.frames, DA_T3.T, DA_T3.rc, DA_T3.rd)
    assert conf[:, 0].tolist() == DA_T3.confidence


# --- properties against the reference ---------------------------------------------------------------

# The interpreter runs every program on the host: shorter chunks and fewer examples there and on CUDA
# (whose training-size comparison is test_cuda_matches_the_cpu_op_at_training_sizes).
HALF = {CPU: {}, INTERPRETER: dict(max_T=60, max_events=8), CUDA: dict(max_T=60, max_events=8)}
CHUNKS = {CPU: dict(max_T=60), INTERPRETER: dict(max_B=3, max_T=60, max_events=8),
          CUDA: dict(max_B=3, max_T=60, max_events=8)}


@property_test(lambda b: event_batches(False, **HALF[b]), examples={INTERPRETER: 15, CUDA: 15})
def test_half_matches_reference(backend, case):
    frames, classes, _, T, C, rc, rd = case
    out = run(backend, spotkern.dense_anchor_targets, frames, classes, T, C, radius_confidence=rc,
              radius_displacement=rd)
    assert_equal_to_reference(out, frames, classes, T, C, rc, rd)


@property_test(lambda b: event_batches(True, **CHUNKS[b]), examples={INTERPRETER: 15, CUDA: 15})
def test_chunks_match_reference(backend, case):
    frames, classes, offsets, T, C, rc, rd = case
    out = run(backend, spotkern.dense_anchor_targets, frames, classes, T, C, radius_confidence=rc,
              radius_displacement=rd, offsets=offsets)
    assert out[0].shape == (len(offsets) - 1, T, C)
    assert_equal_to_reference(out, frames, classes, T, C, rc, rd, offsets)


@property_test(lambda b: st.tuples(event_batches(False, max_T=400 if b == CPU else 60), st.integers(0, 399),
                                   st.integers(1, 100)), examples={INTERPRETER: 10, CUDA: 10})
def test_chunk_targets_equal_the_slice_of_the_half(backend, case):
    (frames, classes, _, T, C, rc, rd), start, L = case
    start = min(start, T - 1)
    L = min(L, T - start)
    inside = (frames >= 0) & (frames < T)  # the half's own events
    chunk = run(backend, spotkern.dense_anchor_targets, frames[inside] - start, classes[inside], L, C,
                radius_confidence=rc, radius_displacement=rd, offsets=np.array([0, inside.sum()]))
    half = run(backend, spotkern.dense_anchor_targets, frames[inside], classes[inside], T, C, radius_confidence=rc,
               radius_displacement=rd)
    for h, c in zip(half, chunk):
        np.testing.assert_array_equal(c[0], h[start:start + L])


# --- extreme arguments: the kernels' overflow guards ------------------------------------------------

@backends()
@pytest.mark.parametrize("r", [1e19, 1e300])
def test_radius_beyond_int64_covers_the_whole_half(backend, r):
    # Spec 2.1: the range ceil(a - r) .. floor(a + r) clipped to [0, T - 1] is every frame; the
    # bounds must not wrap around when r exceeds the int64 range.
    conf, disp, sup = single(backend, [5], 10, r, r)
    assert conf[:, 0].tolist() == [1] * 10
    assert sup[:, 0].all()
    np.testing.assert_array_equal(disp[:, 0], np.float32([(5 - t) / r for t in range(10)]))


@backends()
@pytest.mark.parametrize("frames", [[5, 2**63 - 1], [2**63 - 1, 5, 2**63 - 2], [-2**63, 5], [-2**63, -2**63 + 1, 5]])
@pytest.mark.parametrize("rd", [4.0, 1e300])
def test_events_at_the_int64_extremes_do_not_overflow(backend, frames, rd):
    # Far-away events reach nothing; the midpoint with a far neighbour must not overflow and steal
    # the support of the event at frame 5 (spec 2.3: nearest action within rd). |a - t| overflows
    # int64 for a near INT64_MIN: the nearest action must still win, and a far action's displacement
    # (reachable only with a huge rd) must be the spec's value.
    out = single(backend, frames, 10, 1.0, rd)
    f = np.array(frames, dtype=np.int64)
    assert_equal_to_reference(out, f, np.zeros_like(f), 10, 1, 1.0, rd)
    if rd == 4.0:
        assert out[1][:, 0].tolist() == [10, 1, 0.75, 0.5, 0.25, 0, -0.25, -0.5, -0.75, -1]
    else:
        assert out[2].all()


@backends()
def test_only_far_actions_before_int64_min_plus_t(backend):
    # Both actions lie below INT64_MIN + t for every t: the nearer (larger) one owns every frame.
    out = single(backend, [-2**63, -2**63 + 1], 4, 0.0, 1e300)
    f = np.array([-2**63, -2**63 + 1], dtype=np.int64)
    assert_equal_to_reference(out, f, np.zeros_like(f), 4, 1, 0.0, 1e300)
    assert out[2].all()


# --- the Triton launcher and CUDA at training sizes -------------------------------------------------

@backends(INTERPRETER)
def test_blocks_follow_the_problem(backend):
    kdat = triton_module("dense_anchor_targets")
    assert kdat._blocks(5400, 17)[:2] == (32, 32)
    assert kdat._blocks(5400, 1)[:2] == (1024, 1)
    assert kdat._blocks(3, 17)[0] == 16


@backends(CUDA)
@settings(max_examples=25)
@given(B=st.integers(1, 8), E=st.integers(0, 40), seed=st.integers(0, 2**16))
def test_cuda_matches_the_cpu_op_at_training_sizes(backend, B, E, seed):
    rng = np.random.default_rng(seed)
    frames = torch.from_numpy(np.sort(rng.integers(-20, 250, E)).astype(np.int64))
    classes = torch.from_numpy(rng.integers(0, 17, E).astype(np.int64))
    cuts = np.sort(rng.integers(0, E + 1, B - 1)) if B > 1 else np.zeros(0, np.int64)
    offsets = torch.from_numpy(np.concatenate([[0], cuts, [E]]).astype(np.int64))
    kw = dict(radius_confidence=6.0, radius_displacement=12.0, offsets=offsets)
    got = run(backend, spotkern.dense_anchor_targets, frames, classes, 224, 17, **kw)
    for g, w in zip(got, spotkern.dense_anchor_targets(frames, classes, 224, 17, **kw)):
        np.testing.assert_array_equal(g, w)


# --- CPU: class-balance weights (dense_anchors.md 2.4) ------------------------------------------------

def test_class_balance_weights_of_the_confidence_and_displacement_heads():
    """DA-T4: 40 frames, 10 positives, p = 0.03; the displacement head with p = 1."""
    w_pos, w_neg = spotkern.class_balance_weights(np.array(DA_T4.counts), DA_T4.total_frames, p=DA_T4.p)
    assert w_pos.dtype == np.float32
    np.testing.assert_allclose(w_pos, DA_T4.w_pos, rtol=1e-6)
    np.testing.assert_allclose(w_neg, DA_T4.w_neg, rtol=1e-6)
    counts = np.array(DA_T4.displacement_counts)
    w_pos, w_neg = spotkern.class_balance_weights(counts, DA_T4.total_frames, p=1.0)  # displacement head
    np.testing.assert_allclose(w_pos, DA_T4.displacement_w_pos, rtol=1e-6)
    assert w_neg.tolist() == [0, 0]


def test_weights_balance_each_class_and_match_reference():
    P = np.array([10, 1, 0, 40, 25], dtype=np.int64)
    cw = np.array([1.0, 2.0, 1.0, 1.0, 0.5])
    w_pos, w_neg = spotkern.class_balance_weights(P, 40, p=0.03, class_weights=cw)
    ref = class_balance_weights_ref(P, 40, 0.03, cw)
    np.testing.assert_allclose(w_pos, ref[0], rtol=1e-6)
    np.testing.assert_allclose(w_neg, ref[1], rtol=1e-6)
    # Totals per class: p * N on positives and (1 - p) * N on negatives (times the class weight).
    for c in (0, 1, 4):
        np.testing.assert_allclose(P[c] * w_pos[c], cw[c] * 0.03 * 40, rtol=1e-6)
        np.testing.assert_allclose((40 - P[c]) * w_neg[c], cw[c] * 0.97 * 40, rtol=1e-6)
    assert w_pos[2] == 0 and w_neg[3] == 0  # no positives / no negatives: no anchor carries them
    tp, tn = spotkern.class_balance_weights(torch.from_numpy(P), 40, p=0.03, class_weights=torch.from_numpy(cw))
    assert isinstance(tp, torch.Tensor)
    np.testing.assert_array_equal(tp.numpy(), w_pos)
    np.testing.assert_array_equal(tn.numpy(), w_neg)


# --- torch --------------------------------------------------------------------------------------------

def test_torch_input_returns_tensors_equal_to_numpy():
    frames = np.array([0, 50, 52, 199, 100], dtype=np.int64)
    classes = np.array([0, 1, 1, 2, 0], dtype=np.int64)
    kw = dict(radius_confidence=6, radius_displacement=12)
    ref = spotkern.dense_anchor_targets(frames, classes, 200, 3, **kw)
    out = spotkern.dense_anchor_targets(torch.from_numpy(frames), torch.from_numpy(classes), 200, 3, **kw)
    for t, a in zip(out, ref):
        assert isinstance(t, torch.Tensor)
        np.testing.assert_array_equal(t.numpy(), a)
    out = spotkern.dense_anchor_targets(torch.from_numpy(frames), torch.from_numpy(classes), 100, 3, **kw,
                                        offsets=torch.tensor([0, 2, 5]))
    assert out[0].shape == (2, 100, 3) and out[2].dtype == torch.bool


def test_opcheck():
    frames, classes = torch.tensor([3, 40, 10, 41]), torch.tensor([0, 0, 2, 1])
    op = torch.ops.spotkern.dense_anchor_targets.default
    torch.library.opcheck(op, (frames, classes, None, 64, 3, 3.0, 6.0))
    torch.library.opcheck(op, (frames, classes, torch.tensor([0, 1, 4]), 32, 3, 2.5, 6.0))


def test_compiles_fullgraph():
    def f(frames, classes, offsets):
        conf, disp, sup = spotkern.dense_anchor_targets(frames, classes, 32, 3, radius_confidence=3,
                                                        radius_displacement=6.0, offsets=offsets)
        return conf * 2, torch.where(sup, disp, 0.0)

    args = (torch.tensor([3, 40, 10, 41]), torch.tensor([0, 0, 2, 1]), torch.tensor([0, 1, 4]))
    compiled = torch.compile(f, fullgraph=True, backend="eager")
    for got, want in zip(compiled(*args), f(*args)):
        torch.testing.assert_close(got, want)


# --- bad input ----------------------------------------------------------------------------------------

F = np.array([3, 5], dtype=np.int64)
K = np.array([0, 1], dtype=np.int64)


@pytest.mark.parametrize(
    "frames, classes, T, C, kw, exc, match",
    [
        (F, np.array([0, 2]), 10, 2, {}, ValueError, "classes must lie in"),
        (F, np.array([0, -1]), 10, 2, {}, ValueError, "classes must lie in"),
        (F.astype(np.float32), K, 10, 2, {}, TypeError, "frames must have dtype"),
        (F, K[:1], 10, 2, {}, ValueError, "same length"),
        (F[:, None], K, 10, 2, {}, ValueError, "frames must have 1 dimensions"),
        (F, K, 0, 2, {}, ValueError, "num_frames must be >= 1"),
        (F, K, 10, 0, {}, ValueError, "num_classes must be >= 1"),
        (F, K, 10, 2, {"radius_confidence": -1}, ValueError, "radius_confidence must be >= 0"),
        (F, K, 10, 2, {"radius_displacement": 0}, ValueError, "radius_displacement must be > 0"),
        (F, K, 10, 2, {"radius_displacement": float("nan")}, ValueError, "radius_displacement must be finite"),
        (F, K, 10, 2, {"offsets": np.array([0, 1])}, ValueError, "offsets must be non-decreasing from 0"),
        (F, K, 10, 2, {"offsets": np.array([1, 2])}, ValueError, "offsets must be non-decreasing from 0"),
        (F, K, 10, 2, {"offsets": np.array([0, 2, 1, 2])}, ValueError, "offsets must be non-decreasing"),
        (F, K, 10, 2, {"offsets": np.array([0, 2], np.float64)}, TypeError, "offsets must have dtype int32 or int64"),
        (F, K, 10, 2, {"offsets": torch.tensor([0, 2])}, TypeError, "must all be numpy arrays or all torch"),
    ],
)
def test_bad_input_raises_named_error(frames, classes, T, C, kw, exc, match):
    kw = {"radius_confidence": 2, "radius_displacement": 4, **kw}
    with pytest.raises(exc, match=match) as info:
        spotkern.dense_anchor_targets(frames, classes, T, C, **kw)
    assert str(info.value).startswith("dense_anchor_targets:")


@pytest.mark.parametrize(
    "counts, N, kw, exc, match",
    [
        (np.array([10, 50]), 40, {}, ValueError, "positive_counts must lie in"),
        (np.array([-1, 5]), 40, {}, ValueError, "positive_counts must lie in"),
        (np.array([1.0, np.nan]), 40, {}, ValueError, "positive_counts contains NaN"),
        (np.array([1, 5]), 0, {}, ValueError, "total_frames must be >= 1"),
        (np.array([1, 5]), 40, {"p": 0.0}, ValueError, "p must be > 0"),
        (np.array([1, 5]), 40, {"p": 1.5}, ValueError, "p must be <= 1"),
        (np.array([1, 5]), 40, {"class_weights": np.ones(3)}, ValueError, "class_weights must have shape"),
        (np.array([1, 5]), 40, {"class_weights": -np.ones(2)}, ValueError, "class_weights must be >= 0"),
        ([1, 5], 40, {}, TypeError, "positive_counts must be a numpy array"),
    ],
)
def test_bad_weights_raise_named_error(counts, N, kw, exc, match):
    with pytest.raises(exc, match=match) as info:
        spotkern.class_balance_weights(counts, N, **kw)
    assert str(info.value).startswith("class_balance_weights:")


def test_many_chunks_parallel_path_matches_reference():
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 6, 300)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    frames = rng.integers(-10, 234, offsets[-1]).astype(np.int64)
    classes = rng.integers(0, 17, offsets[-1]).astype(np.int64)
    out = spotkern.dense_anchor_targets(frames, classes, 224, 17, radius_confidence=6, radius_displacement=12,
                                        offsets=offsets)
    for b in (0, 150, 299):
        sl = slice(offsets[b], offsets[b + 1])
        ref = dense_anchor_targets_ref(frames[sl], classes[sl], 224, 17, radius_confidence=6, radius_displacement=12)
        for got, want in zip(out, ref):
            np.testing.assert_array_equal(got[b], want)


def test_weights_reject_mixed_numpy_and_tensor():
    with pytest.raises(TypeError, match="^class_balance_weights: .*must all be numpy arrays or all torch"):
        spotkern.class_balance_weights(np.array([1, 2]), 10, class_weights=torch.ones(2, dtype=torch.float64))
