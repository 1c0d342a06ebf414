"""docs/api.md is generated from the docstrings and current; every public function and
class has a docstring with an example, and every example runs as written."""
from __future__ import annotations

import doctest
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tracejit import apidoc, errors, nn

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_is_current() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    assert text == apidoc.render(), ("docs/api.md is stale: run "
                                     "`python -m tracejit.apidoc --write` and commit it")


def test_api_reference_names_every_public_name_once() -> None:
    text = apidoc.render()
    for n in tj.__all__:
        if isinstance(getattr(tj, n), np.dtype) or getattr(tj, n) is None:
            assert f"`tj.{n}`" in text
        elif n in ("errors", "nn", "math", "linalg", "numpy", "experimental", "autodiff",
                   "random", "debugging", "nest"):
            assert f"`tj.{n}" in text
            if n == "nest":
                assert "## `tj.nest`" in text and "### `tj.nest.map_structure(" in text
            if n == "random":
                assert "## `tj.random`" in text and "### `tj.random.shuffle(" in text
            if n == "debugging":
                assert "## `tj.debugging`" in text and \
                    "### `tj.debugging.assert_shapes(" in text
        else:
            heads = [line for line in text.splitlines()
                     if line.startswith((f"### `tj.{n}(", f"### `tj.{n}`"))]
            heads += [line for line in text.splitlines()
                      if line.startswith(f"### `tj.errors.{n}`")]
            assert len(heads) == 1, (n, heads)


def _public() -> list[tuple[str, Any]]:
    """Every public function, class and object of `tj` and `tj.nn`, and every function public
    only in `tj.numpy`, `tj.math`, `tj.linalg`, `tj.random` or `tj.debugging`, by qualified
    name."""
    out = [(f"tj.{n}", getattr(tj, n)) for n in tj.__all__
           if not isinstance(getattr(tj, n), (np.dtype, type(tj.math), type(tj), type(None)))]
    out += [(f"tj.nn.{n}", getattr(nn, n)) for n in nn.__all__]
    seen = {id(o) for _, o in out}
    for space in ("numpy", "math", "linalg", "random", "debugging"):
        ns = getattr(tj, space)
        for n in ns.__all__:
            f = getattr(ns, n)
            if id(f) not in seen:
                seen.add(id(f))
                out.append((f"tj.{space}.{n}", f))
    # tj.errors' exception classes (its helper functions are for tracejit's own modules).
    out += [(f"tj.errors.{n}", getattr(errors, n)) for n in errors.__all__
            if inspect.isclass(getattr(errors, n))]
    return out


def _methods(obj: Any) -> list[tuple[str, Any]]:
    cls = obj if inspect.isclass(obj) else type(obj)
    if issubclass(cls, BaseException):
        return []
    members = apidoc._members(cls)
    return [(n, m.fget if isinstance(m, property) else m) for n, m in members]


@pytest.mark.parametrize("qual,obj", _public(), ids=[q for q, _ in _public()])
def test_public_api_has_docstrings_with_examples(qual: str, obj: Any) -> None:
    doc = inspect.getdoc(obj if callable(obj) else type(obj)) or ""
    assert doc.strip(), f"{qual} has no docstring"
    is_error = inspect.isclass(obj) and issubclass(obj, BaseException)
    if not is_error:
        assert ">>>" in doc or "Example" in doc, f"{qual}: the docstring has no example"
    for name, m in _methods(obj):
        assert (inspect.getdoc(m) or "").strip(), f"{qual}.{name} has no docstring"


@pytest.mark.parametrize("qual,obj", _public(), ids=[q for q, _ in _public()])
def test_docstring_examples_run(qual: str, obj: Any) -> None:
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    targets = [(qual, obj if callable(obj) else type(obj))] + \
        [(f"{qual}.{n}", m) for n, m in _methods(obj)]
    ran = 0
    for name, target in targets:
        for test in finder.find(target, name, module=False, globs={"tj": tj, "np": np}):
            out: list[str] = []
            result = runner.run(test, out=out.append)
            assert result.failed == 0, f"{name}: an example fails:\n{''.join(out)}"
            ran += result.attempted
    if ">>>" in (inspect.getdoc(obj if callable(obj) else type(obj)) or ""):
        assert ran > 0
