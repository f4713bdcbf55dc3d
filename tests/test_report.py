"""``spotkern report``: the metrics-log reader, the HTML's structure (tables equal to the evaluator, every
figure an embedded PNG, no network reference), several runs side by side, generic data, and the page
rendered in a real headless browser (Debian's chromium; skipped with the reason when absent)."""
import base64
import json
import os
import re
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from spotkern.cli import main  # noqa: E402
from spotkern.data.synth_scores import synth_raw_scores  # noqa: E402
from spotkern.inference.results_files import write_results  # noqa: E402
from spotkern.metrics import evaluate  # noqa: E402
from spotkern.postprocess import PostProcess, default_postprocess  # noqa: E402
from spotkern.report import build_report, read_metrics_log  # noqa: E402

from helpers import chromium_args, find_chromium  # noqa: E402

LOG_ROWS = [  # one row at a log interval (no validation), one at an epoch's end with validation
    {"epoch": 0, "step": 10, "global_step": 10, "loss": 0.5, "lr": 1e-3, "chunks_per_s": 100.0},
    {"epoch": 1, "step": 0, "global_step": 20, "loss": 0.25, "lr": 5e-4, "chunks_per_s": 120.0,
     "valid_metric": "loose", "valid_score": 0.61},
]


def write_log(stage_dir, rows=LOG_ROWS):
    """metrics.csv written by the trainer's own writer."""
    from spotkern.train.log import MetricsLog

    log = MetricsLog(stage_dir, os.path.basename(stage_dir), resume=False, tensorboard=False)
    for r in rows:
        log.write(**r)
    log.close()


def test_read_metrics_log_csv(tmp_path):
    write_log(str(tmp_path))
    rows = read_metrics_log(str(tmp_path))
    assert rows[0]["valid_score"] is None and rows[0]["valid_metric"] is None and rows[0]["global_step"] == 10
    assert rows[1]["valid_metric"] == "loose" and rows[1]["valid_score"] == 0.61 and rows[1]["lr"] == 5e-4
    (tmp_path / "metrics.csv").write_text("stage,epoch,loss\nconfidence,1,abc\n")
    with pytest.raises(ValueError, match=r"read_metrics_log: .*metrics.csv line 2: loss is not a number: 'abc'"):
        read_metrics_log(str(tmp_path))
    (tmp_path / "metrics.csv").write_text("epoch,loss\n1,0.5\n")
    with pytest.raises(ValueError, match=r"missing columns \['stage'\]"):
        read_metrics_log(str(tmp_path))
    assert read_metrics_log(str(tmp_path / "none")) == []
    os.mkfifo(tmp_path / "fifo")
    os.makedirs(tmp_path / "stage")
    os.symlink(tmp_path / "fifo", tmp_path / "stage" / "metrics.csv")  # an error, not a hang
    with pytest.raises(ValueError, match="read_metrics_log: .*metrics.csv: a FIFO, not a regular file"):
        read_metrics_log(str(tmp_path / "stage"))


