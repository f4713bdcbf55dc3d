"""``spotkern extract``: videos -> per-frame feature files (soccernet_features.md 4), streamed and resumable.

``extract_video`` decodes one video in a thread (``spotkern.video.frames.iter_frames``) that feeds batches
of frames through a bounded queue to the encoder in the calling thread, so decoding and encoding overlap
and memory holds at most ``QUEUE_BATCHES + 2`` batches of frames whatever the video's length. Feature rows
go straight to disk.

Cores (``decode_threads``, ``adapt_threads``): beside an encoder on the CPU, FFmpeg decodes on one thread,
because its frame and slice threads would take the cores torch's threads use (on 2 cores, 1.3 to 1.5 x
slower in all); the encoder starts with one torch thread fewer than torch's count, so the decoder has
a core of its own, and takes every core as soon as its batches so far took ``ENCODER_BOUND`` x as long to
encode as to decode: encoding is then the slower side, as with ``resnet152-soccernet`` on a CPU (after its
first batch), and decoding needs a fraction of a core. With ``tiny``, decoding is the slower side and keeps
its core. torch's count is restored after each video; it is shared by the threads, so one extraction at a
time adapts it. With an encoder on a GPU, FFmpeg decodes on every core.

Output, under ``out``:

* SoccerNet layout (``layout="soccernet"``, or ``"auto"`` for a video named like SoccerNet's ``1_224p.mkv``
  / ``2_720p.mkv``): ``<game>/<half>_<name>.npy``, ``<game>`` the video's folder relative to the folder
  given (or its parent folder's name for a file given by name); a video not named ``1_``/``2_`` is
  ``<stem>/1_<name>.npy``.
* generic layout (``"auto"`` for other names, or ``"generic"``): ``<folder relative to the one given>/<video
  stem>.npy``.

``<name>`` is ``ResNET_TF2`` for ``resnet152-soccernet`` (``ResNET_TF2_PCA512`` with SoccerNet's PCA), the
encoder's name otherwise (``tiny``, ``tiny_PCA<n>``). Each ``.npy`` is ``(T, D)`` float32, one row per kept
frame, with a JSON sidecar ``<file>.npy.json`` beside it (``SIDECAR_SUFFIX``): fps, video rate, start and
duration, encoder, weights digest, PCA digest, the source file (path, size, mtime), the frame count, each
row's decoded frame index and timestamp (seconds from the first frame; FrameCV's selection rule also
recorded), the spotkern version.

Atomic and resumable: rows are written to a temporary file in the output folder (``.<file>.<random>.tmp``)
that replaces the ``.npy`` once complete; the sidecar is written last, also through a temporary file, and
its presence means complete. A video whose sidecar matches the request (same encoder, digests, fps,
window and source size/mtime) is skipped. Redoing a video first deletes its old sidecar and ``.npy``, so a
failed or killed run leaves no feature file of it (only stray temporary files, which the next run deletes
before it restarts that video).
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import logging
import math
import os
import queue
import re
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from spotkern._argparse import BoolFlag, int_in, positive_float
from spotkern._files import publish, remove_if_present, temporary_beside, write_json_atomic
from spotkern._version import __version__
from spotkern.video.encoders import ENCODERS, FrameEncoder, build_encoder
from spotkern.video.frames import find_videos, frame_rate_ratio, iter_frames, probe_video
from spotkern.video.pca import SoccerNetPCA

log = logging.getLogger("spotkern")

LAYOUTS = ("auto", "soccernet", "generic")
SIDECAR_SUFFIX = ".json"  # appended to the .npy file's name
QUEUE_BATCHES = 2  # decoded batches waiting for the encoder
#: the encoder takes every core once its batches took this many times as long to encode as to decode (a
#: margin: with one core each, ``tiny`` encodes a batch in 0.6 to 1 x the time decoding it takes)
ENCODER_BOUND = 1.5
DEFAULT_BATCH = 16
SELECTION_RULE = "frame i (counted from 1) kept when i % (video_fps / fps) < 1 (SoccerNet FrameCV)"
_HALF = re.compile(r"^([12])_")
_HEADER_BYTES = 128  # .npy header (format 1.0) reserved so the row count can be written last


def feature_name(encoder: FrameEncoder, pca: Any = None) -> str:
    """``ResNET_TF2`` / ``ResNET_TF2_PCA512`` / ``tiny`` / ``tiny_PCA<n>``: the feature files' name."""
    base = "ResNET_TF2" if encoder.name == "resnet152-soccernet" else encoder.name
    return base if pca is None else f"{base}_PCA{int(pca.n_components)}"


