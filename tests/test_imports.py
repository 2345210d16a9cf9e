"""The import graph of the project (tests excluded), read from the source
with ``ast`` (function-local imports included): no circle, and no import
from a lower layer (``utils/``, ``models/``, ``data/``) up to a higher one
(``experiments/``, ``main``)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("data", "experiments", "models", "utils")
LOWER, UPPER = ("data", "models", "utils"), ("experiments", "main")


def _modules() -> dict[str, Path]:
    found = {"main": ROOT / "main.py"}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (``from pkg import name``
    counts as ``pkg.name`` when that is a module, else ``pkg``)."""
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    edges.add(t)
        graph[name] = edges
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    top = lambda m: m.split(".")[0]  # noqa: E731
    return sorted((a, b) for a, bs in graph.items() for b in bs
                  if top(a) in LOWER and top(b) in UPPER)


def test_the_graph_sees_the_imports_it_checks():
    graph = import_graph()
    assert "data.images" in graph["experiments.exp_b_spectrum_evolution"]
    assert "utils.executor" in graph["main"]  # a function-local import
    toy = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(toy) == [["a", "b", "c"]]
    assert upward({"utils.x": {"experiments.y"}, "experiments.y": {"utils.x"}}) == [
        ("utils.x", "experiments.y")]


def test_no_import_circle():
    assert circles(import_graph()) == []


def test_no_import_runs_back_up():
    assert upward(import_graph()) == []


if __name__ == "__main__":
    g = import_graph()
    print("circles:", circles(g))
    print("upward:", upward(g))
