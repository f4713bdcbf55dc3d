"""``spotkern`` command line: synth, train, predict, export, evaluate, tune, report, demo, bench.

Every ``train`` option is a flag and may also come from ``--config file.json`` (keys = TrainConfig
field names); explicit flags override the file, which overrides the defaults.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence

from spotkern._argparse import BoolFlag, Parser, int_in, json_object, positive_float
from spotkern._version import __version__
from spotkern.data.dataset import list_games
from spotkern.data.labels import PLACEMENTS
from spotkern.data.synth import MAX_FEATURE_DIM, MAX_FPS, MAX_GAMES, write_synthetic_soccernet
from spotkern.export.cli import add_export_arguments, cmd_export, cmd_predict_model
from spotkern.methods.config import (
    CALF_VARIANTS,
    COMPILE_CHOICES,
    COMPILE_MODES,
    INT_RANGES,
    METHOD_FIELDS,
    METHODS,
    PRELOAD,
    TRUNKS,
    TrainConfig,
    read_config_file,
)
from spotkern.methods.registry import method_entries
from spotkern.metrics import evaluate
from spotkern.metrics.cli import add_evaluate_arguments, format_score, run_evaluate
from spotkern.ops.nms import METHODS as NMS_METHODS
from spotkern.report.html import add_report_arguments, run_report
from spotkern.runs.predict import check_scorable, predict_dataset, score_predictions
from spotkern.runs.video import predict_video
from spotkern.runs.video_demo import video_demo
from spotkern.train.run_config import require_run
from spotkern.train.throughput import run_bench
from spotkern.train.trainer import cpu_threads, resolve_device, train
from spotkern.tune import add_tune_arguments, run_tune
from spotkern.video.extract import add_extract_arguments, run_extract

log = logging.getLogger("spotkern")


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    log.setLevel(level)
    # third-party notices (matplotlib's "building the font cache") only with -v
    logging.getLogger("matplotlib").setLevel(level if verbosity > 0 else logging.ERROR)


# TrainConfig fields with a closed set of values: listed in --help and checked by argparse
CHOICES = {"method": METHODS, "trunk": TRUNKS, "calf_variant": CALF_VARIANTS, "nms_method": NMS_METHODS,
           "label_placement": PLACEMENTS, "preload": PRELOAD, "compile": COMPILE_CHOICES, "compile_mode": COMPILE_MODES}


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (``--batch-size``, ``--trunk-kwargs '{"levels": 4}'``...), all
    defaulting to "not given" so that the config file and the dataclass defaults can fill them. Boolean
    fields are ``--amp`` / ``--no-amp`` (``--amp true`` also works)."""
    p.add_argument("--config", help="JSON file of TrainConfig fields, keys with underscores as in "
                                    "spotkern.train.TrainConfig, e.g. {\"chunks_per_epoch\": 64} (flags override it)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
        kind = type(default)
        if f.name.startswith("displacement_") and default is None:
            kind = int if f.name.endswith("epochs") else float
        if f.name in METHOD_FIELDS:
            kind = METHOD_FIELDS[f.name]
            labelled = [pair for e in method_entries() for pair in e.help_defaults]
            default = ", ".join(f"{d[f.name]} for {m}" for m, d in labelled if f.name in d)
            unused = [m for m, d in labelled if f.name not in d]
            if unused:
                default += f"; not used by {', '.join(unused)}"
        text = _default_text(f.name, default)
        if kind is bool:
            p.add_argument(flag, action=BoolFlag, value_optional=True, default=argparse.SUPPRESS,
                           help=text)
        elif kind is dict:
            p.add_argument(flag, type=json_object, default=argparse.SUPPRESS, metavar="JSON",
                           help=text)
        elif f.name in CHOICES:
            p.add_argument(flag, choices=CHOICES[f.name], default=argparse.SUPPRESS, help=text)
        else:
            p.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=text)


def _default_text(name: str, default: object) -> str:
    """``--help``'s text of a TrainConfig flag's default (an empty or None default says what it means)."""
    if name == "data":
        return "dataset root: a SoccerNet layout or a generic dataset.json (required, here or in --config)"
    if default is None and name.startswith("displacement_"):
        return f"(default: {name[len('displacement_'):]}'s value, as the confidence model)"
    if default in ("", None):
        return "(no default)"
    return f"(default {default})"


def config_from_args(args: argparse.Namespace, base: dict | None = None) -> TrainConfig:
    d = dict(base or {})
    if getattr(args, "config", None):
        d.update(read_config_file(args.config, "--config"))
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    d.update({k: v for k, v in vars(args).items() if k in names})
    return TrainConfig.from_dict(d)


