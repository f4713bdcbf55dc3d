"""Write ``bench/README.md`` from a pytest-benchmark JSON file, so that the tables are what was measured.

    python -m pytest bench --benchmark-only --benchmark-json=bench/results.json
    python bench/make_readme.py                  # bench/results.json -> bench/README.md (+ README.md's rows)
    python bench/make_readme.py --check          # exit 1 if bench/README.md is not what the JSON gives
    python bench/make_readme.py --merge a.json b.json ... [--note TEXT]   # -> bench/results.json

One table per benchmark group, in the order of ``GROUPS`` (groups it does not describe follow, in the order
they were run): each row's fastest round and median, its number of rounds, and its speed against the
group's reference row. The reference row is the fastest row whose name says it is a baseline (``reference``,
``official``, ``naive``, ``peer``, ``public``, ``previous``, ``loop``, ``numpy``) and not spotkern's, unless
``GROUPS`` names another; a group without one has no ratios. Ratios compare fastest rounds, the figure
least disturbed by other load on a shared machine. The machine, the software versions and the commit come
from the JSON. ``--merge`` combines the JSON files of several runs (one per bench file, for example) into
one, keeping the first file's machine (completed from the others) and commit and dropping the per-round
times, and stores ``--note`` (what to read the tables with, such as other load on the machine) in it. The
Triton register table comes from ``bench/triton_compile.json`` (``tests/test_triton_compile.py`` writes it).
The README's marked blocks (``FRONT_BLOCKS``: the video rows the issue asks the front door to show) are
rewritten from the same JSON, so they cannot drift either.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results.json")
README = os.path.join(HERE, "README.md")
TRITON = os.path.join(HERE, "triton_compile.json")
BASELINE = re.compile(r"reference|official|naive|peer|public|previous|loop|numpy", re.I)
PROG = "make_readme"

# (group name pattern, what the group measures and its target, reference row pattern or None for the rule)
GROUPS: list[tuple[str, str, str | None]] = [
    (r"tse 5400x17$", "CALF time-shift encoding of one half (5400 frames x 17 classes, about 50 actions). "
     "Reference: the vectorised numpy reference (the public per-frame loop takes about 175 ms). "
     "Target: <= 0.2 ms.", None),
    (r"tse 64 halves", "The same for 64 halves packed in one call.", None),
    (r"tse \d+ halves x 5400x17, \d thread", "Many halves in one call (`time_shift_encoding_batch` on a list, "
     "read in place, halves in parallel with OpenMP) against a Python loop of `time_shift_encoding`, on one "
     "and two threads. A speed-up from two threads needs an idle second core: on a shared machine the "
     "two-thread rows measure the other load as much as the kernel.", None),
    (r"reciprocal_matching", "Batched iterative reciprocal matching (calf.md 6), N = 15 slots. Rows: the "
     "numpy reference (proposal rounds), the public implementation's style in torch (masked one-hot/argmax), "
     "spotkern on numpy and torch inputs, and the optimal (Hungarian) assignment. Target: <= 50 us at "
     "B = 32.", None),
    (r"spotting_targets", "CALF's YOLO-like spotting targets for 256 chunks (calf.md 4).", None),
    (r"dense_anchor_targets 5400x17", "Dense-anchor confidence, displacement and support targets of one half "
     "(dense_anchors.md 2.1-2.3). Reference: the vectorised numpy version. Target: >= 10x.", None),
    (r"dense_anchor_targets 256x224x17", "The same for 256 chunks of 224 frames (a 9 MB output: the first "
     "touch of fresh pages weighs on every round).", None),
    (r"displace_scores 5400x17", "Displacement scattering of one half (dense_anchors.md 7.1). Rows: the spec "
     "loop, numpy's `maximum.at` (the public implementations' approach), spotkern. Target: <= 0.1 ms.", None),
    (r"displace_scores 256x224x17", "The same for 256 chunks.", None),
    (r"nms hard W=40 5400x17", "Hard NMS (dense_anchors.md 7.3), window 40 frames, smooth confidence-like "
     "scores; reference: the greedy spec loop. Target: <= 0.5 ms (public implementations: 9-57 ms).", None),
    (r"nms hard W=6", "Hard NMS, window 6, on displaced scores (many isolated peaks).", None),
    (r"nms calf W=40", "CALF's NMS (calf.md 10.4), window 40.", None),
    (r"nms hard W=40 sparse", "Hard NMS with `output=\"sparse\"` (frames, classes, scores of the kept "
     "detections).", None),
    (r"nms linear W=8 5400x17", "Linear soft NMS (dense_anchors.md 7.4), window 8, on displaced scores; "
     "reference: the spec loop with a vectorised numpy window update (the public approach, quadratic in "
     "T). Target: <= 5 ms (public: about 263 ms).", None),
    (r"nms linear W=8 smooth", "The same on smooth scores.", None),
    (r"nms gaussian W=8", "Gaussian soft NMS (dense_anchors.md 7.5), window 8.", None),
    (r"soccernet .*metric time", "SoccerNet average-mAP of the NetVLAD baseline's predictions on the 100 real "
     "test games (`../shared/data`; the group is skipped without them): the official evaluator's "
     "`average_mAP` (SoccerNet 0.2.0) on its dense arrays against spotkern's core on parsed events, both "
     "giving the same figure (0.31382766826473724 loose, soccernet_metric.md 11). `peak_MB`: peak traced "
     "memory (tracemalloc). Targets: >= 100x, <= 200 MB.", None),
    (r"soccernet .*wall", "The same, files to result (JSON loading included). Target: <= 1 s.", None),
    (r"compat ", "`spotkern.compat` stand-ins (docs/adoption.md) against a plain re-implementation of the "
     "peer's loop (`spotkern/reference/peers.py`), on the peer's dtypes.", None),
    (r"calf segmentation loss", "CALF's context-aware segmentation loss (calf.md 5), forward + backward: the "
     "public style (every zone's expression on every cell times a 0/1 indicator) against spotkern's closed "
     "form, eager and compiled.", None),
    (r"tune search, 10 games", "`spotkern tune`'s post-processing search, 17 classes x 3 NMS methods x 20 "
     "windows x 6 thresholds on synthetic raw scores, against a naive loop that post-processes every half "
     "and runs the public evaluator for each of the 360 settings; both find the same per-class optimum. "
     "Target: seconds on one core for 100 games. Where the time goes (cProfile of one 100-game search in "
     "an earlier session): about 42 % in the sparse NMS kernel (one call per class and method for all 20 "
     "windows, on the frames above the lowest threshold), 24 % in the numba AP sweeps of the grid, 28 % "
     "scoring the run's own post-processing exactly.", None),
    (r"tune search, 100 games", "The same for 100 games.", None),
    (r"calf step B=32", "One CALF training step (forward, losses, backward, Adam) at the paper's batch. The "
     "first row, the network with a free loss (the sum of its outputs), is the floor any loss adds to: no "
     "loss can make the step faster than (public-style row) / (this row). The issue's target of 2x is not "
     "reachable on a CPU, where the network is the step (see the notes below). Reference: the public style, "
     "eager.", r"public-style loss, eager"),
    (r"calf losses B=32", "CALF's losses and matching alone (forward + backward) on fixed network outputs.",
     None),
    (r"dense step ", "One dense-anchor training step (confidence head, weighted BCE), eager against "
     "`torch.compile`; u-net and default Transformer at batch 256, Small at 64 and Base at 16.", r"eager"),
    (r"train step ", "The training step of `spotkern train` with its data path: the previous engine "
     "(validating ops, `.backward()`, `torch.optim.AdamW`, `float(loss)` each step) against the sync-free "
     "engine, eager and compiled into one graph. Target: keep CPU speed.", None),
    (r"step overhead ", "The same three rows with the smallest network (8-d features): the step's cost beyond "
     "the network (data path, targets, losses, optimizer).", None),
    (r"pipeline ", "Throughput of one model at batch 16 (512-d features): the data path (sample, gather, "
     "targets), a training step including it, an inference forward. Target: the data path under 5 % of a "
     "training step. `spotkern bench --threads 1 --batch-size 16 --compile eager compiled step` prints "
     "chunks/s for the same rows, eager, with the network compiled and with the whole step compiled.", None),
    (r"results file, 2 dense halves", "Writing one game's results file of dense scores (every frame of two "
     "halves a prediction): the previous write (`json.dump` streamed into the file) against `write_results` "
     "(`json.dumps` in one C call, written atomically by `spotkern._files`); the same bytes.", None),
    (r"video extract 320x180", "`spotkern extract` (issue 19 item 6) on a generated 320 x 180, 25 fps clip, "
     "on every core: decoding alone (the same frames, one FFmpeg thread as `extract` uses beside a CPU "
     "encoder, and FFmpeg's own threads), the `tiny` encoder alone (the same frames in memory), the whole "
     "extraction (decoding in a thread, encoding in the caller). Target: whole <= 1.15 x max(decode, "
     "encoder): `full_vs_max_decode_encoder`.", None),
    (r"video encoder ", "Frames/s of each encoder on one thread, eager, channels_last, bf16 autocast and "
     "compiled, with the time per 45-minute half (5400 frames at 2 fps) extrapolated.", None),
    (r"resnet152 encoder", "ResNet-152 (random weights) at batch 2 on one thread, the variants that pay "
     "(bench/bench_video_encoder.py).", None),
    (r"video extract RSS", "Peak RSS (VmHWM) of `extract` with `tiny` in fresh processes, a 10-minute "
     "against a 1-minute video. Target: <= 1.2 x.", None),
]

#: README.md's blocks that this script writes: name -> [(group pattern, row pattern)], rows in run order
FRONT = os.path.join(os.path.dirname(HERE), "README.md")
FRONT_BLOCKS: dict[str, list[tuple[str, str]]] = {
    "video": [(r"video extract 320x180", r"^(?!decode .*FFmpeg's threads)"), (r"video extract RSS", r".")],
}

NOTES = """\
## Notes

