"""`custom_gradient` with TensorFlow's semantics, each test named after the behaviour it pins
(the TensorFlow 2.21 value it was checked against is in its docstring), and a differential
test: custom gradients eager, compiled under an eager tape and with the tape inside the
compiled function, at orders 1 and 2 (nested tapes), against central finite differences.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tests.gradcheck import check_grads
from tests.test_grad_ops import first_and_second


def val(t: Any) -> np.ndarray:
    assert isinstance(t, tj.Tensor), t
    return t.numpy()


# ------------------------------------------------------------------ compiled functions


@tj.custom_gradient
def _twice_grad(x: Any) -> Any:
    return x * 1.0, lambda dy: 2.0 * dy


def test_custom_gradient_inside_a_compiled_function_under_an_eager_tape() -> None:
    """TensorFlow: `g = tf.function(lambda x: f(x))` with f's gradient `2 * dy`; a tape
    around `g(x)` gives 2.0 (it gave 1.0: the compiled call's VJP ignored the custom
    gradient). Eagerly and with the tape inside the compiled function it is 2.0 too."""
    g = tj.compile(lambda x: _twice_grad(x))
    x = tj.constant(3.0)
    with tj.GradientTape() as t:
        t.watch(x)
        y = g(x)
    assert val(t.gradient(y, x)) == 2.0

    @tj.compile
    def inside(x: Any) -> Any:
        with tj.GradientTape() as t:
            t.watch(x)
            y = _twice_grad(x)
        return t.gradient(y, x)

    assert val(inside(x)) == 2.0
    with tj.GradientTape() as t:
        t.watch(x)
        y = _twice_grad(x)
    assert val(t.gradient(y, x)) == 2.0


def test_custom_gradient_in_the_ir_is_a_custom_vjp_instruction() -> None:
    g = tj.compile(lambda x: _twice_grad(x) * 3.0)
    text = g.lower(np.float32(1.0)).as_text("trace")
    assert "custom_vjp(" in text and "func @_twice_grad_grad" in text
    assert float(g(tj.constant(1.5))) == 4.5       # natively it is the forward value


# ------------------------------------------------------------------ second order


def _log1pexp2(second: Callable[[Any, Any], Any]) -> Any:
    """The pattern of TensorFlow's `tf.custom_gradient` docs for overriding a second-order
    gradient ("wrap nested @tf.custom_gradients in another function"), instantiated for
    log1pexp with the second-order gradient `second(ddy, e)`."""
    @tj.custom_gradient
    def log1pexp2(x: Any) -> Any:
        e = tj.exp(x)
        y = tj.math.log(1 + e)
        x_grad = 1 - 1 / (1 + e)

        def first_order_gradient(dy: Any) -> Any:
            @tj.custom_gradient
            def first_order_custom(unused_x: Any) -> Any:
                def second_order_gradient(ddy: Any) -> Any:
                    return second(ddy, e)
                return x_grad, second_order_gradient
            return dy * first_order_custom(x)
        return y, first_order_gradient
    return log1pexp2


@pytest.mark.parametrize("where", ["eager", "compiled", "tapes inside compiled"])
def test_custom_gradient_second_order_follows_the_ops_of_the_gradient_function(
        where: str) -> None:
    """TensorFlow, its docs' nested-custom-gradient pattern with second-order gradient
    `ddy * (1 - e)`: at x = 1, 3, 10 the second derivative is -1.7182817, -19.085537,
    -22025.465 (= 1 - e^x: the override, not sigmoid'(x); it gave 0.1966...)."""
    f = _log1pexp2(lambda ddy, e: ddy * (1 - e))

    def second(x: Any) -> Any:
        return first_and_second(lambda t: tj.compile(f)(t) if where == "compiled" else f(t), x)

    run = tj.compile(second) if where == "tapes inside compiled" else second
    for a, want in [(1.0, -1.7182817), (3.0, -19.085537), (10.0, -22025.465)]:
        g, h = run(tj.constant(a))
        np.testing.assert_allclose(val(g), 1 / (1 + np.exp(-a)), rtol=1e-6)
        np.testing.assert_allclose(val(h), want, rtol=1e-6)


def test_second_order_through_a_custom_gradient_differentiates_what_it_computes() -> None:
    """TensorFlow: `f(x) = x**3` with gradient `dy * 3 * x * x`: nested tapes give 12, 12 at
    x = 2 (the outer tape sees the ops of the gradient function)."""
    @tj.custom_gradient
    def cube(x: Any) -> Any:
        return x ** 3, lambda dy: dy * 3.0 * x * x

    g, h = first_and_second(cube, tj.constant(2.0))
    assert (val(g), val(h)) == (12.0, 12.0)


# ------------------------------------------------------------------ arguments, Variables


@tj.custom_gradient
def _scaled_grad(x: Any, scale: float) -> Any:
    return tj.identity(x), lambda dy: (dy * scale, None)


@tj.custom_gradient
def _scaled_grad_one(x: Any, scale: float) -> Any:
    return tj.identity(x), lambda dy: dy * scale


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_custom_gradient_with_python_number_arguments(compiled: bool) -> None:
    """TensorFlow counts every positional argument (`clip(x, norm)` returns
    `(grad, None)`); the Python number gets no gradient. tracejit also accepts one gradient
    per tensor argument; any other count is a ValueError naming both numbers."""
    def grads(f: Any) -> Any:
        def run(x: Any) -> Any:
            with tj.GradientTape() as t:
                t.watch(x)
                y = f(x, 5.0) * 2.0
            return t.gradient(y, x)
        return tj.compile(run) if compiled else run

    x = tj.constant([1.0, 2.0])
    np.testing.assert_array_equal(val(grads(_scaled_grad)(x)), [10.0, 10.0])
    np.testing.assert_array_equal(val(grads(_scaled_grad_one)(x)), [10.0, 10.0])

    @tj.custom_gradient
    def bad(x: Any, y: Any, scale: float) -> Any:
        return x * y, lambda dy: (dy, dy, dy, dy)
    with tj.GradientTape() as t:
        t.watch(x)
        y = bad(x, x, 1.0)
    with pytest.raises(ValueError, match=r"returned 4 gradients for 3 inputs \(2 of them "):
        t.gradient(y, x)


def test_custom_gradient_keyword_arguments_get_no_gradient() -> None:
    """TensorFlow: keyword arguments are not inputs (a tensor passed by keyword gets None)."""
    @tj.custom_gradient
    def kw(x: Any, scale: Any = 1.0) -> Any:
        return x * scale, lambda dy: dy * 7.0

    x, s = tj.constant(3.0), tj.constant(2.0)
    with tj.GradientTape() as t:
        t.watch([x, s])
        y = kw(x, scale=s)
    gx, gs = t.gradient(y, [x, s])
    assert val(gx) == 7.0 and gs is None


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_custom_gradient_receives_the_variables_it_reads(compiled: bool) -> None:
    """TensorFlow's `tf.custom_gradient` docs (linear_poly): `grad_fn(dpoly, variables)`
    gets `[weights]` and returns `(grad_xs, [grad_weights])`; poly = x + 1 at x = [1, 2, 3],
    d/dx = [1, 1, 1], d/dweights = [6, 3]."""
    weights = tj.Variable(tj.ones([2]))

    @tj.custom_gradient
    def linear_poly(x: Any) -> Any:
        poly = weights[1] * x + weights[0]

        def grad_fn(dpoly: Any, variables: Any = None) -> Any:
            assert variables is not None and len(variables) == 1
            assert variables[0] is weights
            grad_xs = dpoly * weights[1]
            dy_dw = dpoly * tj.stack([x ** 1, x ** 0])
            return grad_xs, [tj.reduce_sum(tj.reshape(dy_dw, [2, -1]), axis=1)]
        return poly, grad_fn

    def run(x: Any) -> Any:
        with tj.GradientTape(persistent=True) as tape:
            tape.watch(x)
            poly = linear_poly(x)
        return poly, tape.gradient(poly, x), tape.gradient(poly, weights)

    poly, gx, gw = (tj.compile(run) if compiled else run)(tj.constant([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(val(poly), [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(val(gx), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(val(gw), [6.0, 3.0])


def test_custom_gradient_of_a_variable_reader_without_variables_parameter_raises() -> None:
    """TensorFlow: TypeError "@tf.custom_gradient grad_fn must accept keyword argument
    'variables', since function uses variables"; without Variables it gets None."""
    w = tj.Variable(2.0)

    @tj.custom_gradient
    def f(x: Any) -> Any:
        return x * w, lambda dy: dy * 3.0

    x = tj.constant(3.0)
    with tj.GradientTape() as t:
        t.watch(x)
        with pytest.raises(TypeError, match="variables"):
            f(x)

    seen = []

    @tj.custom_gradient
    def g(x: Any) -> Any:
        def grad(dy: Any, variables: Any = None) -> Any:
            seen.append(variables)
            return dy * 3.0
        return x * 2.0, grad

    with tj.GradientTape() as t:
        t.watch(x)
        y = g(x)
    assert val(t.gradient(y, x)) == 3.0 and seen == [None]


def test_custom_gradient_none_for_a_variable_leaves_it_unconnected() -> None:
    """TensorFlow: a variable gradient of None gives the Variable None, even though the
    forward read it."""
    w = tj.Variable(2.0)

    @tj.custom_gradient
    def f(x: Any) -> Any:
        return x * w, lambda dy, variables=None: (dy * 3.0, [None])

    x = tj.constant(3.0)
    with tj.GradientTape() as t:
        t.watch(x)
        y = f(x)
    gx, gw = t.gradient(y, [x, w])
    assert val(gx) == 3.0 and gw is None


def test_custom_gradient_of_a_variable_argument() -> None:
    """TensorFlow: a Variable passed as the argument gets the custom gradient (11.0)."""
    w = tj.Variable(2.0)

    @tj.custom_gradient
    def f(v: Any) -> Any:
        return v * 2.0, lambda dy: dy * 11.0

    with tj.GradientTape() as t:
        y = f(w)
    assert val(t.gradient(y, w)) == 11.0


# ------------------------------------------------------------------ differential test
# Custom gradients equal to the true derivative, so finite differences are the oracle, in
# every combination of where the function runs and where the tapes are, at orders 1 and 2
# (order 2 records the order-1 tape under an outer tape, `check_grads`' recursion).


@tj.custom_gradient
def _xsinx(x: Any) -> Any:
    # the gradient function computes with ops: order 2 differentiates them
    return x * tj.sin(x), lambda dy: dy * (tj.sin(x) + x * tj.cos(x))


def _softplus_nested() -> Any:
    # a nested custom gradient whose own gradient is the true second derivative
    return _log1pexp2(lambda ddy, e: ddy * e / ((1 + e) * (1 + e)))


@tj.custom_gradient
def _prod_scaled(x: Any, y: Any, c: float) -> Any:
    # two tensor inputs and a Python number; one gradient per positional argument
    return x * y * c, lambda dy: (dy * y * c, dy * x * c, None)


FUNCTIONS: dict[str, tuple[Callable[..., Any], int]] = {
    "ops in grad_fn": (lambda x: _xsinx(x), 1),
    "nested custom_gradient": (lambda x: _softplus_nested()(x), 1),
    "two inputs and a number": (lambda x, y: _prod_scaled(x, y, 1.5) + x, 2),
}


def _vjp_transform(where: str) -> Callable[[Callable[..., Any]], Callable[..., list[Any]]]:
    def vjp_of(f: Callable[..., Any]) -> Callable[..., list[Any]]:
        fwd = tj.compile(f) if where == "compiled" else f

        def grads(xs: list[Any], seeds: list[Any]) -> Any:
            with tj.GradientTape() as tape:
                tape.watch(xs)
                y = fwd(*xs)
            return tape.gradient(y, xs, output_gradients=seeds,
                                 unconnected_gradients="zero")
        run = tj.compile(grads) if where == "tape inside compiled" else grads

        def f_vjp(*args: Any, seed: Any) -> list[Any]:
            xs = [a if isinstance(a, tj.Tensor) else tj.constant(a) for a in args]
            seeds = [s if isinstance(s, tj.Tensor) else tj.constant(np.asarray(s))
                     for s in (seed if isinstance(seed, tuple) else (seed,))]
            return list(run(xs, seeds))
        return f_vjp
    return vjp_of


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("where", ["eager", "compiled", "tape inside compiled"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_custom_gradient_matches_finite_differences(name: str, where: str,
                                                    order: int) -> None:
    f, n = FUNCTIONS[name]
    rng = np.random.default_rng(7)
    args = [rng.uniform(0.5, 1.5, (3,)) for _ in range(n)]
    check_grads(lambda *a: f(*[tj.constant(x) if isinstance(x, np.ndarray) else x
                               for x in a]),
                args, _vjp_transform(where), order=order, what=f"{name} ({where})")
