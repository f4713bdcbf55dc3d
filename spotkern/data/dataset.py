"""Datasets of halves (videos) with memory-mapped features and event lists.

Two on-disk layouts are read:

* **SoccerNet** (dense_anchors.md 1): ``<root>/<league>/<season>/<game>/{1,2}_<features>.npy`` and
  ``Labels-v2.json`` (``soccernet_version=2``, 17 classes) or SoccerNet-v1's ``Labels.json``
  (``soccernet_version=1``: CALF's 3 classes goal/card/subs through the mapping of calf.md 2.2). Game
  lists per split come from ``<root>/splits.json`` when present (``spotkern synth`` writes one), else
  from the SoccerNet package's official lists.
* **Generic** (any sport): ``<root>/dataset.json`` = ``{"fps": 2, "classes": [...], "videos": [{"name":
  "v1", "features": "v1.npy", "split": "train", "events": [{"label": "x", "frame": 12} or {"label": "x",
  "time": 6.0}]}]}``; each video is one "half" (half 1).

Features are opened with ``np.load(mmap_mode="r")``: RAM stays bounded whatever the dataset size,
pages are read when a chunk is gathered. The stored arrays are read-only.
"""
from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from spotkern._typing import Split
from spotkern.data.labels import DataFormatError, events_from_annotations, load_json
from spotkern.data.soccernet_classes import CLASSES_V1_CALF, CLASSES_V2, LABEL_FILES, V1_LABEL_TO_CALF

SPLITS_FILE = "splits.json"
GENERIC_FILE = "dataset.json"
FINITE_CHECK_ELEMENTS = 1 << 22  # values per block of the NaN check (bounds its temporary memory)


@dataclasses.dataclass
class Half:
    """One half (or one generic video).

    features: (T, F) memory-mapped float array (read-only). frames, classes: (E,) int64 events
    sorted by (frame, class). game: the game's path relative to the dataset root. half: 1 or 2.
    """

    game: str
    half: int
    features: np.ndarray
    frames: np.ndarray
    classes: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[0])


@dataclasses.dataclass
class SpottingDataset:
    """A list of halves sharing classes, fps and feature dimension."""

    halves: list
    classes: tuple
    fps: float
    root: str
    games: list
    layout: str = "soccernet"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def feature_dim(self) -> int:
        return int(self.halves[0].features.shape[1])

    @property
    def lengths(self) -> np.ndarray:
        """(H,) int64 frames per half."""
        return np.array([h.num_frames for h in self.halves], dtype=np.int64)

    def num_events(self) -> int:
        return int(sum(len(h.frames) for h in self.halves))


