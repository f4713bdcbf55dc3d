"""``spotkern report``: one self-contained HTML file (figures embedded as PNG data URIs, no network
reference) for one run or several side by side."""
from __future__ import annotations

import argparse
import base64
import datetime
import html
import os
from collections.abc import Sequence

import numpy as np

from spotkern._argparse import int_in, positive_float
from spotkern._files import write_text_atomic
from spotkern.report import figures
from spotkern.report.run_results import RunResults, load_run_results
from spotkern.report.video import (
    VIDEO_PREDICTION_FILE,
    add_video_report_arguments,
    run_video_report,
    video_prediction_to_report,
)

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
img{max-width:100%;display:block;margin:8px 0}
.runs{display:flex;gap:12px;flex-wrap:wrap}.runs>div{flex:1 1 600px;min-width:0}
.note{color:#666;font-size:12px}.broken{color:#b00;font-weight:bold}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
"""

# Marks the document once every image has loaded or failed: <body data-figures-loaded="N"
# data-figures-broken="M">, and a visible warning for broken figures (the headless-browser test reads it).
SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0, broken = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; } else { broken++; }
  }
  document.body.setAttribute("data-figures-loaded", String(ok));
  document.body.setAttribute("data-figures-broken", String(broken));
  if (broken) {
    var p = document.createElement("p");
    p.className = "broken";
    p.textContent = broken + " figure(s) failed to load";
    document.body.insertBefore(p, document.body.firstChild);
  }
});
"""


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return f'<p class="note">{html.escape(alt)}: nothing to show.</p>'
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _pct(x) -> str:
    return "&ndash;" if x is None else f"{100 * float(x):.2f}"


def summary_table(runs: Sequence[RunResults]) -> str:
    head = "<tr><th>run</th><th>split</th><th>halves</th><th>loose a-mAP</th><th>tight a-mAP</th>" \
           "<th>loose visible</th><th>loose unshown</th><th>tight visible</th><th>tight unshown</th>" \
           "<th>E2E-Spot mAP (0,1,2,4 frames)</th></tr>"
    rows = []
    for r in runs:
        e2e = "&ndash;" if r.e2e is None else _pct(r.e2e["average_mAP"])
        rows.append(f"<tr><td>{html.escape(r.name)}</td><td>{html.escape(r.split)}</td><td>{len(r.videos)}</td>"
                    f"<td>{_pct(r.loose['a_mAP'])}</td><td>{_pct(r.tight['a_mAP'])}</td>"
                    f"<td>{_pct(r.loose['a_mAP_visible'])}</td><td>{_pct(r.loose['a_mAP_unshown'])}</td>"
                    f"<td>{_pct(r.tight['a_mAP_visible'])}</td><td>{_pct(r.tight['a_mAP_unshown'])}</td>"
                    f"<td>{e2e}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def class_table(runs: Sequence[RunResults]) -> str:
    """Per-class a-mAP: loose, tight, loose visible, loose unshown, for each run side by side."""
    cols = ("loose", "tight", "visible", "unshown")
    head1 = "<tr><th rowspan=2>class</th>" + "".join(f"<th colspan={len(cols)}>{html.escape(r.name)}</th>"
                                                     for r in runs) + "</tr>"
    head2 = "<tr>" + "".join(f"<th>{c}</th>" for _ in runs for c in cols) + "</tr>"

    def cell(values, c):
        return "&ndash;" if values is None else _pct(np.asarray(values, dtype=np.float64).reshape(-1)[c])

    rows = []
    for c, name in enumerate(runs[0].classes):
        cells = []
        for r in runs:
            cells += [cell(r.loose["a_mAP_per_class"], c), cell(r.tight["a_mAP_per_class"], c),
                      cell(r.loose["a_mAP_per_class_visible"], c), cell(r.loose["a_mAP_per_class_unshown"], c)]
        rows.append(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{v}</td>" for v in cells) + "</tr>")
    return f"<table>{head1}{head2}{''.join(rows)}</table>"


def postprocess_table(res: RunResults) -> str:
    pp = res.postprocess
    names = pp.classes or res.classes
    rows = "".join(
        f"<tr><td>{html.escape(str(n))}</td><td>{m}</td><td>{w:g}</td>"
        f"<td>{'default' if t is None else f'{t:g}'}</td></tr>"
        for n, m, w, t in zip(names, pp.methods, pp.windows, pp.thresholds))
    top_k = "all" if pp.top_k is None else pp.top_k
    return (f"<p class=note>{html.escape(res.name)}: {html.escape(res.postprocess_source)}; top-k per half: {top_k}</p>"
            f"<table><tr><th>class</th><th>NMS</th><th>window (s)</th><th>threshold</th></tr>{rows}</table>")


def build_report(run_dirs: list, out: str, *, split: str = "test", data: str | None = None,
                 predictions: list | None = None, names: list | None = None, timeline_games: int = 4,
                 timeline_min_score: float = 0.05, pr_tolerance: float = 5.0) -> str:
    """Write the HTML report of ``run_dirs`` (one or several, side by side) to ``out``; returns ``out``.

    predictions / names: one per run (default ``<run>/predictions/<split>`` and the run folder's name)."""
    if not run_dirs:
        raise ValueError("report: no run given")
    for name, given in (("predictions", predictions), ("names", names)):
        if given is not None and len(given) != len(run_dirs):
            raise ValueError(f"report: {name} must give one entry per run ({len(run_dirs)}), got {len(given)}")
    runs = [load_run_results(r, split=split, data=data, predictions=None if predictions is None else predictions[i],
                             name=None if names is None else names[i], pr_tolerance=pr_tolerance)
            for i, r in enumerate(run_dirs)]
    for r in runs[1:]:
        if r.classes != runs[0].classes:
            raise ValueError(f"report: runs {runs[0].name!r} and {r.name!r} have different classes")
    parts = [f"<h1>spotkern report: {html.escape(', '.join(r.name for r in runs))}</h1>",
             f"<p class=note>split {html.escape(split)}; generated "
             f"{datetime.datetime.now().isoformat(timespec='seconds')}; "
             + "; ".join(f"{html.escape(r.name)}: {html.escape(os.path.abspath(r.predictions))}" for r in runs)
             + "</p>",
             "<h2>Average-mAP</h2>", summary_table(runs),
             "<h2>Per-class a-mAP (%)</h2>", class_table(runs),
             "<h2>mAP vs matching tolerance</h2>", _img(figures.tolerance_curve(runs), "mAP vs tolerance"),
             f"<h2>Precision-recall per class (tolerance {pr_tolerance:g} s)</h2>",
             "<p class=note>the evaluator's 200 score thresholds; AP = 11-point interpolation of these points</p>",
             _img(figures.pr_curves(runs), "precision-recall curves"),
             "<h2>Post-processing in use</h2>",
             "<div class=runs>" + "".join(f"<div>{postprocess_table(r)}</div>" for r in runs) + "</div>"]
    # one run folder shown twice (two results folders of one run) has one training log and one tuning
    distinct, seen = [], set()
    for r in runs:
        if os.path.realpath(r.run_dir) not in seen:
            seen.add(os.path.realpath(r.run_dir))
            distinct.append(r)
    for r in distinct:
        bars = figures.tuning_bars(r)
        if bars is not None:
            parts.append(_img(bars, f"{r.name}: tuning"))
    parts += ["<h2>Training</h2>", _img(figures.training_curves(distinct), "training curves")]
    parts.append(f"<h2>Timelines (first {timeline_games} games; detections >= {timeline_min_score:g})</h2>")
    games = []
    for g, _ in runs[0].videos:
        if g not in games:
            games.append(g)
    for k, game in enumerate(games[:timeline_games]):
        cells = []
        for r in runs:
            halves = [h for h, (gg, _) in enumerate(r.videos) if gg == game]
            png = figures.timeline(r, halves, timeline_min_score) if halves else None
            cells.append(f"<div><p class=note>{html.escape(r.name)}</p>{_img(png, f'{r.name}: {game}')}</div>")
        parts.append(f"<details{' open' if k == 0 else ''}><summary>{html.escape(game)}</summary>"
                     f"<div class=runs>{''.join(cells)}</div></details>")
    doc = ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>spotkern report</title>"
           f"<style>{STYLE}</style><script>{SCRIPT}</script></head><body>{''.join(parts)}</body></html>")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    return write_text_atomic(out, doc)


def add_report_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("runs", nargs="*", help="run directories (several: side by side), or one prediction from video "
                                           f"(a folder holding {VIDEO_PREDICTION_FILE})")
    p.add_argument("--split", default="test")
    p.add_argument("--data", default=None, help="dataset root (default: each run's)")
    p.add_argument("--predictions", nargs="+", default=None,
                   help="results folders, one per run (default: RUN/predictions/SPLIT)")
    p.add_argument("--names", nargs="+", default=None, help="run names shown (default: the folder names)")
    p.add_argument("--out", default=None,
                   help="the HTML file (default: report.html; for a prediction from video, P/report.html)")
    p.add_argument("--timeline-games", type=int_in(0, 10_000), default=4, help="games with a timeline (default 4)")
    p.add_argument("--timeline-min-score", type=float, default=0.05,
                   help="detections drawn on the timelines: score >= this (default 0.05)")
    p.add_argument("--pr-tolerance", type=positive_float(3600.0), default=5.0,
                   help="tolerance of the PR curves, seconds (default 5)")
    add_video_report_arguments(p)
    return p


def run_report(args: argparse.Namespace) -> int:
    prediction = video_prediction_to_report(args)
    if prediction is not None:
        return run_video_report(args, prediction)
    out = build_report(args.runs, args.out or "report.html", split=args.split, data=args.data,
                       predictions=args.predictions, names=args.names, timeline_games=args.timeline_games,
                       timeline_min_score=args.timeline_min_score, pr_tolerance=args.pr_tolerance)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB)")
    return 0
