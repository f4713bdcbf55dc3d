"""spotkern.video.frames against SoccerNet's own reader, ``SoccerNet.DataLoader.FrameCV(path, FPS=2,
transform="crop")`` (soccernet_features.md 1), on synthetic videos whose frames show their index.

Pixel tolerance: ``MAX_PIXEL_DIFF`` grey levels. Both readers decode with FFmpeg's decoders (H.264 decoding
is bit-exact by the standard) and convert yuv420p -> BGR with swscale's default BT.601 conversion, and both
resize with OpenCV's INTER_AREA, so the frames are identical where PyAV and OpenCV bundle the same swscale
code paths (measured here: 0 levels). Two levels allow for another build's SIMD conversion rounding (one
level in the chroma upsampling, one in the conversion to 8 bits), far below what a wrong frame, channel
order, crop offset or interpolation gives (tens of levels on these gradients).

FrameCV's module imports ``moviepy.editor`` (for the duration) and ``skvideo`` (unused): missing ones are
stubbed in ``sys.modules``, and ``getDuration`` returns the container's duration as moviepy would (it reads
the same FFmpeg duration). ``imutils`` is the real package (dev extra).
"""
import importlib
import sys
import types
from fractions import Fraction

import numpy as np
import pytest

av = pytest.importorskip("av")
pytest.importorskip("cv2")
pytest.importorskip("imutils")

from spotkern.video.frames import SIZE, crop_224, iter_frames, probe_video, resize_to_height  # noqa: E402

from video_synth import read_index, write_video  # noqa: E402

MAX_PIXEL_DIFF = 2
SECONDS = 5


@pytest.fixture(scope="module")
def framecv():
    saved = {}
    for name in ("moviepy", "moviepy.editor", "skvideo", "skvideo.io"):
        try:
            importlib.import_module(name)
        except ImportError:
            saved[name] = sys.modules.get(name)
            sys.modules[name] = types.ModuleType(name)
    if "moviepy.editor" in saved:
        sys.modules["moviepy"].editor = sys.modules["moviepy.editor"]  # type: ignore[attr-defined]
    loader = importlib.import_module("SoccerNet.DataLoader")

    def duration(path):
        with av.open(path) as c:
            return c.duration / 1_000_000

    original = loader.getDuration
    loader.getDuration = duration
    yield loader.FrameCV
    loader.getDuration = original
    for name, mod in saved.items():
        if mod is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = mod


def _video(tmp_path, name, width, height, fps, seconds=SECONDS, **kw):
    return write_video(str(tmp_path / name), width, height, fps, int(round(float(fps) * seconds)), **kw)


@pytest.mark.parametrize("fps, width, height", [
    (25, 640, 360),                       # 16:9, resized 640x360 -> 398x224, cropped 87 px a side
    (Fraction(30000, 1001), 640, 360),    # 29.97: ratio 14.985
    (50, 398, 224),                       # SoccerNet's 224p size: no resize, crop 87 px a side
    (25, 480, 360),                       # 4:3: 298 wide after the resize, cropped 37 px a side
])
def test_frames_equal_framecv_crop_indices_and_pixels(tmp_path, framecv, fps, width, height):
    path = _video(tmp_path, "v.mp4", width, height, fps)
    ref = framecv(path, FPS=2, transform="crop")
    ours = list(iter_frames(path, 2.0))
    assert ref.frames.shape[1:] == (SIZE, SIZE, 3)
    assert len(ours) == len(ref.frames) > 0
    ref_idx = [read_index(f) for f in ref.frames]
    assert [f.index for f in ours] == ref_idx
    assert [read_index(f.image) for f in ours] == ref_idx
    diff = max(int(np.abs(a.astype(np.int16) - f.image.astype(np.int16)).max()) for a, f in zip(ref.frames, ours))
    assert diff <= MAX_PIXEL_DIFF


def test_selection_at_25_fps_keeps_the_1_based_counter_frames(tmp_path):
    path = _video(tmp_path, "v.mp4", 320, 180, 25, seconds=4)
    # i % 12.5 < 1 with i counted from 1: 0-based frames 12, 24, 37, 49, 62, 74, 87, 99 (spec 1.2)
    frames = list(iter_frames(path, 2.0))
    assert [f.index for f in frames] == [12, 24, 37, 49, 62, 74, 87, 99]
    assert [read_index(f.image) for f in frames] == [f.index for f in frames]
    assert [f.time for f in frames] == pytest.approx([i / 25 for i in (12, 24, 37, 49, 62, 74, 87, 99)], abs=1e-6)


