"""``spotkern export``: a trained run -> a model folder of ONNX networks, a ``torch.export`` program of
one half's whole inference, or safetensors weights, each with a ``manifest.json``
(``spotkern.export.manifest``, docs/export.md)."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import warnings
from typing import Any

import torch
from torch import nn

from spotkern._typing import PathLike
from spotkern._version import __version__
from spotkern.export.manifest import EXPORT_FORMATS, FORMAT, FORMAT_VERSION, MANIFEST_FILE, file_entries, write_manifest
from spotkern.export.pipeline import CALF_STITCHING, DENSE_STITCHING, HalfInference, min_frames
from spotkern.export.spotter import ONNX_CLASSES_KEY
from spotkern.export.weights import WEIGHTS_FILE, save_stage_weights
from spotkern.inference.layout import dense_border
from spotkern.methods.config import TrainConfig, read_config_file
from spotkern.methods.registry import method_entry
from spotkern.postprocess import PostProcess, resolve_postprocess
from spotkern.runs.stages import detecting_stage
from spotkern.runs.stages import load_run_stage as load_stage
from spotkern.runs.video import training_extraction

#: ONNX opset of the exported networks (18 from the dynamo exporter, the fallback of a torch without the
#: TorchScript one: its opset-17 conversion lacks Pad)
OPSET = 17
PT2_FILE = "half.pt2"
AOTI_FILE = "half_aoti.pt2"


@dataclasses.dataclass
class LoadedRun:
    """A trained run as prediction uses it: its config, the detecting stage, its networks (eval mode,
    CPU) and their checkpoints' metadata, by stage name."""

    run_dir: str
    config: TrainConfig
    config_dict: dict
    stage: Any
    models: dict
    metas: dict

    @property
    def classes(self) -> list:
        return list(self.metas[self.stage.name]["classes"])

    @property
    def fps(self) -> float:
        return float(self.metas[self.stage.name]["fps"])


def load_run(run_dir: PathLike, fn: str = "export_run") -> LoadedRun:
    """The run ``run_dir`` (``spotkern train``'s folder, or a safetensors export) with the networks its
    prediction uses. A folder without a config or without a trained stage is a ValueError naming it."""
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise ValueError(f"{fn}: run {run_dir} is not a directory")
    config_dict = read_config_file(os.path.join(run_dir, "config.json"), f"{fn}: run")
    cfg = TrainConfig.from_dict(config_dict)
    try:
        stage_cls = detecting_stage(run_dir, method_entry(cfg.method).stages_for(cfg))
    except FileNotFoundError as e:
        raise ValueError(f"{fn}: {str(e).removeprefix('predict_dataset: ')}") from None
    models, metas = {}, {}
    for name in tuple(stage_cls.uses_stages) + (stage_cls.name,):
        models[name], metas[name] = load_stage(os.path.join(run_dir, name), "cpu")
    meta = metas[stage_cls.name]
    spec = meta["model_spec"]["kwargs"]
    stage = stage_cls(cfg, feature_dim=spec["input_dim"], num_classes=len(meta["classes"]), fps=meta["fps"],
                      classes=meta["classes"])
    return LoadedRun(run_dir, cfg, config_dict, stage, models, metas)


def pipeline_of(run: LoadedRun) -> dict:
    """The manifest's ``pipeline`` (``spotkern.export.pipeline``) of the run's detecting stage: the rules
    its ``raw_outputs`` follows, with the networks that produce each raw output."""
    cfg, stage = run.config, run.stage
    order = tuple(stage.uses_stages) + (stage.name,)
    kinds = {run.metas[n]["model_spec"]["kind"] for n in order}
    if kinds == {"calf"}:
        L, rf = int(cfg.calf_chunk), int(cfg.calf_receptive_field)
        out = {"network": stage.name, "output": "spotting", "chunk_len": L, "stride": L - rf, "border": rf // 2,
               "receptive_field": rf, "padding": "edge", "decode": "reference", "slot_collision": "last",
               "activation": None, "stitching": CALF_STITCHING}
        return {"kind": "calf", "batch_size": int(cfg.inference_batch), "outputs": {"confidence": out},
                "radius_displacement": None}
    outputs = {}
    for head in ("confidence", "displacement"):
        owners = [n for n in order if head in run.metas[n]["model_spec"]["kwargs"]["heads"]]
        if not owners:
            continue
        L = int(run.metas[owners[-1]]["model_spec"]["kwargs"]["chunk_size"])
        B = dense_border(run.fps, L, cfg.test_border)
        outputs[head] = {"network": owners[-1], "output": head, "chunk_len": L, "stride": L - 2 * B, "border": B,
                         "padding": "zero", "activation": "sigmoid" if head == "confidence" else None,
                         "stitching": DENSE_STITCHING}
    rd = float(stage.rd) if "displacement" in outputs else None
    return {"kind": "dense", "batch_size": int(cfg.inference_batch), "outputs": outputs, "radius_displacement": rd}


