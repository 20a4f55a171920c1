"""The tree shows the architecture: imports go one way, never round, and modules stay small.

The layers and what each may import are the table in docs/ARCHITECTURE.md
("Import directions"); :data:`ALLOWED` is that table. Every import counts, at
module level and inside functions (a lazy import is still a dependency), and so
does ``importlib.import_module("kmsi_lib...")`` with a literal name; only
imports under ``if TYPE_CHECKING:`` are exempt (annotations, never run).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "kmsi_lib"
MAX_LINES = 600

#: module (or package prefix) -> its layer; the longest matching prefix wins.
LAYER_OF: dict[str, str] = {
    "kmsi_lib": "base",  # the lazy re-exports of __init__ (importlib, no static import)
    "kmsi_lib.errors": "base",
    "kmsi_lib.durations": "base",
    "kmsi_lib.secret_shapes": "base",
    "kmsi_lib.jsontypes": "base",
    "kmsi_lib.runbooks.contract": "base",  # pure constants, shared by evidence and runbooks
    "kmsi_lib.okta": "okta",
    "kmsi_lib.engine": "engine",
    "kmsi_lib.evidence": "evidence",
    "kmsi_lib.procedures": "procedures",
    "kmsi_lib.runbooks": "runbooks",
    "kmsi_lib.cli": "cli",
    "kmsi_lib.sandbox": "sandbox",
    "kmsi_lib.training": "training",
    "kmsi_lib.bench": "bench",
}

_BELOW_ENGINE = {"base", "okta"}
#: layer -> the layers its modules may import (its own included where listed).
ALLOWED: dict[str, set[str]] = {
    "base": set(),  # imports nothing from kmsi_lib
    "okta": {"base", "okta"},
    "engine": _BELOW_ENGINE | {"engine"},
    "evidence": _BELOW_ENGINE | {"evidence"},  # engine and evidence do not know each other
    "procedures": _BELOW_ENGINE | {"engine", "evidence", "procedures"},
    "runbooks": _BELOW_ENGINE | {"engine", "evidence", "procedures", "runbooks", "sandbox"},
    # the training content: read and set up the sandbox through the library (only the
    # training notebooks import it; no layer lists "training"); its reset uses the
    # runbooks' workspace reset
    "training": _BELOW_ENGINE | {"engine", "procedures", "runbooks", "training"},
    # `kmsi bench` measures the library from outside: it may use what a runbook may (it
    # starts the sandbox and `kmsi run` as processes); nothing imports it but the cli
    "bench": _BELOW_ENGINE | {"engine", "evidence", "procedures", "runbooks", "sandbox", "bench"},
    "cli": set(),  # names its subcommands' owners as strings, imported on use
    "sandbox": {"sandbox"},  # rule zero: the witness imports nothing else of kmsi_lib
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {
    _module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py")) if "__pycache__" not in p.parts
}


def layer_of(module: str) -> str:
    best = max(
        (prefix for prefix in LAYER_OF if module == prefix or module.startswith(prefix + ".")),
        key=len,
    )
    return LAYER_OF[best]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk_run_time(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below ``node`` except the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from _walk_run_time(other)
            continue
        yield child
        yield from _walk_run_time(child)


def _resolve(target: str) -> str | None:
    """The kmsi_lib module that ``import target`` loads (None: not ours).

    A name that is no module of the tree is returned as it is, so that an import
    of a module that moved away fails (:func:`test_every_import_names_a_module`).
    """
    if target != "kmsi_lib" and not target.startswith("kmsi_lib."):
        return None
    return target


def imports_of(module: str) -> list[tuple[int, str]]:
    """(line, imported kmsi_lib module) for every run-time import in ``module``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in _walk_run_time(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from pkg import name`: the submodule pkg.name when there is one, else pkg
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                targets = [arg.value]
        for target in targets:
            resolved = _resolve(target)
            if resolved is not None and resolved != module:
                found.append((getattr(node, "lineno", 0), resolved))
    return found


def import_graph() -> dict[str, set[str]]:
    return {module: {target for _, target in imports_of(module)} for module in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    """A new top-level module or package is placed in the table before it is used."""
    assert len(MODULES) > 50
    unplaced = [
        m for m in MODULES if m != "kmsi_lib" and layer_of(m) == "base" and m not in LAYER_OF
    ]
    assert not unplaced, f"add these to LAYER_OF and docs/ARCHITECTURE.md: {unplaced}"


def test_every_import_names_a_module() -> None:
    """No import, lazy ones included, names a kmsi_lib module that does not exist (old paths)."""
    missing = [
        f"{module} line {line}: {target}"
        for module in MODULES
        for line, target in imports_of(module)
        if target not in MODULES
    ]
    assert not missing, missing


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_directions(module: str) -> None:
    """A module imports only from the layers its own layer may use (docs/ARCHITECTURE.md)."""
    layer = layer_of(module)
    wrong = [
        f"line {line}: {target} ({layer_of(target)})"
        for line, target in imports_of(module)
        if target in MODULES and layer_of(target) not in ALLOWED[layer]
    ]
    assert not wrong, f"{module} ({layer}) imports against the direction: {wrong}"


def test_the_table_in_the_architecture_doc_is_this_one() -> None:
    """docs/ARCHITECTURE.md's "may import" column says what :data:`ALLOWED` enforces."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("## Import directions", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in ALLOWED:
            may = re.sub(r"\(.*?\)", "", cells[2])  # parenthesised remarks are prose
            documented[cells[0]] = {w.strip() for w in may.split(",")} & set(ALLOWED)
    assert documented == ALLOWED


def test_no_import_cycle_between_modules() -> None:
    """The module graph, lazy imports included, has no cycle: each part can be read bottom-up."""
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    """The check above would see a cycle, a long one too, and not a diamond."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}) == []


def test_the_import_reader_sees_lazy_imports_and_skips_type_checking() -> None:
    """Function-level imports count; TYPE_CHECKING imports do not (checked on a real module)."""
    targets = {target for _, target in imports_of("kmsi_lib.runbooks.runbook")}
    assert "kmsi_lib.runbooks.forms" in targets  # imported inside a method
    assert "kmsi_lib.okta.client" in targets  # imported inside connect()
    errors_targets = {target for _, target in imports_of("kmsi_lib.errors")}
    assert errors_targets == set()  # its engine import is under TYPE_CHECKING


def test_no_module_outside_the_sandbox_is_over_600_lines() -> None:
    """One concept per module: a module that grows past 600 lines is split, not scrolled."""
    long = {
        module: n
        for module, path in MODULES.items()
        if layer_of(module) != "sandbox"
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines: {long}"
