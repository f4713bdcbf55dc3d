"""Chunk gathering and target construction on the training device.

``FeatureBank`` gathers (B, L, F) float32 chunks. When the features fit (on CUDA: under half the free
GPU memory; on CPU: under ``cpu_preload_bytes``), every half is packed once into one device tensor and
a batch is a single indexed gather; otherwise chunks are copied from the memory-mapped files, so RAM
stays bounded. Targets are built from packed per-half event lists (dense anchors) or from the stored,
immutable TSE (CALF) with spotkern's ops, on the same device: no CPU data loader in the hot loop.

Every ``build``/``gather`` on device-resident data is **sync-free and static-shaped**: no value is read
back to the host, and shapes depend only on the batch size (the dense targets pad each chunk's event list
to a fixed length computed once from the data), so the whole training step compiles into one
``torch.compile(fullgraph=True)`` graph and runs under CUDA graphs. The ops are called through their
unchecked paths, ``spotkern.ops.unchecked`` (DEVELOPERS.md): their inputs are built here, valid by
construction, and validating them would read device data every step.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from spotkern._typing import ArrayLike, DeviceLike, KTable
from spotkern.data.dataset import Half
from spotkern.ops import unchecked
from spotkern.ops.dense_anchor_targets import class_balance_weights, dense_anchor_targets
from spotkern.ops.time_shift_encoding import time_shift_encoding_from_events

CPU_PRELOAD_BYTES = 2 << 30


def _as_long(x, device):
    return torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=torch.int64).to(device)


class FeatureBank:
    """Features of a list of halves (each (T_h, F)), gathered as chunks on ``device``.

    preload: True, False or "auto" (module docstring).
    """

    def __init__(self, halves: Sequence[Half], device: DeviceLike = "cpu", preload: bool | str = "auto",
                 cpu_preload_bytes: int = CPU_PRELOAD_BYTES) -> None:
        self.device = torch.device(device)
        self.arrays = [h.features for h in halves]
        self.lengths = np.array([a.shape[0] for a in self.arrays], dtype=np.int64)
        self.dim = int(self.arrays[0].shape[1])
        nbytes = int(self.lengths.sum()) * self.dim * 4
        if preload == "auto":
            if self.device.type == "cuda":
                free, _ = torch.cuda.mem_get_info(self.device)
                preload = nbytes < free // 2
            else:
                preload = nbytes <= cpu_preload_bytes
        self.preloaded = bool(preload)
        self.lengths_t = torch.as_tensor(self.lengths, device=self.device)
        self.offsets_t = torch.as_tensor(np.concatenate([[0], np.cumsum(self.lengths)[:-1]]), device=self.device)
        if self.preloaded:
            packed = torch.empty((int(self.lengths.sum()), self.dim), dtype=torch.float32)
            o = 0
            for a in self.arrays:  # half by half: peak RAM is one half beyond the packed copy
                packed[o:o + a.shape[0]].numpy()[...] = a
                o += a.shape[0]
            self.packed = packed.to(self.device)
            if self.device.type == "cpu":
                # On the CPU per-chunk slice copies beat an indexed gather (no index tensor, no mask
                # pass): gather() then takes the copy loop below over views of the packed array.
                starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
                flat = self.packed.numpy()
                self.arrays = [flat[o:o + n] for o, n in zip(starts, self.lengths)]

    def gather(self, half_index: ArrayLike, starts: ArrayLike, length: int, pad: str = "zero") -> torch.Tensor:
        """(B, length, F) float32 chunks starting at ``starts`` in halves ``half_index`` ((B,) ints).

        Rows past the end of a half are zeros (``pad="zero"``, dense anchors, dense_anchors.md 2.4)
        or repeat the half's last frame (``pad="edge"``, CALF, calf.md 10.1)."""
        if self.preloaded and (self.device.type != "cpu" or torch.compiler.is_compiling()):
            return self.gather_packed(_as_long(half_index, self.device), _as_long(starts, self.device), length, pad)
        return self.gather_host(half_index, starts, length, pad)

    def gather_packed(self, h: torch.Tensor, s: torch.Tensor, length: int, pad: str = "zero") -> torch.Tensor:
        """``gather`` from the packed device tensor by one indexed gather: traceable and sync-free
        (h, s: (B,) int64 tensors on the bank's device)."""
        if not self.preloaded:
            raise RuntimeError("FeatureBank.gather_packed: the features are not preloaded")
        t = s[:, None] + torch.arange(length, device=self.device)[None, :]
        T = self.lengths_t[h][:, None]
        idx = self.offsets_t[h][:, None] + torch.minimum(t, T - 1)
        x = self.packed[idx]
        if pad == "zero":
            x = x * (t < T).unsqueeze(-1).to(x.dtype)
        return x

    def gather_host(self, half_index: ArrayLike, starts: ArrayLike, length: int, pad: str = "zero") -> torch.Tensor:
        """``gather`` by per-chunk slice copies on the host (memory-mapped or CPU-preloaded halves), then
        one (pinned, non-blocking) copy to the device."""
        h = np.asarray(half_index.cpu() if torch.is_tensor(half_index) else half_index, dtype=np.int64)
        s = np.asarray(starts.cpu() if torch.is_tensor(starts) else starts, dtype=np.int64)
        out = np.zeros((len(h), length, self.dim), dtype=np.float32)
        for b in range(len(h)):
            a = self.arrays[h[b]]
            n = max(min(length, a.shape[0] - s[b]), 0)
            out[b, :n] = a[s[b]:s[b] + n]
            if pad == "edge" and n < length:
                out[b, n:] = a[-1]
        x = torch.from_numpy(out)
        return x.pin_memory().to(self.device, non_blocking=True) if self.device.type == "cuda" else x


