"""The training step of ``spotkern train`` (issue 14), one core, data path included: the previous
engine (kept here as the baseline row) against the sync-free step, eager and compiled into one graph.

Groups (read the ratios inside a group; chunks/s is in each row's ``extra_info``):

* ``train step <model> B=<b>``: the paper-size networks (u-net and default Transformer dense confidence
  models at 224 frames of 512-d features, CALF's network at 240 frames). Rows:
  - ``previous engine``: the step as it was before issue 14: public (validating) ops and losses called per
    step, each reading its data (finiteness and range checks, ``int(csr[-1])`` for the event count),
    ``.contiguous()`` copies, ``loss.backward()``, ``torch.optim.AdamW`` and ``float(loss)`` every step;
  - ``engine eager``: ``StepEngine`` with ``compile="none"`` (what ``spotkern train`` runs by default);
  - ``engine compiled step``: ``compile="step"``, the whole step in one ``torch.compile`` graph.
* ``step overhead <model> B=<b>``: the same three rows with a network small in every width
  (``spotkern.train.throughput.TINY_WIDTH`` = 4 channels: frame MLP 8 -> 4, u-net of 2 levels or a 1-layer
  Transformer on 4 channels, heads 4 -> 17; 8-d features), plus ``network forward+backward``: that
  network's forward and backward alone on one gathered batch (no targets, loss, optimizer or data path).
  The step's overhead beyond the network (data path, targets, losses, kernel launches, optimizer) is
  ``engine eager`` minus ``network forward+backward``; the network row's ``extra_info`` also holds the two
  timed alternately and their difference (``overhead_ms``), which a shared machine's load disturbs less.

Under ``--benchmark-disable`` (the CI smoke run) the rows run once at batch 2 and the compiled rows are
skipped (``tests/test_train_engine.py`` checks compiled == eager).
"""
from __future__ import annotations

import time

import pytest
import torch

import spotkern
from spotkern.losses import calf_segmentation_loss, calf_spotting_loss, dense_confidence_loss
from spotkern.train.throughput import PipelineBench, synthetic_halves

ROUNDS = dict(rounds=10, iterations=1, warmup_rounds=1)  # minima of 10: this VM has slow spells
PAPER_BATCH = {"unet": 64, "transformer": 64, "calf": 32}
ROWS = ("previous engine", "engine eager", "engine compiled step")
NETWORK_ROW = "network forward+backward"


TINY_FEATURES = 8


@pytest.fixture(scope="module")
def halves():
    return {512: synthetic_halves(4, 512), TINY_FEATURES: synthetic_halves(4, TINY_FEATURES)}


def _legacy_dense_targets(builder, h, s, length):
    """The dense targets as the previous engine built them: event count read back (int(csr[-1])), the
    public op with its checks, contiguous copies."""
    keys = builder.keys[:-1]
    h = torch.as_tensor(h, dtype=torch.int64)
    s = torch.as_tensor(s, dtype=torch.int64)
    base = builder.offsets[h] + s - builder.R
    lo = torch.searchsorted(keys, torch.maximum(base, builder.offsets[h]))
    hi = torch.searchsorted(keys, torch.minimum(builder.offsets[h] + s + length + builder.R, builder.offsets[h + 1]))
    counts = hi - lo
    csr = torch.zeros(len(h) + 1, dtype=torch.int64)
    csr[1:] = torch.cumsum(counts, 0)
    total = int(csr[-1])
    owner = torch.repeat_interleave(torch.arange(len(h)), counts, output_size=total)
    idx = lo[owner] + (torch.arange(total) - csr[:-1][owner])
    frames = (keys[idx] - base[owner]).contiguous()
    classes = builder.cls[idx].contiguous()
    conf, disp, support = spotkern.dense_anchor_targets(frames, classes, length + 2 * builder.R, builder.C,
                                                        radius_confidence=builder.rc, radius_displacement=builder.rd,
                                                        offsets=csr)
    sl = slice(builder.R, builder.R + length)
    conf = conf[:, sl]
    inside = ((s[:, None] + torch.arange(length)[None, :]) < (builder.offsets[h + 1] - builder.offsets[h])[:, None])
    inside = inside.unsqueeze(-1).to(torch.float32)
    cw = torch.where(conf > 0, builder.w_conf[0], builder.w_conf[1]) * inside
    return (conf * inside).contiguous(), cw.contiguous()


