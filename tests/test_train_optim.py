"""Optimiser pieces: linear decay (dense_anchors.md 5.2), AdamW decay semantics (5.1), SAM (5.4),
mixup (5.5), atomic weights_only checkpoints."""
import os

import numpy as np
import pytest
import torch

from spotkern.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
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
    with pytest.raises(CheckpointError, match=r"bad\.pt: not a readable checkpoint"):
        load_checkpoint(str(tmp_path / "bad.pt"))  # arbitrary pickles are refused
    with pytest.raises(FileNotFoundError, match="load_checkpoint"):
        load_checkpoint(str(tmp_path / "missing.pt"))


@pytest.mark.parametrize("alpha", [1e-3, 0.05])
def test_mixup_small_alpha_gives_finite_mixes(alpha):
    # Beta(alpha, alpha) for small alpha puts lambda near 0 or 1; both Gamma draws can underflow to
    # 0 in linear space, which used to give lambda = 0/0 = NaN (spec 5.5: lambda in [0, 1]).
    B = 4096
    x = torch.arange(B, dtype=torch.float32).reshape(B, 1, 1)
    t = torch.ones(B, 3, 2)
    xm, tm = mixup(torch.Generator().manual_seed(0), alpha, x, t)
    assert torch.isfinite(xm).all() and torch.isfinite(tm).all()
    torch.testing.assert_close(tm, t)  # a convex combination of ones is one
    from spotkern.train.optim import _log_gamma

    g = torch.Generator().manual_seed(1)
    lam = torch.sigmoid(_log_gamma(g, alpha, 20000) - _log_gamma(g, alpha, 20000))
    assert abs(float(lam.mean()) - 0.5) < 0.02  # symmetric
    # Beta(alpha, alpha) with alpha <= 0.05 keeps over 3/4 of its mass within 0.01 of 0 or 1.
    assert float((torch.minimum(lam, 1 - lam) < 0.01).float().mean()) > 0.75


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan"), float("inf")])
def test_mixup_rejects_bad_alpha(alpha):
    with pytest.raises(ValueError, match="^mixup: alpha"):
        mixup(torch.Generator(), alpha, torch.zeros(2, 3))


@pytest.mark.parametrize("chunk_seconds, fps, L, levels", [
    (112.0, 2, 224, 6), (112.0, 1, 112, 5),  # the paper's two configurations (dense_anchors.md 4.2)
    (32.0, 2, 64, 4), (100.0, 2, 192, 6), (60.0, 2, 112, 5),  # L not 7 * 2**k: levels derived, L rounded
])
def test_dense_model_spec_builds_for_any_chunk_length(chunk_seconds, fps, L, levels):
    from spotkern.methods.config import TrainConfig
    from spotkern.methods.dense import DenseConfidence
    from spotkern.methods.models import build_model

    def spec(**kw):
        return DenseConfidence(TrainConfig(chunk_seconds=chunk_seconds, **kw), feature_dim=16, num_classes=3,
                               fps=fps).model_spec()

    model = build_model(spec())  # used to raise "chunk_size must be 7 * 2**k" for L = 64 or 192
    assert model.trunk.chunk_size == L and model.trunk.levels == levels
    assert model(torch.zeros(1, L, 16))["confidence"].shape == (1, L, 3)
    assert build_model(spec(trunk_kwargs={"levels": 2})).trunk.levels == 2  # an explicit override wins
    # an explicit chunk size derives its own levels
    assert build_model(spec(trunk_kwargs={"chunk_size": 224})).trunk.levels == 6


@pytest.mark.parametrize("name", ["lr", "weight_decay", "sam_rho", "mixup_alpha", "displacement_sam_rho"])
def test_config_rejects_nan_rates(name):
    # NaN passed the "< 0" checks, and sam_rho / mixup_alpha = NaN silently disabled SAM / mixup.
    from spotkern.methods.config import TrainConfig

    with pytest.raises(ValueError, match=f"^TrainConfig: {name} must be finite"):
        TrainConfig.from_dict({name: float("nan")})


@pytest.mark.parametrize("name", ["nms_window_confidence", "nms_window_displaced", "nms_window_soft"])
@pytest.mark.parametrize("value", [0.0, -3.0, float("nan")])
def test_config_rejects_non_positive_nms_windows(name, value):
    from spotkern.methods.config import TrainConfig

    with pytest.raises(ValueError, match=f"^TrainConfig: {name} must be a positive number of seconds"):
        TrainConfig.from_dict({name: value})


def test_calf_method_takes_calf_defaults_unless_given():
    """calf.md 9.1: batch 32, 18,000 chunks per epoch, validation every 20 epochs, lr 1e-3 -> 1e-6."""
    from spotkern.methods.config import TrainConfig

    cfg = TrainConfig.from_dict({"method": "calf"})
    assert (cfg.batch_size, cfg.chunks_per_epoch, cfg.validate_every, cfg.end_fraction) == (32, 18000, 20, 0.001)
    assert cfg.lr * cfg.end_fraction == pytest.approx(1e-6)
    cfg = TrainConfig.from_dict({"method": "calf", "batch_size": 8})
    assert cfg.batch_size == 8 and cfg.chunks_per_epoch == 18000
    dense = TrainConfig.from_dict({"method": "dense"})
    assert (dense.batch_size, dense.chunks_per_epoch, dense.validate_every, dense.end_fraction) == (256, 8192, 10, 0.01)
    # built directly, the config takes the same method defaults as through from_dict / JSON / the CLI
    assert TrainConfig(method="calf").to_dict() == TrainConfig.from_dict({"method": "calf"}).to_dict()
    assert TrainConfig(method="calf", validate_every=0).validate_every == 0
    assert TrainConfig().batch_size == 256


def test_cli_train_flags_take_method_defaults():
    import argparse

    from spotkern.cli import add_config_arguments, config_from_args

    p = argparse.ArgumentParser()
    add_config_arguments(p)
    cfg = config_from_args(p.parse_args(["--method", "calf", "--data", "x"]))
    assert (cfg.batch_size, cfg.chunks_per_epoch, cfg.validate_every) == (32, 18000, 20)
    cfg = config_from_args(p.parse_args(["--method", "calf", "--batch-size", "4", "--end-fraction", "0.5"]))
    assert (cfg.batch_size, cfg.end_fraction, cfg.chunks_per_epoch) == (4, 0.5, 18000)


@pytest.mark.parametrize("field,value,message", [
    ("batch_size", 2.5, "batch_size must be an integer"),
    ("epochs", True, "epochs must be an integer"),
    ("calf_chunk", "240", "calf_chunk must be an integer"),
    ("validate_every", -1, "validate_every must be >= 0"),
    ("max_steps", -5, "max_steps must be >= 0"),
    ("seed", -1, "seed must be >= 0"),
])
def test_integer_knobs_are_not_truncated_or_negative(field, value, message):
    from spotkern.methods.config import TrainConfig

    with pytest.raises(ValueError, match=f"^TrainConfig: {message}"):
        TrainConfig.from_dict({field: value})


def test_label_placement_reaches_the_reader_without_a_features_name(monkeypatch):
    from spotkern.methods.config import TrainConfig
    from spotkern.train import trainer

    seen = []
    monkeypatch.setattr(trainer, "read_dataset", lambda root, split, **kw: seen.append(kw) or object())
    trainer.load_datasets(TrainConfig.from_dict({"data": "x", "features": "", "label_placement": "position"}), False)
    assert seen == [{"label_placement": "position"}]
