"""Synthetic videos for the spotkern.video tests and benchmarks, written with PyAV.

Each frame shows its own index in binary: the top half of the frame is ``BITS`` horizontal bands, white
for a 1 bit (bit b from the top), black for 0, so that every resize and horizontal crop keeps them; the
bottom half is a colour gradient that changes with the index (pixel comparisons see colour)."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

BITS = 11


def frame_image(i: int, width: int, height: int) -> np.ndarray:
    """Frame ``i`` (RGB uint8, ``(height, width, 3)``)."""
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = xx * 255 // max(width - 1, 1)
    img[..., 1] = yy * 255 // max(height - 1, 1)
    img[..., 2] = (i * 37) % 256
    band = height / 2 / BITS
    for b in range(BITS):
        img[int(b * band):int((b + 1) * band)] = 255 if (i >> b) & 1 else 0
    return img


def read_index(image: np.ndarray) -> int:
    """The index ``frame_image`` drew, read back from a decoded, resized or cropped frame (any width, the
    bands' rows in proportion to the height); only the middle columns holding picture are read."""
    h, w = image.shape[:2]
    gray = image.astype(np.float64).mean(axis=2)
    cols = gray[:, w // 3: max(w - w // 3, w // 3 + 1)]
    band = h / 2 / BITS
    value = 0
    for b in range(BITS):
        row = int((b + 0.5) * band)
        if cols[row].mean() > 127:
            value |= 1 << b
    return value


def write_video(path: str, width: int, height: int, fps, frames: int, *, codec: str = "libx264",
                rotation: int | None = None, pts: list[int] | None = None, time_base: Fraction | None = None,
                image=frame_image) -> str:
    """Write ``frames`` frames of ``image(i, width, height)`` at ``fps`` (a number or Fraction); ``pts``
    with ``time_base`` set explicit timestamps (variable frame rate); ``rotation`` a display matrix."""
    import av

    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    with av.open(path, "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            s.options = {"preset": "ultrafast", "crf": "12"}
        if time_base is not None:
            s.codec_context.time_base = time_base
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(image(i, width, height), format="rgb24")
            if pts is not None:
                f.pts, f.time_base = pts[i], time_base
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path
