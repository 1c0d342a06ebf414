"""logaddexp, multiply_no_nan, divide_no_nan, logical_xor, reduce_euclidean_norm, integer
pow and the tj.bool name: NumPy's values eagerly and compiled (broadcast and size-0
shapes), TensorFlow 2.21's values, gradients and errors at the special points, and
gradients against central finite differences in float64 at orders 1 and 2."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tests.test_grad_ops import gradcheck, rand

BINARY: list[tuple[str, Callable[..., Any], Callable[..., Any]]] = [
    ("logaddexp", tj.math.logaddexp, np.logaddexp),
    ("multiply_no_nan", tj.math.multiply_no_nan, lambda x, y: np.where(y == 0, 0, x * y)),
    ("divide_no_nan", tj.math.divide_no_nan,
     lambda x, y: np.where(y == 0, 0, x / np.where(y == 0, 1, y))),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("i", range(len(BINARY)), ids=[b[0] for b in BINARY])
def test_values_eagerly_and_compiled(i: int, dtype: Any) -> None:
    _, op, ref = BINARY[i]
    f = tj.function(lambda a, b: op(a, b))
    for sx, sy in [((3, 1), (37,)), ((0, 2), (2,)), ((), (5,))]:
        x = rand(i, sx, -30, 30).astype(dtype)
        y = np.round(rand(i + 1, sy, -3, 3)).astype(dtype)     # zeros and ties
        with np.errstate(all="ignore"):
            want = ref(x.astype(np.float64), y.astype(np.float64)).astype(dtype)
        rtol = 1e-6 if dtype == np.float32 else 1e-14
        for got in (op(x, y).numpy(), f(x, y).numpy()):
            assert got.dtype == dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("i", range(len(BINARY)), ids=[b[0] for b in BINARY])
def test_gradients_orders_1_and_2(i: int) -> None:
    x = rand(20 + i, (2, 3), -2, 2)
    y = rand(30 + i, (3,), 0.5, 2) * np.array([1, -1, 1])
    gradcheck(BINARY[i][1], x, y)


def test_euclidean_norm_gradients_orders_1_and_2() -> None:
    gradcheck(lambda x: tj.math.reduce_euclidean_norm(x, axis=1), rand(3, (2, 3), 0.5, 2))
    gradcheck(lambda x: tj.math.reduce_euclidean_norm(x, keepdims=True), rand(4, (2, 3)))


def test_tensorflow_special_values() -> None:
    inf, nan = np.inf, np.nan
    got = tj.math.logaddexp([1.0, -inf, inf, 1000.0], [2.0, -inf, inf, 1000.0]).numpy()
    np.testing.assert_allclose(got, [2.3132617, -inf, inf, 1000.6932], rtol=1e-7)
    for f in (tj.math.logaddexp, tj.function(tj.math.logaddexp)):
        np.testing.assert_array_equal(f(tj.constant([nan, 1.0, -inf]),
                                        tj.constant([1.0, nan, 3.0])).numpy(), [nan, nan, 3])
    np.testing.assert_array_equal(
        tj.math.divide_no_nan([1.0, 0.0, nan, 1.0, inf], [0.0, 0.0, 0.0, nan, 0.0]).numpy(),
        [0, 0, 0, nan, 0])
    got = tj.math.divide_no_nan(tj.constant([1, 2]), tj.constant([0, 1]))
    assert got.dtype == tj.float64 and got.numpy().tolist() == [0.0, 2.0]
    for f in (tj.math.multiply_no_nan, tj.function(tj.math.multiply_no_nan)):
        got = f(tj.constant([nan, inf, 2.0, nan]), tj.constant([0.0, 0.0, nan, 1.0])).numpy()
        np.testing.assert_array_equal(got, [0, 0, nan, nan])
    np.testing.assert_array_equal(
        tj.math.logical_xor([True, False], [[True], [False]]).numpy(),
        [[False, True], [True, False]])
    assert tj.bool is tj.bool_ and tj.constant([1, 0], dtype=tj.bool).dtype == np.bool_
    np.testing.assert_array_equal(
        tj.math.reduce_euclidean_norm(tj.constant([[3.0, 4.0], [5.0, 12.0]]), axis=1).numpy(),
        [5, 13])
    n = tj.math.reduce_euclidean_norm(tj.constant([[3, 4], [5, 12]]), axis=1)
    assert n.dtype == tj.int32 and n.numpy().tolist() == [5, 13]
    # TensorFlow's integer kernel: squares and sum wrap, then the integer part of the root
    assert tj.math.reduce_euclidean_norm(tj.constant([46341, 46341])).numpy() == 96
    assert tj.math.reduce_euclidean_norm(tj.constant([1, 1, 1])).numpy() == 1
    assert np.isinf(tj.math.reduce_euclidean_norm(tj.constant([1e30, 1e30])).numpy())
    np.testing.assert_array_equal(tj.math.reduce_euclidean_norm(tj.zeros((2, 0)), axis=1),
                                  [0, 0])


def test_tensorflow_gradients_at_the_special_points() -> None:
    x = tj.constant([1.0, -np.inf, 3.0, 0.0], tj.float64)
    y = tj.constant([1.0, -np.inf, 3.0, 5.0], tj.float64)
    with tj.GradientTape() as t:
        t.watch([x, y])
        z = tj.math.logaddexp(x, y)
    gx, gy = t.gradient(z, [x, y])
    # 1/2 at ties (TensorFlow's composition gives 1 and 0), NaN at -inf, -inf (as TF)
    np.testing.assert_allclose(gx.numpy(), [0.5, np.nan, 0.5, 0.0066928509242848554])
    np.testing.assert_allclose(gy.numpy(), [0.5, np.nan, 0.5, 0.9933071490757153])
    a = tj.constant([1.0, 2.0, 3.0, np.inf], tj.float64)
    b = tj.constant([0.0, 2.0, 0.0, 0.0], tj.float64)
    with tj.GradientTape(persistent=True) as t:
        t.watch([a, b])
        q = tj.math.divide_no_nan(a, b)
        m = tj.math.multiply_no_nan(a, b)
    np.testing.assert_array_equal([g.numpy() for g in t.gradient(q, [a, b])],
                                  [[0, 0.5, 0, 0], [0, -0.5, 0, 0]])
    np.testing.assert_array_equal([g.numpy() for g in t.gradient(m, [a, b])],
                                  [[0, 2, 0, 0], [1, 2, 3, np.inf]])
    z0 = tj.constant([0.0, 0.0], tj.float64)
    with tj.GradientTape() as t:
        t.watch(z0)
        r = tj.math.reduce_euclidean_norm(z0)
    assert np.isnan(t.gradient(r, z0).numpy()).all()            # as TensorFlow's


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_pow_wraps_like_tensorflow(dtype: Any) -> None:
    x = np.array([2, 3, -2, 0, 1, -1, -1, 7, 3], dtype)
    y = np.array([3, 2, 3, 0, 5, 7, 4, 0, 40 if dtype == np.int32 else 50], dtype)
    want = [8, 9, -8, 1, 1, -1, 1, 1, 689956897 if dtype == np.int32 else 6048575297968530377]
    f = tj.function(lambda a, b: a ** b)
    for got in (tj.pow(x, y), f(x, y), tj.function(lambda a, b: tj.pow(a, b))(x[:0], y[:0])):
        assert got.dtype == dtype
    assert tj.pow(x, y).numpy().tolist() == want
    assert f(x, y).numpy().tolist() == want
    assert tj.pow(tj.constant([-2]), tj.constant([31])).numpy().tolist() == [-2147483648]
    assert (tj.constant([2, 3]) ** 2).numpy().tolist() == [4, 9]
    # traced negative exponents: the integer part of 1 / x^|y| (eagerly they raise)
    g = tj.function(lambda a, b: a ** b)(np.array([1, -1, -1, 5, 0], dtype),
                                         np.array([-1, -1, -2, -1, -3], dtype))
    assert g.numpy().tolist() == [1, -1, 1, 0, 0]
    xi = tj.constant([2, 3])
    with tj.GradientTape() as t:
        t.watch(xi)
        r = xi ** 2
    assert t.gradient(r, xi) is None                       # as TensorFlow


def test_errors_name_the_op() -> None:
    with pytest.raises(ValueError, match="negative integer powers"):
        tj.pow(tj.constant([2, 1]), tj.constant([1, -1]))
    with pytest.raises(ValueError, match="negative integer powers"):
        tj.function(lambda a: a ** -1)(tj.constant([2]))
    with pytest.raises(TypeError):
        tj.pow(tj.constant([2]), 0.5)
    with pytest.raises(tj.DTypeError, match="logical_xor needs bool"):
        tj.math.logical_xor(tj.constant([1]), tj.constant([0]))
    for op in (tj.math.logaddexp, tj.math.multiply_no_nan):
        with pytest.raises(tj.DTypeError, match="needs float tensors, got int32"):
            op(tj.constant([1]), tj.constant([2]))
    with pytest.raises(tj.DTypeError, match="differ"):
        tj.math.divide_no_nan(tj.constant([1.0]), tj.constant([0.0], tj.float64))


INT_DIVISIONS: list[tuple[str, Callable[..., Any], Callable[..., Any]]] = [
    ("floordiv", tj.math.floordiv, np.floor_divide),
    ("mod", tj.math.floormod, np.mod),
    ("floordiv", lambda a, b: a // b, np.floor_divide),
    ("mod", lambda a, b: a % b, np.mod),
]


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("i", range(len(INT_DIVISIONS)))
def test_integer_division_by_zero_raises_where_the_divisor_is_known(i: int, dtype: Any
                                                                    ) -> None:
    """TensorFlow raises for an integer divisor with a zero (eagerly and in tf.function);
    tj gave 0. Eagerly every divisor is checked (also on the short route that operators
    take once an operand signature is known); while tracing, a Python or NumPy one."""
    name, op, ref = INT_DIVISIONS[i]
    x = tj.constant(np.array([7, -7, 5, 0], dtype))
    ok = np.array([2, 2, -3, 1], dtype)
    zero = np.array([2, 2, 0, 1], dtype)
    for _ in range(2):      # the second call takes the short route of a known signature
        np.testing.assert_array_equal(op(x, tj.constant(ok)).numpy(), ref(x.numpy(), ok))
        with pytest.raises(ZeroDivisionError, match=f"{name}: integer division by zero"):
            op(x, tj.constant(zero))
        with pytest.raises(ZeroDivisionError, match="test_arith_ops.py"):
            op(x, 0)
        with pytest.raises(ZeroDivisionError, match=name):
            op(7, tj.constant(zero))
        np.testing.assert_array_equal(op(9, tj.constant(ok)).numpy(), ref(9, ok))
    with pytest.raises(ZeroDivisionError, match=name):
        tj.function(lambda a: op(a, 0))(x)
    with pytest.raises(ZeroDivisionError, match=name):
        tj.function(lambda a: op(a, zero))(x)
    np.testing.assert_array_equal(tj.function(lambda a: op(a, ok))(x).numpy(),
                                  ref(x.numpy(), ok))


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("i", range(len(INT_DIVISIONS)))
def test_traced_integer_divisor_zero_raises_when_the_code_runs(i: int, dtype: Any) -> None:
    """A divisor known only at run time is checked by compiled code (an `assert`):
    TensorFlow's InvalidArgumentError, also a ZeroDivisionError, naming the op, the first
    zero's index and the user's line; a divisor without zeros computes as before."""
    name, op, ref = INT_DIVISIONS[i]
    x = np.array([7, -7, 5, 0, 9], dtype)
    ok, zero = np.array([2, 3, -3, 1, 4], dtype), np.array([2, 1, -3, 0, 4], dtype)
    f = tj.function(lambda a, b: op(a, b))
    np.testing.assert_array_equal(f(x, ok).numpy(), ref(x, ok))
    for err in (ZeroDivisionError, tj.errors.InvalidArgumentError,
                tj.errors.DivisionByZeroError):
        with pytest.raises(err, match=rf"{name}: integer division by zero \(first failing "
                                      r"element: index \[3\]\)\n  at .*test_arith_ops.py"):
            f(x, zero)
    g = tj.function(lambda b: op(7, b))     # a Python number divided by a traced divisor
    np.testing.assert_array_equal(g(ok).numpy(), ref(7, ok))
    with pytest.raises(ZeroDivisionError, match=r"index \[3\]"):
        g(zero)
