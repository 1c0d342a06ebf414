"""More elementwise arithmetic: `logaddexp`, `mul_no_nan` and integer `ipow`.

Invariants: binary elementwise primitives (NumPy broadcasting, one dtype, see
`elementwise.binary`). `logaddexp` and `mul_no_nan` take floats and have exact VJPs
written with `bind`; `ipow` takes integers, wraps on overflow as NumPy's integer power
does, and has no gradient (TensorFlow registers none for integers).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..core import INT_DTYPES, bind
from .elementwise import binary


def _logaddexp_vjp(g: Any, x: Any, y: Any, *, out: Any) -> tuple[Any, Any]:
    # d/dx log(e^x + e^y) = e^x / (e^x + e^y) = sigmoid(x - y): 1/2 each at x == y (the
    # function is smooth there), NaN where both are -inf or both +inf (as TensorFlow's).
    return ops.mul(g, ops.logistic(ops.sub(x, y))), ops.mul(g, ops.logistic(ops.sub(y, x)))


# log(exp(x) + exp(y)) without overflow: max(x, y) + log1p(exp(-|x - y|)) (NumPy's formula).
binary("logaddexp", lambda x, y: np.logaddexp(x, y), _logaddexp_vjp,
       allowed=(np.dtype(np.float32), np.dtype(np.float64)), cost=80)


def _mul_no_nan(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        r = np.where(y == 0, np.zeros((), np.asarray(x).dtype), np.multiply(x, y))
    return np.asarray(r, dtype=np.result_type(x, y))


def _mul_no_nan_vjp(g: Any, x: Any, y: Any, *, out: Any) -> tuple[Any, Any]:
    # TensorFlow's MulNoNan gradient: mul_no_nan(g, y) and mul_no_nan(x, g), so d/dy is x
    # where y == 0 (the derivative of x * y), and 0 wherever the cotangent is 0.
    return bind("mul_no_nan", g, y), bind("mul_no_nan", x, g)


# x * y, but 0 where y == 0 even if x is inf or NaN.
binary("mul_no_nan", _mul_no_nan, _mul_no_nan_vjp,
       allowed=(np.dtype(np.float32), np.dtype(np.float64)), cost=3)


def _ipow(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x ** y for integers, wrapping; a negative y gives the integer part of 1 / x^|y|
    (1 for x = 1, +-1 for x = -1, 0 otherwise, also for x = 0: the user API refuses
    negative exponents eagerly, as TensorFlow does)."""
    x, y = np.broadcast_arrays(np.asarray(x), np.asarray(y))
    dt = x.dtype
    yp = np.where(y < 0, 0, y)
    with np.errstate(over="ignore"):
        r = np.power(x, yp, dtype=dt)
    neg = np.where(x == 1, 1, np.where(x == -1, np.where(y % 2 == 0, 1, -1), 0)).astype(dt)
    return np.asarray(np.where(y < 0, neg, r), dtype=dt)


binary("ipow", _ipow, lambda g, x, y, *, out: (None, None), allowed=INT_DTYPES,
       gradient="none", cost=160)  # 31 branch-free square-and-multiply steps (int32)
