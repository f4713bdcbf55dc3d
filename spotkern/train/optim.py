"""AdamW with linear decay of lr and weight decay (dense_anchors.md 5.1-5.2), SAM (5.4), mixup (5.5)."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from spotkern.methods.schedule import linear_decay, mixup_apply  # noqa: F401  (part of the optimiser API)

#: what an optimizer takes: tensors, or parameter groups (dicts with "params")
Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


class AdamW(torch.optim.Optimizer):
    """AdamW whose update is the functional ``adamw_update_`` below, so that the eager step, the
    compiled whole step (``spotkern.train.engine``) and checkpoints share one rule and one state layout
    (per parameter ``step``, ``exp_avg``, ``exp_avg_sq``, as torch's AdamW: its state dicts load here).

    Update of a parameter w with gradient g at step k (lr(t) and the decay follow the schedule):
    w <- w * (1 - lr * wd); m <- m + (1 - b1) (g - m); v <- b2 v + (1 - b2) g^2;
    w <- w - (lr / (1 - b1^k)) * m / (sqrt(v) / sqrt(1 - b2^k) + eps).
    The bias corrections are computed on the host in float64 (``adamw_scalars``), as torch's eager AdamW
    does, and the step count is a host integer (``steps_taken``), so an update reads no device data."""

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})
        self.steps_taken = 0

    def moments(self, group: dict | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(exp_avgs, exp_avg_sqs) of the parameters of ``group`` (default: the only group), created as
        zeros on first use."""
        group = self.param_groups[0] if group is None else group
        m, v = [], []
        for p in group["params"]:
            st = self.state[p]
            if "exp_avg" not in st:
                st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            m.append(st["exp_avg"])
            v.append(st["exp_avg_sq"])
        return m, v

    def record_step(self, lr: float | None = None) -> None:
        """Count one update made outside ``step`` (the training engine's) and record its learning rate."""
        self.steps_taken += 1
        if lr is not None:
            for g in self.param_groups:
                g["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        for st in self.state.values():
            st["step"] = torch.tensor(float(self.steps_taken))
        return super().state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.steps_taken = max((int(st["step"]) for st in self.state.values() if "step" in st), default=0)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            live = [p for p in group["params"] if p.grad is not None]
            if not live:
                continue
            m, v = self.moments({"params": live})
            scalars = adamw_scalars(group["lr"], group["weight_decay"], group["betas"], self.steps_taken + 1)
            adamw_update_(live, [p.grad for p in live], m, v, scalars, group["betas"], group["eps"])
        self.steps_taken += 1
        return loss


def adamw_scalars(lr: float, weight_decay: float, betas: tuple[float, float], step: int) -> tuple[float, float, float]:
    """(decay multiplier 1 - lr * wd, step size lr / (1 - b1^k), sqrt(1 - b2^k)) in float64 on the host."""
    b1, b2 = betas
    return 1.0 - lr * weight_decay, lr / (1.0 - b1 ** step), math.sqrt(1.0 - b2 ** step)


def adamw_update_(params: list[torch.Tensor], grads: list[torch.Tensor], exp_avgs: list[torch.Tensor],
                  exp_avg_sqs: list[torch.Tensor], scalars: Sequence[float | torch.Tensor], betas: tuple[float, float],
                  eps: float) -> None:
    """In-place AdamW update of lists of tensors (see ``AdamW``). ``scalars`` = (decay multiplier, step
    size, sqrt of the second bias correction) as Python floats or 0-d tensors on the parameters' device
    (tensors inside the compiled step, so a new learning rate is not a new graph). Reads no data."""
    decay, step_size, bc2_sqrt = scalars
    b1, b2 = betas
    with torch.no_grad():
        torch._foreach_mul_(params, decay)
        torch._foreach_lerp_(exp_avgs, grads, 1 - b1)
        torch._foreach_mul_(exp_avg_sqs, b2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - b2)
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denom, bc2_sqrt)
        torch._foreach_add_(denom, eps)
        update = torch._foreach_div(exp_avgs, denom)
        torch._foreach_mul_(update, step_size)
        torch._foreach_sub_(params, update)


def build_optimizer(params: Params, lr: float, weight_decay: float) -> AdamW:
    """AdamW(beta 0.9/0.999, eps 1e-7) whose decoupled decay equals TF-Addons' w <- w - dwd(t) * w.

    PyTorch-style AdamW multiplies the decay by lr(t); lr and wd follow the same schedule, so
    weight_decay = dwd / lr0 gives exactly dwd(t) (dense_anchors.md 5.1)."""
    return AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-7, weight_decay=weight_decay / lr)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr


