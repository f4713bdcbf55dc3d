"""A trained stage's weights as safetensors: ``<folder>/<stage>/model.safetensors``.

The file holds the network's tensors and, as string metadata, what a checkpoint carries beside them
(``model_spec``, ``config`` and ``classes`` as JSON, ``fps``, ``stage``). Reading it parses a JSON
header and raw tensor bytes: nothing is unpickled. A folder of such stages with the run's
``config.json`` and a ``manifest.json`` (``spotkern export --format safetensors``) is a run folder
that ``spotkern predict --run`` accepts; the manifest's digests are checked on load.
"""
from __future__ import annotations

import json
import os

import torch

from spotkern._files import file_sha256
from spotkern._typing import DeviceLike
from spotkern.export.manifest import MANIFEST_FILE, read_manifest

WEIGHTS_FILE = "model.safetensors"
_META_KEYS = ("model_spec", "config", "classes", "fps", "stage")


def has_weights(stage_dir: str) -> bool:
    """Whether ``stage_dir`` holds a safetensors stage (``model.safetensors``)."""
    return os.path.isfile(os.path.join(stage_dir, WEIGHTS_FILE))


def save_stage_weights(stage_dir: str, state_dict: dict, *, model_spec: dict, config: dict, classes: list,
                       fps: float, stage: str) -> str:
    """Write ``<stage_dir>/model.safetensors``; returns its path."""
    from safetensors.torch import save_file  # optional dependency: export

    os.makedirs(stage_dir, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}
    meta = {"format": "spotkern-stage-weights", "model_spec": json.dumps(model_spec), "config": json.dumps(config),
            "classes": json.dumps([str(c) for c in classes]), "fps": repr(float(fps)), "stage": str(stage)}
    path = os.path.join(stage_dir, WEIGHTS_FILE)
    tmp = f"{path}.tmp.{os.getpid()}"
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, path)
    return path


def load_stage_weights(stage_dir: str, map_location: DeviceLike = "cpu") -> tuple[dict, str]:
    """(state, path) of ``<stage_dir>/model.safetensors`` in the layout of a stage checkpoint
    (``model`` state dict; ``model_spec`` and ``config`` as JSON strings; ``classes``, ``fps``,
    ``stage``). When the folder above holds a ``manifest.json``, the file must match its recorded digest.
    A missing, damaged or foreign file is a ValueError naming it."""
    from safetensors import SafetensorError  # optional dependency: export
    from safetensors.torch import load_file  # optional dependency: export

    fn = "load_stage_weights"
    path = os.path.join(stage_dir, WEIGHTS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{fn}: {path} does not exist")
    _check_digest(stage_dir, path, fn)
    try:
        from safetensors import safe_open  # optional dependency: export

        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        model = load_file(path, device=str(torch.device(map_location)))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise ValueError(f"{fn}: {path}: not a readable safetensors file ({e})") from None
    missing = [k for k in _META_KEYS if k not in meta]
    if meta.get("format") != "spotkern-stage-weights" or missing:
        raise ValueError(f"{fn}: {path}: not a spotkern stage (metadata lacks {missing or ['format']})")
    state = {"model": model, "model_spec": meta["model_spec"], "config": meta["config"],
             "classes": json.loads(meta["classes"]), "fps": float(meta["fps"]), "stage": meta["stage"]}
    return state, path


def _check_digest(stage_dir: str, path: str, fn: str) -> None:
    root = os.path.dirname(os.path.abspath(stage_dir))
    if not os.path.isfile(os.path.join(root, MANIFEST_FILE)):
        return
    manifest = read_manifest(root, fn, verify=False)
    rel = os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")
    entry = manifest["files"].get(rel)
    if entry is None:
        raise ValueError(f"{fn}: {path} is not listed in {root}/{MANIFEST_FILE}")
    if os.path.getsize(path) != entry.get("bytes") or file_sha256(path) != entry.get("sha256"):
        raise ValueError(f"{fn}: {path} does not match the digest recorded in {root}/{MANIFEST_FILE} "
                         "(changed or damaged)")