def _legacy_calf_targets(builder, h, s):
    h = torch.as_tensor(h, dtype=torch.int64)
    s = torch.as_tensor(s, dtype=torch.int64)
    t = s[:, None] + torch.arange(builder.L)[None, :]
    past = t >= builder.lengths[h][:, None]
    chunk = builder.tse[builder.offsets[h][:, None] + torch.minimum(t, builder.lengths[h][:, None] - 1)]
    chunk[:, :builder.border] = -1
    chunk[:, builder.L - builder.border:] = -1
    chunk[past] = -1
    targets, _ = spotkern.spotting_targets(chunk.contiguous(), builder.N)
    return chunk, targets


class LegacyStep:
    """The previous engine's step on the same model, data and batches as ``PipelineBench``."""

    def __init__(self, pb: PipelineBench):
        self.pb = pb
        self.opt = torch.optim.AdamW(pb.model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7,
                                     weight_decay=0.2, foreach=True)
        self.k = 0

    def __call__(self) -> float:
        pb = self.pb
        sampler = pb.data.sampler
        h, s = sampler.batch(0, self.k % sampler.steps_per_epoch)
        self.k += 1
        pb.model.train()
        self.opt.zero_grad(set_to_none=True)
        if pb.name == "calf":
            x = pb.data.bank.gather(h, s, pb.L, pad="edge")
            tse, targets = _legacy_calf_targets(pb.data.builder, h, s)
            seg, spot = pb.model(x)
            loss = (pb.cfg.lambda_seg * calf_segmentation_loss(tse, seg.float().contiguous(), pb.stage.K_t)
                    + calf_spotting_loss(targets, spot.float().contiguous()))
        else:
            x = pb.data.bank.gather(h, s, pb.L, pad="zero")
            conf, weight = _legacy_dense_targets(pb.data.builder, h, s, pb.L)
            loss = dense_confidence_loss(pb.model(x)["confidence"].float().contiguous(), conf, weight)
        loss.backward()
        self.opt.step()
        return float(loss.detach())


def _case(model, row, tiny):
    group = f"{'step overhead' if tiny else 'train step'} {model} B={PAPER_BATCH[model]}"
    if tiny and model == "calf":
        return None
    return pytest.param(model, row, tiny, marks=pytest.mark.benchmark(group=group),
                        id=f"{'tiny-' if tiny else ''}{model}-{row.replace(' ', '-')}")


CASES = [c for tiny in (False, True) for m in PAPER_BATCH for r in ROWS + ((NETWORK_ROW,) if tiny else ())
         if (c := _case(m, r, tiny)) is not None]


class NetworkStep:
    """The network's forward and backward alone (the sum of its outputs as the loss), on one batch gathered
    once: what the step costs beyond this is its overhead."""

    def __init__(self, pb: PipelineBench):
        self.model = pb.model
        self.x = pb.data_batch()[0]

    def __call__(self) -> torch.Tensor:
        self.model.train()
        self.model.zero_grad(set_to_none=True)
        out = self.model(self.x)
        loss = sum(v.float().sum() for v in out.values())
        loss.backward()
        return loss.detach()


@pytest.mark.parametrize("model,row,tiny", CASES)
def test_train_step(benchmark, halves, model, row, tiny):
    compiled = row == "engine compiled step"
    if compiled and benchmark.disabled:
        pytest.skip("compiled rows run only when benchmarking")
    B = 2 if benchmark.disabled else PAPER_BATCH[model]
    torch._dynamo.reset()
    dim = TINY_FEATURES if tiny else 512
    pb = PipelineBench(model, B, dim, "cpu", compile="step" if compiled else "none", halves=halves[dim], tiny=tiny)
    step = LegacyStep(pb) if row == "previous engine" else NetworkStep(pb) if row == NETWORK_ROW else pb.train_step
    loss = step()  # compile / warm outside the timed rounds
    assert float(loss) == float(loss)
    benchmark.pedantic(step, **ROUNDS)
    if not benchmark.disabled:
        benchmark.extra_info["chunks_per_s"] = round(B / benchmark.stats.stats.mean, 2)
        benchmark.extra_info["batch"] = B
        if row == NETWORK_ROW:
            benchmark.extra_info.update(interleaved_overhead(pb.train_step, step))


def interleaved_overhead(engine_step, network_step, rounds: int = ROUNDS["rounds"]) -> dict:
    """The eager engine's step and the network alone, timed alternately (a shared machine's slow spells
    hit both alike): their minima in ms and the difference, the step's overhead beyond the network."""
    steps, nets = [], []
    for _ in range(rounds):
        for fn, times in ((engine_step, steps), (network_step, nets)):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return {"engine_eager_ms": round(1e3 * min(steps), 2), "network_ms": round(1e3 * min(nets), 2),
            "overhead_ms": round(1e3 * (min(steps) - min(nets)), 2)}