def output_path(video: str, out: str, name: str, layout: str = "auto", rel: str | None = None) -> str:
    """Where ``extract_video`` writes ``video``'s features (module docstring); ``rel`` is the video's path
    relative to the folder it was found in (default: its file name)."""
    if layout not in LAYOUTS:
        raise ValueError(f"extract: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    rel = rel if rel is not None else os.path.basename(video)
    folder, base = os.path.split(rel)
    stem = os.path.splitext(base)[0]
    m = _HALF.match(base)
    if layout == "generic" or (layout == "auto" and m is None):
        return os.path.join(out, folder, f"{stem}.npy")
    if m is None:
        return os.path.join(out, folder, stem, f"1_{name}.npy")
    game = folder or os.path.basename(os.path.dirname(os.path.abspath(video)))
    return os.path.join(out, game, f"{m.group(1)}_{name}.npy")


# ----------------------------------------------------------------------------- .npy written as it goes
class _NpyRows:
    """A ``(T, dim)`` float32 ``.npy`` file written row block by row block; the header (fixed size) is
    rewritten with T at the end."""

    def __init__(self, f, dim: int) -> None:
        self.f, self.dim, self.rows = f, dim, 0
        self._header(0)

    def _header(self, rows: int) -> None:
        d = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {self.dim}), }}"
        pad = _HEADER_BYTES - 10 - len(d) - 1
        if pad < 0:
            raise ValueError(f"extract: a ({rows}, {self.dim}) array does not fit the reserved header")
        text = (d + " " * pad + "\n").encode("latin1")
        self.f.seek(0)
        self.f.write(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text)

    def append(self, block: np.ndarray) -> None:
        self.f.seek(_HEADER_BYTES + 4 * self.dim * self.rows)
        self.f.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
        self.rows += len(block)

    def close(self) -> None:
        self._header(self.rows)
        self.f.flush()
        os.fsync(self.f.fileno())


def _source(path: str) -> dict:
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime": st.st_mtime}


def _request(encoder: FrameEncoder, pca: Any, fps: float, start: float | None, duration: float | None,
             name: str) -> dict:
    return {"features": name, "fps": float(fps), "start": start, "duration": duration, "encoder": encoder.name,
            "dim": int(pca.n_components) if pca is not None else encoder.dim, "weights_digest": encoder.digest,
            "pca_digest": pca.digest if pca is not None else None}


