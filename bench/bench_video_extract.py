"""``spotkern extract`` throughput and memory (issue 19 item 6), on a generated 320 x 180, 25 fps clip.

Group ``video extract <clip>``: decoding alone (``iter_frames``: the same decoded and selected frames), with
one FFmpeg thread (what ``extract_video`` uses beside an encoder on the CPU) and with FFmpeg's own choice
of threads; the ``tiny`` encoder alone (the same frames in memory, batches of ``BATCH``, a torch thread a core)
and the full ``extract_video`` (decoding in a thread, encoding in the caller). Target: full <= 1.15 x
max(decode, encoder), decode the faster of the two decode rows; the full row's ``extra_info`` holds that
ratio, from the fastest rounds of this run. The encoder row's ``extra_info`` holds its frames/s and the time
per 45-minute half (5400 frames at 2 fps) extrapolated from it.

``test_encoder_variants``: frames/s of each encoder (``tiny``; ``resnet152-soccernet`` with random weights
where ``spotkern.video.resnet`` is present) eager, in channels_last, under bf16 autocast and compiled, with the
time per 45-minute half extrapolated (``extra_info``).

``test_extract_rss_10_minutes_vs_1_minute``: peak RSS of ``extract_video`` in a fresh subprocess for a
10-minute and a 1-minute 64 x 36 video (``/proc/self/status``: VmRSS before, VmHWM after; not
``ru_maxrss``, which a child started by ``vfork`` inherits from this process, as big as the whole bench
run); target:
the 10-minute peak at most 1.2 x the 1-minute one (streamed decoding, rows written as they come).

With ``--benchmark-disable`` (CI's smoke run) the clips are seconds long.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("av")
pytest.importorskip("cv2")

from spotkern.video.encoders import build_encoder  # noqa: E402
from spotkern.video.extract import extract_video  # noqa: E402
from spotkern.video.frames import iter_frames  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 16
_FASTEST: dict[str, float] = {}  # row -> fastest round (s), for the full row's ratio
HALF_FRAMES = 45 * 60 * 2


def _quick(request) -> bool:
    return bool(request.config.getoption("benchmark_disable", False))


def _write(path, width, height, seconds, fps=25):
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    try:
        from video_synth import write_video
    finally:
        sys.path.pop(0)
    return write_video(path, width, height, fps, int(seconds * fps))


@pytest.fixture(scope="module")
def clip(request, tmp_path_factory):
    seconds = 4 if _quick(request) else 180
    path = _write(str(tmp_path_factory.mktemp("bench_video") / "clip.mp4"), 320, 180, seconds)
    return path, seconds


@pytest.fixture(scope="module")
def tiny():
    return build_encoder("tiny")


CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@pytest.fixture
def all_cores():
    """The extract group runs on every core (bench/conftest.py pins torch to one thread): decoding and
    encoding share them as ``extract_video`` decides."""
    n = torch.get_num_threads()
    torch.set_num_threads(CORES)
    yield CORES
    torch.set_num_threads(n)


def _group(benchmark, clip, what):
    benchmark.group = f"video extract 320x180 25fps {clip[1]} s ({CORES} cores)"
    benchmark.name = what


def _keep(benchmark, key):
    if benchmark.stats is not None:
        _FASTEST[key] = benchmark.stats.stats.min


@pytest.mark.parametrize("threads", [1, 0], ids=["1 thread", "ffmpeg threads"])
def test_decode_alone(benchmark, clip, threads, all_cores):
    what = "1 FFmpeg thread, as extract" if threads == 1 else "FFmpeg's threads"
    _group(benchmark, clip, f"decode (iter_frames, fps 2, {what})")
    frames = benchmark.pedantic(lambda: list(iter_frames(clip[0], 2.0, threads=threads)), rounds=5, iterations=1,
                                warmup_rounds=1)
    assert len(frames) == 2 * clip[1]
    _keep(benchmark, f"decode{threads}")


def test_encoder_alone(benchmark, clip, tiny, all_cores):
    _group(benchmark, clip, "encoder tiny (frames in memory)")
    frames = np.stack([f.image for f in iter_frames(clip[0], 2.0)])

    def encode():
        return [tiny.encode(frames[i:i + BATCH]) for i in range(0, len(frames), BATCH)]

    out = benchmark.pedantic(encode, rounds=5, iterations=1, warmup_rounds=1)
    assert sum(len(o) for o in out) == len(frames)
    if benchmark.stats is not None:
        fps = len(frames) / benchmark.stats.stats.min
        benchmark.extra_info.update({"frames_per_s": round(fps, 1),
                                     "s_per_45min_half": round(HALF_FRAMES / fps, 1)})
    _keep(benchmark, "encoder")


def test_full_extract(benchmark, clip, tiny, tmp_path, all_cores):
    _group(benchmark, clip, "extract (decode thread || encoder)")
    npy = benchmark.pedantic(lambda: extract_video(clip[0], str(tmp_path), encoder=tiny, batch=BATCH, force=True,
                                                   progress=False), rounds=5, iterations=1, warmup_rounds=1)
    assert np.load(npy).shape[0] == 2 * clip[1]
    _keep(benchmark, "full")
    if {"decode0", "decode1", "encoder", "full"} <= _FASTEST.keys():
        bound = max(min(_FASTEST["decode0"], _FASTEST["decode1"]), _FASTEST["encoder"])
        benchmark.extra_info["full_vs_max_decode_encoder"] = round(_FASTEST["full"] / bound, 3)


def _resnet_encoder():
    """resnet152-soccernet with random weights (the weights file only changes the numbers, not the time)."""
    resnet = pytest.importorskip("spotkern.video.resnet")
    from spotkern.video.encoders import FrameEncoder

    return FrameEncoder("resnet152-soccernet", 2048, "random", resnet.ResNet152Keras(), resnet.caffe_preprocess)


VARIANTS = {"eager fp32": {}, "channels_last": {"channels_last": True}, "bf16 autocast": {"bf16": True},
            "channels_last + bf16": {"channels_last": True, "bf16": True},
            "torch.compile": {"compile": True}}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", ["tiny", "resnet152-soccernet"])
def test_encoder_variants(benchmark, request, name, variant):
    quick = _quick(request)
    if quick and (variant != "eager fp32" or name != "tiny"):
        pytest.skip("--benchmark-disable: only the eager tiny row (compiling and ResNet-152 take seconds)")
    n = 1 if quick else (BATCH if name == "tiny" else 4)
    enc = (build_encoder("tiny") if name == "tiny" else _resnet_encoder()).configure(**VARIANTS[variant])
    frames = np.random.default_rng(0).integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)
    benchmark.group = f"video encoder {name} batch {n} (cpu, 1 thread)"
    benchmark.name = variant
    out = benchmark.pedantic(enc.encode, args=(frames,), rounds=1 if name != "tiny" else 5, iterations=1,
                             warmup_rounds=1)
    assert out.shape == (n, enc.dim) and np.isfinite(out).all()
    if benchmark.stats is not None:
        fps = n / benchmark.stats.stats.min
        benchmark.extra_info.update({"frames_per_s": round(fps, 2), "s_per_45min_half": round(HALF_FRAMES / fps, 1)})


_RSS_CHILD = r"""
import json, os, sys
from spotkern.video.encoders import build_encoder
from spotkern.video.extract import extract_video
enc = build_encoder("tiny")
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
before = status("VmRSS")
extract_video(sys.argv[1], sys.argv[2], encoder=enc, force=True, progress=False)
print(json.dumps({"before_kb": before, "peak_kb": status("VmHWM")}))
"""


def _rss(video, out):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", _RSS_CHILD, video, out], capture_output=True, text=True, env=env,
                       check=True, timeout=600)
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_extract_rss_10_minutes_vs_1_minute(benchmark, request, tmp_path):
    short_s, long_s = (2, 8) if _quick(request) else (60, 600)
    benchmark.group = "video extract RSS"
    benchmark.name = f"extract {long_s} s vs {short_s} s, 64x36 25 fps (subprocesses)"
    short = _write(str(tmp_path / "short.mp4"), 64, 36, short_s)
    long = _write(str(tmp_path / "long.mp4"), 64, 36, long_s)
    a = _rss(short, str(tmp_path / "a"))
    b = benchmark.pedantic(_rss, args=(long, str(tmp_path / "b")), rounds=1, iterations=1)
    ratio = b["peak_kb"] / a["peak_kb"]
    growth_short = a["peak_kb"] - a["before_kb"]
    growth_long = b["peak_kb"] - b["before_kb"]
    benchmark.extra_info.update({"peak_mb_short": round(a["peak_kb"] / 1024, 1),
                                 "peak_mb_long": round(b["peak_kb"] / 1024, 1), "peak_ratio": round(ratio, 3),
                                 "extract_growth_mb_short": round(growth_short / 1024, 1),
                                 "extract_growth_mb_long": round(growth_long / 1024, 1)})
    print(f"\nRSS peak: {short_s} s {a['peak_kb'] / 1024:.1f} MB, {long_s} s {b['peak_kb'] / 1024:.1f} MB "
          f"(x{ratio:.3f}); growth during extraction {growth_short / 1024:.1f} MB vs {growth_long / 1024:.1f} MB")
    assert ratio <= 1.2
