"""``spotkern tune``: search the post-processing (NMS method, window and threshold per class) on saved
raw scores, maximising the SoccerNet-style average-mAP of a split.

The search is exact and separable. The a-mAP is the mean over classes of per-class quantities
(``spotkern.metrics.per_class``), so every class is searched on its own, over
``methods x windows x thresholds``, and the best setting of each class is the best joint setting.
Every candidate is scored with the evaluator's own AP arithmetic, bit for bit.

Speed. For one class, the frames >= the lowest searched threshold of every half are listed once
(frames below an op threshold are never kept and never decay anything), and one call of the sparse NMS
per method runs every window on that list (the op ``spotkern.nms_sparse``, called on its unchecked path:
bit for bit the dense op's output at those frames, its scans covering only listed frames). The thresholds need no NMS
run of their own (``postprocess`` module docstring) and no matching of their own (``per_class`` module
docstring): one sweep scores them all, and one scan per isolated ground-truth action serves every
tolerance.

The baseline (by default the run's own post-processing, ``postprocess.default_postprocess``) is scored
exactly too, on its full output (its threshold may lie below the searched ones); a class keeps the
baseline's setting unless a candidate beats it, so the tuned setting is never worse on the tuning
split, class by class and overall.

Ground truth: the split's label files read as ``spotkern evaluate`` reads them (SoccerNet layout,
``label_placement="position"`` by default), or the events of a generic ``dataset.json``. Halves are
scored at their true length (``evaluate(array_length="exact")``; identical to the official 120-minute
arrays for halves shorter than 120 minutes).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from collections.abc import Iterable, Sequence

import numpy as np

from spotkern._files import load_json_object
from spotkern._typing import Metric, Split
from spotkern.data.dataset import GENERIC_FILE, read_generic
from spotkern.inference.results_files import result_labels
from spotkern.inference.scores import RAW_SCORES_FILE, list_raw_scores, load_raw_scores
from spotkern.metrics.cli import _metric
from spotkern.metrics.dictionaries import LABEL_FILES, class_names
from spotkern.metrics.io import Source, parse_labels
from spotkern.metrics.per_class import class_ap_sweep_rows, class_average_map
from spotkern.metrics.soccernet import _aggregate, _group, resolve_tolerances
from spotkern.ops import unchecked
from spotkern.ops.nms import METHODS
from spotkern.postprocess import (
    PostProcess,
    default_postprocess,
    op_threshold,
    pre_nms_scores,
    window_frames,
)
from spotkern.train.run_config import require_run

log = logging.getLogger("spotkern")

SEARCH_METHODS = ("hard", "linear", "gaussian")
#: seconds; 20 windows from 1 s (tight spotting) to 60 s (the loose metric's widest tolerance)
SEARCH_WINDOWS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0, 25.0, 30.0,
                  40.0, 50.0, 60.0)
#: the lowest one bounds the frames the search looks at; the baseline is scored in full
SEARCH_THRESHOLDS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


@dataclasses.dataclass
class TuningSet:
    """Pre-NMS scores and ground truth of a split, ready for the search.

    scores: (H, T_max, C) float32 pre-NMS scores of the H halves, padded with -1 (never kept);
    lengths: (H,) frames per half; gt_ptr: (C * H + 1,) CSR pointer of the ground truth grouped by
    (class, half), gt_frames its frames (one per cell, increasing); classes, fps; games: the game of
    each half ("name", half number)."""

    scores: np.ndarray
    lengths: np.ndarray
    gt_ptr: np.ndarray
    gt_frames: np.ndarray
    classes: list
    fps: float
    halves: list
    kind: str = "dense"
    has_displacement: bool = False

    @property
    def num_halves(self) -> int:
        return int(self.scores.shape[0])

    def class_ground_truth(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """(gt_ptr (H + 1,), frames) of class c, the pointer starting at 0."""
        H = self.num_halves
        ptr = self.gt_ptr[c * H:(c + 1) * H + 1]
        return ptr - ptr[0], self.gt_frames[ptr[0]:ptr[-1]]

    def half_scores(self, h: int) -> np.ndarray:
        return self.scores[h, :self.lengths[h]]


# ----------------------------------------------------------------------------- loading
def soccernet_ground_truth(root: str, games: list, classes: Sequence[str], *, version: int = 2,
                           label_placement: str = "position",
                           framerate: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(halves, frames, classes) int64 of the label files of ``games`` (halves numbered 2 * game + half - 1),
    read as ``spotkern evaluate`` reads them, with class ids in the order of ``classes`` (the run's)."""
    fn = "tune"
    written = list(result_labels(classes))
    names = class_names(version)
    missing = [n for n in names if n not in written]
    if missing:
        raise ValueError(f"{fn}: the run's classes {list(classes)} do not cover the SoccerNet-v{version} classes "
                         f"{missing}")
    to_run = np.array([written.index(n) for n in names], dtype=np.int64)
    out: tuple[list[int], list[int], list[int], list[float]] = ([], [], [], [])  # halves, frames, classes, values
    negatives: list = []  # exact half lengths (module docstring): no clamping; a negative frame is refused
    with Source(fn, "data", root) as labels:
        for g, game in enumerate(games):
            data, where = labels.load_json(game, LABEL_FILES[version])
            parse_labels(fn, data, where, half_offset=2 * g, version=version, framerate=framerate,
                         placement=label_placement, strict=False, out=out, negatives=negatives)
            if negatives:
                raise ValueError(f"{fn}: {where}: a label lies before the start of its half")
    halves, frames, cls, _ = (np.asarray(x) for x in out)
    return halves.astype(np.int64), frames.astype(np.int64), to_run[cls.astype(np.int64)]


