"""The house rules of docs/architecture.md, read from the source: no import circle between modules
(counting imports inside functions), and the low rooms import nothing above them."""

from __future__ import annotations

import ast
from pathlib import Path

import mechunlearn

ROOT = Path(mechunlearn.__file__).parent


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of the package -> the package's modules it imports, anywhere in its source (inside
    functions too), leaving out imports for type annotations only."""
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # imports under `if TYPE_CHECKING:` only name types for annotations; they never run
        typing_only = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for stmt in block.body
            for n in ast.walk(stmt)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            # `from pkg import mod` names a module; `from mod import obj` names the module itself
            found = next((t for t in targets if t in modules), None)
            if found and found != name:
                deps.add(found)
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
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


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_circle_between_modules():
    assert _cycles(import_graph()) == []


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    # bundled.train imports the epoch trainer only inside train_from_scratch
    assert "mechunlearn.training.epochs" in graph["mechunlearn.bundled.train"]


def test_low_rooms_import_nothing_above_them():
    allowed = {
        "core": {"core"},
        "models": {"core", "models"},
        "concepts": {"core", "concepts", "models"},
        "activations": {"core", "models", "concepts", "activations"},
    }
    bad = [
        f"{m} imports {d}"
        for m, deps in import_graph().items()
        if _room(m) in allowed
        for d in deps
        if _room(d) not in allowed[_room(m)] and _room(d) != ""
    ]
    assert bad == []


def test_nothing_below_the_commands_imports_them():
    bad = [
        f"{m} imports {d}"
        for m, deps in import_graph().items()
        if _room(m) not in ("pipeline", "cli", "", "__main__")
        for d in deps
        if _room(d) in ("pipeline", "cli")
    ]
    assert bad == []
