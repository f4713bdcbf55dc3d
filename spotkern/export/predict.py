"""``spotkern predict --model DIR``: results files from an exported model folder, whatever its format
(``onnx``: :class:`spotkern.export.spotter.OnnxSpotter`; ``pt2``: the saved program of one half's whole
inference; ``safetensors``: the folder is a run, predicted as ``spotkern predict --run`` does)."""
from __future__ import annotations

import os

import numpy as np
import torch

import spotkern.ops  # noqa: F401  (registers the custom ops that an exported program calls)
from spotkern._typing import DeviceLike, PathLike, Split
from spotkern.export.manifest import read_manifest
from spotkern.export.spotter import OnnxSpotter, predict_halves
from spotkern.postprocess import PostProcess
from spotkern.runs.predict import predict_dataset


def load_program(model_dir: PathLike, fn: str = "load_program") -> tuple[torch.nn.Module, dict]:
    """(callable module, manifest) of a ``--format pt2`` folder: features (T, F) float32 -> post-NMS
    scores (T, C). Loading needs spotkern imported (its custom ops); the files are checked first."""
    model_dir = os.fspath(model_dir)
    m = read_manifest(model_dir, fn)
    if m["export_format"] != "pt2":
        raise ValueError(f"{fn}: {model_dir} is a {m['export_format']!r} export, not 'pt2'")
    program = torch.export.load(os.path.join(model_dir, m["program"]["file"])).module()
    return program, m


def predict_model(model_dir: PathLike, data: str, split: Split = "test", out_dir: str | None = None, *,
                  style: str = "spotkern", progress: bool = True, postprocess: PostProcess | PathLike | None = None,
                  threshold: float | None = None, top_k: int | None = None, num_threads: int = 0,
                  device: DeviceLike = "cpu") -> list:
    """Write one results file per game of ``split`` with the exported model ``model_dir`` under
    ``out_dir`` (default ``<model_dir>/predictions/<split>``); returns the paths. postprocess /
    threshold / top_k as in ``spotkern predict`` (not for a pt2 program, whose post-processing is part
    of it). num_threads: onnxruntime's or torch's CPU threads (0: onnxruntime's default; the run's
    ``num_threads`` for torch, as ``predict --run``)."""
    fn = "predict_model"
    model_dir = os.fspath(model_dir)
    m = read_manifest(model_dir, fn)
    out = out_dir or os.path.join(model_dir, "predictions", str(split))
    fmt = m["export_format"]
    if fmt == "onnx":
        return OnnxSpotter(model_dir, num_threads=num_threads).predict_dataset(
            data, split, out, style=style, progress=progress, postprocess=postprocess, threshold=threshold,
            top_k=top_k)
    if fmt == "safetensors":
        overrides = {"num_threads": num_threads} if num_threads else None
        if postprocess is None:  # the post-processing shipped with the export (the run's, or export --postprocess)
            postprocess = PostProcess.from_dict(m["postprocess"], f"{fn}: {model_dir}/manifest.json")
        return predict_dataset(model_dir, data, split, out, device=device, style=style, progress=progress,
                               postprocess=postprocess, threshold=threshold, top_k=top_k, overrides=overrides)
    if postprocess is not None or threshold is not None or top_k is not None:
        raise ValueError(f"{fn}: {model_dir} is a pt2 program with its post-processing built in; --postprocess, "
                         "--threshold and --top-k need an onnx or safetensors export")
    program, m = load_program(model_dir, fn)
    need = int(m["program"]["inputs"][0]["min_frames"])

    def half(features):
        x = torch.from_numpy(np.array(features, dtype=np.float32))
        if x.shape[0] < need:
            raise ValueError(f"{fn}: a half of {x.shape[0]} frames is shorter than the pt2 program's minimum "
                             f"({need} frames, one chunk); use an onnx or safetensors export for it")
        with torch.no_grad():
            return program(x).numpy()

    pp = PostProcess.from_dict(m["postprocess"])
    # the run's thread count by default, as predict --run: the float sums of the networks follow it
    threads, prev = int(num_threads or m["run"].get("num_threads", 0)), torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        return predict_halves(m, half, data, split, out, style=style, progress=progress, where=fn, pp=pp)
    finally:
        torch.set_num_threads(prev)
