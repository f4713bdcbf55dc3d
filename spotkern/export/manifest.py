"""The manifest of an exported model folder (``spotkern export``): ``<dir>/manifest.json``.

It holds everything needed to turn the exported networks' outputs into events, without spotkern's
training code (docs/export.md):

* ``format`` = "spotkern-export", ``version`` = 1, ``export_format`` ("onnx", "pt2", "safetensors"),
  ``spotkern_version``, ``torch_version``;
* ``run``: the run's ``method``, the detecting ``stage`` and the ``stages`` whose networks it uses;
* ``classes`` (C names), ``fps``, ``feature_dim`` (F);
* ``networks``: per stage name, its ``file``, ``model_spec``, and ``inputs`` / ``outputs`` as
  ``{"name", "shape", "dtype"}`` (``"batch"`` or ``"frames"`` for a dynamic axis);
* ``pipeline``: how one half's raw outputs are made (``spotkern.export.pipeline``): per raw output
  ("confidence", "displacement") the network and its output, the chunk length, stride, border, padding
  and stitching rule; ``radius_displacement`` (rd in frames) with a displacement;
* ``postprocess``: ``spotkern.postprocess.PostProcess.to_dict()``;
* ``files``: per file of the folder (paths relative to it), ``sha256`` and ``bytes``.
"""
from __future__ import annotations

import os

from spotkern._files import FileProblem, file_sha256, load_json_file, write_json_atomic

FORMAT = "spotkern-export"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
EXPORT_FORMATS = ("onnx", "pt2", "safetensors")


def file_entries(directory: str, names: list[str]) -> dict:
    """{name: {"sha256", "bytes"}} of the files ``names`` (relative to ``directory``)."""
    out = {}
    for name in names:
        path = os.path.join(directory, name)
        out[name] = {"sha256": file_sha256(path), "bytes": os.path.getsize(path)}
    return out


def write_manifest(directory: str, manifest: dict) -> str:
    """Write ``<directory>/manifest.json`` atomically; returns its path."""
    return write_json_atomic(os.path.join(directory, MANIFEST_FILE), manifest, indent=1)


def read_manifest(directory: str, fn: str = "read_manifest", *, verify: bool = True) -> dict:
    """The manifest of the model folder ``directory``, checked: its format and version, and (``verify``)
    every listed file present with its recorded size and SHA-256. Raises ValueError naming the folder
    and the problem (no manifest, another format, a file missing, changed or damaged)."""
    path = os.path.join(os.fspath(directory), MANIFEST_FILE)
    if not os.path.isdir(directory):
        raise ValueError(f"{fn}: model folder {directory} is not a directory")
    if not os.path.exists(path):
        raise ValueError(f"{fn}: {directory} holds no {MANIFEST_FILE}: not a folder written by spotkern export")
    try:
        m = load_json_file(path)
    except FileProblem as e:
        raise ValueError(f"{fn}: {e}") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ValueError(f"{fn}: {path} is not a spotkern export manifest (needs \"format\": \"{FORMAT}\")")
    if m.get("version") != FORMAT_VERSION:
        raise ValueError(f"{fn}: {path}: unsupported version {m.get('version')!r} (this spotkern reads "
                         f"{FORMAT_VERSION})")
    if m.get("export_format") not in EXPORT_FORMATS:
        raise ValueError(f"{fn}: {path}: export_format must be one of {EXPORT_FORMATS}, got "
                         f"{m.get('export_format')!r}")
    for key in ("classes", "fps", "files", "networks", "pipeline", "postprocess"):
        if key not in m:
            raise ValueError(f"{fn}: {path} has no {key!r} entry")
    if verify:
        verify_files(directory, m, fn)
    return m


def verify_files(directory: str, manifest: dict, fn: str = "read_manifest") -> None:
    """Every file the manifest lists exists with its recorded size and SHA-256 digest."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ValueError(f"{fn}: {directory}/{MANIFEST_FILE} lists no files")
    for name, entry in files.items():
        path = os.path.join(directory, name)
        if os.path.isabs(name) or os.path.normpath(name).startswith(".."):
            raise ValueError(f"{fn}: {directory}/{MANIFEST_FILE} lists {name!r}, outside the folder")
        if not os.path.isfile(path):
            raise ValueError(f"{fn}: {path} is listed in the manifest but missing")
        size = os.path.getsize(path)
        if size != entry.get("bytes"):
            raise ValueError(f"{fn}: {path} has {size} bytes, the manifest records {entry.get('bytes')} "
                             "(the file does not match the manifest)")
        if file_sha256(path) != entry.get("sha256"):
            raise ValueError(f"{fn}: {path}: its SHA-256 digest differs from the manifest's (the file does not "
                             "match the manifest: changed or damaged)")
