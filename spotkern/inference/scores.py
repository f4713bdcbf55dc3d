"""Saved raw scores: the per-half network outputs before post-processing, one compressed ``.npz`` per
game beside its ``results_spotting.json`` (``spotkern predict --save-scores``), so that NMS, windows
and thresholds can be redone (``spotkern tune``, ``spotkern predict --from-scores``) without the network.

File ``<out>/<game>/raw_scores.npz`` (``numpy.savez_compressed``, read with ``allow_pickle=False``):

* ``format`` = "spotkern-raw-scores", ``version`` = 1, ``kind`` = "dense" or "calf";
* ``classes`` (C,) unicode names, ``fps`` float64, ``num_halves`` int64;
* per half h = 1, 2, ...: ``half<h>_confidence`` (T_h, C) float32 and, for models with a displacement
  head, ``half<h>_displacement`` (T_h, C) float32 in rd units and ``half<h>_radius_displacement`` (rd in
  frames, float64).

Scores are stored as float32, as computed: float16 would change which frames NMS keeps and the scores
written, so results redone from the file would differ from the network's. The arrays compress well
(CALF's stitched scores are mostly -1; confidences are smooth).
"""
from __future__ import annotations

import logging
import os
import stat
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TypedDict

import numpy as np
import torch

from spotkern._typing import PathLike
from spotkern.inference.results_files import write_results
from spotkern.postprocess import POSTPROCESS_FILE, resolve_postprocess

if TYPE_CHECKING:  # imported when used
    from spotkern.postprocess import PostProcess

log = logging.getLogger("spotkern")

RAW_SCORES_FILE = "raw_scores.npz"
FORMAT = "spotkern-raw-scores"
FORMAT_VERSION = 1
KINDS = ("dense", "calf")


class RawScores(TypedDict):
    """One game's file as ``load_raw_scores`` reads it: the scores' kind ("dense" or "calf"), class
    names and fps, and one raw dict per half (``spotkern.postprocess``)."""

    kind: str
    classes: list[str]
    fps: float
    halves: list[dict]


def _as_numpy(x, fn: str, name: str) -> np.ndarray:
    if torch.is_tensor(x):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 2:
        raise TypeError(f"{fn}: {name} must be a (T, C) float32 array or tensor, got "
                        f"{getattr(x, 'dtype', type(x).__name__)} of shape {getattr(x, 'shape', None)}")
    return x


def save_raw_scores(out_dir: str, game: str, halves: list, *, classes: Iterable[str], fps: float, kind: str) -> str:
    """Write ``<out_dir>/<game>/raw_scores.npz`` atomically; returns its path.

    halves: the game's halves in order, each a raw dict (``spotkern.postprocess``): "confidence",
    optionally "displacement" and "radius_displacement"."""
    fn = "save_raw_scores"
    if kind not in KINDS:
        raise ValueError(f"{fn}: kind must be one of {KINDS}, got {kind!r}")
    if not halves:
        raise ValueError(f"{fn}: halves is empty for game {game!r}")
    classes = [str(c) for c in classes]
    arrays = {"format": np.array(FORMAT), "version": np.array(FORMAT_VERSION, dtype=np.int64),
              "kind": np.array(kind), "classes": np.array(classes, dtype=str), "fps": np.array(float(fps)),
              "num_halves": np.array(len(halves), dtype=np.int64)}
    for h, raw in enumerate(halves, start=1):
        conf = _as_numpy(raw["confidence"], fn, f"halves[{h - 1}]['confidence']")
        if conf.shape[1] != len(classes):
            raise ValueError(f"{fn}: halves[{h - 1}]['confidence'] has {conf.shape[1]} classes, classes lists "
                             f"{len(classes)}")
        arrays[f"half{h}_confidence"] = conf
        if raw.get("displacement") is not None:
            disp = _as_numpy(raw["displacement"], fn, f"halves[{h - 1}]['displacement']")
            if disp.shape != conf.shape:
                raise ValueError(f"{fn}: halves[{h - 1}]: displacement {disp.shape} and confidence {conf.shape} "
                                 "differ in shape")
            if raw.get("radius_displacement") is None:
                raise ValueError(f"{fn}: halves[{h - 1}]: radius_displacement is required with a displacement")
            arrays[f"half{h}_displacement"] = disp
            arrays[f"half{h}_radius_displacement"] = np.array(float(raw["radius_displacement"]))
    gdir = os.path.join(out_dir, game)
    os.makedirs(gdir, exist_ok=True)
    path = os.path.join(gdir, RAW_SCORES_FILE)
    tmp = f"{path}.tmp.{os.getpid()}.npz"
    np.savez_compressed(tmp, allow_pickle=False, **arrays)
    os.replace(tmp, path)
    return path