def read_sidecar(npy: str) -> dict | None:
    """The sidecar of a feature file, or None where there is none or it does not parse (incomplete)."""
    try:
        with open(npy + SIDECAR_SUFFIX, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def is_complete(npy: str, request: dict, source: dict) -> bool:
    """Whether ``npy`` holds the features ``request`` asks for, of the unchanged ``source`` file."""
    side = read_sidecar(npy)
    if side is None or any(side.get(k) != v for k, v in request.items()):
        return False
    s = side.get("source") or {}
    if s.get("size") != source["size"] or s.get("mtime") != source["mtime"]:
        return False
    try:
        arr = np.load(npy, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return list(arr.shape) == side.get("shape")


def _clean_stray(npy: str) -> None:
    folder, base = os.path.split(npy)
    for pattern in (f".{base}.*.tmp", f".{base}{SIDECAR_SUFFIX}.*.tmp"):
        for p in glob.glob(os.path.join(glob.escape(folder), pattern)):
            remove_if_present(p)


# ----------------------------------------------------------------------------- one video
_DONE = object()


def _decode_batches(path, fps, start, duration, strict, batch, q, stop, decoded, threads) -> None:
    """Producer thread: batches ``(frames (B, 224, 224, 3) uint8, indices, times)`` into ``q``; ends with
    ``_DONE`` or the exception raised."""
    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        frames, idx, ts = [], [], []
        t0 = time.perf_counter()
        for fr in iter_frames(path, fps, start=start, duration=duration, strict=strict, decoded=decoded,
                              threads=threads):
            frames.append(fr.image)
            idx.append(fr.index)
            ts.append(fr.time)
            if len(frames) == batch:
                block = np.stack(frames)
                if not put((block, idx, ts, time.perf_counter() - t0)):
                    return
                frames, idx, ts = [], [], []
                t0 = time.perf_counter()  # not counting the time put waited for room
        if frames and not put((np.stack(frames), idx, ts, time.perf_counter() - t0)):
            return
        put(_DONE)
    except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
        put(e)


_THREADS_LOCK = threading.Lock()  # held by the one extraction that may change torch's (shared) count


class _EncoderThreads:
    """torch's intra-op threads while one video is encoded: one fewer than torch's count (a core for the
    decoder) until encoding the batches so far took ``ENCODER_BOUND`` x as long as decoding them (encoding
    is the slower side: it takes every core from then on). ``restore`` gives torch its count back. torch's
    count is shared (the last one set is the one every new thread starts with): while one extraction
    adapts it, others extracted at the same time (in other threads) leave it alone."""

    def __init__(self, enabled: bool) -> None:
        self.owner = enabled and _THREADS_LOCK.acquire(blocking=False)
        self.initial = torch.get_num_threads()
        self.final = self.initial  # the count the last batch ran with
        self.adapting = self.owner and self.initial > 1
        if self.adapting:
            torch.set_num_threads(self.initial - 1)
            self.final = self.initial - 1
        self.decode_s = self.encode_s = 0.0

    def batch_done(self, decode_s: float, encode_s: float) -> None:
        """One batch took ``decode_s`` to decode (in the decoder's thread) and ``encode_s`` to encode."""
        if not self.adapting:
            return
        self.decode_s += decode_s
        self.encode_s += encode_s
        if self.encode_s > ENCODER_BOUND * self.decode_s:
            torch.set_num_threads(self.initial)
            self.final = self.initial
            self.adapting = False

    def restore(self) -> None:
        if not self.owner:
            return
        if torch.get_num_threads() != self.initial:
            torch.set_num_threads(self.initial)
        self.owner = False
        _THREADS_LOCK.release()


def extract_video(path: str, out: str, *, encoder: FrameEncoder, pca: Any = None, fps: float = 2.0,
                  start: float | None = None, duration: float | None = None, batch: int = DEFAULT_BATCH,
                  layout: str = "auto", name: str | None = None, rel: str | None = None, strict: bool = True,
                  progress: bool = True, force: bool = False, decode_threads: int | None = None,
                  adapt_threads: bool = True) -> str:
    """Extract ``path``'s features under ``out`` (module docstring) and return the ``.npy`` path; a video
    whose sidecar already matches is skipped (``force=True`` redoes it). ``pca`` (``transform``,
    ``n_components``, ``in_dim``, ``digest``: ``spotkern.video.pca.SoccerNetPCA``) is applied to the
    encoder's rows. ``strict=False``: ``iter_frames``'s, for videos whose timestamps disagree with their
    rate. ``decode_threads``: FFmpeg's threads (None: 1 beside an encoder on the CPU, else 0, FFmpeg's
    choice); ``adapt_threads``: whether the encoder gives the decoder a core when it waits for frames
    (module docstring). A bad video, option or PCA is a ``ValueError`` naming it, and leaves no feature file
    of that video that a later run would take as complete."""
    fn = "extract_video"
    path = os.fspath(path)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"{fn}: batch must be an integer >= 1, got {batch!r}")
    on_cpu = encoder.device.type == "cpu"
    if decode_threads is None:
        decode_threads = 1 if on_cpu else 0
    if isinstance(decode_threads, bool) or not isinstance(decode_threads, int) or decode_threads < 0:
        raise ValueError(f"{fn}: decode_threads must be an integer >= 0 (0: FFmpeg's choice), got "
                         f"{decode_threads!r}")
    if not isinstance(adapt_threads, bool):
        raise TypeError(f"{fn}: adapt_threads must be True or False, got {type(adapt_threads).__name__}")
    if pca is not None and int(pca.in_dim) != encoder.dim:
        raise ValueError(f"{fn}: the PCA takes {pca.in_dim}-d features but the encoder {encoder.name} gives "
                         f"{encoder.dim}-d ones")
    name = name or feature_name(encoder, pca)
    npy = output_path(path, out, name, layout, rel)
    info = probe_video(path)
    frame_rate_ratio(fn, path, info.fps, fps)
    request = _request(encoder, pca, fps, start, duration, name)
    source = _source(path)
    if not force and is_complete(npy, request, source):
        log.info("extract: %s: up to date (%s), skipped", path, npy)
        return npy
    folder = os.path.dirname(npy) or "."
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise OSError(f"{fn}: cannot create the output folder {folder} ({e.strerror or e})") from None
    # from here on the video has no features until the new sidecar exists: a reader that ignores sidecars
    # finds no stale file either
    remove_if_present(npy + SIDECAR_SUFFIX)
    remove_if_present(npy)
    _clean_stray(npy)
    try:
        fd, tmp = temporary_beside(npy)
    except OSError as e:
        raise OSError(f"{fn}: cannot write in the output folder {folder} ({e.strerror or e})") from None
    dim = int(pca.n_components) if pca is not None else encoder.dim
    q: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
    stop = threading.Event()
    decoded = [0]
    thread = threading.Thread(target=_decode_batches, name="spotkern-decode", daemon=True,
                              args=(path, fps, start, duration, strict, batch, q, stop, decoded, decode_threads))
    total = _expected_rows(info, fps, start, duration)
    indices: list[int] = []
    times: list[float] = []
    t0 = time.perf_counter()
    cores = _EncoderThreads(adapt_threads and on_cpu)
    try:
        with os.fdopen(fd, "wb") as f, tqdm(total=total, unit="frame", desc=os.path.basename(path),
                                             disable=not progress, leave=False) as bar:
            rows = _NpyRows(f, dim)
            thread.start()
            while True:
                item = q.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                frames, idx, ts, decode_s = item
                t_enc = time.perf_counter()
                feats = encoder.encode(frames)
                if pca is not None:
                    feats = pca.transform(feats)
                cores.batch_done(decode_s, time.perf_counter() - t_enc)
                if not np.all(np.isfinite(feats)):
                    raise ValueError(f"{fn}: {path}: the encoder gave non-finite features")
                rows.append(feats)
                indices.extend(idx)
                times.extend(ts)
                bar.update(len(idx))
            rows.close()
        if not indices:
            raise ValueError(f"{fn}: {path}: no frame selected (start/duration beyond the video?)")
        publish(tmp, npy)
    except BaseException:
        stop.set()
        remove_if_present(tmp)
        raise
    finally:
        cores.restore()
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)
    wall = time.perf_counter() - t0
    side = {"format": "spotkern-features", "spotkern_version": __version__, **request,
            "shape": [len(indices), dim], "dtype": "float32", "frames": len(indices),
            "video_fps": info.fps, "video_rate": str(info.rate), "decoded_frames": decoded[0],
            "selection": SELECTION_RULE, "transform": "crop 224 (spotkern.video.frames)",
            "frame_indices": indices, "timestamps": [round(t, 6) for t in times], "strict": strict,
            "max_timestamp_drift_s": round(max((abs(t - i / info.fps) for i, t in zip(indices, times)),
                                               default=0.0), 6),
            "source": source, "video": {"width": info.width, "height": info.height, "rotation": info.rotation,
                                        "codec": info.codec},
            "threads": {"decode": decode_threads, "encoder": cores.final if on_cpu else None}, "wall_s": round(wall, 3)}
    try:
        write_json_atomic(npy + SIDECAR_SUFFIX, side, indent=1, durable=True)
    except OSError as e:
        raise OSError(f"{fn}: cannot write {npy + SIDECAR_SUFFIX} ({e.strerror or e})") from None
    log.info("extract: %s -> %s (%d x %d, %.1f frames/s)", path, npy, len(indices), dim, len(indices) / max(wall, 1e-9))
    return npy


