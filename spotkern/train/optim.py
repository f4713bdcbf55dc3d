"""AdamW with linear decay of lr and weight decay (dense_anchors.md 5.1-5.2), SAM (5.4), mixup (5.5)."""
from __future__ import annotations

import math

import torch


def build_optimizer(params, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW(beta 0.9/0.999, eps 1e-7) whose decoupled decay equals TF-Addons' w <- w - dwd(t) * w.

    PyTorch multiplies the decay by lr(t); lr and wd follow the same schedule, so weight_decay =
    dwd / lr0 gives exactly dwd(t) (dense_anchors.md 5.1)."""
    return torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-7, weight_decay=weight_decay / lr, foreach=True)


def linear_decay(step: int, total_steps: int, end_fraction: float = 0.01) -> float:
    """Multiplier v(k)/v of dense_anchors.md 5.2: 1 -> end_fraction linearly over total_steps, with
    the horizon extended to K * ceil(k / K) past the end (``cycle=True``)."""
    K = max(int(total_steps), 1)
    horizon = K * math.ceil(step / K) if step > K else K
    return (1.0 - end_fraction) * (1.0 - step / horizon) + end_fraction


def set_lr(optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr


def sam_perturb(params, rho: float):
    """Plain SAM ascent step (dense_anchors.md 5.4): w <- w + rho * g / (||g|| + 1e-12), the norm over
    all trainable parameters. Returns the perturbations to undo with ``sam_restore``."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return []
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
    scale = rho / (norm + 1e-12)
    eps = []
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                eps.append(None)
                continue
            e = p.grad * scale.to(p.grad.dtype)
            p.add_(e)
            eps.append(e)
    return eps


def sam_restore(params, eps) -> None:
    with torch.no_grad():
        for p, e in zip(params, eps):
            if e is not None:
                p.sub_(e)


def mixup(generator: torch.Generator, alpha: float, x: torch.Tensor, *tensors: torch.Tensor):
    """Mixup with one lambda ~ Beta(alpha, alpha) per example and partner j = perm(i) (possibly i)
    (dense_anchors.md 5.5). Mixes ``x`` and every tensor of ``tensors`` (targets and weights) with the
    same lambda. Draws on the CPU ``generator`` so runs are reproducible on any device.

    alpha: finite, > 0. x and tensors: (B, ...) with the same B."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"mixup: alpha must be a finite number > 0, got {alpha!r}")
    B = x.shape[0]
    # Beta(alpha, alpha) = Ga / (Ga + Gb) = sigmoid(log Ga - log Gb), drawn on the explicit generator.
    # In log space: for small alpha both Gamma draws underflow to 0 and Ga / (Ga + Gb) would be NaN.
    a = _log_gamma(generator, alpha, B)
    b = _log_gamma(generator, alpha, B)
    lam = torch.sigmoid(a - b).to(torch.float32)
    perm = torch.randperm(B, generator=generator)
    lam = lam.to(x.device)
    perm = perm.to(x.device)

    def mix(t):
        shape = (B,) + (1,) * (t.dim() - 1)
        lt = lam.view(shape).to(t.dtype)
        return lt * t + (1 - lt) * t[perm]

    return (mix(x),) + tuple(mix(t) for t in tensors)


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
