"""The command-line side of exporting: ``spotkern export`` and ``spotkern predict --model``."""
from __future__ import annotations

import argparse
import logging
import os

from spotkern._argparse import BoolFlag
from spotkern.export.exporter import export_run
from spotkern.export.manifest import EXPORT_FORMATS, read_manifest
from spotkern.export.predict import predict_model
from spotkern.metrics import evaluate
from spotkern.metrics.cli import format_score
from spotkern.runs.predict import check_scorable

log = logging.getLogger("spotkern")


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``spotkern export``."""
    p.add_argument("--run", required=True, help="run directory written by 'spotkern train'")
    # no argparse choices: an unknown format is a one-line error naming the formats (export_run)
    p.add_argument("--format", required=True, metavar="|".join(EXPORT_FORMATS), help="what to write")
    p.add_argument("--out", required=True, help="new folder for the exported files and manifest.json")
    p.add_argument("--force", action=BoolFlag, default=False, help="replace an earlier export in --out")
    p.add_argument("--aoti", action=BoolFlag, default=False,
                   help="pt2: also build an AOTInductor package (needs a C++ toolchain; minutes on a small CPU)")
    p.add_argument("--postprocess", default=None, metavar="FILE",
                   help="post-processing file (spotkern tune) to ship instead of the run's default")


def cmd_export(args: argparse.Namespace) -> int:
    """``spotkern export``: write the folder, print the files."""
    paths = export_run(args.run, args.format, args.out, force=args.force, aoti=args.aoti,
                       postprocess=args.postprocess)
    for p in paths:
        print(p)
    log.info("export: wrote %d files under %s", len(paths), os.path.abspath(args.out))
    return 0


def cmd_predict_model(args: argparse.Namespace) -> int:
    """``spotkern predict --model DIR``: the same data, split, output and post-processing options as
    ``--run``."""
    if getattr(args, "from_scores", None) is not None or getattr(args, "save_scores", False):
        raise ValueError("--model: --from-scores and --save-scores need --run")
    if args.evaluate:
        check_scorable(args.data)
    out = args.out or os.path.join(args.model, "predictions", str(args.split))
    paths = predict_model(args.model, args.data, args.split, out, style=args.style, progress=args.progress,
                          postprocess=args.postprocess, threshold=args.threshold, top_k=args.top_k)
    print(f"wrote {len(paths)} results files")
    if args.evaluate:
        version = int(read_manifest(args.model, "--model", verify=False).get("data", {}).get("soccernet_version", 2))
        games = [os.path.relpath(os.path.dirname(p), out).replace(os.sep, "/") for p in paths]
        res = evaluate(args.data, out, games=games, version=version, metric=args.evaluate,
                       prediction_file=os.path.basename(paths[0]))
        print(f"average-mAP ({args.evaluate}) = {format_score(res['a_mAP'])} on {res['num_games']} games")
    return 0
