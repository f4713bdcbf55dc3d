"""Every section the code and the README cite ("calf.md 10.4", "dense_anchors.md §7.2", "soccernet_metric.md
section 3") exists in docs/: the rules a user needs ship with the repository, under the numbers the code uses."""
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ("calf", "dense_anchors", "soccernet_metric")
CITATION = re.compile(r"\b(calf|dense_anchors|soccernet_metric)\.md,? (?:sections? |§)?(\d+(?:\.\d+)?)")
HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", re.M)
SCANNED = ("spotkern", "csrc", "python", "tests", "bench", "README.md", "DEVELOPERS.md")


def _sections(doc):
    with open(os.path.join(ROOT, "docs", f"{doc}.md"), encoding="utf-8") as f:
        return set(HEADING.findall(f.read()))


def _files():
    for entry in SCANNED:
        path = os.path.join(ROOT, entry)
        if os.path.isfile(path):
            yield path
        for root, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            yield from (os.path.join(root, n) for n in names if n.endswith((".py", ".cpp", ".h", ".md")))


def test_citation_pattern():
    found = CITATION.findall("see calf.md 10.4, dense_anchors.md §7.2 and soccernet_metric.md section 3; calf.md D1")
    assert found == [("calf", "10.4"), ("dense_anchors", "7.2"), ("soccernet_metric", "3")]


def test_every_cited_section_is_in_docs():
    if not os.path.isdir(os.path.join(ROOT, "docs")):
        pytest.skip("docs/ is not present (not a source checkout)")
    sections = {doc: _sections(doc) for doc in DOCS}
    missing = set()
    for path in _files():
        with open(path, encoding="utf-8", errors="replace") as f:
            for doc, section in CITATION.findall(f.read()):
                if section not in sections[doc]:
                    missing.add(f"{os.path.relpath(path, ROOT)}: {doc}.md {section}")
    assert not missing, "cited sections missing from docs/: " + "; ".join(sorted(missing))