def load_raw_scores(path: str) -> RawScores:
    """Read one game's file: {"kind", "classes" (list), "fps" (float), "halves": [raw dict per half]}.
    Malformed files are a ValueError naming the file and the entry."""
    fn = "load_raw_scores"
    try:  # a regular file only: opening a FIFO would block
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError as e:
        raise ValueError(f"{fn}: {path}: unreadable ({e.strerror or e})") from None
    if not regular:
        raise ValueError(f"{fn}: {path}: not a regular file")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"{fn}: {path}: not a readable .npz file ({e})") from None
    with z:
        def get(key):
            if key not in z.files:
                raise ValueError(f"{fn}: {path}: missing entry {key!r}")
            return z[key]

        if str(get("format")) != FORMAT:
            raise ValueError(f"{fn}: {path}: not a spotkern raw-scores file")
        if int(get("version")) != FORMAT_VERSION:
            raise ValueError(f"{fn}: {path}: unsupported version {int(get('version'))}")
        out: RawScores = {"kind": str(get("kind")), "classes": [str(c) for c in get("classes")],
                          "fps": float(get("fps")), "halves": []}
        for h in range(1, int(get("num_halves")) + 1):
            conf = get(f"half{h}_confidence")
            if conf.dtype != np.float32 or conf.ndim != 2 or conf.shape[1] != len(out["classes"]):
                raise ValueError(f"{fn}: {path}: half{h}_confidence must be (T, {len(out['classes'])}) float32, got "
                                 f"{conf.dtype} {conf.shape}")
            raw = {"confidence": conf}
            if f"half{h}_displacement" in z.files:
                disp = z[f"half{h}_displacement"]
                if disp.dtype != np.float32 or disp.shape != conf.shape:
                    raise ValueError(f"{fn}: {path}: half{h}_displacement must be {conf.shape} float32, got "
                                     f"{disp.dtype} {disp.shape}")
                raw["displacement"] = disp
                raw["radius_displacement"] = float(get(f"half{h}_radius_displacement"))
            out["halves"].append(raw)
    return out


def list_raw_scores(scores_dir: str) -> list:
    """The games (paths relative to ``scores_dir``, '/'-separated, sorted) holding a raw-scores file."""
    if not os.path.isdir(scores_dir):
        raise ValueError(f"list_raw_scores: {scores_dir} is not a directory")
    games = []
    for root, _dirs, files in os.walk(scores_dir):
        if RAW_SCORES_FILE in files:
            games.append(os.path.relpath(root, scores_dir).replace(os.sep, "/"))
    return sorted(games)


