"""The rounding, reciprocal, classification and `x log y` ops of `tj.math` and the
activations of `tj.nn`: NumPy references eagerly and compiled (size-0 and broadcast
shapes), TensorFlow's values at the points where the definitions differ (ties, kinks,
x = 0 in xlogy, overflow of the branch not taken), gradients against central finite
differences in float64 at orders 1 and 2, and errors for dtypes TensorFlow refuses."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tests.test_grad_ops import away, first_and_second, gradcheck, rand
from tests.test_hyperbolic import _check as check_close

SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _sig(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


# name, op, NumPy reference, (lo, hi) of the drawn values
UNARY: list[tuple[str, Callable[..., Any], Callable[..., Any], tuple[float, float]]] = [
    ("ceil", tj.math.ceil, np.ceil, (-3, 3)),
    ("round", tj.round, np.rint, (-3, 3)),
    ("rint", tj.math.rint, np.rint, (-3, 3)),
    ("atan", tj.atan, np.arctan, (-5, 5)),
    ("asin", tj.asin, np.arcsin, (-0.9, 0.9)),
    ("acos", tj.math.acos, np.arccos, (-0.9, 0.9)),
    ("reciprocal", tj.math.reciprocal, lambda x: 1 / x, (0.3, 3)),
    ("rsqrt", tj.math.rsqrt, lambda x: 1 / np.sqrt(x), (0.3, 3)),
    ("is_nan", tj.math.is_nan, np.isnan, (-3, 3)),
    ("is_inf", tj.math.is_inf, np.isinf, (-3, 3)),
    ("is_finite", tj.math.is_finite, np.isfinite, (-3, 3)),
    ("log_sigmoid", tj.math.log_sigmoid, lambda x: -np.logaddexp(0, -x), (-6, 6)),
    ("elu", tj.nn.elu, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), (-3, 3)),
    ("selu", tj.nn.selu,
     lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(np.minimum(x, 0))), (-3, 3)),
    ("leaky_relu", tj.nn.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x), (-3, 3)),
    ("relu6", tj.nn.relu6, lambda x: np.minimum(np.maximum(x, 0), 6), (-3, 9)),
    ("silu", tj.nn.silu, lambda x: x * _sig(x), (-6, 6)),
    ("softsign", tj.nn.softsign, lambda x: x / (1 + np.abs(x)), (-3, 3)),
]
BINARY: list[tuple[str, Callable[..., Any], Callable[..., Any], tuple[float, float]]] = [
    ("squared_difference", tj.math.squared_difference, lambda x, y: (x - y) ** 2, (-3, 3)),
    ("xlogy", tj.math.xlogy, lambda x, y: np.where(x == 0, 0, x * np.log(y)), (0.2, 3)),
    ("xlog1py", tj.math.xlog1py, lambda x, y: np.where(x == 0, 0, x * np.log1p(y)),
     (0.2, 3)),
    ("atan2", tj.math.atan2, np.arctan2, (-3, 3)),
]
NONDIFF = {"ceil", "round", "rint", "is_nan", "is_inf", "is_finite"}
KINKS = {"elu", "selu", "leaky_relu", "relu6", "softsign"}


def _values(seed: int, shape: tuple[int, ...], dom: tuple[float, float], dtype: Any
            ) -> np.ndarray:
    a = rand(seed, shape, *dom)
    a.flat[: min(a.size, 4)] = [0.5, -2.5, 0.0, 6.0][: min(a.size, 4)]   # ties and kinks
    return a.astype(dtype)


def _check(got: Any, want: np.ndarray, dtype: Any) -> None:
    check_close(got, want, dtype, rtol64=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0,), (), (3, 37)])
@pytest.mark.parametrize("i", range(len(UNARY)), ids=[u[0] for u in UNARY])
def test_unary_matches_numpy_eagerly_and_compiled(i: int, shape: tuple[int, ...],
                                                  dtype: Any) -> None:
    name, op, ref, dom = UNARY[i]
    x = _values(i, shape, dom, dtype)
    if name.startswith("is_") and x.size:
        x.flat[::3] = np.array([np.nan, np.inf, -np.inf] * x.size)[: len(x.flat[::3])]
    with np.errstate(all="ignore"):
        want = np.asarray(ref(x.astype(np.float64))).astype(
            bool if name.startswith("is_") else dtype)
    _check(op(x).numpy(), want, dtype)
    _check(tj.function(lambda t: op(t))(x).numpy(), want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("i", range(len(BINARY)), ids=[b[0] for b in BINARY])
def test_binary_matches_numpy_with_broadcasting(i: int, dtype: Any) -> None:
    name, op, ref, dom = BINARY[i]
    for sx, sy in [((3, 1), (4,)), ((0, 2), (2,)), ((), (5,))]:
        x, y = _values(i, sx, dom, dtype), _values(i + 1, sy, dom, dtype)
        with np.errstate(all="ignore"):
            want = np.asarray(ref(x.astype(np.float64), y.astype(np.float64))).astype(dtype)
        _check(op(x, y).numpy(), want, dtype)
        _check(tj.function(lambda a, b: op(a, b))(x, y).numpy(), want, dtype)


@pytest.mark.parametrize("i", range(len(UNARY)), ids=[u[0] for u in UNARY])
def test_unary_gradients_orders_1_and_2(i: int) -> None:
    name, op, _, dom = UNARY[i]
    x = rand(100 + i, (2, 3), *dom)
    if name in NONDIFF:
        xt = tj.constant(x)
        with tj.GradientTape() as t:
            t.watch(xt)
            y = op(xt)
        assert t.gradient(y, xt) is None       # TensorFlow registers no gradient
        return
    if name in KINKS:
        x = away(x, 0.2)
        x = np.where(np.abs(x - 6) < 0.2, 5.5, x)
    gradcheck(op, x)


@pytest.mark.parametrize("i", range(len(BINARY)), ids=[b[0] for b in BINARY])
def test_binary_gradients_orders_1_and_2(i: int) -> None:
    _, op, _, dom = BINARY[i]
    gradcheck(op, rand(200 + i, (2, 3), *dom), rand(300 + i, (3,), *dom))


def test_tensorflow_values_at_the_special_points() -> None:
    """Values and gradients TensorFlow 2.21 gives (checked against it)."""
    x = tj.constant([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
    np.testing.assert_array_equal(tj.round(x).numpy(), [-2, -2, -0.0, 0, 2, 2])
    np.testing.assert_array_equal(np.signbit(tj.round(x).numpy()), np.signbit(
        [-2, -2, -0.0, 0, 2, 2]))
    np.testing.assert_array_equal(tj.math.ceil(x).numpy(), [-2, -1, -0.0, 1, 2, 3])
    np.testing.assert_array_equal(tj.round(tj.constant([3, -4])).numpy(), [3, -4])
    np.testing.assert_array_equal(tj.math.xlogy([0.0, 0.0, 1.0], [0.0, -1.0, 0.0]).numpy(),
                                  [0, 0, -np.inf])
    np.testing.assert_array_equal(tj.math.xlog1py([0.0, 2.0], [-1.0, -1.0]).numpy(),
                                  [0, -np.inf])
    np.testing.assert_array_equal(tj.math.log_sigmoid([-200.0, 200.0]).numpy(), [-200, -0.0])
    a, b = tj.constant([0.0, 0.0, 2.0]), tj.constant([0.0, 1.0, 0.0])
    with tj.GradientTape() as t:
        t.watch([a, b])
        z = tj.math.xlogy(a, b)
    ga, gb = t.gradient(z, [a, b])
    np.testing.assert_array_equal(ga.numpy(), [0, 0, -np.inf])
    np.testing.assert_array_equal(gb.numpy(), [0, 0, np.inf])
    w = tj.constant([-1.0, 0.0, 2.0, 100.0, 6.0])
    for op, want in [(tj.nn.leaky_relu, [0.2, 0.2, 1, 1, 1]),
                     (tj.nn.elu, [np.exp(-1.0), 1, 1, 1, 1]),
                     (tj.nn.relu6, [0, 0, 1, 0, 0])]:
        with tj.GradientTape() as t:
            t.watch(w)
            y = op(w)
        np.testing.assert_allclose(t.gradient(y, w).numpy(), want, rtol=1e-6, err_msg=str(op))
    # The branch not taken overflows (expm1(100) in float32) without a NaN gradient.
    big = tj.constant([100.0, 1000.0])
    with tj.GradientTape() as t:
        t.watch(big)
        y = tj.nn.selu(big)
    np.testing.assert_allclose(t.gradient(y, big).numpy(), [SELU_S, SELU_S], rtol=1e-6)


@pytest.mark.parametrize("compiled", [False, True])
def test_elu_and_selu_take_the_x_branch_at_zero(compiled: bool) -> None:
    # TensorFlow's EluGrad and SeluGrad test `outputs < 0`: at 0 the gradient is the x
    # branch's (selu: scale, not scale * alpha = 1.758) and so is elu's second derivative
    # (0, not exp(0) = 1).
    x = tj.constant([-1.0, 0.0, 2.0], tj.float64)

    def run(op: Callable[..., Any]) -> tuple[tj.Tensor, tj.Tensor]:
        return (tj.compile(lambda x: first_and_second(op, x)) if compiled
                else partial(first_and_second, op))(x)

    g, g2 = run(tj.nn.selu)
    e = np.exp(-1.0)
    np.testing.assert_allclose(g.numpy(), [SELU_S * SELU_A * e, SELU_S, SELU_S], rtol=1e-12)
    np.testing.assert_allclose(g2.numpy(), [SELU_S * SELU_A * e, 0, 0], rtol=1e-12)
    g, g2 = run(tj.nn.elu)
    np.testing.assert_allclose(g.numpy(), [e, 1, 1], rtol=1e-12)
    np.testing.assert_allclose(g2.numpy(), [e, 0, 0], rtol=1e-12)


@pytest.mark.parametrize("op", [tj.math.ceil, tj.math.rint, tj.math.atan2, tj.math.reciprocal,
                                tj.math.rsqrt, tj.math.is_nan, tj.math.is_inf,
                                tj.math.is_finite, tj.nn.elu, tj.nn.softsign])
def test_integer_operands_are_refused_naming_the_op(op: Callable[..., Any]) -> None:
    args = [tj.constant([1, 2])] * (2 if op is tj.math.atan2 else 1)
    with pytest.raises(tj.DTypeError, match=op.__name__):
        op(*args)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pow_of_a_scalar_half_is_ieee_pow_eagerly_as_compiled(dtype: Any) -> None:
    """pow(-0.0, 0.5) is +0.0 and pow(-inf, 0.5) +inf (IEEE 754, TensorFlow, native code);
    eagerly tj gave -0.0 and NaN, NumPy's sqrt for a scalar exponent 0.5. The oracle is
    NumPy's pow with an array of exponents, which does not take that shortcut."""
    x = np.array([-0.0, 0.0, -np.inf, np.inf, 4.0, 2.0, -1.0, np.nan], dtype)
    for y in (0.5, -0.5, 2.0, 3.0, 1 / 3):
        with np.errstate(invalid="ignore", divide="ignore"):
            want = np.power(x, np.array([y] * len(x), dtype))
        e = dtype(y)
        compiled = tj.function(lambda a, e=e: (tj.pow(a, e), a ** e))(x)
        for got in (tj.pow(x, e), tj.constant(x) ** e, *compiled):
            g = got.numpy()
            np.testing.assert_array_equal(g, want)
            np.testing.assert_array_equal(np.signbit(g[:4]), np.signbit(want[:4]))


@pytest.mark.parametrize("compiled", [False, True])
def test_pow_derivatives_at_zero_are_exact(compiled: bool) -> None:
    """README: d/dx x**0 = 0 and d2/dx2 x**1 = 0 at x = 0 (TensorFlow: NaN); the oracle is
    the derivatives of the polynomials, y * x**(y-1) and y * (y-1) * x**(y-2) taken as 0
    where the coefficient is 0."""
    def grads(x: Any, y: float) -> Any:
        return first_and_second(lambda a: tj.pow(a, y), x)

    x = np.array([0.0, 2.0])
    for y in (0.0, 1.0, 2.0, 3.0):
        run = tj.function(lambda a, y=y: grads(a, y)) if compiled else (
            lambda a, y=y: grads(tj.constant(a), y))
        g, h = run(x)
        d1 = y * x ** (y - 1) if y else np.zeros(2)
        d2 = y * (y - 1) * x ** (y - 2) if y not in (0.0, 1.0) else np.zeros(2)
        np.testing.assert_array_equal(g.numpy(), d1)
        np.testing.assert_array_equal(h.numpy(), d2)
