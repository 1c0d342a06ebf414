"""`Executable.fast_caller`: the per-signature call path codegen builds for a caller with
its own array type (the user API's Tensor): arguments picked by position and unboxed,
one native call, the result boxed without a constructor, anything unusual handed to the
caller's fallback with the arguments untouched."""
from __future__ import annotations

import ast
import pathlib

import numpy as np
import pytest
from tracejit.codegen import Boxing, compile_function
from tracejit.ir import bind

from tests.codegen.helpers import fn_of


class Box:
    __slots__ = ("array", "tag", "note")

    def __init__(self, array: object) -> None:  # never run by the fast caller
        raise AssertionError("the fast caller must not run a constructor")


def box(array: np.ndarray) -> Box:
    b = object.__new__(Box)
    b.array, b.tag, b.note = array, "in", None
    return b


BOXING = Boxing(Box, "array", (("tag", "out"), ("note", 7)))


@pytest.fixture(scope="module")
def sub():
    fn = fn_of([((3,), np.float32), ((3,), np.float32)], lambda x, y: bind("sub", x, y))
    return compile_function(fn)


def test_picks_arguments_by_position_unboxes_and_boxes_the_result(sub):
    calls = []
    fast = sub.fast_caller([2, 0], BOXING, lambda args: calls.append(args) or "fallback")
    x, y = np.arange(3, dtype=np.float32), np.full(3, 10, np.float32)
    for a, b in [(box(y), x), (y, box(x)), (box(y), box(x)), (y, x)]:
        r = fast((b, "static", a))
        assert type(r) is Box and (r.tag, r.note) == ("out", 7)
        np.testing.assert_array_equal(r.array, y - x)
        assert not r.array.flags.writeable
        assert r.array.base is None or r.array.base is not x
    assert calls == []


@pytest.mark.parametrize("bad", ["dtype", "shape", "strided", "list", "none"])
def test_anything_unusual_goes_to_the_fallback_with_the_arguments(sub, bad):
    calls = []
    fast = sub.fast_caller([0, 1], BOXING, lambda args: calls.append(args) or "fallback")
    x = np.ones(3, np.float32)
    odd = {"dtype": np.ones(3, np.float64), "shape": np.ones(4, np.float32),
           "strided": np.ones(6, np.float32)[::2], "list": [1.0, 2.0, 3.0],
           "none": box(None)}[bad]
    args = (box(x), odd)
    assert fast(args) == "fallback"
    assert calls == [args]


def test_refuses_what_it_cannot_build(sub):
    with pytest.raises(ValueError, match="takes 2 argument"):
        sub.fast_caller([0], BOXING, lambda args: None)
    with pytest.raises(ValueError, match="not an attribute name"):
        Boxing(Box, "array; import os")
    with pytest.raises(ValueError, match="not an attribute name"):
        Boxing(Box, "array", (("class", 1),))
    two = compile_function(fn_of([((2,), np.float32)], lambda x: (bind("neg", x), x)))
    with pytest.raises(ValueError, match="2 results"):
        two.fast_caller([0], BOXING, lambda args: None)


def test_no_python_source_is_generated_outside_codegen():
    """The user API and the IR call what codegen builds: no `exec`/`eval`/`compile` of
    text outside codegen."""
    root = pathlib.Path(__file__).parents[2]
    found = []
    for path in sorted([*(root / "tracejit").rglob("*.py"), *(root / "ir").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("exec", "eval"):
                found.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("exec", "eval", "compile") \
                    and isinstance(node.func.value, ast.Name) \
                    and node.func.value.id == "builtins":
                found.append(f"{path.name}:{node.lineno}")
    assert not found, f"Python source generated outside codegen: {found}"
