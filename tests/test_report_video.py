"""``spotkern report`` on a prediction from video (issue 19.4): the sidecar's writer and reader, the page's
structure (one timeline row per class per half, one mark per event at its video time, the slider's range,
the event table, the embedded events), the command line (the folder detected by its sidecar, ``--predictions``,
``--videos``, ``--embed``), one-line errors naming the file, and the page's behaviour in headless Chromium
(a click seeks the video to the event, the slider hides low scores; skipped with the reason when
Chromium is absent). Synthetic videos are written with PyAV: frame i of n is a flat grey of level
20 + 200 i / n, so the level of a shown frame says its time."""
import base64
import html
import json
import os
import re
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from helpers import chromium_args, find_chromium

av = pytest.importorskip("av")

from spotkern.cli import main  # noqa: E402
from spotkern.report.video import (  # noqa: E402
    LEAD_IN_S,
    PALETTE,
    VIDEO_PREDICTION_FILE,
    read_video_prediction_manifest,
    video_report,
    write_video_prediction_manifest,
)

CLASSES = ["Goal", "Card", "Substitution"]
SECONDS, FPS, OFFSET = 6, 25, 0.5
# (half, position ms, label, confidence): video time = position / 1000 + OFFSET
PREDICTIONS = [(1, 2500, "Goal", 0.9), (1, 500, "Card", 0.2), (1, 4500, "Goal", 0.4),
               (2, 3500, "Substitution", 0.7), (2, 2000, "Card", 0.05)]


def grey_level(t):
    return 20 + 200 * t / SECONDS


