"""Every spec test vector is defined once in tests/ (tests/spec_vectors.py for those several modules use):
no vector id (``CALF_T11``, ``DA_T7``, ...) is assigned in two test files, and no number sequence of
spec_vectors.py (five numbers or more) is written out again as a literal in another test file."""
import ast
import os
import re
from collections import defaultdict

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
VECTOR_ID = re.compile(r"(?:^|_)((?:CALF|DA)_T\d+)(?=_|$)")
MIN_NUMBERS = 5


def _number(node):
    """The value of a numeric literal (``-1`` included), else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _number(node.operand)
        return None if value is None else (-value if isinstance(node.op, ast.USub) else value)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    return None


def assigned_ids(source):
    """Spec vector ids of the names ``source`` assigns (``CALF_T5``, ``CALF_T4_RUNS`` -> CALF_T4, ...)."""
    ids = set()
    for node in ast.walk(ast.parse(source)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) else []
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    ids.update(VECTOR_ID.findall(name.id))
    return ids


def _numbers(node):
    """The numbers of a (nested) list or tuple literal of numbers, flattened; None if anything else is in it."""
    if isinstance(node, (ast.List, ast.Tuple)):
        values = [_numbers(e) for e in node.elts]
        return None if None in values else [v for vs in values for v in vs]
    value = _number(node)
    return None if value is None else [value]


def number_sequences(source):
    """Every (nested) list or tuple literal of at least MIN_NUMBERS numbers in ``source``, flattened to a
    tuple of floats (so that CALF-T9's cases or CALF-T5's (frame, class) pairs count too)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.List, ast.Tuple)):
            values = _numbers(node)
            if values is not None and len(values) >= MIN_NUMBERS:
                found.add(tuple(values))
    return found


def _test_sources():
    for name in sorted(os.listdir(TESTS)):
        if name.endswith(".py"):
            with open(os.path.join(TESTS, name), encoding="utf-8") as f:
                yield name, f.read()


def test_the_checks_find_what_they_look_for():
    source = ("DA_T7 = [0.1, 0.5, 0.9, 0.6, 0.2]\nCALF_T4_RUNS, x = [[0, 7]], 1\nT5 = 1\n"
              "y = f([-1, 0.3, -1, 0.5, 0.9])\nz = (1, 2, 3, 4)\nOLD_DA_T3 = 2\nMY_DATA_T2 = 3\n"
              "pairs = [(50, 0), (60, 2), 'x']\ncase = ([0.5, 0.1], [1, 1], [2])\n")
    assert assigned_ids(source) == {"DA_T7", "CALF_T4", "DA_T3"}
    assert number_sequences(source) == {(0.1, 0.5, 0.9, 0.6, 0.2), (-1.0, 0.3, -1.0, 0.5, 0.9),
                                        (0.5, 0.1, 1.0, 1.0, 2.0)}


def test_no_vector_id_is_assigned_in_two_test_files():
    files = defaultdict(set)
    for name, source in _test_sources():
        for vector in assigned_ids(source):
            files[vector].add(name)
    twice = {v: sorted(f) for v, f in files.items() if len(f) > 1}
    assert not twice, f"spec vectors assigned in several test files (keep one, in spec_vectors.py): {twice}"


def test_no_spec_vector_is_written_out_again():
    sources = dict(_test_sources())
    if "spec_vectors.py" not in sources:
        pytest.fail("tests/spec_vectors.py is missing")
    vectors = number_sequences(sources.pop("spec_vectors.py"))
    assert len(vectors) >= 15  # the scan reads the vectors (DA-T7's scores, CALF-T11's column, ...)
    copies = {name: sorted(vectors & number_sequences(source)) for name, source in sources.items()}
    copies = {name: seqs for name, seqs in copies.items() if seqs}
    assert not copies, f"spec vectors written out again (import them from spec_vectors.py): {copies}"