class DenseTargetBuilder:
    """Dense-anchor targets and loss weights of training chunks (dense_anchors.md 2), built on device.

    Events of all halves are packed in (half, frame) order. For a chunk [s, s + L) the events in
    [s - R, s + L + R) with R = ceil(max(rc, rd)) are the only ones that reach the chunk, so targets are
    built for that widened window with the dense-targets kernel and cropped: exactly the slice of the
    whole-half targets. Each chunk's event list is padded to ``max_events(L)`` entries (the most events
    any such window of the training halves holds, computed once on the host) with a sentinel event far
    outside the window, so shapes are static and nothing is read back from the device. Loss weights
    follow dense_anchors.md 2.4 with counts over all halves.
    """

    def __init__(self, halves: Sequence[Half], num_classes: int, radius_confidence: float, radius_displacement: float,
                 device: DeviceLike = "cpu", positive_weight_confidence: float = 0.03,
                 positive_weight_displacement: float = 1.0) -> None:
        self.device = torch.device(device)
        self.C, self.rc, self.rd = int(num_classes), float(radius_confidence), float(radius_displacement)
        self.R = int(math.ceil(max(self.rc, self.rd)))
        lengths = np.array([h.num_frames for h in halves], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        keys = np.concatenate([offsets[i] + h.frames for i, h in enumerate(halves)]).astype(np.int64)
        cls = np.concatenate([h.classes for h in halves]).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        self._keys_host, self._half_frames = keys[order], [np.sort(np.asarray(h.frames, np.int64)) for h in halves]
        # one padding entry past the end so that a padded gather index never leaves the tensor
        self.keys = torch.as_tensor(np.append(keys[order], np.iinfo(np.int64).max), device=self.device)
        self.cls = torch.as_tensor(np.append(cls[order], 0), device=self.device)
        self.offsets = torch.as_tensor(offsets, device=self.device)
        self._max_events: dict = {}
        # Class-balance counts over every training frame (dense_anchors.md 2.4).
        pos_conf = np.zeros(self.C, dtype=np.int64)
        pos_disp = np.zeros(self.C, dtype=np.int64)
        for h in halves:
            conf, _, support = dense_anchor_targets(
                h.frames, h.classes, h.num_frames, self.C,
                radius_confidence=self.rc, radius_displacement=self.rd)
            pos_conf += (np.asarray(conf) > 0).sum(axis=0)
            pos_disp += np.asarray(support).sum(axis=0)
        total = int(lengths.sum())
        self.positive_counts = {"confidence": pos_conf, "displacement": pos_disp}
        wc = class_balance_weights(pos_conf, total, p=positive_weight_confidence)
        wd = class_balance_weights(pos_disp, total, p=positive_weight_displacement)
        f = lambda w: torch.as_tensor(np.asarray(w, dtype=np.float32), device=self.device)  # noqa: E731
        self.w_conf = (f(wc[0]), f(wc[1]))
        self.w_disp = (f(wd[0]), f(wd[1]))

    def max_events(self, length: int) -> int:
        """The most events one widened window [s - R, s + L + R) of a half can hold (>= 1): the padded
        length of every chunk's event list. A window holding the most events starts at an event."""
        if length not in self._max_events:
            width = length + 2 * self.R
            most = 1
            for f in self._half_frames:
                if len(f):
                    most = max(most, int((np.searchsorted(f, f + width, side="left") - np.arange(len(f))).max()))
            self._max_events[length] = most
        return self._max_events[length]

    def build(self, half_index: ArrayLike, starts: ArrayLike, length: int) -> dict[str, torch.Tensor]:
        """Targets of B chunks: dict of (B, L, C) float32 tensors ``confidence``, ``confidence_weight``,
        ``displacement`` (rd-normalised, spec sign), ``displacement_weight``. Traceable and sync-free."""
        h = _as_long(half_index, self.device)
        s = _as_long(starts, self.device)
        B, E, W = h.shape[0], self.max_events(length), length + 2 * self.R
        half_lo, half_hi = self.offsets[h], self.offsets[h + 1]
        base = half_lo + s - self.R  # packed frame of window row 0
        lo = torch.searchsorted(self.keys, torch.maximum(base, half_lo))
        hi = torch.searchsorted(self.keys, torch.minimum(half_lo + s + length + self.R, half_hi))
        idx = lo[:, None] + torch.arange(E, device=self.device)[None, :]
        real = idx < hi[:, None]
        idx = torch.minimum(idx, torch.full_like(idx, self.keys.shape[0] - 1))
        # padding: an event 2W + R frames before the window reaches none of its frames (|a - t| > rc, rd)
        frames = torch.where(real, self.keys[idx] - base[:, None], -(2 * W + self.R)).reshape(-1)
        classes = torch.where(real, self.cls[idx], 0).reshape(-1)
        csr = torch.arange(B + 1, device=self.device, dtype=torch.int64) * E
        conf, disp, support = unchecked.dense_anchor_targets(frames, classes, csr, W, self.C, self.rc, self.rd)
        sl = slice(self.R, self.R + length)
        conf, disp, support = conf[:, sl], disp[:, sl], support[:, sl]
        # Rows past the end of a half (short halves only) are zero-padded with zero weight (2.4).
        inside = (s[:, None] + torch.arange(length, device=self.device)[None, :]) < (half_hi - half_lo)[:, None]
        inside = inside.unsqueeze(-1).to(torch.float32)
        cw = torch.where(conf > 0, self.w_conf[0], self.w_conf[1]) * inside
        dw = torch.where(support, self.w_disp[0], self.w_disp[1]) * inside
        return {"confidence": conf * inside, "confidence_weight": cw,
                "displacement": disp.clamp(-1.0, 1.0) * inside, "displacement_weight": dw}


class CALFTargetBuilder:
    """CALF chunk targets (calf.md 9.3 steps 5-7) from the stored per-half TSE.

    The packed TSE is computed once and never written: a batch gathers a **copy** of each chunk's
    slice (advanced indexing), writes the -1 borders into the copy and builds the spotting targets from
    it (no defect D1; test CALF-T15). ``tse`` below stays bit-identical for the whole run.
    """

    def __init__(self, halves: Sequence[Half], K: KTable, device: DeviceLike = "cpu", chunk_len: int = 240,
                 receptive_field: int = 80, num_slots: int = 15) -> None:
        self.device = torch.device(device)
        self.K = np.asarray(K)
        self.L, self.border, self.N = int(chunk_len), int(math.ceil(receptive_field / 2)), int(num_slots)
        self.tses = []
        for h in halves:
            t = time_shift_encoding_from_events(h.frames, h.classes, self.K, h.num_frames)
            t.flags.writeable = False  # any in-place write now raises
            self.tses.append(t)
        lengths = np.array([t.shape[0] for t in self.tses], dtype=np.int64)
        self.lengths = torch.as_tensor(lengths, device=self.device)
        self.offsets = torch.as_tensor(np.concatenate([[0], np.cumsum(lengths)[:-1]]), device=self.device)
        self.tse = torch.as_tensor(np.concatenate(self.tses), device=self.device)

    def build(self, half_index: ArrayLike, starts: ArrayLike) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(chunk TSE (B, L, C) int32 with -1 borders and -1 on rows past the end of a half shorter than
        L, spotting targets (B, N, 2+C) float32, dropped (B,) int64). Traceable and sync-free."""
        h = _as_long(half_index, self.device)
        s = _as_long(starts, self.device)
        rows = torch.arange(self.L, device=self.device)
        t = s[:, None] + rows[None, :]
        past = t >= self.lengths[h][:, None]  # rows past the end of a half shorter than L: padding
        idx = self.offsets[h][:, None] + torch.minimum(t, self.lengths[h][:, None] - 1)
        # borders and padding are -1 (calf.md 5.4: -1 is zone 3, never a target); a copy of the last row
        # would repeat an action on the last frame into many targets and action frames. The gather is a
        # new tensor, never a view of the stored TSE (D1).
        border = (rows < self.border) | (rows >= self.L - self.border)
        chunk = torch.where((past | border[None, :])[..., None], -1, self.tse[idx])
        targets, dropped = unchecked.spotting_targets(chunk, self.N, 0)
        return chunk, targets, dropped