**The CALF training step is the network.** In a quiet run on the AVX2 development machine, its forward,
backward and Adam step alone (the free-loss row of `calf step B=32`) took 221 ms of the public style's 228 ms:
about 19 GFLOP per step of 32 chunks, run at some 90 % of the 101 GFLOP/s a large fp32 matrix product
reached on that core, the same in every row. The public style's loss and matching added 7 ms (3 %);
spotkern's took 3.1 ms eager and 1.9 ms compiled (group `calf losses B=32`), which moves the step by less
than its run-to-run noise (+-10 %). So no loss, however fast, makes the CPU step 2x faster, and
`torch.compile` does not speed up these convolutions on a CPU. On a GPU, where the network takes a few
milliseconds and the public style's ~450 small kernel launches per step dominate, the comparison is
meaningful (`bench/bench_gpu.py`, `bench/bench_train_step.py`'s `cuda` groups). On a loaded machine the
rows of this group, measured minutes apart, are not comparable with each other.

**bf16.** Autocast to bf16 (`--amp true`) pays off only on a CPU with native bf16 (AVX512-BF16 or AMX);
elsewhere torch emulates it and is several times slower, and spotkern warns when that is the case.

**The training engine** never waits for the device (docs/cli.md, "The training step"). On a CPU, where
reading a tensor waits for nothing, it is as fast as the step it replaced or a little faster; what it is
for is a GPU, where every read drains the queue.
"""

GPU = """\
## GPU

Every op runs on CUDA tensors through Triton kernels (`pip install -e '.[triton]'`), registered as the
CUDA kernels of the same custom ops. They are tested under `TRITON_INTERPRET=1` against the CPU ops, bit
for bit: each op has one test module (`tests/test_<op>.py`) whose tests run on every backend, `cpu`,
`triton-interpreter` and `cuda` (`tests/backends.py`; the `cuda` ones run on a GPU with `pytest tests -m
cuda`, which `bench/gpu_check.sh` does), and they are compiled for sm_70 (V100), sm_80 (A100) and sm_90
(H100) in CI with registers and spills recorded per kernel; no kernel spills (`tests/test_triton_compile.py`,
from `bench/triton_compile.json`):

{table}

**No GPU figures have been measured yet**: no CUDA GPU was available while this was built.
`bench/bench_gpu.py` (every op against its reference on the same device) and `spotkern bench --device
cuda` skip or refuse without one. For comparison, the dense-anchor paper reports 1,447 inference chunks/s
and 8,192 training chunks in 5.4 s per epoch for the u-net on a V100; one CPU core of the development
machine ran the same u-net at about 262 inference chunks/s (about 5.5x slower) and 56 training chunks/s
(about 27x slower) in an earlier session.
"""


def _fail(msg: str) -> ValueError:
    return ValueError(f"{PROG}: {msg}")


def load(path: str) -> dict[str, Any]:
    """The pytest-benchmark JSON at ``path``; a missing file or another format is a ValueError naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise _fail(f"cannot read {path}: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise _fail(f"{path} is not a pytest-benchmark JSON file (no 'benchmarks' list)")
    for i, b in enumerate(data["benchmarks"]):
        if not (isinstance(b, dict) and isinstance(b.get("name"), str) and isinstance(b.get("stats"), dict)
                and all(isinstance(b["stats"].get(k), (int, float)) for k in ("min", "median", "rounds"))):
            raise _fail(f"{path}: benchmark {i} lacks a name or its stats (min, median, rounds)")
    return data


def merge(parts: Sequence[dict[str, Any]], note: str | None = None) -> dict[str, Any]:
    """One JSON of several runs: the first run's machine (completed from the others) and commit, every run's
    benchmarks in order, without their per-round times."""
    if not parts:
        raise _fail("merge needs at least one JSON file")
    out = {k: v for k, v in parts[0].items() if k != "benchmarks"}
    # every round's time (stats["data"]) is dropped: the tables need the summary statistics only
    out["benchmarks"] = [{**b, "stats": {k: v for k, v in b["stats"].items() if k != "data"}}
                         for p in parts for b in p["benchmarks"]]
    out["datetime"] = max(str(p.get("datetime", "")) for p in parts)
    machine: dict[str, Any] = {}
    for p in reversed(parts):  # the first run's values win; fields only later runs recorded are kept
        machine.update(p.get("machine_info", {}))
    machine.pop("load_average", None)
    out["machine_info"] = machine
    loads = [p.get("machine_info", {}).get("load_average") for p in parts]
    if any(loads):
        machine["load_average_per_run"] = [x for x in loads if x]
    if note:
        out["note"] = note
    return out


def format_time(seconds: float) -> str:
    """A duration with three significant digits in the unit that suits it (ns, us, ms, s)."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def format_ratio(r: float) -> str:
    """A speed ratio with three significant digits, whole numbers with thousands separators from 1000."""
    return f"{r:,.0f}x" if r >= 1000 else f"{r:.3g}x"


def group_order(data: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]], str, str | None]]:
    """[(group, rows, description, reference pattern)] in ``GROUPS`` order, undescribed groups last; groups
    of one pattern follow each other, the description above the first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for b in data["benchmarks"]:
        groups.setdefault(str(b.get("group") or b["name"]), []).append(b)
    out, seen = [], set()
    for pattern, text, ref in GROUPS:
        first = True
        for g, rows in groups.items():
            if g not in seen and re.match(pattern, g):
                seen.add(g)
                out.append((g, rows, text if first else "", ref))  # the description once, above the first
                first = False
    out += [(g, rows, "", None) for g, rows in groups.items() if g not in seen]
    return out


def reference_row(rows: Sequence[dict[str, Any]], pattern: str | None = None) -> dict[str, Any] | None:
    """The group's reference: the fastest row matching ``pattern``, or by default the fastest baseline row
    (its name says reference, official, naive, peer, public, previous, loop or numpy, and not spotkern)."""
    if pattern is not None:
        cands = [r for r in rows if re.search(pattern, r["name"], re.I)]
    else:
        cands = [r for r in rows if BASELINE.search(r["name"]) and "spotkern" not in r["name"].lower()]
    return min(cands, key=lambda r: r["stats"]["min"]) if cands else None


def row_name(b: dict[str, Any]) -> str:
    name = b["name"]
    return name[5:] if name.startswith("test_") else name


def extra(b: dict[str, Any]) -> str:
    info = b.get("extra_info") or {}
    def value(v: Any) -> str:
        if not isinstance(v, float):
            return str(v)
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"

    return ", ".join(f"{k} {value(v)}" for k, v in info.items())


def group_table(rows: Sequence[dict[str, Any]], ref: dict[str, Any] | None) -> list[str]:
    """Markdown lines of one group's table."""
    has_extra = any(b.get("extra_info") for b in rows)
    head = "| row | fastest | median | rounds | speed vs reference |" + (" extra |" if has_extra else "")
    lines = [head, "| --- | ---: | ---: | ---: | ---: |" + (" --- |" if has_extra else "")]
    for b in rows:
        s = b["stats"]
        if ref is None:
            ratio = ""
        elif b is ref:
            ratio = "reference"
        else:
            ratio = format_ratio(ref["stats"]["min"] / s["min"]) if s["min"] > 0 else ""
        cells = [f"`{row_name(b)}`", format_time(s["min"]), format_time(s["median"]), str(s["rounds"]), ratio]
        if has_extra:
            cells.append(extra(b))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def machine_lines(data: dict[str, Any]) -> list[str]:
    """What the run measured on: CPU, cores, vector unit, software, load, commit, date."""
    m = data.get("machine_info", {})
    cpu = m.get("cpu", {}) or {}
    flags = set(cpu.get("flags", []) or [])
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    parts = [f"CPU: {cpu.get('brand_raw', m.get('processor') or 'unknown')} ({cpu.get('count', '?')} cores, "
             f"{vector}), {m.get('system', '?')} {m.get('release', '')}".rstrip(),
             f"Python {m.get('python_version', '?')}"
             + (f", torch {m['torch_version']}" if "torch_version" in m else "")
             + (f", numpy {m['numpy_version']}" if "numpy_version" in m else "")
             + (f", pytest-benchmark {data['version']}" if "version" in data else "")]
    loads = m.get("load_average_per_run") or ([m["load_average"]] if "load_average" in m else [])
    if loads:
        one = [x[0] for x in loads]
        parts.append(f"load average (1 min) when each part's results were written: {min(one):g} to {max(one):g}")
    c = data.get("commit_info", {}) or {}
    if c.get("id"):
        parts.append(f"commit {c['id'][:12]}" + (" with uncommitted changes" if c.get("dirty") else "")
                     + (f" on branch {c['branch']}" if c.get("branch") else ""))
    if data.get("datetime"):
        parts.append(f"run finished {data['datetime']}")
    return [f"* {p}" for p in parts]


def triton_table(path: str = TRITON) -> str:
    """Registers per kernel and architecture from the Triton compile record (variants counted per arch)."""
    if not os.path.isfile(path):
        return "(no `bench/triton_compile.json` in this checkout)"
    with open(path, encoding="utf-8") as f:
        entries = json.load(f)
    archs = sorted({int(e["cc"]) for e in entries})
    kernels: dict[str, dict[int, list[int]]] = {}
    for e in entries:
        name = re.sub(r"_kernel$", "", str(e["kernel"]).lstrip("_"))
        kernels.setdefault(name, {}).setdefault(int(e["cc"]), []).append(int(e["registers"]))
    lines = ["| kernel | variants | " + " | ".join(f"registers sm_{a}" for a in archs) + " |",
             "| --- | ---: |" + " ---: |" * len(archs)]
    for name, per in kernels.items():
        cells = []
        for a in archs:
            r = per.get(a, [])
            cells.append("" if not r else f"{min(r)}" if min(r) == max(r) else f"{min(r)}–{max(r)}")
        variants = max(len(v) for v in per.values())
        lines.append(f"| {name} | {variants} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(data: dict[str, Any], triton_json: str = TRITON) -> str:
    """The text of bench/README.md for the benchmark run ``data``."""
    out = ["<!-- Generated by bench/make_readme.py from bench/results.json: do not edit by hand. -->",
           "# Benchmarks", "",
           "Generated by `bench/make_readme.py` from `bench/results.json`, the JSON of one benchmark run; "
           "to regenerate:", "",
           "```bash",
           "python -m pytest bench --benchmark-only --benchmark-json=bench/results.json",
           "python bench/make_readme.py",
           "```", "",
           "`tests/test_bench_readme.py` checks that this file is what the script makes of the committed JSON. "
           "Each group holds the reference (or public-style baseline) and spotkern, measured in the same run, "
           "one core (the benchmarks pin one thread). Read the ratios within a group: they compare the "
           "fastest rounds (the figure least disturbed by other load); absolute times vary between machines "
           "and, on a shared VM, between runs. `pytest --benchmark` (an alias of `--benchmark-only`) runs "
           "them all; `pytest bench/bench_nms.py --benchmark -k hard` one file or group.", "",
           "## The run", ""]
    out += machine_lines(data)
    if data.get("note"):
        out += ["", f"**Read with:** {data['note']}"]
    out.append("")
    for g, rows, text, ref_pattern in group_order(data):
        out += [f"### {g}", ""]
        if text:
            out += [text, ""]
        out += group_table(rows, reference_row(rows, ref_pattern)) + [""]
    out += [NOTES, GPU.format(table=triton_table(triton_json))]
    return "\n".join(out).rstrip("\n") + "\n"


def _marks(name: str) -> tuple[str, str]:
    return (f"<!-- bench:{name} begin: written by bench/make_readme.py from bench/results.json -->",
            f"<!-- bench:{name} end -->")


def front_block(data: dict[str, Any], picks: Sequence[tuple[str, str]]) -> str:
    """A compact table of the rows ``picks`` selects: group, row, fastest round, extra."""
    lines = ["| group | row | fastest | extra |", "| --- | --- | ---: | --- |"]
    for group_pat, row_pat in picks:
        for b in data["benchmarks"]:
            g = str(b.get("group") or b["name"])
            if re.match(group_pat, g) and re.search(row_pat, row_name(b)):
                lines.append(f"| {g} | `{row_name(b)}` | {format_time(b['stats']['min'])} | {extra(b)} |")
    return "\n".join(lines)


def render_front(text: str, data: dict[str, Any]) -> str:
    """``text`` (README.md) with each ``FRONT_BLOCKS`` block between its marks rewritten from ``data``; a
    README without a block's marks is left as it is."""
    for name, picks in FRONT_BLOCKS.items():
        begin, end = _marks(name)
        i, j = text.find(begin), text.find(end)
        if i < 0 or j < i:
            continue
        text = text[:i + len(begin)] + "\n" + front_block(data, picks) + "\n" + text[j:]
    return text


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--json", default=RESULTS, help="the pytest-benchmark JSON (default: bench/results.json)")
    p.add_argument("--out", default=README, help="the README to write (default: bench/README.md)")
    p.add_argument("--check", action="store_true", help="only check that --out is up to date")
    p.add_argument("--merge", nargs="+", metavar="JSON", help="combine these runs' JSON files into --json")
    p.add_argument("--note", help="with --merge: what to read the tables with (stored in the JSON)")
    p.add_argument("--front", default=None, help="the README whose marked blocks hold rows of the run "
                                                  "(default: README.md with the default --json and --out, else "
                                                  "none)")
    args = p.parse_args(argv)
    try:
        if args.merge:
            merged = merge([load(f) for f in args.merge], args.note)
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(merged, f, indent=1)
                f.write("\n")
        data = load(args.json)
        outputs = [(args.out, lambda _: render(data))]
        front = args.front if args.front is not None else FRONT if (args.json, args.out) == (RESULTS, README) else ""
        if front and os.path.isfile(front):
            outputs.append((front, lambda cur: render_front(cur, data)))
        for path, make in outputs:
            try:
                with open(path, encoding="utf-8") as f:
                    current: str | None = f.read()
            except OSError:
                current = None
            text = make(current or "")
            if args.check:
                if current != text:
                    print(f"{PROG}: {path} is not what {args.json} gives; run python bench/make_readme.py",
                          file=sys.stderr)
                    return 1
            elif current != text:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
