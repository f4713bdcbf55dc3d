"""Shipping a trained run: ONNX networks, a ``torch.export`` program of one half's whole inference, or
safetensors weights, each with a ``manifest.json``; and prediction from such a folder (docs/export.md).

``export_run`` and ``predict_model`` load the training package when called; ``OnnxSpotter`` needs
only onnxruntime (the ``export`` extra)."""
from __future__ import annotations

from typing import Any

from spotkern.export.manifest import EXPORT_FORMATS, MANIFEST_FILE, read_manifest
from spotkern.export.pipeline import HalfInference, half_raw_outputs
from spotkern.export.spotter import OnnxSpotter

__all__ = ["EXPORT_FORMATS", "MANIFEST_FILE", "HalfInference", "OnnxSpotter", "export_run", "half_raw_outputs",
           "load_program", "predict_model", "read_manifest"]


def __getattr__(name: str) -> Any:
    # imported on first use: they import spotkern.train, which importing an exported model never needs
    if name == "export_run":
        from spotkern.export.exporter import export_run

        return export_run
    if name in ("predict_model", "load_program"):
        from spotkern.export import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'spotkern.export' has no attribute {name!r}")
