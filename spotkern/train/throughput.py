"""Throughput of the training and inference paths (``spotkern bench``).

For each model (u-net and transformer dense spotters with a confidence head at the paper's sizes,
CALF's network) and each mode: training chunks/s of the real training step (``StepEngine``: gather,
targets, forward, backward, AdamW, all on the device), inference chunks/s (forward only, eval mode, no
grad), and the data path's time per batch (gather + targets) as a fraction of a training step. Modes:
"eager", "compiled" (the network compiled) and "step" (the whole step compiled into one graph).

``tiny=True`` makes the dense network small in every width (``TINY_WIDTH`` = 4 channels): the frame
MLP is one Linear F -> 4 with a ReLU, the trunk the smallest one (u-net: 2 levels of width 4;
Transformer: 1 layer of width 4) on 4 input channels, the heads 4 -> C. The step's time is then its
overhead beyond the network (data path, targets, losses, launches, update). CALF keeps its network.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from spotkern._typing import DeviceLike
from spotkern.data.dataset import Half, SpottingDataset
from spotkern.data.soccernet_classes import CLASSES_V2
from spotkern.data.synth import synth_half_events
from spotkern.methods.config import TrainConfig
from spotkern.methods.models import build_model
from spotkern.methods.registry import method_entry
from spotkern.train.engine import StepEngine
from spotkern.train.optim import build_optimizer

MODEL_NAMES = ("unet", "transformer", "calf")
MODES = {"eager": "none", "compiled": "model", "step": "step"}
#: channels of every layer of the tiny dense network (frame MLP, trunk, heads' input)
TINY_WIDTH = 4
#: the smallest trunk, on TINY_WIDTH input channels: the step's cost beyond the network
TINY_TRUNK: dict[str, dict[str, Any]] = {
    "unet": {"levels": 2, "width": TINY_WIDTH, "max_width": TINY_WIDTH, "input_channels": TINY_WIDTH},
    "transformer": {"size": "default", "layers": 1, "hidden": TINY_WIDTH, "num_heads": 1,
                    "intermediate": TINY_WIDTH, "input_channels": TINY_WIDTH},
}


class TinyFrameMLP(torch.nn.Module):
    """The tiny network's frame MLP: Linear F -> ``TINY_WIDTH``, ReLU (the paper's is F -> 256 -> 64)."""

    def __init__(self, input_dim: int, width: int = TINY_WIDTH) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(input_dim, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x))


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


def bench_config(model_name: str, batch_size: int, compile_mode: str = "none", tiny: bool = False,
                 trunk_kwargs: dict | None = None, device: str = "cpu") -> TrainConfig:
    """The TrainConfig of a benchmark row: dense confidence model (paper's chunk: 112 s at 2 fps) or CALF."""
    if model_name not in MODEL_NAMES:
        raise ValueError(f"PipelineBench: model must be one of {MODEL_NAMES}, got {model_name!r}")
    kw: dict[str, Any] = dict(batch_size=batch_size, chunks_per_epoch=batch_size * 200, compile=compile_mode,
                              progress=False, preload="true", device=device)
    if model_name == "calf":
        return TrainConfig(method="calf", **kw)
    trunk_kwargs = dict(TINY_TRUNK[model_name] if tiny else trunk_kwargs or {})
    return TrainConfig(method="dense", trunk=model_name, trunk_kwargs=trunk_kwargs, **kw)


class PipelineBench:
    """Everything one benchmark row needs; ``data_batch``, ``train_step`` and ``infer`` are timed.
    compile: "none" | "model" | "step" (``TrainConfig.compile``)."""

    def __init__(self, model_name: str, batch_size: int = 32, feature_dim: int = 512, device: DeviceLike = "cpu",
                 compile: str = "none", halves: list[Half] | None = None, trunk_kwargs: dict | None = None,
                 tiny: bool = False) -> None:
        self.device = torch.device(device)
        self.name, self.B = model_name, batch_size
        halves = halves if halves is not None else synthetic_halves(8, feature_dim)
        self.cfg = bench_config(model_name, batch_size, compile, tiny, trunk_kwargs, str(device))
        ds = SpottingDataset(halves, CLASSES_V2, 2.0, "", [h.game for h in halves], "generic")
        torch.manual_seed(0)
        stage_cls = method_entry(self.cfg.method).stages_for(self.cfg)[0]
        stage = stage_cls(self.cfg, feature_dim=feature_dim, num_classes=17, fps=2.0, classes=CLASSES_V2)
        self.stage = stage
        model = build_model(stage.model_spec())
        if tiny and model_name != "calf":
            model.mlp = TinyFrameMLP(feature_dim)  # small in every width
        self.model = model.to(self.device)
        self.data = stage.training_data(ds, self.device)
        self.L = self.data.chunk_len
        self.opt = build_optimizer(self.model.parameters(), 1e-3, 2e-4)
        self.engine = StepEngine(stage, self.data, self.model, self.opt, self.device, compile=compile)
        self.inputs = self.engine.epoch_inputs(0, 0, 0, self.data.sampler.steps_per_epoch)
        self.net = torch.compile(self.model) if compile != "none" else self.model
        self.step_index = 0

    def _next(self) -> int:
        k = self.step_index % self.data.sampler.steps_per_epoch
        self.step_index += 1
        return k

    def data_batch(self) -> tuple[torch.Tensor, Any]:
        """One batch of the data path: gather features, build targets (as inside the step)."""
        k = self._next()
        lo, hi = int(self.inputs.offsets[k]), int(self.inputs.offsets[k + 1])
        h, s = self.inputs.half[lo:hi], self.inputs.start[lo:hi]
        return self.data.features(h, s), self.data.targets(h, s)

    def train_step(self) -> torch.Tensor:
        """One training step (data path included), waiting for its loss."""
        return self.engine.run_step(self.inputs, self._next()).detach().cpu()

    @torch.no_grad()
    def infer(self, x: torch.Tensor) -> Any:
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


def run_bench(models: Sequence[str] = MODEL_NAMES, batch_size: int = 32, feature_dim: int = 512,
              compile_modes: Sequence[str] = ("eager", "compiled"), device: DeviceLike = "auto", seconds: float = 3.0,
              trunk_kwargs: dict | None = None, num_halves: int = 8, tiny: bool = False) -> list:
    """One dict per (model, mode): train/inference chunks/s, data ms per batch, data share of a step."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    halves = synthetic_halves(num_halves, feature_dim)
    for name in models:
        for mode in compile_modes:
            if mode not in MODES:
                raise ValueError(f"run_bench: compile mode must be one of {tuple(MODES)}, got {mode!r}")
            torch._dynamo.reset()
            b = PipelineBench(name, batch_size, feature_dim, device, compile=MODES[mode], halves=halves,
                              trunk_kwargs=(trunk_kwargs or {}).get(name), tiny=tiny)
            data_s = _timed(b.data_batch, device, seconds / 3, min_iters=5)
            step_s = _timed(b.train_step, device, seconds)
            x = b.data_batch()[0]
            # _timed calls the lambda before the loop moves on, so the late binding of b and x is harmless
            infer_s = _timed(lambda: b.infer(x), device, seconds)  # noqa: B023
            rows.append({"model": name + (" (tiny network)" if tiny and name != "calf" else ""), "mode": mode,
                         "device": str(device), "batch": batch_size,
                         "train_chunks_per_s": round(batch_size / step_s, 2),
                         "infer_chunks_per_s": round(batch_size / infer_s, 2),
                         "data_ms_per_batch": round(1000 * data_s, 3), "train_step_ms": round(1000 * step_s, 2),
                         "data_fraction_of_step": round(data_s / step_s, 5)})
    return rows
