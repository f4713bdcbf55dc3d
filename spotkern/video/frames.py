"""Streamed video decoding with SoccerNet's frame selection and ``crop`` transform (soccernet_features.md 1).

``iter_frames(path, fps=2.0)`` decodes a video with PyAV one frame at a time (memory does not grow with the
video's length) and yields the frames that SoccerNet's reader ``FrameCV(path, FPS=fps, transform="crop")``
keeps, each as a ``Frame`` (decoded index, timestamp in seconds, 224 x 224 x 3 BGR uint8 image):

* Selection (1.2, 1.3): a counter ``i`` counts the decoded frames from 1; frame ``i`` is kept when
  ``i % (fps_video / fps) < 1`` in float64, with ``fps_video`` the stream's declared rate (``average_rate``,
  what OpenCV's ``CAP_PROP_FPS`` reads); ``start`` skips frames with ``i < fps_video * start``, ``duration``
  those with ``i > fps_video * (start + duration)`` (decoding stops there). At 25 fps the kept 0-based
  frames are 12, 24, 37, 49, ...
* Pixels: PyAV's ``bgr24`` conversion (the same swscale conversion as OpenCV's reader: bit-identical frames
  on the synthetic videos of tests/test_video_frames.py), then FrameCV's ``crop``: resize to height 224 with
  width ``int(w * 224 / h)`` (``imutils.resize``), ``cv2.INTER_AREA``, then ``off = (width - 224) // 2`` and
  the 224 middle columns.
* OpenCV is used for that resize only (``video`` extra). A numpy area resize (exact separable box weights)
  matched OpenCV within 1 grey level when shrinking but not when enlarging (OpenCV's ``INTER_AREA``
  enlarges with its own linear weights: up to 248 levels off for 64 x 36 -> 398 x 224) and took 10 to 60 x
  longer (4.3 s against 69 ms per 3840 x 2160 frame), so parity and speed both need ``cv2.resize``.

Deliberate differences from FrameCV (each where FrameCV gives no 224 x 224 frame or reads twice):

* Width after the resize not ``224 + 2 * off`` with ``off >= 1``: FrameCV's ``frame[:, off:-off]`` is
  225 wide for an odd difference (e.g. 4:3 at 299 px) and empty for a width of 224 or 225 (``off = 0``)
  and for every frame narrower than 224 (portrait: negative ``off``). spotkern keeps the 224 middle
  columns ``[off, off + 224)`` (FrameCV's crop minus its last column for an odd difference) and pads a
  narrower frame with black columns on both sides (``(224 - width) // 2`` on the left), so every frame is
  224 x 224 at the scale of the landscape frames.
* Frame count and rate (1.4): FrameCV reads the video again with ``fps_video = frames / duration`` when
  fewer frames than ``int(duration * fps_video) - 1`` came out, i.e. when the declared rate is wrong.
  spotkern reads once and checks the declared rate against the frames' timestamps as it goes: a frame whose
  timestamp is more than ``max(1 / fps, 2 / fps_video)`` (one output row, at least two frames) away from
  ``(i - 1) / fps_video`` is a ``ValueError`` (variable frame rate, or a declared rate that the timestamps
  contradict), because the counter rule places rows at the wrong times on such a video; re-encode it at a
  constant rate (``ffmpeg -i in.mp4 -vf fps=25 out.mp4``), or pass ``strict=False`` (``spotkern extract
  --no-strict``) to select by the counter as FrameCV does, e.g. to reproduce SoccerNet's features of a
  broadcast with dropped frames; the timestamps still say when each row is shown. A video with fewer
  frames than its container declares (by more than one), or, where it declares no count, than its duration
  says (by more than a second's worth), is refused as truncated (also taken with ``strict=False``).
* Rotation metadata (a display matrix, phone videos) is applied: frames are rotated to the orientation a
  player shows, by the matrix's multiple of 90 degrees, before the resize, as OpenCV >= 4.5 does by
  default (OpenCV 3.4, which SoccerNet pins, ignored it). Other angles are refused; flips are ignored.
* Frames smaller than ``MIN_SIDE`` pixels on a side (a 1 x 1 video) are refused: nothing is left to see at
  224 x 224.

Timestamps are seconds from the first decoded frame, from each frame's PTS (``(i - 1) / fps_video`` for a
stream without timestamps).
"""
from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

