"""SoccerNet label files -> per-half event lists (calf.md 2.3, dense_anchors.md 1).

An event list is two int64 arrays ``frames`` (E,) and ``classes`` (E,), sorted by (frame, class),
without duplicates (the training matrix is binary, so duplicate (frame, class) annotations collapse).
"""
from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from spotkern._files import FileProblem, load_json_file

_GAMETIME = re.compile(r"^\s*([12])\s*-\s*(\d+):(\d{1,2})\s*$")
PLACEMENTS = ("gametime", "position")


class DataFormatError(ValueError):
    """A dataset file is missing or malformed; the message names the file."""


def parse_game_time(game_time: str, *, path: str = "<labels>") -> tuple[int, int]:
    """``"<half> - MM:SS"`` -> (half 1 or 2, seconds). Raises DataFormatError naming ``path``."""
    m = _GAMETIME.match(str(game_time))
    if m is None:
        raise DataFormatError(f"{path}: gameTime {game_time!r} is not of the form '<half> - MM:SS'")
    return int(m.group(1)), 60 * int(m.group(2)) + int(m.group(3))


def load_json(path: str) -> dict:
    """Read a JSON file; a missing, non-regular (FIFO, device), oversized, invalid or too deeply nested
    file raises DataFormatError naming the file."""
    try:
        return load_json_file(path)
    except FileProblem as e:
        problem = "file not found" if e.problem == "missing" else e.problem
        raise DataFormatError(f"{path}: {problem}") from None


def events_from_annotations(
    annotations: list[dict[str, Any]],
    classes: Sequence[str],
    num_frames: tuple[int, ...],
    *,
    fps: float = 2,
    label_placement: str = "gametime",
    path: str = "<labels>",
    label_map: dict | None = None,
    foreign_labels: Collection[str] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Place SoccerNet annotations on feature frames, per half.

    annotations: list of dicts with ``gameTime``, ``label`` and (for ``label_placement="position"``)
        ``position`` in ms. classes: class names (index = class id); other labels are ignored.
    label_map: optional {label string: class id} used instead of the class names, for datasets whose
        label strings are not the class names (SoccerNet-v1: ``V1_LABEL_TO_CALF``, calf.md 2.2, maps
        several strings to one class); labels absent from it are ignored.
    foreign_labels: optional label strings that mean the file is of another format (for SoccerNet-v1,
        the v2 class names): any of them raises ``DataFormatError`` naming the file, so that a v2 file
        saved as ``Labels.json`` is not read as an empty v1 file. Other unmapped strings are ignored
        (calf.md 2.2).
    num_frames: (T_1, T_2) feature rows of each half; frames are clamped to T_h - 1 (calf.md 2.3).
    Returns a list with, per half, (frames (E,), classes (E,)) int64 sorted by (frame, class), unique.
    """
    if label_placement not in PLACEMENTS:
        raise ValueError(f"label_placement must be one of {PLACEMENTS}, got {label_placement!r}")
    if not isinstance(annotations, list):
        raise DataFormatError(f"{path}: 'annotations' must be a list")
    if label_map is None:
        index = {name: i for i, name in enumerate(classes)}
    else:
        index = dict(label_map)
        bad = {k: v for k, v in index.items() if not (isinstance(v, (int, np.integer)) and 0 <= v < len(classes))}
        if bad:
            raise ValueError(f"events_from_annotations: label_map ids must be in [0, {len(classes)}), got {bad}")
    per_half: list[list[tuple[int, int]]] = [[] for _ in num_frames]
    for k, a in enumerate(annotations):
        if not isinstance(a, dict) or "gameTime" not in a or "label" not in a:
            raise DataFormatError(f"{path}: annotation {k} lacks 'gameTime' or 'label'")
        if not isinstance(a["label"], str):
            raise DataFormatError(f"{path}: annotation {k} has a non-string 'label' {a['label']!r}")
        if foreign_labels is not None and a["label"] in foreign_labels:
            raise DataFormatError(f"{path}: annotation {k} has label {a['label']!r}, a SoccerNet-v2 class, not a "
                                  f"SoccerNet-v1 label (a v2 file? read it with soccernet_version=2)")
        c = index.get(a["label"])
        if c is None:
            continue
        half, seconds = parse_game_time(a["gameTime"], path=path)
        if half > len(num_frames):
            continue
        if label_placement == "gametime":
            # round(fps * seconds): exact at integer fps (dense_anchors.md 1).
            frame = int(round(fps * seconds))
        else:
            try:
                ms = int(a["position"])
                frame = int(np.floor(fps * ms / 1000.0))
            except (KeyError, TypeError, ValueError, OverflowError):
                raise DataFormatError(f"{path}: annotation {k} has no integer 'position' (within float range), got "
                                      f"{a.get('position')!r}") from None
        frame = min(max(frame, 0), num_frames[half - 1] - 1)
        per_half[half - 1].append((frame, c))
    out = []
    for ev in per_half:
        arr = np.unique(np.asarray(ev, dtype=np.int64).reshape(-1, 2), axis=0)
        out.append((np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1])))
    return out


def label_matrix(frames: np.ndarray, classes: np.ndarray, num_frames: int, num_classes: int) -> np.ndarray:
    """Binary (T, C) uint8 matrix of an event list."""
    m = np.zeros((num_frames, num_classes), dtype=np.uint8)
    m[frames, classes] = 1
    return m
