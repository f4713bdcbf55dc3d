"""spotkern.video.extract and ``spotkern extract``: the 70-second clip, layouts, sidecar, resume, killed
runs, shards, the tiny encoder, and every bad input of issue 19 item 7 (a one-line error naming the file and
the problem, and no feature file that a later run would take as complete)."""
import glob
import json
import os
from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("cv2")

from spotkern.cli import main  # noqa: E402
from spotkern.video.encoders import ENCODERS, TINY_DIM, build_encoder  # noqa: E402
from spotkern.video.extract import (  # noqa: E402
    SIDECAR_SUFFIX,
    extract_video,
    extract_videos,
    is_complete,
    output_path,
    shard_videos,
)

from video_synth import frame_image, write_video  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return build_encoder("tiny")


@pytest.fixture(scope="module")
def clip70(tmp_path_factory):
    return write_video(str(tmp_path_factory.mktemp("clip") / "clip.mp4"), 64, 36, 25, 70 * 25)


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    return write_video(str(tmp_path_factory.mktemp("short") / "short.mp4"), 64, 36, 25, 3 * 25)


def _cli(capsys, *args):
    code = main(["-q", "extract", *map(str, args), "--no-progress"])
    return code, capsys.readouterr().err


def _leftovers(folder):
    """Files a failed run must not leave: sidecars (= complete) and temporary files."""
    out = []
    for _, _, files in os.walk(folder):
        out += [f for f in files if f.endswith(SIDECAR_SUFFIX) or f.endswith(".tmp")]
    return out


# ----------------------------------------------------------------------------- cores: decoder and encoder
def _timed_frames(per_frame_s, count=24):
    """``iter_frames`` stand-in: ``count`` black frames (a callable of the path, or a number), ``per_frame_s``
    seconds apart."""
    import time

    from spotkern.video.frames import Frame

    def frames(path, fps, **kwargs):
        assert kwargs["threads"] == 1  # a CPU encoder: FFmpeg decodes on one thread
        for i in range(count(path) if callable(count) else count):
            time.sleep(per_frame_s)
            yield Frame(index=i, time=i / 2.0, image=np.zeros((224, 224, 3), np.uint8))
    return frames


@pytest.mark.parametrize("decoder_s, encoder_s, threads_used", [(0.02, 0.0, 1), (0.0, 0.05, 2)],
                         ids=["decoder slower: keeps its core", "encoder slower: takes every core"])
def test_the_encoder_leaves_the_decoder_a_core_while_decoding_is_the_slower_side(
        tmp_path, short, monkeypatch, decoder_s, encoder_s, threads_used):
    import time

    import torch

    import spotkern.video.extract as ex

    enc = build_encoder("tiny")
    seen = []

    def encode(frames):
        seen.append(torch.get_num_threads())
        time.sleep(encoder_s)
        return np.zeros((len(frames), enc.dim), np.float32)

    monkeypatch.setattr(enc, "encode", encode)
    monkeypatch.setattr(ex, "iter_frames", _timed_frames(decoder_s))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        npy = extract_video(short, str(tmp_path), encoder=enc, batch=2, progress=False)
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert after == 2  # restored
    assert seen[0] == 1 and seen[-1] == threads_used
    side = json.loads(open(npy + SIDECAR_SUFFIX).read())
    assert side["threads"] == {"decode": 1, "encoder": threads_used}


