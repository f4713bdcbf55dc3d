"""Whole-half inference: chunk layouts, stitching, decoding and results files (post-processing:
``spotkern.postprocess``)."""
from spotkern.inference.layout import (
    calf_clip_starts,
    calf_stitch,
    dense_border,
    dense_chunk_layout,
    dense_merge,
)
from spotkern.inference.results_files import detection_entry, result_labels, results_document, write_results
from spotkern.inference.stitching import (
    calf_decode_clips,
    predict_half_calf,
    predict_half_dense,
)

__all__ = [
    "calf_clip_starts", "calf_decode_clips", "calf_stitch", "dense_border", "dense_chunk_layout",
    "dense_merge", "detection_entry", "predict_half_calf", "predict_half_dense", "result_labels",
    "results_document", "write_results",
]

