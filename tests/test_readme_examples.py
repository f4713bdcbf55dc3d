"""Every ```python block of README.md runs, from a clean folder, in README order and in one namespace (later
blocks use the names of earlier ones, as a reader pasting them would). The README stays a front door (at most
200 lines), and the demo figures it states per vector unit are the ones ``bench/demo_figures.py --record``
measured (``bench/demo_figures.json``), within the tolerances the README states.

Data: the first ``spotkern synth ...`` command of a ```bash block is run first in that folder, so the
examples read a small synthetic SoccerNet-layout dataset. A block preceded by a ``<!-- no-test -->`` line is
skipped: keep that for code that needs real external data (SoccerNet features or labels).
"""
import contextlib
import io
import json
import os
import re
import shlex

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
DEMO_RECORD = os.path.join(ROOT, "bench", "demo_figures.json")
MAX_LINES = 200
# "| `AVX2 on AMD EPYC` | 75.67 % | 65.47 % | ..." rows of the README's demo table: the first cell is the key of
# the run in bench/demo_figures.json (the LABEL of `bench/demo_figures.py --record LABEL`)
DEMO_ROW = re.compile(r"^\| `([^`]+)` \| (\d+\.\d\d) % \| (\d+\.\d\d) % \|", re.M)
ACROSS_CPUS = re.compile(r"on other CPUs expect them within (\d+(?:\.\d+)?) points?")
PRINTED = 0.005  # the demo prints percentages with two decimals
NO_TEST = "<!-- no-test -->"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)


def readme_blocks(text):
    """[(language, code, first code line number, opted out)] of the fenced blocks of a Markdown text."""
    blocks = []
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip().splitlines()
        opted_out = bool(before) and before[-1].strip() == NO_TEST
        line = text.count("\n", 0, m.start(2)) + 1
        blocks.append((m.group(1), m.group(2), line, opted_out))
    return blocks


def synth_command(blocks):
    """Arguments of the first ``spotkern synth`` command in a bash block, or None."""
    for lang, code, _, _ in blocks:
        if lang in ("bash", "sh", "shell", "console"):
            for line in code.splitlines():
                words = shlex.split(line.strip().lstrip("$ "), comments=True)
                if words[:2] == ["spotkern", "synth"]:
                    return words[1:]
    return None


def test_parser_finds_blocks_and_the_opt_out():
    text = ("a\n```python\nx = 1\n```\n<!-- no-test -->\n```python\nraise SystemExit\n```\n"
            "```bash\nspotkern synth d --test 1\n```\n")
    blocks = readme_blocks(text)
    assert [(b[0], b[3]) for b in blocks] == [("python", False), ("python", True), ("bash", False)]
    assert blocks[0][1] == "x = 1\n" and blocks[0][2] == 3
    assert synth_command(blocks) == ["synth", "d", "--test", "1"]


def test_readme_python_examples_run(tmp_path, monkeypatch):
    with open(README, encoding="utf-8") as f:
        blocks = readme_blocks(f.read())
    runnable = [b for b in blocks if b[0] == "python" and not b[3]]
    if not runnable:
        pytest.skip("README.md has no python example to run")
    monkeypatch.chdir(tmp_path)
    synth = synth_command(blocks)
    if synth is not None:
        from spotkern.cli import main

        assert main(["-q", *synth, "--no-progress"]) == 0
    namespace = {"__name__": "__readme__"}
    for _, code, line, _ in runnable:
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"README.md (python block at line {line})", "exec"), namespace)
        except Exception as e:  # name the block: the traceback's file name is the README line
            raise AssertionError(f"the README python block at line {line} failed: {type(e).__name__}: {e}\n"
                                 f"its output:\n{out.getvalue()}") from e


def readme_demo_figures(text):
    """{record key: (loose %, tight %)} of the README's demo table, and the stated spread across CPUs."""
    figures = {key: (float(lo), float(ti)) for key, lo, ti in DEMO_ROW.findall(text)}
    across = ACROSS_CPUS.search(text)
    return figures, float(across.group(1)) if across else None


def test_demo_figure_parser_reads_the_table_and_the_tolerance():
    text = ("| `AVX2 on X` | 75.67 % | 65.47 % | a machine |\n| `AVX-512 on Y (Z=1)` | 75.85 % | 65.73 % |\n"
            "| AVX9 | 1.00 % | 2.00 % | no key: ignored |\n... on other CPUs expect them within 0.5 points.")
    assert readme_demo_figures(text) == ({"AVX2 on X": (75.67, 65.47), "AVX-512 on Y (Z=1)": (75.85, 65.73)}, 0.5)
    assert readme_demo_figures("| `AVX2 on X` | 75.7 % | 65.5 % |") == ({}, None)  # two decimals, as printed


def test_readme_is_at_most_200_lines():
    with open(README, encoding="utf-8") as f:
        n = len(f.read().splitlines())
    assert n <= MAX_LINES, f"README.md has {n} lines; move details to docs/ (at most {MAX_LINES})"


def test_readme_demo_figures_are_the_recorded_ones_within_the_stated_tolerance():
    if not os.path.isfile(DEMO_RECORD):
        pytest.skip("bench/demo_figures.json is not present (not a source checkout)")
    with open(README, encoding="utf-8") as f:
        stated, across = readme_demo_figures(f.read())
    with open(DEMO_RECORD, encoding="utf-8") as f:
        recorded = json.load(f)
    units = {k.split(" ", 1)[0] for k in stated}
    assert units >= {"AVX2", "AVX-512"}, f"the README's demo table states no AVX2 and AVX-512 figures: {stated}"
    assert across is not None, "the README states no tolerance across CPUs for the demo figures"
    for key, (loose, tight) in stated.items():
        assert key in recorded, f"the README's demo row {key!r} has no entry in bench/demo_figures.json"
        rec = recorded[key]
        for name, value, fraction in (("loose", loose, rec["loose"]), ("tight", tight, rec["tight"])):
            assert abs(100 * fraction - value) <= PRINTED + 1e-9, (
                f"README states {name} {value} % for {key}; bench/demo_figures.json has {100 * fraction:.4f} %")
    for metric in (0, 1):
        values = [v[metric] for v in stated.values()]
        assert max(values) - min(values) <= across, f"the demo figures differ by more than {across} points"