def test_concurrent_extractions_leave_torchs_thread_count_as_it_was(tmp_path, monkeypatch):
    """torch's count is shared (the last one set is every new thread's): a second extraction started while
    the first has lowered it, and ending after it, must not restore the lowered count."""
    import threading

    import torch

    import spotkern.video.extract as ex

    videos = {}
    for name, seconds in (("a", 2), ("b", 6)):
        videos[name] = write_video(str(tmp_path / f"{name}.mp4"), 64, 36, 25, seconds * 25)
    monkeypatch.setattr(ex, "iter_frames", _timed_frames(0.01, lambda p: 8 if p.endswith("a.mp4") else 40))
    first_batch = threading.Event()

    def encoder():
        enc = build_encoder("tiny")

        def encode(frames):
            first_batch.set()
            return np.zeros((len(frames), enc.dim), np.float32)

        enc.encode = encode
        return enc

    errors = []

    def run(name):
        try:
            extract_video(videos[name], str(tmp_path / "out"), encoder=encoder(), batch=2, progress=False)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        a = threading.Thread(target=run, args=("a",))
        a.start()
        assert first_batch.wait(30)  # a has lowered torch's count to 3
        b = threading.Thread(target=run, args=("b",))
        b.start()
        a.join(60)
        b.join(60)
        after = torch.get_num_threads()
        # torch's count is per thread, and the last one set is what a new thread starts with
        seen_by_new = []
        t = threading.Thread(target=lambda: seen_by_new.append(torch.get_num_threads()))
        t.start()
        t.join()
    finally:
        torch.set_num_threads(before)
    assert errors == [] and after == 4 and seen_by_new == [4]


def test_torch_threads_are_restored_when_extraction_fails(tmp_path, short, monkeypatch):
    import torch

    enc = build_encoder("tiny")

    def dies(frames):
        raise RuntimeError("encoder failed")

    monkeypatch.setattr(enc, "encode", dies)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="encoder failed"):
            extract_video(short, str(tmp_path), encoder=enc, progress=False)
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert after == 2


@pytest.mark.parametrize("threads", [-1, 1.5, True, "2"])
def test_bad_decode_threads_are_refused(tmp_path, tiny, short, threads):
    from spotkern.video.frames import iter_frames

    with pytest.raises(ValueError, match="extract_video: decode_threads"):
        extract_video(short, str(tmp_path), encoder=tiny, progress=False, decode_threads=threads)
    with pytest.raises(ValueError, match="iter_frames: threads"):
        next(iter_frames(short, 2.0, threads=threads))
    assert _leftovers(tmp_path) == []


def test_adapt_threads_must_be_a_bool(tmp_path, tiny, short):
    with pytest.raises(TypeError, match="extract_video: adapt_threads must be True or False, got str"):
        extract_video(short, str(tmp_path), encoder=tiny, progress=False, adapt_threads="no")
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("threads", [1, 2, 0])
def test_every_decoder_thread_count_gives_the_same_frames(short, threads):
    from spotkern.video.frames import iter_frames

    ref = list(iter_frames(short, 2.0))
    ours = list(iter_frames(short, 2.0, threads=threads))
    assert [f.index for f in ours] == [f.index for f in ref]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(ours, ref))


# ----------------------------------------------------------------------------- the done-when clip
def test_cli_extracts_a_70_second_clip_to_140_finite_rows_with_tiny(tmp_path, capsys, clip70):
    code, err = _cli(capsys, clip70, "--out", tmp_path / "F", "--encoder", "tiny")
    assert code == 0, err
    feats = np.load(tmp_path / "F" / "clip.npy")
    assert feats.dtype == np.float32 and feats.shape[1] == TINY_DIM
    assert abs(feats.shape[0] - 140) <= 1
    assert np.isfinite(feats).all()
    assert feats.std(axis=0).max() > 0  # rows differ: the frames change


def test_sidecar_records_the_request_the_source_and_each_rows_time(tmp_path, tiny, short):
    npy = extract_video(short, str(tmp_path), encoder=tiny, progress=False)
    side = json.load(open(npy + SIDECAR_SUFFIX))
    feats = np.load(npy)
    assert side["shape"] == list(feats.shape) and side["frames"] == len(feats)
    assert side["encoder"] == "tiny" and side["weights_digest"] == tiny.digest and side["pca_digest"] is None
    assert side["fps"] == 2.0 and side["video_fps"] == 25.0
    assert side["frame_indices"] == [12, 24, 37, 49, 62, 74][:len(feats)]
    assert side["timestamps"] == pytest.approx([i / 25 for i in side["frame_indices"]], abs=1e-3)
    assert side["source"]["path"] == os.path.abspath(short)
    assert side["source"]["size"] == os.path.getsize(short)
    assert side["spotkern_version"]
    assert "i % (video_fps / fps) < 1" in side["selection"]


