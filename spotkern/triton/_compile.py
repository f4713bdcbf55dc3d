"""Ahead-of-time compile check of the Triton kernels for real GPUs, without a GPU.

Every ``spotkern/triton/<op>.py`` module lists ``COMPILE_SPECS``: entries
``(jit_function, signature, constexprs)`` or ``(jit_function, signature, constexprs, options)``
(options: Triton compile options such as ``{"num_warps": 8}``, the ones the launcher uses). Each
entry is compiled for sm_70 (V100), sm_80 (A100) and sm_90 (H100) with
``triton.compile(ASTSource(...), target=GPUTarget("cuda", cc, 32))``; the PTX is then assembled
once more with the ptxas of the Triton wheel and the same flags Triton uses, with ``-v``, to read
the registers per thread and the spill stores/loads (a CUDA driver would report them only on a GPU).

Run as a script (``python -m spotkern.triton._compile --json out.json``) in a process without
``TRITON_INTERPRET``: it prints a table, writes the JSON and exits 1 if a kernel fails to compile,
has no cubin, or spills.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

CAPABILITIES = (70, 80, 90)


def kernel_modules() -> list[str]:
    """Names of every kernel module of spotkern.triton (``_``-prefixed helpers excluded)."""
    import spotkern.triton as pkg  # optional dependency: triton

    return sorted(
        f"spotkern.triton.{m.name}" for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")
    )


def specs_of(module_name: str) -> list[tuple]:
    return list(getattr(importlib.import_module(module_name), "COMPILE_SPECS", []))


def _ptxas_path(cc: int) -> str:
    """The ptxas Triton itself uses for ``cc`` (the wheel ships one for sm < 90 and a newer one)."""
    from triton.backends.nvidia.compiler import get_ptxas  # optional dependency: triton

    return get_ptxas(cc).path


_REGS = re.compile(r"Used (\d+) registers")
_SPILLS = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")
_STACK = re.compile(r"(\d+) bytes stack frame")
_ARCH = re.compile(r"^\.target\s+(sm_\w+)", flags=re.MULTILINE)


def _found(pattern: re.Pattern[str], text: str, what: str) -> re.Match[str]:
    """``pattern.search(text)``; an error naming what is missing rather than an AttributeError on None."""
    m = pattern.search(text)
    if m is None:
        raise RuntimeError(f"spotkern.triton._compile: no {what} in {text[:300]!r}")
    return m


def ptxas_usage(ptx: str, cc: int, enable_fp_fusion: bool = True) -> dict:
    """Registers, spill stores/loads and stack bytes of the (single) kernel in ``ptx``, from
    ``ptxas -v`` run with Triton's own flags (so the numbers are those of Triton's cubin)."""
    arch = _found(_ARCH, ptx, "'.target sm_XX' line in the PTX").group(1)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "k.ptx")
        with open(src, "w") as f:
            f.write(ptx)
        cmd = [_ptxas_path(cc), "-lineinfo", "-v", "--regAllocOptLevel=2", f"--gpu-name={arch}", src,
               "-o", os.path.join(tmp, "k.cubin")]
        if not enable_fp_fusion:
            cmd.insert(1, "--fmad=false")
        log = subprocess.run(cmd, check=True, capture_output=True, text=True).stderr
    regs, spills = _found(_REGS, log, "register count"), _found(_SPILLS, log, "spill counts")
    stack = _found(_STACK, log, "stack frame size")
    return {
        "arch": arch,
        "registers": int(regs.group(1)),
        "spill_stores": int(spills.group(1)),
        "spill_loads": int(spills.group(2)),
        "stack": int(stack.group(1)),
    }


def compile_one(module_name: str, index: int, cc: int) -> dict:
    """Compile COMPILE_SPECS[index] of ``module_name`` for compute capability ``cc``."""
    import triton  # optional dependency: triton
    from triton.backends.compiler import GPUTarget  # optional dependency: triton
    from triton.compiler import ASTSource  # optional dependency: triton

    spec = specs_of(module_name)[index]
    fn, signature, constexprs = spec[:3]
    options = dict(spec[3]) if len(spec) > 3 else {}
    start = time.perf_counter()
    src = ASTSource(fn=fn, signature=dict(signature), constexprs=dict(constexprs))
    kernel = triton.compile(src, target=GPUTarget("cuda", cc, 32), options=options)
    seconds = time.perf_counter() - start
    cubin = kernel.asm.get("cubin")
    row = {
        "module": module_name.rsplit(".", 1)[-1],
        "kernel": fn.__name__,
        "cc": cc,
        "dtypes": ",".join(v for v in signature.values() if v.startswith("*")),
        "constexprs": {k: (v if isinstance(v, (int, float, bool, str)) else str(v)) for k, v in constexprs.items()},
        "num_warps": kernel.metadata.num_warps,
        "cubin_bytes": len(cubin) if cubin else 0,
        "compile_s": round(seconds, 3),
    }
    row.update(ptxas_usage(kernel.asm["ptx"], cc, options.get("enable_fp_fusion", True)))
    return row


def _task(args):
    try:
        return compile_one(*args)
    except Exception as exc:  # reported as a failed row, so one bad kernel does not hide the others
        module_name, index, cc = args
        return {"module": module_name.rsplit(".", 1)[-1], "kernel": f"spec[{index}]", "cc": cc,
                "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"}


def compile_all(capabilities=CAPABILITIES, workers: int | None = None, modules=None) -> list[dict]:
    names = [m for m in kernel_modules() if not modules or m.rsplit(".", 1)[-1] in modules]
    tasks = [(m, i, cc) for m in names for i in range(len(specs_of(m))) for cc in capabilities]
    workers = workers or min(len(tasks), os.cpu_count() or 1) or 1
    if workers == 1:
        return [_task(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_task, tasks))


def problems(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        name = f"{r['module']}.{r['kernel']} sm_{r['cc']}"
        if "error" in r:
            out.append(f"{name}: {r['error']}")
        elif r["cubin_bytes"] == 0:
            out.append(f"{name}: no cubin")
        elif r["spill_stores"] or r["spill_loads"]:
            out.append(f"{name}: spills {r['spill_stores']} B stores / {r['spill_loads']} B loads")
    return out


def table(rows: list[dict]) -> str:
    head = (f"{'module':<22} {'kernel':<30} {'cc':>3} {'warps':>5} {'regs':>4} {'spill st/ld':>11} {'stack':>5}  "
            "pointers; constexprs")
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['module']:<22} {r['kernel']:<30} {r['cc']:>3}  ERROR {r['error'][:80]}")
            continue
        spill = f"{r['spill_stores']}/{r['spill_loads']}"
        ce = " ".join(f"{k}={v}" for k, v in r["constexprs"].items())
        lines.append(f"{r['module']:<22} {r['kernel']:<30} {r['cc']:>3} {r['num_warps']:>5} {r['registers']:>4} "
                     f"{spill:>11} {r['stack']:>5}  {r['dtypes']}; {ce}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--json", help="write the per-kernel rows here")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--modules", nargs="*", help="only these kernel modules (default: all)")
    args = parser.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        print("spotkern.triton._compile: unset TRITON_INTERPRET to compile for GPUs", file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows = compile_all(workers=args.workers, modules=args.modules)
    print(table(rows))
    print(f"{len(rows)} compilations in {time.perf_counter() - start:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    bad = problems(rows)
    for line in bad:
        print("FAIL", line, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
