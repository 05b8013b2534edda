"""The package's layering, checked from its source: no import cycles between gateway's
subpackages (resolvers, schema, server, service, …), and a domain core that imports nothing of
GraphQL, HTTP, Kubernetes clients, the CLI or the UI."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "gateway"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    """gateway.service.hub -> gateway.service; top-level modules (gateway.retry) stand alone."""
    parts = module.split(".")
    if len(parts) > 2 or (PACKAGE / parts[1]).is_dir() if len(parts) > 1 else False:
        return ".".join(parts[:2])
    return module


def module_imports() -> dict[str, set[str]]:
    """Imports each module makes when it is loaded (top level; lazy imports inside functions are
    deliberate and left out)."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        name = _module(path)
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                found[name] |= {a.name for a in node.names if a.name.startswith("gateway")}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gateway"):
                found[name].add(node.module)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_no_import_cycles_between_subpackages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, imported in module_imports().items():
        for target in imported:
            if _unit(module) != _unit(target) and _unit(target) != "gateway":
                graph[_unit(module)].add(_unit(target))
    assert cycles(graph) == []


def test_no_import_cycles_between_modules() -> None:
    assert cycles(module_imports()) == []


def test_the_domain_core_imports_no_edge() -> None:
    forbidden = ("strawberry", "graphql", "starlette", "uvicorn", "aiohttp", "kubernetes_asyncio", "gql", "gateway.")
    for path in (PACKAGE / "domain").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(forbidden) or name.startswith("gateway.domain"), f"{path.name}: {name}"