def test_cli_start_and_duration_select_framecvs_frames_and_are_recorded(tmp_path, capsys, short):
    code, err = _cli(capsys, short, "--out", tmp_path, "--encoder", "tiny", "--start", "1", "--duration", "1")
    assert code == 0, err
    side = json.load(open(tmp_path / ("short.npy" + SIDECAR_SUFFIX)))
    # counter i in [25, 50] kept where i % 12.5 < 1: i = 25, 38, 50 -> 0-based 24, 37, 49
    assert side["frame_indices"] == [24, 37, 49] and (side["start"], side["duration"]) == (1.0, 1.0)
    assert np.load(tmp_path / "short.npy").shape == (3, TINY_DIM)
    with pytest.raises(SystemExit):
        _cli(capsys, short, "--out", tmp_path, "--encoder", "tiny", "--duration", "-1")
    assert "--duration" in capsys.readouterr().err


# ----------------------------------------------------------------------------- layouts
def test_soccernet_named_videos_get_the_soccernet_layout(tmp_path, capsys):
    game = tmp_path / "in" / "league" / "2015" / "game A"
    game.mkdir(parents=True)
    for half in (1, 2):
        write_video(str(game / f"{half}_224p.mkv"), 64, 36, 25, 30)
    code, err = _cli(capsys, tmp_path / "in", "--out", tmp_path / "out", "--encoder", "tiny")
    assert code == 0, err
    for half in (1, 2):
        f = tmp_path / "out" / "league" / "2015" / "game A" / f"{half}_tiny.npy"
        assert np.load(f).shape == (2, TINY_DIM)


def test_output_paths_of_each_layout(tmp_path):
    out = str(tmp_path)
    assert output_path("/d/game/1_224p.mkv", out, "ResNET_TF2") == os.path.join(out, "game", "1_ResNET_TF2.npy")
    assert output_path("/d/x/match.mp4", out, "tiny", rel="a/match.mp4") == os.path.join(out, "a", "match.npy")
    assert output_path("/d/match.mp4", out, "tiny", "soccernet") == os.path.join(out, "match", "1_tiny.npy")
    assert output_path("/d/g/2_720p.mkv", out, "tiny", "generic") == os.path.join(out, "2_720p.npy")


def test_two_videos_writing_one_file_is_an_error(tmp_path, capsys):
    for ext in ("mp4", "mkv"):
        write_video(str(tmp_path / f"a.{ext}"), 64, 36, 25, 30)
    code, err = _cli(capsys, tmp_path / "a.mp4", tmp_path / "a.mkv", "--out", tmp_path / "o", "--encoder", "tiny")
    assert code == 2 and "would both write" in err


# ----------------------------------------------------------------------------- resume
def test_a_finished_video_is_skipped_and_a_changed_request_redone(tmp_path, tiny, short):
    npy = extract_video(short, str(tmp_path), encoder=tiny, progress=False)
    first = os.stat(npy).st_mtime_ns
    os.utime(npy, ns=(first - 10**9, first - 10**9))  # a rewrite would change it
    res = extract_videos([short], str(tmp_path), encoder=tiny, progress=False)
    assert res[0]["status"] == "skipped" and os.stat(npy).st_mtime_ns == first - 10**9
    res = extract_videos([short], str(tmp_path), encoder=tiny, fps=1.0, progress=False)
    assert res[0]["status"] == "written" and len(np.load(npy)) == 3
    res = extract_videos([short], str(tmp_path), encoder=tiny, fps=1.0, force=True, progress=False)
    assert res[0]["status"] == "written"


