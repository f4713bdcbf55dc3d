"""Numba core of the SoccerNet average-mAP (soccernet_metric.md sections 4, 5 and 9).

The official evaluator works on dense 14,400 x C arrays per half; this core works on sparse,
deduplicated event lists grouped by (class, half) in CSR form, which gives the same numbers:

* ``gt_ptr`` (C * H + 1,): ground truth of class c in half h is ``gt_frame[gt_ptr[c*H+h]:gt_ptr[c*H+h+1]]``,
  frames strictly increasing, with the cell values ``gt_value`` (+1 visible, -1 "not shown"; any nonzero
  float is accepted and treated exactly as the official code treats that value).
* ``det_ptr`` (C * H + 1,): detections (cells with value >= 0) of class c in half h, frames strictly
  increasing, scores ``det_score``.

All arithmetic that reaches the result is the official one, in the official order (section 9):
P and R are single float64 divisions of integer counts, ``nan_to_num`` is reproduced, the 11 interpolated
maxima are added sequentially from 0.0 and divided by 11. The means over classes and tolerances are left
to NumPy in :mod:`spotkern.metrics.soccernet` so that their summation order is NumPy's own.
"""
from __future__ import annotations

import numpy as np
from numba import njit

# np.nan_to_num(+inf): TP / 0 with TP > 0 (unreachable with +-1 ground truth, kept for exactness).
_DBL_MAX = np.finfo(np.float64).max


@njit(cache=True)
def _nan_to_num_div(num, den):
    """``np.nan_to_num(num / den)`` for integer-valued float64 num >= 0 and den >= 0."""
    if den == 0.0:
        if num == 0.0:
            return 0.0
        return _DBL_MAX
    return num / den


@njit(cache=True)
def _closest(gt_frame, gt_value, g0, g1, det_frame, a0, a1, out, o0):
    """Section 4: the visibility of each detection of one (class, half) from the midpoint partition.

    GT i owns [floor((g[i-1] + g[i]) / 2), floor((g[i] + g[i+1]) / 2)); the first owns from frame 0 and
    the last to the end, and a boundary frame belongs to the later GT (M-T3). Without GT: -1.
    """
    if g1 == g0:
        for a in range(a0, a1):
            out[o0 + a - a0] = -1.0
        return
    owner = g0
    for a in range(a0, a1):
        p = det_frame[a]
        while owner + 1 < g1 and (gt_frame[owner] + gt_frame[owner + 1]) // 2 <= p:
            owner += 1
        out[o0 + a - a0] = gt_value[owner]


@njit(cache=True)
def _match(gt_frame, g0, g1, det_frame, det_score, a0, a1, half_window, tp, o0):
    """Section 5.1: greedy matching of one (class, half) at one tolerance.

    GTs in increasing frame order; each takes the unused detection with |p - g| <= delta / 2 of highest
    score (strictly higher wins, so the earliest frame wins ties). ``tp`` doubles as the "used" flag.
    """
    lo = a0
    for gi in range(g0, g1):
        g = gt_frame[gi]
        # Detections left of this GT's window are left of every later GT's window too.
        while lo < a1 and float(g - det_frame[lo]) > half_window:
            lo += 1
        best = -1
        best_score = -1.0
        a = lo
        while a < a1 and float(det_frame[a] - g) <= half_window:
            if tp[o0 + a - a0] == 0 and det_score[a] > best_score:
                best = a
                best_score = det_score[a]
            a += 1
        if best >= 0:
            tp[o0 + best - a0] = 1


@njit(cache=True)
def _levels(det_score, d0, d1, thresholds, out):
    """Number of thresholds t with score >= t, per detection (binary search; thresholds ascending)."""
    nt = thresholds.shape[0]
    for a in range(d0, d1):
        s = det_score[a]
        lo = 0
        hi = nt
        while lo < hi:
            mid = (lo + hi) // 2
            if s >= thresholds[mid]:
                lo = mid + 1
            else:
                hi = mid
        out[a - d0] = lo


