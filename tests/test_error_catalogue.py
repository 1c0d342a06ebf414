"""The error catalogue: each mistake a user makes gets an error of the right type whose
message says what went wrong, with the shapes or dtypes involved, and points at the
user's own line, never at tracejit's internals."""
from __future__ import annotations

import os

import numpy as np
import pytest

import tracejit as tj
import tracejit.codegen
import tracejit.ir

HERE = __file__.rsplit("/", 1)[-1]
# The installed package's own directories (tracejit, tracejit.ir, tracejit.codegen): an
# error must point at the user's line, never into them. (Not the text "tracejit/": a clone
# of the repository is itself a folder named tracejit.)
PACKAGE_DIRS = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep
                     for m in (tj, tracejit.ir, tracejit.codegen))


def _points_at_user(msg: str) -> bool:
    where = msg.split("\n  at ")[-1]
    return HERE in where and not os.path.abspath(where.split(":", 1)[0]).startswith(
        PACKAGE_DIRS)


def _names_this_file(e: pytest.ExceptionInfo[BaseException]) -> None:
    assert _points_at_user(str(e.value)), str(e.value)


def test_location_check_tells_the_package_from_a_clone_named_tracejit() -> None:
    assert _points_at_user(f"bad\n  at /home/u/tracejit/tests/{HERE}:3: y = f(x)")
    assert not _points_at_user(f"bad\n  at {PACKAGE_DIRS[0]}ops.py:3: {HERE}")
    assert not _points_at_user(f"bad\n  at {PACKAGE_DIRS[1]}core.py:9: x")


@pytest.mark.parametrize("construct", ["if", "while", "bool", "float", "int", "numpy",
                                       "index"])
def test_python_control_flow_on_traced_values(construct: str) -> None:
    @tj.compile
    def f(x):
        if construct == "if":
            if x > 0:
                return x
        elif construct == "while":
            while x > 0:
                x = x - 1.0
        elif construct == "bool":
            return bool(x)
        elif construct == "float":
            return float(x)
        elif construct == "int":
            return int(x)
        elif construct == "numpy":
            return x.numpy()
        else:
            return [1.0, 2.0][tj.cast(x, tj.int32)]
        return x

    with pytest.raises(tj.TracingError) as e:
        f(tj.constant(1.0))
    assert "traced" in str(e.value) and "tj.where" in str(e.value)
    _names_this_file(e)


def test_shape_mismatch_compiled_and_eager() -> None:
    for run in (lambda f: f, tj.compile):
        f = run(lambda a, b: a * b)
        with pytest.raises(ValueError) as e:
            f(tj.ones((2, 3)), tj.ones((4,)))
        assert "(2, 3)" in str(e.value) and "(4,)" in str(e.value) and "mul" in str(e.value)
        _names_this_file(e)


def test_wrong_argument_types() -> None:
    with pytest.raises(TypeError) as e:
        tj.add("a", tj.constant(1.0))
    _names_this_file(e)
    with pytest.raises(TypeError) as e:
        tj.reduce_sum(tj.ones((2,)), axis="0")
    assert "axis" in str(e.value)
    with pytest.raises(ValueError, match="not a tensor"):   # TensorFlow's type: ValueError
        tj.GradientTape().watch("x")


def test_unsupported_dtypes() -> None:
    with pytest.raises(TypeError) as e:
        tj.constant(np.ones(2, np.complex64))
    assert "complex64" in str(e.value)
    f = tj.compile(lambda x: x + 1)
    with pytest.raises(TypeError) as e:
        f(np.ones(2, np.float16))
    assert "float16" in str(e.value)


def test_dtype_mismatch_suggests_cast() -> None:
    with pytest.raises(TypeError) as e:
        tj.constant(1.0) + tj.constant(1.0, tj.float64)
    assert "float32" in str(e.value) and "float64" in str(e.value) and "tj.cast" in str(e.value)
    _names_this_file(e)


def test_bad_axes_and_reshape_and_matmul() -> None:
    x = tj.ones((2, 3))
    with pytest.raises(ValueError) as e:
        tj.reduce_sum(x, axis=2)
    assert "reduce_sum: axis=2" in str(e.value) and "rank 2" in str(e.value)
    with pytest.raises(ValueError) as e:
        tj.reshape(x, (4,))
    assert "(2, 3)" in str(e.value) or "f32[2,3]" in str(e.value)
    assert "(4,)" in str(e.value)
    with pytest.raises(ValueError) as e:
        tj.matmul(x, tj.ones((2, 3)))
    assert "inner dimensions" in str(e.value)
    _names_this_file(e)


def test_unknown_stage() -> None:
    f = tj.compile(lambda x: x * 2.0)
    with pytest.raises(ValueError, match="unknown stage 'bogus'; stages are trace, grad"):
        f.lower(tj.constant(1.0)).as_text("bogus")


def test_second_gradient_on_a_non_persistent_tape() -> None:
    x = tj.constant(3.0)
    with tj.GradientTape() as t:
        t.watch(x)
        y = x * x
    t.gradient(y, x)
    with pytest.raises(RuntimeError) as e:
        t.gradient(y, x)
    assert "persistent=True" in str(e.value)
    _names_this_file(e)
