"""Shipping a trained run: ONNX networks, a ``torch.export`` program of one half's whole inference, or
safetensors weights, each with a ``manifest.json``; and prediction from such a folder (docs/export.md).

This package imports what running an exported model needs (``OnnxSpotter``: onnxruntime, the ``export``
extra; the traceable half inference; the manifest and the safetensors weights). Exporting a run
(``spotkern.export.exporter.export_run``) and predicting with an export folder
(``spotkern.export.predict.predict_model``) build on ``spotkern.runs``: import those modules."""
from __future__ import annotations

from spotkern.export.manifest import EXPORT_FORMATS, MANIFEST_FILE, read_manifest
from spotkern.export.pipeline import HalfInference, half_raw_outputs
from spotkern.export.spotter import OnnxSpotter

__all__ = ["EXPORT_FORMATS", "MANIFEST_FILE", "HalfInference", "OnnxSpotter", "half_raw_outputs", "read_manifest"]