# ----------------------------------------------------------------------------- commands
def cmd_synth(args: argparse.Namespace) -> int:
    info = write_synthetic_soccernet(args.out, splits={"train": args.train, "valid": args.valid, "test": args.test},
                                     feature_dim=args.feature_dim, fps=args.fps, seed=args.seed,
                                     amplitude=args.amplitude, progress=args.progress, version=args.version)
    n = sum(len(v) for v in info["splits"].values())
    log.info("synth: %d games (%s) with %s features under %s", n,
             ", ".join(f"{k} {len(v)}" for k, v in info["splits"].items()), info["features"], args.out)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if not cfg.data:
        raise ValueError("--data is required (or 'data' in --config)")
    out = train(cfg)
    for s in out["stages"]:
        log.info("train: stage %s %s, %s", s["stage"], "interrupted" if s["interrupted"] else "finished",
                 _best_text(s["best"]))
    return 0


def _best_text(best: float) -> str:
    """A stage's best validation score as ``train`` prints it (no validation yet: -inf)."""
    return f"best validation average-mAP {format_score(best)}" if best > -math.inf else "not validated yet"


def cmd_predict(args: argparse.Namespace) -> int:
    if args.video or args.features:
        return cmd_predict_video(args)
    for name in ("weights", "pca", "pca_mean"):
        if getattr(args, name) is not None:
            raise ValueError(f"--{name.replace('_', '-')} goes with --video (the encoder's files)")
    if args.data is None:
        raise ValueError("--data is required (the dataset root whose --split to predict), or give --video / "
                         "--features")
    if args.model is not None:
        return cmd_predict_model(args)
    check_run_dir(args.run)
    if args.evaluate:
        check_scorable(args.data)  # before predicting, not after
    out = args.out or os.path.join(args.run, "predictions", str(args.split))
    from_scores = None if args.from_scores is None else (args.from_scores or out)
    paths = predict_dataset(args.run, args.data, args.split, out, device=resolve_device(args.device),
                            style=args.style, progress=args.progress, postprocess=args.postprocess,
                            threshold=args.threshold, top_k=args.top_k, save_scores=args.save_scores,
                            from_scores=from_scores)
    print(f"wrote {len(paths)} results files under {out}")
    if args.evaluate:
        # the metric version follows the run's data: SoccerNet-v1 runs are scored with version 1
        res = score_predictions(args.run, args.data, out, paths, args.evaluate, split=args.split)
        print(f"average-mAP ({args.evaluate}) = {format_score(res['a_mAP'])} on {res['num_games']} games")
        if res.get("e2e"):  # generic dataset.json data: the E2E-Spot mAP too
            e2e = res["e2e"]
            print(f"E2E-Spot mAP (tolerances {e2e['tolerances']} frames) = {format_score(e2e['average_mAP'])}")
    return 0


def cmd_predict_video(args: argparse.Namespace) -> int:
    """``spotkern predict --run RUN|--model DIR --video VIDEO... [--features DIR] --out DIR``: one match from its
    videos, with a trained run or an exported model."""
    for name in ("data", "evaluate", "from_scores"):
        if getattr(args, name) not in (None, False):
            raise ValueError(f"--{name.replace('_', '-')} does not go with --video / --features (one match, no "
                             "labels; score a dataset split with --data instead)")
    if args.save_scores or args.style != "spotkern":
        raise ValueError("--save-scores and --style sn do not go with --video / --features")
    if args.run is not None:
        check_run_dir(args.run)
    out = args.out or os.path.join(args.run or args.model, "predictions", "video")
    path = predict_video(args.run, args.video or (), out, model_dir=args.model, features_dir=args.features,
                         weights=args.weights,
                         pca=args.pca, pca_mean=args.pca_mean, device=resolve_device(args.device),
                         postprocess=args.postprocess, threshold=args.threshold, top_k=args.top_k,
                         progress=args.progress)
    with open(path, encoding="utf-8") as f:
        n = len(json.load(f)["predictions"])
    print(f"wrote {path} ({n} events); see it with: spotkern report {out}")
    return 0


def check_run_dir(run: str) -> None:
    """``--run`` must be a run directory of ``spotkern train`` (its config.json readable)."""
    require_run(run, "--run")
    read_config_file(os.path.join(run, "config.json"), "--run")


def _evaluate(labels_dir, predictions, games, metric):
    return evaluate(labels_dir, predictions, games=games, metric=metric)


