"""Per-class pieces of the SoccerNet average-mAP (soccernet_metric.md sections 5, 6, 9), for tuning the
post-processing one class at a time and for the report's precision-recall curves.

The a-mAP is the mean over classes of quantities that depend on one class's detections only (section
6: AP per class and tolerance, means over classes, then the trapezoid over tolerances), so the best
post-processing can be searched class by class. They reuse the numba core's pieces (``_match``,
``_levels``) or make the same choices faster (the matching's windows found by bisection, threshold
levels in O(1), the 11-point interpolation by a prefix maximum), so a class's AP equals the
evaluator's to the last bit (tested against the evaluator).

Thresholds sweep. Removing the detections below a score tau does not change which of the remaining
detections are true positives: each GT (in frame order) takes the highest-scoring unused detection
in its window (section 5.1); when that detection is >= tau it is the same one with or without the
removed ones, and when it is < tau no detection >= tau was free. So one matching per tolerance gives
the AP of every threshold.

Tolerances sweep. GTs of a half more than the largest tolerance window apart never compete for a
detection. A GT with no such neighbour takes, at every tolerance, the best detection of its window,
so one scan of its widest window serves all tolerances (detections binned by the smallest window
that reaches them, then a running best over the windows in increasing size). Runs of GTs close
enough to compete are matched per tolerance, exactly as the evaluator does.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from spotkern.metrics._core import _levels, _match, _pr_points
from spotkern.metrics.soccernet import THRESHOLDS, _group


@njit(cache=True)
def _suffix_sums(hist2):
    """Row u of the result = sum of rows u.. of hist2 (the detections passing threshold u)."""
    out = hist2.copy()
    for u in range(hist2.shape[0] - 2, -1, -1):
        out[u] += out[u + 1]
    return out


@njit(cache=True)
def _match_listed(gt_frame, g0, g1, det_frame, det_score, a0, a1, half_window, tp, found, n_found):
    """The core's ``_match`` (section 5.1, same choices), for detections much denser than the ground
    truth: each GT's window is found by bisection rather than by walking every detection, and the
    true positives are also listed in ``found`` (returns their new count)."""
    lo = a0
    for gi in range(g0, g1):
        g = gt_frame[gi]
        hi = a1  # first detection with g - frame <= half_window (monotone in the frame), from the last GT's
        while lo < hi:
            mid = (lo + hi) // 2
            if float(g - det_frame[mid]) > half_window:
                lo = mid + 1
            else:
                hi = mid
        best = -1
        best_score = -1.0
        a = lo
        while a < a1 and float(det_frame[a] - g) <= half_window:
            if tp[a] == 0 and det_score[a] > best_score:
                best = a
                best_score = det_score[a]
            a += 1
        if best >= 0:
            tp[best] = 1
            found[n_found] = best
            n_found += 1
    return n_found


@njit(cache=True)
def _count_at_most(values, x):
    """Number of entries of the ascending ``values`` that are <= x (``_levels`` for one score), starting
    from a guess for evenly spaced values and correcting it, so it costs O(1) on the 200 thresholds."""
    n = values.shape[0]
    i = int(x * (n - 1)) if 0.0 <= x <= 1.0 else (0 if x < 0.0 else n - 1)
    while i < n and values[i] <= x:
        i += 1
    while i > 0 and values[i - 1] > x:
        i -= 1
    return i


@njit(cache=True)
def _interpolated_ap_monotone(tp_hist, all_hist, n_gt, nt, best, recall):
    """``_core._interpolated_ap`` (section 5.2 + 5.3) in O(nt + 11) rather than O(11 nt), equal to the
    bit: the recall does not rise with the threshold (the TPs kept at a threshold are a subset of those
    kept at a lower one), so the thresholds with recall >= a level are a prefix 0..t_j, and the best
    precision over them is a prefix maximum (a maximum is exact in any order). ``best``, ``recall``:
    scratch of nt floats."""
    _pr_points(tp_hist, all_hist, n_gt, nt, best, recall)  # best = precision until the prefix maximum below
    m = 0.0
    for t in range(nt):
        if best[t] > m:
            m = best[t]
        best[t] = m  # max(0, precision[0..t])
    ap = 0.0
    t_end = nt  # thresholds 0 .. t_end - 1 have recall >= level
    for j in range(11):
        level = j / 10  # np.arange(11) / 10, as the core
        while t_end > 0 and recall[t_end - 1] < level:
            t_end -= 1
        ap += best[t_end - 1] if t_end > 0 else 0.0
    return ap / 11


@njit(cache=True)
def _gt_clusters(gt_ptr, gt_frame, num_halves, reach):
    """cluster[i] = index of the first GT of i's cluster: the runs of consecutive GTs of a half less
    than ``reach`` + 1 frames apart. GTs of different clusters have disjoint windows at every half
    window <= reach / 2, so they never compete for a detection."""
    n = gt_ptr[num_halves] - gt_ptr[0]
    first = np.empty(n, np.int64)
    for h in range(num_halves):
        for gi in range(gt_ptr[h], gt_ptr[h + 1]):
            i = gi - gt_ptr[0]
            if gi > gt_ptr[h] and float(gt_frame[gi] - gt_frame[gi - 1]) <= reach:
                first[i] = first[i - 1]
            else:
                first[i] = i
    return first


@njit(cache=True)
def _sweep(kept, pos_half, pos_frame, num_halves, gt_ptr, gt_frame, deltas, taus, thresholds):
    W, N = kept.shape
    K = deltas.shape[0]
    nt = thresholds.shape[0]
    ntau = taus.shape[0]
    g_base = gt_ptr[0]
    n_gt = gt_ptr[num_halves] - g_base
    out = np.zeros((W, ntau, K))
    det_frame = np.empty(N + 1, np.int64)  # + 1: the branch-free compaction writes one past the last kept
    det_half = np.empty(N + 1, np.int64)
    det_score = np.empty(N + 1)
    det_ptr = np.empty(num_halves + 1, np.int64)
    tau0 = taus[0]
    level = np.empty(N, np.int64)
    top = np.empty(N, np.int64)  # number of thresholds a detection passes (>= 1)
    tp = np.zeros(N, np.uint8)
    found = np.empty(max(n_gt, 1), np.int64)
    all2 = np.zeros((ntau, nt + 1), np.int64)
    tp2 = np.zeros((K, ntau, nt + 1), np.int64)
    # An isolated GT (a cluster of one at the largest tolerance) has its window to itself, so at every
    # tolerance it takes the best detection of its window: one scan finds them all. Detections are
    # binned by distance into "shells" (shell s: the smallest tolerance whose half window reaches them);
    # the best of tolerance k is the best of shells 0..k, ties to the earliest frame as in _match.
    half = deltas / 2
    by_size = np.argsort(half, kind="mergesort")
    hw_max = half[by_size[K - 1]] if K > 0 else -1.0
    first = _gt_clusters(gt_ptr, gt_frame, num_halves, 2 * hw_max)
    # a distance never exceeds the largest frame (frames are >= 0): no table longer than the halves
    f_max = 0
    for i in range(N):
        f_max = max(f_max, pos_frame[i])
    for i in range(n_gt):
        f_max = max(f_max, gt_frame[g_base + i])
    d_max = int(min(np.floor(hw_max), float(f_max))) if hw_max >= 0 else -1
    shell_of = np.empty(d_max + 1, np.int64)  # distance -> rank of the smallest half window >= distance
    r = 0
    for dist in range(d_max + 1):
        while half[by_size[r]] < dist:
            r += 1
        shell_of[dist] = r
    shell_best = np.empty(K, np.int64)
    best = np.empty(nt)
    recall = np.empty(nt)
    for j in range(W):
        D = 0
        for i in range(N):  # branch-free compaction: most positions of a soft NMS row are kept, many not
            v = np.float64(kept[j, i])
            det_frame[D] = pos_frame[i]
            det_half[D] = pos_half[i]
            det_score[D] = v
            D += v >= tau0
        h_cur = 0
        det_ptr[0] = 0
        for i in range(D):
            h = det_half[i]
            while h_cur < h:
                h_cur += 1
                det_ptr[h_cur] = i
        while h_cur < num_halves:
            h_cur += 1
            det_ptr[h_cur] = D
        all2[:, :] = 0
        for i in range(D):
            x = det_score[i]
            level[i] = _count_at_most(thresholds, x)
            t = 0
            for u in range(ntau):
                if x >= taus[u]:
                    t += 1
            top[i] = t
            all2[t - 1, level[i]] += 1
        all_hist = _suffix_sums(all2)
        tp2[:, :, :] = 0
        for h in range(num_halves):
            a0, a1 = det_ptr[h], det_ptr[h + 1]
            lo = a0
            gi = gt_ptr[h]
            while gi < gt_ptr[h + 1]:
                ci = gi - g_base
                if first[ci] != ci or (gi + 1 < gt_ptr[h + 1] and first[ci + 1] == ci):
                    # a cluster of several GTs: the exact greedy matching of each tolerance on it
                    g1 = gi + 1
                    while g1 < gt_ptr[h + 1] and first[g1 - g_base] == ci:
                        g1 += 1
                    for k in range(K):
                        n_found = _match_listed(gt_frame, gi, g1, det_frame, det_score, a0, a1, half[k], tp, found, 0)
                        for f in range(n_found):
                            a = found[f]
                            tp2[k, top[a] - 1, level[a]] += 1
                            tp[a] = 0
                    gi = g1
                    continue
                g = gt_frame[gi]
                while lo < a1 and float(g - det_frame[lo]) > hw_max:
                    lo += 1
                shell_best[:] = -1
                a = lo
                while a < a1 and float(det_frame[a] - g) <= hw_max:
                    dist = det_frame[a] - g if det_frame[a] >= g else g - det_frame[a]
                    s = shell_of[dist]
                    b = shell_best[s]
                    if b < 0 or det_score[a] > det_score[b]:
                        shell_best[s] = a
                    a += 1
                b = -1
                for s in range(K):  # half windows in increasing order
                    c = shell_best[s]
                    if c >= 0 and (b < 0 or det_score[c] > det_score[b] or (det_score[c] == det_score[b] and c < b)):
                        b = c
                    if b >= 0:
                        tp2[by_size[s], top[b] - 1, level[b]] += 1
                gi += 1
        for k in range(K):
            tp_hist = _suffix_sums(tp2[k])
            for u in range(ntau):
                out[j, u, k] = _interpolated_ap_monotone(tp_hist[u], all_hist[u], n_gt, nt, best, recall)
    return out


def class_ap_sweep(kept: npt.ArrayLike, pos_half: npt.ArrayLike, pos_frame: npt.ArrayLike, num_halves: int,
                   gt_ptr: npt.ArrayLike, gt_frame: npt.ArrayLike, deltas: npt.ArrayLike,
                   taus: npt.ArrayLike) -> np.ndarray:
    """AP of one class ("all" subset) for several post-processings and thresholds at once.

    kept: (N, W) float32, column j the post-NMS scores of setting j at N positions (cells < taus[0] are
        no detection); positions sorted by (half, frame), at most one per cell.
    pos_half, pos_frame: (N,) int64 half index in [0, num_halves) and frame of each position.
    gt_ptr: (num_halves + 1,) int64 CSR pointer of the class's ground truth; gt_frame: int64 frames,
        strictly increasing inside a half (one action per cell, section 3).
    deltas: (K,) float64 tolerance windows in frames (tolerance seconds * framerate).
    taus: (U,) float64 thresholds, ascending: a detection counts for threshold u when its score >= taus[u].

    Returns (W, U, K) float64 APs, bit-identical to the evaluator's AP of the class for the detections
    of column j with scores >= taus[u] (see the module docstring)."""
    kept = np.ascontiguousarray(np.asarray(kept, dtype=np.float32).T)  # (W, N): one setting's scores contiguous
    return class_ap_sweep_rows(kept, pos_half, pos_frame, num_halves, gt_ptr, gt_frame, deltas, taus)


def class_ap_sweep_rows(kept: npt.ArrayLike, pos_half: npt.ArrayLike, pos_frame: npt.ArrayLike, num_halves: int,
                        gt_ptr: npt.ArrayLike, gt_frame: npt.ArrayLike, deltas: npt.ArrayLike,
                        taus: npt.ArrayLike) -> np.ndarray:
    """``class_ap_sweep`` with ``kept`` given as (W, N) rows, one per setting (the layout of
    ``spotkern._C.nms_sparse``'s output: no transposed copy)."""
    taus = np.ascontiguousarray(taus, dtype=np.float64)
    if taus.ndim != 1 or taus.size == 0 or np.any(np.diff(taus) < 0):
        raise ValueError("class_ap_sweep: taus must be a non-empty ascending 1-D sequence")
    kept = np.ascontiguousarray(kept, dtype=np.float32)
    if kept.ndim != 2:
        raise ValueError(f"class_ap_sweep: kept must be 2-D, got shape {kept.shape}")
    return _sweep(kept, np.ascontiguousarray(pos_half, dtype=np.int64), np.ascontiguousarray(pos_frame, dtype=np.int64),
                  int(num_halves), np.ascontiguousarray(gt_ptr, dtype=np.int64),
                  np.ascontiguousarray(gt_frame, dtype=np.int64), np.ascontiguousarray(deltas, dtype=np.float64),
                  taus, THRESHOLDS)


def class_average_map(ap: npt.ArrayLike) -> np.ndarray:
    """Per-class a-mAP from APs over the K tolerances (last axis): the trapezoid of section 6, summed in
    the evaluator's order (``a_mAP_per_class``); K = 1 returns the AP itself."""
    ap = np.asarray(ap, dtype=np.float64)
    K = ap.shape[-1]
    if K == 1:
        return ap[..., 0].copy()
    integral = np.zeros(ap.shape[:-1])
    for i in range(K - 1):
        integral = integral + (ap[..., i] + ap[..., i + 1]) / 2
    return integral / (K - 1)


@njit(cache=True)
def _true_positives(num_classes, num_halves, gt_ptr, gt_frame, det_ptr, det_frame, det_score, delta):
    tp = np.zeros(det_frame.shape[0], np.uint8)
    for g in range(num_classes * num_halves):
        _match(gt_frame, gt_ptr[g], gt_ptr[g + 1], det_frame, det_score, det_ptr[g], det_ptr[g + 1], delta / 2, tp,
               det_ptr[g])
    return tp


def precision_recall_curves(num_classes: int, num_halves: int, gt_halves: np.ndarray, gt_frames: np.ndarray,
                            gt_classes: np.ndarray, pred_halves: np.ndarray, pred_frames: np.ndarray,
                            pred_classes: np.ndarray, pred_scores: np.ndarray, tolerance: float,
                            framerate: float) -> tuple[np.ndarray, np.ndarray]:
    """The evaluator's precision-recall points per class at one tolerance (section 5.2, subset "all").

    Events as ``average_map_from_arrays`` takes them (int64 halves / frames / classes, float64 scores; a
    cell keeps its last prediction, scores < 0 are none); tolerance in seconds, framerate in frames per
    second. Returns (precision, recall), each (C, 200) float64 at ``THRESHOLDS`` (np.linspace(0, 1, 200)),
    the points whose 11-point interpolation is the class's AP."""
    ones = np.ones(len(gt_frames))
    gt_ptr, gt_f, _ = _group(num_classes, num_halves, np.asarray(gt_halves, np.int64), np.asarray(gt_frames, np.int64),
                             np.asarray(gt_classes, np.int64), ones, False)
    det_ptr, det_f, det_s = _group(num_classes, num_halves, np.asarray(pred_halves, np.int64),
                                   np.asarray(pred_frames, np.int64), np.asarray(pred_classes, np.int64),
                                   np.asarray(pred_scores, np.float64), True)
    tp = _true_positives(num_classes, num_halves, gt_ptr, gt_f, det_ptr, det_f, det_s, float(tolerance) * framerate)
    nt = THRESHOLDS.shape[0]
    level = np.empty(det_s.shape[0], np.int64)
    _levels(det_s, 0, det_s.shape[0], THRESHOLDS, level)
    precision = np.zeros((num_classes, nt))
    recall = np.zeros((num_classes, nt))
    for c in range(num_classes):
        a0, a1 = det_ptr[c * num_halves], det_ptr[(c + 1) * num_halves]
        n_gt = gt_ptr[(c + 1) * num_halves] - gt_ptr[c * num_halves]
        lv = level[a0:a1]
        # detections kept at threshold t are those with level > t: suffix sums of the level histograms
        kept = np.cumsum(np.bincount(lv, minlength=nt + 1)[::-1])[::-1][1:]
        tps = np.cumsum(np.bincount(lv[tp[a0:a1] == 1], minlength=nt + 1)[::-1])[::-1][1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            precision[c] = np.nan_to_num(tps / kept.astype(np.float64))
            recall[c] = np.nan_to_num(tps / float(n_gt)) if n_gt else 0.0
    return precision, recall