def postprocess_of(run: LoadedRun, pipeline: dict, postprocess: PostProcess | PathLike | None = None) -> PostProcess:
    """What ``spotkern predict --run`` applies (the run's default), or ``postprocess``."""
    return resolve_postprocess(run.config, run.classes, kind=run.stage.postprocess_kind,
                               has_displacement="displacement" in pipeline["outputs"], postprocess=postprocess)


class _DenseOutputs(nn.Module):
    """A dense network with its head dict as a tuple (ONNX outputs are positional)."""

    def __init__(self, model: nn.Module, heads: list) -> None:
        super().__init__()
        self.model, self.heads = model, list(heads)

    def forward(self, x: torch.Tensor) -> tuple:
        out = self.model(x)
        return tuple(out[h] for h in self.heads)


def network_io(model_spec: dict, num_classes: int) -> tuple[list, list]:
    """(inputs, outputs) of a network of ``model_spec``: {"name", "shape", "dtype"}, the batch axis
    "batch" (CALF: segmentation and spotting; dense: one output per head)."""
    kw, C = model_spec["kwargs"], int(num_classes)
    L, F = int(kw["chunk_size"]), int(kw["input_dim"])
    inputs = [{"name": "features", "shape": ["batch", L, F], "dtype": "float32"}]
    if model_spec["kind"] == "calf":
        outputs = [{"name": "segmentation", "shape": ["batch", L, C], "dtype": "float32"},
                   {"name": "spotting", "shape": ["batch", int(kw["num_slots"]), 2 + C], "dtype": "float32"}]
    else:
        outputs = [{"name": h, "shape": ["batch", L, C], "dtype": "float32"} for h in kw["heads"]]
    return inputs, outputs


def export_onnx_network(model: nn.Module, model_spec: dict, path: str, *, classes: list,
                        stage: str = "") -> dict:
    """Write one network as ONNX (TorchScript exporter, opset ``OPSET``, batch axis dynamic, chunk length
    fixed; the dynamo exporter at opset 18 where torch lacks the TorchScript one) with its classes in the
    model's metadata; returns its manifest entry (without "file")."""
    import onnx  # optional dependency: export

    inputs, outputs = network_io(model_spec, len(classes))
    module = model if model_spec["kind"] == "calf" else _DenseOutputs(model, model_spec["kwargs"]["heads"])
    module.eval()
    example = torch.zeros(2, *inputs[0]["shape"][1:])
    out_names = [o["name"] for o in outputs]
    axes = {n: {0: "batch"} for n in ["features", *out_names]}
    with warnings.catch_warnings(), torch.no_grad():  # the TorchScript exporter's deprecation notice
        warnings.simplefilter("ignore")
        try:  # the TorchScript exporter: same outputs as the dynamo one here, ~10x faster to export
            torch.onnx.export(module, (example,), path, input_names=["features"], output_names=out_names,
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        except (RuntimeError, TypeError, NotImplementedError):  # a torch without it: the dynamo exporter
            batch = torch.export.Dim("batch", min=1, max=1 << 20)
            program = torch.onnx.export(module, (example,), None, input_names=["features"], output_names=out_names,
                                        dynamic_shapes=({0: batch},), opset_version=18, dynamo=True,
                                        external_data=False)
            program.save(path, external_data=False)  # type: ignore[union-attr]  # an ONNXProgram with dynamo
    proto = onnx.load(path)
    for key, value in ((ONNX_CLASSES_KEY, json.dumps([str(c) for c in classes])), ("spotkern.stage", stage),
                       ("spotkern.version", __version__)):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, path)
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    return {"model_spec": model_spec, "opset": int(opset), "inputs": inputs, "outputs": outputs}


def _base_manifest(run: LoadedRun, fmt: str, pipeline: dict, pp: PostProcess) -> dict:
    cfg = run.config
    return {"format": FORMAT, "version": FORMAT_VERSION, "export_format": fmt,
            "spotkern_version": __version__, "torch_version": torch.__version__,
            "run": {"method": cfg.method, "stage": run.stage.name, "stages": list(run.models),
                    "source": os.path.abspath(run.run_dir), "num_threads": int(cfg.num_threads)},
            "classes": run.classes, "fps": run.fps,
            "feature_dim": int(run.metas[run.stage.name]["model_spec"]["kwargs"]["input_dim"]),
            "data": {"features": cfg.features, "label_placement": cfg.label_placement,
                     "soccernet_version": cfg.soccernet_version},
            # how the training features were extracted from videos (spotkern extract), for predict --video
            "extraction": training_extraction(cfg),
            "networks": {}, "pipeline": pipeline, "postprocess": pp.to_dict()}


