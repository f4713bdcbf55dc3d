"""One training step (forward, loss, backward, Adam) per model, eager vs ``torch.compile``, one core.

Groups (read the ratios inside a group; chunks/s is in each row's ``extra_info``):

* ``calf step B=32``: CALFNet at the paper's batch (32 chunks of 240 x 512), total loss
  0.000367 * L_seg + L_spot (calf.md 5.2). Rows: the public implementation's style (eager network,
  all-zones-times-indicator segmentation loss, masked one-hot/argmax matching;
  ``spotkern.reference``), the same loss with the compiled network, spotkern's losses and
  matching eager, and the compiled step with spotkern's losses (forward + losses in one
  ``torch.compile(fullgraph=True)`` graph). The first row, the network with a free loss (the sum of its
  outputs), is the floor every loss adds to: a step can be at most (public-style row) / (this row)
  times faster than the public style, whatever the loss costs.
* ``calf losses B=32``: the losses alone (forward + backward) on fixed network outputs.
* ``dense step <trunk> B=<batch>``: DenseSpotter with the confidence head and the weighted BCE
  (dense_anchors.md 3.1), eager vs compiled. u-net and default Transformer at the paper's batch 256;
  Small at 64 and Base at 16 instead of 256 / 64 (a single step at the paper's batch takes tens of
  seconds on one core).

The CALF groups also run on CUDA when a GPU is present (groups suffixed ``cuda``; each round ends with a
device synchronisation), where the network takes milliseconds and the public style's ~450 small kernel
launches per step weigh; without a GPU those rows are skipped.

Under ``--benchmark-disable`` (the CI smoke run) every row runs once at batch 2 and the compiled rows
are skipped (``tests/test_models_*`` check compiled == eager).
"""
from __future__ import annotations

import pytest
import torch

from spotkern.data.soccernet_classes import K_V2_FRAMES
from spotkern.losses import LAMBDA_SEG_SUM, calf_segmentation_loss, calf_spotting_loss, dense_confidence_loss
from spotkern.models import CALFNet, DenseSpotter
from spotkern.reference import calf_segmentation_loss_ref, calf_spotting_loss_ref

ROUNDS = dict(rounds=5, iterations=1, warmup_rounds=1)


def _batch(benchmark, paper_batch):
    return 2 if benchmark.disabled else paper_batch


def _run(benchmark, step, batch):
    benchmark.pedantic(step, **ROUNDS)
    if not benchmark.disabled:
        benchmark.extra_info["chunks_per_s"] = round(batch / benchmark.stats.stats.mean, 2)
        benchmark.extra_info["batch"] = batch


# --- CALF ------------------------------------------------------------------------------------------

def calf_batch(B, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, 240, 512, generator=g)
    tse = torch.randint(-250, 250, (B, 240, 17), generator=g, dtype=torch.int32)
    tse[:, :40] = -1  # chunk borders (calf.md 5.4)
    tse[:, 200:] = -1
    targets = torch.zeros(B, 15, 19)
    n = torch.randint(1, 6, (B,), generator=g)
    for b in range(B):
        k = int(n[b])
        targets[b, :k, 0] = 1
        targets[b, :k, 1] = torch.sort(torch.randint(40, 200, (k,), generator=g)).values.float() / 240
        targets[b, torch.arange(k), 2 + torch.randint(0, 17, (k,), generator=g)] = 1
    return x, tse, targets


DEVICES = ("cpu", "cuda")


def _device(benchmark, name):
    """The row's device; CUDA rows are skipped without a GPU and name their own group."""
    if name == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    if name == "cuda":
        benchmark.group += " cuda"
    return torch.device(name)


def _synced(fn, device):
    """fn, followed by a device synchronisation on CUDA so that a round times the whole step."""
    if device.type != "cuda":
        return fn

    def run(*a):
        out = fn(*a)
        torch.cuda.synchronize(device)
        return out

    return run


def _calf_setup(benchmark, compiled, device_name):
    """Skip compiled rows in the smoke run and CUDA rows without a GPU; reset dynamo; return (device,
    B, the CALF batch on the device) at the paper's B = 32 (2 in the smoke run)."""
    if compiled and benchmark.disabled:
        pytest.skip("compiled rows run only when benchmarking")
    device = _device(benchmark, device_name)
    torch._dynamo.reset()
    B = _batch(benchmark, 32)
    return device, B, tuple(t.to(device) for t in calf_batch(B))


def _K(tse):
    return torch.as_tensor(K_V2_FRAMES, device=tse.device)


def public_style_loss(seg, spot, tse, targets):
    return LAMBDA_SEG_SUM * calf_segmentation_loss_ref(tse, seg, _K(tse)) + calf_spotting_loss_ref(targets, spot)


