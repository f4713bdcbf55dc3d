"""Whole-half inference: CALF clips with correct stitching (calf.md 10) and dense-anchor centre crops
(dense_anchors.md 6), then displacement scattering and NMS with spotkern's ops (dense_anchors.md 7)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spotkern._typing import Array, PerClassInt
from spotkern._validation import check_int
from spotkern.inference.layout import calf_clip_starts, calf_stitch, dense_chunk_layout, dense_merge
from spotkern.ops.displace_scores import displace_scores
from spotkern.ops.nms import nms

CALF_DECODES = ("reference", "sn", "consistent")
SLOT_COLLISIONS = ("last", "max")


def calf_decode_clips(spotting: torch.Tensor, chunk_len: int = 240, *, decode: str = "reference",
                      slot_collision: str = "last") -> torch.Tensor:
    """Spotting output (n, N, 2+C) -> (n, L, C) clip buffers (calf.md 10.2).

    Row of slot i: floor(pos * (L - 1)) (``decode="reference"``, one frame early, calf.md 4, the
    product in float64), the same rule with sn-spotting's float32 product (``"sn"``: 39 of the 2^23
    positions k/2^23 land one row apart, where float32 rounds pos * 239 up to a whole row), or
    min(round(pos * L), L - 1) (``"consistent"``); class: first argmax. Slots are written in order, a
    later slot overwriting an earlier one on the same cell (``slot_collision="last"``) or keeping the
    larger confidence (``"max"``). Unwritten cells are -1."""
    fn = "calf_decode_clips"
    if not torch.is_tensor(spotting):
        raise TypeError(f"{fn}: spotting must be a torch tensor, got {type(spotting).__name__}")
    if not spotting.is_floating_point():
        raise TypeError(f"{fn}: spotting must be floating point, got {spotting.dtype}")
    if spotting.dim() != 3 or spotting.shape[-1] < 3:
        raise ValueError(f"{fn}: spotting must have shape (n, N, 2 + C) with C >= 1, got {tuple(spotting.shape)}")
    check_int(fn, "chunk_len", chunk_len, minimum=1)
    if not torch.compiler.is_compiling() and not bool(torch.isfinite(spotting[..., 1]).all()):
        # floor(NaN) cast to an index is undefined: the slot would land on an arbitrary row
        raise ValueError(f"{fn}: spotting positions (column 1) contain NaN or infinite values")
    if decode not in CALF_DECODES:
        raise ValueError(f"calf_decode_clips: decode must be one of {CALF_DECODES}, got {decode!r}")
    if slot_collision not in SLOT_COLLISIONS:
        raise ValueError(f"calf_decode_clips: slot_collision must be one of {SLOT_COLLISIONS}, got {slot_collision!r}")
    n, N, C2 = spotting.shape
    L = int(chunk_len)
    conf, pos = spotting[..., 0], spotting[..., 1].to(torch.float64)
    if decode == "reference":
        row = torch.floor(pos * (L - 1)).long()
    elif decode == "sn":  # timestamps2long: a float32 tensor times the int L - 1, floored in float32
        row = torch.floor(spotting[..., 1].float() * (L - 1)).long()
    else:
        row = torch.round(pos * L).long().clamp(max=L - 1)
    row = row.clamp(0, L - 1)
    cls = spotting[..., 2:].argmax(dim=-1)  # torch argmax returns the first maximal index
    buf = torch.full((n, L, C2 - 2), -1.0, dtype=spotting.dtype, device=spotting.device)
    ar = torch.arange(n, device=spotting.device)
    for i in range(N):  # in slot order: the write order decides collisions (calf.md 10.2)
        v = conf[:, i]
        if slot_collision == "max":
            v = torch.maximum(v, buf[ar, row[:, i], cls[:, i]])
        buf[ar, row[:, i], cls[:, i]] = v
    return buf


def _device_of(model):
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _run_batches(fn, x, batch_size):
    outs = [fn(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    if isinstance(outs[0], dict):
        return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
    if isinstance(outs[0], tuple):
        return tuple(torch.cat([o[k] for o in outs]) for k in range(len(outs[0])))
    return torch.cat(outs)


def _chunks(features, starts, L, pad, device):
    # np.array copies the read-only memory map into a writable array for torch.
    x = torch.from_numpy(np.array(features, dtype=np.float32)) if not torch.is_tensor(features) else features
    x = x.to(device=device, dtype=torch.float32)
    T = x.shape[0]
    t = torch.as_tensor(starts, device=device)[:, None] + torch.arange(L, device=device)[None, :]
    out = x[t.clamp(max=T - 1)]
    if pad == "zero":
        out = out * (t < T).unsqueeze(-1).to(out.dtype)
    return out


@torch.no_grad()
def predict_half_calf(model: nn.Module, features: Array, *, chunk_len: int = 240, receptive_field: int = 80,
                      decode: str = "reference", slot_collision: str = "last", batch_size: int = 64,
                      amp: bool = False) -> torch.Tensor:
    """Stitched CALF clip scores of one half before NMS: (T, C) float32, -1 where no slot landed.

    features: (T, F) array or tensor. Clips of 240 frames at stride L - rf (calf.md 10.1), the last
    at T - L; rows past the end repeat the last frame; each clip at its true start (10.3)."""
    model.eval()
    device = _device_of(model)
    T = int(features.shape[0])
    starts = calf_clip_starts(T, chunk_len, chunk_len - receptive_field)
    x = _chunks(features, starts, chunk_len, "edge", device)
    with torch.autocast(device.type, enabled=amp):
        spotting = _run_batches(lambda b: model(b)[1], x, batch_size).float()
    clips = calf_decode_clips(spotting, chunk_len, decode=decode, slot_collision=slot_collision)
    # Stitching border floor(rf / 2): with stride L - rf a middle clip must keep >= L - rf rows for the
    # clips to tile with no gap (calf.md 10.3). ceil(rf / 2) (the training border b) would drop one frame
    # per clip for an odd rf; both are 40 for the default rf = 80.
    return calf_stitch(clips, starts, T, border=receptive_field // 2)


@torch.no_grad()
def predict_half_dense(model: nn.Module, features: Array, *, chunk_len: int, border: int, head: str = "confidence",
                       radius_displacement: float = 1.0, batch_size: int = 256, amp: bool = False) -> torch.Tensor:
    """Dense-anchor head output of one half: (T, C) float32 — sigmoid confidences, or displacements
    (the tanh output times ``radius_displacement``: rd units with the default 1, frames with rd) —
    merged by the centre-crop layout of dense_anchors.md 6. For exact post-processing keep rd units
    and pass rd to ``dense_postprocess`` (the product is then formed in float64)."""
    model.eval()
    device = _device_of(model)
    T = int(features.shape[0])
    layout = dense_chunk_layout(T, chunk_len, border)
    x = _chunks(features, layout[:, 0], chunk_len, "zero", device)
    with torch.autocast(device.type, enabled=amp):
        out = _run_batches(lambda b: model(b)[head], x, batch_size).float()
    out = torch.sigmoid(out) if head == "confidence" else out * float(radius_displacement)
    return dense_merge(out, layout, T)


def calf_postprocess(scores: torch.Tensor, window: int = 40) -> torch.Tensor:
    """CALF's NMS (calf.md 10.4) on stitched (T, C) scores -> kept scores, -1 elsewhere."""
    return nms(scores.contiguous(), window, method="calf")


def dense_postprocess(confidence: torch.Tensor, displacement: torch.Tensor | None, *, radius_displacement: float,
                      window: PerClassInt, method: str = "hard") -> torch.Tensor:
    """Displace confidences by their displacements (dense_anchors.md 7.1; confidence only when
    ``displacement`` is None), then per-class NMS (7.3-7.5) -> kept scores, -1 elsewhere.

    displacement: (T, C) in rd units (the head's tanh output, ``predict_half_dense`` with its default
    radius 1); ``displace_scores`` forms rd * d in float64 before rounding, as the spec's reference."""
    scores = confidence.contiguous()
    if displacement is not None:
        scores = displace_scores(scores, displacement.float().contiguous(), float(radius_displacement))
    return nms(scores.contiguous(), window, method=method)
