"""Optimiser pieces: linear decay (dense_anchors.md 5.2), AdamW decay semantics (5.1), SAM (5.4),
mixup (5.5), atomic weights_only checkpoints."""
import os

import numpy as np
import pytest
import torch

from spotkern.train.checkpoint import load_checkpoint, save_checkpoint
from spotkern.train.optim import build_optimizer, linear_decay, mixup, sam_perturb, sam_restore


def test_linear_decay_values():
    assert linear_decay(0, 100) == 1.0
    assert linear_decay(100, 100) == pytest.approx(0.01)
    assert linear_decay(50, 100) == pytest.approx(0.99 * 0.5 + 0.01)
    assert linear_decay(150, 100) == pytest.approx(0.99 * 0.25 + 0.01)  # cycle: horizon 200
    assert linear_decay(10, 100, end_fraction=0.5) == pytest.approx(0.5 * 0.9 + 0.5)


def test_adamw_decay_is_not_scaled_by_the_learning_rate_ratio():
    """With zero gradients the only change is the decoupled decay w <- w - dwd(t) * w (TF-Addons)."""
    w = torch.nn.Parameter(torch.ones(3))
    opt = build_optimizer([w], lr=1e-3, weight_decay=2e-4)
    for g in opt.param_groups:
        g["lr"] = 1e-3 * 0.5  # schedule at half: dwd(t) = 1e-4
    w.grad = torch.zeros(3)
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), 1 - 1e-4, rtol=0, atol=1e-7)


def test_sam_perturbation_and_restore():
    p = [torch.nn.Parameter(torch.tensor([1.0, 2.0])), torch.nn.Parameter(torch.tensor([3.0]))]
    p[0].grad, p[1].grad = torch.tensor([3.0, 0.0]), torch.tensor([4.0])
    eps = sam_perturb(p, rho=0.5)
    np.testing.assert_allclose(p[0].detach().numpy(), [1.0 + 0.5 * 3 / 5, 2.0], rtol=1e-6)
    np.testing.assert_allclose(p[1].detach().numpy(), [3.0 + 0.5 * 4 / 5], rtol=1e-6)
    sam_restore(p, eps)
    np.testing.assert_allclose(p[0].detach().numpy(), [1.0, 2.0], rtol=1e-6)


def test_mixup_per_example_lambda_and_shared_partner():
    """One-hot features reveal each example's lambda and partner; targets and weights must be mixed
    with the same pair."""
    B = 64
    x = torch.eye(B).reshape(B, B, 1)
    g0 = torch.Generator().manual_seed(5)
    t = torch.rand(B, 7, 3, generator=g0)
    w = torch.rand(B, 7, 3, generator=g0)
    xm, tm, wm = mixup(torch.Generator().manual_seed(0), 2.0, x, t, w)
    lams = []
    for i in range(B):
        row = xm[i, :, 0]
        j = int(torch.argmax(torch.where(torch.arange(B) == i, -1.0, row))) if row[i] < 1 else i
        lam = float(row[i]) if j != i else 1.0
        if j != i:
            assert row[j] == pytest.approx(1 - lam, abs=1e-6)
            lams.append(lam)
        torch.testing.assert_close(tm[i], lam * t[i] + (1 - lam) * t[j])
        torch.testing.assert_close(wm[i], lam * w[i] + (1 - lam) * w[j])
    assert np.std(lams) > 0.1  # one lambda per example, not per batch
    a = mixup(torch.Generator().manual_seed(9), 2.0, x, t)
    b = mixup(torch.Generator().manual_seed(9), 2.0, x, t)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # reproducible from the generator


def test_mixup_lambda_distribution():
    from spotkern.train.optim import _gamma

    g = torch.Generator().manual_seed(3)
    a, b = _gamma(g, 2.0, 20000), _gamma(g, 2.0, 20000)
    lam = (a / (a + b)).numpy()
    assert abs(lam.mean() - 0.5) < 0.01 and abs(lam.var() - 0.05) < 0.005
    s = _gamma(g, 0.5, 20000).numpy()
    assert abs(s.mean() - 0.5) < 0.03  # Gamma(0.5, 1) mean


def test_checkpoint_roundtrip_weights_only(tmp_path):
    path = str(tmp_path / "sub" / "c.pt")
    st = {"model": {"w": torch.ones(2)}, "epoch": 3, "history": "[]", "rng": torch.get_rng_state()}
    save_checkpoint(path, st)
    assert not [f for f in os.listdir(tmp_path / "sub") if ".tmp" in f]
    back = load_checkpoint(path)
    assert back["epoch"] == 3 and torch.equal(back["model"]["w"], torch.ones(2))
    import argparse

    torch.save({"obj": argparse.Namespace(a=1)}, str(tmp_path / "bad.pt"))
    with pytest.raises(Exception):
        load_checkpoint(str(tmp_path / "bad.pt"))  # arbitrary pickles are refused
    with pytest.raises(FileNotFoundError, match="load_checkpoint"):
        load_checkpoint(str(tmp_path / "missing.pt"))