def spotkern_loss(seg, spot, tse, targets):
    return LAMBDA_SEG_SUM * calf_segmentation_loss(tse, seg, _K(tse)) + calf_spotting_loss(targets, spot)


def calf_step_fn(model, forward_loss):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)

    def step(x, tse, targets):
        opt.zero_grad(set_to_none=True)
        loss = forward_loss(x, tse, targets)
        loss.backward()
        opt.step()
        return loss

    return step


def no_loss(seg, spot, tse, targets):
    """The floor of any loss: the network's forward, backward and Adam step with a free loss."""
    return seg.sum() + spot.sum()


CALF_ROWS = {
    "network only (free loss), eager": ("none", False),
    "public-style loss, eager": ("public", False),
    "public-style loss, compiled network": ("public", True),
    "spotkern losses, eager": ("spotkern", False),
    "spotkern losses, compiled step": ("spotkern", True),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("row", list(CALF_ROWS))
@pytest.mark.benchmark(group="calf step B=32")
def test_calf_train_step(benchmark, row, device):
    loss_kind, compiled = CALF_ROWS[row]
    device, B, (x, tse, targets) = _calf_setup(benchmark, compiled, device)
    torch.manual_seed(0)
    model = CALFNet().to(device)
    loss_fn = {"public": public_style_loss, "spotkern": spotkern_loss, "none": no_loss}[loss_kind]
    net = torch.compile(model, fullgraph=True) if compiled and loss_kind == "public" else model

    def forward_loss(x, tse, targets):
        seg, spot = net(x)
        return loss_fn(seg, spot, tse, targets)

    if compiled and loss_kind == "spotkern":
        forward_loss = torch.compile(forward_loss, fullgraph=True)
    step = _synced(calf_step_fn(model, forward_loss), device)
    loss = step(x, tse, targets)  # compile outside the timed rounds
    assert torch.isfinite(loss)
    _run(benchmark, lambda: step(x, tse, targets), B)


LOSS_ROWS = {"public-style": ("public", False), "spotkern eager": ("spotkern", False),
             "spotkern compiled": ("spotkern", True)}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("row", list(LOSS_ROWS))
@pytest.mark.benchmark(group="calf losses B=32")
def test_calf_losses(benchmark, row, device):
    kind, compiled = LOSS_ROWS[row]
    device, B, (x, tse, targets) = _calf_setup(benchmark, compiled, device)
    with torch.no_grad():
        seg, spot = CALFNet().to(device)(x)
    seg.requires_grad_(True)
    spot.requires_grad_(True)
    fn = public_style_loss if kind == "public" else spotkern_loss
    if compiled:
        fn = torch.compile(fn, fullgraph=True)

    def step():
        seg.grad = spot.grad = None
        loss = fn(seg, spot, tse, targets)
        loss.backward()
        return loss

    step = _synced(step, device)
    ref = public_style_loss(seg, spot, tse, targets)
    torch.testing.assert_close(step(), ref, rtol=1e-4, atol=1e-4)
    _run(benchmark, step, B)


# --- dense anchors ---------------------------------------------------------------------------------

DENSE = {
    "unet": (dict(trunk="unet"), 256),
    "transformer-default": (dict(trunk="transformer", size="default"), 256),
    "transformer-small": (dict(trunk="transformer", size="small"), 64),
    "transformer-base": (dict(trunk="transformer", size="base"), 16),
}


def _dense_case(name, compiled):
    return pytest.param(name, compiled, marks=pytest.mark.benchmark(group=f"dense step {name} B={DENSE[name][1]}"),
                        id=f"{name}-{'compiled' if compiled else 'eager'}")


@pytest.mark.parametrize("name,compiled", [_dense_case(n, c) for n in DENSE for c in (False, True)])
def test_dense_train_step(benchmark, name, compiled):
    if compiled and benchmark.disabled:
        pytest.skip("compiled rows run only when benchmarking")
    torch._dynamo.reset()
    torch.manual_seed(0)
    kw, paper_batch = DENSE[name]
    B = _batch(benchmark, paper_batch)
    model = DenseSpotter(input_dim=512, num_classes=17, heads=("confidence",), chunk_size=224, **kw)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, 224, 512, generator=g)
    targets = (torch.rand(B, 224, 17, generator=g) < 0.05).float()
    weights = torch.where(targets > 0, 0.6, 1.0)  # the class-balance weights' shape of values

    def forward_loss(x, targets, weights):
        return dense_confidence_loss(model(x)["confidence"], targets, weights)

    if compiled:
        forward_loss = torch.compile(forward_loss, fullgraph=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = forward_loss(x, targets, weights)
        loss.backward()
        opt.step()
        return loss

    assert torch.isfinite(step())
    _run(benchmark, step, B)