def open_features(path: str, feature_dim: int | None = None, check_finite: bool = True) -> np.ndarray:
    """Memory-map one (T, F) feature file; errors name the file: missing or not a regular file, not a
    readable .npy (empty, truncated, pickled objects), not a non-empty 2-D float array, another feature
    dimension than ``feature_dim``, and (``check_finite``) NaN or infinite values, which would turn
    every loss and score they reach into NaN."""
    if not os.path.isfile(path):
        raise DataFormatError(f"{path}: feature file not found" if not os.path.exists(path) else
                              f"{path}: feature file is not a regular file")
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataFormatError(f"{path}: not a readable .npy array ({str(e) or type(e).__name__})") from None
    if not isinstance(x, np.ndarray):  # an .npz archive
        raise DataFormatError(f"{path}: not a .npy array (got {type(x).__name__})")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise DataFormatError(f"{path}: features must be a non-empty (T, F) array, got shape {x.shape}")
    if x.dtype.kind != "f":
        raise DataFormatError(f"{path}: features must be floating point, got {x.dtype}")
    if feature_dim is not None and x.shape[1] != feature_dim:
        raise DataFormatError(f"{path}: feature dimension {x.shape[1]} differs from {feature_dim} of the other files")
    if check_finite:
        rows = max(1, FINITE_CHECK_ELEMENTS // x.shape[1])  # blocks: bounded memory for long videos
        for r in range(0, x.shape[0], rows):
            block = x[r:r + rows]
            if not np.isfinite(block).all():
                bad = r + int(np.nonzero(~np.isfinite(block).all(axis=1))[0][0])
                raise DataFormatError(f"{path}: features contain NaN or infinite values (first at row {bad})")
    return x


def list_games(root: str, split: Split) -> list[str]:
    """Game paths (relative to ``root``) of a split name or an explicit list."""
    if isinstance(split, (list, tuple)):
        return [str(g) for g in split]
    path = os.path.join(root, SPLITS_FILE)
    if os.path.isfile(path):
        splits = load_json(path)
        if not isinstance(splits, dict) or split not in splits or not isinstance(splits[split], list):
            raise DataFormatError(f"{path}: has no list for split {split!r}")
        return [str(g) for g in splits[split]]
    try:
        from SoccerNet.utils import getListGames  # optional dependency: soccernet
    except ImportError:
        raise DataFormatError(
            f"{root}: no {SPLITS_FILE} and the SoccerNet package is not installed to list split {split!r}"
        ) from None
    return list(getListGames(split))


def detect_features(game_dir: str) -> str:
    """The feature name of a game directory: ``ResNET_TF2_PCA512`` if present, else the only
    ``1_<name>.npy`` there."""
    if not os.path.isdir(game_dir):
        raise DataFormatError(f"{game_dir}: game directory not found")
    names = sorted(f[2:-4] for f in os.listdir(game_dir) if f.startswith("1_") and f.endswith(".npy"))
    if "ResNET_TF2_PCA512" in names:
        return "ResNET_TF2_PCA512"
    if len(names) != 1:
        raise DataFormatError(f"{game_dir}: cannot choose the features among {names}; pass features=")
    return names[0]


def read_soccernet(
    root: str,
    split: Split = "train",
    *,
    features: str = "auto",
    labels_file: str | None = None,
    classes: Sequence[str] | None = None,
    fps: float = 2,
    label_placement: str = "gametime",
    require_labels: bool = True,
    soccernet_version: int = 2,
) -> SpottingDataset:
    """Read a SoccerNet-layout split: two halves per game, memory-mapped features, event lists.

    features: the file stem after ``<half>_`` (e.g. ``ResNET_TF2_PCA512``), or ``"auto"``.
    soccernet_version: 2 (default): ``Labels-v2.json``, the 17 v2 classes (calf.md 2.1), labels matched
        by name. 1: SoccerNet-v1's ``Labels.json`` and CALF's v1 classes ``("goal", "card", "subs")``;
        ``soccer-ball``/``soccer-ball-own`` -> goal, ``r-card``/``y-card``/``yr-card`` -> card,
        ``substitution-in`` -> subs, any other string (``penalty-missed``) ignored (calf.md 2.2), except
        a SoccerNet-v2 class name, which raises (a v2 file saved as Labels.json).
    labels_file, classes: override the version's label file name / class list (classes=None: the
        version's; a custom class list matches labels by name, also for version 1).
    require_labels: True (training, validation, evaluation): a game without its label file is an error.
        False (prediction): such a game is read with no events.

    Missing halves, unreadable arrays, bad JSON and inconsistent feature sizes raise
    ``DataFormatError`` (a ValueError) naming the offending file.
    """
    if isinstance(soccernet_version, bool) or soccernet_version not in LABEL_FILES:
        raise ValueError(f"read_soccernet: soccernet_version must be 1 or 2, got {soccernet_version!r}")
    label_map = known = None
    if classes is None:
        classes = CLASSES_V1_CALF if soccernet_version == 1 else CLASSES_V2
        label_map = V1_LABEL_TO_CALF if soccernet_version == 1 else None
        # a v2 class name in a v1 file means a v2 file saved as Labels.json: refuse it rather than read
        # an empty v1 game (other unmapped strings are ignored, calf.md 2.2)
        known = CLASSES_V2 if soccernet_version == 1 else None
    if labels_file is None:
        labels_file = LABEL_FILES[soccernet_version]
    if not os.path.isdir(root):
        raise DataFormatError(f"{root}: dataset root is not a directory")
    games = list_games(root, split)
    if not games:
        raise DataFormatError(f"{root}: split {split!r} lists no games")
    if features == "auto":
        features = detect_features(os.path.join(root, games[0]))
    halves, dim = [], None
    for game in games:
        gdir = os.path.join(root, game)
        if not os.path.isdir(gdir):
            raise DataFormatError(f"{gdir}: game directory not found")
        feats = []
        for h in (1, 2):
            x = open_features(os.path.join(gdir, f"{h}_{features}.npy"), dim)
            dim = x.shape[1]
            feats.append(x)
        lpath = os.path.join(gdir, labels_file)
        if require_labels and not os.path.isfile(lpath):
            raise DataFormatError(_missing_labels_message(lpath, gdir, labels_file))
        if os.path.isfile(lpath):
            doc = load_json(lpath)
            if not isinstance(doc, dict) or "annotations" not in doc:
                raise DataFormatError(f"{lpath}: has no 'annotations' list")
            events = events_from_annotations(
                doc["annotations"], classes, tuple(f.shape[0] for f in feats), fps=fps,
                label_placement=label_placement, path=lpath, label_map=label_map, foreign_labels=known,
            )
        else:
            events = [(np.zeros(0, np.int64), np.zeros(0, np.int64))] * 2
        for h in (0, 1):
            halves.append(Half(game, h + 1, feats[h], *events[h]))
    return SpottingDataset(halves, tuple(classes), fps, root, games, "soccernet")


def _missing_labels_message(lpath: str, gdir: str, labels_file: str) -> str:
    """'file not found', plus a hint when the game has the other SoccerNet version's label file."""
    msg = f"{lpath}: label file not found"
    for version, other in LABEL_FILES.items():
        if other != labels_file and os.path.isfile(os.path.join(gdir, other)):
            msg += f" (the game has {other}: SoccerNet-v{version} labels, read them with soccernet_version={version})"
    return msg


def read_generic(root: str, split: Split = "train") -> SpottingDataset:
    """Read the generic format (module docstring); ``split`` selects videos by their ``split`` field
    (or is an explicit list of names)."""
    path = os.path.join(root, GENERIC_FILE)
    doc = load_json(path)
    try:
        fps = float(doc["fps"])
        classes = tuple(str(c) for c in doc["classes"])
        videos = list(doc["videos"])
    except (KeyError, TypeError, ValueError):
        raise DataFormatError(f"{path}: needs 'fps', 'classes' and 'videos'") from None
    if not (math.isfinite(fps) and 0 < fps <= 1000) or not classes:
        raise DataFormatError(f"{path}: 'fps' must be a positive number (at most 1000) and 'classes' non-empty")
    index = {c: i for i, c in enumerate(classes)}
    wanted = set(split) if isinstance(split, (list, tuple)) else None
    halves, games, dim = [], [], None
    for k, v in enumerate(videos):
        if not isinstance(v, dict) or "name" not in v or not isinstance(v.get("features"), str) or not v["features"]:
            raise DataFormatError(f"{path}: video {k} needs 'name' and 'features' (a file name)")
        if not isinstance(v.get("events", []), list):
            raise DataFormatError(f"{path}: video {k}: 'events' must be a list")
        name = str(v["name"])
        if (wanted is not None and name not in wanted) or (wanted is None and v.get("split", "train") != split):
            continue
        x = open_features(os.path.join(root, v["features"]), dim)
        dim = x.shape[1]
        ev = []
        for j, e in enumerate(v.get("events", [])):
            if not isinstance(e, dict) or e.get("label") not in index or ("frame" not in e and "time" not in e):
                raise DataFormatError(f"{path}: video {name!r} event {j} needs a known 'label' and 'frame' or 'time'")
            try:
                f = int(e["frame"]) if "frame" in e else int(round(float(e["time"]) * fps))
            except (TypeError, ValueError, OverflowError):
                raise DataFormatError(f"{path}: video {name!r} event {j}: 'frame' must be an integer or 'time' a "
                                      f"finite number of seconds, got {e.get('frame', e.get('time'))!r}") from None
            ev.append((min(max(f, 0), x.shape[0] - 1), index[e["label"]]))
        arr = np.unique(np.asarray(ev, dtype=np.int64).reshape(-1, 2), axis=0)
        halves.append(Half(name, 1, x, np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1])))
        games.append(name)
    if not halves:
        raise DataFormatError(f"{path}: no video in split {split!r}")
    return SpottingDataset(halves, classes, fps, root, games, "generic")


