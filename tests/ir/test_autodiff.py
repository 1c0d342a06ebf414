"""The autodiff pass and the VJP rules at special points, where finite differences cannot
decide: kinks, ties, zeros, saturation, and branches whose values are inf or NaN.

DESIGN.md "Numerical decisions" fixes the subgradients (TensorFlow's): maximum/minimum ties
go to the first operand, reduce_max/min ties share equally, abs/sign/relu have gradient 0
at 0, `select` gives the branch not taken exact zeros. Rules must be exact where math is:
`d/dx x**2` at 0 is 0, never NaN, at every order.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from tracejit.ir import Builder, IRError, TensorType, Value, bind, interpreting, ops
from tracejit.ir.autodiff import GradFunction, vjp
from tracejit.ir.core import Function
from tracejit.ir.interp import evaluate

from tests.gradcheck import check_ir_grads, ir_vjp_of

F64 = np.float64


def const(v: Any) -> Any:
    return ops.const(v, F64)


def derivatives(f: Callable[[Any], Any], x: Any, order: int) -> list[np.ndarray]:
    """[f'(x), f''(x), ...] for an elementwise f, each by the autodiff pass applied to the
    previous derivative (seed 1 everywhere)."""
    x = np.asarray(x, F64)
    out, fn = [], f
    for _ in range(order):
        fn_vjp = ir_vjp_of(fn)

        def fn(x: Any, fn_vjp: Any = fn_vjp) -> Any:
            (g,) = fn_vjp(x, seed=np.ones(x.shape, F64))
            return g if g is not None else ops.zeros_like(x)

        out.append(np.asarray(fn(x)))
    return out


def trace(f: Callable[..., Any], *types: TensorType) -> tuple[Function, list[Value], Any]:
    b = Builder("f")
    ps = [b.param(t) for t in types]
    with interpreting(b):
        out = f(*ps)
    outs = list(out) if isinstance(out, tuple) else [out]
    return b.build(outs), ps, out


def run_grad(fn: Function, grad: GradFunction, args: Sequence[np.ndarray],
             seeds: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
    residuals = evaluate(Function("res", fn.params, fn.instrs, grad.residuals), args)
    if seeds is None:
        seeds = [np.ones(r.type.shape, r.type.dtype) for r in fn.results]
    return evaluate(grad.fn, residuals + list(seeds))


def t(*shape: int, dtype: Any = F64) -> TensorType:
    return TensorType(shape, dtype)


# --------------------------------------------------------------------------- pow at 0


def test_square_via_pow_is_exact_at_zero() -> None:
    d1, d2 = derivatives(lambda x: ops.pow(x, const(2.0)), 0.0, 2)
    assert d1 == 0.0 and d2 == 2.0


@pytest.mark.parametrize("y", [0.0, 1.0, 2.0, 3.0, 2.5, 4.0])
def test_pow_constant_exponent_is_finite_at_zero_regression(y: float) -> None:
    """Regression: d/dx x**0 and d2/dx2 x**1 at x = 0 were 0 * inf = NaN."""
    ds = derivatives(lambda x: ops.pow(x, const(y)), np.zeros(3), 3)
    falling, exact = y, []
    for k in range(3):  # y (y-1) ... (y-k) 0**(y-k-1), with x**0 = 1 and d/dx 1 = 0
        p = y - k - 1
        exact.append(0.0 if y - k == 0 or falling == 0 else
                     falling * (1.0 if p == 0 else 0.0 if p > 0 else np.inf))
        falling *= y - k - 1
    for k, (d, e) in enumerate(zip(ds, exact)):
        if k < 2:
            assert np.all(np.isfinite(d)), f"order {k + 1} of x**{y} at 0: {d}"
        np.testing.assert_array_equal(d, np.full(3, e), err_msg=f"order {k + 1} of x**{y}")


def test_pow_exponent_gradient_at_nonpositive_base_is_zero() -> None:
    fn, (x, y), _ = trace(lambda x, y: ops.pow(x, y), t(3), t(3))
    args = [np.array([0.0, -2.0, 2.0]), np.array([2.0, 2.0, 3.0])]
    gx, gy = run_grad(fn, vjp(fn, [x, y]), args)
    np.testing.assert_array_equal(gx, [0.0, -4.0, 12.0])
    np.testing.assert_allclose(gy, [0.0, 0.0, 8 * np.log(2.0)], rtol=1e-15)
    check_ir_grads(lambda x, y: ops.pow(x, y), [np.array([0.7, 1.3]), np.array([0.0, 1.0])],
                   order=3)


# --------------------------------------------------------------------------- kinks and ties


@pytest.mark.parametrize("prim", ["abs", "sign", "relu"])
def test_kink_gradient_is_zero_at_zero(prim: str) -> None:
    for d in derivatives(lambda x: bind(prim, x), np.array([0.0, -0.0]), 2):
        np.testing.assert_array_equal(d, [0.0, 0.0])


def test_kink_gradients_away_from_zero() -> None:
    x = np.array([-2.0, 3.0])
    np.testing.assert_array_equal(derivatives(lambda x: bind("abs", x), x, 1)[0], [-1, 1])
    np.testing.assert_array_equal(derivatives(lambda x: bind("relu", x), x, 1)[0], [0, 1])


@pytest.mark.parametrize("prim", ["maximum", "minimum"])
def test_max_min_ties_go_to_first_operand(prim: str) -> None:
    fn, (x, y), _ = trace(lambda x, y: bind(prim, x, y), t(2, 3), t(3))
    xs = np.array([[1.0, 2.0, 3.0], [1.0, 5.0, -3.0]])
    ys = np.array([1.0, 2.0, 3.0])  # row 0 ties everywhere
    seed = np.arange(1.0, 7.0).reshape(2, 3)
    gx, gy = run_grad(fn, vjp(fn, [x, y]), [xs, ys], [seed])
    wins_x = (xs >= ys) if prim == "maximum" else (xs <= ys)
    np.testing.assert_array_equal(gx, np.where(wins_x, seed, 0))
    np.testing.assert_array_equal(gy, np.where(wins_x, 0, seed).sum(0))


@pytest.mark.parametrize("prim", ["reduce_max", "reduce_min"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduce_max_min_ties_share_equally(prim: str, keepdims: bool) -> None:
    fn, (x,), _ = trace(lambda x: bind(prim, x, axes=(1,), keepdims=keepdims), t(3, 4))
    top = 3.0 if prim == "reduce_max" else -3.0
    xs = np.array([[1, top, top, 2], [top, top, top, top], [0, 1, top, 2]]) * np.array(1.0)
    seed = np.array([6.0, 8.0, 5.0]).reshape((3, 1) if keepdims else (3,))
    (gx,) = run_grad(fn, vjp(fn, [x]), [xs], [seed])
    np.testing.assert_array_equal(gx, [[0, 3, 3, 0], [2, 2, 2, 2], [0, 0, 5, 0]])


def test_select_routes_to_the_chosen_branch() -> None:
    fn, (c, x, y), _ = trace(lambda c, x, y: ops.select(c, x, y), t(4, dtype=np.bool_),
                             t(4), t(1))
    cs = np.array([True, False, True, False])
    xs = np.array([np.nan, 1.0, np.inf, 2.0])  # NaN and inf in the branch not taken
    ys = np.array([np.nan])
    grad = vjp(fn, [c, x, y])
    assert grad.connected == [False, True, True]
    gx, gy = run_grad(fn, grad, [cs, xs, ys], [np.array([1.0, 2.0, 3.0, 4.0])])
    np.testing.assert_array_equal(gx, [1, 0, 3, 0])
    np.testing.assert_array_equal(gy, [6.0])


def test_select_guarding_a_log_gives_finite_zero_gradient() -> None:
    """where(x > 0, log(x), 0) at x = -1: log(-1) is NaN, the gradient is exactly 0."""
    def f(x: Any) -> Any:
        return ops.select(ops.gt(x, const(0.0)), ops.log(x), ops.zeros_like(x))

    d1, d2 = derivatives(f, np.array([-1.0, -5.0, 2.0]), 2)
    np.testing.assert_array_equal(d1, [0.0, 0.0, 0.5])
    np.testing.assert_array_equal(d2, [0.0, 0.0, -0.25])


# --------------------------------------------------------------------------- saturation


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


@pytest.mark.parametrize("x", [100.0, -100.0, 1000.0, -1000.0, 30.0, -30.0])
def test_logistic_and_softplus_gradients_at_large_inputs(x: float) -> None:
    """Finite, and right: softplus' = sigmoid to full relative precision; sigmoid' within
    1e-15 of sigmoid(x) sigmoid(-x) (its `out * (1 - out)` form loses the relative accuracy
    of a value below the rounding of 1 - out)."""
    xs = np.array([x])
    s, s2 = derivatives(lambda x: bind("softplus", x), xs, 2)
    np.testing.assert_allclose(s, _sigmoid(xs), rtol=1e-14, atol=0)
    np.testing.assert_allclose(s2, _sigmoid(xs) * _sigmoid(-xs), rtol=1e-6, atol=1e-15)
    ds = derivatives(lambda x: bind("logistic", x), xs, 2)
    for d in ds:
        assert np.all(np.isfinite(d))
    np.testing.assert_allclose(ds[0], _sigmoid(xs) * _sigmoid(-xs), rtol=1e-6, atol=1e-15)
    assert abs(ds[1][0]) < 1e-12


# --------------------------------------------------------------------------- reduce_prod


def test_reduce_prod_with_zeros_is_exact() -> None:
    fn, (x,), _ = trace(lambda x: ops.reduce_prod(x, (1,)), t(3, 3))
    xs = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [2.0, -4.0, 0.5]])
    (gx,) = run_grad(fn, vjp(fn, [x]), [xs], [np.array([1.0, 1.0, 2.0])])
    np.testing.assert_array_equal(gx, [[0, 6, 0], [0, 0, 0], [-4, 2, -16]])


def test_reduce_prod_second_order_with_a_zero_is_exact() -> None:
    xs = np.array([2.0, 0.0, 3.0])
    hessian = []
    for i in range(3):
        (g,) = derivatives_row(lambda x: ops.reduce_prod(x, (0,)), xs, i)
        hessian.append(g)
    np.testing.assert_array_equal(hessian, [[0, 3, 0], [3, 0, 2], [0, 2, 0]])


def derivatives_row(f: Callable[[Any], Any], x: np.ndarray, i: int) -> list[np.ndarray]:
    """Row i of the Hessian of scalar f: the gradient of (grad f)[i]."""
    f_vjp = ir_vjp_of(f)

    def gi(x: Any) -> Any:
        (g,) = f_vjp(x, seed=np.ones((), F64))
        return bind("slice", g, starts=(i,), limits=(i + 1,), strides=(1,))

    (h,) = ir_vjp_of(gi)(x, seed=np.ones(1, F64))
    return [h]


# --------------------------------------------------------------------------- the pass


def test_fan_out_sums() -> None:
    fn, (x,), _ = trace(lambda x: ops.add(ops.mul(x, x), ops.add(ops.sin(x), x)), t(3))
    xs = np.array([0.5, -1.0, 2.0])
    (gx,) = run_grad(fn, vjp(fn, [x]), [xs])
    np.testing.assert_allclose(gx, 2 * xs + np.cos(xs) + 1, rtol=1e-15)
    fn, (x,), _ = trace(lambda x: ops.add(x, x), t(2))
    (gx,) = run_grad(fn, vjp(fn, [x]), [np.zeros(2)], [np.array([1.5, -2.0])])
    np.testing.assert_array_equal(gx, [3.0, -4.0])


def test_intermediate_sources() -> None:
    b = Builder("f")
    x = b.param(t(2))
    with interpreting(b):
        y = ops.exp(x)
        z = ops.mul(y, y)
    fn = b.build([z])
    xs = np.array([0.3, -0.7])
    grad = vjp(fn, [y, x])
    assert grad.connected == [True, True]
    gy, gx = run_grad(fn, grad, [xs])
    np.testing.assert_allclose(gy, 2 * np.exp(xs), rtol=1e-15)
    np.testing.assert_allclose(gx, 2 * np.exp(2 * xs), rtol=1e-15)
    grad = vjp(fn, [z])  # the result itself: its own seed
    (gz,) = run_grad(fn, grad, [xs], [np.array([4.0, 5.0])])
    np.testing.assert_array_equal(gz, [4.0, 5.0])


def test_unconnected_sources_are_reported() -> None:
    fn, (x, z), _ = trace(lambda x, z: ops.scale(x, 2.0), t(2), t(3))
    grad = vjp(fn, [z, x, z])
    assert grad.connected == [False, True, False]
    assert len(grad.fn.results) == 1
    (gx,) = run_grad(fn, grad, [np.ones(2), np.ones(3)])
    np.testing.assert_array_equal(gx, [2.0, 2.0])
    # Depending only through an integer (argmax) is no dependence for gradients.
    fn, (x,), _ = trace(lambda x: ops.convert(bind("argmax", x, axis=0), F64), t(3))
    assert vjp(fn, [x]).connected == [False]


def test_connected_through_zero_gradient_gives_zeros() -> None:
    """TensorFlow's sign has a gradient of zeros: the source stays connected."""
    fn, (x,), _ = trace(lambda x: ops.scale(bind("sign", x), 3.0), t(2))
    grad = vjp(fn, [x])
    assert grad.connected == [True]
    (gx,) = run_grad(fn, grad, [np.array([0.5, -1.5])])
    np.testing.assert_array_equal(gx, [0.0, 0.0])


@pytest.mark.parametrize("prim", ["floor", "stop_gradient"])
def test_only_through_a_primitive_without_gradient_is_unconnected(prim: str) -> None:
    """TensorFlow registers no gradient for floor or stop_gradient: a source reachable only
    through them is unconnected; another path still counts."""
    fn, (x,), _ = trace(lambda x: ops.scale(bind(prim, x), 3.0), t(2))
    assert vjp(fn, [x]).connected == [False]
    fn, (x,), _ = trace(lambda x: ops.add(bind(prim, x), ops.scale(x, 2.0)), t(2))
    grad = vjp(fn, [x])
    assert grad.connected == [True]
    (gx,) = run_grad(fn, grad, [np.array([0.5, -1.5])])
    np.testing.assert_array_equal(gx, [2.0, 2.0])


def test_integer_values_carry_no_cotangent() -> None:
    def f(x: Any, i: Any) -> Any:
        k = bind("mul", i, i)  # an int intermediate
        return ops.mul(x, ops.convert(k, F64))

    fn, (x, i), _ = trace(f, t(2), t(2, dtype=np.int32))
    k = fn.instrs[0].outs[0]
    grad = vjp(fn, [x, i, k])
    assert grad.connected == [True, False, False]
    (gx,) = run_grad(fn, grad, [np.ones(2), np.array([2, -3], np.int32)])
    np.testing.assert_array_equal(gx, [4.0, 9.0])


def test_convert_between_float_dtypes() -> None:
    fn, (x,), _ = trace(lambda x: ops.convert(x, F64), t(3, dtype=np.float32))
    seed = np.array([0.1, 1e-30, 3.0])
    (gx,) = run_grad(fn, vjp(fn, [x]), [np.ones(3, np.float32)], [seed])
    assert gx.dtype == np.float32
    np.testing.assert_array_equal(gx, seed.astype(np.float32))
    fn, (x,), _ = trace(lambda x: ops.convert(x, np.float32), t(2))
    (gx,) = run_grad(fn, vjp(fn, [x]), [np.ones(2)], [np.array([0.5, 2.0], np.float32)])
    assert gx.dtype == np.float64
    np.testing.assert_array_equal(gx, [0.5, 2.0])
    fn, (x,), _ = trace(lambda x: ops.convert(ops.convert(x, np.int32), F64), t(2))
    assert vjp(fn, [x]).connected == [False]


def test_several_results_take_one_seed_each() -> None:
    fn, (x,), _ = trace(lambda x: (ops.sin(x), ops.gt(x, const(0.0)), x), t(2))
    grad = vjp(fn, [x])
    assert grad.n_seeds == 3
    xs = np.array([0.25, -2.0])
    seeds = [np.array([1.0, 2.0]), np.array([True, False]), np.array([10.0, 20.0])]
    (gx,) = run_grad(fn, grad, [xs], seeds)
    np.testing.assert_allclose(gx, seeds[0] * np.cos(xs) + seeds[2], rtol=1e-15)


def test_unbroadcast_sums_to_each_operand_shape() -> None:
    fn, (x, y), _ = trace(lambda x, y: ops.mul(x, y), t(3, 1), t(4))
    gx, gy = run_grad(fn, vjp(fn, [x, y]), [np.full((3, 1), 2.0), np.arange(4.0)])
    np.testing.assert_array_equal(gx, np.full((3, 1), 6.0))
    np.testing.assert_array_equal(gy, np.full(4, 6.0))


def test_gradient_function_shape() -> None:
    """The gradient Function's parameters are residuals (values of the forward Function)
    then one seed per result; its results are the connected sources' cotangents."""
    fn, (x, z), _ = trace(lambda x, z: ops.mul(ops.exp(x), ops.sin(x)), t(2), t(1))
    grad = vjp(fn, [x, z])
    forward = {id(v) for v in fn.params} | {id(o) for i in fn.instrs for o in i.outs}
    assert all(id(r) in forward for r in grad.residuals)
    assert len(grad.fn.params) == len(grad.residuals) + 1
    assert [p.type for p in grad.fn.params[:-1]] == [r.type for r in grad.residuals]
    assert [r.type for r in grad.fn.results] == [x.type]


def test_source_outside_the_function_is_an_error() -> None:
    fn, _, _ = trace(lambda x: ops.exp(x), t(2))
    with pytest.raises(IRError):
        vjp(fn, [Value(t(2))])


def test_rule_override() -> None:
    fn, (x,), _ = trace(lambda x: ops.sin(x), t(2))
    rules = {id(fn.instrs[0]): lambda g, x, *, out: (ops.scale(g, 7.0),)}
    (gx,) = run_grad(fn, vjp(fn, [x], rules=rules), [np.zeros(2)])
    np.testing.assert_array_equal(gx, [7.0, 7.0])


def test_third_order_of_a_composite() -> None:
    def f(x: Any, y: Any) -> Any:
        return ops.div(ops.mul(ops.sin(x), ops.exp(y)), ops.add(ops.mul(x, x), const(1.0)))

    rng = np.random.default_rng(3)
    check_ir_grads(f, [rng.uniform(-1, 1, (2, 1)), rng.uniform(-1, 1, (3,))], order=3)


def test_gradient_function_prints() -> None:
    pytest.importorskip("tracejit.ir.printer")
    fn, (x,), _ = trace(lambda x: ops.mul(x, x), t(2))
    text = str(vjp(fn, [x]).fn)
    assert "mul" in text and "f64[2]" in text
