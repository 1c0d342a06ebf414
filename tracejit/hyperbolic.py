"""Hyperbolic functions and their inverses, and exponentials and logarithms to bases 2
and 10, with TensorFlow's names.

Each is a composition of primitives (exp, expm1, log, log1p, sqrt, pow), so its gradient,
batching and native code come from theirs. The forms avoid cancellation: `sinh` of a small
x is built from expm1 (never exp(x) - exp(-x)), `asinh` and `acosh` from log1p, `atanh`
from a difference of two log1p of opposite sign. An odd function is computed on |x| and
given the sign of x back through a `where` whose |x| has derivative +-1 (never abs's 0 at
x = 0, which would lose the gradient there). Each `where` branch not taken sees a clamped
argument, so it neither overflows nor sends NaN into a gradient; a NaN x takes the
branch whose gradient is NaN (as TensorFlow's), never a clamp's constant. Measured
against NumPy: within 3 ulp (float32 and float64) over [-89, 89] (sinh, cosh), the whole
positive range (asinh, acosh) and (-1, 1) (atanh); see tests/test_hyperbolic.py.
"""
from __future__ import annotations

import math
from typing import Any

from .convert import _float_tensor, cast, float32, float64
from .creation import zeros_like
from .elementwise import (abs, add, divide, equal, exp, expm1, floor, greater_equal, less,
                          log, log1p, logical_and, logical_or, maximum, minimum, multiply,
                          negative, pow, sqrt, stop_gradient, subtract, where)
from .exports import export
from .tensor import Tensor, TensorInput

# Above this |x|, exp(-|x|) is below half an ulp of exp(|x|) in float64 (e**-40 < 2**-53):
# sinh and cosh are exp(|x|) / 2, computed as (exp(|x|/2) / 2) * exp(|x|/2) so that the
# result stays finite up to the largest x whose sinh is (exp(|x|) itself overflows first).
_BIG_EXP = 20.0
# Above this x, 1/x**2 is below an ulp of 1 in float64: asinh(x) and acosh(x) are
# log(x) + log(2) (and x**2 may overflow).
_BIG_LOG = 2.0 ** 28
# Below these, exp(x) is finite in float32 and float64 (by itemsize).
_EXP_SAFE = {4: 88.0, 8: 709.0}
_LN2 = math.log(2.0)


def _at_most(y: Tensor, c: float) -> Tensor:
    """minimum(y, c), whose gradient also reaches a NaN y (minimum's, TensorFlow's, sends
    it to c there, which made the gradient of sinh at NaN 0 instead of NaN)."""
    return where(greater_equal(y, c), minimum(y, c), y)


def _odd(x: Tensor, f: Any) -> Tensor:
    """f(|x|) with the sign of x, for an odd f with f'(0) = 1 that is given |x| with
    derivative +-1; x itself at +-0 (keeping its sign, with derivative 1)."""
    pos = greater_equal(x, 0.0)
    r = f(where(pos, x, negative(x)))
    return where(equal(x, 0.0), x, where(pos, r, negative(r)))


def _sinh_abs(y: Tensor) -> Tensor:
    e = expm1(_at_most(y, _BIG_EXP))           # sinh = (e + e / (e + 1)) / 2, no cancelling
    near = multiply(add(e, divide(e, add(e, 1.0))), 0.5)
    return where(greater_equal(y, _BIG_EXP), _half_exp(y), near)   # NaN: near


def _half_exp(y: Tensor) -> Tensor:
    """exp(y) / 2 for y >= _BIG_EXP (clamped up to it), finite wherever the result is:
    exp(y) * 0.5 (one rounding) while exp(y) is finite, then (exp(y/2) * 0.5) * exp(y/2)."""
    y = maximum(y, _BIG_EXP)
    safe = _EXP_SAFE[y.dtype.itemsize]
    once = multiply(exp(minimum(y, safe)), 0.5)
    t = exp(multiply(maximum(y, safe), 0.5))
    return where(less(y, safe), once, multiply(multiply(t, 0.5), t))


@export("sinh", "math.sinh")
def sinh(x: TensorInput, name: str | None = None) -> Tensor:
    """The hyperbolic sine, (exp(x) - exp(-x)) / 2, elementwise; its gradient is cosh.

    >>> tj.sinh([0., 1.]).numpy()
    array([0.       , 1.1752012], dtype=float32)
    """
    return _odd(_float_tensor("sinh", x), _sinh_abs)


@export("cosh", "math.cosh")
def cosh(x: TensorInput, name: str | None = None) -> Tensor:
    """The hyperbolic cosine, (exp(x) + exp(-x)) / 2, elementwise; its gradient is sinh.

    >>> tj.cosh([0., 1.]).numpy()
    array([1.       , 1.5430807], dtype=float32)
    """
    x = _float_tensor("cosh", x)
    pos = greater_equal(x, 0.0)
    y = where(pos, x, negative(x))              # |x| with derivative +-1 (also at 0)
    e = exp(_at_most(y, _BIG_EXP))
    near = multiply(add(e, divide(1.0, e)), 0.5)
    return where(greater_equal(y, _BIG_EXP), _half_exp(y), near)


