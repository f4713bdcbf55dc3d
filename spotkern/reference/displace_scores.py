"""Displacement scattering, transcribed from dense_anchors.md section 7.1 (spivak's
``create_detection_scores``)."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt


def displace_scores_ref(confidence: npt.ArrayLike, displacement: npt.ArrayLike,
                        radius_displacement: float) -> np.ndarray:
    """D[clip(t + rint(rd * displacement[t, c]), 0, T - 1), c] = max(..., confidence[t, c]), zeros elsewhere.

    confidence, displacement: (T, C) or (B, T, C) float32; displacement in rd units (the tanh head's
    output), scaled to frames in float64. Returns the same shape, float32.
    """
    confidence = np.asarray(confidence)
    displacement = np.asarray(displacement)
    if confidence.ndim == 3:
        return np.stack([displace_scores_ref(c, d, radius_displacement) for c, d in zip(confidence, displacement)])
    T, C = confidence.shape
    out = np.zeros((T, C), dtype=np.float32)
    for t in range(T):
        for c in range(C):
            delta = float(radius_displacement) * float(displacement[t, c])  # frames
            u = min(max(t + np.rint(delta), 0), T - 1)  # rint: round half to even
            u = int(u)
            out[u, c] = max(out[u, c], confidence[t, c])
    return out
