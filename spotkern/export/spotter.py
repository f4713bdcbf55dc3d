"""Spotting with an exported model folder: :class:`OnnxSpotter` runs the ONNX networks in onnxruntime,
then chunking, stitching and post-processing with spotkern's own code (``spotkern.export.pipeline``,
``spotkern.postprocess``), and writes the results files of ``spotkern predict``."""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from spotkern._typing import Array, PathLike, Split
from spotkern.data.dataset import read_dataset
from spotkern.export.manifest import read_manifest
from spotkern.export.pipeline import half_raw_outputs
from spotkern.inference.results_files import write_results
from spotkern.postprocess import POSTPROCESS_FILE, PostProcess, resolve_postprocess

#: ONNX metadata key holding the network's class names (JSON), checked against the manifest on load
ONNX_CLASSES_KEY = "spotkern.classes"


class OrtNetwork(nn.Module):
    """An onnxruntime session behind the call signature of the PyTorch network it was exported from:
    (B, L, F) float32 -> {output name: (B, L, C)} for a dense network, (segmentation, spotting) for CALF."""

    def __init__(self, session: Any, kind: str, input_name: str, output_names: Sequence[str]) -> None:
        super().__init__()
        self.session, self.kind = session, kind
        self.input_name, self.output_names = input_name, list(output_names)

    def forward(self, x: torch.Tensor) -> Any:
        outs = self.session.run(self.output_names, {self.input_name: x.detach().cpu().float().contiguous().numpy()})
        ts = [torch.from_numpy(np.asarray(o)) for o in outs]
        return tuple(ts) if self.kind == "calf" else dict(zip(self.output_names, ts))


class OnnxSpotter:
    """The networks of an ``--format onnx`` export folder in onnxruntime, with the folder's pipeline and
    post-processing (``manifest.json``, docs/export.md).

    model_dir: the folder (its files are checked against the manifest's digests); num_threads:
    onnxruntime's intra-op threads (0: its default, all cores); providers: onnxruntime execution
    providers (default CPU)."""

    def __init__(self, model_dir: PathLike, *, num_threads: int = 0, providers: Sequence[str] | None = None) -> None:
        import onnxruntime as ort  # optional dependency: export

        fn = "OnnxSpotter"
        self.model_dir = os.fspath(model_dir)
        self.manifest = m = read_manifest(self.model_dir, fn)
        if m["export_format"] != "onnx":
            raise ValueError(f"{fn}: {self.model_dir} is a {m['export_format']!r} export, not 'onnx'")
        self.classes: list[str] = [str(c) for c in m["classes"]]
        self.fps = float(m["fps"])
        self.feature_dim = int(m["feature_dim"])
        self.pipeline: dict = m["pipeline"]
        self.postprocess = PostProcess.from_dict(m["postprocess"], f"{fn}: {self.model_dir}/manifest.json")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(num_threads)
        opts.inter_op_num_threads = 1
        self.networks: dict[str, OrtNetwork] = {}
        for name, net in m["networks"].items():
            path = os.path.join(self.model_dir, net["file"])
            try:
                session = ort.InferenceSession(path, sess_options=opts,
                                               providers=list(providers or ["CPUExecutionProvider"]))
            except Exception as e:  # onnxruntime raises its own exception types for an unreadable model
                raise ValueError(f"{fn}: {path}: onnxruntime cannot load it ({str(e).splitlines()[0][:200]})") from None
            self._check_session(path, session, net)
            outputs = [o["name"] for o in net["outputs"]]
            self.networks[name] = OrtNetwork(session, net["model_spec"]["kind"], net["inputs"][0]["name"], outputs)

    def _check_session(self, path: str, session: Any, net: dict) -> None:
        fn = "OnnxSpotter"
        meta = session.get_modelmeta().custom_metadata_map
        if ONNX_CLASSES_KEY in meta and json.loads(meta[ONNX_CLASSES_KEY]) != self.classes:
            raise ValueError(f"{fn}: {path} was exported for the classes {json.loads(meta[ONNX_CLASSES_KEY])}, the "
                             f"manifest lists {self.classes}")
        got = {o.name: o.shape for o in session.get_outputs()}
        for o in net["outputs"]:
            shape = got.get(o["name"])
            if shape is None:
                raise ValueError(f"{fn}: {path} has no output {o['name']!r} (outputs: {sorted(got)})")
            fixed = [(a, b) for a, b in zip(shape, o["shape"]) if isinstance(a, int) and isinstance(b, int)]
            if len(shape) != len(o["shape"]) or any(a != b for a, b in fixed):
                raise ValueError(f"{fn}: {path}: output {o['name']!r} has shape {shape}, the manifest records "
                                 f"{o['shape']}")

    # ------------------------------------------------------------------ one half
    def _features(self, features: Array) -> torch.Tensor:
        fn = "OnnxSpotter"
        x = features if torch.is_tensor(features) else torch.from_numpy(np.array(features, dtype=np.float32))
        if x.dim() != 2 or x.shape[1] != self.feature_dim:
            raise ValueError(f"{fn}: features must be (T, {self.feature_dim}), got {tuple(x.shape)}")
        if x.shape[0] < 1:
            raise ValueError(f"{fn}: features must hold at least one frame")
        return x.float()

    def raw_outputs(self, features: Array) -> dict:
        """Raw outputs of one half (``spotkern.postprocess``) from (T, F) features."""
        return half_raw_outputs(self.pipeline, self.networks, self._features(features))

    def predict_half(self, features: Array, postprocess: PostProcess | None = None) -> np.ndarray:
        """(T, C) float32 post-NMS scores of one half (-1 = no detection) with the manifest's
        post-processing (or ``postprocess``)."""
        raw = {k: (v.numpy() if torch.is_tensor(v) else v) for k, v in self.raw_outputs(features).items()}
        return (postprocess or self.postprocess).apply(raw, self.fps)  # type: ignore[return-value]  # numpy in

    def predict_dataset(self, data: str, split: Split = "test", out_dir: str | None = None, *,
                        style: str = "spotkern", progress: bool = True,
                        postprocess: PostProcess | PathLike | None = None, threshold: float | None = None,
                        top_k: int | None = None) -> list:
        """Write one results file per game of ``split`` under ``out_dir`` (default
        ``<model_dir>/predictions/<split>``), as ``spotkern predict --run`` does; returns the paths."""
        out = out_dir or os.path.join(self.model_dir, "predictions", str(split))
        pp = self.resolve(postprocess, threshold, top_k)
        return predict_halves(self.manifest, lambda f: self.predict_half(f, pp), data, split, out, style=style,
                              progress=progress, where="OnnxSpotter", pp=pp)

    def resolve(self, postprocess: PostProcess | PathLike | None = None, threshold: float | None = None,
                top_k: int | None = None) -> PostProcess:
        """The manifest's post-processing, or ``postprocess``, then ``threshold`` / ``top_k`` over it."""
        return resolve_postprocess({}, self.classes, kind="dense", has_displacement=False,
                                   postprocess=postprocess or self.postprocess, threshold=threshold, top_k=top_k)


