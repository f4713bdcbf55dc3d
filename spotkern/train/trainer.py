"""Training loop for CALF (sn, or the paper's SoccerNet-v1 setting with ``calf_variant="v1"``), dense
anchors (two steps: confidence then displacement) and joint dense.

One ``StageTrainer`` trains one network. The epoch plan is a pure function of (seed, epoch), mixup
draws from a generator seeded by (seed, epoch, step, rank), and the checkpoint stores model, optimizer,
(epoch, step), best score and RNG state, so a run resumed from any checkpoint continues bit-identically
to an uninterrupted one. Chunks are gathered and their targets built on the training device.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from spotkern.data.batching import CALFTargetBuilder, DenseTargetBuilder, FeatureBank
from spotkern.data.dataset import read_dataset
from spotkern.data.labels import DataFormatError
from spotkern.data.sampling import CALFChunkSampler, CALFV1ChunkSampler, UniformChunkSampler, calf_anchors
from spotkern.data.soccernet_classes import CLASSES_V1_CALF
from spotkern.train.checkpoint import StageCheckpoints
from spotkern.train.config import TrainConfig, write_run_config
from spotkern.train.distributed import all_mean, barrier, init_distributed
from spotkern.train.models import build_model, calf_K, model_spec
from spotkern.train.optim import build_optimizer, linear_decay, mixup, sam_perturb, sam_restore, set_lr

log = logging.getLogger("spotkern")

STAGES = {"calf": ["calf"], "dense": ["confidence", "displacement"], "dense-joint": ["joint"]}
MEDIUM_TOLERANCES = list(range(1, 11))  # "medium" metric of displacement models (dense_anchors.md 5.7)


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """"auto" (CUDA when available, else CPU) or a torch device string; a CUDA device without one, or
    an unknown name, is a named ValueError rather than a failure deep inside the first .to()."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: no CUDA device is available (this torch build or machine has none)")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank)
    return dev


def _seed_int(*parts) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)[0] >> 1)


def load_datasets(cfg: TrainConfig, need_valid: bool):
    kw = {"label_placement": cfg.label_placement}  # the generic layout ignores the SoccerNet-only kwargs
    if cfg.features:
        kw["features"] = cfg.features
    if cfg.soccernet_version != 2:  # the generic layout refuses version 1 (read_dataset)
        kw["soccernet_version"] = cfg.soccernet_version
    train = read_dataset(cfg.data, cfg.train_split, **kw)
    valid = None
    if need_valid:
        try:
            valid = read_dataset(cfg.data, cfg.valid_split, **kw)
        except DataFormatError as e:
            log.warning("no validation split (%s): training without validation, keeping the last model", e)
    return train, valid


