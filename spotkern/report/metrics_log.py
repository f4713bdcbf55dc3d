"""Reading a training stage's metrics log: ``<run>/<stage>/metrics.csv`` (written by the trainer), or,
for a run without that file, the ``history`` kept in ``<run>/<stage>/last.pt``."""
from __future__ import annotations

import csv
import io
import json
import os

from spotkern._files import FileProblem, read_regular_file
from spotkern.train.checkpoint import load_checkpoint
from spotkern.train.log import COLUMNS  # the columns of metrics.csv, as the trainer writes them

_INTS = ("epoch", "step", "global_step")
_FLOATS = ("time", "loss", "lr", "chunks_per_s", "valid_score")
METRICS_FILE = "metrics.csv"


def _value(name: str, text, where: str):
    if text is None or text == "":
        return None
    try:
        if name in _INTS:
            return int(float(text))
        if name in _FLOATS:
            return float(text)
    except ValueError:
        raise ValueError(f"read_metrics_log: {where}: {name} is not a number: {text!r}") from None
    return str(text)


def _from_checkpoint(stage_dir: str) -> list:
    st = load_checkpoint(os.path.join(stage_dir, "last.pt"))
    stage = str(st.get("stage", os.path.basename(os.path.normpath(stage_dir))))
    # a checkpoint's history scores displacement models with the "medium" tolerances (1..10 s), others loose
    metric = "medium" if stage == "displacement" else "loose"
    rows = []
    for e in json.loads(st.get("history", "[]")):
        score = e.get("valid_a_mAP")
        rows.append({"time": None, "stage": stage, "epoch": e.get("epoch"), "step": None, "global_step": None,
                     "loss": e.get("loss"), "lr": e.get("lr"), "chunks_per_s": e.get("chunks_per_s"),
                     "valid_metric": metric if score is not None else None, "valid_score": score})
    return rows


def read_metrics_log(stage_dir: str) -> list:
    """The rows of a stage's metrics log, each a dict of ``COLUMNS`` (numbers parsed, empty cells None).

    Reads ``<stage_dir>/metrics.csv``; without it, the ``history`` JSON of ``<stage_dir>/last.pt``
    (loaded with ``weights_only=True``): one row per epoch, ``step`` and ``global_step`` None. No log
    at all: an empty list. A malformed file is a ValueError naming it."""
    path = os.path.join(stage_dir, METRICS_FILE)
    if os.path.exists(path):
        try:
            text = read_regular_file(path).decode("utf-8")
        except (FileProblem, UnicodeDecodeError) as e:
            raise ValueError(f"read_metrics_log: {e}") from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = [c for c in ("stage", "epoch", "loss") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"read_metrics_log: {path}: missing columns {missing}")
        return [{c: _value(c, r.get(c), f"{path} line {i + 2}") for c in COLUMNS} for i, r in enumerate(reader)]
    if os.path.isfile(os.path.join(stage_dir, "last.pt")):
        return _from_checkpoint(stage_dir)
    return []
