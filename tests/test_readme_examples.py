"""Every ```python block of README.md runs, from a clean folder, in README order and in one namespace (later
blocks use the names of earlier ones, as a reader pasting them would).

Data: the first ``spotkern synth ...`` command of a ```bash block is run first in that folder, so the
examples read a small synthetic SoccerNet-layout dataset. A block preceded by a ``<!-- no-test -->`` line is
skipped: keep that for code that needs real external data (SoccerNet features or labels).
"""
import contextlib
import io
import os
import re
import shlex

import pytest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
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