class StageTrainer:
    """Trains the network of one stage ("calf", "confidence", "displacement" or "joint")."""

    def __init__(self, cfg: TrainConfig, stage: str, train_ds, valid_ds, device: torch.device,
                 rank: int = 0, world_size: int = 1):
        self.cfg, self.stage, self.train_ds, self.valid_ds = cfg, stage, train_ds, valid_ds
        self.device, self.rank, self.world = device, rank, world_size
        self.dir = os.path.join(cfg.out, stage)
        disp = stage == "displacement"
        pick = lambda v, d: d if v is None else v  # noqa: E731
        self.lr = pick(cfg.displacement_lr, cfg.lr) if disp else cfg.lr
        self.wd = pick(cfg.displacement_weight_decay, cfg.weight_decay) if disp else cfg.weight_decay
        if stage == "calf":
            self.wd = cfg.calf_weight_decay
        self.rho = pick(cfg.displacement_sam_rho, cfg.sam_rho) if disp else cfg.sam_rho
        self.epochs = pick(cfg.displacement_epochs, cfg.epochs) if disp else cfg.epochs
        self.mixup_alpha = cfg.mixup_alpha if stage == "confidence" else 0.0  # 5.5: confidence model only
        if cfg.mixup_alpha > 0 and stage in ("joint", "calf"):
            log.warning("mixup applies to the confidence model only; disabled for stage %s", stage)
        fps, C = train_ds.fps, train_ds.num_classes
        self.fps, self.C = fps, C
        torch.manual_seed(cfg.seed)
        self.spec = model_spec(cfg, stage, train_ds.feature_dim, C, fps)
        self.model = build_model(self.spec).to(device)
        lengths = train_ds.lengths
        self.v1 = stage == "calf" and cfg.calf_variant == "v1"
        if self.v1:
            check_v1_setting(train_ds, world_size)
        if stage == "calf":
            self.K = calf_K(train_ds.classes, fps)
            self.L = cfg.calf_chunk
            self.targets = CALFTargetBuilder(train_ds.halves, self.K, device, self.L, cfg.calf_receptive_field,
                                             cfg.calf_slots)
            pos, bg = calf_anchors(self.targets.tses, self.K, self.L)
            if self.v1:  # calf.md 9.4: one batch per training half, every action + background chunks
                self.sampler = CALFV1ChunkSampler(lengths, pos, bg, self.L, cfg.calf_receptive_field, cfg.seed)
            else:
                self.sampler = CALFChunkSampler(lengths, pos, bg, self.L, cfg.calf_receptive_field, cfg.batch_size,
                                                cfg.chunks_per_epoch, cfg.seed)
            self.K_t = torch.as_tensor(self.K, device=device)
        else:
            self.L = self.spec["kwargs"]["chunk_size"]
            self.rc = cfg.radius_confidence * fps
            self.rd = self.rc * cfg.displacement_multiplier
            self.targets = DenseTargetBuilder(train_ds.halves, C, self.rc, self.rd, device,
                                              cfg.positive_weight_confidence)
            self.sampler = UniformChunkSampler(lengths, self.L, cfg.batch_size, cfg.chunks_per_epoch, cfg.seed)
        preload = {"true": True, "false": False}.get(str(cfg.preload).lower(), "auto")
        self.bank = FeatureBank(train_ds.halves, device, preload)
        self.optimizer = build_optimizer(self.model.parameters(), self.lr, self.wd)
        self.total_steps = (cfg.decay_epochs or self.epochs) * self.sampler.steps_per_epoch
        self.epoch, self.step, self.global_step, self.best = 0, 0, 0, -math.inf
        self.finished, self.history = False, []
        self.epoch_losses = []  # losses of the current epoch's steps so far, kept across a resume
        self.valid_confidence = None
        self.checkpoints = StageCheckpoints(self.dir)
        resumed = self.checkpoints.load_last(map_location=device) if cfg.resume else None
        if resumed is not None:
            self._restore(resumed)
        net = self.model
        if world_size > 1:
            net = torch.nn.parallel.DistributedDataParallel(
                net, device_ids=[device.index] if device.type == "cuda" else None)
        self.net = torch.compile(net) if cfg.compile else net

    # ---------------------------------------------------------------- checkpoints
    @property
    def last_path(self) -> str:
        return os.path.join(self.dir, "last.pt")

    @property
    def best_path(self) -> str:
        return os.path.join(self.dir, "best.pt")

    def _state(self) -> dict:
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch, "step": self.step, "global_step": self.global_step, "best": self.best,
            "finished": self.finished, "history": json.dumps(self.history), "stage": self.stage,
            "epoch_losses": json.dumps(self.epoch_losses),
            "model_spec": json.dumps(self.spec), "config": json.dumps(self.cfg.to_dict()),
            "classes": list(self.train_ds.classes), "fps": float(self.fps),
            "torch_rng": torch.get_rng_state(),
        }

    def _restore(self, st: dict) -> None:
        self.model.load_state_dict(st["model"])
        self.optimizer.load_state_dict(st["optimizer"])
        self.epoch, self.step, self.global_step = int(st["epoch"]), int(st["step"]), int(st["global_step"])
        self.best, self.finished = float(st["best"]), bool(st["finished"])
        self.history = json.loads(st["history"])
        self.epoch_losses = json.loads(st.get("epoch_losses", "[]"))  # absent from older checkpoints
        torch.set_rng_state(st["torch_rng"].cpu())
        if self.rank == 0:
            log.info("%s: resumed at epoch %d step %d", self.stage, self.epoch, self.step)

    def save(self, best: bool = False) -> None:
        if self.rank != 0:
            return
        self.checkpoints.save(self._state(), best)

    # ---------------------------------------------------------------- one step
    def _loss(self, x, tg):
        from spotkern.losses import (calf_segmentation_loss, calf_spotting_loss, dense_confidence_loss,
                                     dense_displacement_loss)

        amp = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.amp)
        with amp:
            out = self.net(x)
        if self.stage == "calf":
            seg, spot = out[0].float().contiguous(), out[1].float().contiguous()
            tse, targets = tg
            variant = "v1" if self.v1 else "sn"  # calf.md 5.3: zones 4 and 5 differ
            loss = (self.cfg.lambda_seg * calf_segmentation_loss(tse, seg, self.K_t, variant=variant)
                    + calf_spotting_loss(targets, spot))
            return loss * self.world  # sums over the batch: undo DDP's gradient averaging over ranks
        loss = x.new_zeros(())
        if "confidence" in out:
            loss = loss + dense_confidence_loss(out["confidence"].float().contiguous(), tg["confidence"], tg["confidence_weight"])
        if "displacement" in out:
            loss = loss + dense_displacement_loss(out["displacement"].float().contiguous(), tg["displacement"],
                                                  tg["displacement_weight"])
        return loss

    def batch(self, epoch: int, step: int):
        """(features (b, L, F), targets) of this rank's share of global batch ``step`` of ``epoch``."""
        h, s = self.sampler.batch(epoch, step, rank=self.rank, world_size=self.world)
        if self.stage == "calf":
            x = self.bank.gather(h, s, self.L, pad="edge")
            tse, targets, _dropped = self.targets.build(h, s)
            return x, (tse, targets)
        return self.bank.gather(h, s, self.L, pad="zero"), self.targets.build(h, s, self.L)

    def chunks_in_step(self, epoch: int, step: int) -> int:
        """Global chunks of step ``step`` (all ranks): batch_size, or the half's batch for calf v1."""
        if self.v1:
            return int(self.sampler.offsets[step + 1] - self.sampler.offsets[step])
        return self.cfg.batch_size

    def train_step(self, epoch: int, step: int) -> float:
        self.model.train()
        x, tg = self.batch(epoch, step)
        if self.mixup_alpha > 0:
            g = torch.Generator().manual_seed(_seed_int(self.cfg.seed, epoch, step, self.rank))
            x, c, w = mixup(g, self.mixup_alpha, x, tg["confidence"], tg["confidence_weight"])
            tg = dict(tg, confidence=c, confidence_weight=w)
        if self.v1:  # calf.md 9.1 (v1): lr -= (1e-3 - 1e-6) / epochs once per epoch, constant within it
            f = linear_decay(epoch, self.cfg.decay_epochs or self.epochs, self.cfg.end_fraction)
        else:
            f = linear_decay(self.global_step, self.total_steps, self.cfg.end_fraction)
        set_lr(self.optimizer, self.lr * f)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss(x, tg)
        loss.backward()
        if self.rho > 0:
            params = [p for p in self.model.parameters() if p.requires_grad]
            eps = sam_perturb(params, self.rho)
            self.optimizer.zero_grad(set_to_none=True)
            self._loss(x, tg).backward()  # gradient at w + e on the same batch
            sam_restore(params, eps)
        self.optimizer.step()
        return float(loss.detach())

    # ---------------------------------------------------------------- validation
    def validate(self) -> float:
        """Average-mAP of the validation split: loose for confidence/joint/CALF models, "medium"
        (1..10 s) for displacement models (dense_anchors.md 5.7).

        SoccerNet-v2 and generic data are scored from arrays (spotkern's average-mAP on the dataset's
        events). SoccerNet-v1 data (``soccernet_version=1``, e.g. calf_variant="v1") is scored like the
        paper: the halves' results files are written with the results writer (CALF v1 ids -> the
        evaluator's soccer/card/subs) under ``<out>/<stage>/valid_results`` and scored by
        ``spotkern.metrics.evaluate(version=1)``, whose ground truth is the games' Labels.json read with
        the official substring mapping. Only ``a_mAP`` is used: v1's visible/unshown entries are None."""
        from spotkern.train.predict import detect_half

        ds = self.valid_ds
        if self.stage == "displacement" and self.valid_confidence is None:
            self.valid_confidence = stored_confidences(self.cfg, ds, self.device)
        metric = MEDIUM_TOLERANCES if self.stage == "displacement" else "loose"
        files = self.cfg.soccernet_version == 1 and ds.layout == "soccernet"
        scores = []  # post-NMS (T, C) arrays, kept only when scored through files
        gh, gf, gc, ph, pf, pc, ps = [], [], [], [], [], [], []
        for i, half in enumerate(ds.halves):
            conf = None if self.valid_confidence is None else self.valid_confidence[i]
            sc = detect_half(self.model, self.stage, half.features, self.cfg, self.fps, self.device,
                             border_s=self.cfg.valid_border, confidence=conf, K=getattr(self, "K", None))
            if files:
                scores.append(sc)
                continue
            t, c = np.nonzero(sc >= 0)
            gh.append(np.full(len(half.frames), i)); gf.append(half.frames); gc.append(half.classes)
            ph.append(np.full(len(t), i)); pf.append(t); pc.append(c); ps.append(sc[t, c].astype(np.float64))
        if files:
            return self._score_files_v1(scores, metric)
        from spotkern.metrics.soccernet import average_map_from_arrays

        cat = lambda a: np.concatenate(a).astype(np.int64)  # noqa: E731
        res = average_map_from_arrays(cat(gh), cat(gf), cat(gc), cat(ph), cat(pf), cat(pc), np.concatenate(ps),
                                      num_halves=len(ds.halves), num_classes=self.C, metric=metric,
                                      framerate=int(round(self.fps)))
        return float(res["a_mAP"])

    def _score_files_v1(self, scores, metric) -> float:
        """Write the validation results files and score them with evaluate(version=1) (see validate)."""
        from spotkern.inference.results import write_results
        from spotkern.metrics import evaluate

        ds = self.valid_ds
        out = os.path.join(self.dir, "valid_results")
        by_game: dict = {}
        for half, sc in zip(ds.halves, scores):
            by_game.setdefault(half.game, {})[half.half] = sc
        for game, halves in by_game.items():
            write_results(out, game, [halves[h] for h in sorted(halves)], ds.classes, self.fps)
        res = evaluate(ds.root, out, games=list(by_game), version=1, metric=metric, framerate=int(round(self.fps)))
        return float(res["a_mAP"])

    # ---------------------------------------------------------------- loop
    def run(self) -> dict:
        cfg = self.cfg
        if self.finished:
            return {"stage": self.stage, "best": self.best, "finished": True, "interrupted": False}
        spe = self.sampler.steps_per_epoch
        steps_done = 0
        while self.epoch < self.epochs:
            bar = tqdm(total=spe, initial=self.step, desc=f"{self.stage} {self.epoch + 1}/{self.epochs}",
                       disable=not (cfg.progress and self.rank == 0), leave=False, unit="step")
            # epoch_losses holds the steps of this epoch done before a resume too, so that the epoch's
            # mean loss is the uninterrupted run's; chunks/s counts this call's steps only
            t_epoch, steps_epoch, chunks_epoch = time.perf_counter(), 0, 0
            while self.step < spe:
                chunks_epoch += self.chunks_in_step(self.epoch, self.step)
                self.epoch_losses.append(self.train_step(self.epoch, self.step))
                self.step += 1
                self.global_step += 1
                steps_done += 1
                steps_epoch += 1
                bar.update(1)
                if cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0 and self.step < spe:
                    self.save()
                if cfg.max_steps and steps_done >= cfg.max_steps:
                    bar.close()
                    self.save()
                    return {"stage": self.stage, "best": self.best, "finished": False, "interrupted": True}
            bar.close()
            self.epoch, self.step = self.epoch + 1, 0
            losses, self.epoch_losses = self.epoch_losses, []
            # None, not a made-up 0.0, when nothing is known: an older checkpoint taken at the epoch's end
            # (no losses stored), or no step of the epoch in this call (no rate to measure)
            mean_loss = float(all_mean(torch.tensor(float(np.mean(losses))), self.world)) if losses else None
            rate = chunks_epoch / max(time.perf_counter() - t_epoch, 1e-9) if steps_epoch else None
            entry = {"epoch": self.epoch, "loss": mean_loss, "lr": self.optimizer.param_groups[0]["lr"],
                     "chunks_per_s": rate}
            improved = False
            last = self.epoch == self.epochs
            if self.valid_ds is not None and cfg.validate_every and (self.epoch % cfg.validate_every == 0 or last):
                if self.rank == 0:
                    score = self.validate()
                    entry["valid_a_mAP"] = score
                    improved = score > self.best
                    self.best = max(self.best, score)
                barrier(self.world)
            self.history.append(entry)
            if self.rank == 0:
                msg = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items())
                log.info("%s %s", self.stage, msg)
            self.finished = last
            self.save(best=improved or (last and not os.path.isfile(self.best_path)))
            barrier(self.world)
        return {"stage": self.stage, "best": self.best, "finished": True, "interrupted": False}