SIZE = 224  # FrameCV's crop: frames of SIZE x SIZE
MIN_SIDE = 16  # smallest width or height accepted (pixels)
#: file extensions that ``find_videos`` takes as videos
VIDEO_EXTENSIONS = (".mkv", ".mp4", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".m2ts", ".wmv",
                    ".flv", ".3gp", ".ogv")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video's first video stream (before decoding). ``width`` x
    ``height`` are the frames as shown (after the rotation); ``frames`` is 0 where the container does not
    say; ``duration`` is None where it does not say."""

    path: str
    width: int
    height: int
    rotation: int
    fps: float
    rate: Fraction
    frames: int
    duration: float | None
    codec: str


@dataclass(frozen=True)
class Frame:
    """A kept frame: ``index`` (0-based among the decoded frames), ``time`` (seconds from the first
    decoded frame), ``image`` (``(224, 224, 3)`` uint8, BGR)."""

    index: int
    time: float
    image: np.ndarray


def _fail(fn: str, path: str, problem: str) -> ValueError:
    return ValueError(f"{fn}: {path}: {problem}")


def _open(fn: str, path: str):
    import av  # optional dependency: video

    if not os.path.exists(path):
        raise FileNotFoundError(f"{fn}: {path}: no such file")
    if not os.path.isfile(path):
        raise _fail(fn, path, "not a regular file")
    try:
        container = av.open(path, metadata_errors="replace")
    except av.FFmpegError as e:
        raise _fail(fn, path, f"not a readable video ({_av_message(e)})") from None
    if not container.streams.video:
        container.close()
        raise _fail(fn, path, "no video stream")
    return container


def _av_message(e: BaseException) -> str:
    return " ".join(str(getattr(e, "strerror", None) or e).split())


def _stream_info(fn: str, path: str, container) -> VideoInfo:
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or rate <= 0:
        raise _fail(fn, path, "the video stream declares no frame rate")
    w, h = stream.codec_context.width, stream.codec_context.height
    duration = None
    if stream.duration is not None and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000  # AV_TIME_BASE
    return VideoInfo(path=path, width=int(w), height=int(h), rotation=0, fps=float(rate), rate=Fraction(rate),
                     frames=int(stream.frames or 0), duration=duration, codec=stream.codec_context.name)


def probe_video(path: str) -> VideoInfo:
    """The first video stream's size, rate, declared frame count and duration (the container's word;
    ``iter_frames`` checks it while decoding). A file that is not a video, or has no video stream, is a
    ``ValueError`` naming the file."""
    import av  # optional dependency: video

    path = os.fspath(path)
    container = _open("probe_video", path)
    try:
        info = _stream_info("probe_video", path, container)
        # the rotation is a property of the frames (their display matrix): decode the first one
        try:
            frame = next(container.decode(video=0), None)
        except av.FFmpegError as e:
            raise _fail("probe_video", path, f"corrupted video ({_av_message(e)})") from None
        if frame is not None:
            rot = _frame_rotation("probe_video", path, frame)
            if rot % 180:
                info = dataclasses.replace(info, rotation=rot, width=info.height, height=info.width)
            elif rot:
                info = dataclasses.replace(info, rotation=rot)
        return info
    finally:
        container.close()


def _frame_rotation(fn: str, path: str, frame) -> int:
    rot = frame.rotation if hasattr(frame, "rotation") else 0
    rot = int(round(rot or 0))
    if rot % 90:
        raise _fail(fn, path, f"rotation metadata of {rot} degrees (only multiples of 90 are applied)")
    return rot % 360


def resized_width(width: int, height: int) -> int:
    """FrameCV's width after ``imutils.resize(frame, height=224)``: ``int(width * (224 / height))``."""
    return int(width * (SIZE / float(height)))


