"""``spotkern report`` on a prediction from video: one self-contained HTML page with, per half, an HTML5
player of the match video, a clickable timeline per class (a click seeks the video to the event), a score
threshold slider and the list of events.

A prediction from video (``spotkern predict --run RUN --video A [B] --out P``) is a folder ``P`` holding
``results_spotting.json`` (SoccerNet's results format: ``predictions`` entries with ``label``, ``half``,
``position`` in ms of feature time, ``confidence``; directly in ``P`` or in its single game folder) and the
sidecar ``P/video_prediction.json`` (:data:`VIDEO_PREDICTION_FILE`), written by
:func:`write_video_prediction_manifest`::

    {"format": "spotkern-video-prediction", "version": 1,
     "videos": {"1": "/abs/a.mp4", "2": "/abs/b.mp4"},   # half -> video file (absolute path)
     "classes": ["Goal", ...],                           # the run's class names, in class-id order
     "fps": 2.0,                                         # feature rows per second
     "run": "/abs/run",                                  # the run that predicted
     "offset_s": 0.0,                                    # seconds ADDED to a feature time to get the video time
     "results": "game/results_spotting.json"}            # optional: the results file, relative to P

Without "results", the results file is ``P/results_spotting.json``, else the one ``P/<game>/results_spotting.json``.

An event at ``position`` ms is shown at video time ``position / 1000 + offset_s``.

The page needs no network: CSS, script and the events (a JSON record, ``<script type="application/json"
id="spotkern-events">``) are inline; each ``<video>`` refers to its file by a path relative to the page's
folder (a ``file://`` URL where no relative path exists), or embeds it as a data URI with ``embed=True``
(small files only). ``?selftest=1`` in the page's URL makes the page click the first mark of every half
and the table's last row, then move the slider to ``?threshold=`` (default 0.5), and write what it saw
into ``<pre id="selftest-result">`` (the headless-browser test reads it).
"""
from __future__ import annotations

import argparse
import base64
import datetime
import html
import json
import math
import os
import pathlib
import urllib.parse
from collections.abc import Sequence

from spotkern._files import FileProblem, load_json_file, write_text_atomic
from spotkern.inference.results_files import result_labels
from spotkern.inference.video_prediction import (
    RESULTS_FILE,
    VIDEO_PREDICTION_FILE,
    check_finite,
    check_videos,
    read_video_prediction_manifest,
    write_video_prediction_manifest,
)

#: a click on an event seeks its video this many seconds before the event (clamped at 0)
LEAD_IN_S = 2.0
#: the largest video file ``embed=True`` puts into the page as a data URI
MAX_EMBED_BYTES = 64 << 20

# Class colours: Tableau's 20-colour palette (class id modulo 20), the same in every half and the table.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
           "#dbdb8d", "#9edae5")

_MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".mkv": "video/x-matroska",
         ".mov": "video/quicktime", ".ogv": "video/ogg", ".ogg": "video/ogg"}


# ---------------------------------------------------------------------------------------------------------
# The sidecar


def is_video_prediction(path: str) -> bool:
    """Whether ``path`` is a folder holding the sidecar of a prediction from video."""
    return os.path.isdir(path) and os.path.exists(os.path.join(path, VIDEO_PREDICTION_FILE))


# ---------------------------------------------------------------------------------------------------------
# The results


def find_results_file(prediction_dir: str) -> str:
    """``<dir>/results_spotting.json``, else the one ``<dir>/<game>/results_spotting.json``; ValueError
    naming the file otherwise."""
    direct = os.path.join(prediction_dir, RESULTS_FILE)
    if os.path.exists(direct):
        return direct
    found = []
    if os.path.isdir(prediction_dir):
        found = sorted(os.path.join(prediction_dir, d, RESULTS_FILE) for d in os.listdir(prediction_dir)
                       if os.path.isfile(os.path.join(prediction_dir, d, RESULTS_FILE)))
    if len(found) == 1:
        return found[0]
    if found:
        raise ValueError(f"report: {prediction_dir} holds {len(found)} results files ({found[0]}, ...); "
                         f"a prediction from video has one")
    raise ValueError(f"report: {direct}: no such file (a prediction from video holds {RESULTS_FILE}, "
                     f"written by spotkern predict --video)")


