"""Stand-ins for spivak's post-processing (``spivak/models/dense_predictor.py``,
``spivak/models/non_maximum_suppression.py``): displacement application and the flexible NMS with
its two score decays, same names and call shapes, float64 results as spivak's NumPy code.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from spotkern._typing import ArrayLike
from spotkern._validation import check_float, is_tensor
from spotkern.ops.displace_scores import displace_scores
from spotkern.ops.nms import nms

__all__ = ["OUTPUT_CONFIDENCE", "OUTPUT_DELTA", "create_detection_scores", "FlexibleNonMaximumSuppression",
           "ScoreDecaySuppress", "ScoreDecayLinear"]

#: keys of spivak's per-video output dict
OUTPUT_CONFIDENCE = "confidence"
OUTPUT_DELTA = "delta"


def _float64(x) -> np.ndarray:
    x = x.detach().cpu().numpy() if is_tensor(x) else np.asarray(x)
    return np.ascontiguousarray(x, dtype=np.float64)


def create_detection_scores(video_outputs: dict, throw_out_delta: bool) -> np.ndarray:
    """Displace every confidence by its displacement, keeping the maximum (dense_anchors.md 7.1).

    video_outputs: {OUTPUT_CONFIDENCE: (T, C) confidences, OUTPUT_DELTA: (T, C) displacements in
    frames (rd * tanh)}. Without a delta, or with ``throw_out_delta``, the confidences are returned
    as given (spivak's behaviour). Otherwise (T, C) float64: u = clip(t + rint(delta), 0, T - 1),
    scatter-max into zeros, identical to spivak's ``np.maximum.at``.
    """
    confidences = video_outputs[OUTPUT_CONFIDENCE]
    if throw_out_delta or OUTPUT_DELTA not in video_outputs:
        return confidences
    return displace_scores(_float64(confidences), _float64(video_outputs[OUTPUT_DELTA]), 1.0)


class ScoreDecaySuppress:
    """Hard NMS: suppress +-floor(window / 2) frames around each kept peak (dense_anchors.md 7.3)."""

    min_detection_score = 0.0


class ScoreDecayLinear:
    """Linear soft-NMS (dense_anchors.md 7.4): radius R = window_expansion * window / 2, weights
    clip(m + (1 - m) |d| / R, 0, 1). With min_weight = 0 (spivak's default) the decays are
    bit-identical to spivak's; with m > 0 spotkern rounds (1 - m) * |d| / R in that order, spivak
    (1 - m) * (|d| / R): a weight may differ in its last bit."""

    min_detection_score = 1e-5

    def __init__(self, min_weight: float, window_expansion: float) -> None:
        self.min_weight = check_float("ScoreDecayLinear", "min_weight", min_weight, minimum=0.0, maximum=1.0)
        self.window_expansion = check_float("ScoreDecayLinear", "window_expansion", window_expansion, minimum=0.0)


class FlexibleNonMaximumSuppression:
    """spivak's per-class NMS: ``FlexibleNonMaximumSuppression(nms_on, class_windows, score_decay)
    .maybe_apply(detection_scores)`` -> (T, C) float64, kept (or emitted, decayed) scores and -1
    elsewhere; the scores unchanged when ``nms_on`` is False. class_windows: (C,) windows in frames
    (may be fractional, as spivak's seconds * fps). Scores are computed in float64 (spivak's
    detection scores are float64 arrays; float32 input is widened first)."""

    def __init__(self, nms_on: bool, class_windows: ArrayLike | None,
                 score_decay: ScoreDecaySuppress | ScoreDecayLinear) -> None:
        self._nms_on = bool(nms_on)
        self._class_windows = None if class_windows is None else np.asarray(class_windows, dtype=np.float64)
        if not isinstance(score_decay, (ScoreDecaySuppress, ScoreDecayLinear)):
            raise TypeError("FlexibleNonMaximumSuppression: score_decay must be a ScoreDecaySuppress or "
                            f"ScoreDecayLinear, got {type(score_decay).__name__}")
        self._score_decay = score_decay

    def maybe_apply(self, detection_scores: np.ndarray) -> np.ndarray:
        if not self._nms_on:
            return detection_scores
        scores = _float64(detection_scores)
        decay = self._score_decay
        windows = self._class_windows
        if windows is None:  # iterating None below would raise an unnamed TypeError
            raise TypeError("FlexibleNonMaximumSuppression: class_windows is None; NMS needs one window per class")
        if isinstance(decay, ScoreDecaySuppress):
            # floor(w / 2) == floor(floor(w) / 2): an integer window keeps spivak's radius exactly
            return nms(scores, [math.floor(w) for w in windows], method="hard")
        kw: dict[str, Any] = dict(method="linear", min_weight=decay.min_weight, threshold=decay.min_detection_score)
        if all(float(w).is_integer() for w in windows):  # R = expansion * W / 2, spivak's order
            return nms(scores, [int(w) for w in windows], expansion=decay.window_expansion, **kw)
        # A fractional w: window 1 with expansion * w gives spivak's R = (expansion * w) / 2 bit for
        # bit; the expansion is one number per call, so one call per class.
        out = np.empty_like(scores)
        for c, w in enumerate(windows):
            col = np.ascontiguousarray(scores[:, c:c + 1])
            out[:, c:c + 1] = nms(col, 1, expansion=decay.window_expansion * float(w), **kw)
        return out
