"""A Function's equality is structural and its hash agrees; nothing outside `ir` can hang
attributes on a Function."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

import tracejit as tj
from tracejit.ir import Builder, Function, TensorType, bind, interpreting
from tracejit.ir.parser import parse


def _square(name: str = "f") -> Function:
    b = Builder(name)
    x = b.param(TensorType((3,), np.float32))
    with interpreting(b):
        y = bind("mul", x, x)
    return b.build([y])


def test_equal_functions_hash_alike_and_share_dict_entries() -> None:
    f, g = _square(), parse(str(_square()))
    assert f is not g and f == g and hash(f) == hash(g)
    assert {f: 1}[g] == 1
    assert _square("h") != f                        # the name is part of the structure
    b = Builder("f")
    x = b.param(TensorType((3,), np.float32))
    with interpreting(b):
        y = bind("add", x, x)
    assert b.build([y]) != f


def test_function_docstring_example_runs() -> None:
    finder = doctest.DocTestFinder(recurse=False)
    (test,) = finder.find(Function, "Function", module=False,
                          globs={"Builder": Builder, "TensorType": TensorType, "np": np,
                                   "interpreting": interpreting, "bind": bind})
    assert doctest.DocTestRunner().run(test).failed == 0


def test_no_attribute_can_be_set_on_a_function() -> None:
    f = _square()
    with pytest.raises(AttributeError):
        f._native = object()  # type: ignore[attr-defined]


def test_compiled_call_under_a_tape_leaves_functions_untouched() -> None:
    # The eager `call` path looks up executables in compile's own maps.
    f = tj.function(lambda x: tj.reduce_sum(tj.exp(x) * x))
    x = tj.Variable([0.5, 1.5])
    with tj.GradientTape() as tape:
        y = f(x)
    g = tape.gradient(y, x).numpy()
    want = np.exp([0.5, 1.5]) * (1 + np.array([0.5, 1.5]))
    np.testing.assert_allclose(g, want, rtol=1e-6)
    tj.clear_caches()
    with tj.GradientTape() as tape:
        y = f(x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), want, rtol=1e-6)
