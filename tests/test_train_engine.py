"""The training step engine (issue 14): one sync-free step per method, traced whole by torch.compile
with no graph break, the same numbers eager and compiled, SAM on the perturbed weights, no data read
and no validation call inside a step, and the metrics log."""
import csv
import os
import types

import numpy as np
import pytest
import torch

import spotkern._validation as validation
from spotkern.data.synth import write_synthetic_soccernet
from spotkern.methods.config import TrainConfig
from spotkern.train.engine import StepEngine
from spotkern.train.optim import build_optimizer
from spotkern.train.trainer import StageTrainer, load_datasets, make_stages, train

TINY_UNET = {"levels": 2, "width": 4, "max_width": 4}

# every method's stages, with SAM and mixup switched on (mixup only reaches the confidence model)
METHOD_CONFIGS = {
    "calf": {"method": "calf", "batch_size": 4, "chunks_per_epoch": 8, "sam_rho": 0.05},
    "dense": {"method": "dense", "mixup_alpha": 2.0, "sam_rho": 0.05},
    "dense-joint": {"method": "dense-joint", "sam_rho": 0.05},
    "dense-joint-transformer": {"method": "dense-joint", "trunk": "transformer",
                                "trunk_kwargs": {"size": "default", "layers": 1}, "sam_rho": 0.05},
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    write_synthetic_soccernet(root, splits={"train": 1, "valid": 1}, feature_dim=8, seed=5, progress=False)
    return root


def _cfg(data, out, **kw):
    d = dict(data=data, out=str(out), trunk_kwargs=TINY_UNET, chunk_seconds=32.0, batch_size=4, chunks_per_epoch=8,
             epochs=1, validate_every=0, progress=False, num_threads=1, seed=2)
    d.update(kw)
    return TrainConfig.from_dict(d)


def _trainers(cfg, device="cpu"):
    """A StageTrainer per stage of the method (a displacement stage trains without its confidence model)."""
    train_ds, _ = load_datasets(cfg, False)
    return [StageTrainer(cfg, stage, train_ds, None, torch.device(device)) for stage in make_stages(cfg, train_ds)]


def _step_args(trainer, k=0):
    eng = trainer.engine
    inp = eng.epoch_inputs(0, 0, 0, trainer.total_steps)
    lo, hi = int(inp.offsets[k]), int(inp.offsets[k + 1])
    lam = perm = None
    if inp.lam is not None:
        lam, perm = inp.lam[k, :hi - lo], inp.perm[k, :hi - lo]
    return inp.half[lo:hi], inp.start[lo:hi], None, lam, perm, inp.scalars[k]


@pytest.mark.parametrize("name", sorted(METHOD_CONFIGS))
def test_whole_step_traces_as_one_graph_without_breaks(data, tmp_path, name):
    """Gather, targets, mixup, forward, losses, backward, SAM's second pass and the AdamW update: one graph."""
    cfg = _cfg(data, tmp_path / name, **METHOD_CONFIGS[name])
    for tr in _trainers(cfg):
        with torch._dynamo.config.patch(trace_autograd_ops=True):
            torch._dynamo.reset()
            ex = torch._dynamo.explain(tr.engine._step)(*_step_args(tr))
        assert ex.graph_break_count == 0, (tr.stage.name, [str(b.reason)[:300] for b in ex.break_reasons])
        assert ex.graph_count == 1, tr.stage.name


def _run_steps(cfg, n=2):
    tr = _trainers(cfg)[0]
    inputs = tr.engine.epoch_inputs(0, 0, 0, tr.total_steps)
    losses = [float(tr.engine.run_step(inputs, k)) for k in range(n)]
    return losses, {k: v.detach().clone() for k, v in tr.model.state_dict().items()}


@pytest.mark.parametrize("name", ["calf", "dense"])
def test_compiled_step_graph_computes_the_eager_step(data, tmp_path, name, monkeypatch):
    """The whole-step graph (traced by dynamo + AOT autograd, run without inductor's re-association) gives
    the eager step's losses and weights after two steps."""
    eager_losses, eager_state = _run_steps(_cfg(data, tmp_path / "e", **METHOD_CONFIGS[name]))
    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: real_compile(fn, **{**kw, "backend": "aot_eager"}))
    torch._dynamo.reset()
    comp_losses, comp_state = _run_steps(_cfg(data, tmp_path / "c", compile="step", **METHOD_CONFIGS[name]))
    np.testing.assert_allclose(comp_losses, eager_losses, rtol=1e-5)
    for k, v in eager_state.items():
        torch.testing.assert_close(comp_state[k], v, rtol=1e-4, atol=1e-6)


