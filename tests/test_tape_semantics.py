"""TensorFlow's `GradientTape` semantics, point by point, each test named after the behaviour
it pins (the TensorFlow 2.21 result it was checked against is in its docstring).

Covered here: a persistent tape differentiating inside its own block, the gradient of a
source with respect to itself, and sources reachable only through operations TensorFlow
registers no gradient for.
"""
from __future__ import annotations

import os
import re
from typing import Any
from collections.abc import Callable

import numpy as np
import pytest

import tracejit as tj
from tracejit.ir import all_primitives


def val(t: Any) -> np.ndarray:
    assert isinstance(t, tj.Tensor), t
    return t.numpy()


# ------------------------------------------------------- gradients inside the tape's block


def test_persistent_tape_records_a_gradient_taken_inside_its_own_block() -> None:
    """TensorFlow: `with GradientTape(persistent=True) as t: y = x**3; dy = t.gradient(y, x);
    d2y = t.gradient(dy, x)` gives dy = 27, d2y = 18 at x = 3 (the tape records the gradient
    computation; it gave None)."""
    x = tj.constant(3.0)
    with tj.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x ** 3
        dy = t.gradient(y, x)
        d2y = t.gradient(dy, x)
    d3y = t.gradient(d2y, x)       # outside the block: not recorded, but d2y was
    assert (val(dy), val(d2y), val(d3y)) == (27.0, 18.0, 6.0)


def test_persistent_tape_jacobian_inside_its_own_block_is_differentiable() -> None:
    """TensorFlow: jacobian of jacobian inside a persistent tape's block: x**3 at [1, 2]
    gives diag(3x^2) = [[3, 0], [0, 12]] and then [[[6,0],[0,0]], [[0,0],[0,12]]]."""
    x = tj.constant([1.0, 2.0])
    with tj.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x ** 3
        j = t.jacobian(y, x)
        h = t.jacobian(j, x)
    np.testing.assert_array_equal(val(j), [[3.0, 0.0], [0.0, 12.0]])
    np.testing.assert_array_equal(val(h), [[[6.0, 0.0], [0.0, 0.0]],
                                           [[0.0, 0.0], [0.0, 12.0]]])


def test_gradient_inside_stop_recording_is_not_recorded() -> None:
    """TensorFlow: a gradient taken under `t.stop_recording()` is a constant to `t` (None)."""
    x = tj.constant(2.0)
    with tj.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x ** 3
        with t.stop_recording():
            g = t.gradient(y, x)
    assert val(g) == 12.0 and t.gradient(g, x) is None


def test_non_persistent_tape_stops_recording_at_its_gradient() -> None:
    """TensorFlow pops a non-persistent tape when its gradient is taken inside its block:
    the gradient is right and nothing after it is recorded (it could never be used)."""
    x = tj.constant(3.0)
    with tj.GradientTape() as t:
        t.watch(x)
        y = x * x
        g = t.gradient(y, x)
        n = len(t._records)
        z = y * x
        assert len(t._records) == n and id(z) not in t._watched
    assert val(g) == 6.0


def test_persistent_tape_second_derivative_inside_compiled_code() -> None:
    @tj.compile
    def f(x: Any) -> Any:
        with tj.GradientTape(persistent=True) as t:
            t.watch(x)
            y = tj.sin(x) * x
            dy = t.gradient(y, x)
            d2y = t.gradient(dy, x)
        return dy, d2y

    a = 0.7
    dy, d2y = f(tj.constant(a, tj.float64))
    np.testing.assert_allclose(val(dy), np.cos(a) * a + np.sin(a), rtol=1e-12)
    np.testing.assert_allclose(val(d2y), 2 * np.cos(a) - a * np.sin(a), rtol=1e-12)


# ------------------------------------------------------- a source as its own target


def test_gradient_of_a_source_with_respect_to_itself_is_ones() -> None:
    """TensorFlow's autodiff guide (control flow): `with tape: result = v0` then
    `tape.gradient(result, [v0, v1])` gives [1.0, None]; a target that is a source gets the
    seed whether watched or not (`gradient(x, x)` = 1, with output_gradients 5 -> 5)."""
    v0, v1 = tj.Variable(2.0), tj.Variable(2.0)
    with tj.GradientTape(persistent=True) as t:
        result = v0
    g0, g1 = t.gradient(result, [v0, v1])
    assert val(g0) == 1.0 and g1 is None
    x = tj.constant([2.0, 3.0])
    with tj.GradientTape(persistent=True) as t:
        pass
    np.testing.assert_array_equal(val(t.gradient(x, x)), [1.0, 1.0])
    np.testing.assert_array_equal(
        val(t.gradient(x, x, output_gradients=tj.constant([5.0, 6.0]))), [5.0, 6.0])
    with tj.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * 3.0
    gx, gy = t.gradient(y, [x, y])
    np.testing.assert_array_equal(val(gx), [3.0, 3.0])
    np.testing.assert_array_equal(val(gy), [1.0, 1.0])
    np.testing.assert_array_equal(val(t.gradient([y, x], x)), [4.0, 4.0])


