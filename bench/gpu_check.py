"""Throughput table of the one-shot GPU check (``bench/gpu_check.sh``): training and inference chunks/s
of the u-net, the default Transformer (dense confidence models, 224 frames of 512-d features, batch 256 as
the paper) and CALF (240 frames, batch 32), eager and with the whole step compiled (plus CUDA graphs with
``--cuda-graphs``), printed as a Markdown table and written as JSON.

The dense-anchor paper's V100 figures for comparison: u-net training 8,192 chunks in 5.4 s per epoch
(1,517 chunks/s), inference 1,447 chunks/s."""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch

from spotkern.train.engine import step_compile_supported
from spotkern.train.throughput import PipelineBench, _timed, synthetic_halves

PAPER_BATCH = {"unet": 256, "transformer": 256, "calf": 32}


def environment() -> dict:
    import triton

    return {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "triton": triton.__version__,
            "cuda": torch.version.cuda, "python": platform.python_version()}


def measure(name: str, compile: str, halves, seconds: float, mode: str = "default") -> dict:
    torch._dynamo.reset()
    B = PAPER_BATCH[name]
    t0 = time.perf_counter()
    b = PipelineBench(name, B, 512, "cuda", compile=compile, halves=halves)
    if mode != "default":  # CUDA graphs: rebuild the engine's compiled step with the mode
        from spotkern.train.engine import StepEngine

        b.engine = StepEngine(b.stage, b.data, b.model, b.opt, b.device, compile=compile, compile_mode=mode)
    b.train_step()  # compile + warm-up
    warm = time.perf_counter() - t0
    step_s = _timed(b.train_step, "cuda", seconds, min_iters=5)
    x = b.data_batch()[0]
    infer_s = _timed(lambda: b.infer(x), "cuda", seconds / 2, min_iters=5)
    data_s = _timed(b.data_batch, "cuda", seconds / 3, min_iters=5)
    return {"model": name, "compile": compile + ("" if mode == "default" else f" ({mode})"), "batch": B,
            "train_chunks_per_s": round(B / step_s, 1), "infer_chunks_per_s": round(B / infer_s, 1),
            "train_step_ms": round(1000 * step_s, 2), "data_ms_per_batch": round(1000 * data_s, 3),
            "warmup_s": round(warm, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu_check.json")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--models", nargs="+", default=list(PAPER_BATCH))
    p.add_argument("--cuda-graphs", action="store_true", help="also the whole step with mode='reduce-overhead'")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU visible to torch", file=sys.stderr)
        return 1
    halves = synthetic_halves(16, 512)
    modes = [("none", "default")]
    if step_compile_supported():
        modes.append(("step", "default"))
        if args.cuda_graphs:
            modes.append(("step", "reduce-overhead"))
    else:
        print(f"gpu_check: torch {torch.__version__} cannot compile the whole step (no trace_autograd_ops); "
              "measuring eager and the compiled network", file=sys.stderr)
        modes.append(("model", "default"))
    rows = []
    for name in args.models:
        for compile, mode in modes:
            try:
                rows.append(measure(name, compile, halves, args.seconds, mode))
            except Exception as exc:  # one failing row must not hide the others
                rows.append({"model": name, "compile": compile + ("" if mode == "default" else f" ({mode})"),
                             "error": f"{type(exc).__name__}: {exc}"[:300]})
            print(json.dumps(rows[-1]), flush=True)
    env = environment()
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"environment": env, "rows": rows,
                   "paper_v100": {"unet_train_chunks_per_s": 1517, "unet_infer_chunks_per_s": 1447}}, f, indent=1)
    print(f"\n{env['gpu']}, torch {env['torch']}, triton {env['triton']}, CUDA {env['cuda']}\n")
    print("| model | compile | batch | training chunks/s | inference chunks/s | step ms | data path ms | warm-up s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | {r['compile']} | | error: {r['error'][:80]} | | | | |")
        else:
            print(f"| {r['model']} | {r['compile']} | {r['batch']} | {r['train_chunks_per_s']} | "
                  f"{r['infer_chunks_per_s']} | {r['train_step_ms']} | {r['data_ms_per_batch']} | {r['warmup_s']} |")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