def test_inductor_compiled_training_run_matches_eager(data, tmp_path):
    """A real ``--compile step`` run (inductor) trains and validates like the eager run, within float
    re-association."""
    kw = dict(method="dense-joint", epochs=1, chunks_per_epoch=8, validate_every=1)
    eager = train(_cfg(data, tmp_path / "eager", **kw))
    torch._dynamo.reset()
    compiled = train(_cfg(data, tmp_path / "compiled", compile="step", **kw))
    assert compiled["stages"][0]["finished"]
    from spotkern.train.checkpoint import load_checkpoint

    a = load_checkpoint(str(tmp_path / "eager" / "joint" / "last.pt"))
    b = load_checkpoint(str(tmp_path / "compiled" / "joint" / "last.pt"))
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=1e-3, atol=1e-5)
    assert eager["stages"][0]["best"] == pytest.approx(compiled["stages"][0]["best"], abs=0.05)


@pytest.mark.parametrize("name", sorted(METHOD_CONFIGS))
def test_step_reads_no_device_data_and_calls_no_checked_op(data, tmp_path, name, monkeypatch):
    """Inside a step nothing is read back from the tensors (no .item/.tolist/bool/int/float of a tensor)
    and no public (checked) op or validation helper runs: the package's own calls take the internal path."""
    from spotkern.ops import calf_k

    cfg = _cfg(data, tmp_path / name, **METHOD_CONFIGS[name])
    trainers = _trainers(cfg)

    def forbid(what):
        def f(*a, **k):
            raise AssertionError(f"data read in the step: {what}")
        return f

    def refuse(*args, **kwargs):
        raise AssertionError("a checked (validating) entry point ran inside the training step")

    # the checks are imported by name all over the package: swap their code, not a module attribute
    checks = [validation.check_array, validation.check_same_kind, validation.check_int, validation.check_float,
              validation.check_choice, calf_k.check_K]
    for tr in trainers:
        inputs = tr.engine.epoch_inputs(0, 0, 0, tr.total_steps)
        with monkeypatch.context() as m:
            for attr in ("item", "tolist", "__bool__", "__int__", "__float__", "__index__"):
                m.setattr(torch.Tensor, attr, forbid(attr))
            for fn in checks:
                m.setattr(fn, "__code__", refuse.__code__)
            loss = tr.engine.run_step(inputs, 0)
        assert torch.isfinite(loss)
    with pytest.raises(AssertionError, match="checked"):  # the swap does catch a checked call
        with monkeypatch.context() as m:
            m.setattr(validation.check_array, "__code__", refuse.__code__)
            import spotkern

            spotkern.nms(np.zeros((3, 2), np.float32), 2)


def test_sam_step_uses_the_gradient_at_the_perturbed_weights():
    """dense_anchors.md 5.4 through the engine: g = grad L(w); e = rho g / (||g|| + 1e-12); the update starts
    from w (restored) with g' = grad L(w + e) on the same batch: AdamW's first moment is (1 - b1) g'."""
    w0 = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    model = torch.nn.Module()
    model.w = torch.nn.Parameter(w0.clone())
    model.forward = lambda x: (model.w ** 3).sum() * x.sum()
    gathered = []

    class Data:
        resident = True
        sampler = types.SimpleNamespace(steps_per_epoch=1, batch_size=1,
                                        epoch_plan=lambda e: (np.zeros(1, np.int64), np.zeros(1, np.int64)))

        def step_sizes(self):
            return np.ones(1, np.int64)

        def features(self, h, s):
            x = torch.ones(1, dtype=torch.float64)
            gathered.append(x)
            return x

        def targets(self, h, s):
            return None

    stage = types.SimpleNamespace(sam_rho=0.3, mixup_alpha=0.0, loss_scale_for_ranks=False, lr=1e-3,
                                  cfg=types.SimpleNamespace(seed=0), loss=lambda out, tg: out,
                                  lr_factor=lambda epoch, g, total: 1.0)
    opt = build_optimizer([model.w], lr=1e-3, weight_decay=0.0)
    eng = StepEngine(stage, Data(), model, opt, "cpu")
    eng.run_step(eng.epoch_inputs(0, 0, 0, 1), 0)
    g = 3 * w0 ** 2
    e = 0.3 * g / (g.norm() + 1e-12)
    g2 = 3 * (w0 + e) ** 2
    m = opt.state[model.w]["exp_avg"]
    torch.testing.assert_close(m, 0.1 * g2)
    # the update starts from w0, not from w0 + e: w = w0 - lr * m_hat / (sqrt(v_hat) + eps) = w0 - lr * sign(g2)
    torch.testing.assert_close(model.w.detach(), w0 - 1e-3 * g2 / (g2.abs() + 1e-7), rtol=1e-9, atol=1e-12)
    assert len(gathered) == 1  # one batch, used by both passes
    assert opt.steps_taken == 1 and opt.param_groups[0]["lr"] == 1e-3


