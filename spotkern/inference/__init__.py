"""Whole-half inference: chunk layouts, stitching, decoding, post-processing and results files."""
from spotkern.inference.layout import (
    calf_clip_starts,
    calf_stitch,
    dense_border,
    dense_chunk_layout,
    dense_merge,
)
from spotkern.inference.predict import (
    calf_decode_clips,
    calf_postprocess,
    dense_postprocess,
    predict_half_calf,
    predict_half_dense,
)
from spotkern.inference.results import detection_entry, result_labels, results_document, write_results

__all__ = [
    "OnnxSpotter", "calf_clip_starts", "calf_decode_clips", "calf_postprocess", "calf_stitch", "dense_border",
    "dense_chunk_layout", "dense_merge", "dense_postprocess", "detection_entry", "predict_half_calf",
    "predict_half_dense", "result_labels", "results_document", "write_results",
]


def __getattr__(name: str) -> type:
    # spotkern.export builds on this package: its ONNX spotter is imported on first use
    if name == "OnnxSpotter":
        from spotkern.export.spotter import OnnxSpotter

        return OnnxSpotter
    raise AttributeError(f"module 'spotkern.inference' has no attribute {name!r}")