def test_read_metrics_log_falls_back_to_the_checkpoint_history(tmp_path):
    from spotkern.train.checkpoint import save_checkpoint

    history = [{"epoch": 1, "loss": 0.3, "lr": 1e-3, "chunks_per_s": 50.0},
               {"epoch": 2, "loss": 0.2, "lr": 5e-4, "chunks_per_s": 51.0, "valid_a_mAP": 0.4}]
    save_checkpoint(str(tmp_path / "displacement" / "last.pt"),
                    {"stage": "displacement", "history": json.dumps(history)})
    rows = read_metrics_log(str(tmp_path / "displacement"))
    assert [r["epoch"] for r in rows] == [1, 2] and rows[0]["valid_score"] is None
    assert rows[1]["valid_score"] == 0.4 and rows[1]["valid_metric"] == "medium"  # displacement: 1..10 s


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Synthetic SoccerNet test games and two runs whose results come from synthetic raw scores: the
    default post-processing, and a tuned one (with its postprocess.json and a training log)."""
    from spotkern.data import read_soccernet
    from spotkern.data.soccernet_classes import CLASSES_V2

    root = tmp_path_factory.mktemp("report")
    data = str(root / "data")
    assert main(["-q", "synth", data, "--train", "0", "--valid", "0", "--test", "2", "--feature-dim", "4",
                 "--no-progress"]) == 0
    ds = read_soccernet(data, "test", label_placement="position")
    g = np.random.default_rng(0)
    raws = [synth_raw_scores(g, h.num_frames, 17, h.frames, h.classes) for h in ds.halves]
    cfg = {"data": data, "method": "dense", "nms_method": "hard"}
    base = default_postprocess(cfg, CLASSES_V2, kind="dense", has_displacement=True)
    tuned = PostProcess(["linear"] * 17, [4.0] * 17, [0.05] * 17, classes=list(CLASSES_V2),
                        info={"a_mAP_per_class_baseline": [0.5] * 17, "a_mAP_per_class_tuned": [0.6] * 17,
                              "a_mAP_baseline": 0.5, "a_mAP_tuned": 0.6, "metric": "loose", "split": "valid"})
    dirs = []
    # results of the default NMS thresholded at 0.01 (small files; the report reads the run's default from
    # config.json since no postprocess.json lies beside them)
    for name, pp in (("base", base.with_threshold(0.01)), ("tuned", tuned)):
        run = str(root / name)
        os.makedirs(run)
        json.dump(cfg, open(os.path.join(run, "config.json"), "w"))
        out = os.path.join(run, "predictions", "test")
        for k, game in enumerate(ds.games):
            write_results(out, game, [pp.apply(raws[2 * k + h], 2.0) for h in (0, 1)], CLASSES_V2, 2.0)
        if name == "tuned":
            pp.save(os.path.join(run, "postprocess.json"))  # what spotkern tune wrote
            pp.save(os.path.join(out, "postprocess.json"))  # what predict --postprocess records
            write_log(os.path.join(run, "confidence"))
        dirs.append(run)
    return data, dirs


class Parsed(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.links, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        self.links += [v for k, v in attrs if k in ("src", "href") and v]

    def handle_data(self, data):
        self.text.append(data)


def parse(path):
    p = Parsed()
    p.feed(open(path, encoding="utf-8").read())
    return p


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    """The report of both runs side by side, from the command line."""
    data, (base, tuned) = runs
    out = str(tmp_path_factory.mktemp("html") / "r.html")
    assert main(["-q", "report", base, tuned, "--out", out, "--timeline-games", "1"]) == 0
    return out


def test_report_structure_two_runs(runs, report):
    data, (base, tuned) = runs
    out = report
    p = parse(out)
    # tolerance curve, PR curves, one tuning chart, training curves, 1 game x 2 runs of timelines
    assert len(p.imgs) == 4 + 2
    for img in p.imgs:
        assert img["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(img["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [v for v in p.links if not v.startswith("data:")]  # self-contained: no file or network link
    assert not re.search(r"https?://|url\(", open(out).read())
    text = " ".join(p.text)
    for run in (base, tuned):  # the tables are the evaluator's numbers
        loose = evaluate(data, os.path.join(run, "predictions", "test"), split="test")
        tight = evaluate(data, os.path.join(run, "predictions", "test"), split="test", metric="tight")
        assert f"{100 * loose['a_mAP']:.2f}" in text and f"{100 * tight['a_mAP']:.2f}" in text
        assert f"{100 * loose['a_mAP_per_class'][8]:.2f}" in text
    assert "Ball out of play" in text and "Yellow->red card" in text
    assert "the run's default" in text and "postprocess.json" in text  # both sources of post-processing shown


def test_one_run_with_two_results_folders_shows_its_training_and_tuning_once(runs, tmp_path):
    data, (base, tuned) = runs
    out = build_report([tuned, tuned], str(tmp_path / "same.html"), names=["a", "b"], timeline_games=0,
                       predictions=[os.path.join(tuned, "predictions", "test"),
                                    os.path.join(base, "predictions", "test")])
    assert len(parse(out).imgs) == 4  # tolerance curve, PR curves, one tuning chart, one training chart


def test_report_on_generic_data_shows_the_e2e_map(tmp_path):
    classes = ["serve", "hit"]
    os.makedirs(tmp_path / "data")
    np.save(tmp_path / "data" / "v.npy", np.zeros((300, 2), np.float32))
    doc = {"fps": 25, "classes": classes, "videos": [
        {"name": "v", "features": "v.npy", "split": "test", "events": [{"label": "hit", "frame": 40},
                                                                     {"label": "serve", "frame": 200}]}]}
    json.dump(doc, open(tmp_path / "data" / "dataset.json", "w"))
    run = tmp_path / "run"
    os.makedirs(run)
    json.dump({"data": str(tmp_path / "data"), "method": "dense"}, open(run / "config.json", "w"))
    a = np.full((300, 2), -1.0, np.float32)
    a[41, 1], a[200, 0], a[120, 0] = 0.9, 0.8, 0.3
    write_results(str(run / "predictions" / "test"), "v", [a], classes, 25)
    out = build_report([str(run)], str(tmp_path / "g.html"))
    text = " ".join(parse(out).text)
    from spotkern.metrics.generic import evaluate_generic

    res = evaluate_generic(str(tmp_path / "data"), str(run / "predictions" / "test"))
    assert f"{100 * res['e2e']['average_mAP']:.2f}" in text and f"{100 * res['a_mAP']:.2f}" in text


def test_report_errors(runs, tmp_path, capsys):
    data, (base, tuned) = runs
    with pytest.raises(ValueError, match=r"report: names must give one entry per run \(2\), got 1"):
        build_report([base, tuned], str(tmp_path / "x.html"), names=["a"])
    assert main(["-q", "report", base, "--predictions", str(tmp_path), "--out", str(tmp_path / "y.html")]) == 2
    assert "report: no results_spotting.json under" in capsys.readouterr().err
    with pytest.raises(ValueError, match="report: no run given"):
        build_report([], str(tmp_path / "z.html"))


def test_report_renders_every_figure_in_a_headless_browser(report, tmp_path):
    """Every <img> of the report loads in Chromium (the page's own script counts loaded and broken
    figures on the load event), and a screenshot of the page is not blank."""
    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium found (apt-get install -y chromium, or set SPOTKERN_CHROMIUM)")
    import matplotlib.image as mpimg

    out = report
    n_imgs = len(parse(out).imgs)
    url = "file://" + os.path.abspath(out)
    dom = subprocess.run(chromium_args(exe, tmp_path / "p1") + ["--virtual-time-budget=10000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120).stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:500]
    assert f'data-figures-loaded="{n_imgs}"' in body.group(0) and 'data-figures-broken="0"' in body.group(0)
    shot = tmp_path / "shot.png"
    subprocess.run(chromium_args(exe, tmp_path / "p2") + ["--window-size=1400,2000", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120)
    img = mpimg.imread(str(shot))
    assert img.shape[:2] == (2000, 1400)
    assert img[..., :3].std() > 0.05  # tables and figures, not a blank page
