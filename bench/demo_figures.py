"""Re-run ``spotkern demo`` and print the figures the README quotes, with the machine they came from.

    python bench/demo_figures.py [--workdir DIR] [--keep] [--record [LABEL]]

Prints the demo's test average-mAP (two-step dense model: confidences displaced by the displacement model,
then linear soft NMS of 4 s), the confidence model alone scored with the same NMS (what the displacement stage
adds), the wall time and a one-line description of the machine. A fresh work folder is used unless
``--workdir`` names one (the demo resumes from an existing one). Takes a few minutes on a 2-core CPU.

The figures depend on the CPU, through the instruction set oneDNN (torch's convolutions) uses on it:
``ONEDNN_MAX_CPU_ISA=AVX2`` reproduces the AVX2 figures on an AVX-512 CPU, while capping torch's own kernels
(``ATEN_CPU_CAPABILITY=avx2``, see ``torch.backends.cpu.get_cpu_capability()``) changes nothing.
``--record`` stores the run in ``bench/demo_figures.json`` under LABEL (default: "<capability> on <CPU
model>" and the caps set; a new run replaces the entry); ``tests/test_readme_examples.py`` checks the
figures the README states against these records.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

RECORD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_figures.json")


def cpu_model() -> str:
    """The CPU's model name as the OS reports it."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return cpu


def machine() -> str:
    """CPU model, usable cores, load and software versions (timings mean little without them)."""
    import numpy
    import torch

    cpu = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = f"load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "load unknown"
    return (f"{cpu}, {cores} cores, {load}; {platform.system()} {platform.machine()}, Python "
            f"{platform.python_version()}, torch {torch.__version__}, numpy {numpy.__version__}")


def vector_unit() -> str:
    """The vector unit torch's CPU kernels use here ("AVX2", "AVX512", ...), which the figures depend on."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


ISA_LIMITS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def isa_limits() -> dict:
    """The environment variables set here that cap the instruction set of torch, oneDNN or MKL."""
    return {k: os.environ[k] for k in ISA_LIMITS if os.environ.get(k)}


def record_key() -> str:
    """The record's key for this machine: "<torch CPU capability> on <CPU model>", plus the ISA caps set."""
    caps = ", ".join(f"{k}={v}" for k, v in isa_limits().items())
    return f"{vector_unit()} on {cpu_model()}" + (f" ({caps})" if caps else "")


def record(label: str, figures: dict, path: str = RECORD) -> None:
    """Store ``figures`` under ``label`` in the JSON record at ``path``."""
    records = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            records = json.load(f)
    records[label] = figures
    with open(path, "w", encoding="utf-8") as f:
        json.dump(dict(sorted(records.items())), f, indent=1)
        f.write("\n")


def confidence_only(run: str, data: str, out: str) -> dict:
    """Loose and tight average-mAP of the demo's confidence model alone, with the displaced scores' NMS."""
    from spotkern.data.dataset import list_games
    from spotkern.metrics import evaluate
    from spotkern.runs.predict import predict_dataset

    alone = os.path.join(out, "confidence-only-run")
    os.makedirs(alone, exist_ok=True)
    shutil.copy(os.path.join(run, "config.json"), alone)
    shutil.copytree(os.path.join(run, "confidence"), os.path.join(alone, "confidence"), dirs_exist_ok=True)
    with open(os.path.join(run, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    pred = os.path.join(out, "confidence-only-predictions")
    predict_dataset(alone, data, "test", pred, progress=False,
                    overrides={"nms_window_confidence": cfg["nms_window_soft"]})
    games = list_games(data, "test")
    return {m: float(evaluate(data, pred, games=games, metric=m)["a_mAP"]) for m in ("loose", "tight")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", help="demo work folder (default: a fresh temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    p.add_argument("--record", nargs="?", const="", metavar="LABEL",
                   help=f"store the figures in {os.path.relpath(RECORD)} under LABEL (default: the CPU capability "
                        "and model, and the ISA caps set)")
    args = p.parse_args(argv)
    from spotkern.cli import main as spotkern_main

    work = args.workdir or tempfile.mkdtemp(prefix="spotkern-demo-")
    t0 = time.perf_counter()
    try:
        rc = spotkern_main(["-q", "demo", "--workdir", work, "--no-progress"])
        if rc:
            return rc
        wall = time.perf_counter() - t0
        with open(os.path.join(work, "demo_result.json"), encoding="utf-8") as f:
            demo = json.load(f)
        alone = confidence_only(os.path.join(work, "run"), os.path.join(work, "data"), work)
        print(f"demo (two-step, soft NMS 4 s): loose {demo['a_mAP_loose']:.4f}, tight {demo['a_mAP_tight']:.4f}; "
              f"wall {wall:.0f} s")
        print(f"confidence model alone, same NMS: loose {alone['loose']:.4f}, tight {alone['tight']:.4f}")
        print(f"machine: {machine()}; torch CPU kernels: {vector_unit()}")
        if args.record is not None:
            record(args.record or record_key(), {"loose": demo["a_mAP_loose"], "tight": demo["a_mAP_tight"],
                    "confidence_only": alone, "wall_s": round(wall, 1), "machine": machine(),
                    "isa_limits": isa_limits(),
                    "date": time.strftime("%Y-%m-%d", time.gmtime())})
    finally:
        if not args.workdir and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
