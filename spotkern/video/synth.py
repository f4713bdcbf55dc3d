"""Synthetic match videos for the video demo (``spotkern demo --video``) and the video tests, written with PyAV.

Each game is two halves, ``<videos>/<game>/1_video.mp4`` and ``2_video.mp4``, with its SoccerNet-v2 labels in
``<data>/<game>/Labels-v2.json`` and the split lists in ``<data>/splits.json``: ``spotkern extract <videos>
--out <data> --encoder tiny`` then writes ``<data>/<game>/{1,2}_tiny.npy`` beside the labels, a dataset that
``spotkern train`` reads as it is.

A frame shows a drifting grey texture (the "pitch") and, around each event, a visible cue of its class: a
square of the class's own colour in the class's own cell of a 5 x 4 grid over the centred square (what
SoccerNet's crop keeps), whose brightness rises and falls
over two seconds and peaks on the frame that SoccerNet's reader keeps for the event's feature row (its
label's frame at 2 fps; soccernet_features.md 1.2). Events are drawn as ``spotkern synth`` draws them (whole
seconds, SoccerNet-v2's class frequencies, a kick-off at 0:00)."""
from __future__ import annotations

import colorsys
import json
import os
from fractions import Fraction

import numpy as np
from tqdm.auto import tqdm

from spotkern._validation import check_float, check_int
from spotkern.data.soccernet_classes import CLASSES_V2
from spotkern.data.synth import SYNTH_LEAGUE, SYNTH_SEASON, synth_half_events

LABELS_FPS = 2  # feature rows per second, the labels' frame rate
CUE_SECONDS = 1.0  # a cue rises over this long before its peak and falls as long after
GRID = (5, 4)  # cue cells (columns, rows): one per class, 17 <= 20
DEFAULT_SPLITS = {"train": 16, "valid": 4, "test": 8}


def class_colour(c: int) -> np.ndarray:
    """RGB uint8 colour of class ``c``: evenly spaced hues, full saturation."""
    r, g, b = colorsys.hsv_to_rgb((c * 7 % len(CLASSES_V2)) / len(CLASSES_V2), 1.0, 1.0)
    return (np.array([r, g, b]) * 255).astype(np.uint8)