def check_v1_setting(train_ds, world_size: int) -> None:
    """calf_variant="v1" needs CALF's v1 classes (SoccerNet-v1 data read with soccernet_version=1) and a
    single process: its batches (one per half, 1 chunk or more) are not split across ranks."""
    if tuple(train_ds.classes) != CLASSES_V1_CALF:
        raise ValueError(f"train: calf_variant='v1' needs SoccerNet-v1 data with the classes {CLASSES_V1_CALF} "
                         f"(soccernet_version=1), got {len(train_ds.classes)} classes {tuple(train_ds.classes)[:4]}...")
    if world_size > 1:
        raise ValueError(f"train: calf_variant='v1' does not support distributed training (world_size={world_size}): "
                         "it trains one variable-size batch per half (calf.md 9.4), which cannot be split soundly "
                         "across ranks; run it in a single process")


def stored_confidences(cfg: TrainConfig, ds, device) -> list:
    """Confidences of the best confidence model on ``ds`` (two-step validation, dense_anchors.md 5.7)."""
    from spotkern.train.predict import load_stage

    model, meta = load_stage(os.path.join(cfg.out, "confidence"), device)
    from spotkern.inference.layout import dense_border
    from spotkern.inference.predict import predict_half_dense

    L = meta["model_spec"]["kwargs"]["chunk_size"]
    B = dense_border(ds.fps, L, cfg.valid_border)
    return [predict_half_dense(model, h.features, chunk_len=L, border=B, head="confidence",
                               batch_size=cfg.inference_batch) for h in ds.halves]