def resize_to_height(image: np.ndarray) -> np.ndarray:
    """``imutils.resize(image, height=224)``: ``(h, w, 3)`` -> ``(224, int(w * 224 / h), 3)``, ``cv2.INTER_AREA``."""
    import cv2  # optional dependency: video

    h, w = image.shape[:2]
    return cv2.resize(image, (resized_width(w, h), SIZE), interpolation=cv2.INTER_AREA)


def crop_224(image: np.ndarray) -> np.ndarray:
    """spotkern's ``crop``: resize to height 224 keeping the aspect ratio (``resize_to_height``), then the
    224 middle columns, or black padding on both sides of a narrower frame (module docstring):
    ``(h, w, 3)`` uint8 -> ``(224, 224, 3)`` uint8. Equal to FrameCV's ``crop`` wherever that one is
    224 wide."""
    r = resize_to_height(image)
    w = r.shape[1]
    if w >= SIZE:
        off = (w - SIZE) // 2
        return np.ascontiguousarray(r[:, off:off + SIZE])
    out = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    left = (SIZE - w) // 2
    out[:, left:left + w] = r
    return out


def frame_rate_ratio(fn: str, path: str, video_fps: float, fps: float) -> float:
    """``video_fps / fps``, FrameCV's ``drop_extra_frames``; ``fps`` must be in ``(0, video_fps]``."""
    if not (isinstance(fps, (int, float)) and not isinstance(fps, bool)) or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"{fn}: fps must be a number > 0, got {fps!r}")
    if fps > video_fps * (1 + 1e-9):
        raise _fail(fn, path, f"fps={fps:g} is above the video's frame rate {video_fps:g}")
    return video_fps / fps


def check_window(fn: str, start: float | None, duration: float | None) -> None:
    for name, v in (("start", start), ("duration", duration)):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{fn}: {name} must be a finite number of seconds, got {v!r}")
    if start is not None and start < 0:
        raise ValueError(f"{fn}: start must be >= 0 seconds, got {start!r}")
    if duration is not None and duration <= 0:
        raise ValueError(f"{fn}: duration must be > 0 seconds, got {duration!r}")