def row_frame(row: int, video_fps: int) -> int:
    """0-based decoded frame that SoccerNet's reader keeps for feature row ``row`` at 2 fps, for a whole
    ratio ``video_fps / 2`` (the 1-based counter i is kept when i % ratio < 1: i = ratio * (row + 1))."""
    return (video_fps // LABELS_FPS) * (row + 1) - 1


def _frames(num_frames: int, width: int, height: int, video_fps: int, events: list[tuple[int, int]],
            g: np.random.Generator):
    """RGB uint8 frames of one half, one at a time; ``events``: (feature row, class)."""
    base = g.integers(60, 120, size=(height // 4 + 2, width // 4 + 2, 1)).astype(np.uint8)
    base = np.repeat(np.repeat(base, 4, axis=0), 4, axis=1)
    side = min(width, height)  # cues in the centred square, which SoccerNet's 224 x 224 crop keeps
    left, top = (width - side) // 2, (height - side) // 2
    cw, ch = side // GRID[0], side // GRID[1]
    half_cue = int(round(CUE_SECONDS * video_fps))
    cues: dict[int, list[tuple[int, float]]] = {}
    for row, c in events:
        peak = row_frame(row, video_fps)
        for j in range(max(peak - half_cue, 0), min(peak + half_cue, num_frames - 1) + 1):
            cues.setdefault(j, []).append((c, 1.0 - abs(j - peak) / (half_cue + 1)))
    for j in range(num_frames):
        dx = (j // video_fps) % 4  # the texture drifts one pixel per second
        img = np.repeat(base[dx:dx + height, dx:dx + width], 3, axis=2).copy()
        for c, w in cues.get(j, ()):
            x0, y0 = left + (c % GRID[0]) * cw, top + (c // GRID[0]) * ch
            colour = (class_colour(c).astype(np.float64) * w).astype(np.uint8)
            img[y0 + 1:y0 + ch - 1, x0 + 1:x0 + cw - 1] = colour
        yield img


def write_match_video(path: str, events: list[tuple[int, int]], *, seconds: float, video_fps: int = 10,
                      size: tuple[int, int] = (128, 72), seed: int = 0) -> str:
    """Write one half (H.264, ``size`` = (width, height), even) with the cues of ``events`` ((feature row at
    2 fps, class) pairs)."""
    import av  # optional dependency: video

    width, height = size
    num_frames = int(round(seconds * video_fps))
    g = np.random.default_rng(seed)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(video_fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18", "g": str(2 * video_fps)}
        for img in _frames(num_frames, width, height, video_fps, events, g):
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_synthetic_match_videos(out_dir: str, *, splits: dict | None = None, half_minutes: float = 4.0,
                                 video_fps: int = 10, size: tuple[int, int] = (128, 72),
                                 labels_per_game: float = 40.0, seed: int = 0, progress: bool = True) -> dict:
    """Write synthetic match videos under ``<out_dir>/videos`` and their labels under ``<out_dir>/data``
    (module docstring). splits: {split: number of games} (default ``DEFAULT_SPLITS``). Returns
    {"videos": videos root, "data": data root, "splits": {split: [game, ...]}}."""
    fn = "write_synthetic_match_videos"
    splits = dict(DEFAULT_SPLITS if splits is None else splits)
    for name, n in splits.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"{fn}: split names must be non-empty strings without '/', got {name!r}")
        check_int(fn, f"splits[{name!r}]", n, minimum=0, maximum=10_000)
    minutes = check_float(fn, "half_minutes", half_minutes, minimum=0.1, maximum=120.0)
    video_fps = check_int(fn, "video_fps", video_fps, minimum=2, maximum=120)
    if video_fps % LABELS_FPS:
        raise ValueError(f"{fn}: video_fps must be a multiple of {LABELS_FPS}, got {video_fps}")
    if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(v, int) and v >= 32 and v % 2 == 0
                                                                      for v in size)):
        raise ValueError(f"{fn}: size must be a (width, height) pair of even integers >= 32, got {size!r}")
    labels_per_game = check_float(fn, "labels_per_game", labels_per_game, minimum=0.0, maximum=10_000.0)
    videos_root, data_root = os.path.join(out_dir, "videos"), os.path.join(out_dir, "data")
    listing: dict[str, list[str]] = {}
    jobs = [(s, i) for s, n in splits.items() for i in range(int(n))]
    rows = int(minutes * 60 * LABELS_FPS)
    for k, (split, i) in enumerate(tqdm(jobs, desc="synth videos", disable=not progress, unit="game")):
        g = np.random.default_rng([seed, k])
        game = f"{SYNTH_LEAGUE}/{SYNTH_SEASON}/{split}-{i:04d} synthetic"
        vdir, gdir = os.path.join(videos_root, game), os.path.join(data_root, game)
        os.makedirs(vdir, exist_ok=True)
        os.makedirs(gdir, exist_ok=True)
        annotations = []
        for half in (1, 2):
            frames, classes = synth_half_events(g, rows, LABELS_FPS, labels_per_game / 2)
            keep = frames < rows - int(CUE_SECONDS * LABELS_FPS) - 1  # a whole cue inside the video
            frames, classes = frames[keep], classes[keep]
            write_match_video(os.path.join(vdir, f"{half}_video.mp4"), list(zip(frames.tolist(), classes.tolist())),
                              seconds=minutes * 60, video_fps=video_fps, size=(size[0], size[1]),
                              seed=int(g.integers(2**31)))
            for f, c in zip(frames.tolist(), classes.tolist()):
                sec = f // LABELS_FPS
                annotations.append({"gameTime": f"{half} - {sec // 60:02d}:{sec % 60:02d}", "label": CLASSES_V2[c],
                                    "position": str(sec * 1000), "team": "home", "visibility": "visible"})
        doc = {"UrlLocal": game + "/", "UrlYoutube": "", "annotations": annotations, "gameAwayTeam": "Away",
               "gameHomeTeam": "Home", "gameDate": "", "gameScore": ""}
        with open(os.path.join(gdir, "Labels-v2.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
        listing.setdefault(split, []).append(game)
    with open(os.path.join(data_root, "splits.json"), "w", encoding="utf-8") as f:
        json.dump(listing, f, indent=1)
    return {"videos": videos_root, "data": data_root, "splits": listing}
