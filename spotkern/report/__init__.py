"""``spotkern report``: a self-contained HTML report of one run or several (per-class AP table, mAP vs
tolerance, PR curves, timelines, training curves, post-processing in use; needs matplotlib:
``pip install 'spotkern[report]'``), or of a prediction from video (``video``: the video in an HTML5 player,
a clickable timeline per class, a score threshold slider; the sidecar ``video_prediction.json`` and its
writer)."""
from spotkern.report.html import build_report
from spotkern.report.metrics_log import read_metrics_log
from spotkern.report.video import (
    VIDEO_PREDICTION_FILE,
    read_video_prediction_manifest,
    video_report,
    write_video_prediction_manifest,
)

__all__ = ["build_report", "read_metrics_log", "VIDEO_PREDICTION_FILE", "read_video_prediction_manifest",
           "video_report", "write_video_prediction_manifest"]
