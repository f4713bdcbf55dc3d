"""``spotkern evaluate``: the SoccerNet average-mAP of prediction files on the command line.

The CLI entry point wires these two functions::

    sub = subparsers.add_parser("evaluate", help="SoccerNet average-mAP")
    add_evaluate_arguments(sub)
    sub.set_defaults(func=run_evaluate)
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import numpy as np

from spotkern._argparse import BoolFlag, Parser
from spotkern.metrics.dictionaries import class_names
from spotkern.metrics.evaluate import evaluate
from spotkern.metrics.generic import is_generic, run_evaluate_generic
from spotkern.metrics.soccernet import METRICS


def _metric(value: str):
    if value in METRICS:
        return value
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(METRICS)} or comma-separated seconds, got {value!r}") from None


def _frame_tolerances(value: str) -> list:
    try:
        tol = [int(v) for v in value.split(",")]
    except ValueError:
        tol = None
    if not tol or min(tol) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated frame counts >= 0, got {value!r}")
    return tol


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``spotkern evaluate`` to ``parser`` (returned for chaining)."""
    parser.add_argument("labels_dir", help="folder (or zip) with <league>/<season>/<game>/Labels-v2.json, or a "
                                           "generic dataset root (dataset.json)")
    parser.add_argument("predictions", help="folder or zip with <league>/<season>/<game>/results_spotting.json "
                                            "(generic: <video>/results_spotting.json, or one E2E-Spot JSON file)")
    parser.add_argument("--split", default="test",
                        help="without --games: the games of LABELS_DIR/SPLIT if it is a folder, else SPLIT's list "
                             "in LABELS_DIR/splits.json, else the official SoccerNet list of SPLIT when LABELS_DIR "
                             "holds all its games (SoccerNet package installed), else every game folder under "
                             "LABELS_DIR (default: test)")
    parser.add_argument("--games", default=None,
                        help="file listing the games (.json list / SoccerNet split mapping, or one per line); "
                             "overrides --split")
    parser.add_argument("--version", type=int, choices=(1, 2), default=2, help="SoccerNet version (default 2)")
    parser.add_argument("--metric", type=_metric, default="loose",
                        help="loose (5..60 s), tight (1..5 s), at1..at5, or comma-separated seconds")
    parser.add_argument("--label-placement", choices=("position", "gametime"), default="position",
                        help="ground-truth frame from position ms (official) or gameTime seconds (2021 figures)")
    parser.add_argument("--prediction-file", default="results_spotting.json")
    parser.add_argument("--label-file", default=None, help="default: Labels-v2.json (v2) / Labels.json (v1)")
    parser.add_argument("--framerate", type=int, default=2)
    parser.add_argument("--array-length", choices=("official", "exact"), default="official",
                        help="half length: official 120-minute array (later frames clamped) or each half's "
                             "true length (default: official)")
    parser.add_argument("--strict", action=BoolFlag, default=False,
                        help="refuse negative positions, unknown halves and labels, non-finite confidences, and "
                             "games with predictions but no labels or the reverse (otherwise warnings)")
    parser.add_argument("--json", action=BoolFlag, default=False,
                        help="print the result dict as JSON (fractions) instead of a table (percent)")
    parser.add_argument("--e2e-tolerances", type=_frame_tolerances, default=[0, 1, 2, 4],
                        help="generic dataset.json roots: E2E-Spot mAP tolerances in frames (default 0,1,2,4)")
    return parser


def _fmt(x) -> str:
    return "     -" if x is None else f"{100 * float(x):6.2f}"


def format_score(x: float) -> str:
    """An average-mAP as every command prints it: percent with two decimals ("73.60 %")."""
    return f"{100 * float(x):.2f} %"


def format_table(result: dict, version: int) -> str:
    """Per-class table (a-mAP, visible, unshown, in %) followed by the averages."""
    names = class_names(version)
    per = result["a_mAP_per_class"]
    vis = result["a_mAP_per_class_visible"]
    uns = result["a_mAP_per_class_unshown"]
    width = max(len(n) for n in names + ["average"])
    lines = [f"{'class':<{width}}  {'a-mAP':>6}  {'visible':>7}  {'unshown':>7}"]
    for c, name in enumerate(names):
        lines.append(f"{name:<{width}}  {_fmt(per[c])}  {_fmt(None if vis is None else vis[c]):>7}  "
                     f"{_fmt(None if uns is None else uns[c]):>7}")
    lines.append("-" * len(lines[0]))
    lines.append(f"{'average':<{width}}  {_fmt(result['a_mAP'])}  {_fmt(result['a_mAP_visible']):>7}  "
                 f"{_fmt(result['a_mAP_unshown']):>7}")
    return "\n".join(lines)


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, list):
        return [float(v) for v in x]
    if isinstance(x, int):
        return x
    return None if x is None else float(x)


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``spotkern evaluate`` with parsed ``args``; prints the result, returns the exit status
    (0 on success, 2 on unreadable or malformed input, reported on stderr). A generic ``dataset.json``
    root is scored by ``spotkern.metrics.generic`` (SoccerNet-style a-mAP and E2E-Spot mAP)."""
    if is_generic(args.labels_dir):
        return run_evaluate_generic(args)
    try:
        result = evaluate(args.labels_dir, args.predictions, split=args.split, version=args.version,
                          metric=args.metric, games=args.games, label_placement=args.label_placement,
                          prediction_file=args.prediction_file, label_file=args.label_file,
                          framerate=args.framerate, strict=args.strict,
                          array_length=getattr(args, "array_length", "official"))
    except (ValueError, TypeError) as e:
        if getattr(args, "verbose", 0):  # spotkern -v evaluate: the traceback, as every command
            raise
        print(f"spotkern evaluate: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({k: _jsonable(v) for k, v in result.items()}, indent=1))
    else:
        metric = args.metric if isinstance(args.metric, str) else ",".join(f"{t:g}" for t in args.metric)
        length = getattr(args, "array_length", "official")
        # v1 label files have no position field: their labels are always placed by gameTime
        placement = "gametime" if args.version == 1 else args.label_placement
        print(f"SoccerNet-v{args.version} average-mAP in % ({metric}, {placement} placement"
              f"{', exact half lengths' if length == 'exact' else ''}) on {result['num_games']} games")
        print(format_table(result, args.version))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone ``python -m spotkern.metrics.cli`` (same arguments as ``spotkern evaluate``)."""
    parser = add_evaluate_arguments(Parser(prog="spotkern evaluate", description=__doc__))
    return run_evaluate(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