def test_gradient_of_a_source_with_respect_to_itself_inside_compiled_code() -> None:
    """The same inside `tf.function`: [1.0, None] (it gave [None, None])."""
    v0, v1 = tj.Variable(2.0), tj.Variable(2.0)

    @tj.compile
    def f(a: Any, b: Any) -> Any:
        with tj.GradientTape() as t:
            result = a
        g0, g1 = t.gradient(result, [a, b])
        assert g1 is None
        return g0

    assert val(f(v0, v1)) == 1.0


# ------------------------------------------------------- operations without a gradient

# name -> (op of x, what TensorFlow 2.21 gives for d sum(op(x)) / dx at x = [0.3, 1.7, 2.2]:
# None = no registered gradient, else the zeros (or values) of its registered gradient).
_F = tj.float32
NON_DIFFERENTIABLE: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "floor": (lambda x: tj.floor(x), None),
    "floordiv(x, y)": (lambda x: tj.math.floordiv(x, 0.7), None),
    "floordiv(y, x)": (lambda x: tj.math.floordiv(tj.constant(5.0), x), None),
    "stop_gradient": (lambda x: tj.stop_gradient(x), None),
    "cast to int": (lambda x: tj.cast(tj.cast(x, tj.int32), _F), None),
    "argmax": (lambda x: tj.cast(tj.argmax(x), _F), None),
    "argmin": (lambda x: tj.cast(tj.argmin(x), _F), None),
    "equal": (lambda x: tj.cast(tj.equal(x, 1.5), _F), None),
    "less": (lambda x: tj.cast(tj.less(x, 1.5), _F), None),
    "where condition": (lambda x: tj.where(x > 1.0, 1.0, 2.0), None),
    "one_hot indices": (lambda x: tj.one_hot(tj.cast(x, tj.int32), 4), None),
    "gather indices": (lambda x: tj.gather(tj.constant([1.0, 2.0, 3.0]),
                                           tj.cast(x, tj.int32)), None),
    "zeros_like": (lambda x: tj.zeros_like(x), None),
    "sign": (lambda x: tj.sign(x), [0.0, 0.0, 0.0]),
    "abs at 0": (lambda x: tj.abs(x - x), [0.0, 0.0, 0.0]),
    "clip_by_value outside": (lambda x: tj.clip_by_value(x, 10.0, 20.0), [0.0, 0.0, 0.0]),
    "maximum, other wins": (lambda x: tj.maximum(x, 100.0), [0.0, 0.0, 0.0]),
    "x * 0": (lambda x: x * 0.0, [0.0, 0.0, 0.0]),
    "mod(x, y)": (lambda x: tj.math.mod(x, 0.7), [1.0, 1.0, 1.0]),
    "mod(y, x)": (lambda x: tj.math.mod(tj.constant(5.0), x), [-16.0, -2.0, -2.0]),
}


@pytest.mark.filterwarnings("ignore:.*traced it")      # one compile per op, on purpose
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", sorted(NON_DIFFERENTIABLE))
def test_source_only_through_an_op_without_gradient_gets_none(name: str,
                                                              compiled: bool) -> None:
    """TensorFlow: a source reachable only through an op with no registered gradient
    (floor, floordiv, stop_gradient, casts to int, argmax, comparisons, ...) gets None, or
    zeros with `unconnected_gradients="zero"`; an op whose registered gradient is zero
    (sign, abs at 0, a clipped value) keeps the source connected with zeros."""
    op, want = NON_DIFFERENTIABLE[name]

    def grads(x: Any) -> Any:
        with tj.GradientTape(persistent=True) as t:
            t.watch(x)
            y = op(x)
        return (t.gradient(y, x),
                t.gradient(y, x, unconnected_gradients=tj.UnconnectedGradients.ZERO))

    x = tj.constant([0.3, 1.7, 2.2])
    g, gz = (tj.compile(grads) if compiled else grads)(x)
    if want is None:
        assert g is None
    else:
        np.testing.assert_array_equal(val(g), want)
    np.testing.assert_array_equal(val(gz), want if want is not None else [0.0] * 3)


def test_another_path_around_an_op_without_gradient_still_counts() -> None:
    x = tj.constant([0.3, 1.7])
    with tj.GradientTape() as t:
        t.watch(x)
        y = tj.floor(x) * x + tj.stop_gradient(x)
    np.testing.assert_array_equal(val(t.gradient(y, x)), [0.0, 1.0])


def test_the_gradients_table_in_the_docs_matches_the_registry() -> None:
    """docs/gradients.md lists each primitive's `gradient` field; it cannot drift."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "docs", "gradients.md")) as f:
        text = f.read()
    rows = dict(re.findall(r"^\| `(\w+)` \| (rule|zero|none) \|", text, re.M))
    want = {n: p.gradient for n, p in all_primitives().items()}
    missing = {n: g for n, g in want.items() if rows.get(n) != g}
    assert not missing, (
        "docs/gradients.md's table disagrees with the registry; give each of these "
        "primitives a row `| `name` | gradient | tracejit ops | TensorFlow's gradient |`: "
        f"{missing}")
    assert set(rows) == set(want), f"rows of unknown primitives: {set(rows) - set(want)}"