def _expected_rows(info, fps: float, start: float | None, duration: float | None) -> int | None:
    n = info.frames or (int(info.duration * info.fps) if info.duration else 0)
    if start is not None or duration is not None:
        lo = int(info.fps * (start or 0.0))
        hi = int(info.fps * ((start or 0.0) + duration)) if duration is not None else n
        n = max(0, min(n, hi) - lo) if n else max(0, hi - lo)
    return int(n * fps / info.fps) if n else None


# ----------------------------------------------------------------------------- many videos
def shard_videos(items: Sequence, shard: tuple[int, int] | None) -> list:
    """The items of shard ``(k, n)`` (k in 1..n): every n-th item from the k-th of the list as given
    (``extract_videos`` sorts it first), so n jobs split a list with no coordination."""
    if shard is None:
        return list(items)
    k, n = shard
    if not (isinstance(k, int) and isinstance(n, int)) or n < 1 or not 1 <= k <= n:
        raise ValueError(f"extract: shard must be K/N with 1 <= K <= N, got {k}/{n}")
    return [x for i, x in enumerate(items) if i % n == k - 1]


def extract_videos(paths: Sequence[str], out: str, *, encoder: FrameEncoder, pca: Any = None, fps: float = 2.0,
                   start: float | None = None, duration: float | None = None, batch: int = DEFAULT_BATCH,
                   layout: str = "auto", name: str | None = None, shard: tuple[int, int] | None = None,
                   strict: bool = True, force: bool = False, progress: bool = True,
                   decode_threads: int | None = None, adapt_threads: bool = True) -> list[dict]:
    """Extract every video of ``paths`` (files, or folders searched recursively for video extensions) under
    ``out``; with ``shard=(k, n)`` only the k-th of n shards of the list sorted by output path. Returns one
    ``{"video", "output", "status"}`` per video of the shard (status ``written``, ``skipped`` or the error);
    ``decode_threads`` and ``adapt_threads`` as ``extract_video``'s.
    A video that fails is reported as a warning and the others go on; the call then raises a ``ValueError``
    naming the failures."""
    if pca is not None and int(pca.in_dim) != encoder.dim:
        raise ValueError(f"extract: the PCA takes {pca.in_dim}-d features but the encoder {encoder.name} gives "
                         f"{encoder.dim}-d ones")
    name = name or feature_name(encoder, pca)
    found = find_videos(list(paths))
    if not found:
        raise ValueError(f"extract: no video found in {', '.join(map(str, paths))}")
    keyed = sorted((output_path(p, out, name, layout, rel), p, rel) for p, rel in found)
    seen: dict[str, str] = {}
    for npy, p, _ in keyed:
        if npy in seen:
            raise ValueError(f"extract: {seen[npy]} and {p} would both write {npy}")
        seen[npy] = p
    results, failed = [], []
    for npy, p, rel in shard_videos(keyed, shard):
        existed = is_complete(npy, _request(encoder, pca, fps, start, duration, name), _source(p)) \
            if os.path.exists(npy) and not force else False
        try:
            extract_video(p, out, encoder=encoder, pca=pca, fps=fps, start=start, duration=duration, batch=batch,
                          layout=layout, name=name, rel=rel, strict=strict, progress=progress, force=force,
                          decode_threads=decode_threads, adapt_threads=adapt_threads)
            results.append({"video": p, "output": npy, "status": "skipped" if existed else "written"})
        except ValueError as e:
            warnings.warn(str(e), stacklevel=2)
            failed.append(str(e))
            results.append({"video": p, "output": npy, "status": f"error: {e}"})
    if failed:
        raise ValueError(f"extract: {len(failed)} of {len(results)} videos failed; first: {failed[0]}")
    return results


