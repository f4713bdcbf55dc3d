"""Training loop of every method: its stages in order, one ``StageTrainer`` per stage.

A ``StageTrainer`` owns one network's loop: epochs of steps run by the ``StepEngine`` (eager, or the
whole step compiled into one graph), validation with spotkern's average-mAP, the metrics log and atomic
checkpoints. Everything method-specific (model, sampler, targets, loss, detection, metric) comes from
the stage object (``spotkern.methods``), so there is no method branch here.

The epoch plan is a pure function of (seed, epoch), mixup draws come from a generator seeded by (seed,
epoch, step, rank), and the checkpoint stores model, optimizer, (epoch, step), best score, the epoch's
losses so far and RNG state, so a run resumed from any checkpoint continues bit-identically to an
uninterrupted one. Losses stay on the device and are read once per epoch, per log interval and at
checkpoints: the steps themselves never wait for the device.
"""
from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
import time
import warnings
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from spotkern.data.dataset import SpottingDataset, read_dataset
from spotkern.data.labels import DataFormatError
from spotkern.inference.results_files import write_results
from spotkern.methods.base import TrainingStage, describe_metric
from spotkern.methods.config import TrainConfig
from spotkern.methods.models import build_model
from spotkern.methods.registry import method_entry
from spotkern.metrics import evaluate
from spotkern.metrics.soccernet import average_map_from_arrays
from spotkern.train.checkpoint import StageCheckpoints, load_stage
from spotkern.train.distributed import all_mean, barrier, init_distributed
from spotkern.train.engine import StepEngine
from spotkern.train.log import MetricsLog
from spotkern.train.optim import build_optimizer
from spotkern.train.run_config import RunConfigMismatch, changed_fields, write_run_config
from spotkern.train.runtime import cpu_threads, resolve_device

__all__ = ["StageTrainer", "cpu_threads", "load_datasets", "make_stages", "resolve_device", "train"]

log = logging.getLogger("spotkern")


def load_datasets(cfg: TrainConfig, need_valid: bool) -> tuple[SpottingDataset, SpottingDataset | None]:
    # the generic layout ignores the SoccerNet-only kwargs
    kw: dict[str, Any] = {"label_placement": cfg.label_placement}
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


def make_stages(cfg: TrainConfig, ds: SpottingDataset) -> list[TrainingStage]:
    """The stage objects of ``cfg.method`` for a dataset's feature size, classes and fps."""
    return [cls(cfg, feature_dim=ds.feature_dim, num_classes=ds.num_classes, fps=ds.fps, classes=ds.classes)
            for cls in method_entry(cfg.method).stages_for(cfg)]


class _DeferredInterrupt:
    """Ctrl-C during a step is deferred to the step's end, so the checkpoint written on interrupt holds a
    consistent state (an update interrupted half-way would leave some parameters stepped and others not).
    Only in the main thread, and only when SIGINT has Python's default handler."""

    def __init__(self):
        self.pending, self.old = False, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.old = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        self.pending = True

    def check(self) -> None:
        if self.pending:
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)