def predict_halves(manifest: dict, predict_half: Any, data: str, split: Split, out_dir: str, *, style: str,
                   progress: bool, where: str, pp: PostProcess) -> list:
    """Read ``split`` of ``data`` as the exported run did, check its classes against the manifest's, run
    ``predict_half`` (features (T, F) -> (T, C) post-NMS scores) on every half and write the results
    files and ``postprocess.json`` under ``out_dir``; returns the written paths."""
    d = manifest.get("data", {})
    kw = {"soccernet_version": d["soccernet_version"]} if d.get("soccernet_version", 2) != 2 else {}
    ds = read_dataset(data, split, features=d.get("features", "auto"),
                      label_placement=d.get("label_placement", "gametime"), **kw)
    classes = [str(c) for c in manifest["classes"]]
    if list(ds.classes) != classes:
        raise ValueError(f"{where}: the dataset's classes {list(ds.classes)} differ from the exported model's "
                         f"{classes} (manifest.json)")
    if int(ds.feature_dim) != int(manifest["feature_dim"]):
        raise ValueError(f"{where}: the dataset's features have {ds.feature_dim} dimensions, the exported model "
                         f"takes {manifest['feature_dim']}")
    by_game: dict = {}
    for half in tqdm(ds.halves, desc="predict", disable=not progress, unit="half"):
        by_game.setdefault(half.game, {})[half.half] = predict_half(half.features)
    paths = []
    for game, halves in by_game.items():
        paths.append(write_results(out_dir, game, [halves[h] for h in sorted(halves)], ds.classes, ds.fps, style))
    pp.save(os.path.join(out_dir, POSTPROCESS_FILE))
    return paths