def test_a_killed_run_leaves_no_sidecar_and_the_next_run_restarts_cleanly(tmp_path, short, monkeypatch):
    enc = build_encoder("tiny")
    calls = []

    def dies(frames):
        calls.append(len(frames))
        raise KeyboardInterrupt

    monkeypatch.setattr(enc, "encode", dies)
    with pytest.raises(KeyboardInterrupt):
        extract_video(short, str(tmp_path), encoder=enc, batch=2, progress=False)
    assert calls and _leftovers(tmp_path) == [] and not os.path.exists(tmp_path / "short.npy")
    # a run killed harder (SIGKILL) leaves its temporary file and a stale .npy without sidecar
    (tmp_path / ".short.npy.abcd1234.tmp").write_bytes(b"partial")
    (tmp_path / "short.npy").write_bytes(b"partial")
    monkeypatch.undo()
    res = extract_videos([short], str(tmp_path), encoder=enc, progress=False)
    assert res[0]["status"] == "written"
    assert np.load(tmp_path / "short.npy").shape == (6, TINY_DIM)
    assert glob.glob(str(tmp_path / ".*.tmp")) == []


def test_a_failed_redo_leaves_no_stale_feature_file(tmp_path, short, monkeypatch):
    enc = build_encoder("tiny")
    npy = extract_video(short, str(tmp_path), encoder=enc, progress=False)

    def broken(frames):
        raise ValueError("encoder broke")

    monkeypatch.setattr(enc, "encode", broken)
    with pytest.raises(ValueError, match="encoder broke"):
        extract_video(short, str(tmp_path), encoder=enc, force=True, progress=False)
    assert not os.path.exists(npy) and _leftovers(tmp_path) == []


def test_a_sidecar_without_its_npy_or_of_a_changed_source_is_not_complete(tmp_path, tiny, short):
    npy = extract_video(short, str(tmp_path), encoder=tiny, progress=False)
    request = {"encoder": "tiny"}
    src = {"size": os.path.getsize(short), "mtime": os.stat(short).st_mtime}
    assert is_complete(npy, request, src)
    assert not is_complete(npy, request, {**src, "size": src["size"] + 1})
    os.remove(npy)
    assert not is_complete(npy, request, src)


# ----------------------------------------------------------------------------- shards
def test_shards_cover_every_video_exactly_once(tmp_path, tiny):
    (tmp_path / "in").mkdir()
    for i in range(5):
        write_video(str(tmp_path / "in" / f"v{i}.mp4"), 64, 36, 25, 13)
    seen = []
    for k in (1, 2, 3):
        res = extract_videos([str(tmp_path / "in")], str(tmp_path / "out"), encoder=tiny, shard=(k, 3),
                             progress=False)
        seen += [os.path.basename(r["video"]) for r in res]
    assert sorted(seen) == [f"v{i}.mp4" for i in range(5)]
    assert sorted(os.listdir(tmp_path / "out")) == sorted([f"v{i}.npy" for i in range(5)]
                                                          + [f"v{i}.npy.json" for i in range(5)])
    items = list(range(100))
    parts = [shard_videos(items, (k, 7)) for k in range(1, 8)]
    assert sorted(sum(parts, [])) == items
    with pytest.raises(ValueError, match="shard"):
        shard_videos(items, (0, 3))


def test_cli_shard_flag_takes_k_of_n_from_1(tmp_path, capsys, short):
    code, err = _cli(capsys, short, "--out", tmp_path, "--encoder", "tiny", "--shard", "2/2")
    assert code == 0 and not os.path.exists(tmp_path / "short.npy")  # one video: shard 1/2 holds it
    with pytest.raises(SystemExit) as e:
        _cli(capsys, short, "--out", tmp_path, "--encoder", "tiny", "--shard", "0/2")
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--shard" in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- the tiny encoder
def _solid(bgr):
    return np.broadcast_to(np.array(bgr, np.uint8), (224, 224, 3)).copy()