def demo_config(work: str, quick: bool = False) -> TrainConfig:
    """The demo's training configuration: the two-step dense method (a small u-net confidence model,
    then a displacement model) on the synthetic data, soft (linear) NMS of 4 s on the displaced scores
    (the challenge report's default, dense_anchors.md 7.2), one CPU thread; sized for a 2-core CPU.

    The displacement radius is 3 s (``displacement_multiplier=1``, rd = rc) rather than the paper's 6 s: the
    synthetic signature of an action spans 4 s on either side, so frames 4-6 s away carry no evidence of it
    and a 6-s head scatters the confidence peaks instead of sharpening them (docs/cli.md, "The demo")."""
    d = dict(data=os.path.join(work, "data"), out=os.path.join(work, "run"), method="dense",
             trunk="unet", trunk_kwargs={"levels": 3, "max_width": 128}, chunk_seconds=56.0,
             batch_size=32, chunks_per_epoch=2048, epochs=6, displacement_epochs=3, lr=2e-3, weight_decay=2e-4,
             displacement_lr=2e-3, mixup_alpha=0.0, validate_every=3, inference_batch=128, test_border=20.0,
             nms_method="linear", num_threads=1, displacement_multiplier=1.0)
    if quick:
        d.update(chunks_per_epoch=64, batch_size=16, epochs=1, displacement_epochs=1, validate_every=1,
                 trunk_kwargs={"levels": 2, "width": 64, "max_width": 64})
    return TrainConfig.from_dict(d)