class cpu_threads:
    """Context manager: torch CPU threads set to ``n`` (0 = unchanged) and restored on exit. One
    thread avoids OpenMP oversubscription when the cores are shared with other processes."""

    def __init__(self, n: int):
        self.n, self.old = int(n), torch.get_num_threads()

    def __enter__(self):
        if self.n > 0:
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)


def train(cfg: TrainConfig) -> dict:
    """Train every stage of ``cfg.method``; returns {"stages": [per-stage summaries], "out": dir}."""
    with cpu_threads(cfg.num_threads):
        return _train(cfg)


def _train(cfg: TrainConfig) -> dict:
    cfg.validate()
    probe = resolve_device(cfg.device)
    rank, world, local_rank = init_distributed(probe.type)
    device = resolve_device(cfg.device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    write_run_config(cfg, write=rank == 0)  # refuses to resume with changed settings; rank 0 writes
    train_ds, valid_ds = load_datasets(cfg, cfg.validate_every > 0)
    if rank == 0:
        log.info("train: %d halves, %d events, %d-d features at %g fps on %s (world %d)", len(train_ds.halves),
                 train_ds.num_events(), train_ds.feature_dim, train_ds.fps, device, world)
    summaries = []
    for stage in STAGES[cfg.method]:
        st = StageTrainer(cfg, stage, train_ds, valid_ds, device, rank, world)
        summary = st.run()
        summaries.append(summary)
        if summary["interrupted"]:
            break
    return {"stages": summaries, "out": cfg.out}
