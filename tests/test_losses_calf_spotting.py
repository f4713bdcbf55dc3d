"""CALF spotting loss (calf.md section 7): CALF-T10, the public-style reference with the masked
matching, weights as parameters, optimal matching, gradients, torch.compile and input errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_vectors import CALF_T9, CALF_T10

from spotkern.losses import CALFSpottingLoss, calf_spotting_loss
from spotkern.reference import calf_spotting_loss_ref

T10_TRUE = torch.tensor(CALF_T10.y_true, dtype=torch.float32)
T10_PRED = torch.tensor(CALF_T10.y_pred, dtype=torch.float32)


def test_spotting_loss_of_two_slots_after_reciprocal_matching():
    """CALF-T10: total, with a given permutation, and per slot."""
    assert calf_spotting_loss(T10_TRUE, T10_PRED).item() == pytest.approx(CALF_T10.loss, abs=1e-6)
    perm = torch.tensor([CALF_T10.perm])
    assert calf_spotting_loss(T10_TRUE, T10_PRED, perm=perm).item() == pytest.approx(CALF_T10.loss, abs=1e-6)
    per_slot = calf_spotting_loss(T10_TRUE, T10_PRED, reduction="none")
    np.testing.assert_allclose(per_slot.numpy(), [CALF_T10.per_slot], atol=1e-6)


def test_weights_are_parameters():
    # slot 0 gets position error 0.05^2 scaled by lambda_coord; slot 1 the padded confidence 0.8^2
    base = calf_spotting_loss(T10_TRUE, T10_PRED, lambda_coord=0.0, lambda_noobj=0.0).item()
    assert base == pytest.approx(0.16 + 0.72, abs=1e-6)
    got = calf_spotting_loss(T10_TRUE, T10_PRED, lambda_coord=2.0, lambda_noobj=1.0).item()
    assert got == pytest.approx(base + 2.0 * 0.0025 + 0.64, abs=1e-6)


def test_optimal_matching_option():
    # CALF-T9 case 3: CALF matches [1, 0] (sum |d| 0.5), optimal [0, 1] (0.4)
    x, presence, p, _ = CALF_T9[2]
    y_true = torch.tensor([[[a, xi, 1, 0] for a, xi in zip(presence, x)]], dtype=torch.float32)
    y_pred = torch.tensor([[[0.9, pi, 1, 0] for pi in p]], dtype=torch.float32)
    calf = calf_spotting_loss(y_true, y_pred, matching="calf").item()
    optimal = calf_spotting_loss(y_true, y_pred, matching="optimal").item()
    assert calf == pytest.approx(5 * (0.45**2 + 0.05**2) + 2 * 0.01, abs=1e-5)
    assert optimal == pytest.approx(5 * (0.1**2 + 0.3**2) + 2 * 0.01, abs=1e-5)


@st.composite
def batches(draw):
    B = draw(st.integers(1, 4))
    N = draw(st.integers(1, 16))
    C = draw(st.integers(1, 5))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    n_real = torch.randint(0, N + 1, (B,), generator=g)
    y_true = torch.zeros(B, N, 2 + C)
    for b in range(B):
        k = int(n_real[b])
        frames = torch.sort(torch.randint(40, 200, (k,), generator=g)).values
        y_true[b, :k, 0] = 1
        y_true[b, :k, 1] = frames.float() / 240
        y_true[b, torch.arange(k), 2 + torch.randint(0, C, (k,), generator=g)] = 1
    conf_pos = torch.rand(B, N, 2, generator=g)
    if draw(st.booleans()):  # duplicated positions: ties in the matching (never exactly 1.0, where
        # the masked reference degenerates, calf.md 6)
        conf_pos[..., 1] = torch.round(conf_pos[..., 1] * 3) / 4
    classes = torch.softmax(torch.randn(B, N, C, generator=g), -1)
    return y_true, torch.cat([conf_pos, classes], -1)


@settings(max_examples=40)
@given(batches())
def test_matches_public_style_reference(batch):
    y_true, y_pred = batch
    a = y_pred.clone().requires_grad_(True)
    b = y_pred.clone().requires_grad_(True)
    la = calf_spotting_loss(y_true, a)
    lb = calf_spotting_loss_ref(y_true, b)
    torch.testing.assert_close(la, lb, rtol=1e-5, atol=1e-5)
    la.backward()
    lb.backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-5)


def test_gradcheck_float64_through_the_gather():
    g = torch.Generator().manual_seed(1)
    y_true = torch.zeros(2, 5, 5, dtype=torch.float64)
    y_true[:, :3, 0] = 1
    y_true[:, :3, 1] = torch.tensor([0.3, 0.5, 0.7], dtype=torch.float64)
    y_true[:, :3, 2] = 1
    y_pred = torch.rand(2, 5, 5, generator=g, dtype=torch.float64, requires_grad=True)
    perm = torch.stack([torch.randperm(5, generator=g) for _ in range(2)])
    assert torch.autograd.gradcheck(lambda x: calf_spotting_loss(y_true, x, perm=perm), (y_pred,))
    # every prediction slot receives a gradient (matched to a real or a padded GT slot)
    calf_spotting_loss(y_true, y_pred, perm=perm).backward()
    assert (y_pred.grad[..., 0].abs() > 0).all()


def test_compile_fullgraph_matches_eager():
    torch._dynamo.reset()
    y_true, y_pred = T10_TRUE.repeat(3, 1, 1), T10_PRED.repeat(3, 1, 1)
    mod = CALFSpottingLoss()
    compiled = torch.compile(mod, fullgraph=True, backend="aot_eager")
    a = y_pred.clone().requires_grad_(True)
    b = y_pred.clone().requires_grad_(True)
    la, lb = mod(y_true, a), compiled(y_true, b)
    torch.testing.assert_close(lb, la)
    la.backward()
    lb.backward()
    torch.testing.assert_close(b.grad, a.grad)


Y = T10_TRUE
P = T10_PRED
BAD = [
    (dict(predictions=P.numpy()), TypeError, "predictions"),
    (dict(targets=Y.half()), TypeError, "targets"),
    (dict(predictions=P[0]), ValueError, "dimensions"),
    (dict(predictions=P[:, :1].contiguous()), ValueError, "same shape"),
    (dict(targets=Y[..., :2].contiguous(), predictions=P[..., :2].contiguous()), ValueError, "3 columns"),
    (dict(predictions=torch.full_like(P, float("nan"))), ValueError, "NaN"),
    (dict(lambda_coord=-1.0), ValueError, "lambda_coord"),
    (dict(lambda_noobj=float("inf")), ValueError, "lambda_noobj"),
    (dict(matching="hungarian"), ValueError, "matching"),
    (dict(reduction="mean"), ValueError, "reduction"),
    (dict(perm=torch.tensor([[0, 1]], dtype=torch.int32)), TypeError, "perm"),
    (dict(perm=torch.tensor([[0, 1, 2]])), ValueError, "perm"),
    # audit: values of perm and of the presence column
    (dict(perm=torch.tensor([[0, 2]])), ValueError, "perm must hold a permutation"),
    (dict(perm=torch.tensor([[-1, 0]])), ValueError, "perm must hold a permutation"),
    (dict(perm=torch.tensor([[1, 1]])), ValueError, "perm must hold a permutation"),
    (dict(targets=torch.tensor([[[0.5, 0.5, 1, 0], [0, 0, 0, 0]]])), ValueError,
     r"targets\[\.\.\., 0\] \(presence\) must hold only 0 and 1"),
]


@pytest.mark.parametrize("override,exc,word", BAD)
def test_bad_input(override, exc, word):
    args = dict(targets=Y, predictions=P)
    args.update(override)
    with pytest.raises(exc, match=rf"^calf_spotting_loss: .*{word}"):
        calf_spotting_loss(args.pop("targets"), args.pop("predictions"), **args)


def test_bad_module_arguments():
    with pytest.raises(ValueError, match="^CALFSpottingLoss: lambda_coord"):
        CALFSpottingLoss(lambda_coord=-2.0)