def iter_frames(path: str, fps: float = 2.0, *, start: float | None = None, duration: float | None = None,
                strict: bool = True, decoded: list[int] | None = None, threads: int = 0) -> Iterator[Frame]:
    """Yield the frames FrameCV keeps at ``fps`` (module docstring), each a ``Frame`` with a
    ``(224, 224, 3)`` uint8 BGR image, decoding one frame at a time. ``start``/``duration`` in seconds
    (FrameCV's rule, ``start`` None = 0). ``strict=False`` takes a video whose timestamps or frame count
    disagree with its declared rate as FrameCV does (by the counter alone; each ``Frame.time`` still says
    when the frame is shown) instead of refusing it. ``decoded``, when given, is a one-element list that receives the
    number of frames decoded so far (for progress bars). Bad videos are a ``ValueError`` naming the file
    and the problem (module docstring), raised when it is found: frames yielded before belong to a video
    that the caller must discard. ``threads``: FFmpeg's decoding threads, 0 for its own choice (frame and slice
    threads on every core), 1 for one thread (what ``extract_video`` uses beside an encoder on the CPU)."""
    fn = "iter_frames"
    path = os.fspath(path)
    check_window(fn, start, duration)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"{fn}: threads must be an integer >= 0 (0: FFmpeg's choice), got {threads!r}")
    import av  # optional dependency: video

    container = _open(fn, path)
    try:
        info = _stream_info(fn, path, container)
        ratio = frame_rate_ratio(fn, path, info.fps, fps)
        video_fps = info.fps
        first = video_fps * start if start is not None else -math.inf
        last = video_fps * ((start or 0.0) + duration) if duration is not None else math.inf
        tolerance = max(1.0 / fps, 2.0 / video_fps)
        stream = container.streams.video[0]
        if threads == 1:
            stream.thread_type = "NONE"
        else:
            stream.thread_type = "AUTO"
            stream.thread_count = threads
        t0: float | None = None
        i = 0
        stopped = False
        rotation = None
        try:
            for frame in container.decode(stream):
                i += 1
                if decoded is not None:
                    decoded[0] = i
                if i == 1:
                    if frame.width < MIN_SIDE or frame.height < MIN_SIDE:
                        raise _fail(fn, path, f"frames of {frame.width}x{frame.height} pixels are too small "
                                              f"(at least {MIN_SIDE}x{MIN_SIDE})")
                    rotation = _frame_rotation(fn, path, frame)
                    w, h = (frame.height, frame.width) if rotation % 180 else (frame.width, frame.height)
                    if resized_width(w, h) < 1:
                        raise _fail(fn, path, f"frames of {w}x{h} pixels are too narrow to resize to height {SIZE}")
                t = frame.time
                if t is None:
                    t = (i - 1) / video_fps
                    if t0 is None:
                        t0 = 0.0
                elif t0 is None:
                    t0 = t
                t -= t0
                if strict and abs(t - (i - 1) / video_fps) > tolerance:
                    raise _fail(fn, path, f"timestamps do not follow the declared {video_fps:g} fps: frame "
                                          f"{i - 1} is at {t:.3f} s, not {(i - 1) / video_fps:.3f} s (a variable "
                                          f"frame rate, or frames missing from a corrupted file; re-encode at a "
                                          f"constant rate, e.g. ffmpeg -vf fps=25)")
                if i < first:
                    continue
                if i > last:
                    stopped = True
                    break
                if i % ratio < 1:
                    # one swscale thread: its default (0) starts a thread pool for every frame, which took
                    # longer than the conversion (0.4 ms a frame at 320 x 180); the pixels are the same
                    image = frame.to_ndarray(format="bgr24", threads=1)
                    if rotation:
                        image = np.rot90(image, rotation // 90)
                    yield Frame(index=i - 1, time=float(t), image=crop_224(image))
        except av.FFmpegError as e:  # before ValueError: PyAV's InvalidDataError is one
            raise _fail(fn, path, f"corrupted or truncated video after {i} frames ({_av_message(e)})") from None
        except ValueError:
            raise
        except Exception as e:  # noqa: BLE001 - any other decoder failure: a corrupted file
            raise _fail(fn, path, f"corrupted or truncated video after {i} frames ({_av_message(e)})") from None
        if i == 0:
            raise _fail(fn, path, "no frames (an empty video stream)")
        if strict and not stopped:
            _check_count(fn, path, info, i)
    finally:
        container.close()


def _check_count(fn: str, path: str, info: VideoInfo, decoded: int) -> None:
    """Refuse a video that ends early: fewer frames than the container declares (by more than one, FrameCV's
    1.4 margin), or, where it declares no count, than its duration says (by more than a second's worth:
    a container's duration may include a longer audio stream)."""
    if info.frames > 0:
        if info.frames - decoded > 1:
            raise _fail(fn, path, f"truncated: {decoded} frames decoded of the {info.frames} the container declares")
    elif info.duration:
        expected = int(info.duration * info.fps)
        if expected - decoded > max(2.0, info.fps):
            raise _fail(fn, path, f"truncated: {decoded} frames decoded, the container's duration "
                                  f"{info.duration:.2f} s at {info.fps:g} fps says {expected}")


def find_videos(paths: list[str]) -> list[tuple[str, str]]:
    """``(video path, path relative to its root)`` for each file given and each file with a video extension
    (``VIDEO_EXTENSIONS``) under each folder given, recursively; a file given by name is taken whatever its
    extension. A missing path is a ``FileNotFoundError``."""
    out: list[tuple[str, str]] = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            found = []
            for dirpath, dirnames, files in os.walk(p):
                dirnames.sort()
                for f in sorted(files):
                    if f.lower().endswith(VIDEO_EXTENSIONS) and not f.startswith("."):
                        full = os.path.join(dirpath, f)
                        found.append((full, os.path.relpath(full, p)))
            out.extend(found)
        elif os.path.exists(p):
            out.append((p, os.path.basename(p)))
        else:
            raise FileNotFoundError(f"find_videos: {p}: no such file or folder")
    return out