@njit(cache=True)
def _pr_points(tp_hist, all_hist, n_gt, nt, precision, recall):
    """Section 5.2: precision and recall at each of the nt thresholds (written into the two arrays);
    histograms as ``_interpolated_ap`` takes them."""
    kept = 0
    tps = 0
    for t in range(nt - 1, -1, -1):
        kept += all_hist[t + 1]
        tps += tp_hist[t + 1]
        precision[t] = _nan_to_num_div(float(tps), float(kept))
        recall[t] = _nan_to_num_div(float(tps), float(n_gt))


@njit(cache=True)
def _interpolated_ap(tp_hist, all_hist, n_gt, nt):
    """Section 5.2 + 5.3 for one subset: PR points at the thresholds, then the 11-point AP.

    ``all_hist[L]`` / ``tp_hist[L]``: detections / TPs passing exactly the L lowest thresholds, so the
    detections kept at threshold t are those with level > t.
    """
    precision = np.empty(nt)
    recall = np.empty(nt)
    _pr_points(tp_hist, all_hist, n_gt, nt, precision, recall)
    ap = 0.0
    for j in range(11):
        level = j / 10  # np.arange(11) / 10: 3/10 is exactly 0.3 (section 5.3)
        best = 0.0
        for t in range(nt):
            if recall[t] >= level and precision[t] > best:
                best = precision[t]
        ap += best
    return ap / 11


@njit(cache=True)
def class_average_precisions(num_classes, num_halves, gt_ptr, gt_frame, gt_value, det_ptr, det_frame,
                             det_score, deltas, thresholds):
    """AP per (subset, tolerance, class): float64 (3, K, C), subsets (all, visible, unshown).

    deltas: (K,) float64 tolerance windows in frames (delta = seconds * framerate; match iff
    |p - g| <= delta / 2). thresholds: (NT,) float64 ascending (np.linspace(0, 1, 200)).
    """
    C = num_classes
    H = num_halves
    K = deltas.shape[0]
    nt = thresholds.shape[0]
    out = np.zeros((3, K, C))
    for c in range(C):
        d0 = det_ptr[c * H]
        d1 = det_ptr[(c + 1) * H]
        D = d1 - d0
        closest = np.empty(D)
        n_visible = 0
        n_unshown = 0
        for h in range(H):
            g0 = gt_ptr[c * H + h]
            g1 = gt_ptr[c * H + h + 1]
            for gi in range(g0, g1):
                if gt_value[gi] > 0:
                    n_visible += 1
                elif gt_value[gi] < 0:
                    n_unshown += 1
            a0 = det_ptr[c * H + h]
            a1 = det_ptr[c * H + h + 1]
            _closest(gt_frame, gt_value, g0, g1, det_frame, a0, a1, closest, a0 - d0)
        level = np.empty(D, np.int64)
        _levels(det_score, d0, d1, thresholds, level)
        # Histograms of detections per level: all, visible (closest > 0.5), unshown (closest < -0.5).
        hist = np.zeros((3, nt + 1), np.int64)
        for i in range(D):
            hist[0, level[i]] += 1
            if closest[i] > 0.5:
                hist[1, level[i]] += 1
            elif closest[i] < -0.5:
                hist[2, level[i]] += 1
        tp = np.zeros(D, np.uint8)
        tp_hist = np.zeros((3, nt + 1), np.int64)
        for k in range(K):
            tp[:] = 0
            half_window = deltas[k] / 2
            for h in range(H):
                a0 = det_ptr[c * H + h]
                a1 = det_ptr[c * H + h + 1]
                _match(gt_frame, gt_ptr[c * H + h], gt_ptr[c * H + h + 1], det_frame, det_score, a0, a1,
                       half_window, tp, a0 - d0)
            tp_hist[:, :] = 0
            for i in range(D):
                if tp[i]:
                    tp_hist[0, level[i]] += 1
                    if closest[i] > 0.5:
                        tp_hist[1, level[i]] += 1
                    elif closest[i] < -0.5:
                        tp_hist[2, level[i]] += 1
            out[0, k, c] = _interpolated_ap(tp_hist[0], hist[0], n_visible + n_unshown, nt)
            out[1, k, c] = _interpolated_ap(tp_hist[1], hist[1], n_visible, nt)
            out[2, k, c] = _interpolated_ap(tp_hist[2], hist[2], n_unshown, nt)
    return out
