"""cumsum, cumprod and cumulative_logsumexp: NumPy's values for every axis, `exclusive`
and `reverse`, eagerly and compiled (a loop along the axis, not unrolled); TensorFlow's
values, dtypes and errors; exact gradients (cumprod's also where the operand has zeros)
against central finite differences in float64 at orders 1 and 2."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tracejit as tj
from tests.test_grad_ops import gradcheck, rand


def _logcumsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    return np.logaddexp.accumulate(x, axis=axis)


OPS: list[tuple[str, Callable[..., Any], Callable[..., Any], float]] = [
    ("cumsum", tj.math.cumsum, np.cumsum, 0.0),
    ("cumprod", tj.math.cumprod, np.cumprod, 1.0),
    ("cumulative_logsumexp", tj.math.cumulative_logsumexp, _logcumsumexp, -np.inf),
]


def _reference(i: int, x: np.ndarray, axis: int, exclusive: bool, reverse: bool
               ) -> np.ndarray:
    _, _, fn, ident = OPS[i]
    v = np.flip(x, axis) if reverse else x
    if exclusive and x.shape[axis]:
        pad = [(0, 0)] * x.ndim
        pad[axis] = (1, 0)
        v = np.pad(np.take(v, np.arange(v.shape[axis] - 1), axis), pad,
                   constant_values=ident)
    r = fn(v, axis=axis).astype(x.dtype)
    return np.flip(r, axis) if reverse else r


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
@pytest.mark.parametrize("i", range(len(OPS)), ids=[o[0] for o in OPS])
def test_values_eagerly_and_compiled(i: int, dtype: Any) -> None:
    """Every axis, exclusive and reverse eagerly; compiled on the rank-3 shape (one
    compile per combination: compiling is what costs here) and on size-0 shapes."""
    if OPS[i][0] == "cumulative_logsumexp" and dtype == np.int32:
        pytest.skip("floats only")
    op = OPS[i][1]
    f = tj.function(lambda t, axis, exclusive, reverse: op(t, axis, exclusive, reverse))
    for shape in [(3, 37), (5,), (0, 4), (4, 0), (2, 3, 4)]:
        x = rand(i, shape, 0.5, 1.5) * np.where(rand(i + 1, shape) > 0, 1, -1)
        x = np.round(x * 2).astype(dtype) if dtype == np.int32 else x.astype(dtype)
        for axis in range(-len(shape), len(shape)):
            for exclusive in (False, True):
                for reverse in (False, True):
                    want = _reference(i, x, axis % len(shape), exclusive, reverse)
                    got = [op(x, axis, exclusive, reverse).numpy()]
                    if len(shape) == 3 and axis >= 0 or 0 in shape and axis == 0:
                        got.append(f(x, axis, exclusive, reverse).numpy())
                    for g in got:
                        assert g.dtype == dtype and g.shape == shape
                        rtol = 1e-5 if dtype == np.float32 else 1e-13
                        np.testing.assert_allclose(g, want, rtol=rtol, atol=1e-6,
                                                   err_msg=f"{shape} {axis} {exclusive} "
                                                           f"{reverse}")


@pytest.mark.parametrize("i", range(len(OPS)), ids=[o[0] for o in OPS])
def test_gradients_orders_1_and_2(i: int) -> None:
    op = OPS[i][1]
    x = rand(40 + i, (3, 4), 0.5, 1.5)
    for axis, exclusive, reverse in [(0, False, False), (1, True, False), (1, False, True),
                                     (0, True, True)]:
        def f(t: Any, a: int = axis, e: bool = exclusive, r: bool = reverse) -> Any:
            y = op(t, a, e, r)
            return tj.exp(y) if i == 2 and e else y   # exp of the -inf in front is 0
        gradcheck(f, x)


def test_cumprod_gradient_is_exact_at_zeros() -> None:
    """TensorFlow 2.21 gives [3, 1, 0, 0, 0, 0] for x = [1, 2, 0, 3, 0, 4]: d/dx_2 of
    sum(cumprod(x)) is 1*2 + 1*2*3 = 8."""
    x = tj.constant([1.0, 2.0, 0.0, 3.0, 0.0, 4.0], tj.float64)
    with tj.GradientTape() as t:
        t.watch(x)
        y = tj.math.cumprod(x)
    np.testing.assert_array_equal(t.gradient(y, x).numpy(), [3, 1, 8, 0, 0, 0])
    xs = np.array([[1.0, 0.0, 2.0, 0.0, 3.0], [0.0, 1.5, 0.0, 0.0, 2.0],
                   [0.5, 1.5, 2.0, -1.0, 0.0]])
    for axis, exclusive, reverse in [(1, False, False), (1, True, False), (1, False, True),
                                     (1, True, True), (0, False, True), (0, True, False)]:
        def g(t: Any, a: int = axis, e: bool = exclusive, r: bool = reverse) -> Any:
            return tj.math.cumprod(t, a, e, r)
        gradcheck(g, xs, order=2)                 # zeros anywhere, also after a zero
        gradcheck(tj.function(g), xs, order=1)


def test_cumprod_second_derivative_is_exact_after_a_zero() -> None:
    """The Hessian rows of sum(cumprod(x)) at a zero, by hand: for x = [1, 2, 0, 3],
    d/dx_2 = x_0 x_1 (1 + x_3), so its row is [x_1 (1 + x_3), x_0 (1 + x_3), 0, x_0 x_1]
    = [8, 4, 0, 2]; a VJP that divides by x, or takes the gradient after the first zero as
    the constant 0, gives 0 for the element after the zero."""
    def hessian_row(x: np.ndarray, i: int, **kw: Any) -> np.ndarray:
        v = tj.constant(x)
        with tj.GradientTape() as t2:
            t2.watch(v)
            with tj.GradientTape() as t1:
                t1.watch(v)
                y = tj.reduce_sum(tj.math.cumprod(v, **kw))
            gi = t1.gradient(y, v)[i]
        return t2.gradient(gi, v).numpy()

    np.testing.assert_array_equal(hessian_row(np.array([1.0, 2, 0, 3]), 2), [8, 4, 0, 2])
    # d/dx_2 = x_0 x_1 (1 + x_3 + x_3 x_4)
    np.testing.assert_array_equal(hessian_row(np.array([1.0, 2, 0, 3, 5]), 2),
                                  [38, 19, 0, 12, 6])
    # reverse: d/dx_1 = x_2 x_3 (1 + x_0)
    np.testing.assert_array_equal(hessian_row(np.array([3.0, 0, 2, 1]), 1, reverse=True),
                                  [2, 0, 4, 8])
    # two zeros: d/dx_0 = 1 + x_1 + x_1 x_2
    np.testing.assert_array_equal(hessian_row(np.array([0.0, 0, 2]), 0), [0, 3, 0])


def test_tensorflow_values_dtypes_and_gradients() -> None:
    assert tj.cumsum(tj.constant([1, 2, 3, 4]), exclusive=True,
                     reverse=True).numpy().tolist() == [9, 7, 4, 0]
    np.testing.assert_array_equal(tj.math.cumprod([1.0, 2, 3, 4], exclusive=True).numpy(),
                                  [1, 1, 2, 6])
    np.testing.assert_array_equal(
        tj.math.cumprod([1.0, 2, 3, 4], exclusive=True, reverse=True).numpy(), [24, 12, 4, 1])
    np.testing.assert_allclose(
        tj.math.cumulative_logsumexp([1.0, 2, 3], exclusive=True).numpy(),
        [-np.inf, 1.0, 2.3132617473602295], rtol=1e-7)
    np.testing.assert_array_equal(
        tj.math.cumulative_logsumexp([-np.inf, -np.inf, 1.0]).numpy(), [-np.inf, -np.inf, 1])
    assert tj.math.cumprod(tj.constant([100000, 100000])).numpy().tolist() == [
        100000, 1410065408]                                   # int32 wraps, as TensorFlow
    assert tj.cumsum(tj.constant([[1, 2], [3, 4]]), axis=-1).numpy().tolist() == [[1, 3],
                                                                                  [3, 7]]
    assert tj.cumsum(tj.constant([1, 2]), axis=tj.constant(0)).numpy().tolist() == [1, 3]
    x = tj.constant([1.0, -np.inf, 3.0], tj.float64)
    with tj.GradientTape() as t:
        t.watch(x)
        y = tj.math.cumulative_logsumexp(x)
    np.testing.assert_allclose(t.gradient(y, x).numpy(), [2.11920292, 0, 0.88079708],
                               rtol=1e-8)


def test_errors() -> None:
    with pytest.raises(tj.DTypeError, match="cumsum needs a numeric tensor, got bool"):
        tj.cumsum(tj.constant([True, False]))
    with pytest.raises(tj.DTypeError, match="cumulative_logsumexp needs a float tensor"):
        tj.math.cumulative_logsumexp(tj.constant([1, 2]))
    with pytest.raises(tj.errors.AxisError, match="axis=1 is out of range"):
        tj.cumsum(tj.constant([1, 2]), axis=1)
    with pytest.raises(tj.errors.AxisError):
        tj.math.cumprod(tj.constant(3.0))


def test_native_scan_is_a_loop_not_unrolled() -> None:
    f = tj.function(lambda t: tj.math.cumsum(t, axis=0))
    small = f.lower(np.ones(1000, np.float32)).as_text("llvm")
    big = f.lower(np.ones(100_000, np.float32)).as_text("llvm")
    assert abs(len(big.splitlines()) - len(small.splitlines())) < 5
    np.testing.assert_array_equal(f(np.ones(10_000, np.float32)).numpy(),
                                  np.arange(1, 10_001, dtype=np.float32))
