"""SoccerNet average-mAP from in-memory arrays (soccernet_metric.md sections 3-9).

Two in-memory entry points, both bit-exact with the official evaluator:

* :func:`average_map_from_arrays` takes sparse event lists (what a spotting head produces after NMS),
  so training can validate without writing JSON or building dense arrays;
* :func:`average_map_from_dense` takes the per-half dense ``(T, C)`` target / detection arrays that the
  official ``average_mAP`` (and the CALF code base) uses.

Both return the dict of ``SoccerNet.Evaluation.ActionSpotting.evaluate`` (same keys, same value types).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from spotkern._typing import Array, Metric
from spotkern._validation import check_array, check_choice, check_int
from spotkern.metrics._core import class_average_precisions

# Section 6: tolerance sets in seconds.
METRICS = {
    "loose": tuple(range(5, 65, 5)),
    "tight": (1, 2, 3, 4, 5),
    "at1": (1,), "at2": (2,), "at3": (3,), "at4": (4,), "at5": (5,),
}

# Section 5.2: the 200 confidence thresholds, exactly NumPy's values.
THRESHOLDS = np.linspace(0, 1, 200)

# Frames are added in pairs by the core (GT midpoints, soccernet_metric.md section 4): they must stay
# below 2**62 so that no sum overflows int64 (the file entry point's exact mode has the same bound).
FRAME_LIMIT = 2**62
# Sane maxima: the core allocates a (num_classes * num_halves + 1) pointer array.
MAX_CELLS = 1 << 24
MAX_FRAMERATE = 1000

RESULT_KEYS = ("a_mAP", "a_mAP_per_class", "a_mAP_visible", "a_mAP_per_class_visible", "a_mAP_unshown",
               "a_mAP_per_class_unshown")


def resolve_tolerances(fn: str, metric: Metric) -> np.ndarray:
    """``metric`` name (section 6) or an explicit sequence of tolerances in seconds -> float64 (K,)."""
    if isinstance(metric, str):
        check_choice(fn, "metric", metric, METRICS)
        return np.asarray(METRICS[metric], dtype=np.float64)
    try:
        tol = np.asarray(metric, dtype=np.float64)
    except OverflowError:  # an integer beyond float range
        raise ValueError(f"{fn}: metric tolerances must be finite and > 0 seconds, got a value beyond float "
                         "range") from None
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: metric must be one of {', '.join(map(repr, METRICS))} or a sequence of "
                        f"tolerances in seconds, got {metric!r}") from None
    if tol.ndim != 1 or tol.size == 0:
        raise ValueError(f"{fn}: metric as explicit tolerances must be a non-empty 1-D sequence, got {metric!r}")
    if not np.all(np.isfinite(tol)) or np.any(tol <= 0):
        raise ValueError(f"{fn}: metric tolerances must be finite and > 0 seconds, got {metric!r}")
    return tol


def _group(num_classes: int, num_halves: int, halves, frames, classes, values, keep_nonnegative: bool):
    """Deduplicate events per (half, frame, class) cell, the LAST in input order winning (section 3),
    then sort by (class, half, frame) and build the CSR pointer of the core (C * H + 1,).

    ``keep_nonnegative``: afterwards drop cells whose value is not >= 0 (predictions: a later negative
    confidence overwrites an earlier detection, M-T2; NaN is no detection either).
    """
    n = frames.shape[0]
    if n:
        # lexsort is stable: inside a cell, input order is kept, so the last row of each run wins.
        order = np.lexsort((frames, halves, classes))
        f, h, c = frames[order], halves[order], classes[order]
        last = np.ones(n, dtype=bool)
        last[:-1] = (f[1:] != f[:-1]) | (h[1:] != h[:-1]) | (c[1:] != c[:-1])
        order = order[last]
        if keep_nonnegative:
            order = order[values[order] >= 0]
        frames, halves, classes, values = frames[order], halves[order], classes[order], values[order]
    group = classes * num_halves + halves
    ptr = np.zeros(num_classes * num_halves + 1, dtype=np.int64)
    np.cumsum(np.bincount(group, minlength=num_classes * num_halves), out=ptr[1:])
    return ptr, np.ascontiguousarray(frames, dtype=np.int64), np.ascontiguousarray(values, dtype=np.float64)


def _aggregate(ap: np.ndarray) -> dict:
    """Means over classes and tolerances exactly as the official ``average_mAP`` (sections 6, 7, 9).

    ap: (3, K, C) per-class APs for the subsets (all, visible, unshown).
    """
    K = ap.shape[1]
    # np.mean over each (C,) row: NumPy's own pairwise summation, as in the official compute_mAP.
    means = [[np.mean(ap[s, k]) for k in range(K)] for s in range(3)]
    if K == 1:
        # Single tolerance: values returned directly, per class as an ndarray, no 17/13 (section 7).
        vals = [(means[s][0], ap[s, 0].copy()) for s in range(3)]
    else:
        vals = []
        for s in range(3):
            integral = 0.0
            for i in range(K - 1):
                integral += (means[s][i] + means[s][i + 1]) / 2
            overall = integral / (K - 1)
            if s == 2:
                overall = overall * 17 / 13  # hard-coded by the official evaluator (section 7)
            per_class = []
            for c in range(ap.shape[2]):
                integral_c = 0.0
                for i in range(K - 1):
                    integral_c += (ap[s, i, c] + ap[s, i + 1, c]) / 2
                per_class.append(integral_c / (K - 1))
            vals.append((overall, per_class))
    return {
        "a_mAP": vals[0][0], "a_mAP_per_class": vals[0][1],
        "a_mAP_visible": vals[1][0], "a_mAP_per_class_visible": vals[1][1],
        "a_mAP_unshown": vals[2][0], "a_mAP_per_class_unshown": vals[2][1],
    }


def _details(ap: np.ndarray, tolerances: np.ndarray) -> dict:
    return {
        "tolerances": tolerances.tolist(),
        "mAP": [float(np.mean(ap[0, k])) for k in range(ap.shape[1])],
        "mAP_visible": [float(np.mean(ap[1, k])) for k in range(ap.shape[1])],
        "mAP_unshown": [float(np.mean(ap[2, k])) for k in range(ap.shape[1])],
        "AP": ap.copy(),
    }


def average_map_from_events(num_classes: int, num_halves: int, gt_halves: np.ndarray, gt_frames: np.ndarray,
                            gt_classes: np.ndarray, gt_values: np.ndarray, pred_halves: np.ndarray,
                            pred_frames: np.ndarray, pred_classes: np.ndarray, pred_scores: np.ndarray,
                            tolerances: np.ndarray, framerate: float, details: bool = False) -> dict:
    """Unvalidated internal entry: int64 / float64 1-D event arrays in input order (already checked)."""
    gt_ptr, gt_f, gt_v = _group(num_classes, num_halves, gt_halves, gt_frames, gt_classes, gt_values, False)
    det_ptr, det_f, det_s = _group(num_classes, num_halves, pred_halves, pred_frames, pred_classes,
                                   pred_scores, True)
    deltas = np.ascontiguousarray(tolerances * framerate, dtype=np.float64)
    ap = class_average_precisions(num_classes, num_halves, gt_ptr, gt_f, gt_v, det_ptr, det_f, det_s, deltas,
                                  THRESHOLDS)
    result = _aggregate(ap)
    if details:
        result.update(_details(ap, tolerances))
    return result


def host_array(fn: str, name: str, x: Array, dtypes: Iterable[str], ndim: int | Iterable[int]) -> np.ndarray:
    """A numpy array of an array argument, checked with ``check_array``: numpy arrays as they are (any
    byte order; a masked array is refused, its mask would be ignored), dense tensors of any device
    copied to the host with their negation / conjugation bits resolved. Sparse and meta tensors, and
    dtypes outside ``dtypes`` (bfloat16...), are errors naming ``fn`` and ``name``."""
    if isinstance(x, torch.Tensor):
        if x.layout != torch.strided:
            raise TypeError(f"{fn}: {name} must be a dense (strided) tensor, got layout {x.layout}")
        if x.is_meta:
            raise ValueError(f"{fn}: {name} is a meta tensor, which holds no values")
        check_array(fn, name, x, dtypes=dtypes, ndim=ndim, allow_empty=True, storage=False)  # bits resolved here
        return x.detach().cpu().resolve_conj().resolve_neg().numpy()
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"{fn}: {name} must be a plain numpy array, got a masked array (its mask would be ignored)")
    if isinstance(x, np.ndarray) and type(x) is not np.ndarray:
        x = np.asarray(x)
    check_array(fn, name, x, dtypes=dtypes, ndim=ndim, allow_empty=True, storage=False)  # any byte order
    return x


def _index_array(fn, name, x, n, upper=None):
    x = host_array(fn, name, x, ("int32", "int64"), 1)
    if x.shape[0] != n:
        raise ValueError(f"{fn}: {name} must have the same length as the other event arrays ({n}), "
                         f"got {x.shape[0]}")
    x = x.astype(np.int64, copy=False)
    if x.size and x.min() < 0:
        raise ValueError(f"{fn}: {name} must be >= 0, got {int(x.min())}")
    if upper is not None and x.size and x.max() >= upper[1]:
        raise ValueError(f"{fn}: {name} must be < {upper[0]} ({upper[1]}), got {int(x.max())}")
    return x


def check_sizes(fn: str, num_classes: int, num_halves: int) -> None:
    """num_classes * num_halves within ``MAX_CELLS`` (the core's per-(class, half) pointer array)."""
    if num_classes * num_halves > MAX_CELLS:
        raise ValueError(f"{fn}: num_classes * num_halves must be <= {MAX_CELLS}, got {num_classes} * {num_halves}")


def average_map_from_arrays(
    gt_halves: Array, gt_frames: Array, gt_classes: Array, pred_halves: Array, pred_frames: Array,
    pred_classes: Array, pred_scores: Array, *, num_halves: int, num_classes: int = 17, gt_visible: Array | None = None,
    metric: Metric = "loose", framerate: int = 2,
    details: bool = False,
) -> dict:
    """SoccerNet average-mAP of sparse events held in memory (training-time validation).

    Each half of each game is one "video" ``h`` in [0, num_halves): ground truth and predictions are
    matched only within a half and pooled over all halves per class (section 10, item 1).

    Args:
        gt_halves, gt_frames, gt_classes: (G,) int32/int64 ground-truth events: half index, frame on the
            ``framerate`` grid (frame = floor(ms * framerate / 1000)), class id in [0, num_classes).
        pred_halves, pred_frames, pred_classes: (P,) int32/int64 predicted events, same conventions.
        pred_scores: (P,) float32/float64 confidences. A cell holding several predictions keeps the LAST
            one in array order (official behaviour, section 3); negative or NaN scores are no detection.
        num_halves: number of halves H; num_classes: C (17 for SoccerNet-v2, 3 for v1).
        gt_visible: (G,) bool, False for "not shown" labels; None = all visible. Duplicate GT in one cell
            collapse into one action whose visibility is the last one's.
        metric: "loose", "tight", "at1".."at5", or a sequence of tolerances in seconds.
        framerate: frames per second of the grid (2 in SoccerNet).
        details: also return "tolerances", "mAP", "mAP_visible", "mAP_unshown" (per tolerance, the
            unshown values before 17/13) and "AP" (3, K, C) per-class APs (all, visible, unshown).

    Returns:
        dict with the official keys ``a_mAP``, ``a_mAP_per_class``, ``a_mAP_visible``,
        ``a_mAP_per_class_visible``, ``a_mAP_unshown``, ``a_mAP_per_class_unshown`` (per-class values: a
        list of C floats for multi-tolerance metrics, a (C,) ndarray for a single tolerance).

    Frames are not clamped: this equals the official evaluator whenever frames lie inside its
    120-minute array (use the file entry point for its clamping of later events), and equals
    ``evaluate(..., array_length="exact")`` always.
    """
    fn = "average_map_from_arrays"
    num_halves = check_int(fn, "num_halves", num_halves, minimum=1, maximum=MAX_CELLS)
    num_classes = check_int(fn, "num_classes", num_classes, minimum=1, maximum=MAX_CELLS)
    check_sizes(fn, num_classes, num_halves)
    framerate = check_int(fn, "framerate", framerate, minimum=1, maximum=MAX_FRAMERATE)
    tolerances = resolve_tolerances(fn, metric)
    gt_frames_np = host_array(fn, "gt_frames", gt_frames, ("int32", "int64"), 1)
    G = gt_frames_np.shape[0]
    gh = _index_array(fn, "gt_halves", gt_halves, G, ("num_halves", num_halves))
    gf = _index_array(fn, "gt_frames", gt_frames_np, G, ("2**62", FRAME_LIMIT))
    gc = _index_array(fn, "gt_classes", gt_classes, G, ("num_classes", num_classes))
    if gt_visible is None:
        gv = np.ones(G, dtype=np.float64)
    else:
        vis = host_array(fn, "gt_visible", gt_visible, ("bool",), 1)
        if vis.shape[0] != G:
            raise ValueError(f"{fn}: gt_visible must have the same length as gt_frames ({G}), got {vis.shape[0]}")
        gv = np.where(vis, 1.0, -1.0)
    scores = host_array(fn, "pred_scores", pred_scores, ("float32", "float64"), 1)
    P = scores.shape[0]
    ph = _index_array(fn, "pred_halves", pred_halves, P, ("num_halves", num_halves))
    pf = _index_array(fn, "pred_frames", pred_frames, P, ("2**62", FRAME_LIMIT))
    pc = _index_array(fn, "pred_classes", pred_classes, P, ("num_classes", num_classes))
    return average_map_from_events(num_classes, num_halves, gh, gf, gc, gv, ph, pf, pc,
                                   scores.astype(np.float64), tolerances, framerate, details)


def average_map_from_dense(targets: Sequence, detections: Sequence, *, metric: Metric = "loose", framerate: int = 2,
                           details: bool = False) -> dict:
    """SoccerNet average-mAP of dense per-half arrays, as the official ``average_mAP``.

    Args:
        targets: sequence of H arrays (T_h, C) float: 0 = no action, > 0 visible, < 0 "not shown"
            (the official label vectors, +1 / -1).
        detections: sequence of H arrays (T_h, C) float: a cell >= 0 is a detection with that score,
            anything else (the official -1 filler) is none.
        metric, framerate, details: as :func:`average_map_from_arrays`.

    The nearest-GT visibility ("closest") arrays are derived from ``targets`` as the official
    ``evaluate`` does (section 4). Returns the official result dict.
    """
    fn = "average_map_from_dense"
    framerate = check_int(fn, "framerate", framerate, minimum=1, maximum=MAX_FRAMERATE)
    tolerances = resolve_tolerances(fn, metric)
    if isinstance(targets, (np.ndarray, str)) or not isinstance(targets, Sequence):
        raise TypeError(f"{fn}: targets must be a sequence of (T, C) arrays, got {type(targets).__name__}")
    if isinstance(detections, (np.ndarray, str)) or not isinstance(detections, Sequence):
        raise TypeError(f"{fn}: detections must be a sequence of (T, C) arrays, got {type(detections).__name__}")
    if len(targets) != len(detections) or len(targets) == 0:
        raise ValueError(f"{fn}: targets and detections must hold the same, non-zero number of halves, got "
                         f"{len(targets)} and {len(detections)}")
    H = len(targets)
    C = None
    parts = []
    for h, (t, d) in enumerate(zip(targets, detections)):
        if isinstance(t, np.ndarray) and not isinstance(t, np.ma.MaskedArray):
            t = np.ascontiguousarray(t)
        if isinstance(d, np.ndarray) and not isinstance(d, np.ma.MaskedArray):
            d = np.ascontiguousarray(d)
        strided = lambda x: isinstance(x, torch.Tensor) and x.layout == torch.strided  # noqa: E731
        t = host_array(fn, f"targets[{h}]", t.contiguous() if strided(t) else t, ("float32", "float64"), 2)
        d = host_array(fn, f"detections[{h}]", d.contiguous() if strided(d) else d, ("float32", "float64"), 2)
        check_array(fn, f"targets[{h}]", t, dtypes=("float32", "float64"), ndim=2, finite=True)
        if t.shape != d.shape:
            raise ValueError(f"{fn}: targets[{h}] and detections[{h}] must have the same shape, got "
                             f"{t.shape} and {d.shape}")
        if C is None:
            C = t.shape[1]
        elif t.shape[1] != C:
            raise ValueError(f"{fn}: targets[{h}] must have {C} classes like targets[0], got {t.shape[1]}")
        gf, gc = np.nonzero(t)
        pf, pc = np.nonzero(d >= 0)
        parts.append((gf, gc, t[gf, gc].astype(np.float64), pf, pc, d[pf, pc].astype(np.float64)))
    assert C is not None  # set by the first of the H >= 1 halves
    cat = lambda i: np.concatenate([p[i] for p in parts])  # noqa: E731
    halves_gt = np.concatenate([np.full(len(p[0]), h, dtype=np.int64) for h, p in enumerate(parts)])
    halves_pred = np.concatenate([np.full(len(p[3]), h, dtype=np.int64) for h, p in enumerate(parts)])
    return average_map_from_events(C, H, halves_gt, cat(0).astype(np.int64), cat(1).astype(np.int64), cat(2),
                                   halves_pred, cat(3).astype(np.int64), cat(4).astype(np.int64), cat(5),
                                   tolerances, framerate, details)