def postprocess_saved_scores(scores_dir: str, out_dir: str, config: dict, *,
                             postprocess: PostProcess | PathLike | None = None,
                             threshold: float | None = None, top_k: int | None = None, style: str = "spotkern",
                             games: Sequence[str] | None = None, split: str | None = None) -> list:
    """Write ``results_spotting.json`` per game under ``out_dir`` from the raw scores saved under
    ``scores_dir`` (``spotkern predict --from-scores``): no network runs. The post-processing is
    ``postprocess`` or the run's default (``config``: the run's config dict), with ``threshold`` /
    ``top_k`` applied over it, and is recorded in ``<out_dir>/postprocess.json``. Returns the paths.

    games: the games to post-process (those of ``split``, named in the messages), each found at
    ``<scores_dir>/<game>/raw_scores.npz`` or, failing that, in the only folder under ``scores_dir`` whose
    path ends with ``/<game>`` (e.g. ``<scores_dir>/test/<game>``; ``<scores_dir>/<split>/<game>`` among
    several); its results go to ``<out_dir>/<game>``.
    The games found are logged, the missing ones are a warning, none found is a ValueError; saved scores
    of other games are ignored. None: every game under ``scores_dir``."""
    found = list_raw_scores(scores_dir)
    if not found:
        raise ValueError(f"predict: no {RAW_SCORES_FILE} under {scores_dir} (run 'spotkern predict --save-scores')")
    sources = {g: g for g in found} if games is None else _match_games(scores_dir, found, games, split)
    items = list(sources.items())
    first_source = items[0][1]
    first = load_raw_scores(os.path.join(scores_dir, first_source, RAW_SCORES_FILE))
    pp = resolve_postprocess(config, first["classes"], kind=first["kind"],
                             has_displacement="displacement" in first["halves"][0], postprocess=postprocess,
                             threshold=threshold, top_k=top_k)
    paths: list[str] = []
    for game, source in items:
        doc = first if source == first_source else load_raw_scores(os.path.join(scores_dir, source, RAW_SCORES_FILE))
        if (doc["classes"], doc["fps"], doc["kind"]) != (first["classes"], first["fps"], first["kind"]):
            raise ValueError(f"predict: {source}: classes, fps or kind of its raw scores differ from {first_source}'s")
        halves = [pp.apply(raw, doc["fps"]) for raw in doc["halves"]]
        paths.append(write_results(out_dir, game, halves, doc["classes"], doc["fps"], style))
    pp.save(os.path.join(out_dir, POSTPROCESS_FILE))
    return paths


def _names(games: Sequence[str], shown: int = 10) -> str:
    more = f" and {len(games) - shown} more" if len(games) > shown else ""
    return ", ".join(games[:shown]) + more


def _match_games(scores_dir: str, found: list, games: Sequence[str], split: str | None) -> dict:
    """{game: its folder relative to scores_dir} for the games of ``games`` that have saved scores."""
    what = f"split {split!r}" if split is not None else "the games asked"
    sources, missing = {}, []
    for game in dict.fromkeys(str(g).strip("/") for g in games):
        if game in found:
            sources[game] = game
            continue
        ends = [f for f in found if f.endswith("/" + game)]
        if len(ends) > 1 and f"{split}/{game}" in ends:
            ends = [f"{split}/{game}"]
        if len(ends) > 1:
            raise ValueError(f"predict: {scores_dir} holds raw scores of game {game} in several folders "
                             f"({', '.join(ends)}): pass the one of {what} as --from-scores")
        if ends:
            sources[game] = ends[0]
        else:
            missing.append(game)
    if not sources:
        raise ValueError(f"predict: none of the {len(missing)} games of {what} has a {RAW_SCORES_FILE} under "
                         f"{scores_dir} (it holds the scores of {len(found)} other games: {_names(found, 3)})")
    log.info("predict: raw scores of %d of the %d games of %s from %s: %s", len(sources), len(sources) + len(missing),
             what, scores_dir, _names(list(sources.values())))
    if missing:
        warnings.warn(f"predict: {len(missing)} of the {len(sources) + len(missing)} games of {what} have no "
                      f"{RAW_SCORES_FILE} under {scores_dir}, no results written for them: {_names(missing)}",
                      stacklevel=3)
    return sources


def raw_numpy(raw: dict) -> dict:
    """A stage's raw outputs (tensors on any device) as the float32 numpy dict that is saved and
    post-processed; confidence and displacement cut to their common length (dense_anchors.md 6: the two
    models of the two-step method may disagree by one frame)."""
    out = {k: (v.detach().float().cpu().numpy() if torch.is_tensor(v) else v) for k, v in raw.items()}
    if out.get("displacement") is not None:
        n = min(out["confidence"].shape[0], out["displacement"].shape[0])
        out["confidence"] = np.ascontiguousarray(out["confidence"][:n])
        out["displacement"] = np.ascontiguousarray(out["displacement"][:n])
    return out
