"""``spotkern report``: a self-contained HTML report of one run or several (per-class AP table, mAP vs
tolerance, PR curves, timelines, training curves, post-processing in use). Needs matplotlib
(``pip install 'spotkern[report]'``)."""
from spotkern.report.html import build_report
from spotkern.report.metrics_log import read_metrics_log

__all__ = ["build_report", "read_metrics_log"]