def write_video(path, seconds=SECONDS, fps=FPS):
    """A 64 x 48 H.264 video, a keyframe every 5 frames (seekable to any frame quickly); frame i of n is a
    flat grey of level 20 + 200 i / n."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.options = {"g": "5", "preset": "ultrafast"}
        n = seconds * fps
        for i in range(n):
            frame = np.full((48, 64, 3), int(round(20 + 200 * i / n)), np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return str(path)


def results_doc(predictions=PREDICTIONS):
    return {"UrlLocal": "match/", "predictions": [
        {"gameTime": f"{h} - {p // 60000:02d}:{p // 1000 % 60:02d}", "label": label, "position": str(p),
         "half": str(h), "confidence": c} for h, p, label, c in predictions]}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    return [write_video(d / "first half.mp4"), write_video(d / "b.mp4")]


def make_prediction(folder, videos, classes=CLASSES, predictions=PREDICTIONS, sidecar=True):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "results_spotting.json"), "w") as f:
        json.dump(results_doc(predictions), f)
    if sidecar:
        write_video_prediction_manifest(str(folder), videos, classes, 2.0, "/runs/r1", OFFSET)
    return str(folder)


@pytest.fixture(scope="module")
def prediction(videos, tmp_path_factory):
    return make_prediction(tmp_path_factory.mktemp("pred") / "P", videos)


class Page(HTMLParser):
    """Elements of interest with their attributes: videos, timelines' rows and marks, table rows, the
    slider, the embedded events."""

    def __init__(self):
        super().__init__()
        self.videos, self.rows, self.marks, self.table, self.links = [], [], [], [], []
        self.slider, self.events, self._half, self._in_json = None, None, None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.links += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "section":
            self._half = a["data-half"]
        elif tag == "video":
            self.videos.append(a)
        elif tag == "div" and a.get("class") == "row":
            self.rows.append((self._half, a["data-class"]))
        elif tag == "button" and a.get("class") == "mark":
            self.marks.append(dict(a, row=self.rows[-1]))
        elif tag == "tr" and a.get("class") == "event":
            self.table.append(a)
        elif tag == "input" and a.get("id") == "threshold":
            self.slider = a
        elif tag == "script" and a.get("id") == "spotkern-events":
            self._in_json = True

    def handle_endtag(self, tag):
        if tag == "section":
            self._half = None
        self._in_json = False

    def handle_data(self, data):
        if self._in_json:
            self.events = json.loads(data)


def parse(path):
    p = Page()
    with open(path, encoding="utf-8") as f:
        p.feed(f.read())
    return p


def background(style):
    return re.search(r"background:(#[0-9a-f]{6})", style).group(1)


def test_sidecar_round_trip_and_bad_values(tmp_path, videos):
    path = write_video_prediction_manifest(str(tmp_path), {2: videos[1], "1": videos[0]}, CLASSES, 2, "run", 0.48)
    assert path == str(tmp_path / VIDEO_PREDICTION_FILE)
    m = read_video_prediction_manifest(str(tmp_path))
    assert m["videos"] == {1: videos[0], 2: videos[1]} and m["classes"] == CLASSES
    assert m["fps"] == 2.0 and m["offset_s"] == 0.48 and m["run"] == os.path.abspath("run")
    assert m["results"] is None  # looked for: P/results_spotting.json, else P/<game>/results_spotting.json
    write_video_prediction_manifest(str(tmp_path), videos, CLASSES, 2, "run", results="g/r.json")
    assert read_video_prediction_manifest(str(tmp_path))["results"] == str(tmp_path / "g" / "r.json")
    for kwargs, match in (({"fps": 0}, "fps must be a finite positive number"),
                          ({"offset_s": float("nan")}, "offset_s must be a finite number"),
                          ({"classes": []}, "classes must be a non-empty list"),
                          ({"classes": ["a", "a"]}, "classes must be distinct"),
                          ({"videos": {0: "a.mp4"}}, "videos: a half must be a positive integer"),
                          ({"videos": []}, "videos is empty")):
        args = {"videos": videos, "classes": CLASSES, "fps": 2.0, "run": "r", "offset_s": 0.0} | kwargs
        with pytest.raises(ValueError, match=f"write_video_prediction_manifest: {match}"):
            write_video_prediction_manifest(str(tmp_path / "bad"), **args)
    (tmp_path / VIDEO_PREDICTION_FILE).write_text('{"videos": {"1": "a.mp4"}}')
    with pytest.raises(ValueError, match=f"{VIDEO_PREDICTION_FILE}: missing key 'classes'"):
        read_video_prediction_manifest(str(tmp_path))


def test_page_has_a_row_per_class_and_a_mark_per_event_at_its_video_time(prediction, videos, capsys):
    # the positional folder is recognised as a prediction from video by its sidecar; the page goes into it
    assert main(["-q", "report", prediction]) == 0
    out = os.path.join(prediction, "report.html")
    assert f"wrote {out}" in capsys.readouterr().out
    p = parse(out)
    # one player per half, referring to its file by a path relative to the page (quoted: a space in the name)
    assert [v["id"] for v in p.videos] == ["video-1", "video-2"] and all("controls" in v for v in p.videos)
    rel = [os.path.relpath(v, prediction).replace(" ", "%20") for v in videos]
    assert [v["src"] for v in p.videos] == rel
    assert not re.search(r"https?://|url\(", open(out).read())  # nothing from the network
    # one timeline row per class in each half, in class order; one mark per event in its half and row
    assert p.rows == [(h, c) for h in ("1", "2") for c in CLASSES]
    got = sorted((m["row"][0], m["row"][1], float(m["data-t"]), float(m["data-score"])) for m in p.marks)
    want = sorted((str(h), label, pos / 1000 + OFFSET, c) for h, pos, label, c in PREDICTIONS)
    assert got == want
    assert all(m["data-half"] == m["row"][0] for m in p.marks)
    # the marks' place on the track: their time over the video's duration (read from the file)
    for m in p.marks:
        left = float(re.search(r"left:([0-9.]+)%", m["style"]).group(1))
        assert left == pytest.approx(100 * float(m["data-t"]) / SECONDS, abs=1e-3)
    # colours: class c's colour on every mark of its row, in both halves, and in the table
    for m in p.marks:
        assert background(m["style"]) == PALETTE[CLASSES.index(m["row"][1])]
    # the slider spans the scores; the table lists every event by (half, time)
    assert (float(p.slider["min"]), float(p.slider["max"]), float(p.slider["step"])) == (0.0, 1.0, 0.01)
    assert [(int(r["data-half"]), float(r["data-t"])) for r in p.table] == \
        sorted((h, pos / 1000 + OFFSET) for h, pos, _, _ in PREDICTIONS)
    # the embedded events: the same ones, each with its class id and colour record
    ev = p.events
    assert ev["lead_in_s"] == LEAD_IN_S and ev["classes"] == CLASSES and ev["colors"] == list(PALETTE[:3])
    assert sorted((e["half"], e["t"], e["label"], e["score"]) for e in ev["events"]) == \
        sorted((h, pos / 1000 + OFFSET, label, c) for h, pos, label, c in PREDICTIONS)
    assert all(CLASSES[e["class"]] == e["label"] for e in ev["events"])
    assert ev["halves"]["1"]["duration"] == pytest.approx(SECONDS, abs=0.05)


def test_predictions_option_videos_override_and_no_sidecar(prediction, videos, tmp_path):
    # --predictions P, --videos swapping the halves, the page elsewhere: relative paths from the page's folder
    out = tmp_path / "elsewhere" / "v.html"
    assert main(["-q", "report", "--predictions", prediction, "--videos", videos[1], videos[0],
                 "--out", str(out), "--title", "Swapped"]) == 0
    p = parse(out)
    assert [v["src"] for v in p.videos] == [os.path.relpath(v, out.parent).replace(" ", "%20")
                                            for v in (videos[1], videos[0])]
    assert "<title>Swapped</title>" in out.read_text()
    # without a sidecar, --videos suffices: the classes are the labels in order of appearance, no offset
    bare = make_prediction(tmp_path / "bare", videos, sidecar=False)
    out2 = video_report(bare, videos=videos)
    p2 = parse(out2)
    assert p2.events["classes"] == ["Goal", "Card", "Substitution"] and p2.events["offset_s"] == 0.0
    assert sorted(float(m["data-t"]) for m in p2.marks) == sorted(pos / 1000 for _, pos, _, _ in PREDICTIONS)


def test_embed_puts_the_video_into_the_page(prediction, videos, tmp_path, monkeypatch):
    out = video_report(prediction, str(tmp_path / "e.html"), embed=True)
    srcs = [v["src"] for v in parse(out).videos]
    assert all(s.startswith("data:video/mp4;base64,") for s in srcs)
    assert base64.b64decode(srcs[0].split(",", 1)[1]) == open(videos[0], "rb").read()
    monkeypatch.setattr("spotkern.report.video.MAX_EMBED_BYTES", 1000)  # a match video: refused, named
    with pytest.raises(ValueError, match=f"report: {re.escape(videos[0])}: .* too large to embed"):
        video_report(prediction, str(tmp_path / "big.html"), embed=True)


def test_results_in_a_game_folder_are_found(videos, tmp_path):
    # write_results lays a prediction out as <out>/<game>/results_spotting.json
    pred = make_prediction(tmp_path / "P" / "my game", videos)
    os.replace(os.path.join(pred, VIDEO_PREDICTION_FILE), tmp_path / "P" / VIDEO_PREDICTION_FILE)
    assert len(parse(video_report(str(tmp_path / "P"))).marks) == len(PREDICTIONS)


def test_calf_v1_result_labels_land_on_their_classes(videos, tmp_path):
    # CALF's v1 run writes the class "goal" as the evaluator's label "soccer" (inference/results.py)
    pred = make_prediction(tmp_path / "v1", videos[:1], classes=["goal", "card", "subs"],
                           predictions=[(1, 1000, "soccer", 0.8), (1, 2000, "card", 0.6)])
    p = parse(video_report(pred))
    assert sorted((m["row"][1], float(m["data-t"])) for m in p.marks) == [("card", 2.5), ("goal", 1.5)]


def test_errors_are_one_line_naming_the_file(prediction, videos, tmp_path, capsys):
    def error(argv):
        assert main(["-q", "report"] + argv) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "Traceback" not in err
        return err

    empty = tmp_path / "empty"
    os.makedirs(empty)
    write_video_prediction_manifest(str(empty), videos, CLASSES, 2.0, "r")
    assert f"{empty / 'results_spotting.json'}: no such file" in error([str(empty)])
    assert f"{tmp_path / 'none'}: not a folder" in error(["--predictions", str(tmp_path / "none")])
    no_sidecar = make_prediction(tmp_path / "no_sidecar", videos, sidecar=False)
    assert f"{no_sidecar}/{VIDEO_PREDICTION_FILE}: missing" in error(["--predictions", no_sidecar])
    assert f"{no_sidecar}/{VIDEO_PREDICTION_FILE}: missing" in error([no_sidecar])
    gone = str(tmp_path / "gone.mp4")
    missing = make_prediction(tmp_path / "missing", [videos[0], gone])
    assert f"{gone}: no such video file (half 2, from {missing}/{VIDEO_PREDICTION_FILE})" in error([missing])
    other = make_prediction(tmp_path / "other", videos, classes=["Goal", "Corner"])
    err = error([other])
    assert f"{other}/results_spotting.json: labels ['Card', 'Substitution'] are not among the classes of " \
           f"{other}/{VIDEO_PREDICTION_FILE}" in err
    assert "predictions of half 2, but no video for it in --videos" in error([prediction, "--videos", videos[0]])
    assert "a report of a prediction from video takes one prediction folder" in \
        error([prediction, prediction, "--videos", videos[0]])
    bad = make_prediction(tmp_path / "bad", videos, predictions=[(1, 1000, "Goal", "high")])
    assert f"{bad}/results_spotting.json: predictions[0]: confidence must be a finite number" in error([bad])


def selftest(exe, url, profile):
    """What the page's ?selftest=1 mode saw in headless Chromium (file access from files: the shown frame
    is read back through a canvas that a file:// video does not taint)."""
    dom = ""
    # The page's self-test waits on real video decoding, which the virtual-time budget does not wait for:
    # on a loaded machine a render can end first, so a budget that ran out is retried with a larger one.
    for attempt, budget in enumerate((20000, 60000, 120000)):
        args = chromium_args(exe, f"{profile}-{attempt}") + ["--autoplay-policy=no-user-gesture-required",
                                                             "--allow-file-access-from-files",
                                                             f"--virtual-time-budget={budget}"]
        dom = subprocess.run(args + ["--dump-dom", url], capture_output=True, text=True, timeout=180).stdout
        if 'data-selftest="done"' in dom:
            break
    assert 'data-selftest="done"' in dom, dom[:500]
    return json.loads(html.unescape(re.search(r'<pre id="selftest-result"[^>]*>([^<]*)</pre>', dom).group(1)))


