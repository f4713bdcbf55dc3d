"""Real CUDA kernels (Triton, no interpreter) against the CPU ops, and the training step without a host
synchronisation. Runs only on a machine with a CUDA GPU and ``TRITON_INTERPRET`` unset or 0 (what
``bench/gpu_check.sh`` does); skipped everywhere else (CI has no GPU)."""
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET", "0") == "1",
    reason="needs a CUDA GPU and real Triton kernels (TRITON_INTERPRET unset or 0): run bench/gpu_check.sh")

import spotkern  # noqa: E402
from spotkern.data.soccernet_classes import K_V2_FRAMES  # noqa: E402

CUDA = torch.device("cuda")
FEW = settings(max_examples=25, deadline=None)


def same(cuda_out, cpu_out):
    cuda_out = cuda_out if isinstance(cuda_out, tuple) else (cuda_out,)
    cpu_out = cpu_out if isinstance(cpu_out, tuple) else (cpu_out,)
    assert len(cuda_out) == len(cpu_out)
    for a, b in zip(cuda_out, cpu_out):
        assert a.device.type == "cuda"
        np.testing.assert_array_equal(a.cpu().numpy(), b.cpu().numpy())


def labels(rng, T, C, n):
    lab = np.zeros((T, C), np.float32)
    lab[rng.integers(0, T, n), rng.integers(0, C, n)] = 1
    lab[0, 0] = lab[T - 1, C - 1] = 1  # events at the first and last frame
    return lab


