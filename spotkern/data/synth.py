"""Synthetic SoccerNet-layout datasets with learnable action signatures (``spotkern synth``).

Label statistics follow SoccerNet-v2: 17 classes with the class frequencies of the v2 test split
(22,551 labels over 100 games, so about 225 per game), a kick-off at 0:00 of each half, halves of 45 to
50 minutes, about 17 % of labels "not shown". Features are (T, F) float32: unit Gaussian noise plus a
slow per-game drift, and around each action a per-class signature (two random directions, one rising
before and one fading after the action, so the action frame is identifiable from context, not from a
single spike). A model must learn the signatures from the training split to spot the test split.

``version=1`` writes SoccerNet-v1 games instead: ``Labels.json`` with the v1 label strings (``soccer-ball``,
``soccer-ball-own``, ``y-card``, ``r-card``, ``yr-card``, ``substitution-in`` and the ignored
``penalty-missed``), annotations with ``gameTime``, ``label`` and ``team`` only (no ``position``, no
``visibility``, as in v1), about 13 labels per game in rough v1 proportions, and one signature per CALF
v1 class (goal, card, subs; calf.md 2.2); ``penalty-missed`` leaves no signature.
"""
from __future__ import annotations

import json
import os

import numpy as np
from tqdm.auto import tqdm

from spotkern._validation import check_float, check_int
from spotkern.data.soccernet_classes import CLASSES_V1_CALF, CLASSES_V2, LABEL_FILES, V1_LABEL_STRINGS, V1_LABEL_TO_CALF

# Label counts of the 100 SoccerNet-v2 test games, in CLASSES_V2 order (shared data, see README).
V2_CLASS_COUNTS = np.array(
    [41, 514, 337, 579, 416, 1175, 1058, 1631, 6460, 3809, 2414, 2283, 382, 999, 431, 8, 14], dtype=np.float64
)
# Rough SoccerNet-v1 label proportions, in V1_LABEL_STRINGS order (soccer-ball, soccer-ball-own, y-card,
# r-card, yr-card, substitution-in, penalty-missed); only their order of magnitude matters here.
V1_LABEL_WEIGHTS = np.array([0.19, 0.01, 0.22, 0.005, 0.005, 0.43, 0.02], dtype=np.float64)
V1_LABELS_PER_GAME = 13.0
SYNTH_LEAGUE = "synthetic_league"
SYNTH_SEASON = "2026-2027"
DEFAULT_SPLITS = {"train": 40, "valid": 8, "test": 16}


def class_signatures(num_classes: int, feature_dim: int, seed: int) -> np.ndarray:
    """(C, 2, F) float32: per class a 'before' and an 'after' direction, unit RMS per element."""
    g = np.random.default_rng([seed, 7919])
    s = g.standard_normal((num_classes, 2, feature_dim))
    s /= np.sqrt((s**2).mean(axis=2, keepdims=True))
    return s.astype(np.float32)


def _signature_profile(width: int):
    """Offsets d in [-width, width] and the weights of the 'before' and 'after' directions."""
    d = np.arange(-width, width + 1)
    rise = np.exp(-0.5 * ((d + width / 3) / (width / 3)) ** 2) * (d <= 0)
    fade = np.exp(-0.5 * ((d - width / 3) / (width / 3)) ** 2) * (d >= 0)
    return d, rise.astype(np.float32), fade.astype(np.float32)


