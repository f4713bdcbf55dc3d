"""``results_spotting.json`` writer (calf.md 10.5, test vector CALF-T13)."""
from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import torch

from spotkern._files import write_json_atomic
from spotkern._typing import ArrayLike
from spotkern.data.soccernet_classes import CLASSES_V1_CALF, V1_RESULT_LABELS

STYLES = ("spotkern", "sn")


def result_labels(classes: Iterable[str]) -> tuple:
    """The ``label`` strings written for class ids 0..C-1: the class names, except CALF's SoccerNet-v1
    classes ``("goal", "card", "subs")``, which are written as the official evaluator's version-1 labels
    ``("soccer", "card", "subs")`` (calf.md 2.2 last paragraph, 10.5: the v1 evaluator knows no "goal")."""
    classes = tuple(classes)
    return V1_RESULT_LABELS if classes == CLASSES_V1_CALF else classes


def _score_text(v) -> str:
    # Shortest text that round-trips the stored precision (float32 scores print as 0.734, not 0.73400002).
    return str(v) if isinstance(v, (np.float32, np.float16)) else repr(float(v))


def detection_entry(half: int, frame: int, label: str, confidence: float | np.floating, fps: float = 2,
                    style: str = "spotkern") -> dict:
    """One prediction entry. ``style="spotkern"``: zero-padded ``gameTime``, ``position`` =
    str(round(frame * 1000 / fps)), ``confidence`` a JSON number; ``style="sn"``: sn-spotting's
    all-string entry (unpadded M:S, position str(int(frame / fps * 1000)))."""
    if style not in STYLES:
        raise ValueError(f"detection_entry: style must be one of {STYLES}, got {style!r}")
    sec = int(frame // fps)
    if style == "sn":
        return {"gameTime": f"{half} - {sec // 60}:{sec % 60}", "label": label,
                "position": str(int(frame / fps * 1000)), "half": str(half), "confidence": _score_text(confidence)}
    return {"gameTime": f"{half} - {sec // 60:02d}:{sec % 60:02d}", "label": label,
            "position": str(int(round(frame * 1000 / fps))), "half": str(half),
            "confidence": float(_score_text(confidence))}


def detections_from_scores(scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames, classes, values) of every cell >= 0 of a post-NMS (T, C) array, row-major
    (frame-major, then class: calf.md 10.5 entry order)."""
    a = scores.detach().cpu().numpy() if torch.is_tensor(scores) else np.asarray(scores)
    t, c = np.nonzero(a >= 0)
    return t, c, a[t, c]


def results_document(url_local: str, halves_scores: Iterable[ArrayLike], classes: Iterable[str], fps: float = 2,
                     style: str = "spotkern") -> dict:
    """The JSON document of one game: ``halves_scores`` is the list of post-NMS (T_h, C) arrays of
    halves 1, 2, ... (-1 = no detection); ``classes`` the C class names (labels via ``result_labels``)."""
    if style not in STYLES:  # checked here too: a half without detections never reaches detection_entry
        raise ValueError(f"results_document: style must be one of {STYLES}, got {style!r}")
    labels = result_labels(classes)
    preds = []
    for h, scores in enumerate(halves_scores, start=1):
        for t, c, v in zip(*detections_from_scores(scores)):
            preds.append(detection_entry(h, int(t), labels[int(c)], v, fps, style))
    return {"UrlLocal": url_local, "predictions": preds}


def write_results(out_dir: str, game: str, halves_scores: Iterable[ArrayLike], classes: Iterable[str], fps: float = 2,
                  style: str = "spotkern") -> str:
    """Write ``<out_dir>/<game>/results_spotting.json`` (``Predictions-v2.json`` for style "sn")
    atomically; returns its path."""
    if style not in STYLES:  # before choosing the file name from it
        raise ValueError(f"write_results: style must be one of {STYLES}, got {style!r}")
    doc = results_document(game.rstrip("/") + "/", halves_scores, classes, fps, style)
    gdir = os.path.join(out_dir, game)
    os.makedirs(gdir, exist_ok=True)
    path = os.path.join(gdir, "Predictions-v2.json" if style == "sn" else "results_spotting.json")
    return write_json_atomic(path, doc)