def _asinh_abs(y: Tensor) -> Tensor:
    s = _at_most(y, _BIG_LOG)
    s2 = multiply(s, s)   # asinh = log1p(y + y**2 / (1 + sqrt(1 + y**2))), no cancelling
    near = log1p(add(s, divide(s2, add(sqrt(add(s2, 1.0)), 1.0))))
    far = add(log(maximum(y, _BIG_LOG)), _LN2)
    return where(greater_equal(y, _BIG_LOG), far, near)


@export("asinh", "math.asinh")
def asinh(x: TensorInput, name: str | None = None) -> Tensor:
    """The inverse hyperbolic sine, log(x + sqrt(x**2 + 1)), elementwise; its gradient is
    1 / sqrt(x**2 + 1).

    >>> tj.asinh([0., 1.]).numpy()
    array([0.       , 0.8813736], dtype=float32)
    """
    return _odd(_float_tensor("asinh", x), _asinh_abs)


@export("acosh", "math.acosh")
def acosh(x: TensorInput, name: str | None = None) -> Tensor:
    """The inverse hyperbolic cosine, log(x + sqrt(x**2 - 1)) for x >= 1 (NaN below 1),
    elementwise; its gradient is 1 / sqrt(x**2 - 1) (infinite at 1).

    >>> tj.acosh([1., 2.]).numpy()
    array([0.      , 1.316958], dtype=float32)
    """
    x = _float_tensor("acosh", x)
    t = subtract(_at_most(x, _BIG_LOG), 1.0)   # exact for x in [1, 2]
    # sqrt(t) * sqrt(t + 2), not sqrt(t * (t + 2)): at x = 1 the derivative is inf, not
    # inf * 0 = NaN through the product's other factor.
    near = log1p(add(t, multiply(sqrt(t), sqrt(add(t, 2.0)))))
    far = add(log(maximum(x, _BIG_LOG)), _LN2)
    return where(greater_equal(x, _BIG_LOG), far, near)


@export("atanh", "math.atanh")
def atanh(x: TensorInput, name: str | None = None) -> Tensor:
    """The inverse hyperbolic tangent, log((1 + x) / (1 - x)) / 2 for |x| < 1 (+-inf at
    +-1, NaN beyond), elementwise; its gradient is 1 / (1 - x**2).

    >>> tj.atanh([0., 0.5]).numpy()
    array([0.        , 0.54930615], dtype=float32)
    """
    x = _float_tensor("atanh", x)
    return multiply(subtract(log1p(x), log1p(negative(x))), 0.5)


@export("math.exp2")
def exp2(x: TensorInput, name: str | None = None) -> Tensor:
    """2 ** x, elementwise (TensorFlow's `experimental.numpy.exp2`, `pow(2, x)`), exact at
    integer x.

    >>> tj.math.exp2([3., -1.]).numpy()
    array([8. , 0.5], dtype=float32)
    """
    x = _float_tensor("exp2", x)
    if x.dtype == float32:     # NumPy's float32 pow (eager) is an ulp off at 2**127
        return cast(pow(2.0, cast(x, float64)), float32)
    return pow(2.0, x)


def _log_base(op: str, x: TensorInput, base: float) -> Tensor:
    """log(x) / log(base) (TensorFlow's form), exact where x is the float nearest an
    integer power of `base` (as NumPy's log2 and log10 are: log2(8) is 3, never
    2.9999999999999996), which holds while base**|k| is exact (10**22 in float64).
    float32 goes through float64, which rounds it correctly there."""
    x = _float_tensor(op, x)
    if x.dtype == float32:
        return cast(_log_base(op, cast(x, float64), base), float32)
    r = divide(log(x), math.log(base))
    k = floor(add(r, 0.5))
    # base**k, or 1 / base**-k: correctly rounded for k < 0 where base**-k is exact
    # (native pow(10, -4) is an ulp off).
    hit = logical_or(equal(pow(base, k), x), equal(divide(1.0, pow(base, negative(k))), x))
    exact = logical_and(hit, less(abs(r), 1100.0))
    # r + (k - r) is k exactly (k - r is exact, the two being that close); the correction
    # is a constant for the gradient, 1 / (x log(base)).
    return add(r, stop_gradient(where(exact, subtract(k, r), zeros_like(r))))


@export("math.log2")
def log2(x: TensorInput, name: str | None = None) -> Tensor:
    """The base-2 logarithm, elementwise (TensorFlow's `experimental.numpy.log2`, exact at
    powers of 2 as NumPy's).

    >>> tj.math.log2([8., 0.5]).numpy()
    array([ 3., -1.], dtype=float32)
    """
    return _log_base("log2", x, 2.0)


@export("math.log10")
def log10(x: TensorInput, name: str | None = None) -> Tensor:
    """The base-10 logarithm, elementwise (TensorFlow's `experimental.numpy.log10`, exact
    at powers of 10 as NumPy's).

    >>> tj.math.log10([100., 0.1]).numpy()
    array([ 2., -1.], dtype=float32)
    """
    return _log_base("log10", x, 10.0)
