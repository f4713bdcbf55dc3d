"""One half's inference as the manifest's ``pipeline`` describes it: chunking, the networks, stitching,
then post-processing (``spotkern.postprocess``). Two forms of the same rules:

* :func:`half_raw_outputs` runs any callable networks (PyTorch modules, or onnxruntime sessions behind
  :class:`spotkern.export.spotter.OrtNetwork`) through the inference code of ``spotkern.inference``
  (``predict_half_dense``: dense_anchors.md 6; ``predict_half_calf``: calf.md 10), batch by batch;
* :class:`HalfInference` is the same computation as one traceable module (every index computed with
  tensor ops from the half's length, which stays symbolic), for ``torch.export`` (``--format pt2``).

``pipeline`` (a plain dict, stored in ``manifest.json``)::

    {"kind": "dense" | "calf", "batch_size": chunks per network call,
     "outputs": {raw name: {"network": stage name, "output": network output name, "chunk_len": L,
                            "stride": S, "border": b, "padding": "zero" | "edge", "activation": ...,
                            "stitching": rule, ...}},
     "radius_displacement": rd in frames (with a displacement output) or None}

Stitching rule of both kinds: chunk k starts at s_k and keeps rows [b, L - b) of its output, the first
chunk from row 0 and the last up to row L; a later chunk wins an overlap. Dense chunks start at
k * (L - 2b), the last at T - L (dense_anchors.md 6); CALF clips at k * (L - rf) below T - 1, the last
replaced by T - L, with b = floor(rf / 2) (calf.md 10.1-10.3).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from spotkern._typing import Array
from spotkern.inference.stitching import calf_decode_clips, predict_half_calf, predict_half_dense
from spotkern.postprocess import PostProcess

DENSE_STITCHING = ("dense centre crops (dense_anchors.md 6): chunk starts k * stride, the last at T - L; chunk k "
                   "keeps rows [border, L - border), the first from 0, the last up to L; later chunks win overlaps; "
                   "rows past T are zero-padded input")
CALF_STITCHING = ("CALF clips (calf.md 10.1-10.3): clip starts k * stride below T - 1, the last replaced by T - L; "
                  "clip k keeps rows [border, L - border), the first from 0, the last up to L; later clips win "
                  "overlaps; rows past T repeat the last frame; frames no clip keeps are -1")


def half_raw_outputs(pipeline: Mapping[str, Any], networks: Mapping[str, nn.Module], features: Array) -> dict:
    """Raw outputs of one half (``spotkern.postprocess``: "confidence", optionally "displacement" in rd
    units and "radius_displacement") from the networks by stage name. features: (T, F) float32."""
    raw: dict = {}
    batch = int(pipeline.get("batch_size", 64))
    for key, e in pipeline["outputs"].items():
        net = networks[e["network"]]
        if pipeline["kind"] == "calf":
            raw[key] = predict_half_calf(net, features, chunk_len=int(e["chunk_len"]),
                                         receptive_field=int(e["receptive_field"]), decode=e["decode"],
                                         slot_collision=e["slot_collision"], batch_size=batch)
        else:
            raw[key] = predict_half_dense(net, features, chunk_len=int(e["chunk_len"]), border=int(e["border"]),
                                          head=e["output"], batch_size=batch)
    if "displacement" in raw:
        raw["radius_displacement"] = float(pipeline["radius_displacement"])
    return raw


def min_frames(pipeline: Mapping[str, Any]) -> int:
    """The shortest half :class:`HalfInference` takes: one frame more than the longest chunk of the
    pipeline (at least two chunks; a traced program specialises a batch of one)."""
    return max(int(e["chunk_len"]) for e in pipeline["outputs"].values()) + 1


def _starts(kind: str, T, L: int, stride: int, device) -> torch.Tensor:
    """(n,) int64 chunk starts for a half of T >= L frames (T may be symbolic)."""
    if kind == "calf":  # every multiple of stride below T - 1, the last replaced by T - L (calf.md 10.1)
        n = (T - 2) // stride + 1
        k = torch.arange(n, device=device)
        return torch.where(k == n - 1, torch.full_like(k, 1) * (T - L), k * stride)
    n = (T - L + stride - 1) // stride + 1  # stride L - 2B until the chunk reaches T - L (dense_anchors.md 6)
    return torch.clamp(torch.arange(n, device=device) * stride, max=T - L)


def _stitch(chunks: torch.Tensor, starts: torch.Tensor, T, border: int, fill: float) -> torch.Tensor:
    """(n, L, C) chunk outputs -> (T, C): frame t takes the last chunk k whose kept rows
    [s_k + lo_k, s_k + hi_k) hold it (lo_0 = 0, hi_{n-1} = L, else border and L - border)."""
    n, L, C = chunks.shape
    k = torch.arange(n, device=chunks.device)
    lo = starts + torch.where(k == 0, 0, border)
    hi = starts + torch.where(k == n - 1, L, L - border)
    t = torch.arange(T, device=chunks.device)
    keeps = (lo[:, None] <= t[None, :]) & (t[None, :] < hi[:, None])  # (n, T)
    owner = torch.where(keeps, k[:, None], -1).amax(dim=0)  # (T,) -1 where no chunk keeps the frame
    k_safe = owner.clamp(min=0)
    rows = (t - starts[k_safe]).clamp(0, L - 1)
    out = chunks[k_safe, rows]
    return torch.where((owner >= 0)[:, None], out, torch.full_like(out, fill))


class HalfInference(nn.Module):
    """The whole inference of one half as one module: features (T, F) float32 with T > the longest
    chunk (:func:`min_frames`) -> post-NMS scores (T, C) float32, -1 where nothing is kept. Traceable by
    ``torch.export`` with T dynamic (the NMS and displacement scattering are spotkern's custom ops, which have fake
    kernels). networks: {stage name: network in eval mode}; pipeline: as in the module docstring;
    postprocess: applied after stitching (no top-k: it selects on the host)."""

    def __init__(self, networks: Mapping[str, nn.Module], pipeline: Mapping[str, Any], postprocess: PostProcess,
                 fps: float) -> None:
        super().__init__()
        if postprocess.top_k is not None:
            raise ValueError("HalfInference: postprocess.top_k must be None (top-k selects on the host; apply it "
                             "to the module's output)")
        self.networks = nn.ModuleDict(dict(networks))
        self.pipeline = dict(pipeline)
        self.postprocess = postprocess
        self.fps = float(fps)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        T = features.shape[0]
        kind = self.pipeline["kind"]
        raw: dict = {}
        for key, e in self.pipeline["outputs"].items():
            L, stride, border = int(e["chunk_len"]), int(e["stride"]), int(e["border"])
            starts = _starts(kind, T, L, stride, features.device)
            idx = starts[:, None] + torch.arange(L, device=features.device)[None, :]
            x = features.float()[idx.clamp(max=T - 1)]
            if e["padding"] == "zero":
                x = x * (idx < T).unsqueeze(-1).to(x.dtype)
            net = self.networks[e["network"]]
            if kind == "calf":
                clips = calf_decode_clips(net(x)[1].float(), L, decode=e["decode"],
                                          slot_collision=e["slot_collision"])
                raw[key] = _stitch(clips, starts, T, border, -1.0)
            else:
                out = net(x)[e["output"]].float()
                out = torch.sigmoid(out) if e.get("activation") == "sigmoid" else out
                raw[key] = _stitch(out, starts, T, border, 0.0).contiguous()
        if "displacement" in raw:
            raw["radius_displacement"] = float(self.pipeline["radius_displacement"])
        return self.postprocess.apply(raw, self.fps)  # type: ignore[return-value]  # tensors in, tensor out
