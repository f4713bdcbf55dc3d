"""Chunk gathering and target construction on the training device.

``FeatureBank`` gathers (B, L, F) float32 chunks. When the features fit (on CUDA: under half the free
GPU memory; on CPU: under ``cpu_preload_bytes``), every half is packed once into one device tensor and
a batch is a single indexed gather; otherwise chunks are copied from the memory-mapped files, so RAM
stays bounded. Targets are built from packed per-half event lists (dense anchors) or from the stored,
immutable TSE (CALF) with spotkern's ops, on the same device: no CPU data loader in the hot loop.
"""
from __future__ import annotations

import math

import numpy as np
import torch

CPU_PRELOAD_BYTES = 2 << 30


def _as_long(x, device):
    return torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=torch.int64).to(device)


class FeatureBank:
    """Features of a list of halves (each (T_h, F)), gathered as chunks on ``device``.

    preload: True, False or "auto" (module docstring).
    """

    def __init__(self, halves, device="cpu", preload="auto", cpu_preload_bytes: int = CPU_PRELOAD_BYTES):
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

    def gather(self, half_index, starts, length: int, pad: str = "zero") -> torch.Tensor:
        """(B, length, F) float32 chunks starting at ``starts`` in halves ``half_index`` ((B,) ints).

        Rows past the end of a half are zeros (``pad="zero"``, dense anchors, dense_anchors.md 2.4)
        or repeat the half's last frame (``pad="edge"``, CALF, calf.md 10.1)."""
        if self.preloaded and self.device.type != "cpu":
            h = _as_long(half_index, self.device)
            s = _as_long(starts, self.device)
            t = s[:, None] + torch.arange(length, device=self.device)[None, :]
            T = self.lengths_t[h][:, None]
            idx = self.offsets_t[h][:, None] + torch.minimum(t, T - 1)
            x = self.packed[idx]
            if pad == "zero":
                x = x * (t < T).unsqueeze(-1).to(x.dtype)
            return x
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
    built for that widened window with ``spotkern.dense_anchor_targets`` and cropped: exactly the slice
    of the whole-half targets. Loss weights follow dense_anchors.md 2.4 with counts over all halves.
    """

    def __init__(self, halves, num_classes: int, radius_confidence: float, radius_displacement: float,
                 device="cpu", positive_weight_confidence: float = 0.03, positive_weight_displacement: float = 1.0):
        import spotkern

        self.device = torch.device(device)
        self.C, self.rc, self.rd = int(num_classes), float(radius_confidence), float(radius_displacement)
        self.R = int(math.ceil(max(self.rc, self.rd)))
        lengths = np.array([h.num_frames for h in halves], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        keys = np.concatenate([offsets[i] + h.frames for i, h in enumerate(halves)]).astype(np.int64)
        cls = np.concatenate([h.classes for h in halves]).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        self.keys = torch.as_tensor(keys[order], device=self.device)
        self.cls = torch.as_tensor(cls[order], device=self.device)
        self.offsets = torch.as_tensor(offsets, device=self.device)
        # Class-balance counts over every training frame (dense_anchors.md 2.4).
        pos_conf = np.zeros(self.C, dtype=np.int64)
        pos_disp = np.zeros(self.C, dtype=np.int64)
        for h in halves:
            conf, _, support = spotkern.dense_anchor_targets(
                h.frames, h.classes, h.num_frames, self.C,
                radius_confidence=self.rc, radius_displacement=self.rd)
            pos_conf += (np.asarray(conf) > 0).sum(axis=0)
            pos_disp += np.asarray(support).sum(axis=0)
        total = int(lengths.sum())
        self.positive_counts = {"confidence": pos_conf, "displacement": pos_disp}
        wc = spotkern.class_balance_weights(pos_conf, total, p=positive_weight_confidence)
        wd = spotkern.class_balance_weights(pos_disp, total, p=positive_weight_displacement)
        f = lambda w: torch.as_tensor(np.asarray(w, dtype=np.float32), device=self.device)  # noqa: E731
        self.w_conf = (f(wc[0]), f(wc[1]))
        self.w_disp = (f(wd[0]), f(wd[1]))

    def build(self, half_index, starts, length: int):
        """Targets of B chunks: dict of (B, L, C) float32 tensors ``confidence``, ``confidence_weight``,
        ``displacement`` (rd-normalised, spec sign), ``displacement_weight``."""
        import spotkern

        h = _as_long(half_index, self.device)
        s = _as_long(starts, self.device)
        base = self.offsets[h] + s - self.R  # packed frame of window row 0
        lo_key = torch.maximum(base, self.offsets[h])
        hi_key = torch.minimum(self.offsets[h] + s + length + self.R, self.offsets[h + 1])
        lo = torch.searchsorted(self.keys, lo_key)
        hi = torch.searchsorted(self.keys, hi_key)
        counts = hi - lo
        csr = torch.zeros(len(h) + 1, dtype=torch.int64, device=self.device)
        csr[1:] = torch.cumsum(counts, 0)
        total = int(csr[-1])
        owner = torch.repeat_interleave(torch.arange(len(h), device=self.device), counts, output_size=total)
        idx = lo[owner] + (torch.arange(total, device=self.device) - csr[:-1][owner])
        frames = (self.keys[idx] - base[owner]).contiguous()
        classes = self.cls[idx].contiguous()
        W = length + 2 * self.R
        conf, disp, support = spotkern.dense_anchor_targets(
            frames, classes, W, self.C, radius_confidence=self.rc, radius_displacement=self.rd, offsets=csr)
        sl = slice(self.R, self.R + length)
        conf, disp, support = conf[:, sl], disp[:, sl], support[:, sl]
        # Rows past the end of a half (short halves only) are zero-padded with zero weight (2.4).
        inside = ((s[:, None] + torch.arange(length, device=self.device)[None, :]) < (self.offsets[h + 1] - self.offsets[h])[:, None])
        inside = inside.unsqueeze(-1).to(torch.float32)
        cw = torch.where(conf > 0, self.w_conf[0], self.w_conf[1]) * inside
        dw = torch.where(support, self.w_disp[0], self.w_disp[1]) * inside
        return {"confidence": (conf * inside).contiguous(), "confidence_weight": cw.contiguous(),
                "displacement": (disp.clamp(-1.0, 1.0) * inside).contiguous(), "displacement_weight": dw.contiguous()}


class CALFTargetBuilder:
    """CALF chunk targets (calf.md 9.3 steps 5-7) from the stored per-half TSE.

    The packed TSE is computed once and never written: a batch gathers a **copy** of each chunk's
    slice (advanced indexing), writes the -1 borders into the copy and builds the spotting targets from
    it (defect D1 fixed; test CALF-T15). ``tse`` below stays bit-identical for the whole run.
    """

    def __init__(self, halves, K, device="cpu", chunk_len: int = 240, receptive_field: int = 80, num_slots: int = 15):
        import spotkern

        self.device = torch.device(device)
        self.K = np.asarray(K)
        self.L, self.border, self.N = int(chunk_len), int(math.ceil(receptive_field / 2)), int(num_slots)
        self.tses = []
        for h in halves:
            t = spotkern.time_shift_encoding_from_events(h.frames, h.classes, self.K, h.num_frames)
            t.flags.writeable = False  # any in-place write now raises
            self.tses.append(t)
        lengths = np.array([t.shape[0] for t in self.tses], dtype=np.int64)
        self.lengths = torch.as_tensor(lengths, device=self.device)
        self.offsets = torch.as_tensor(np.concatenate([[0], np.cumsum(lengths)[:-1]]), device=self.device)
        self.tse = torch.as_tensor(np.concatenate(self.tses), device=self.device)

    def build(self, half_index, starts):
        """(chunk TSE (B, L, C) int32 with -1 borders and -1 on rows past the end of a half shorter than
        L, spotting targets (B, N, 2+C) float32, dropped (B,) int64)."""
        import spotkern

        h = _as_long(half_index, self.device)
        s = _as_long(starts, self.device)
        t = s[:, None] + torch.arange(self.L, device=self.device)[None, :]
        past = t >= self.lengths[h][:, None]  # rows past the end of a half shorter than L: padding
        idx = self.offsets[h][:, None] + torch.minimum(t, self.lengths[h][:, None] - 1)
        chunk = self.tse[idx]  # advanced indexing: a copy, never a view (D1)
        b = self.border
        chunk[:, :b] = -1
        chunk[:, self.L - b:] = -1
        # padding is ignored like the borders (calf.md 5.4: -1 is zone 3, never a target); a copy of the last
        # row would repeat an action on the last frame into many targets and action frames
        chunk[past] = -1
        targets, dropped = spotkern.spotting_targets(chunk.contiguous(), self.N)
        return chunk, targets, dropped
