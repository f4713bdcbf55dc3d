"""Throughput of the training and inference paths (``spotkern bench``).

For each model (u-net and transformer dense spotters with a confidence head at the paper's sizes,
CALF's network) and each mode (eager, ``torch.compile``): training chunks/s (sample, gather, build
targets, forward, backward, AdamW step), inference chunks/s (forward only, eval mode, no grad), and the
data path's time per batch (sample + gather + targets) as a fraction of a training step.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from spotkern.data.batching import CALFTargetBuilder, DenseTargetBuilder, FeatureBank
from spotkern.data.dataset import Half
from spotkern.data.sampling import CALFChunkSampler, UniformChunkSampler, calf_anchors
from spotkern.data.soccernet_classes import K_V2_FRAMES
from spotkern.data.synth import synth_half_events
from spotkern.train.optim import build_optimizer

MODEL_NAMES = ("unet", "transformer", "calf")


def synthetic_halves(num_halves: int, feature_dim: int, num_frames: int = 5400, seed: int = 0) -> list:
    """In-memory halves with SoccerNet-like events (features are noise: speed does not depend on them)."""
    g = np.random.default_rng(seed)
    halves = []
    for i in range(num_halves):
        frames, classes = synth_half_events(g, num_frames, 2, 112.0)
        x = g.standard_normal((num_frames, feature_dim), dtype=np.float32)
        key = np.unique(np.stack([frames, classes], 1), axis=0)
        halves.append(Half(f"bench/{i}", 1 + i % 2, x, key[:, 0].copy(), key[:, 1].copy()))
    return halves


class PipelineBench:
    """Everything one benchmark row needs; ``data_batch``, ``train_step`` and ``infer`` are timed."""

    def __init__(self, model_name: str, batch_size: int = 32, feature_dim: int = 512, device="cpu",
                 compiled: bool = False, halves=None, trunk_kwargs: dict | None = None):
        import spotkern.models as models
        from spotkern.losses import calf_segmentation_loss, calf_spotting_loss, dense_confidence_loss

        if model_name not in MODEL_NAMES:
            raise ValueError(f"PipelineBench: model must be one of {MODEL_NAMES}, got {model_name!r}")
        self.device = torch.device(device)
        self.name, self.B = model_name, batch_size
        halves = halves if halves is not None else synthetic_halves(8, feature_dim)
        lengths = [h.num_frames for h in halves]
        self.bank = FeatureBank(halves, self.device, preload=True)
        torch.manual_seed(0)
        if model_name == "calf":
            self.L = 240
            self.model = models.CALFNet(input_dim=feature_dim).to(self.device)
            self.builder = CALFTargetBuilder(halves, K_V2_FRAMES, self.device)
            pos, bg = calf_anchors(self.builder.tses, K_V2_FRAMES)
            self.sampler = CALFChunkSampler(lengths, pos, bg, batch_size=batch_size, chunks_per_epoch=batch_size * 200)
            K = torch.as_tensor(K_V2_FRAMES, device=self.device)

            def loss_fn(out, tg):
                return 0.000367 * calf_segmentation_loss(tg[0], out[0].contiguous(), K) + calf_spotting_loss(tg[1], out[1].contiguous())
        else:
            self.L = 224
            self.model = models.DenseSpotter(trunk=model_name, input_dim=feature_dim, heads=("confidence",),
                                             chunk_size=224, **(trunk_kwargs or {})).to(self.device)
            self.builder = DenseTargetBuilder(halves, 17, 6.0, 12.0, self.device)
            self.sampler = UniformChunkSampler(lengths, 224, batch_size, chunks_per_epoch=batch_size * 200)

            def loss_fn(out, tg):
                return dense_confidence_loss(out["confidence"].contiguous(), tg["confidence"], tg["confidence_weight"])
        self.loss_fn = loss_fn
        self.net = torch.compile(self.model) if compiled else self.model
        self.opt = build_optimizer(self.model.parameters(), 1e-3, 2e-4)
        self.step_index = 0

    def data_batch(self):
        """One batch of the data path: sample, gather features, build targets."""
        h, s = self.sampler.batch(0, self.step_index % self.sampler.steps_per_epoch)
        self.step_index += 1
        if self.name == "calf":
            x = self.bank.gather(h, s, self.L, pad="edge")
            tse, targets, _ = self.builder.build(h, s)
            return x, (tse, targets)
        return self.bank.gather(h, s, self.L), self.builder.build(h, s, self.L)

    def train_step(self, batch=None):
        x, tg = batch if batch is not None else self.data_batch()
        self.model.train()
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.net(x), tg)
        loss.backward()
        self.opt.step()
        return loss.detach()

    @torch.no_grad()
    def infer(self, x):
        self.model.eval()
        return self.net(x)


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device, seconds: float, min_iters: int = 2) -> float:
    """Mean seconds per call after one warm-up call."""
    fn()
    _sync(device)
    n, t0 = 0, time.perf_counter()
    while n < min_iters or time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    _sync(device)
    return (time.perf_counter() - t0) / n


def run_bench(models=MODEL_NAMES, batch_size: int = 32, feature_dim: int = 512, compile_modes=("eager", "compiled"),
              device: str = "auto", seconds: float = 3.0, trunk_kwargs: dict | None = None,
              num_halves: int = 8) -> list:
    """One dict per (model, mode): train/inference chunks/s, data ms per batch, data share of a step."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    halves = synthetic_halves(num_halves, feature_dim)
    for name in models:
        for mode in compile_modes:
            b = PipelineBench(name, batch_size, feature_dim, device, compiled=(mode == "compiled"), halves=halves,
                              trunk_kwargs=(trunk_kwargs or {}).get(name))
            data_s = _timed(b.data_batch, device, seconds / 3, min_iters=5)
            step_s = _timed(b.train_step, device, seconds)
            x = b.data_batch()[0]
            infer_s = _timed(lambda: b.infer(x), device, seconds)
            rows.append({"model": name, "mode": mode, "device": str(device), "batch": batch_size,
                         "train_chunks_per_s": round(batch_size / step_s, 2),
                         "infer_chunks_per_s": round(batch_size / infer_s, 2),
                         "data_ms_per_batch": round(1000 * data_s, 3), "train_step_ms": round(1000 * step_s, 2),
                         "data_fraction_of_step": round(data_s / step_s, 5)})
    return rows