class StageTrainer:
    """Trains the network of one stage (a ``TrainingStage`` of the config's method)."""

    _read: int  # steps of the epoch whose losses were read from the device

    def __init__(self, cfg: TrainConfig, stage: TrainingStage, train_ds: SpottingDataset,
                 valid_ds: SpottingDataset | None, device: torch.device, rank: int = 0, world_size: int = 1) -> None:
        self.cfg, self.stage, self.train_ds, self.valid_ds = cfg, stage, train_ds, valid_ds
        self.device, self.rank, self.world = device, rank, world_size
        self.dir = os.path.join(cfg.out, stage.name)
        self.fps, self.C = train_ds.fps, train_ds.num_classes
        torch.manual_seed(cfg.seed)
        self.spec = stage.model_spec()
        self.model = build_model(self.spec).to(device)
        self.data = stage.training_data(train_ds, device, world_size)
        self.sampler = self.data.sampler
        self.optimizer = build_optimizer(self.model.parameters(), stage.lr, stage.weight_decay)
        self.epochs = stage.epochs
        self.total_steps = (cfg.decay_epochs or self.epochs) * self.sampler.steps_per_epoch
        self.epoch, self.step, self.global_step, self.best = 0, 0, 0, -math.inf
        self.finished = False
        self.history: list[dict] = []
        self.epoch_losses: list[float] = []  # losses of the current epoch's steps so far, kept across a resume
        self.valid_cache: list[dict] | None = None
        self.checkpoints = StageCheckpoints(self.dir)
        state = self.checkpoints.load_last(map_location=device) if cfg.resume else None
        resumed = state is not None
        if state is not None:
            self._restore(state)
        if cfg.amp and device.type == "cpu" and not _cpu_has_bf16():
            warnings.warn("train: amp=True on a CPU without native bf16 (AVX512-BF16/AMX) emulates bf16 and runs "
                          "several times slower than float32; set amp=False", RuntimeWarning, stacklevel=2)
        self.engine = StepEngine(stage, self.data, self.model, self.optimizer, device, amp=cfg.amp,
                                 compile=cfg.compile, compile_mode=cfg.compile_mode, world_size=world_size, rank=rank)
        self.metrics = MetricsLog(self.dir, stage.name, resume=resumed) if rank == 0 else None

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
            "finished": self.finished, "history": json.dumps(self.history), "stage": self.stage.name,
            "epoch_losses": json.dumps(self.epoch_losses),
            "model_spec": json.dumps(self.spec), "config": json.dumps(self.cfg.to_dict()),
            "classes": list(self.train_ds.classes), "fps": float(self.fps),
            "torch_rng": torch.get_rng_state(),
        }

    def _restore(self, st: dict) -> None:
        # the checkpoint's own settings, not only config.json: a --no-resume run killed before its first save
        # leaves the old checkpoints beside a new config.json
        diff = changed_fields(json.loads(st["config"]), self.cfg) if "config" in st else {}
        if diff:
            items = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in diff.items())
            raise RunConfigMismatch(f"train: {self.last_path} was trained with other settings ({items}); train into "
                                    f"another --out or pass --no-resume to retrain from scratch")
        self.model.load_state_dict(st["model"])
        self.optimizer.load_state_dict(st["optimizer"])
        self.epoch, self.step, self.global_step = int(st["epoch"]), int(st["step"]), int(st["global_step"])
        self.best, self.finished = float(st["best"]), bool(st["finished"])
        self.history = json.loads(st["history"])
        self.epoch_losses = json.loads(st.get("epoch_losses", "[]"))  # a checkpoint without them: none
        torch.set_rng_state(st["torch_rng"].cpu())
        if self.rank == 0:
            log.info("%s: resumed at epoch %d step %d", self.stage.name, self.epoch, self.step)

    def save(self, best: bool = False) -> None:
        if self.rank != 0:
            return
        self.checkpoints.save(self._state(), best)

    def batch(self, epoch: int, step: int) -> tuple[torch.Tensor, Any]:
        """(features (b, L, F), targets) of this rank's share of global batch ``step`` of ``epoch``, as the
        step builds them (for inspection; training goes through ``StepEngine``)."""
        h, s = self.sampler.batch(epoch, step, rank=self.rank, world_size=self.world)
        h = torch.as_tensor(h, dtype=torch.int64).to(self.device)
        s = torch.as_tensor(s, dtype=torch.int64).to(self.device)
        return self.data.features(h, s), self.data.targets(h, s)

    # ---------------------------------------------------------------- validation
    def validate(self) -> float:
        """Average-mAP of the validation split with the stage's metric: loose for confidence/joint/CALF
        models, "medium" (1..10 s) for displacement models (dense_anchors.md 5.7).

        SoccerNet-v2 and generic data are scored from arrays (spotkern's average-mAP on the dataset's
        events). SoccerNet-v1 data (``soccernet_version=1``, e.g. calf_variant="v1") is scored like the
        paper: the halves' results files are written with the results writer (CALF v1 ids -> the
        evaluator's soccer/card/subs) under ``<out>/<stage>/valid_results`` and scored by
        ``spotkern.metrics.evaluate(version=1)``. Only ``a_mAP`` is used: v1's visible/unshown are None."""
        ds = self._valid_dataset()
        if self.valid_cache is None:
            self.valid_cache = self._used_stage_outputs(ds)
        models = {self.stage.name: self.model}
        files = self.cfg.soccernet_version == 1 and ds.layout == "soccernet"
        scores = []  # post-NMS (T, C) arrays, kept only when scored through files
        gh, gf, gc, ph, pf, pc, ps = [], [], [], [], [], [], []
        for i, half in enumerate(ds.halves):
            sc = self.stage.detect(models, half.features, border_s=self.cfg.valid_border, cache=self.valid_cache[i])
            if files:
                scores.append(sc)
                continue
            t, c = np.nonzero(sc >= 0)
            gh.append(np.full(len(half.frames), i)); gf.append(half.frames); gc.append(half.classes)  # noqa: E702
            ph.append(np.full(len(t), i)); pf.append(t); pc.append(c); ps.append(sc[t, c].astype(np.float64))  # noqa: E702
        metric = self.stage.validation_metric
        if files:
            return self._score_files_v1(scores, metric)
        cat = lambda a: np.concatenate(a).astype(np.int64)  # noqa: E731
        res = average_map_from_arrays(cat(gh), cat(gf), cat(gc), cat(ph), cat(pf), cat(pc), np.concatenate(ps),
                                      num_halves=len(ds.halves), num_classes=self.C, metric=metric,
                                      framerate=int(round(self.fps)))
        return float(res["a_mAP"])

    def _valid_dataset(self) -> SpottingDataset:
        if self.valid_ds is None:
            raise ValueError(f"train: stage {self.stage.name} has no validation split to validate on")
        return self.valid_ds

    def _used_stage_outputs(self, ds) -> list:
        """Per half, the raw outputs of the best models of the stages this stage's detection uses (the
        stored confidences of the two-step validation, dense_anchors.md 5.7); computed once."""
        cache: list[dict] = [{} for _ in ds.halves]
        stages = {s.name: s for s in make_stages(self.cfg, ds)}
        for name in self.stage.uses_stages:
            model, _ = load_stage(os.path.join(self.cfg.out, name), self.device)
            for i, half in enumerate(ds.halves):
                cache[i].update(stages[name].raw_outputs({name: model}, half.features, border_s=self.cfg.valid_border))
        return cache

    def _score_files_v1(self, scores, metric) -> float:
        """Write the validation results files and score them with evaluate(version=1) (see validate)."""
        ds = self._valid_dataset()
        out = os.path.join(self.dir, "valid_results")
        by_game: dict = {}
        for half, sc in zip(ds.halves, scores):
            by_game.setdefault(half.game, {})[half.half] = sc
        for game, halves in by_game.items():
            write_results(out, game, [halves[h] for h in sorted(halves)], ds.classes, self.fps)
        res = evaluate(ds.root, out, games=list(by_game), version=1, metric=metric, framerate=int(round(self.fps)))
        return float(res["a_mAP"])

    # ---------------------------------------------------------------- loop
    def _summary(self, interrupted: bool) -> dict:
        return {"stage": self.stage.name, "best": self.best, "finished": self.finished, "interrupted": interrupted}

    def _drain(self, losses: torch.Tensor, upto: int) -> list:
        """Read the device losses of the steps since the last read (one synchronisation)."""
        new = losses[self._read:upto].tolist() if upto > self._read else []
        self._read = upto
        self.epoch_losses.extend(new)
        return new

    def run(self) -> dict:
        if self.finished:
            return self._summary(False)
        with _DeferredInterrupt() as interrupt:
            try:
                return self._run(interrupt)
            except KeyboardInterrupt:
                self.save()  # the steps done so far, consistent (the interrupt waited for the step's end)
                raise
            finally:
                if self.metrics is not None:
                    self.metrics.close()

    def _run(self, interrupt) -> dict:
        cfg = self.cfg
        spe = self.sampler.steps_per_epoch
        steps_done = 0
        while self.epoch < self.epochs:
            bar = tqdm(total=spe, initial=self.step, desc=f"{self.stage.name} {self.epoch + 1}/{self.epochs}",
                       disable=not (cfg.progress and self.rank == 0), leave=False, unit="step")
            inputs = self.engine.epoch_inputs(self.epoch, self.step, self.global_step, self.total_steps)
            losses = torch.zeros(spe, dtype=torch.float32, device=self.device)
            self._read = self.step
            # epoch_losses holds the steps of this epoch done before a resume too, so that the epoch's
            # mean loss is the uninterrupted run's; chunks/s counts this call's steps only
            t_epoch, steps_epoch, chunks_epoch = time.perf_counter(), 0, 0
            t_log, chunks_log = t_epoch, 0
            while self.step < spe:
                n = self._chunks_in_step(self.step)
                losses[self.step] = self.engine.run_step(inputs, self.step)
                self.step += 1
                self.global_step += 1
                steps_done += 1
                steps_epoch += 1
                chunks_epoch += n
                chunks_log += n
                bar.update(1)
                if cfg.log_every and self.global_step % cfg.log_every == 0 and self.step < spe:
                    new = self._drain(losses, self.step)
                    now = time.perf_counter()
                    self._log_row(loss=float(np.mean(new)) if new else None, rate=chunks_log / max(now - t_log, 1e-9))
                    t_log, chunks_log = now, 0
                stop = bool(cfg.max_steps and steps_done >= cfg.max_steps)
                if (cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0 and self.step < spe) or stop:
                    self._drain(losses, self.step)
                    self.save()
                if stop:
                    bar.close()
                    return self._summary(True)
                interrupt.check()
            bar.close()
            self._drain(losses, spe)
            self._end_epoch(chunks_epoch / max(time.perf_counter() - t_epoch, 1e-9) if steps_epoch else None)
        return self._summary(False)

    def _chunks_in_step(self, step: int) -> int:
        """Global chunks of a step (all ranks)."""
        return int(self.engine.step_sizes[step])

    def _log_row(self, *, loss, rate, valid=None) -> None:
        if self.metrics is not None:
            self.metrics.write(epoch=self.epoch, step=self.step, global_step=self.global_step, loss=loss,
                               lr=self.optimizer.param_groups[0]["lr"], chunks_per_s=rate,
                               valid_metric=self.stage.validation_metric_name if valid is not None else None,
                               valid_score=valid)

    def _end_epoch(self, rate) -> None:
        cfg = self.cfg
        self.epoch, self.step = self.epoch + 1, 0
        epoch_losses, self.epoch_losses = self.epoch_losses, []
        # None, not a made-up 0.0, when nothing is known: a checkpoint taken at the epoch's end without
        # its losses, or no step of the epoch in this call (no rate to measure)
        mean_loss = float(all_mean(torch.tensor(float(np.mean(epoch_losses))), self.world)) if epoch_losses else None
        entry = {"epoch": self.epoch, "loss": mean_loss, "lr": self.optimizer.param_groups[0]["lr"],
                 "chunks_per_s": rate}
        improved = False
        last = self.epoch == self.epochs
        score = None
        if self.valid_ds is not None and cfg.validate_every and (self.epoch % cfg.validate_every == 0 or last):
            if self.rank == 0:
                score = self.validate()
                entry["valid_metric"] = self.stage.validation_metric_name
                entry["valid_a_mAP"] = score
                improved = score > self.best
                self.best = max(self.best, score)
            barrier(self.world)
        self.history.append(entry)
        if self.rank == 0:
            msg = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items()
                           if k not in ("valid_metric", "valid_a_mAP"))
            if score is not None:
                msg += f" validation average-mAP ({describe_metric(entry['valid_metric'])}) {100 * score:.2f} %"
            log.info("%s %s", self.stage.name, msg)
            self._log_row(loss=mean_loss, rate=rate, valid=score)
        self.finished = last
        self.save(best=improved or (last and not os.path.isfile(self.best_path)))
        barrier(self.world)


def _cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), so that bf16 autocast pays."""
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool((probe is not None and probe()) or (amx is not None and amx()))


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
    train_ds, valid_ds = load_datasets(cfg, bool(cfg.validate_every))
    if rank == 0:
        log.info("train: %d halves, %d events, %d-d features at %g fps on %s (world %d, compile %s)",
                 len(train_ds.halves), train_ds.num_events(), train_ds.feature_dim, train_ds.fps, device, world,
                 cfg.compile)
    stages = make_stages(cfg, train_ds)
    if cfg.mixup_alpha > 0 and not any(s.mixup_alpha > 0 for s in stages):
        log.warning("mixup applies to the confidence model only; disabled for method %s", cfg.method)
    summaries = []
    for stage in stages:
        st = StageTrainer(cfg, stage, train_ds, valid_ds, device, rank, world)
        summary = st.run()
        summaries.append(summary)
        if summary["interrupted"]:
            break
    return {"stages": summaries, "out": cfg.out}