def _half_of(entry: dict) -> int | None:
    h = entry.get("half")
    if h is None and isinstance(entry.get("gameTime"), str):
        h = entry["gameTime"].split("-", 1)[0].strip()
    try:
        return int(h)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _position_s(entry: dict) -> float | None:
    p = entry.get("position")
    if p is not None:
        try:
            v = float(p)
        except (TypeError, ValueError):
            return None
        return v / 1000 if math.isfinite(v) else None
    gt = entry.get("gameTime")
    if isinstance(gt, str) and "-" in gt:  # "1 - 12:34"
        try:
            m, s = gt.split("-", 1)[1].strip().split(":")
            return 60 * int(m) + int(s)
        except ValueError:
            return None
    return None


def read_predictions(path: str) -> list[dict]:
    """The entries of a ``results_spotting.json`` as {"half", "position_s", "label", "score", "gameTime"},
    in file order; a malformed file or entry raises ValueError naming the file and the entry."""
    try:
        doc = load_json_file(path)
    except FileProblem as problem:
        raise ValueError(f"report: {problem}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("predictions"), list):
        raise ValueError(f"report: {path}: expected an object with a 'predictions' list")
    out = []
    for i, e in enumerate(doc["predictions"]):
        where = f"report: {path}: predictions[{i}]"
        if not isinstance(e, dict):
            raise ValueError(f"{where}: expected an object, got {type(e).__name__}")
        half, t = _half_of(e), _position_s(e)
        if half is None or half < 1:
            raise ValueError(f"{where}: no valid half (half {e.get('half')!r}, gameTime {e.get('gameTime')!r})")
        if t is None or t < 0:
            raise ValueError(f"{where}: no valid time (position {e.get('position')!r}, gameTime {e.get('gameTime')!r})")
        if not isinstance(e.get("label"), str):
            raise ValueError(f"{where}: label must be a string, got {e.get('label')!r}")
        try:
            score = float(e.get("confidence", 1.0))
        except (TypeError, ValueError):
            score = math.nan
        if not math.isfinite(score):
            raise ValueError(f"{where}: confidence must be a finite number, got {e.get('confidence')!r}")
        out.append({"half": half, "position_s": t, "label": e["label"], "score": score,
                    "gameTime": str(e.get("gameTime", ""))})
    return out


# ---------------------------------------------------------------------------------------------------------
# The page


def _probe_duration(path: str) -> float | None:
    """The video's duration in seconds, read with PyAV where it is installed; None where unknown."""
    try:
        import av  # optional dependency: video
    except ImportError:
        return None
    try:
        with av.open(path) as c:
            if c.duration:
                return c.duration / 1_000_000  # av.time_base
            streams = [s for s in c.streams if s.type == "video" and s.duration and s.time_base]
            return float(streams[0].duration * streams[0].time_base) if streams else None
    except Exception:  # any file the browser may still play: the page then uses the duration it reads
        return None


def _video_src(video: str, out_dir: str, embed: bool) -> str:
    if embed:
        size = os.path.getsize(video)
        if size > MAX_EMBED_BYTES:
            raise ValueError(f"report: {video}: {size / 1e6:.0f} MB is too large to embed "
                             f"(at most {MAX_EMBED_BYTES / 1e6:.0f} MB); leave --embed out")
        mime = _MIME.get(os.path.splitext(video)[1].lower(), "video/mp4")
        with open(video, "rb") as f:
            return f"data:{mime};base64,{base64.b64encode(f.read()).decode('ascii')}"
    try:
        rel = os.path.relpath(os.path.abspath(video), os.path.abspath(out_dir))
    except ValueError:  # another drive (Windows): no relative path
        return pathlib.Path(os.path.abspath(video)).as_uri()
    return urllib.parse.quote(pathlib.PurePath(rel).as_posix())


def _clock(t: float) -> str:
    t = max(0.0, t)
    h, rem = divmod(int(t), 3600)
    m, s = divmod(rem, 60)
    frac = f"{t - int(t):.1f}"[1:]
    return f"{h}:{m:02d}:{s:02d}{frac}" if h else f"{m}:{s:02d}{frac}"


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
.note{color:#666;font-size:12px}
.controls{position:sticky;top:0;background:#fff;padding:8px 0;z-index:2;border-bottom:1px solid #eee;font-size:14px}
.controls input{vertical-align:middle;width:280px}
video{display:block;width:100%;max-width:960px;max-height:60vh;background:#000}
.timeline{margin:8px 0 4px;max-width:960px}
.row{display:flex;align-items:center;height:20px}
.name{flex:0 0 160px;font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding-right:6px}
.name i,.swatch{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px;vertical-align:-1px}
.track{position:relative;flex:1;height:16px;background:#f3f3f3;border-radius:3px}
.mark{position:absolute;top:1px;width:6px;height:14px;margin-left:-3px;padding:0;border:0;border-radius:2px;cursor:pointer}
.mark:hover,.mark:focus{outline:2px solid #222;z-index:1}
.playhead{position:absolute;top:-2px;bottom:-2px;width:2px;margin-left:-1px;background:#222;pointer-events:none;left:0}
.axis{position:relative;margin-left:160px;height:14px;font-size:10px;color:#666}
.axis span{position:absolute;transform:translateX(-50%)}
.below{display:none}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ddd;padding:2px 8px;text-align:right}th{background:#f4f4f4}
td.cls,th.cls{text-align:left}tr.event{cursor:pointer}tr.event:hover{background:#eef4ff}
"""

# Behaviour only: the page's structure is written by Python. Marks and table rows carry data-half and
# data-t (video seconds) and data-score; a click seeks that half's video to t - LEAD_IN_S and plays.
SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("spotkern-events").textContent);
  var lead = data.lead_in_s;
  function video(half) { return document.getElementById("video-" + half); }
  function seek(half, t) {
    var v = video(half), target = Math.max(0, t - lead);
    v.currentTime = target;
    var p = v.play();
    if (p && p.catch) { p.catch(function () {}); }  // autoplay refused: the seek stands
    v.scrollIntoView({block: "nearest"});
    return target;
  }
  function onClick(ev) {
    var el = ev.currentTarget;
    seek(el.getAttribute("data-half"), parseFloat(el.getAttribute("data-t")));
  }
  var clickable = document.querySelectorAll(".mark, tr.event");
  for (var i = 0; i < clickable.length; i++) { clickable[i].addEventListener("click", onClick); }

  // duration known from the file: marks, playhead and axis placed on it
  function ticks(axis, duration) {
    axis.textContent = "";
    var steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800], step = steps[steps.length - 1];
    for (var i = 0; i < steps.length; i++) { if (duration / steps[i] <= 10) { step = steps[i]; break; } }
    for (var t = 0; t <= duration; t += step) {
      var s = document.createElement("span"), m = Math.floor(t / 60), sec = Math.floor(t % 60);
      s.style.left = (100 * t / duration) + "%";
      s.textContent = m + ":" + (sec < 10 ? "0" : "") + sec;
      axis.appendChild(s);
    }
  }
  function layout(half, duration) {
    if (!(duration > 0) || !isFinite(duration)) { return; }
    var tl = document.querySelector('.timeline[data-half="' + half + '"]');
    tl.setAttribute("data-duration", String(duration));
    var marks = tl.querySelectorAll(".mark");
    for (var i = 0; i < marks.length; i++) {
      var t = parseFloat(marks[i].getAttribute("data-t"));
      marks[i].style.left = Math.min(100, 100 * t / duration) + "%";
    }
    ticks(tl.querySelector(".axis"), duration);
  }
  Object.keys(data.halves).forEach(function (half) {
    var v = video(half), tl = document.querySelector('.timeline[data-half="' + half + '"]');
    var heads = tl.querySelectorAll(".playhead");
    function onMeta() { layout(half, v.duration); }
    v.addEventListener("loadedmetadata", onMeta);
    if (v.readyState >= 1) { onMeta(); }
    v.addEventListener("timeupdate", function () {
      var d = parseFloat(tl.getAttribute("data-duration"));
      for (var i = 0; i < heads.length; i++) { heads[i].style.left = Math.min(100, 100 * v.currentTime / d) + "%"; }
    });
  });

  var slider = document.getElementById("threshold");
  function applyThreshold() {
    var thr = parseFloat(slider.value), items = document.querySelectorAll(".mark, tr.event"), kept = 0;
    for (var i = 0; i < items.length; i++) {
      var below = parseFloat(items[i].getAttribute("data-score")) < thr;
      items[i].classList.toggle("below", below);
      if (!below && items[i].classList.contains("mark")) { kept++; }
    }
    document.getElementById("threshold-value").textContent = thr.toFixed(2);
    document.getElementById("kept").textContent = kept + " of " + data.events.length + " events shown";
  }
  slider.addEventListener("input", applyThreshold);
  applyThreshold();

  // ?selftest=1: click the first mark of every half and the last table row, then move the slider; results
  // in #selftest-result
  var params = new URLSearchParams(window.location.search);
  if (params.get("selftest") !== "1") { return; }
  var result = {clicks: [], lead_in_s: lead, plays: 0}, halves = Object.keys(data.halves);
  // a click plays from the seek; here playing is counted, not done, so that the time read when the seek
  // ends is the seek's (under headless Chromium's virtual time a playing video can reach its end first)
  halves.forEach(function (half) {
    video(half).play = function () { result.plays += 1; return Promise.resolve(); };
  });
  function frameLevel(v) {
    try {
      var c = document.createElement("canvas");
      c.width = v.videoWidth; c.height = v.videoHeight;
      var g = c.getContext("2d");
      g.drawImage(v, 0, 0);
      var px = g.getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data;
      return (px[0] + px[1] + px[2]) / 3;
    } catch (e) { return null; }  // a canvas tainted by a file:// video
  }
  function finish() {
    slider.value = params.get("threshold") || "0.5";
    slider.dispatchEvent(new Event("input"));
    result.threshold = parseFloat(slider.value);
    result.visible_marks = document.querySelectorAll(".mark:not(.below)").length;
    result.visible_rows = document.querySelectorAll("tr.event:not(.below)").length;
    result.kept_text = document.getElementById("kept").textContent;
    var pre = document.getElementById("selftest-result");
    pre.textContent = JSON.stringify(result);
    document.body.setAttribute("data-selftest", "done");
  }
  // the targets: the first mark of every half, then the last row of the table
  var targets = [];
  halves.forEach(function (half) {
    var m = document.querySelector('.timeline[data-half="' + half + '"] .mark');
    if (m) { targets.push(m); }
  });
  var rows = document.querySelectorAll("tr.event");
  if (rows.length) { targets.push(rows[rows.length - 1]); }
  function next(k) {
    if (k >= targets.length) { finish(); return; }
    var el = targets[k], half = el.getAttribute("data-half"), v = video(half);
    function go() {
      // read once the seek has ended and its frame is on screen: "seeked" can come before the frame is
      // presented (requestVideoFrameCallback says when it is; a second after "seeked" where it never does)
      var seeked = false, framed = !v.requestVideoFrameCallback, recorded = false;
      function record() {
        if (recorded || !seeked || !framed) { return; }
        recorded = true;
        var t = parseFloat(el.getAttribute("data-t"));
        result.clicks.push({target: el.classList.contains("mark") ? "mark" : "row", half: half, t: t,
                            expected: Math.max(0, t - lead), current_time: v.currentTime, duration: v.duration,
                            level: frameLevel(v)});
        next(k + 1);
      }
      if (v.requestVideoFrameCallback) { v.requestVideoFrameCallback(function () { framed = true; record(); }); }
      v.addEventListener("seeked", function () {
        seeked = true;
        record();
        setTimeout(function () { framed = true; record(); }, 1000);
      }, {once: true});
      v.muted = true;
      el.click();
    }
    if (v.readyState >= 2) { go(); } else { v.addEventListener("loadeddata", go, {once: true}); v.load(); }
  }
  window.addEventListener("load", function () { next(0); });
})();
"""


def _json_for_script(doc: object) -> str:
    # inside <script>: "</" would end the element, and U+2028/9 break older JS parsers
    text = json.dumps(doc, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _label_index(classes: list[str]) -> dict[str, int]:
    """Class id of each label a results file may carry: the class names and their ``result_labels``."""
    index = {name: c for c, name in enumerate(classes)}
    for c, label in enumerate(result_labels(classes)):  # CALF's v1 classes are written as "soccer", ...
        index.setdefault(label, c)
    return index


def video_report(prediction_dir: str, out_html: str | None = None, *, videos: Sequence[str] | None = None,
                 title: str | None = None, embed: bool = False, lead_in_s: float = LEAD_IN_S) -> str:
    """Write the HTML page of a prediction from video (the module's docstring) to ``out_html`` (default
    ``<prediction_dir>/report.html``); returns its path.

    videos: the video files of halves 1, 2, ..., in place of the sidecar's (then the sidecar may be
    absent: the classes are the results file's labels and the offset is 0). embed: put the videos into
    the page as data URIs (at most ``MAX_EMBED_BYTES`` each) instead of referring to their files.
    lead_in_s: a click seeks to this many seconds before the event."""
    fn = "report"
    prediction_dir = os.fspath(prediction_dir)
    if not os.path.isdir(prediction_dir):
        raise ValueError(f"{fn}: {prediction_dir}: not a folder (a prediction from video is a folder holding "
                         f"{RESULTS_FILE} and {VIDEO_PREDICTION_FILE})")
    lead_in_s = check_finite(fn, "lead_in_s", lead_in_s)
    sidecar = os.path.join(prediction_dir, VIDEO_PREDICTION_FILE)
    if os.path.exists(sidecar) or videos is None:
        manifest = read_video_prediction_manifest(prediction_dir)
    else:
        manifest = {"videos": {}, "classes": None, "fps": None, "run": None, "offset_s": 0.0, "results": None}
    source = sidecar
    if videos is not None:
        manifest["videos"] = {h: os.path.abspath(v) for h, v in check_videos(f"{fn}: --videos", videos).items()}
        source = "--videos"
    results = manifest["results"]
    if results is None:
        results = find_results_file(prediction_dir)
    elif not os.path.exists(results):
        raise ValueError(f"{fn}: {results}: no such file (the results file {sidecar} names)")
    preds = read_predictions(results)

    classes = manifest["classes"]
    if classes is None:  # no sidecar: the labels, in order of first appearance
        classes = list(dict.fromkeys(p["label"] for p in preds))
        if not classes:
            raise ValueError(f"{fn}: {results}: no predictions, and no {VIDEO_PREDICTION_FILE} naming the classes")
    index = _label_index(classes)
    unknown = sorted({p["label"] for p in preds} - set(index))
    if unknown:
        raise ValueError(f"{fn}: {results}: labels {unknown} are not among the classes of {sidecar} {classes}")

    halves = manifest["videos"]
    for h, v in halves.items():
        if not os.path.isfile(v):
            raise ValueError(f"{fn}: {v}: no such video file (half {h}, from {source})")
    missing = sorted({p["half"] for p in preds} - set(halves))
    if missing:
        raise ValueError(f"{fn}: {results}: predictions of half {missing[0]}, but no video for it in {source} "
                         f"(halves {sorted(halves)})")

    out_html = os.fspath(out_html) if out_html is not None else os.path.join(prediction_dir, "report.html")
    out_dir = os.path.dirname(os.path.abspath(out_html))
    offset = manifest["offset_s"]
    events = sorted(({"half": p["half"], "t": round(p["position_s"] + offset, 3), "class": index[p["label"]],
                      "label": classes[index[p["label"]]], "score": p["score"], "gameTime": p["gameTime"]}
                     for p in preds), key=lambda e: (e["half"], e["t"], e["class"]))
    for i, e in enumerate(events):
        e["id"] = i
    colors = [PALETTE[c % len(PALETTE)] for c in range(len(classes))]
    max_score = max([1.0] + [math.ceil(e["score"] * 100) / 100 for e in events])
    min_score = min([0.0] + [math.floor(e["score"] * 100) / 100 for e in events])

    half_info = {}
    for h, v in halves.items():
        ts = [e["t"] for e in events if e["half"] == h]
        probed = _probe_duration(v)
        # until the browser reads the file's duration: the probed one, else just past the last event
        duration = probed if probed else max(ts + [0.0]) + max(lead_in_s, 1.0)
        half_info[h] = {"file": v, "src": _video_src(v, out_dir, embed), "probed": probed, "duration": duration}

    run = manifest["run"]
    if title is None:
        title = "spotkern: " + (f"{os.path.basename(os.path.normpath(run))} on " if run else "") + \
            ", ".join(os.path.basename(v) for v in halves.values())
    esc = html.escape
    parts = [f"<h1>{esc(title)}</h1>",
             f"<p class=note>results {esc(os.path.abspath(results))}"
             + (f"; run {esc(run)}" if run else "")
             + (f"; feature fps {manifest['fps']:g}" if manifest["fps"] else "")
             + f"; video time = feature time + {offset:g} s; generated "
             f"{datetime.datetime.now().isoformat(timespec='seconds')}</p>",
             f"<p class=note>A click on an event (a mark on a timeline, or a row of the table) seeks its video "
             f"to {lead_in_s:g} s before the event and plays.</p>",
             f"<div class=controls><label for=threshold>score threshold</label> "
             f'<input type=range id=threshold min="{min_score:g}" max="{max_score:g}" step="0.01" '
             f'value="{min_score:g}"> <output id=threshold-value>{min_score:.2f}</output> &nbsp; '
             f"<span id=kept>{len(events)} of {len(events)} events shown</span></div>"]
    for h, info in half_info.items():
        dur = info["duration"]
        rows = []
        for c, name in enumerate(classes):
            marks = "".join(
                f'<button class=mark type=button data-event="{e["id"]}" data-half="{h}" data-t="{e["t"]!r}" '
                f'data-score="{e["score"]!r}" style="left:{min(100.0, 100 * e["t"] / dur):.3f}%;'
                f'background:{colors[c]};opacity:{0.45 + 0.55 * min(1.0, max(0.0, e["score"])):.2f}" '
                f'title="{esc(name)} at {_clock(e["t"])} ({esc(e["gameTime"])}), score {e["score"]:.3f}"></button>'
                for e in events if e["half"] == h and e["class"] == c)
            rows.append(f'<div class=row data-class="{esc(name)}"><span class=name title="{esc(name)}">'
                        f'<i style="background:{colors[c]}"></i>{esc(name)}</span>'
                        f"<div class=track><div class=playhead></div>{marks}</div></div>")
        parts.append(
            f'<section class=half id="half-{h}" data-half="{h}"><h2>Half {h}: {esc(os.path.basename(info["file"]))}'
            f"</h2><p class=note>{esc(info['file'])}"
            + (f"; {_clock(info['probed'])}" if info["probed"] else "") + "</p>"
            f'<video id="video-{h}" controls preload=auto src="{esc(info["src"])}"></video>'
            f'<div class=timeline data-half="{h}" data-duration="{dur:g}">{"".join(rows)}<div class=axis></div></div>'
            "</section>")
    table = "".join(
        f'<tr class=event data-event="{e["id"]}" data-half="{e["half"]}" data-t="{e["t"]!r}" '
        f'data-score="{e["score"]!r}">'
        f'<td>{e["half"]}</td><td>{_clock(e["t"])}</td><td>{esc(e["gameTime"])}</td>'
        f'<td class=cls><span class=swatch style="background:{colors[e["class"]]}"></span>{esc(e["label"])}</td>'
        f'<td>{e["score"]:.3f}</td></tr>' for e in events)
    parts.append(f"<h2>Events ({len(events)}, by time)</h2><table id=events-table><tr><th>half</th><th>video time</th>"
                 f"<th>gameTime</th><th class=cls>class</th><th>score</th></tr>{table}</table>")
    record = {"lead_in_s": lead_in_s, "offset_s": offset, "classes": classes, "colors": colors,
              "threshold": {"min": min_score, "max": max_score, "step": 0.01},
              "halves": {str(h): {"file": i["file"], "duration": i["duration"]} for h, i in half_info.items()},
              "events": events}
    parts.append('<pre id=selftest-result hidden></pre>')
    doc = ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
           '<meta name=viewport content="width=device-width, initial-scale=1">'
           f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>{''.join(parts)}"
           f'<script type="application/json" id="spotkern-events">{_json_for_script(record)}</script>'
           f"<script>{SCRIPT}</script></body></html>")
    os.makedirs(out_dir, exist_ok=True)
    return write_text_atomic(out_html, doc)


def video_prediction_to_report(args: argparse.Namespace) -> str | None:
    """The prediction folder ``spotkern report``'s arguments name, where they name a prediction from video:
    ``--predictions P`` without runs, or ``--videos``, or one positional folder holding the sidecar (or a
    results file and no run's ``config.json``); None otherwise (a report of training runs)."""
    runs, preds = list(args.runs or []), args.predictions
    if getattr(args, "videos", None) is not None or (not runs and preds):
        folders = runs + list(preds or [])
        if len(folders) != 1:
            raise ValueError(f"report: a report of a prediction from video takes one prediction folder, got {folders}")
        return folders[0]
    if len(runs) == 1 and not preds:
        bare = os.path.isfile(os.path.join(runs[0], RESULTS_FILE)) and \
            not os.path.exists(os.path.join(runs[0], "config.json"))
        if bare or is_video_prediction(runs[0]):
            return runs[0]  # a results file and no run config: a prediction, whose missing sidecar is then named
    return None


def run_video_report(args: argparse.Namespace, prediction_dir: str) -> int:
    """``spotkern report`` on a prediction from video: writes the page, prints its path."""
    out = video_report(prediction_dir, args.out, videos=args.videos, title=getattr(args, "title", None),
                       embed=bool(getattr(args, "embed", False)))
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB)")
    return 0


def add_video_report_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``spotkern report`` for a prediction from video."""
    p.add_argument("--videos", nargs="+", default=None,
                   help="prediction from video: the video files of halves 1, 2, ... (default: the ones "
                        f"{VIDEO_PREDICTION_FILE} names)")
    p.add_argument("--embed", action="store_true",
                   help=f"prediction from video: embed the videos in the page (files up to "
                        f"{MAX_EMBED_BYTES >> 20} MiB) instead of referring to them")
    p.add_argument("--title", default=None, help="prediction from video: the page's title")
    return p


__all__ = ["VIDEO_PREDICTION_FILE", "RESULTS_FILE", "LEAD_IN_S", "write_video_prediction_manifest",
           "read_video_prediction_manifest", "is_video_prediction", "find_results_file", "read_predictions",
           "video_report", "video_prediction_to_report", "run_video_report", "add_video_report_arguments"]