def test_tiny_features_tell_colour_cues_apart_and_repeat_exactly():
    enc = build_encoder("tiny")
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 60, (224, 224, 3), dtype=np.uint8)
    red, green = _solid((0, 0, 200)) + texture, _solid((0, 200, 0)) + texture
    half = red.copy()
    half[:112] = _solid((200, 0, 0))[:112]  # a cue in the top half only
    f = enc.encode(np.stack([red, green, half, red]))
    assert f.shape == (4, TINY_DIM) and f.dtype == np.float32
    assert np.array_equal(f[0], f[3])
    scale = np.linalg.norm(f[0])
    assert np.linalg.norm(f[0] - f[1]) > 0.2 * scale
    assert np.linalg.norm(f[0] - f[2]) > 0.1 * scale
    again = build_encoder("tiny")
    assert again.digest == enc.digest and np.array_equal(again.encode(red[None]), f[:1])


def test_channels_last_is_exact_and_bf16_autocast_close():
    x = np.random.default_rng(2).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    ref = build_encoder("tiny").encode(x)
    assert np.array_equal(build_encoder("tiny").configure(channels_last=True).encode(x), ref)
    bf16 = build_encoder("tiny").configure(bf16=True).encode(x)
    assert bf16.dtype == np.float32 and np.abs(bf16 - ref).max() <= 2e-2 * np.abs(ref).max()