def test_adamw_matches_torch_adamw():
    """spotkern's functional AdamW follows torch.optim.AdamW (same state layout, same update)."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, 3, generator=g)
    a, b = torch.nn.Parameter(w.clone()), torch.nn.Parameter(w.clone())
    ours = build_optimizer([a], lr=1e-3, weight_decay=2e-4)
    ref = torch.optim.AdamW([b], lr=1e-3, betas=(0.9, 0.999), eps=1e-7, weight_decay=2e-4 / 1e-3)
    for _ in range(5):
        grad = torch.randn(5, 3, generator=g)
        a.grad, b.grad = grad.clone(), grad.clone()
        ours.step()
        ref.step()
    torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-6, atol=1e-8)
    ours2 = build_optimizer([torch.nn.Parameter(w.clone())], lr=1e-3, weight_decay=2e-4)
    ours2.load_state_dict(ref.state_dict())  # a checkpoint of torch's AdamW loads
    assert ours2.steps_taken == 5


def test_metrics_log_has_a_row_per_log_interval_and_epoch(data, tmp_path):
    cfg = _cfg(data, tmp_path / "run", method="dense-joint", epochs=2, log_every=1, validate_every=1)
    train(cfg)
    with open(tmp_path / "run" / "joint" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["time", "stage", "epoch", "step", "global_step", "loss", "lr", "chunks_per_s",
                             "valid_metric", "valid_score"]
    # 2 steps per epoch: one log row after step 1, one epoch row (with validation) after step 2, per epoch
    assert [(r["epoch"], r["step"], r["global_step"]) for r in rows] == [("0", "1", "1"), ("1", "0", "2"),
                                                                        ("1", "1", "3"), ("2", "0", "4")]
    assert all(r["stage"] == "joint" and float(r["loss"]) > 0 and float(r["chunks_per_s"]) > 0 for r in rows)
    assert [r["valid_metric"] for r in rows] == ["", "loose", "", "loose"]
    assert 0 <= float(rows[-1]["valid_score"]) <= 1
    # a finished run re-run resumes: nothing to train, the log keeps its rows
    train(cfg)
    with open(tmp_path / "run" / "joint" / "metrics.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 4


def test_displacement_stage_logs_the_medium_metric(data, tmp_path, caplog):
    cfg = _cfg(data, tmp_path / "run", method="dense", validate_every=1)
    with caplog.at_level("INFO", logger="spotkern"):
        train(cfg)
    assert "validation average-mAP (medium: tolerances 1-10 s)" in caplog.text
    assert "validation average-mAP (loose: tolerances 5-60 s)" in caplog.text
    with open(tmp_path / "run" / "displacement" / "metrics.csv", newline="") as f:
        assert [r["valid_metric"] for r in csv.DictReader(f)] == ["medium"]
    assert os.path.isfile(tmp_path / "run" / "confidence" / "metrics.csv")


def test_ctrl_c_saves_the_steps_done_and_resumes_exactly(data, tmp_path):
    """SIGINT waits for the running step to end, then the partial epoch is checkpointed: resuming from it
    ends bit-identical to an uninterrupted run."""
    import signal
    import subprocess
    import sys
    import time

    from spotkern.train.checkpoint import load_checkpoint

    out = tmp_path / "run"
    args = [sys.executable, "-m", "spotkern", "-q", "train", "--data", data, "--out", str(out), "--method", "calf",
            "--batch-size", "4", "--chunks-per-epoch", "400", "--epochs", "1", "--validate-every", "0",
            "--progress", "false", "--seed", "3", "--num-threads", "1", "--log-every", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    log = out / "calf" / "metrics.csv"
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if log.is_file() and len(log.read_text().splitlines()) >= 3:  # header + 2 steps logged
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode != 0, err.decode()[-2000:]
    st = load_checkpoint(str(out / "calf" / "last.pt"))
    done = st["global_step"]
    assert 2 <= done < 100 and st["step"] == done and not st["finished"]
    assert len(__import__("json").loads(st["epoch_losses"])) == done  # the partial epoch's losses are kept
    same = dict(method="calf", batch_size=4, chunks_per_epoch=400, seed=3, trunk_kwargs={}, chunk_seconds=112.0)
    train(_cfg(data, out, max_steps=3, **same))  # the CLI run's settings (defaults for the rest)
    ref = _cfg(data, tmp_path / "ref", max_steps=done + 3, **same)
    train(ref)
    a, b = load_checkpoint(str(out / "calf" / "last.pt")), load_checkpoint(str(tmp_path / "ref" / "calf" / "last.pt"))
    assert a["global_step"] == b["global_step"] == done + 3
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_gpu_check_fails_loudly_without_a_gpu(tmp_path):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHON=sys.executable, GPU_CHECK_OUT=str(tmp_path))
    proc = subprocess.run(["bash", os.path.join(root, "bench", "gpu_check.sh")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    assert "gpu_check: FAILED: no CUDA GPU is visible" in proc.stderr


def test_a_new_method_is_one_class_and_one_registration(data, tmp_path):
    """What CONTRIBUTING.md describes: a stage class plus ``register_method`` make a method that trains,
    validates and predicts through the CLI-facing config, with no change anywhere else."""
    from spotkern.losses import unchecked
    from spotkern.methods import registry
    from spotkern.methods.dense import DENSE_DEFAULTS, DenseConfidence
    from spotkern.runs.predict import predict_dataset

    class FocalConfidence(DenseConfidence):
        name = "focal"

        def loss(self, outputs, targets):
            return unchecked.dense_confidence_loss(outputs["confidence"].float(), targets["confidence"],
                                               targets["confidence_weight"], focal_gamma=2.0)

    registry.register_method("dense-focal", (FocalConfidence,), lambda variant: DENSE_DEFAULTS)
    try:
        cfg = _cfg(data, tmp_path / "run", method="dense-focal", validate_every=1)
        out = train(cfg)
        assert [s["stage"] for s in out["stages"]] == ["focal"] and out["stages"][0]["finished"]
        assert os.path.isfile(tmp_path / "run" / "focal" / "best.pt")
        paths = predict_dataset(str(tmp_path / "run"), data, "valid", progress=False)
        assert len(paths) == 1 and os.path.getsize(paths[0]) > 0
    finally:
        registry._METHODS.pop("dense-focal")
    with pytest.raises(ValueError, match="method must be one of"):
        TrainConfig.from_dict({"method": "dense-focal"})


def test_resume_refuses_a_checkpoint_trained_with_other_settings(data, tmp_path):
    """The checkpoint's own config is compared too: a --no-resume run that never saved leaves the old
    checkpoints beside its new config.json, and a later resume must not continue them silently."""
    import json

    from spotkern.train.run_config import RunConfigMismatch

    cfg = _cfg(data, tmp_path / "run", method="dense-joint")
    train(cfg)
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    stored["lr"] = 0.5  # what the interrupted --no-resume run wrote
    (tmp_path / "run" / "config.json").write_text(json.dumps(stored))
    with pytest.raises(RunConfigMismatch, match=r"last\.pt was trained with other settings \(lr: 0\.001 -> 0\.5\)"):
        train(_cfg(data, tmp_path / "run", method="dense-joint", lr=0.5))


def test_default_threads_is_one_on_a_two_core_machine(monkeypatch):
    from spotkern.train import runtime

    monkeypatch.setattr(runtime, "usable_cores", lambda: 2)
    assert runtime.default_cpu_threads() == 1
    old = torch.get_num_threads()
    with runtime.cpu_threads(0):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == old
    monkeypatch.setattr(runtime, "usable_cores", lambda: 16)
    assert runtime.default_cpu_threads() == torch.get_num_threads()
    with runtime.cpu_threads(3):
        assert torch.get_num_threads() == 3
