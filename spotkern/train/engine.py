"""The training step as one function: gather the chunks, build their targets, mixup, forward, loss,
backward, SAM's second pass and the AdamW update, with no host synchronisation.

``StepEngine`` runs it eagerly (``compile="none"``), with only the network compiled (``"model"``), or
compiles the whole step into a single ``torch.compile(fullgraph=True)`` graph (``"step"``; on CUDA with
``compile_mode="reduce-overhead"`` it is replayed as a CUDA graph). The same Python function serves
every mode, so the compiled step computes what the eager one does (up to the compiler's float
re-association).

What makes the step sync-free and static: the epoch's plan (chunk halves and starts), mixup draws and
learning-rate scalars are computed on the host once per epoch (they are pure functions of (seed, epoch,
step), which also makes resuming exact) and uploaded in one copy each; the step takes views of them.
Gradients come from ``torch.autograd.grad`` and the optimizer update is the functional
``adamw_update_``, both traceable; the loss is written to a device buffer that the trainer reads once per
epoch or log interval. Distributed ranks all-reduce their gradients with functional collectives.
"""
from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
from torch import nn

from spotkern._typing import DeviceLike
from spotkern.methods.base import TrainingData, TrainingStage
from spotkern.train.optim import AdamW, adamw_scalars, adamw_update_, mixup_draw, sam_perturbation

COMPILE_CHOICES = ("none", "model", "step")


def step_compile_supported() -> bool:
    """Whether this torch's Dynamo can trace ``torch.autograd.grad`` into a graph (``trace_autograd_ops``),
    which compiling the whole step needs."""
    return hasattr(torch._dynamo.config, "trace_autograd_ops")


