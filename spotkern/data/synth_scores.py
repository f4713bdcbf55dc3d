"""Synthetic raw model outputs with the shape of a dense-anchor model's (for tests, benchmarks and the
tuning walkthrough): a low sigmoid background, a confidence bump near each action, spurious bumps,
and displacements pointing at the bump's centre, in rd units (dense_anchors.md 2.1-2.3)."""
from __future__ import annotations

import numpy as np


def synth_raw_scores(rng: np.random.Generator, num_frames: int, num_classes: int, frames: np.ndarray,
                     classes: np.ndarray, *,
                     radius_displacement: float = 12.0, false_bumps_per_class: float = 4.0,
                     jitter: float = 2.0, width: float = 3.0) -> dict:
    """A raw dict (``spotkern.postprocess``) for one half: confidence and displacement (T, C) float32.

    frames, classes: the half's actions. Each action gets a bump of peak U(0.3, 0.95) and width
    ``width`` frames centred ``N(0, jitter)`` frames away; each class gets Poisson(``false_bumps_per_class``)
    bumps of peak U(0.02, 0.5) at random frames. Displacements within rd of a bump point at its
    centre (with noise); elsewhere they are noise."""
    T, C = int(num_frames), int(num_classes)
    rd = float(radius_displacement)
    logits = rng.normal(-6.0, 1.5, size=(T, C))
    conf = 1.0 / (1.0 + np.exp(-logits))
    disp = np.clip(rng.normal(0.0, 0.3, size=(T, C)), -1.0, 1.0)
    t = np.arange(T)
    bumps = [(int(f), int(c), rng.uniform(0.3, 0.95), rng.normal(0.0, jitter)) for f, c in zip(frames, classes)]
    for c in range(C):
        for f in rng.integers(0, T, size=rng.poisson(false_bumps_per_class)):
            bumps.append((int(f), c, rng.uniform(0.02, 0.5), 0.0))
    for f, c, peak, shift in bumps:
        centre = f + shift
        lo, hi = max(int(centre - 4 * width - rd), 0), min(int(centre + 4 * width + rd) + 1, T)
        if lo >= hi:
            continue
        d = t[lo:hi] - centre
        conf[lo:hi, c] = np.maximum(conf[lo:hi, c], peak * np.exp(-0.5 * (d / width) ** 2))
        near = np.abs(d) <= rd
        disp[lo:hi, c] = np.where(near, np.clip(-d / rd + rng.normal(0.0, 0.05, d.shape), -1.0, 1.0), disp[lo:hi, c])
    return {"confidence": conf.astype(np.float32), "displacement": disp.astype(np.float32),
            "radius_displacement": rd}