def generic_ground_truth(root: str, split: Split, games: list,
                         classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(halves, frames, classes) of the videos ``games`` of a generic ``dataset.json`` root (one half each)."""
    ds = read_generic(root, split)
    if list(ds.classes) != [str(c) for c in classes]:
        raise ValueError(f"tune: the dataset's classes {list(ds.classes)} differ from the scores' {list(classes)}")
    by_name = {h.game: h for h in ds.halves}
    halves, frames, cls = [], [], []
    for g, game in enumerate(games):
        if game not in by_name:
            raise ValueError(f"tune: video {game!r} of the scores is not in split {split!r} of {root}")
        h = by_name[game]
        halves.append(np.full(len(h.frames), g, dtype=np.int64))
        frames.append(h.frames)
        cls.append(h.classes)
    cat = lambda a: np.concatenate(a).astype(np.int64) if a else np.zeros(0, np.int64)  # noqa: E731
    return cat(halves), cat(frames), cat(cls)


def load_tuning_set(scores_dir: str, data: str, split: str = "valid", *, version: int = 2,
                    label_placement: str = "position") -> TuningSet:
    """Read the raw scores under ``scores_dir`` (``predict --save-scores``) and the split's ground truth
    from ``data`` (SoccerNet layout or generic ``dataset.json``)."""
    games = list_raw_scores(scores_dir)
    if not games:
        raise ValueError(f"tune: no raw_scores.npz under {scores_dir} (run 'spotkern predict --save-scores')")
    generic = os.path.isfile(os.path.join(data, GENERIC_FILE))
    meta = load_raw_scores(os.path.join(scores_dir, games[0], RAW_SCORES_FILE))
    halves: list[dict] = []
    names: list[tuple[str, int]] = []
    for game in games:
        doc = meta if game == games[0] else load_raw_scores(os.path.join(scores_dir, game, RAW_SCORES_FILE))
        if doc["classes"] != meta["classes"] or doc["fps"] != meta["fps"] or doc["kind"] != meta["kind"]:
            raise ValueError(f"tune: {game}: classes, fps or kind differ from the other games' raw scores")
        want = 1 if generic else 2  # a generic video is one half; SoccerNet halves are 2 * game + half - 1
        if len(doc["halves"]) != want:
            raise ValueError(f"tune: {game}: {len(doc['halves'])} halves of raw scores, expected {want}")
        for h, raw in enumerate(doc["halves"], start=1):
            halves.append(raw)
            names.append((game, h))
    if generic:
        gh, gf, gc = generic_ground_truth(data, split, games, meta["classes"])
    else:
        gh, gf, gc = soccernet_ground_truth(data, games, meta["classes"], version=version,
                                            label_placement=label_placement, framerate=int(round(meta["fps"])))
    H, C = len(halves), len(meta["classes"])
    pre = [pre_nms_scores(raw) for raw in halves]
    lengths = np.array([p.shape[0] for p in pre], dtype=np.int64)
    scores = np.full((H, int(lengths.max()), C), -1.0, dtype=np.float32)
    for h, p in enumerate(pre):
        scores[h, :p.shape[0]] = p
    ptr, frames, _ = _group(C, H, gh, gf, gc, np.ones(len(gf)), False)
    return TuningSet(scores, lengths, ptr, frames, meta["classes"], meta["fps"], names, meta["kind"],
                     any("displacement" in raw for raw in halves))


# ----------------------------------------------------------------------------- search
def _cells_by_class(blocks: Iterable, C: int, floor: float) -> list:
    """The cells >= floor of (T_h, C) float32 blocks, given as (half index, block) in increasing half order,
    per class c: (halves, frames) int64 in (half, frame) order and their float32 values. Each block is
    transposed once (a class column of the time-major layout is strided)."""
    parts: list = [([], [], []) for _ in range(C)]
    f32 = np.float32(floor)
    for h, block in blocks:
        cols = np.ascontiguousarray(block.T)
        for c in range(C):
            t_idx = np.flatnonzero(cols[c] >= f32)
            parts[c][0].append(np.full(t_idx.size, h, dtype=np.int64))
            parts[c][1].append(t_idx.astype(np.int64))
            parts[c][2].append(cols[c, t_idx])
    cat = lambda a, dt: np.concatenate(a) if a else np.zeros(0, dt)  # noqa: E731
    return [(cat(hs, np.int64), cat(ts, np.int64), cat(vs, np.float32)) for hs, ts, vs in parts]


def _scores_of(ts: TuningSet, pp: PostProcess, deltas: np.ndarray) -> np.ndarray:
    """(C, K) AP of every class under ``pp`` (applied as ``predict`` applies it, without top-k)."""
    pp = pp.replace(top_k=None)
    outputs = ((h, pp.apply_scores(np.ascontiguousarray(ts.half_scores(h)), ts.fps)) for h in range(ts.num_halves))
    ap = np.zeros((len(ts.classes), len(deltas)))
    for c, (hc, tc, vc) in enumerate(_cells_by_class(outputs, len(ts.classes), 0.0)):
        ptr, frames = ts.class_ground_truth(c)
        ap[c] = class_ap_sweep_rows(vc[None, :], hc, tc, ts.num_halves, ptr, frames, deltas, [0.0])[0, 0]
    return ap


def overall_average_map(ap: np.ndarray) -> float:
    """a-mAP ("all") from per-class APs (C, K), aggregated exactly as the evaluator aggregates them."""
    full = np.zeros((3,) + ap.T.shape)
    full[0] = ap.T
    return float(_aggregate(full)["a_mAP"])


def search(ts: TuningSet, baseline: PostProcess, *, metric: Metric = "loose", methods: Sequence[str] = SEARCH_METHODS,
           windows: Sequence[float] = SEARCH_WINDOWS, thresholds: Sequence[float] = SEARCH_THRESHOLDS) -> PostProcess:
    """The best post-processing per class (module docstring). Returns a PostProcess whose ``info`` holds
    the metric, the searched lists, the baseline's and the tuned per-class and overall a-mAP, the best
    a-mAP of each (class, method, window) over the thresholds, and the search time."""
    fn = "tune"
    t0 = time.perf_counter()
    baseline.check_classes(ts.classes, fn)
    tolerances = resolve_tolerances(fn, metric)
    deltas = tolerances * ts.fps
    methods = list(methods)
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"{fn}: methods must be among {', '.join(METHODS)}, got {m!r}")
    windows = sorted({float(w) for w in windows})
    taus = sorted({float(t) for t in thresholds})
    if not methods or not windows or not taus:
        raise ValueError(f"{fn}: methods, windows and thresholds must not be empty")
    if windows[0] <= 0 or taus[0] <= 0 or not np.all(np.isfinite(windows + taus)):
        raise ValueError(f"{fn}: windows and thresholds must be finite and > 0, got {windows} and {taus}")
    frames = {m: [window_frames(w, ts.fps) for w in windows] for m in methods}
    for m in methods:
        if min(frames[m]) < (2 if m == "calf" else 0):
            raise ValueError(f"{fn}: method 'calf' needs windows of >= 2 frames, got {windows[0]} s at {ts.fps:g} fps")
    taus_f32 = np.array([np.float32(t) for t in taus], dtype=np.float64)  # the float32 comparison of apply()
    floor32 = np.float32(taus[0])

    base_ap = _scores_of(ts, baseline, deltas)
    base = class_average_map(base_ap)
    C, K = len(ts.classes), len(deltas)
    grid = np.zeros((C, len(methods), len(windows), len(taus)))
    aps = np.zeros((C, len(methods), len(windows), len(taus), K))
    alive = _cells_by_class(((h, ts.half_scores(h)) for h in range(ts.num_halves)), C, floor32)
    T = int(ts.scores.shape[1])
    for c in range(C):
        h_idx, t_idx, values = alive[c]
        ptr, gt = ts.class_ground_truth(c)
        for i, m in enumerate(methods):
            # nms_sparse with the op's default sigma (W / 2), min_weight and expansion, on canonical arrays
            # (float32 values, int64 cells in increasing order: _cells_by_class) and checked windows
            kept = unchecked.nms_sparse(values, h_idx, t_idx, T, frames[m], [w / 2.0 for w in frames[m]],
                                        unchecked.NMS_METHOD_CODES[m], float(op_threshold(taus[0], m)), 0.0, 2.0)
            ap = class_ap_sweep_rows(kept, h_idx, t_idx, ts.num_halves, ptr, gt, deltas, taus_f32)
            aps[c, i] = ap
            grid[c, i] = class_average_map(ap)
    methods_out, windows_out, thr_out = list(baseline.methods), list(baseline.windows), list(baseline.thresholds)
    tuned_ap = base_ap.copy()
    # preference among equal scores: the larger threshold (smaller results files), then the methods and
    # windows in the order given
    order = [(u, i, j) for u in range(len(taus) - 1, -1, -1) for i in range(len(methods)) for j in range(len(windows))]
    for c in range(C):
        best, (u, i, j) = -np.inf, order[0]
        for o in order:
            if grid[c, o[1], o[2], o[0]] > best:
                best, (u, i, j) = grid[c, o[1], o[2], o[0]], o
        if best > base[c]:
            methods_out[c], windows_out[c], thr_out[c] = methods[i], windows[j], taus[u]
            tuned_ap[c] = aps[c, i, j, u]
    overall_base, overall_tuned = overall_average_map(base_ap), overall_average_map(tuned_ap)
    if overall_tuned < overall_base:  # per-class gains lost to rounding in the mean: keep the baseline
        methods_out, windows_out, thr_out = list(baseline.methods), list(baseline.windows), list(baseline.thresholds)
        tuned_ap, overall_tuned = base_ap, overall_base
    info = {
        "source": "spotkern tune", "metric": metric if isinstance(metric, str) else [float(t) for t in tolerances],
        "tolerances_s": tolerances.tolist(), "fps": ts.fps, "halves": ts.num_halves,
        "methods": methods, "windows_s": windows, "thresholds": taus,
        "baseline": {"methods": baseline.methods, "windows_s": baseline.windows, "thresholds": baseline.thresholds},
        "a_mAP_baseline": overall_base, "a_mAP_tuned": overall_tuned,
        "a_mAP_per_class_baseline": base.tolist(), "a_mAP_per_class_tuned": class_average_map(tuned_ap).tolist(),
        # best a-mAP over the thresholds, per class, method and window (the report plots it)
        "grid_best_over_thresholds": grid.max(axis=3).round(6).tolist(),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return PostProcess(methods_out, windows_out, thr_out, None, list(ts.classes), info)


# ----------------------------------------------------------------------------- run-level entry and CLI
def run_config(run_dir: str, fn: str = "tune") -> dict:
    """``<run>/config.json`` (a readable JSON object, else a ValueError that names ``fn`` and the file)."""
    return load_json_object(os.path.join(run_dir, "config.json"), f"{fn}: run config",
                            "a JSON object of the run's settings")


def run_baseline(run_dir: str, ts: TuningSet) -> PostProcess:
    """The run's own post-processing (``default_postprocess`` from ``<run>/config.json``)."""
    return default_postprocess(run_config(run_dir), ts.classes, kind=ts.kind, has_displacement=ts.has_displacement)


def tune_run(run_dir: str, *, split: str = "valid", data: str | None = None, scores_dir: str | None = None,
             metric: Metric = "loose", methods: Sequence[str] = SEARCH_METHODS,
             windows: Sequence[float] = SEARCH_WINDOWS, thresholds: Sequence[float] = SEARCH_THRESHOLDS,
             baseline: PostProcess | None = None, label_placement: str = "position") -> PostProcess:
    """Tune a trained run on ``split``: raw scores from ``scores_dir`` (default
    ``<run>/predictions/<split>``), ground truth from ``data`` (default: the run's data root)."""
    require_run(run_dir, "tune")
    cfg = run_config(run_dir)
    data = data or cfg.get("data")
    if not data:
        raise ValueError("tune: no data root: pass data= (the run's config has none)")
    scores_dir = scores_dir or os.path.join(run_dir, "predictions", str(split))
    ts = load_tuning_set(scores_dir, data, split, version=int(cfg.get("soccernet_version", 2)),
                         label_placement=label_placement)
    base = baseline or run_baseline(run_dir, ts)
    pp = search(ts, base, metric=metric, methods=methods, windows=windows, thresholds=thresholds)
    pp.info.update({"run": os.path.abspath(run_dir), "split": str(split), "data": os.path.abspath(data)})
    return pp


def _floats(text: str) -> list:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_tune_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments of ``spotkern tune`` (returns the parser)."""
    p.add_argument("run", help="run directory written by 'spotkern train'")
    p.add_argument("--split", default="valid", help="split to tune on (default: valid)")
    p.add_argument("--data", default=None, help="dataset root (default: the run's)")
    p.add_argument("--scores", default=None,
                   help="folder of raw_scores.npz per game (default: RUN/predictions/SPLIT, written by "
                        "'spotkern predict --save-scores')")
    p.add_argument("--metric", type=_metric, default="loose",
                   help="metric to maximise: loose, tight, at1..at5, or comma-separated tolerances in seconds")
    p.add_argument("--methods", type=lambda s: [m for m in s.split(",") if m], default=list(SEARCH_METHODS),
                   help=f"NMS methods searched (default {','.join(SEARCH_METHODS)})")
    p.add_argument("--windows", type=_floats, default=list(SEARCH_WINDOWS),
                   help=f"NMS windows searched, seconds (default {','.join(f'{w:g}' for w in SEARCH_WINDOWS)})")
    p.add_argument("--thresholds", type=_floats, default=list(SEARCH_THRESHOLDS),
                   help=f"score thresholds searched (default {','.join(f'{t:g}' for t in SEARCH_THRESHOLDS)})")
    p.add_argument("--baseline", default=None,
                   help="post-processing file to start from (default: the run's own, from its config)")
    p.add_argument("--label-placement", choices=("position", "gametime"), default="position",
                   help="SoccerNet ground-truth frames from position ms (as 'spotkern evaluate') or gameTime")
    p.add_argument("--out", default=None, help="post-processing file to write (default: RUN/postprocess.json)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    return p


def format_tuning(pp: PostProcess) -> str:
    """Per-class table (baseline and tuned a-mAP in %, chosen method, window, threshold) and totals."""
    info = pp.info
    names = pp.classes or [str(c) for c in range(pp.num_classes)]
    width = max(len(n) for n in names + ["average"])
    lines = [f"{'class':<{width}}  {'before':>6}  {'after':>6}  {'method':<8}  {'window':>7}  threshold"]
    for c, name in enumerate(names):
        thr = "-" if pp.thresholds[c] is None else f"{pp.thresholds[c]:g}"
        lines.append(f"{name:<{width}}  {100 * info['a_mAP_per_class_baseline'][c]:6.2f}  "
                     f"{100 * info['a_mAP_per_class_tuned'][c]:6.2f}  {pp.methods[c]:<8}  {pp.windows[c]:6g}s  {thr}")
    lines.append(f"{'average':<{width}}  {100 * info['a_mAP_baseline']:6.2f}  {100 * info['a_mAP_tuned']:6.2f}")
    return "\n".join(lines)


def run_tune(args: argparse.Namespace) -> int:
    """``spotkern tune``: search, print the table, write the post-processing file."""
    out = args.out or os.path.join(args.run, "postprocess.json")
    if os.path.lexists(out) and not getattr(args, "force", False):  # checked before the search, not after
        raise ValueError(f"tune: {out} exists: pass --force to replace it, or --out another file")
    baseline = PostProcess.load(args.baseline) if args.baseline else None
    pp = tune_run(args.run, split=args.split, data=args.data, scores_dir=args.scores, metric=args.metric,
                  methods=args.methods, windows=args.windows, thresholds=args.thresholds, baseline=baseline,
                  label_placement=args.label_placement)
    pp.save(out)
    metric = args.metric if isinstance(args.metric, str) else ",".join(f"{t:g}" for t in args.metric)
    print(f"average-mAP in % ({metric}) on {args.split}, {pp.info['halves']} halves: before = the run's "
          f"post-processing, after = tuned (search {pp.info['seconds']:.2f} s)")
    print(format_tuning(pp))
    print(f"wrote {out}: the tuned post-processing (use it with spotkern predict --postprocess {out})")
    return 0