def test_start_and_duration_select_as_framecv(tmp_path, framecv):
    path = _video(tmp_path, "v.mp4", 398, 224, 25, seconds=6)
    ref = framecv(path, FPS=2, transform="crop", start=1.5, duration=2.0)
    ours = list(iter_frames(path, 2.0, start=1.5, duration=2.0))
    assert [f.index for f in ours] == [read_index(f) for f in ref.frames]
    assert ours and ours[0].index >= 36 and ours[-1].index <= 25 * 3.5


def test_portrait_is_padded_to_224_where_framecv_crop_is_empty(tmp_path, framecv):
    path = _video(tmp_path, "p.mp4", 180, 320, 25)
    ref_crop = framecv(path, FPS=2, transform="crop")
    ref = framecv(path, FPS=2, transform=None)
    ours = list(iter_frames(path, 2.0))
    # FrameCV's crop of a portrait frame is empty (negative offset): same frames, no pixels
    assert ref_crop.frames.shape[1:] == (SIZE, 0, 3)
    assert len(ours) == len(ref_crop.frames) == len(ref.frames)
    assert [f.index for f in ours] == [read_index(f) for f in ref.frames]
    width = int(180 * (224 / 320.0))  # imutils: 125 (the float ratio rounds 126 down)
    left = (SIZE - width) // 2
    for a, f in zip(ref.frames, ours):
        resized = resize_to_height(a)
        assert resized.shape == (SIZE, width, 3)
        assert np.abs(f.image[:, left:left + width].astype(np.int16) - resized).max() <= MAX_PIXEL_DIFF
        assert not f.image[:, :left].any() and not f.image[:, left + width:].any()


def test_odd_width_difference_keeps_framecv_crop_minus_its_last_column(tmp_path, framecv):
    path = _video(tmp_path, "o.mp4", 598, 448, 25, seconds=2)  # 299 wide at height 224: FrameCV gives 225
    ref = framecv(path, FPS=2, transform="crop")
    ours = list(iter_frames(path, 2.0))
    assert ref.frames.shape[1:] == (SIZE, 225, 3)
    for a, f in zip(ref.frames, ours):
        assert f.image.shape == (SIZE, SIZE, 3)
        assert np.abs(f.image.astype(np.int16) - a[:, :SIZE]).max() <= MAX_PIXEL_DIFF


def test_width_224_keeps_the_whole_frame_where_framecv_crop_is_empty(tmp_path, framecv):
    path = _video(tmp_path, "s.mp4", 448, 448, 25, seconds=2)
    assert framecv(path, FPS=2, transform="crop").frames.shape[2] == 0
    ref = framecv(path, FPS=2, transform=None)
    ours = list(iter_frames(path, 2.0))
    for a, f in zip(ref.frames, ours):
        assert np.abs(f.image.astype(np.int16) - resize_to_height(a)).max() <= MAX_PIXEL_DIFF


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_metadata_is_applied_as_opencv_does(tmp_path, framecv, rotation):
    path = _video(tmp_path, "r.mp4", 320, 180, 25, seconds=2, rotation=rotation)
    info = probe_video(path)
    assert info.rotation == rotation % 360
    assert (info.width, info.height) == ((180, 320) if rotation % 180 else (320, 180))
    ref = framecv(path, FPS=2, transform=None)  # OpenCV >= 4.5 rotates by the display matrix
    ours = list(iter_frames(path, 2.0))
    assert ref.frames.shape[1:3] == (info.height, info.width)
    assert len(ours) == len(ref.frames)
    for a, f in zip(ref.frames, ours):
        assert np.abs(f.image.astype(np.int16) - crop_224(a)).max() <= MAX_PIXEL_DIFF


def test_timestamps_come_from_pts(tmp_path):
    path = _video(tmp_path, "t.mkv", 64, 36, Fraction(30000, 1001), seconds=3)
    frames = list(iter_frames(path, 2.0))
    assert [f.time for f in frames] == pytest.approx([f.index * 1001 / 30000 for f in frames], abs=1e-3)


def test_frames_are_streamed_one_at_a_time(tmp_path):
    path = _video(tmp_path, "g.mp4", 64, 36, 25, seconds=3)
    it = iter_frames(path, 2.0)
    first = next(it)
    assert first.index == 12 and first.image.shape == (SIZE, SIZE, 3) and first.image.dtype == np.uint8
    it.close()  # closes the container
