"""The report's figures, drawn with matplotlib (``pip install 'spotkern[report]'``) on ``Figure``
objects (no pyplot, no global backend state) and returned as PNG bytes."""
from __future__ import annotations

import io
import math

import numpy as np

from spotkern.report.run_results import RunResults, half_events

DPI = 90


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure  # optional dependency: report
    except ImportError:
        raise ImportError("spotkern report needs matplotlib: pip install 'spotkern[report]'") from None
    # no layout engine: constrained layout costs seconds on the 17-panel figures; margins are set by hand
    return Figure(figsize=(width, height), dpi=DPI)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _colors(n: int):
    from matplotlib import colormaps  # optional dependency: report

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def tolerance_curve(runs: list) -> bytes:
    """mAP as a function of the matching tolerance (all / visible / unshown), one line per run."""
    fig = _figure(9, 4.2)
    ax = fig.add_subplot()
    for run, color in zip(runs, _colors(len(runs))):
        d = run.curve
        ax.plot(d["tolerances"], d["mAP"], color=color, label=f"{run.name}")
        if not run.generic and d.get("mAP_visible") and any(d["mAP_unshown"]):
            ax.plot(d["tolerances"], d["mAP_visible"], color=color, ls="--", lw=0.9, label=f"{run.name} visible")
            ax.plot(d["tolerances"], d["mAP_unshown"], color=color, ls=":", lw=0.9, label=f"{run.name} unshown")
    for lo, hi, name in ((1, 5, "tight"), (5, 60, "loose")):
        ax.axvspan(lo, hi, color="0.5", alpha=0.06 if name == "loose" else 0.12, lw=0)
    ax.set_xlabel("matching tolerance δ (s): a detection matches when |t - t_gt| <= δ / 2")
    ax.set_ylabel("mAP")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, max(runs[0].curve["tolerances"]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("mAP vs matching tolerance (shaded: tight 1-5 s, loose 5-60 s)")
    fig.subplots_adjust(left=0.08, right=0.98, top=0.92, bottom=0.13)
    return _png(fig)


def pr_curves(runs: list) -> bytes:
    """Precision-recall points (the evaluator's 200 thresholds) per class at each run's PR tolerance."""
    classes = runs[0].classes
    cols = 4 if len(classes) > 6 else max(len(classes), 1)
    rows = math.ceil(len(classes) / cols)
    fig = _figure(3.0 * cols, 2.5 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    colors = _colors(len(runs))
    for c, name in enumerate(classes):
        ax = axes[c // cols][c % cols]
        for run, color in zip(runs, colors):
            ax.plot(run.recall[c], run.precision[c], color=color, lw=1.2, drawstyle="steps-post")
        aps = " / ".join(f"{100 * run.pr_ap[c]:.1f}" for run in runs)
        ax.set_title(f"{name}: AP {aps}", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for c in range(len(classes), rows * cols):
        axes[c // cols][c % cols].set_visible(False)
    if len(runs) > 1:
        from matplotlib.lines import Line2D  # optional dependency: report

        fig.legend([Line2D([], [], color=col) for col in colors], [r.name for r in runs], loc="upper right",
                   fontsize=8, ncol=len(runs))
    fig.supxlabel("recall", fontsize=9)
    fig.supylabel("precision", fontsize=9)
    fig.subplots_adjust(left=0.06, right=0.99, top=1 - 0.45 / (2.5 * rows), bottom=0.5 / (2.5 * rows),
                        hspace=0.45, wspace=0.25)
    return _png(fig)


def timeline(run: RunResults, halves: list, min_score: float = 0.05) -> bytes:
    """One game: per half, ground truth (black ticks; hollow for labels not shown) and detections >=
    ``min_score`` (dots coloured by score) per class along the match clock."""
    from matplotlib import colormaps  # optional dependency: report

    C = len(run.classes)
    fig = _figure(12, 0.9 + 0.28 * C * len(halves))
    axes = fig.subplots(len(halves), 1, squeeze=False)[:, 0]
    cmap = colormaps["viridis"]
    sc = None
    for ax, h in zip(axes, halves):
        gf, gc, gv, pf, pc, ps = half_events(run, h)
        keep = ps >= min_score
        order = np.argsort(ps[keep])  # best detections drawn last, on top
        sc = ax.scatter(pf[keep][order] / run.fps / 60, pc[keep][order], c=ps[keep][order], cmap=cmap, vmin=0,
                        vmax=1, s=10 + 30 * ps[keep][order], alpha=0.85, lw=0)
        ax.scatter(gf[gv] / run.fps / 60, gc[gv], marker="|", s=220, color="black", lw=1.4)
        ax.scatter(gf[~gv] / run.fps / 60, gc[~gv], marker="|", s=220, color="0.55", lw=1.4)
        game, half = run.videos[h]
        ax.set_title(f"{game}" + ("" if run.generic else f", half {half}"), fontsize=9, loc="left")
        ax.set_yticks(range(C))
        ax.set_yticklabels(run.classes, fontsize=7)
        ax.set_ylim(C - 0.5, -0.5)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=8)
    axes[-1].set_xlabel("minutes (black ticks: ground truth, grey: not shown; dots: detections by score)")
    height = 0.9 + 0.28 * C * len(halves)
    fig.subplots_adjust(left=0.12, right=0.9, top=1 - 0.3 / height, bottom=0.55 / height, hspace=0.25)
    if sc is not None:
        fig.colorbar(sc, ax=list(axes), fraction=0.03, pad=0.01, label="score")
    return _png(fig)


def training_curves(runs: list) -> bytes | None:
    """Training loss (per step or epoch) and validation score per epoch of every stage of every run."""
    series = [(run, stage, rows) for run in runs for stage, rows in run.logs.items()]
    if not series:
        return None
    fig = _figure(11, 3.6)
    ax_loss, ax_val = fig.subplots(1, 2)
    colors = _colors(len(series))
    for (run, stage, rows), color in zip(series, colors):
        label = f"{run.name} / {stage}" if len(runs) > 1 else stage
        by_step = [r for r in rows if r["loss"] is not None and r["global_step"] is not None]
        if by_step:
            ax_loss.plot([r["global_step"] for r in by_step], [r["loss"] for r in by_step], color=color, label=label)
            ax_loss.set_xlabel("step")
        else:
            ep = [r for r in rows if r["loss"] is not None]
            ax_loss.plot([r["epoch"] for r in ep], [r["loss"] for r in ep], color=color, marker=".", label=label)
            ax_loss.set_xlabel("epoch")
        val = [r for r in rows if r["valid_score"] is not None]
        if val:
            metric = val[-1]["valid_metric"] or "?"
            ax_val.plot([r["epoch"] for r in val], [r["valid_score"] for r in val], color=color, marker="o",
                        label=f"{label} ({metric})")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_yscale("log")
    ax_val.set_xlabel("epoch")
    ax_val.set_ylabel("validation average-mAP")
    for ax in (ax_loss, ax_val):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.95, bottom=0.14, wspace=0.25)
    return _png(fig)


def tuning_bars(run: RunResults) -> bytes | None:
    """Per class a-mAP before and after ``spotkern tune`` (on its tuning split), from ``<run>/postprocess.json``."""
    pp = run.tuning
    if pp is None or "a_mAP_per_class_tuned" not in pp.info:
        return None
    before = np.asarray(pp.info["a_mAP_per_class_baseline"])
    after = np.asarray(pp.info["a_mAP_per_class_tuned"])
    names = pp.classes or [str(c) for c in range(len(before))]
    fig = _figure(11, 3.4)
    ax = fig.add_subplot()
    x = np.arange(len(names))
    ax.bar(x - 0.2, before, 0.4, label=f"before ({100 * pp.info['a_mAP_baseline']:.2f})", color="0.6")
    ax.bar(x + 0.2, after, 0.4, label=f"tuned ({100 * pp.info['a_mAP_tuned']:.2f})", color="tab:blue")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel(f"a-mAP ({pp.info.get('metric')})")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"spotkern tune on split {pp.info.get('split', '?')}: per-class a-mAP", fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.99, top=0.9, bottom=0.3)
    return _png(fig)