def sam_perturbation(grads: Sequence[torch.Tensor], rho: float) -> list:
    """SAM ascent e = rho * g / (||g|| + 1e-12), the norm over every gradient of ``grads`` together
    (dense_anchors.md 5.4). Traceable (no data read); ``rho`` a float."""
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
    scale = rho / (norm + 1e-12)
    return [g * scale.to(g.dtype) for g in grads]


def sam_perturb(params: Sequence[torch.Tensor], rho: float) -> list[torch.Tensor | None]:
    """Plain SAM ascent step (dense_anchors.md 5.4): w <- w + rho * g / (||g|| + 1e-12), the norm over
    all trainable parameters. Returns the perturbations to undo with ``sam_restore``."""
    live = [p for p in params if p.grad is not None]
    if not live:
        return []
    by_param = dict(zip(map(id, live), sam_perturbation([g for p in live if (g := p.grad) is not None], rho)))
    eps = []
    with torch.no_grad():
        for p in params:
            e = by_param.get(id(p))
            if e is not None:
                p.add_(e)
            eps.append(e)
    return eps


def sam_restore(params: Sequence[torch.Tensor], eps: Sequence[torch.Tensor | None]) -> None:
    with torch.no_grad():
        for p, e in zip(params, eps):
            if e is not None:
                p.sub_(e)


def mixup_draw(generator: torch.Generator, alpha: float, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(lambda (B,) float32, partner (B,) int64) of one mixup batch, drawn on the CPU ``generator``
    (dense_anchors.md 5.5): one lambda ~ Beta(alpha, alpha) per example, partner j = perm(i) (possibly i).

    Beta(alpha, alpha) = Ga / (Ga + Gb) = sigmoid(log Ga - log Gb), in log space: for small alpha both
    Gamma draws underflow to 0 and Ga / (Ga + Gb) would be NaN."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"mixup: alpha must be a finite number > 0, got {alpha!r}")
    a = _log_gamma(generator, alpha, batch_size)
    b = _log_gamma(generator, alpha, batch_size)
    return torch.sigmoid(a - b).to(torch.float32), torch.randperm(batch_size, generator=generator)


def mixup(generator: torch.Generator, alpha: float, x: torch.Tensor, *tensors: torch.Tensor) -> tuple:
    """Mixup with one lambda ~ Beta(alpha, alpha) per example and partner j = perm(i) (possibly i)
    (dense_anchors.md 5.5). Mixes ``x`` and every tensor of ``tensors`` (targets and weights) with the
    same lambda. Draws on the CPU ``generator`` so runs are reproducible on any device.

    alpha: finite, > 0. x and tensors: (B, ...) with the same B."""
    lam, perm = mixup_draw(generator, alpha, x.shape[0])
    return mixup_apply(lam.to(x.device), perm.to(x.device), x, *tensors)


def _gamma(generator: torch.Generator, alpha: float, n: int) -> torch.Tensor:
    """Gamma(alpha, 1) samples from ``generator`` (Marsaglia-Tsang; alpha < 1 boosted)."""
    return torch.exp(_log_gamma(generator, alpha, n))


def _log_gamma(generator: torch.Generator, alpha: float, n: int) -> torch.Tensor:
    """log of Gamma(alpha, 1) samples from ``generator`` (Marsaglia-Tsang; alpha < 1 boosted by
    U**(1/alpha), added as log(U) / alpha so that it never underflows)."""
    boost = alpha < 1
    a = alpha + 1 if boost else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    out = torch.empty(n, dtype=torch.float64)
    filled = 0
    while filled < n:
        m = 2 * (n - filled) + 8
        z = torch.randn(m, generator=generator, dtype=torch.float64)
        u = torch.rand(m, generator=generator, dtype=torch.float64)
        v = (1 + c * z) ** 3
        ok = (v > 0) & (torch.log(u.clamp_min(1e-300)) < 0.5 * z * z + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        acc = torch.log(d * v[ok][: n - filled])
        out[filled:filled + len(acc)] = acc
        filled += len(acc)
    if boost:
        out = out + torch.log(torch.rand(n, generator=generator, dtype=torch.float64).clamp_min(1e-300)) / alpha
    return out