def export_run(run_dir: PathLike, fmt: str, out_dir: PathLike, *, force: bool = False, aoti: bool = False,
               postprocess: PostProcess | PathLike | None = None) -> list[str]:
    """Export the trained run ``run_dir`` as ``fmt`` into the new folder ``out_dir``; returns the written
    paths (the manifest last).

    fmt: "onnx" (each network prediction uses, batch axis dynamic, opset 17), "pt2" (``torch.export`` of
    one half's whole inference, ``HalfInference``; with ``aoti`` also an AOTInductor package) or
    "safetensors" (weights, config and model specs: a run folder ``spotkern predict --run`` takes).
    force: replace an earlier export in ``out_dir`` (a folder with a manifest.json); without it an
    existing ``out_dir`` is refused. postprocess: bake this post-processing (a PostProcess or its
    file, ``spotkern tune``) into the manifest instead of the run's default."""
    fn = "export_run"
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"{fn}: format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    out_dir = os.path.abspath(os.fspath(out_dir))
    _check_out(out_dir, force, fn)
    run = load_run(run_dir, fn)
    pipeline = pipeline_of(run)
    pp = postprocess_of(run, pipeline, postprocess)
    manifest = _base_manifest(run, fmt, pipeline, pp)
    tmp = f"{out_dir}.tmp.{os.getpid()}"
    if os.path.lexists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    try:
        with torch.no_grad():
            writers: dict[str, Any] = {"onnx": _write_onnx, "pt2": _write_pt2, "safetensors": _write_safetensors}
            names = writers[fmt](run, tmp, manifest, aoti=aoti)
        manifest["files"] = file_entries(tmp, names)
        write_manifest(tmp, manifest)
        if os.path.lexists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [os.path.join(out_dir, n) for n in names] + [os.path.join(out_dir, MANIFEST_FILE)]


def _check_out(out_dir: str, force: bool, fn: str) -> None:
    if not os.path.lexists(out_dir):
        return
    if not force:
        raise FileExistsError(f"{fn}: output {out_dir} exists; pass force=True (--force) to replace it")
    if not os.path.isdir(out_dir) or (os.listdir(out_dir) and not os.path.isfile(os.path.join(out_dir,
                                                                                              MANIFEST_FILE))):
        raise FileExistsError(f"{fn}: output {out_dir} exists and is not an earlier export (no {MANIFEST_FILE}); "
                              "--force replaces only an export folder")


def _write_onnx(run: LoadedRun, out: str, manifest: dict, **_: Any) -> list[str]:
    names = []
    for name, model in run.models.items():
        file = f"{name}.onnx"
        entry = export_onnx_network(model, run.metas[name]["model_spec"], os.path.join(out, file),
                                    classes=run.classes, stage=name)
        manifest["networks"][name] = {"file": file, **entry}
        names.append(file)
    return names


def half_module(run: LoadedRun, manifest: dict) -> HalfInference:
    """The run's whole inference of one half as a module (``spotkern.export.pipeline.HalfInference``)."""
    pp = PostProcess.from_dict(manifest["postprocess"])
    return HalfInference(run.models, manifest["pipeline"], pp, run.fps).eval()


def _write_pt2(run: LoadedRun, out: str, manifest: dict, *, aoti: bool = False) -> list[str]:
    module = half_module(run, manifest)
    F, L = manifest["feature_dim"], min_frames(manifest["pipeline"])
    frames = torch.export.Dim.AUTO  # guards the trace needs (T > L) become checks of the program
    example = torch.randn(3 * L + 7, F)
    ep = torch.export.export(module, (example,), dynamic_shapes=({0: frames},))
    torch.export.save(ep, os.path.join(out, PT2_FILE))
    names = [PT2_FILE]
    for name in run.models:
        inputs, outputs = network_io(run.metas[name]["model_spec"], len(run.classes))
        manifest["networks"][name] = {"file": PT2_FILE, "model_spec": run.metas[name]["model_spec"],
                                      "inputs": inputs, "outputs": outputs}
    manifest["program"] = {"file": PT2_FILE, "inputs": [{"name": "features", "shape": ["frames", F],
                                                         "dtype": "float32", "min_frames": L}],
                           "outputs": [{"name": "scores", "shape": ["frames", len(run.classes)], "dtype": "float32"}],
                           "needs": "import spotkern (its custom ops spotkern::displace_scores, spotkern::nms)"}
    if aoti:
        from torch._inductor import aoti_compile_and_package  # optional dependency: a C++ toolchain (--aoti)

        aoti_compile_and_package(ep, package_path=os.path.join(out, AOTI_FILE))
        manifest["program"]["aoti_file"] = AOTI_FILE
        names.append(AOTI_FILE)
    return names


def _write_safetensors(run: LoadedRun, out: str, manifest: dict, **_: Any) -> list[str]:
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(run.config_dict, f, indent=1)
    names = ["config.json"]
    for name, model in run.models.items():
        meta = run.metas[name]
        save_stage_weights(os.path.join(out, name), model.state_dict(), model_spec=meta["model_spec"],
                           config=meta["config"], classes=meta["classes"], fps=meta["fps"], stage=meta["stage"])
        file = f"{name}/{WEIGHTS_FILE}"
        inputs, outputs = network_io(run.metas[name]["model_spec"], len(run.classes))
        manifest["networks"][name] = {"file": file, "model_spec": meta["model_spec"], "inputs": inputs,
                                      "outputs": outputs}
        names.append(file)
    return names
