"""Dense-anchor losses (dense_anchors.md section 3): DA-T4 weights, DA-T5 Huber, hand-computed BCE
values, the focal factor, reductions, a numpy oracle on random inputs, gradients, torch.compile and
input errors."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_vectors import DA_T4

from spotkern.losses import (
    DenseConfidenceLoss,
    DenseDisplacementLoss,
    dense_anchor_weights,
    dense_confidence_loss,
    dense_displacement_loss,
)


def np_bce(z, y):
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


def np_huber(pred, target, delta):
    x = np.clip(target, -1, 1) - pred
    return np.where(np.abs(x) <= delta, x * x / (2 * delta), np.abs(x) - delta / 2)


def test_weights_are_w_pos_inside_the_radius_and_w_neg_outside():
    """DA-T4, per frame and per class."""
    # 40 frames, 10 positives, p = 0.03: w_pos = 0.12, w_neg = 1.293333
    (positives,), N = DA_T4.counts, DA_T4.total_frames
    inside = torch.zeros(N, 1, dtype=torch.bool)
    inside[:positives] = True
    w = dense_anchor_weights(inside, torch.tensor(DA_T4.w_pos), torch.tensor(DA_T4.w_neg))
    assert w.dtype == torch.float32 and w.shape == (N, 1)
    np.testing.assert_allclose(w[:positives].numpy(), DA_T4.w_pos[0], rtol=1e-6)
    np.testing.assert_allclose(w[positives:].numpy(), 1.2933333, rtol=1e-6)
    # per class
    inside = torch.tensor([[[True, False], [False, True]]])
    w = dense_anchor_weights(inside, torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]))
    assert w.tolist() == [[[1.0, 4.0], [3.0, 2.0]]]


@pytest.mark.parametrize("x,expected", [(0.0, 0.0), (0.25, 0.0625), (0.5, 0.25), (0.75, 0.5), (1.5, 1.25)])
def test_huber_loss_is_normalised_by_delta(x, expected):
    """DA-T5 (delta = 0.5), for both signs."""
    # x = clip(target) - prediction; 1.5 needs target 1 and prediction -0.5
    target = torch.tensor([[min(x, 1.0)]], dtype=torch.float64)
    pred = target - torch.tensor([[x]], dtype=torch.float64)
    for sign in (1, -1):
        got = dense_displacement_loss(sign * pred, sign * target, torch.ones_like(pred)).item()
        assert got == pytest.approx(expected, abs=1e-12)


def test_displacement_sentinel_is_clipped_and_masked():
    target = torch.tensor([[10.0, 1.0, 0.5, -1.0]])
    pred = torch.tensor([[0.0, 0.0, 0.0, 0.5]])
    # the zero-weight sentinel adds nothing; x = 1 -> 0.75, x = 0.5 -> 0.25, x = -1.5 -> 1.25
    per = dense_displacement_loss(pred, target, torch.tensor([[0.0, 1.0, 2.0, 1.0]]), reduction="none")
    np.testing.assert_allclose(per.numpy(), [[0.0, 0.75, 0.5, 1.25]])
    # the mean counts every anchor, zero-weight ones included
    assert dense_displacement_loss(pred, target, torch.tensor([[0.0, 1.0, 2.0, 1.0]])).item() == pytest.approx(2.5 / 4)


@pytest.mark.parametrize("target", [10.0, 1.5, -1.01])
def test_displacement_weight_outside_the_support_is_refused(target):
    # A positive weight on the 10.0 sentinel would silently pull the prediction towards +1 (spec 3.2:
    # the loss runs over the support only).
    targets = torch.tensor([[0.5, target]])
    with pytest.raises(ValueError, match=r"^dense_displacement_loss: weights must be 0 where targets lie outside"):
        dense_displacement_loss(torch.zeros(1, 2), targets, torch.ones(1, 2))
    dense_displacement_loss(torch.zeros(1, 2), targets, torch.tensor([[1.0, 0.0]]))  # weight 0 there: fine


@pytest.mark.parametrize("fn, first", [(dense_confidence_loss, "logits"), (dense_displacement_loss, "predictions")])
def test_negative_weights_are_refused(fn, first):
    w = torch.ones(4, 3)
    w[2, 1] = -0.5
    message = rf"^{fn.__name__}: weights must lie in \[0.0, inf\], got values in \[-0.5, 1\]"
    with pytest.raises(ValueError, match=message):
        fn(torch.zeros(4, 3), torch.zeros(4, 3), w)


@pytest.mark.parametrize("bad", [-0.25, 1.5])
def test_confidence_targets_outside_0_1_are_refused(bad):
    y = torch.full((2, 4, 3), 0.5, dtype=torch.float64)
    y[1, 3, 0] = bad
    with pytest.raises(ValueError, match=r"^dense_confidence_loss: targets must lie in \[0.0, 1.0\]"):
        dense_confidence_loss(torch.zeros_like(y), y, torch.ones_like(y))
    y[1, 3, 0] = 1.0  # the bounds are inclusive
    assert torch.isfinite(dense_confidence_loss(torch.zeros_like(y), y, torch.ones_like(y)))


def test_confidence_by_hand():
    z = torch.tensor([[0.0, 2.0, -3.0, 100.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0, 0.25, 0.0]], dtype=torch.float64)
    w = torch.tensor([[1.0, 0.5, 2.0, 1.0]], dtype=torch.float64)
    per = dense_confidence_loss(z, y, w, reduction="none")
    expected = [math.log(2), 0.5 * (2 + math.log1p(math.exp(-2))), 2 * (3 * 0.25 + math.log1p(math.exp(-3))), 100.0]
    np.testing.assert_allclose(per.numpy().ravel(), expected, rtol=1e-12)
    assert dense_confidence_loss(z, y, w).item() == pytest.approx(sum(expected) / 4)
    assert dense_confidence_loss(z, y, w, reduction="sum").item() == pytest.approx(sum(expected))


def test_focal_factor():
    z = torch.tensor([[0.0, 3.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    w = torch.ones_like(z)
    per = dense_confidence_loss(z, y, w, focal_gamma=2.0, reduction="none")
    s3 = 1 / (1 + math.exp(-3))
    np.testing.assert_allclose(per.numpy().ravel(), [math.log(2) * 0.25, math.log1p(math.exp(-3)) * (1 - s3) ** 2])
    # epsilon floor: a perfect prediction keeps eps**gamma
    per = dense_confidence_loss(torch.tensor([[50.0]], dtype=torch.float64), torch.tensor([[1.0]], dtype=torch.float64),
                                torch.ones(1, 1, dtype=torch.float64), focal_gamma=1.0, focal_epsilon=0.1,
                                reduction="none")
    assert per.item() == pytest.approx(math.log1p(math.exp(-50)) * 0.1)


@settings(max_examples=40)
@given(st.integers(1, 3), st.integers(1, 40), st.integers(1, 6), st.integers(0, 2**31 - 1),
       st.sampled_from([0.0, 1.0, 2.0]), st.sampled_from([0.5, 0.25, 1.0]))
def test_against_numpy_oracle(B, T, C, seed, gamma, delta):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(B, T, C, generator=g, dtype=torch.float64) * 10
    y = torch.rand(B, T, C, generator=g, dtype=torch.float64).round()
    w = torch.rand(B, T, C, generator=g, dtype=torch.float64)
    expected = w.numpy() * np_bce(z.numpy(), y.numpy())
    if gamma:
        sig = 1 / (1 + np.exp(-z.numpy()))
        expected = expected * np.maximum(np.abs(y.numpy() - sig), 1e-7) ** gamma
    got = dense_confidence_loss(z, y, w, focal_gamma=gamma)
    assert got.item() == pytest.approx(expected.mean(), rel=1e-10)
    pred = torch.tanh(torch.randn(B, T, C, generator=g, dtype=torch.float64))
    target = torch.where(y > 0, torch.rand(B, T, C, generator=g, dtype=torch.float64) * 2 - 1, 10.0)
    got = dense_displacement_loss(pred, target, w * (y > 0), delta=delta)
    expected = (w.numpy() * (y.numpy() > 0) * np_huber(pred.numpy(), target.numpy(), delta)).mean()
    assert got.item() == pytest.approx(expected, rel=1e-10, abs=1e-14)


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 8, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, 8, 3, generator=g, dtype=torch.float64)
    w = torch.rand(2, 8, 3, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: dense_confidence_loss(x, y, w, focal_gamma=2.0), (z,))
    assert torch.autograd.gradcheck(lambda x: dense_confidence_loss(x, y, w), (z,))
    pred = (torch.rand(2, 8, 3, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    target = torch.rand(2, 8, 3, generator=g, dtype=torch.float64) * 2 - 1
    assert torch.autograd.gradcheck(lambda x: dense_displacement_loss(x, target, w), (pred,))


def test_extreme_logits_are_finite():
    z = torch.tensor([[-1e4, 1e4, 0.0]], requires_grad=True)
    y = torch.tensor([[1.0, 0.0, 0.5]])
    loss = dense_confidence_loss(z, y, torch.ones(1, 3), focal_gamma=2.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


def test_modules_and_compile():
    torch._dynamo.reset()
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 16, 4, generator=g)
    y = torch.rand(2, 16, 4, generator=g).round()
    w = torch.rand(2, 16, 4, generator=g)
    conf = DenseConfidenceLoss(focal_gamma=1.0)
    disp = DenseDisplacementLoss(delta=0.5)
    torch.testing.assert_close(conf(z, y, w), dense_confidence_loss(z, y, w, focal_gamma=1.0))
    torch.testing.assert_close(disp(torch.tanh(z), y, w), dense_displacement_loss(torch.tanh(z), y, w))

    def both(z, y, w):
        return conf(z, y, w) + disp(torch.tanh(z), y, w)

    torch.testing.assert_close(torch.compile(both, fullgraph=True, backend="aot_eager")(z, y, w), both(z, y, w))


Z = torch.zeros(4, 3)
BAD_CONF = [
    (dict(logits=Z.numpy()), TypeError, "logits"),
    (dict(logits=Z.half()), TypeError, "logits"),
    (dict(targets=Z.double()), TypeError, "targets"),
    (dict(weights=torch.zeros(4, 2)), ValueError, "weights"),
    (dict(logits=torch.zeros(3)), ValueError, "dimensions"),
    (dict(logits=torch.full((4, 3), float("nan"))), ValueError, "NaN"),
    (dict(focal_gamma=-1.0), ValueError, "focal_gamma"),
    (dict(reduction="batchmean"), ValueError, "reduction"),
]


@pytest.mark.parametrize("override,exc,word", BAD_CONF)
def test_bad_confidence_input(override, exc, word):
    args = dict(logits=Z, targets=Z, weights=Z)
    args.update(override)
    with pytest.raises(exc, match=rf"^dense_confidence_loss: .*{word}"):
        dense_confidence_loss(args.pop("logits"), args.pop("targets"), args.pop("weights"), **args)


BAD_DISP = [
    (dict(predictions=[0.0]), TypeError, "predictions"),
    (dict(targets=torch.zeros(4, 3, dtype=torch.int32)), TypeError, "targets"),
    (dict(targets=torch.zeros(2, 3)), ValueError, "targets"),
    (dict(delta=0.0), ValueError, "delta"),
    (dict(weights=torch.full((4, 3), float("inf"))), ValueError, "weights"),
]


@pytest.mark.parametrize("override,exc,word", BAD_DISP)
def test_bad_displacement_input(override, exc, word):
    args = dict(predictions=Z, targets=Z, weights=Z)
    args.update(override)
    with pytest.raises(exc, match=rf"^dense_displacement_loss: .*{word}"):
        dense_displacement_loss(args.pop("predictions"), args.pop("targets"), args.pop("weights"), **args)


@pytest.mark.parametrize("args,exc,word", [
    ((torch.zeros(4, 3), torch.ones(3), torch.ones(3)), TypeError, "inside"),
    ((torch.zeros(4, 3, dtype=torch.bool), torch.ones(2), torch.ones(3)), ValueError, "w_pos"),
    ((torch.zeros(4, 3, dtype=torch.bool), torch.ones(3), torch.ones(3, 1)), ValueError, "w_neg"),
])
def test_bad_weight_input(args, exc, word):
    with pytest.raises(exc, match=rf"^dense_anchor_weights: .*{word}"):
        dense_anchor_weights(*args)


@pytest.mark.parametrize("fn, first", [(dense_confidence_loss, "logits"), (dense_displacement_loss, "predictions")])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_targets_are_named_errors(fn, first, bad):
    # Used to return a NaN loss (or, for the clipped displacement targets, a finite wrong one for inf).
    targets = torch.zeros(4, 3)
    targets[1, 2] = bad
    with pytest.raises(ValueError, match=rf"^{fn.__name__}: targets contains NaN"):
        fn(torch.zeros(4, 3), targets, torch.ones(4, 3))
