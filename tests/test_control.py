"""Control flow through the user API: `tj.while_loop`, `cond`, `switch_case`, `scan`,
`foldl`, `foldr`, `map_fn`, `fori_loop`.

Oracles: TensorFlow's results (hard-coded, from TF 2.21), the same program run eagerly
(plain Python loops), compiled, and compiled under an eager tape, and central finite
differences in float64 for gradients of order 1 and 2.
"""
from __future__ import annotations

import re
from typing import Any
from collections.abc import Callable

import numpy as np
import pytest

import tracejit as tj

from tests.gradcheck import numerical_vjp

F64 = tj.float64


def c64(x: Any) -> tj.Tensor:
    return tj.constant(x, F64)


# --------------------------------------------------------------------------- semantics


@pytest.mark.parametrize("compiled", [False, True])
def test_results_match_tensorflow(compiled: bool) -> None:
    def f(x: tj.Tensor) -> Any:
        return (tj.scan(lambda a, e: a + e, x), tj.scan(lambda a, e: a + e, x, reverse=True),
                tj.foldl(lambda a, e: a - e, x), tj.foldr(lambda a, e: a - e, x),
                tj.map_fn(lambda e: e * 2.0, x),
                tj.scan(lambda a, e: a * e, x, initializer=tj.constant(2.0)),
                tj.while_loop(lambda i: i < 100, lambda i: [i + 1], [0],
                              maximum_iterations=5))
    g = tj.compile(f) if compiled else f
    r = g(tj.constant([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(r[0].numpy(), [1, 3, 6])
    np.testing.assert_array_equal(r[1].numpy(), [6, 5, 3])
    assert float(r[2]) == -4.0 and float(r[3]) == 0.0
    np.testing.assert_array_equal(r[4].numpy(), [2, 4, 6])
    np.testing.assert_array_equal(r[5].numpy(), [2, 4, 12])
    assert isinstance(r[6], list) and int(r[6][0]) == 5


@pytest.mark.parametrize("compiled", [False, True])
def test_scans_over_no_elements_give_no_rows(compiled: bool) -> None:
    # TensorFlow: the initializer's structure with a leading axis of 0 (scan), the
    # initializer itself (foldl); map_fn's rows have the type fn returns for one slice
    def f(e: tj.Tensor, m: tj.Tensor) -> Any:
        init = (tj.ones((2,)), tj.constant(3))
        return (tj.scan(lambda a, x: (a[0] + x, a[1] + 1), e, initializer=init),
                tj.scan(lambda a, x: a * x, e, initializer=tj.ones((2, 3)), reverse=True),
                tj.foldl(lambda a, x: a + x, e, initializer=tj.ones((2,))),
                tj.map_fn(lambda r: (r * 2.0, tj.reduce_sum(r) > 0.0), m))
    g = tj.compile(f) if compiled else f
    (s0, s1), s2, fl, (m0, m1) = g(tj.zeros((0,)), tj.zeros((0, 3)))
    assert (s0.shape, s0.dtype, s1.shape, s1.dtype) == ((0, 2), tj.float32, (0,), tj.int32)
    assert (s2.shape, s2.dtype) == ((0, 2, 3), tj.float32)
    np.testing.assert_array_equal(fl.numpy(), [1.0, 1.0])
    assert (m0.shape, m0.dtype, m1.shape, m1.dtype) == ((0, 3), tj.float32, (0,), tj.bool_)


@pytest.mark.parametrize("compiled", [False, True])
def test_switch_case_runs_the_last_branch_out_of_range(compiled: bool) -> None:
    def f(i: tj.Tensor) -> tj.Tensor:
        return tj.switch_case(i, [lambda: tj.constant(0), lambda: tj.constant(1),
                                  lambda: tj.constant(2)])
    g = tj.compile(f) if compiled else f
    assert [int(g(tj.constant(i))) for i in (-1, 0, 1, 2, 7)] == [2, 0, 1, 2, 2]
    h = tj.compile(lambda i: tj.switch_case(i, {1: lambda: tj.constant(1.0),
                                                 0: lambda: tj.constant(0.0)},
                                             default=lambda: tj.constant(9.0)))
    assert [float(h(tj.constant(i))) for i in (0, 1, 5)] == [0.0, 1.0, 9.0]


def test_nested_structures_and_variables() -> None:
    v = tj.Variable(2.0)

    def f(x: tj.Tensor) -> Any:
        def body(s: dict) -> Any:
            return [{"x": s["x"] * v, "n": s["n"] + 1}]
        (out,) = tj.while_loop(lambda s: s["n"] < 3, body, [{"x": x, "n": 0}])
        return out
    cf = tj.compile(f)
    for g in (f, cf):
        out = g(tj.constant([1.0, 3.0]))
        assert set(out) == {"x", "n"}
        np.testing.assert_allclose(out["x"].numpy(), [8.0, 24.0])
    v.assign(3.0)  # captured by reference: no retrace, the new value is used
    np.testing.assert_allclose(cf(tj.constant([1.0, 3.0]))["x"].numpy(), [27.0, 81.0])


# --------------------------------------------------------------------------- errors


def test_a_loop_variable_that_changes_shape_is_named() -> None:
    def body(i: Any, x: Any) -> Any:
        return i + 1, tj.concat([x, x], 0)
    for g in (lambda x: tj.while_loop(lambda i, x: i < 2, body, (0, x)),
              tj.compile(lambda x: tj.while_loop(lambda i, x: i < 2, body, (0, x)))):
        with pytest.raises(TypeError) as e:
            g(tj.constant([1.0, 2.0]))
        msg = str(e.value)
        assert "loop_vars[1]" in msg and "f32[2]" in msg and "f32[4]" in msg
        assert "test_control.py" in msg


@pytest.mark.parametrize("compiled", [False, True])
def test_a_scan_step_that_changes_its_accumulator_is_refused_in_both_modes(
        compiled: bool) -> None:
    # TensorFlow's eager scan refuses these too; tracejit's eager scan returned them
    x = tj.constant([1.0, 2.0], F64)
    cases = [
        (lambda x: tj.scan(lambda a, e: (a, a), x, initializer=c64(0.0)),
         "scan: the function returns a structure that differs"),
        (lambda x: tj.foldl(lambda a, e: tj.stack([a, e]), x, initializer=c64(0.0)),
         r"foldl: carry has type f64\[\] on entry but f64\[2\] after"),
        (lambda x: tj.foldr(lambda a, e: tj.cast(a, tj.float32), x),
         r"foldr: carry has type f64\[\] on entry but f32\[\] after"),
        (lambda x: tj.fori_loop(0, 2, lambda i, v: (v, v), x),
         "fori_loop: the function returns a structure that differs"),
        (lambda x: tj.fori_loop(0, 2, lambda i, v: v[0], x),
         r"fori_loop: carry(\[1\])? has type f64\[2\] on entry but f64\[\] after"),
    ]
    for f, msg in cases:
        with pytest.raises(TypeError, match=msg):
            (tj.compile(f) if compiled else f)(x)


def test_branches_of_different_structures_show_them() -> None:
    f = tj.compile(lambda x: tj.cond(tj.reduce_sum(x) > 0, lambda: (x, {"a": x}),
                                     lambda: [x, {"a": x}]))
    with pytest.raises(TypeError, match=r"false_fn returns \[f32\[2\], \{'a': f32\[2\]\}\] but "
                                        r"true_fn returns \(f32\[2\], \{'a': f32\[2\]\}\)"):
        f(tj.constant([1.0, 2.0]))


def test_branches_of_different_types_are_named() -> None:
    f = tj.compile(lambda x: tj.cond(tj.reduce_sum(x) > 0, lambda: x, lambda: x[0]))
    with pytest.raises(TypeError) as e:
        f(tj.constant([1.0, 2.0]))
    msg = str(e.value)
    assert "true_fn" in msg and "false_fn" in msg and "f32[2]" in msg and "f32[]" in msg


def test_python_if_on_a_traced_value_suggests_cond_and_while_loop() -> None:
    @tj.compile
    def f(x: tj.Tensor) -> tj.Tensor:
        if tj.reduce_sum(x) > 0:
            return x
        return -x
    with pytest.raises(tj.TracingError, match="tj.cond.*tj.while_loop"):
        f(tj.constant([1.0]))


def test_assigning_a_variable_in_a_loop_body_is_refused() -> None:
    v = tj.Variable(0.0)

    @tj.compile
    def f(x: tj.Tensor) -> Any:
        def body(i: Any) -> Any:
            v.assign_add(x)
            return [i + 1]
        return tj.while_loop(lambda i: i < 3, body, [0])
    with pytest.raises(tj.TracingError, match="loop variable"):
        f(tj.constant(1.0))


# --------------------------------------------------------------------------- gradients


def newton_cbrt(a: tj.Tensor, x0: tj.Tensor) -> tj.Tensor:
    """x**3 = a by Newton's method until |x**3 - a| < 1e-12: a data-dependent trip count."""
    def c(x: Any, i: Any) -> Any:
        return tj.abs(x * x * x - a) > 1e-12
    def b(x: Any, i: Any) -> Any:
        return x - (x * x * x - a) / (3.0 * x * x), i + 1
    x, _ = tj.while_loop(c, b, (x0, 0), maximum_iterations=50)
    return x


def program(a: tj.Tensor, x0: tj.Tensor) -> tj.Tensor:
    y = newton_cbrt(a, x0)
    z = tj.cond(y > 1.0, lambda: y * y, lambda: tj.sin(y))
    s = tj.reduce_sum(tj.scan(lambda c, e: c * 0.5 + e * y, c64([1.0, 2.0, 3.0])))
    w = tj.fori_loop(0, 5, lambda i, v: v * y + 1.0, c64(0.5))
    k = tj.switch_case(tj.cast(y > 1.2, tj.int32), [lambda: y, lambda: tj.exp(y)])
    return z + s + w + k


def grads(f: Callable[..., Any], a: tj.Tensor, x0: tj.Tensor) -> list[Any]:
    with tj.GradientTape() as t2:
        t2.watch(a)
        with tj.GradientTape() as t:
            t.watch(a)
            y = f(a, x0)
        g = t.gradient(y, a)
    return [y, g, t2.gradient(g, a)]


def floats(xs: list[Any]) -> list[float]:
    return [float(x) for x in xs]


@pytest.mark.parametrize("a", [2.0, 0.5])
def test_eager_compiled_and_compiled_under_tape_agree_with_finite_differences(a: float
                                                                              ) -> None:
    x0 = c64(1.0)
    cp = tj.compile(program)
    eager = floats(grads(program, c64(a), x0))
    inside = tj.compile(lambda a, x0: grads(program, a, x0))
    compiled = floats(inside(c64(a), x0))
    under = floats(grads(cp, c64(a), x0))
    np.testing.assert_allclose(compiled, eager, rtol=1e-12)
    np.testing.assert_allclose(under, eager, rtol=1e-12)

    def value(v: np.ndarray) -> np.ndarray:
        return np.asarray(program(c64(v), x0).numpy())

    def grad1(v: np.ndarray) -> np.ndarray:
        return np.asarray(float(grads(program, c64(v), x0)[1]))
    one = np.ones(())
    d1 = numerical_vjp(value, [np.array(a)], [one], [0])[0]
    d2 = numerical_vjp(grad1, [np.array(a)], [one], [0])[0]
    np.testing.assert_allclose(eager[1], d1, rtol=1e-5)
    np.testing.assert_allclose(eager[2], d2, rtol=1e-4)


def test_jacobian_through_loops() -> None:
    @tj.compile
    def jac(x: tj.Tensor) -> tj.Tensor:
        with tj.GradientTape() as t:
            t.watch(x)
            y = tj.scan(lambda c, e: c * e + tj.sin(c), x, initializer=c64(0.5))
            y = tj.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * x), (0, y))[1]
        return t.jacobian(y, x)
    x = np.array([0.3, -0.7, 1.1])

    def value(v: np.ndarray) -> np.ndarray:
        y = tj.scan(lambda c, e: c * e + tj.sin(c), c64(v), initializer=c64(0.5))
        return (y * c64(v) ** 3).numpy()
    want = np.stack([numerical_vjp(value, [x], [np.eye(3)[i]], [0])[0] for i in range(3)])
    np.testing.assert_allclose(jac(c64(x)).numpy(), want, rtol=1e-5, atol=1e-8)


# --------------------------------------------------------------------------- compiled loops


def test_optimized_ir_does_not_grow_with_the_trip_count() -> None:
    def make(n: int) -> Any:
        @tj.compile
        def f(x: tj.Tensor, k: tj.Tensor) -> Any:
            with tj.GradientTape() as t:
                t.watch([x, k])
                y = tj.fori_loop(0, n, lambda i, s: s + 0.001 * tj.sin(s) * k, x)
                loss = tj.reduce_sum(y * y)
            return loss, t.gradient(loss, [x, k])
        return f
    x, k = c64(np.linspace(0, 1, 8)), c64(2.0)
    texts = [make(n).lower(x, k).as_text("opt") for n in (10, 10000)]
    assert len(texts[0].splitlines()) == len(texts[1].splitlines())
    assert texts[0] == re.sub(r"\b10000\b", "10", texts[1])   # lengths aside, the same
    loss, (gx, gk) = make(1000)(x, k)

    def value(xv: np.ndarray, kv: np.ndarray) -> np.ndarray:
        s = xv.copy()
        for _ in range(1000):
            s = s + 0.001 * np.sin(s) * kv
        return np.sum(s * s)
    one = np.ones(())
    nx, nk = numerical_vjp(value, [x.numpy().copy(), np.array(2.0)], [one], [0, 1])
    np.testing.assert_allclose(gx.numpy(), nx, rtol=1e-6)
    np.testing.assert_allclose(float(gk), nk, rtol=1e-6)


def test_an_index_error_inside_a_loop_body_names_the_op_and_its_line() -> None:
    """The native code only knows the region instruction that failed; the error names the
    op inside the body (here in a loop nested in a loop, and in a branch inside a scan) and
    the user's line of that op, also for a compiled function called under a tape."""
    x = c64([1.0, 2.0, 3.0, 4.0])

    @tj.compile
    def nested(idx: tj.Tensor, n: tj.Tensor) -> Any:
        def inner(j: Any, s: Any) -> Any:
            return j + 1, s + x[idx + j]

        def outer(i: Any, s: Any) -> Any:
            return i + 1, tj.while_loop(lambda j, s: j < n, inner, (0, s))[1]
        return tj.while_loop(lambda i, s: i < 2, outer, (0, c64(0.0)))[1]

    @tj.compile
    def branch(idx: tj.Tensor) -> Any:
        def body(c: Any, e: Any) -> Any:
            return tj.cond(e > 0, lambda: c + tj.gather(x, idx + 1), lambda: c)
        return tj.scan(body, c64([1.0, 2.0]), initializer=c64(0.0))
    assert float(nested(tj.constant(0), tj.constant(3))) == 12.0
    calls = [lambda: nested(tj.constant(2), tj.constant(3)), lambda: branch(tj.constant(3))]
    ops = ["return j + 1, s + x[idx + j]", "lambda: c + tj.gather(x, idx + 1)"]
    for call, line in zip(calls, ops):
        with pytest.raises(IndexError) as e:
            call()
        msg = str(e.value)
        assert msg.startswith("gather: index 4 is out of bounds for size 4"), msg
        assert "test_control.py:" in msg and line in msg, msg
        with tj.GradientTape() as t:
            t.watch(x)
            with pytest.raises(IndexError) as e:
                call()
        assert "test_control.py:" in str(e.value) and line in str(e.value), str(e.value)


def test_recompute_grad_gives_the_same_values_and_gradients() -> None:
    w = tj.Variable(np.array([[0.5, -0.3], [0.2, 0.8]]), name="w")

    def layer(x: tj.Tensor) -> tj.Tensor:
        return tj.tanh(x @ w) @ w

    def run(f: Callable[[tj.Tensor], tj.Tensor], x: tj.Tensor) -> list[Any]:
        with tj.GradientTape() as t2:
            t2.watch(x)
            with tj.GradientTape(persistent=True) as t:
                t.watch(x)
                y = tj.fori_loop(0, 3, lambda i, h: f(h), x)
                loss = tj.reduce_sum(y ** 2)
            gx, gw = t.gradient(loss, [x, w])
        return [loss, gx, gw, t2.gradient(gx, x)]
    x = c64([[0.1, 0.7]])
    want = [v.numpy() for v in run(layer, x)]
    for g in (lambda x: run(tj.recompute_grad(layer), x),
              tj.compile(lambda x: run(tj.recompute_grad(layer), x))):
        for a, b in zip(g(x), want):
            np.testing.assert_allclose(a.numpy(), b, rtol=1e-12)


@pytest.mark.parametrize("compiled", [False, True])
def test_cond_and_while_loop_predicates_of_one_element_or_more(compiled: bool) -> None:
    """A bool predicate of one element of any rank is taken as a scalar (TensorFlow takes
    it); more elements raise ValueError (TensorFlow's eager error; tj raised TypeError), a
    dtype other than bool TypeError."""
    x = tj.constant([1.5, -2.0])

    def branch(p: Any, a: Any) -> Any:
        return tj.cond(p, lambda: a * 2.0, lambda: -a)

    def loop(a: Any, shape: Any) -> Any:
        return tj.while_loop(lambda i: tj.broadcast_to(i < 3, shape), lambda i: i + 1, [a])[0]

    run_branch = tj.function(branch) if compiled else branch
    run_loop = tj.function(loop) if compiled else loop
    for p, want in [([True], [3.0, -4.0]), ([[False]], [-1.5, 2.0]), (True, [3.0, -4.0])]:
        np.testing.assert_array_equal(run_branch(tj.constant(p), x).numpy(), want)
    assert int(run_loop(tj.constant(0), [1, 1])) == 3
    with pytest.raises(ValueError, match=r"cond: pred must be a scalar bool.*bool\[2\]"):
        run_branch(tj.constant([True, False]), x)
    with pytest.raises(ValueError, match=r"cond: pred must be a scalar bool.*bool\[0\]"):
        run_branch(tj.constant(np.zeros(0, bool)), x)
    with pytest.raises(TypeError, match=r"cond: pred must be a scalar bool tensor, got i32"):
        run_branch(tj.constant(1), x)
    with pytest.raises(ValueError, match=r"while_loop: cond's result .*bool\[2\]"):
        run_loop(tj.constant(0), [2])
