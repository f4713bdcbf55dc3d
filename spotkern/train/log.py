"""The training metrics log: ``<run>/<stage>/metrics.csv`` (one row per epoch and per log interval), plus
TensorBoard event files under ``<run>/<stage>/tensorboard/`` when ``tensorboard`` is installed.

Columns: ``time`` (Unix seconds), ``stage``, ``epoch`` (epochs completed when the row was written, 1-based
at an epoch's end), ``step`` (step within the epoch), ``global_step``, ``loss`` (mean training loss of the
steps since the previous row), ``lr`` (learning rate of the last step), ``chunks_per_s``, ``valid_metric``
(``loose`` or ``medium``, empty when no validation ran) and ``valid_score`` (its average-mAP). A resumed
run appends to the file; a fresh run starts it anew.
"""
from __future__ import annotations

import csv
import math
import os
import time
from typing import Any

COLUMNS = ("time", "stage", "epoch", "step", "global_step", "loss", "lr", "chunks_per_s", "valid_metric",
           "valid_score")


class MetricsLog:
    """Appends rows to ``<stage_dir>/metrics.csv`` (and TensorBoard scalars when available)."""

    def __init__(self, stage_dir: str, stage: str, *, resume: bool, tensorboard: bool = True):
        os.makedirs(stage_dir, exist_ok=True)
        self.path = os.path.join(stage_dir, "metrics.csv")
        self.stage = stage
        fresh = not (resume and os.path.isfile(self.path) and os.path.getsize(self.path) > 0)
        if fresh:
            with open(self.path, "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerow(COLUMNS)
        self.tb = _summary_writer(os.path.join(stage_dir, "tensorboard")) if tensorboard else None

    def write(self, *, epoch: int, step: int, global_step: int, loss: float | None = None, lr: float | None = None,
              chunks_per_s: float | None = None, valid_metric: str | None = None,
              valid_score: float | None = None) -> dict:
        row: dict[str, Any] = {"time": round(time.time(), 3), "stage": self.stage, "epoch": epoch, "step": step,
                               "global_step": global_step, "loss": loss, "lr": lr, "chunks_per_s": chunks_per_s,
                               "valid_metric": valid_metric, "valid_score": valid_score}
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(["" if row[c] is None else row[c] for c in COLUMNS])
        if self.tb is not None:
            for name in ("loss", "lr", "chunks_per_s"):
                if row[name] is not None and math.isfinite(row[name]):
                    self.tb.add_scalar(f"{self.stage}/{name}", row[name], global_step)
            if valid_score is not None:
                self.tb.add_scalar(f"{self.stage}/valid_{valid_metric}", valid_score, global_step)
            self.tb.flush()
        return row

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _summary_writer(path: str):
    """A TensorBoard SummaryWriter, or None when the tensorboard package is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # optional dependency: tensorboard (not in an extra)
    except ImportError:
        return None
    return SummaryWriter(path)


def read_metrics_log(stage_dir: str) -> list:
    """Rows of ``<stage_dir>/metrics.csv`` as dicts with numbers parsed (empty cells -> None)."""
    rows = []
    with open(os.path.join(stage_dir, "metrics.csv"), newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            out = {}
            for k, v in r.items():
                if k in ("stage", "valid_metric"):
                    out[k] = v or None
                elif v == "":
                    out[k] = None
                else:
                    out[k] = int(v) if k in ("epoch", "step", "global_step") else float(v)
            rows.append(out)
    return rows
