"""Ahead-of-time compilation of every Triton kernel for sm_70 (V100), sm_80 (A100) and sm_90 (H100),
without a GPU: ``python -m spotkern.triton._compile`` runs in a subprocess whose environment drops
TRITON_INTERPRET (tests/conftest.py sets it for this process). Every COMPILE_SPECS entry of every
spotkern/triton module must give a cubin and spill no register.

The per-kernel table (registers, spills) is printed and written to a JSON file: a temporary one,
or ``$SPOTKERN_TRITON_COMPILE_JSON`` when set (bench/README.md tabulates such a run)."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("triton")
pytestmark = pytest.mark.triton

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPABILITIES = (70, 80, 90)


@pytest.fixture(scope="module")
def compile_report(tmp_path_factory):
    path = os.environ.get("SPOTKERN_TRITON_COMPILE_JSON") or str(tmp_path_factory.mktemp("triton") / "compile.json")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "spotkern.triton._compile", "--json", path], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    print(proc.stdout)
    with open(path) as f:
        rows = json.load(f)
    return proc, rows


def expected_specs():
    """(module, number of COMPILE_SPECS) of every kernel module, read in a process without the
    interpreter too (the specs hold jit functions, which differ under it)."""
    code = ("import json; from spotkern.triton._compile import kernel_modules, specs_of; "
            "print(json.dumps({m.rsplit('.', 1)[-1]: len(specs_of(m)) for m in kernel_modules()}))")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_kernel_compiles_for_every_capability(compile_report):
    proc, rows = compile_report
    errors = [r for r in rows if "error" in r]
    assert not errors, errors
    counts = expected_specs()
    for module in ("time_shift_encoding", "spotting_targets", "reciprocal_matching", "dense_anchor_targets",
                   "displace_scores", "nms"):
        assert counts.get(module, 0) > 0, f"{module} lists no COMPILE_SPECS"
    for module, n in counts.items():
        for cc in CAPABILITIES:
            got = [r for r in rows if r["module"] == module and r["cc"] == cc]
            assert len(got) == n, f"{module}: {len(got)} of {n} specs compiled for sm_{cc}"
    assert all(r["cubin_bytes"] > 0 for r in rows)
    assert all(r["arch"].startswith(f"sm_{r['cc']}") for r in rows)
    assert all(0 < r["registers"] <= 255 for r in rows)


def test_no_kernel_spills(compile_report):
    proc, rows = compile_report
    spilling = [(r["module"], r["kernel"], r["cc"], r["spill_stores"], r["spill_loads"])
                for r in rows if r.get("spill_stores") or r.get("spill_loads")]
    assert not spilling, spilling
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_usage_parser_reads_spills():
    """The ptxas -v parser on a kernel made to spill, so that the no-spill test can fail."""
    from spotkern.triton import _compile

    usage = _compile.ptxas_usage(SPILLING_PTX, 80)  # ptxas needs no GPU: hand-written PTX
    assert usage["arch"] == "sm_80"
    assert usage["registers"] > 0
    assert usage["spill_stores"] > 0 and usage["spill_loads"] > 0


# A kernel limited to 16 registers (.maxnreg) that keeps 40 values alive: ptxas must spill.
SPILLING_PTX = "\n".join(
    [".version 7.0", ".target sm_80", ".address_size 64",
     ".visible .entry spill(.param .u64 p) .maxnreg 16 {",
     "  .reg .f32 %f<64>;", "  .reg .u64 %rd<4>;",
     "  ld.param.u64 %rd1, [p];", "  cvta.to.global.u64 %rd2, %rd1;"]
    + [f"  ld.global.volatile.f32 %f{i}, [%rd2+{4 * i}];" for i in range(40)]
    + [f"  add.f32 %f{i}, %f{i}, %f{(i + 1) % 40};" for i in range(40)]
    + [f"  st.global.volatile.f32 [%rd2+{4 * i}], %f{i};" for i in range(40)]
    + ["  ret;", "}", ""]
)