def split_games(root: str, split: Split) -> list[str]:
    """The games (SoccerNet layout: paths relative to ``root``) or video names (generic ``dataset.json``)
    of ``split``, without opening any feature or label file."""
    if isinstance(split, (list, tuple)):
        return [str(g) for g in split]
    if not os.path.isfile(os.path.join(root, GENERIC_FILE)):
        return list_games(root, split)
    path = os.path.join(root, GENERIC_FILE)
    doc = load_json(path)
    videos = doc.get("videos") if isinstance(doc, dict) else None
    if not isinstance(videos, list):
        raise DataFormatError(f"{path}: needs a 'videos' list")
    return [str(v["name"]) for v in videos if isinstance(v, dict) and "name" in v and v.get("split", "train") == split]


def read_dataset(root: str, split: Split = "train", **kwargs: Any) -> SpottingDataset:
    """Generic format when ``<root>/dataset.json`` exists, else the SoccerNet layout.

    ``kwargs`` go to ``read_soccernet``; the generic format takes none of them, except
    ``soccernet_version=2`` (the default), ignored: ``soccernet_version=1`` is refused there (v1 is a
    SoccerNet label format)."""
    if os.path.isfile(os.path.join(root, GENERIC_FILE)):
        if kwargs.get("soccernet_version", 2) != 2:
            raise ValueError(f"read_dataset: soccernet_version={kwargs['soccernet_version']!r} needs the SoccerNet "
                             f"layout, but {root} holds the generic {GENERIC_FILE}")
        return read_generic(root, split)
    return read_soccernet(root, split, **kwargs)
