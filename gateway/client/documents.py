"""The GraphQL documents flowgate's own clients send, kept as `.graphql` files beside this module
(documents/): one file per operation, shared fragments in fragments.graphql. A test validates
every one against schema.graphql."""

from __future__ import annotations

from functools import cache
from importlib import resources

from graphql import DocumentNode, FragmentDefinitionNode, FragmentSpreadNode, Visitor, parse, print_ast, visit

FRAGMENTS = "fragments"


def _text(name: str) -> str:
    return resources.files(__package__).joinpath("documents", f"{name}.graphql").read_text()


def names() -> list[str]:
    """Every operation document's name (the file name, which is also the operation's)."""
    folder = resources.files(__package__).joinpath("documents")
    return sorted(
        p.name.removesuffix(".graphql")
        for p in folder.iterdir()
        if p.name.endswith(".graphql") and p.name != f"{FRAGMENTS}.graphql"
    )


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.names.add(node.name.value)


def _spreads(node: object) -> set[str]:
    visitor = _Spreads()
    visit(node, visitor)  # type: ignore[arg-type]
    return visitor.names


@cache
def document(name: str) -> str:
    """The operation `name` with exactly the fragments it uses (GraphQL refuses unused ones)."""
    operation = parse(_text(name))
    fragments = {d.name.value: d for d in parse(_text(FRAGMENTS)).definitions if isinstance(d, FragmentDefinitionNode)}
    needed: list[str] = []
    pending = sorted(_spreads(operation))
    while pending:
        fragment = pending.pop()
        if fragment in needed:
            continue
        needed.append(fragment)
        pending += sorted(_spreads(fragments[fragment]))
    full = DocumentNode(definitions=(*operation.definitions, *(fragments[f] for f in sorted(needed))))
    return print_ast(full)