@FEW
@given(T=st.integers(1, 600), n=st.integers(0, 30), seed=st.integers(0, 2**16))
def test_time_shift_encoding(T, n, seed):
    lab = torch.from_numpy(labels(np.random.default_rng(seed), T, 17, n))
    K = torch.from_numpy(K_V2_FRAMES)
    same(spotkern.time_shift_encoding(lab.to(CUDA), K.to(CUDA)), spotkern.time_shift_encoding(lab, K))
    halves = [lab, lab[: max(T // 2, 1)]]
    got = spotkern.time_shift_encoding_batch([h.to(CUDA) for h in halves], K.to(CUDA))
    for g, c in zip(got, spotkern.time_shift_encoding_batch(halves, K)):
        same(g, c)


@FEW
@given(B=st.integers(1, 16), seed=st.integers(0, 2**16), border=st.sampled_from([0, 40]))
def test_spotting_targets(B, seed, border):
    g = torch.Generator().manual_seed(seed)
    tse = torch.randint(-300, 300, (B, 240, 17), generator=g, dtype=torch.int32)
    tse[torch.rand(B, 240, 17, generator=g) < 0.01] = 0  # actions, ties included
    same(spotkern.spotting_targets(tse.to(CUDA), 15, border=border), spotkern.spotting_targets(tse, 15, border=border))


@FEW
@given(B=st.integers(1, 64), N=st.integers(1, 64), seed=st.integers(0, 2**16),
       method=st.sampled_from(["calf", "optimal"]))
def test_reciprocal_matching(B, N, seed, method):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(B, N, generator=g)
    pres = (torch.rand(B, N, generator=g) < 0.5).float()
    pred = torch.round(torch.rand(B, N, generator=g) * 20) / 20  # ties
    cpu = spotkern.reciprocal_matching(gt, pres, pred, method=method)
    same(spotkern.reciprocal_matching(gt.to(CUDA), pres.to(CUDA), pred.to(CUDA), method=method), cpu)


@FEW
@given(B=st.integers(1, 8), E=st.integers(0, 40), seed=st.integers(0, 2**16))
def test_dense_anchor_targets_batch(B, E, seed):
    rng = np.random.default_rng(seed)
    frames = torch.from_numpy(np.sort(rng.integers(-20, 250, E)).astype(np.int64))
    classes = torch.from_numpy(rng.integers(0, 17, E).astype(np.int64))
    cuts = np.sort(rng.integers(0, E + 1, B - 1)) if B > 1 else np.zeros(0, np.int64)
    offsets = torch.from_numpy(np.concatenate([[0], cuts, [E]]).astype(np.int64))
    kw = dict(radius_confidence=6.0, radius_displacement=12.0, offsets=offsets)
    cpu = spotkern.dense_anchor_targets(frames, classes, 224, 17, **kw)
    kw["offsets"] = offsets.to(CUDA)
    same(spotkern.dense_anchor_targets(frames.to(CUDA), classes.to(CUDA), 224, 17, **kw), cpu)


@FEW
@given(T=st.integers(1, 800), seed=st.integers(0, 2**16))
def test_displace_scores(T, seed):
    g = torch.Generator().manual_seed(seed)
    conf = torch.rand(T, 17, generator=g)
    disp = torch.rand(T, 17, generator=g) * 2 - 1
    same(spotkern.displace_scores(conf.to(CUDA), disp.to(CUDA), 12.0), spotkern.displace_scores(conf, disp, 12.0))


@FEW
@given(T=st.integers(1, 600), seed=st.integers(0, 2**16), method=st.sampled_from(["hard", "calf", "linear", "gaussian"]),
       W=st.integers(2, 50))
def test_nms(T, seed, method, W):
    g = torch.Generator().manual_seed(seed)
    scores = torch.round(torch.rand(T, 17, generator=g) * 50) / 50  # plateaus of equal scores
    cpu = spotkern.nms(scores, W, method=method, output="both")
    got = spotkern.nms(scores.to(CUDA), W, method=method, output="both")
    same(got[0], cpu[0])
    same(tuple(got[1]), tuple(cpu[1]))


def test_calf_segmentation_loss_fused_kernel_matches_the_torch_form():
    from spotkern.losses import calf_segmentation_loss

    g = torch.Generator().manual_seed(0)
    tse = torch.randint(-300, 300, (8, 240, 17), generator=g, dtype=torch.int32)
    p = torch.rand(8, 240, 17, generator=g)
    p[0, 0] = 1.0
    p[0, 1] = 0.0  # saturated scores stay finite (calf.md 5.5)
    K = torch.from_numpy(K_V2_FRAMES)
    a = p.clone().requires_grad_(True)
    b = p.to(CUDA).requires_grad_(True)
    la = calf_segmentation_loss(tse, a, K)
    lb = calf_segmentation_loss(tse.to(CUDA), b, K.to(CUDA), fused=True)
    la.backward()
    lb.backward()
    torch.testing.assert_close(lb.cpu(), la, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(b.grad.cpu(), a.grad, rtol=1e-5, atol=1e-6)


METHODS = {
    "calf": {"method": "calf", "batch_size": 32, "chunks_per_epoch": 96, "sam_rho": 0.05},
    "dense": {"method": "dense", "batch_size": 32, "chunks_per_epoch": 96, "mixup_alpha": 2.0, "sam_rho": 0.05},
    "dense-joint-transformer": {"method": "dense-joint", "trunk": "transformer", "trunk_kwargs": {"size": "default"},
                                "batch_size": 32, "chunks_per_epoch": 96, "amp": True},
}


@pytest.fixture(scope="module")
def gpu_data(tmp_path_factory):
    from spotkern.data.synth import write_synthetic_soccernet

    root = str(tmp_path_factory.mktemp("data"))
    write_synthetic_soccernet(root, splits={"train": 2}, feature_dim=64, seed=3, progress=False)
    return root


@pytest.mark.parametrize("compile", ["none", "step"])
@pytest.mark.parametrize("name", sorted(METHODS))
def test_training_step_never_synchronises(gpu_data, tmp_path, name, compile):
    """``torch.cuda.set_sync_debug_mode("error")`` turns any host synchronisation into an error: the
    training steps of every stage (targets, mixup, SAM, AdamW, loss bookkeeping) run under it."""
    from spotkern.train.config import TrainConfig
    from spotkern.train.trainer import StageTrainer, load_datasets, make_stages

    cfg = TrainConfig.from_dict(dict(data=gpu_data, out=str(tmp_path), device="cuda", epochs=1, validate_every=0,
                                     progress=False, chunk_seconds=56.0, compile=compile, **METHODS[name]))
    train_ds, _ = load_datasets(cfg, False)
    for stage in make_stages(cfg, train_ds):
        tr = StageTrainer(cfg, stage, train_ds, None, CUDA)
        inputs = tr.engine.epoch_inputs(0, 0, 0, tr.total_steps)
        losses = torch.zeros(3, device=CUDA)
        losses[0] = tr.engine.run_step(inputs, 0)  # warm-up (compilation, allocator, cuBLAS handles)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for k in (1, 2):
                losses[k] = tr.engine.run_step(inputs, k)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        assert torch.isfinite(losses).all()