def check_clicks(res):
    # the first mark of each half in document order (half 1's first Goal at 3.0 s, half 2's Card at 2.5 s),
    # then the table's last row (half 2's Substitution at 4.0 s)
    assert [(c["target"], c["half"], c["t"]) for c in res["clicks"]] == \
        [("mark", "1", 3.0), ("mark", "2", 2.5), ("row", "2", 4.0)]
    assert res["plays"] == 3  # every click plays from its seek
    for c in res["clicks"]:
        assert c["expected"] == max(0.0, c["t"] - LEAD_IN_S)
        assert abs(c["current_time"] - c["expected"]) <= 0.5
        assert c["duration"] == pytest.approx(SECONDS, abs=0.05)
        # the frame on screen is the one at that time: its grey level says so
        assert c["level"] is not None
        shown = (c["level"] - 20) * SECONDS / 200
        assert abs(shown - c["expected"]) <= 0.5, (c, shown)


@pytest.fixture
def chromium():
    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium found (apt-get install -y chromium, or set SPOTKERN_CHROMIUM)")
    return exe


def test_page_in_headless_chromium_seeks_on_click_and_hides_low_scores(chromium, prediction, tmp_path):
    """The page's ?selftest=1 mode clicks the first mark of each half and the table's last row (waiting for
    the video's data, then for the seek), reads the video's time and the shown frame's grey level, then
    moves the slider to ?threshold=; --dump-dom shows what it wrote. A screenshot shows the players and
    coloured marks."""
    out = os.path.join(prediction, "report.html")
    if not os.path.exists(out):
        video_report(prediction)
    url = "file://" + os.path.abspath(out)
    res = selftest(chromium, url + "?selftest=1&threshold=0.3", tmp_path / "p1")
    check_clicks(res)
    # threshold 0.3 keeps 0.9, 0.4, 0.7 and hides 0.2, 0.05: marks and table rows alike
    assert res["threshold"] == 0.3 and res["visible_marks"] == 3 and res["visible_rows"] == 3
    assert res["kept_text"] == "3 of 5 events shown"

    shot = tmp_path / "shot.png"
    subprocess.run(chromium_args(chromium, tmp_path / "p2") + ["--window-size=1200,1400", "--virtual-time-budget=5000",
                                                               f"--screenshot={shot}", url], capture_output=True,
                   timeout=120)
    import matplotlib.image as mpimg

    img = (mpimg.imread(str(shot))[..., :3] * 255).round().astype(int)
    assert img.shape[:2] == (1400, 1200)
    for c in range(len(CLASSES)):  # every class's colour is drawn (its legend swatch and its marks)
        rgb = [int(PALETTE[c][i:i + 2], 16) for i in (1, 3, 5)]
        assert (np.abs(img - rgb).max(axis=-1) <= 2).sum() >= 40, PALETTE[c]
    assert (img.max(axis=-1) < 40).mean() > 0.2  # the players: dark video areas


def test_embedded_matroska_videos_play_and_seek_in_headless_chromium(chromium, tmp_path):
    """SoccerNet's videos are Matroska (1_224p.mkv): embedded as data URIs, they play and seek too."""
    mkv = [write_video(tmp_path / "1_224p.mkv"), write_video(tmp_path / "2_224p.mkv")]
    out = video_report(make_prediction(tmp_path / "P", mkv), str(tmp_path / "page" / "e.html"), embed=True)
    assert all(v["src"].startswith("data:video/x-matroska;base64,") for v in parse(out).videos)
    res = selftest(chromium, "file://" + out + "?selftest=1&threshold=0.8", tmp_path / "p")
    check_clicks(res)
    assert res["visible_marks"] == 1 and res["kept_text"] == "1 of 5 events shown"
