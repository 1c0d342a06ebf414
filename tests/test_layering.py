"""The layering of DESIGN.md, read from the source: `ir` imports neither `codegen` nor the
user API, `codegen` never imports the user API, and the imports that run when a module is
loaded form no cycle inside any of the three packages (a rule module enters its rules
into a table that a lower module defines; the package imports the rule modules by name).

Every import statement counts for the layering, including those inside functions and
under `TYPE_CHECKING`; only module-level imports that execute at load time count for the
cycles (an import inside a function runs when it is called, after every module loaded).
"""
from __future__ import annotations

import ast
import os
from collections.abc import Iterator

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Package name -> source folder (pyproject.toml's package-dir).
PACKAGES = {"tracejit": "tracejit", "tracejit.ir": "ir", "tracejit.ir.prims": "ir/prims",
            "tracejit.ir.passes": "ir/passes", "tracejit.codegen": "codegen"}


def _modules() -> dict[str, tuple[str, bool]]:
    """Module name -> (file, is a package's __init__)."""
    mods = {}
    for pkg, folder in PACKAGES.items():
        for fn in sorted(os.listdir(os.path.join(ROOT, folder))):
            if fn.endswith(".py"):
                init = fn == "__init__.py"
                mods[pkg if init else f"{pkg}.{fn[:-3]}"] = (os.path.join(ROOT, folder, fn), init)
    return mods


MODULES = _modules()


def _layer(module: str) -> str:
    if module.startswith("tracejit.ir"):
        return "ir"
    if module.startswith("tracejit.codegen"):
        return "codegen"
    return "api"


def _imports(module: str, *, load_time: bool) -> Iterator[tuple[str, int]]:
    """(imported project module, line) for every import in `module`'s source."""
    path, init = MODULES[module]
    tree = ast.parse(open(path).read(), path)
    base = module.split(".") if init else module.split(".")[:-1]

    def visit(body: list[ast.stmt]) -> Iterator[ast.stmt]:
        for node in body:
            if load_time:
                if isinstance(node, ast.If):
                    if "TYPE_CHECKING" not in ast.dump(node.test):
                        yield from visit(node.body + node.orelse)
                elif isinstance(node, ast.Try):
                    yield from visit(node.body + node.orelse + node.finalbody)
                else:
                    yield node
            else:
                yield from ast.walk(node)

    for node in visit(tree.body):
        if isinstance(node, ast.ImportFrom):
            target = (".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module
                                                                    else []))
                      if node.level else node.module or "")
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    yield sub, node.lineno
                elif target in MODULES:
                    yield target, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name, node.lineno


# What each layer may import (the user API: everything).
ALLOWED = {"ir": {"ir"}, "codegen": {"ir", "codegen"}}


@pytest.mark.parametrize("module", [m for m in MODULES if _layer(m) in ALLOWED])
def test_lower_layers_never_import_higher_ones(module: str) -> None:
    layer = _layer(module)
    bad = [f"{MODULES[module][0]}:{line} imports {target}"
           for target, line in _imports(module, load_time=False)
           if _layer(target) not in ALLOWED[layer]]
    assert not bad, f"{layer} must not import the layers above it: {bad}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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


def test_modules_import_each_other_in_no_cycle_at_load_time() -> None:
    graph = {m: {t for t, _ in _imports(m, load_time=True) if t != m} for m in MODULES}
    # A package's __init__ importing its own submodules is how a package is assembled,
    # and a submodule reaching its package's __init__ through `from . import x` is
    # resolved to x above; what remains are real cycles.
    assert _cycles(graph) == []


def test_the_checker_sees_a_cycle_and_a_layering_breach() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    imported = {t for t, _ in _imports("tracejit.codegen.lower", load_time=True)}
    assert "tracejit.codegen.rules" in imported and "tracejit.ir" in imported