# ----------------------------------------------------------------------------- command line
def parse_shard(text: str) -> tuple[int, int]:
    """argparse type of ``--shard K/N`` (1 <= K <= N)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected K/N such as 1/4, got {text!r}")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"K/N needs 1 <= K <= N (K counts from 1), got {text!r}")
    return k, n


def _seconds(minimum_exclusive: bool):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
        if not math.isfinite(v) or v < 0 or (minimum_exclusive and v == 0):
            bound = "> 0" if minimum_exclusive else ">= 0"
            raise argparse.ArgumentTypeError(f"must be a finite number of seconds {bound}, got {text}")
        return v

    return parse


def add_extract_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``spotkern extract``."""
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files, or folders searched recursively")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--encoder", choices=ENCODERS, default="resnet152-soccernet",
                   help="resnet152-soccernet (needs --weights) or tiny (no weights; tests and demos)")
    p.add_argument("--weights", default=None, metavar="FILE",
                   help="Keras's resnet152_weights_tf_dim_ordering_tf_kernels.h5 (for resnet152-soccernet)")
    p.add_argument("--pca", default=None, metavar="FILE", help="SoccerNet's pca_512_TF2.pkl (with --pca-mean)")
    p.add_argument("--pca-mean", default=None, metavar="FILE", help="SoccerNet's average_512_TF2.pkl")
    p.add_argument("--fps", type=positive_float(1000.0), default=2.0, help="feature frames per second (default 2)")
    p.add_argument("--start", type=_seconds(False), default=None, help="first second to extract")
    p.add_argument("--duration", type=_seconds(True), default=None, help="seconds to extract from --start")
    p.add_argument("--shard", type=parse_shard, default=None, metavar="K/N",
                   help="only the K-th of N shards of the sorted video list (K from 1)")
    p.add_argument("--force", action=BoolFlag, default=False, help="redo videos already extracted")
    p.add_argument("--batch", type=int_in(1, 4096), default=DEFAULT_BATCH, help="frames per encoder call")
    p.add_argument("--device", default="cpu", help="torch device of the encoder: cpu, cuda, cuda:1, auto")
    p.add_argument("--decode-threads", type=int_in(0, 256), default=None, metavar="N",
                   help="FFmpeg's decoding threads, 0 for its choice (default: 1 beside an encoder on the CPU, which "
                        "keeps the other cores, else 0)")
    p.add_argument("--layout", choices=LAYOUTS, default="auto",
                   help="soccernet (<game>/1_<name>.npy), generic (<stem>.npy), auto (soccernet for 1_/2_ names)")
    p.add_argument("--name", default=None, help="feature name in SoccerNet file names (default ResNET_TF2[_PCA512] "
                                                "or the encoder's name)")
    p.add_argument("--strict", action=BoolFlag, default=True,
                   help="refuse videos whose timestamps or frame count disagree with their frame rate (default); "
                        "--no-strict selects frames by the counter as SoccerNet's reader does")
    p.add_argument("--progress", action=BoolFlag, default=True, help="progress bar (default: on)")