def synth_half_events(g: np.random.Generator, num_frames: int, fps: int,
                      mean_labels: float) -> tuple[np.ndarray, np.ndarray]:
    """Events of one half: (frames, classes) int64 at whole seconds (gameTime resolution)."""
    p = V2_CLASS_COUNTS / V2_CLASS_COUNTS.sum()
    n = g.poisson(mean_labels)
    seconds = g.integers(1, max(num_frames // fps - 1, 2), size=n)
    classes = g.choice(len(p), size=n, p=p)
    seconds = np.concatenate([[0], seconds])  # kick-off at 0:00 (SoccerNet-v2 does so every half)
    classes = np.concatenate([[CLASSES_V2.index("Kick-off")], classes])
    order = np.lexsort((classes, seconds))
    return (seconds[order] * fps).astype(np.int64), classes[order].astype(np.int64)


def synth_half_events_v1(g: np.random.Generator, num_frames: int, fps: int,
                         mean_labels: float) -> tuple[np.ndarray, np.ndarray]:
    """v1 events of one half: (frames, label ids into V1_LABEL_STRINGS) int64 at whole seconds, sorted."""
    p = V1_LABEL_WEIGHTS / V1_LABEL_WEIGHTS.sum()
    n = g.poisson(mean_labels)
    seconds = g.integers(1, max(num_frames // fps - 1, 2), size=n)
    labels = g.choice(len(p), size=n, p=p)
    order = np.lexsort((labels, seconds))
    return (seconds[order] * fps).astype(np.int64), labels[order].astype(np.int64)


def synth_features(g: np.random.Generator, num_frames: int, frames: np.ndarray, classes: np.ndarray,
                   signatures: np.ndarray, amplitude: float, width: int) -> np.ndarray:
    """(T, F) float32 features of one half (module docstring)."""
    F = signatures.shape[2]
    x = g.standard_normal((num_frames, F), dtype=np.float32)
    # Slow drift shared by the half (scene/camera changes), so features are not stationary noise.
    knots = g.standard_normal((num_frames // 200 + 2, F)).astype(np.float32) * 0.5
    t = np.arange(num_frames) / 200.0
    i = t.astype(np.int64)
    w = (t - i)[:, None].astype(np.float32)
    x += (1 - w) * knots[i] + w * knots[i + 1]
    d, rise, fade = _signature_profile(width)
    for a, c in zip(frames, classes):
        if c < 0:  # an ignored label (v1 penalty-missed): no signature
            continue
        rows = a + d
        ok = (rows >= 0) & (rows < num_frames)
        x[rows[ok]] += amplitude * (rise[ok, None] * signatures[c, 0] + fade[ok, None] * signatures[c, 1])
    return x


def _annotation_v1(half, frame, label, fps, g):
    sec = int(frame // fps)
    return {"gameTime": f"{half} - {sec // 60:02d}:{sec % 60:02d}", "label": label,
            "team": "home" if g.random() < 0.5 else "away"}


def _annotation(half, frame, c, fps, g):
    sec = int(frame // fps)
    return {
        "gameTime": f"{half} - {sec // 60:02d}:{sec % 60:02d}",
        "label": CLASSES_V2[c],
        "position": str(sec * 1000 + int(g.integers(0, 1000 // (2 * fps)))),  # same frame either placement
        "team": "home" if g.random() < 0.5 else "away",
        "visibility": "not shown" if g.random() < 0.17 else "visible",
    }


# Sane maxima: a typo must not start writing terabytes.
MAX_GAMES = 100_000
MAX_FEATURE_DIM = 1 << 16
MAX_FPS = 1000


def _prepare_out_dir(fn: str, out_dir) -> None:
    """Create ``out_dir`` or refuse with a named error: an existing file, a path that cannot be created
    or written (permissions, a read-only or virtual file system)."""
    if not isinstance(out_dir, (str, os.PathLike)) or not os.fspath(out_dir):
        raise TypeError(f"{fn}: out_dir must be a path, got {out_dir!r}")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"{fn}: out_dir {os.fspath(out_dir)!r} exists and is not a directory")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{fn}: cannot create out_dir {os.fspath(out_dir)!r} ({e.strerror or e})") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ValueError(f"{fn}: out_dir {os.fspath(out_dir)!r} is not writable")


def write_synthetic_soccernet(
    out_dir: str,
    *,
    splits: dict | None = None,
    feature_dim: int = 64,
    fps: int = 2,
    seed: int = 0,
    features_name: str | None = None,
    labels_per_game: float | None = None,
    amplitude: float = 0.6,
    signature_width: int = 8,
    half_minutes: tuple = (45.0, 50.0),
    progress: bool = True,
    version: int = 2,
) -> dict:
    """Write a synthetic dataset in the SoccerNet layout under ``out_dir``.

    splits: {split name: number of games} (default 40 train, 8 valid, 16 test). Files:
    ``<out>/synthetic_league/2026-2027/<game>/{1,2}_<features_name>.npy`` (T, feature_dim) float32,
    ``Labels-v2.json`` per game (``Labels.json`` in the v1 format for ``version=1``, module docstring),
    and ``<out>/splits.json`` listing the games of each split.
    labels_per_game: mean labels per game (None: 225 for v2, 13 for v1).
    features_name defaults to ``ResNET_TF2_PCA512`` for 512-d features, else ``synth<F>``.
    Returns {"splits": {split: [game, ...]}, "features": features_name}.
    """
    fn = "write_synthetic_soccernet"
    splits = dict(DEFAULT_SPLITS if splits is None else splits)
    for name, n in splits.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"{fn}: split names must be non-empty strings without '/', got {name!r}")
        check_int(fn, f"splits[{name!r}]", n, minimum=0, maximum=MAX_GAMES)
    feature_dim = check_int(fn, "feature_dim", feature_dim, minimum=1, maximum=MAX_FEATURE_DIM)
    fps = check_int(fn, "fps", fps, minimum=1, maximum=MAX_FPS)
    seed = check_int(fn, "seed", seed, minimum=0, maximum=2**63 - 1)
    if isinstance(version, bool) or version not in LABEL_FILES:
        raise ValueError(f"{fn}: version must be 1 or 2, got {version!r}")
    amplitude = check_float(fn, "amplitude", amplitude, minimum=0.0, maximum=1e6)
    signature_width = check_int(fn, "signature_width", signature_width, minimum=1, maximum=10_000)
    if not (isinstance(half_minutes, (tuple, list)) and len(half_minutes) == 2):
        raise ValueError(f"{fn}: half_minutes must be a (shortest, longest) pair of minutes, got {half_minutes!r}")
    lo = check_float(fn, "half_minutes[0]", half_minutes[0], minimum=1.0 / fps, maximum=600.0)
    hi = check_float(fn, "half_minutes[1]", half_minutes[1], minimum=lo, maximum=600.0)
    half_minutes = (lo, hi)
    if labels_per_game is None:
        labels_per_game = V1_LABELS_PER_GAME if version == 1 else 225.0
    labels_per_game = check_float(fn, "labels_per_game", labels_per_game, minimum=0.0, maximum=1e5)
    _prepare_out_dir(fn, out_dir)
    features_name = features_name or ("ResNET_TF2_PCA512" if feature_dim == 512 else f"synth{feature_dim}")
    signatures = class_signatures(len(CLASSES_V1_CALF if version == 1 else CLASSES_V2), feature_dim, seed)
    v1_class = np.array([V1_LABEL_TO_CALF.get(lab, -1) for lab in V1_LABEL_STRINGS], dtype=np.int64)
    listing: dict[str, list[str]] = {}
    jobs = [(s, i) for s, n in splits.items() for i in range(int(n))]
    for k, (split, i) in enumerate(tqdm(jobs, desc="synth", disable=not progress, unit="game")):
        g = np.random.default_rng([seed, k])
        game = f"{SYNTH_LEAGUE}/{SYNTH_SEASON}/{split}-{i:04d} synthetic"
        gdir = os.path.join(out_dir, game)
        os.makedirs(gdir, exist_ok=True)
        annotations = []
        for half in (1, 2):
            T = int(fps * 60 * g.uniform(*half_minutes))
            if version == 1:
                frames, labels = synth_half_events_v1(g, T, fps, labels_per_game / 2)
                classes = v1_class[labels]
            else:
                frames, classes = synth_half_events(g, T, fps, labels_per_game / 2)
            x = synth_features(g, T, frames, classes, signatures, amplitude, signature_width * fps // 2)
            np.save(os.path.join(gdir, f"{half}_{features_name}.npy"), x)
            if version == 1:
                annotations += [_annotation_v1(half, f, V1_LABEL_STRINGS[k], fps, g) for f, k in zip(frames, labels)]
            else:
                annotations += [_annotation(half, f, c, fps, g) for f, c in zip(frames, classes)]
        doc = {"UrlLocal": game + "/", "UrlYoutube": "", "annotations": annotations,
               "gameAwayTeam": "Away", "gameHomeTeam": "Home", "gameDate": "", "gameScore": ""}
        with open(os.path.join(gdir, LABEL_FILES[version]), "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
        listing.setdefault(split, []).append(game)
    with open(os.path.join(out_dir, "splits.json"), "w", encoding="utf-8") as f:
        json.dump(listing, f, indent=1)
    return {"splits": listing, "features": features_name}
