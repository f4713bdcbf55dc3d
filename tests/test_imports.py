"""The package's imports run one way (issues 14, 22).

* No cycle: every ``import``/``from ... import`` of a ``spotkern`` module, at module level, inside a
  function or under ``if TYPE_CHECKING``, is an edge; a module's own parent packages (which Python imports
  first anyway) are not.
* No upward import: every module sits on a floor of ``FLOORS`` (lowest first) and imports only from its
  own floor or lower. A module that no row of the table places fails the test, so a new package is
  placed on purpose. The floors, and where they depart from the first plan of issue 22:

  0. the private base modules ``spotkern._*`` (validation, typing aliases, the extension, files,
     argument parsing, the SoccerNet tables, CALF's zone maths) and ``spotkern.reference`` (plain numpy
     oracles);
  1. ``spotkern.triton``: the CUDA kernels, which register themselves on the ops' custom-op names and
     import nothing of ``ops`` (the zone maths they share with the op live on floor 0);
  2. ``spotkern.ops``: the public ops;
  3. what builds on the ops and on nothing else of the package's upper floors: ``losses``, ``models``,
     ``data`` and ``metrics`` (the generic-dataset evaluator reads ``data.dataset``, a sibling);
  4. ``postprocess``, ``inference`` (chunking, stitching, saved scores: it applies the post-processing,
     so the two share a floor), ``video``, and ``compat`` (the peer-project adapters: they reuse
     ``inference``'s CALF stitching, so they sit on its floor, not on floor 3);
  5. ``spotkern.methods``: the training methods;
  6. ``train``, ``runs`` (using a trained run), ``export``, ``tune``;
  7. ``report``;
  8. ``cli``, ``__main__`` and the package itself (``spotkern/__init__.py`` re-exports the ops).
* Imports sit at the top of the module. A function-level import is allowed only for an optional
  dependency (``OPTIONAL``), marked on its line with ``# optional dependency: <extra>``; ``EXEMPT``
  lists modules excused from that rule (none).
"""
import ast
import fnmatch
import os
import re

import spotkern

ROOT = os.path.dirname(os.path.abspath(spotkern.__file__))


def _modules():
    mods = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                name = "spotkern." + os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                mods[name.removesuffix(".__init__")] = path
    return mods


def import_graph():
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
                for a in node.names:
                    full = f"{base}.{a.name}"
                    deps.add(full if full in mods else base if base in mods else None)
        graph[name] = {d for d in deps if d and d != name and not name.startswith(d + ".")}
    return graph


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


#: (floor, module patterns), lowest first; a pattern matches the module and its submodules
FLOORS = [
    (0, ["spotkern._*", "spotkern.reference"]),
    (1, ["spotkern.triton"]),
    (2, ["spotkern.ops"]),
    (3, ["spotkern.losses", "spotkern.models", "spotkern.data", "spotkern.metrics"]),
    (4, ["spotkern.postprocess", "spotkern.inference", "spotkern.video", "spotkern.compat"]),
    (5, ["spotkern.methods"]),
    (6, ["spotkern.train", "spotkern.runs", "spotkern.export", "spotkern.tune"]),
    (7, ["spotkern.report"]),
    (8, ["spotkern.cli", "spotkern.__main__", "spotkern"]),
]

#: top-level names a function may import (optional dependencies), and the spotkern modules that exist to
#: wrap one (imported on use so that an install without it still imports the package)
OPTIONAL = {"matplotlib", "av", "h5py", "keras", "onnx", "onnxruntime", "onnxscript", "safetensors", "triton",
            "SoccerNet", "sklearn", "cv2", "spotkern.triton", "torch.utils.tensorboard", "torch._inductor",
            "resource"}
#: modules whose function-level imports are allowed (none: every module imports at its top)
EXEMPT: tuple[str, ...] = ()
MARKER = re.compile(r"#\s*optional dependency: \S+")


def floor_of(module, floors=FLOORS):
    """The floor of ``module``: the row of its longest matching pattern; None when no row places it."""
    best = None
    for floor, patterns in floors:
        for pattern in patterns:
            head = module.split(".")[:pattern.count(".") + 1]
            if fnmatch.fnmatchcase(".".join(head), pattern) and (best is None or pattern.count(".") >= best[0]):
                if pattern == "spotkern" and module != "spotkern":
                    continue
                best = (pattern.count("."), floor)
    return None if best is None else best[1]


def upward_imports(graph, floors=FLOORS):
    """(module, its floor, imported module, that floor) for every import from a higher floor."""
    return sorted((m, floor_of(m, floors), d, floor_of(d, floors)) for m, deps in graph.items() for d in deps
                  if floor_of(m, floors) is not None and floor_of(d, floors) is not None
                  and floor_of(d, floors) > floor_of(m, floors))


def function_level_imports(source, module, exempt=None):
    """(module, line, imported name) of every import inside a function (or lambda) of ``source`` that is
    neither an optional dependency marked ``# optional dependency: <extra>`` nor in an exempt module."""
    if any(module == e or module.startswith(e + ".") for e in (EXEMPT if exempt is None else exempt)):
        return []
    lines = source.splitlines()
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                if isinstance(child, ast.ImportFrom):
                    names = [child.module or "." * child.level]
                else:
                    names = [a.name for a in child.names]
                for name in names:
                    optional = name in OPTIONAL or name.split(".")[0] in OPTIONAL or any(
                        name == o or name.startswith(o + ".") for o in OPTIONAL)
                    marked = any(MARKER.search(lines[i - 1]) for i in range(child.lineno, child.end_lineno + 1))
                    if not (optional and marked):
                        found.append((module, child.lineno, name))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(source), False)
    return found


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_checker_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_graph()
    assert "spotkern.metrics.soccernet" in graph["spotkern.train.trainer"]  # function-level imports are edges too


def test_every_module_sits_on_a_floor():
    assert [m for m in _modules() if floor_of(m) is None] == []


def test_no_module_imports_from_a_higher_floor():
    assert upward_imports(import_graph()) == []


def test_the_floor_checker_sees_an_upward_import_and_an_unplaced_module():
    assert floor_of("spotkern._validation") == 0
    assert floor_of("spotkern.ops.nms") == 2
    assert floor_of("spotkern") == 8
    assert floor_of("spotkern.newpackage.x") is None
    graph = {"spotkern.ops.nms": {"spotkern.data.dataset", "spotkern._ext"}, "spotkern.data.dataset": {"spotkern.ops"}}
    assert upward_imports(graph) == [("spotkern.ops.nms", 2, "spotkern.data.dataset", 3)]


def test_imports_sit_at_the_top_of_the_module_except_marked_optional_dependencies():
    found = []
    for name, path in _modules().items():
        found += function_level_imports(open(path, encoding="utf-8").read(), name)
    assert found == []


def test_the_top_of_module_checker_sees_function_level_imports():
    source = """import numpy
def f():
    import numpy as np
    from spotkern.ops import nms
    import matplotlib  # optional dependency: report
    import SoccerNet.utils
    import json  # optional dependency: none (not an optional package)
    return lambda: __import__("os")
"""
    assert function_level_imports(source, "spotkern.x") == [
        ("spotkern.x", 3, "numpy"), ("spotkern.x", 4, "spotkern.ops"), ("spotkern.x", 6, "SoccerNet.utils"),
        ("spotkern.x", 7, "json")]
    exempt = ("spotkern.x",)
    assert function_level_imports(source, "spotkern.x", exempt=exempt) == []