def cmd_demo(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    work = args.workdir
    if args.video:
        overrides = read_config_file(args.config, "--config") if args.config else None
        res = video_demo(work, quick=args.quick, seed=args.seed, progress=args.progress, threads=args.threads,
                         config=overrides)
        print(f"demo: average-mAP (loose) = {format_score(res['a_mAP_loose'])}, tight = "
              f"{format_score(res['a_mAP_tight'])} on {res['num_games']} synthetic test matches predicted from "
              f"their videos ({res['predictions']}); wall time {res['wall_s']:.0f} s")
        return 0
    splits = {"train": 24, "valid": 4, "test": 12} if not args.quick else {"train": 3, "valid": 1, "test": 2}
    data = os.path.join(work, "data")
    if not os.path.isfile(os.path.join(data, "splits.json")):
        write_synthetic_soccernet(data, splits=splits, feature_dim=64, seed=args.seed, progress=args.progress)
    log.info("demo: synthetic data in %s (%.0f s)", data, time.perf_counter() - t0)
    cfg = demo_config(work, args.quick)
    if args.config:
        cfg = TrainConfig.from_dict({**cfg.to_dict(), **read_config_file(args.config, "--config")})
    cfg.progress = args.progress
    cfg.seed = args.seed
    if args.threads:
        cfg.num_threads = args.threads
    train(cfg)
    log.info("demo: trained (%.0f s)", time.perf_counter() - t0)
    pred = os.path.join(cfg.out, "predictions", "test")
    predict_dataset(cfg.out, data, "test", pred, progress=args.progress)
    games = list_games(data, "test")
    res = _evaluate(data, pred, games, "loose")
    tight = _evaluate(data, pred, games, "tight")
    wall = time.perf_counter() - t0
    print(f"demo: average-mAP (loose) = {format_score(res['a_mAP'])}, tight = {format_score(tight['a_mAP'])} "
          f"on {res['num_games']} synthetic test games; wall time {wall:.0f} s")
    with open(os.path.join(work, "demo_result.json"), "w", encoding="utf-8") as f:
        json.dump({"a_mAP_loose": res["a_mAP"], "a_mAP_tight": tight["a_mAP"], "wall_s": wall}, f)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    with cpu_threads(args.threads):
        rows = run_bench(models=args.models, batch_size=args.batch_size, feature_dim=args.feature_dim,
                         compile_modes=args.compile, device=device, seconds=args.seconds, tiny=args.tiny)
    for r in rows:
        print(json.dumps(r))
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    return run_extract(args)


# ----------------------------------------------------------------------------- parser
MAX_SEED = 2**63 - 1
MAX_THREADS = INT_RANGES["num_threads"][1]


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="spotkern", description="Temporal action spotting: data, training, inference and SoccerNet "
               "average-mAP. Every boolean flag is --name / --no-name.")
    p.add_argument("--version", action="version", version=f"spotkern {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="more log output; errors with their traceback (also after the command)")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only (also after the command)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="write a synthetic SoccerNet-layout dataset")
    s.add_argument("out", help="dataset root to write (game folders, splits.json)")
    games = int_in(0, MAX_GAMES)
    s.add_argument("--train", type=games, default=40, help="games in the train split (default 40)")
    s.add_argument("--valid", type=games, default=8, help="games in the valid split (default 8)")
    s.add_argument("--test", type=games, default=16, help="games in the test split (default 16)")
    s.add_argument("--feature-dim", type=int_in(1, MAX_FEATURE_DIM), default=64,
                   help="feature dimension F of each frame's vector (default 64)")
    s.add_argument("--fps", type=int_in(1, MAX_FPS), default=2, help="feature frames per second (default 2)")
    s.add_argument("--amplitude", type=float, default=0.6,
                   help="strength of each action's signature in the features against unit noise; smaller is "
                        "harder (default 0.6)")
    s.add_argument("--seed", type=int_in(0, MAX_SEED), default=0, help="random seed: the same seed writes the same "
                                                                      "data (default 0)")
    s.add_argument("--version", type=int, choices=(1, 2), default=2,
                   help="SoccerNet label format: 2 (Labels-v2.json, 17 classes) or 1 (Labels.json, v1 labels)")
    s.add_argument("--progress", action=BoolFlag, default=True, help="progress bar (default: on)")
    s.set_defaults(func=cmd_synth)

    t = sub.add_parser("train", help="train a model (calf, dense, dense-joint)")
    add_config_arguments(t)
    t.set_defaults(func=cmd_train)

    r = sub.add_parser("predict", help="write results_spotting.json per game with a trained run")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run directory written by 'spotkern train'")
    src.add_argument("--model", help="exported model folder (spotkern export: onnx, pt2 or safetensors)")
    r.add_argument("--data", default=None, help="dataset root (SoccerNet layout or dataset.json) whose --split to "
                                                "predict; not with --video")
    r.add_argument("--video", nargs="+", default=None, metavar="VIDEO",
                   help="predict one match from its video(s): one video is one half, two videos (or a folder of "
                        "1_*/2_* videos) a match; extracted with the encoder of the run's features")
    r.add_argument("--features", default=None, metavar="DIR",
                   help="with --run: a folder of 1_<name>.npy / 2_<name>.npy extracted earlier (spotkern extract) "
                        "instead of extracting --video")
    r.add_argument("--weights", default=None, metavar="FILE",
                   help="--video with a resnet152-soccernet run: Keras's ResNet-152 weights file the run's features "
                        "were extracted with")
    r.add_argument("--pca", default=None, metavar="FILE", help="--video: SoccerNet's PCA pickle (PCA512 features)")
    r.add_argument("--pca-mean", default=None, metavar="FILE", help="--video: the PCA's mean pickle")
    r.add_argument("--split", default="test")
    r.add_argument("--out", default=None)
    r.add_argument("--style", choices=("spotkern", "sn"), default="spotkern")
    r.add_argument("--device", default="auto")
    r.add_argument("--evaluate", default=None, metavar="METRIC",
                   help="then print the average-mAP (loose, tight, ...) of the written files, with the metric "
                        "version of the run's data (1 for soccernet_version=1 runs)")
    r.add_argument("--postprocess", default=None, metavar="FILE",
                   help="post-processing file (spotkern tune) instead of the run's NMS settings")
    r.add_argument("--threshold", type=float, default=None,
                   help="keep detections with score >= this (every class; over --postprocess)")
    r.add_argument("--top-k", type=int_in(1, 2**31 - 1), default=None,
                   help="keep the best K detections per half (over all classes)")
    r.add_argument("--save-scores", action=BoolFlag, default=False,
                   help="also save each game's raw outputs (raw_scores.npz) beside its results, for spotkern tune")
    r.add_argument("--from-scores", nargs="?", const="", default=None, metavar="DIR",
                   help="post-process raw scores saved earlier (default: those under the output folder) "
                        "instead of running the networks")
    r.add_argument("--progress", action=BoolFlag, default=True, help="progress bar (default: on)")
    r.set_defaults(func=cmd_predict)

    x = sub.add_parser("export", help="export a trained run: ONNX networks, a torch.export program or safetensors")
    add_export_arguments(x)
    x.set_defaults(func=cmd_export)

    e = sub.add_parser("evaluate", help="SoccerNet average-mAP of results files")
    add_evaluate_arguments(e)
    e.set_defaults(func=run_evaluate)

    u = sub.add_parser("tune", help="search NMS method, window and threshold per class on saved raw scores")
    add_tune_arguments(u)
    u.set_defaults(func=run_tune)

    rp = sub.add_parser("report", help="self-contained HTML report of one run or several side by side")
    add_report_arguments(rp)
    rp.set_defaults(func=run_report)

    d = sub.add_parser("demo", help="synth -> train -> predict -> evaluate, printing the average-mAP (--video: from "
                                    "synthetic match videos)")
    d.add_argument("--workdir", default="spotkern-demo")
    d.add_argument("--config", help="JSON overrides of the demo's TrainConfig")
    d.add_argument("--quick", action=BoolFlag, default=False, help="a tiny smoke-test version (seconds, not minutes)")
    d.add_argument("--video", action=BoolFlag, default=False,
                   help="from match videos: synthetic videos with a visible cue per class -> tiny features -> train "
                        "-> events predicted from the test videos")
    d.add_argument("--seed", type=int_in(0, MAX_SEED), default=0)
    d.add_argument("--threads", type=int_in(0, MAX_THREADS), default=0,
                   help="torch CPU threads (default: the demo config's 1, robust on shared cores)")
    d.add_argument("--progress", action=BoolFlag, default=True, help="progress bar (default: on)")
    d.set_defaults(func=cmd_demo)

    b = sub.add_parser("bench", help="training/inference chunks per second and data-path time")
    b.add_argument("--models", nargs="+", default=["unet", "transformer", "calf"])
    b.add_argument("--batch-size", type=int_in(1, 1 << 16), default=32)
    b.add_argument("--feature-dim", type=int_in(1, MAX_FEATURE_DIM), default=512)
    b.add_argument("--compile", nargs="+", default=["eager", "compiled", "step"], choices=("eager", "compiled", "step"),
                   help="eager, compiled (the network), step (the whole training step in one graph)")
    b.add_argument("--tiny", action="store_true",
                   help="smallest trunk: the step's cost beyond the network (its overhead)")
    b.add_argument("--device", default="auto")
    b.add_argument("--seconds", type=positive_float(3600.0), default=3.0, help="measuring time per row")
    b.add_argument("--threads", type=int_in(0, MAX_THREADS), default=0,
                   help="torch CPU threads (0: one on a machine of <= 2 cores, else torch's default)")
    b.set_defaults(func=cmd_bench)

    x = sub.add_parser("extract", help="per-frame features of videos (SoccerNet's frames and ResNET_TF2, or tiny)")
    add_extract_arguments(x)
    x.set_defaults(func=cmd_extract)
    return p


# What a command reports as one line (exit status 2): every named error of the library (ValueError /
# TypeError naming the function and argument or the file), OS errors (their message names the file),
# and running out of memory.
REPORTED_ERRORS = (ValueError, TypeError, OSError, MemoryError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command. An error (bad option values, malformed or unreadable files: ``REPORTED_ERRORS``) is
    printed as one line and exits with status 2 (``-v`` shows the traceback); Ctrl-C prints one line
    and exits with 130; warnings are one line each."""
    args = build_parser().parse_args(argv)
    args.verbose += vars(args).pop("verbose_after", 0)  # -v / -q after the subcommand (CommandParser)
    args.quiet = args.quiet or vars(args).pop("quiet_after", False)
    _setup_logging(-1 if args.quiet else args.verbose)
    prefix = f"spotkern {args.command}"
    with warnings.catch_warnings():  # restores the filters and showwarning on exit
        warnings.simplefilter("default")  # each distinct warning once
        warnings.showwarning = lambda message, *a, **k: print(f"{prefix}: warning: {message}", file=sys.stderr)
        return _run(args, prefix)


def _run(args, prefix: str) -> int:
    try:
        return int(args.func(args) or 0)
    except REPORTED_ERRORS as e:
        if args.verbose:
            raise
        print(f"{prefix}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # torch's allocator: "DefaultCPUAllocator: can't allocate memory: ..."
        if args.verbose or not _is_out_of_memory(e):
            raise
        print(f"{prefix}: error: out of memory: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.verbose:
            raise
        print(f"{prefix}: interrupted; resume with the same command", file=sys.stderr)
        return 130


def _is_out_of_memory(e: RuntimeError) -> bool:
    text = str(e)
    return "can't allocate memory" in text or "out of memory" in text.lower()


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if isinstance(e, (ValueError, TypeError)) else f"{type(e).__name__}: {text}"


if __name__ == "__main__":
    sys.exit(main())