def seed_int(*parts: int) -> int:
    """A 63-bit seed from integers (the mixup generator of (seed, epoch, step, rank))."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)[0] >> 1)


@dataclasses.dataclass
class EpochInputs:
    """One epoch's step inputs on the device. Step k (k >= first) takes chunks [starts[k], starts[k + 1])
    of ``half``/``start``, mixup draws ``lam[k]``/``perm[k]`` and the AdamW scalars ``scalars[k]``."""

    epoch: int
    first: int
    offsets: np.ndarray          # (S + 1,) host offsets of each step's chunks (this rank's share)
    half_host: np.ndarray        # (n,) int64 (host gathers of memory-mapped features read these)
    start_host: np.ndarray       # (n,) int64
    half: torch.Tensor           # (n,) int64 on the device
    start: torch.Tensor          # (n,) int64 on the device
    lam: torch.Tensor | None     # (S, b) float32 or None
    perm: torch.Tensor | None    # (S, b) int64 or None
    scalars: torch.Tensor        # (S, 3) float32: decay multiplier, step size, sqrt(1 - b2^k)
    lr: list                     # (S,) host learning rates (for the optimizer's param group / the log)


class StepEngine:
    """Runs training steps of ``stage`` on ``data`` for ``model`` with ``optimizer`` (``spotkern.train.optim.AdamW``).

    compile: "none" | "model" | "step" (module docstring). compile_mode: ``torch.compile`` mode.
    amp: bf16 autocast of the forward passes. world_size: ranks (gradients all-reduced, mean).
    """

    def __init__(self, stage: TrainingStage, data: TrainingData, model: nn.Module, optimizer: AdamW,
                 device: DeviceLike, *, amp: bool = False, compile: str = "none", compile_mode: str = "default",
                 world_size: int = 1, rank: int = 0) -> None:
        if compile not in COMPILE_CHOICES:
            raise ValueError(f"StepEngine: compile must be one of {COMPILE_CHOICES}, got {compile!r}")
        if compile == "step" and not step_compile_supported():
            raise ValueError(f"StepEngine: compile='step' needs a torch whose Dynamo traces torch.autograd.grad "
                             f"(torch._dynamo.config.trace_autograd_ops); torch {torch.__version__} has none: use "
                             f"compile='model'")
        self.stage, self.data, self.model, self.optimizer = stage, data, model, optimizer
        self.device, self.amp, self.world, self.rank = torch.device(device), bool(amp), int(world_size), int(rank)
        if len(optimizer.param_groups) != 1:
            raise ValueError("StepEngine: the optimizer must have one parameter group")
        group = optimizer.param_groups[0]
        self.params = list(group["params"])
        self.exp_avgs, self.exp_avg_sqs = optimizer.moments()
        self.betas, self.eps, self.weight_decay = group["betas"], group["eps"], group["weight_decay"]
        self.rho, self.mixup_alpha = float(stage.sam_rho), float(stage.mixup_alpha)
        self.loss_scale = float(self.world) if stage.loss_scale_for_ranks else 1.0
        self.compile = compile
        self.net = torch.compile(model, mode=compile_mode) if compile == "model" else model
        if compile == "step":
            # parameters, optimizer moments and buffers are updated in place by the step: static addresses
            # let CUDA graphs (mode="reduce-overhead") replay on them instead of copying them in and out
            for t in [*self.params, *self.exp_avgs, *self.exp_avg_sqs, *model.buffers()]:
                torch._dynamo.mark_static_address(t)
        self._step_fn = (torch.compile(self._step, fullgraph=True, mode=compile_mode) if compile == "step"
                         else self._step)
        self.step_sizes = np.asarray(data.step_sizes(), dtype=np.int64)
        if self.world > 1:
            self._broadcast_parameters()

    # ------------------------------------------------------------------ per epoch (host)
    def epoch_inputs(self, epoch: int, first: int, global_step: int, total_steps: int) -> EpochInputs:
        """The device inputs of steps first.. of ``epoch`` (``global_step`` is that of step ``first``)."""
        h, s = self.data.sampler.epoch_plan(epoch)
        sizes = self.step_sizes
        if self.world > 1:  # every global batch split into contiguous per-rank shares
            B = int(sizes[0])
            if B % self.world:
                raise ValueError(f"batch_size {B} is not divisible by world_size {self.world}")
            per = B // self.world
            take = (np.arange(len(sizes))[:, None] * B + self.rank * per + np.arange(per)[None, :]).reshape(-1)
            h, s, sizes = h[take], s[take], np.full(len(sizes), per, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        S = len(sizes)
        lam = perm = None
        if self.mixup_alpha > 0:
            b = int(sizes.max())
            lam_h, perm_h = np.ones((S, b), np.float32), np.tile(np.arange(b), (S, 1))
            for k in range(first, S):
                g = torch.Generator().manual_seed(seed_int(self.stage.cfg.seed, epoch, k, self.rank))
                lk, pk = mixup_draw(g, self.mixup_alpha, int(sizes[k]))
                lam_h[k, :len(lk)], perm_h[k, :len(pk)] = lk.numpy(), pk.numpy()
            lam = torch.as_tensor(lam_h).to(self.device)
            perm = torch.as_tensor(perm_h).to(self.device)
        lrs, scalars = [0.0] * S, np.zeros((S, 3), np.float64)
        taken = self.optimizer.steps_taken
        for k in range(first, S):
            f = self.stage.lr_factor(epoch, global_step + k - first, total_steps)
            lrs[k] = self.stage.lr * f
            scalars[k] = adamw_scalars(lrs[k], self.weight_decay, self.betas, taken + k - first + 1)
        h, s = np.ascontiguousarray(h, dtype=np.int64), np.ascontiguousarray(s, dtype=np.int64)
        return EpochInputs(epoch, first, offsets, h, s, torch.as_tensor(h, dtype=torch.int64).to(self.device),
                           torch.as_tensor(s, dtype=torch.int64).to(self.device), lam, perm,
                           torch.as_tensor(scalars, dtype=torch.float32).to(self.device), lrs)

    # ------------------------------------------------------------------ one step
    def run_step(self, inputs: EpochInputs, k: int) -> torch.Tensor:
        """Step ``k`` of the epoch: returns the 0-d loss on the device (not read)."""
        lo, hi = int(inputs.offsets[k]), int(inputs.offsets[k + 1])
        h, s = inputs.half[lo:hi], inputs.start[lo:hi]
        # memory-mapped features are gathered on the host from the host copy of the plan (no device read)
        x = None if self.data.resident else self.data.features(inputs.half_host[lo:hi], inputs.start_host[lo:hi])
        lam = perm = None
        if inputs.lam is not None and inputs.perm is not None:
            lam, perm = inputs.lam[k, :hi - lo], inputs.perm[k, :hi - lo]
        self.model.train()
        with self._compile_context():
            loss = self._step_fn(h, s, x, lam, perm, inputs.scalars[k])
        self.optimizer.record_step(inputs.lr[k])
        return loss

    def _compile_context(self):
        if self.compile != "step":
            return contextlib.nullcontext()
        # Dynamo traces torch.autograd.grad into the graph only with this switch (torch >= 2.10)
        return torch._dynamo.config.patch(trace_autograd_ops=True)

    def _forward_loss(self, x, targets):
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            outputs = self.net(x)
        return self.stage.loss(outputs, targets) * self.loss_scale

    def _gradients(self, loss):
        grads = list(torch.autograd.grad(loss, self.params))
        if self.world > 1:
            grads = _all_reduce_mean(grads, self.world)
        return grads

    def _step(self, h, s, x, lam, perm, scalars):
        if x is None:
            x = self.data.features(h, s)
        targets = self.data.targets(h, s)
        if lam is not None:
            x, targets = self.stage.mix(x, targets, lam, perm)
        loss = self._forward_loss(x, targets)
        grads = self._gradients(loss)
        if self.rho > 0:  # SAM (dense_anchors.md 5.4): the gradient at w + e on the same batch
            e = sam_perturbation(grads, self.rho)
            with torch.no_grad():
                torch._foreach_add_(self.params, e)
            grads = self._gradients(self._forward_loss(x, targets))
            with torch.no_grad():
                torch._foreach_sub_(self.params, e)
        adamw_update_(self.params, grads, self.exp_avgs, self.exp_avg_sqs, (scalars[0], scalars[1], scalars[2]),
                      self.betas, self.eps)
        return loss.detach() / self.loss_scale

    def _broadcast_parameters(self) -> None:
        if dist.is_initialized():
            with torch.no_grad():
                for t in list(self.model.parameters()) + list(self.model.buffers()):
                    dist.broadcast(t, 0)


def _all_reduce_mean(grads: list, world_size: int) -> list:
    """Mean of every rank's gradients, in one collective over the flattened list (traceable)."""
    flat = torch.cat([g.reshape(-1) for g in grads])
    group = dist.group.WORLD
    if group is None:
        raise RuntimeError("train: gradients of several ranks need an initialised process group")
    flat = funcol.all_reduce(flat, "sum", group) / world_size
    out, o = [], 0
    for g in grads:
        out.append(flat[o:o + g.numel()].view_as(g))
        o += g.numel()
    return out