def test_encoder_registry_names_and_errors():
    assert ENCODERS == ("resnet152-soccernet", "tiny")
    with pytest.raises(ValueError, match="resnet152-soccernet, tiny"):
        build_encoder("resnet50")
    with pytest.raises(ValueError, match="weights"):
        build_encoder("resnet152-soccernet")
    with pytest.raises(ValueError, match="no weights"):
        build_encoder("tiny", weights="x.h5")
    enc = build_encoder("tiny")
    with pytest.raises(ValueError, match=r"\(N, 224, 224, 3\)"):
        enc.encode(np.zeros((1, 100, 100, 3), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        enc.encode(np.zeros((1, 224, 224, 3), np.float32))


def test_resnet152_soccernet_encoder_uses_the_keras_resnet_builder_and_caffe_preprocessing(monkeypatch):
    """The encoder wires spotkern.video.resnet's builder (weights file, device) and its caffe preprocessing;
    the network itself is checked against Keras in tests/test_video_resnet.py."""
    import torch

    import spotkern.video.encoders as encoders

    calls = []

    def build(weights, device="cpu"):
        calls.append((weights, device))
        return torch.nn.Flatten(), "d" * 64

    monkeypatch.setattr(encoders, "build_resnet152_soccernet", build)
    monkeypatch.setattr(encoders, "caffe_preprocess", lambda frames: torch.zeros(len(frames), 2048))
    enc = build_encoder("resnet152-soccernet", weights="w.h5")
    assert calls == [("w.h5", "cpu")]
    assert (enc.name, enc.dim, enc.digest) == ("resnet152-soccernet", 2048, "d" * 64)
    assert enc.encode(np.zeros((3, 224, 224, 3), np.uint8)).shape == (3, 2048)


# ----------------------------------------------------------------------------- PCA
class _FakePCA:
    def __init__(self, in_dim, n):
        self.in_dim, self.n_components, self.digest = in_dim, n, "f" * 64
        self.m = np.random.default_rng(1).standard_normal((in_dim, n)).astype(np.float32)

    def transform(self, x):
        return x @ self.m


def test_a_pca_is_applied_and_recorded(tmp_path, tiny, short):
    npy = extract_video(short, str(tmp_path), encoder=tiny, pca=_FakePCA(TINY_DIM, 8), progress=False)
    assert os.path.basename(npy) == "short.npy"
    assert np.load(npy).shape == (6, 8)
    side = json.load(open(npy + SIDECAR_SUFFIX))
    assert side["features"] == "tiny_PCA8" and side["pca_digest"] == "f" * 64


def test_a_pca_of_the_wrong_size_is_refused(tmp_path, tiny, short):
    with pytest.raises(ValueError, match=f"PCA takes 2048-d features but the encoder tiny gives {TINY_DIM}-d"):
        extract_video(short, str(tmp_path), encoder=tiny, pca=_FakePCA(2048, 512), progress=False)
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- bad input (item 7)
def _zero_frames(p):
    import av

    c = av.open(p, "w")
    s = c.add_stream("mpeg4", rate=25)
    s.width, s.height, s.pix_fmt = 64, 36, "yuv420p"
    c.start_encoding()
    c.close()


def _audio_only(p):
    import av

    with av.open(p, "w") as c:
        s = c.add_stream("aac", rate=16000)
        for _ in range(10):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate = 16000
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def _truncated(p, ext):
    full = p + ".full." + ext
    write_video(full, 64, 36, 25, 250)
    data = open(full, "rb").read()
    open(p, "wb").write(data[: len(data) // 2])
    os.remove(full)


def _corrupted(p):
    full = p + ".full.mp4"
    write_video(full, 64, 36, 25, 250)
    data = bytearray(open(full, "rb").read())
    n = len(data) // 3
    data[n:n + 4000] = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    open(p, "wb").write(bytes(data))
    os.remove(full)


def _vfr(p):
    pts, t = [], 0
    for i in range(100):
        pts.append(t)
        t += 40 if i < 50 else 120  # 25 fps, then 8.3 fps
    write_video(p, 64, 36, 25, 100, pts=pts, time_base=Fraction(1, 1000))


def _one_pixel(p):
    import av

    with av.open(p, "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 1, 1, "bgr0"
        for _ in range(30):
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.full((1, 1, 3), 90, np.uint8), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


BAD = {
    "not_a_video": ("v.mp4", lambda p: open(p, "w").write("not a video\n" * 20), "not a readable video"),
    "truncated_mp4": ("v.mp4", lambda p: _truncated(p, "mp4"), "not a readable video"),
    "truncated_mkv": ("v.mkv", lambda p: _truncated(p, "mkv"), "truncated"),
    "corrupted": ("v.mp4", _corrupted, "corrupted"),
    "zero_frames": ("v.avi", _zero_frames, "no frames"),
    "no_video_stream": ("v.m4a", _audio_only, "no video stream"),
    "variable_frame_rate": ("v.mkv", _vfr, "timestamps do not follow the declared 25 fps"),
    "one_pixel": ("v.mkv", _one_pixel, "1x1 pixels are too small"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_video_is_a_one_line_error_naming_the_file_and_leaves_nothing_complete(tmp_path, capsys, case):
    name, make, problem = BAD[case]
    path = str(tmp_path / name)
    make(path)
    code, err = _cli(capsys, path, "--out", tmp_path / "out", "--encoder", "tiny")
    assert code == 2
    error = [line for line in err.strip().splitlines() if ": error: " in line]
    assert len(error) == 1 and path in error[0] and problem in error[0], err
    assert all(line.startswith("spotkern extract: ") for line in err.strip().splitlines()), err
    assert _leftovers(tmp_path / "out") == []


def test_no_strict_takes_a_variable_frame_rate_video_by_the_counter_and_records_the_drift(tmp_path, capsys):
    path = str(tmp_path / "v.mkv")
    _vfr(path)
    code, err = _cli(capsys, path, "--out", tmp_path / "out", "--encoder", "tiny", "--no-strict")
    assert code == 0, err
    side = json.load(open(tmp_path / "out" / ("v.npy" + SIDECAR_SUFFIX)))
    assert side["frame_indices"] == [12, 24, 37, 49, 62, 74, 87, 99] and side["strict"] is False
    # frames 50.. are 120 ms apart: frame 99 is shown at 49 * 0.12 + 2.0 s, not at 99 / 25 s
    assert side["timestamps"][-1] == pytest.approx(2.0 + 49 * 0.12, abs=1e-3)
    assert side["max_timestamp_drift_s"] == pytest.approx(2.0 + 49 * 0.12 - 99 / 25, abs=1e-3)


def test_a_bad_video_in_a_folder_does_not_stop_the_others(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    write_video(str(tmp_path / "in" / "good.mp4"), 64, 36, 25, 30)
    open(tmp_path / "in" / "bad.mp4", "w").write("nope")
    code, err = _cli(capsys, tmp_path / "in", "--out", tmp_path / "out", "--encoder", "tiny")
    assert code == 2 and "1 of 2 videos failed" in err and "bad.mp4" in err
    assert np.load(tmp_path / "out" / "good.npy").shape == (2, TINY_DIM)
    assert not os.path.exists(tmp_path / "out" / "bad.npy")


def test_4k_frames_are_extracted(tmp_path, tiny):
    def cheap(i, w, h):  # frame_image's gradients cost seconds at 4K
        img = np.zeros((h, w, 3), np.uint8)
        img[: h // 2, : w // 3] = 200 - 100 * i
        return img

    path = write_video(str(tmp_path / "k4.mkv"), 3840, 2160, 2, 2, codec="mpeg4", image=cheap)
    npy = extract_video(path, str(tmp_path / "out"), encoder=tiny, progress=False)
    side = json.load(open(npy + SIDECAR_SUFFIX))
    assert np.load(npy).shape == (2, TINY_DIM) and side["video"]["width"] == 3840


@pytest.mark.parametrize("fps", ["0", "-2", "nan"])
def test_cli_fps_not_above_zero_is_a_usage_error(tmp_path, capsys, short, fps):
    with pytest.raises(SystemExit) as e:
        main(["extract", short, "--out", str(tmp_path), "--encoder", "tiny", "--fps", fps])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--fps" in err and len(err.strip().splitlines()) == 1


def test_fps_above_the_videos_rate_is_an_error_naming_the_file(tmp_path, capsys, short, tiny):
    code, err = _cli(capsys, short, "--out", tmp_path, "--encoder", "tiny", "--fps", "30")
    assert code == 2 and short in err and "above the video's frame rate 25" in err
    with pytest.raises(ValueError, match="fps must be a number > 0"):
        extract_video(short, str(tmp_path), encoder=tiny, fps=0.0)
    assert os.listdir(tmp_path) == []


def test_an_unwritable_output_is_a_one_line_error(tmp_path, capsys, short):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = _cli(capsys, short, "--out", blocker / "out", "--encoder", "tiny")
    assert code == 2 and str(blocker) in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("device", ["nonsense", "cuda:0"])
def test_a_bad_device_is_a_one_line_error(tmp_path, capsys, short, device):
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    code, err = _cli(capsys, short, "--out", tmp_path, "--encoder", "tiny", "--device", device)
    assert code == 2 and "--device" in err and len(err.strip().splitlines()) == 1


def test_a_missing_video_is_a_one_line_error(tmp_path, capsys):
    code, err = _cli(capsys, tmp_path / "nope.mp4", "--out", tmp_path, "--encoder", "tiny")
    assert code == 2 and "nope.mp4" in err and len(err.strip().splitlines()) == 1


def test_start_duration_beyond_the_video_selects_nothing_and_writes_nothing(tmp_path, tiny, short):
    with pytest.raises(ValueError, match="no frame selected"):
        extract_video(short, str(tmp_path), encoder=tiny, start=100.0, progress=False)
    assert _leftovers(tmp_path) == [] and not os.path.exists(tmp_path / "short.npy")


def test_without_the_video_extra_the_command_names_it(tmp_path, monkeypatch, short):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "av" else real(name, *a))
    with pytest.raises(SystemExit, match=r"needs the video extra \(av missing\): pip install 'spotkern\[video\]'"):
        main(["extract", short, "--out", str(tmp_path), "--encoder", "tiny"])


def test_frame_image_changes_with_the_index():
    assert not np.array_equal(frame_image(1, 64, 36), frame_image(2, 64, 36))