def run_extract(args: argparse.Namespace) -> int:
    """``spotkern extract``: build the encoder (and PCA) from the flags and extract the videos."""
    missing = [m for m in ("av", "cv2") if importlib.util.find_spec(m) is None]
    if missing:
        raise SystemExit(f"spotkern extract: error: needs the video extra ({', '.join(missing)} missing): "
                         f"pip install 'spotkern[video]'")
    if (args.pca is None) != (args.pca_mean is None):
        raise ValueError("extract: --pca and --pca-mean go together")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        raise ValueError(f"extract: --device {device!r} is not a torch device (cpu, cuda, cuda:1, auto)") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"extract: --device {device}: CUDA is not available here")
    encoder = build_encoder(args.encoder, args.weights, device=device)
    pca = None
    if args.pca is not None:
        pca = SoccerNetPCA.from_pickles(args.pca, args.pca_mean)
    results = extract_videos(args.videos, args.out, encoder=encoder, pca=pca, fps=args.fps, start=args.start,
                             duration=args.duration, batch=args.batch, layout=args.layout, name=args.name,
                             shard=args.shard, strict=args.strict, force=args.force, progress=args.progress,
                             decode_threads=args.decode_threads)
    written = sum(r["status"] == "written" for r in results)
    log.info("extract: %d videos written, %d up to date, under %s", written, len(results) - written, args.out)
    return 0
