"""Special functions of `tj.math`: the error function family and the gamma family, with
TensorFlow's names and semantics.

`erf`, `erfc`, `lgamma`, `digamma` and `polygamma` are primitives (vector math within
4 ulp in native code, see `codegen.mathspecial` and `codegen.mathgamma`); float32 and
float64 only, as TensorFlow's kernels. `erfinv` and `ndtri` are composites of them (an
initial approximation and two Halley steps on erf/erfc, in float64) with TensorFlow's
gradient formulas as custom gradients: within 2 ulp in float32 and float64.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import ops
from .custom import custom_gradient
from .arith import _float_operands
from .exports import export
from .ir.core import bind
from .tensor import Tensor, TensorInput


@export("math.erf")
def erf(x: TensorInput, name: str | None = None) -> Tensor:
    """The error function, 2/sqrt(pi) times the integral of exp(-t^2) from 0 to x,
    elementwise; its gradient is 2/sqrt(pi) exp(-x^2).

    >>> tj.math.erf([-1., 0., 0.5]).numpy()
    array([-0.8427008,  0.       ,  0.5204999], dtype=float32)
    """
    return bind("erf", ops._float_tensor("erf", x))


@export("math.erfc")
def erfc(x: TensorInput, name: str | None = None) -> Tensor:
    """The complementary error function 1 - erf(x), elementwise, accurate where it is
    tiny (large x) instead of cancelling to 0; gradient -2/sqrt(pi) exp(-x^2).

    >>> tj.math.erfc([-1., 0., 3.]).numpy()
    array([1.8427008e+00, 1.0000000e+00, 2.2090497e-05], dtype=float32)
    """
    return bind("erfc", ops._float_tensor("erfc", x))


@export("math.lgamma")
def lgamma(x: TensorInput, name: str | None = None) -> Tensor:
    """log|Gamma(x)|, elementwise; +inf at the poles (0 and the negative integers) and at
    +-inf, as TensorFlow's. Its gradient is `digamma(x)`.

    >>> tj.math.lgamma([0.5, 1., 3., -2.5]).numpy()
    array([ 0.5723649 ,  0.        ,  0.6931472 , -0.05624372], dtype=float32)
    """
    return bind("lgamma", ops._float_tensor("lgamma", x))


@export("math.digamma")
def digamma(x: TensorInput, name: str | None = None) -> Tensor:
    """psi(x), the derivative of `lgamma`, elementwise; NaN at the poles (0 and the
    negative integers) and at -inf, as TensorFlow's. Its gradient is `polygamma(1, x)`.

    >>> tj.math.digamma([1., 2., -0.5]).numpy()
    array([-0.5772157 ,  0.42278433,  0.03648997], dtype=float32)
    """
    return bind("digamma", ops._float_tensor("digamma", x))


@export("math.polygamma")
def polygamma(a: TensorInput, x: TensorInput, name: str | None = None) -> Tensor:
    """psi^(a)(x), the a-th derivative of `digamma`, elementwise with broadcasting (`a` = 0
    is `digamma`); NaN unless `a` is a non-negative integer; at the poles +inf for odd
    `a` and NaN for even `a`. `a` and `x` are float tensors of one dtype (a Python
    number takes the other's). The gradient for `x` is `polygamma(a + 1, x)`; `a` has
    none (None), as in TensorFlow.

    >>> tj.math.polygamma(1., [1., 2.]).numpy()
    array([1.644934  , 0.64493406], dtype=float32)
    """
    return bind("polygamma", *_float_operands("polygamma", a, x))


# Giles' single-precision approximation of erfinv ("Approximating the erfinv function",
# GPU Computing Gems, 2011), highest degree first: erfinv(x) ~ x P(w) with
# w = -log((1 - x)(1 + x)), P in w - 2.5 below w = 5 and in sqrt(w) - 3 above.
_GILES_SMALL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_BIG = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
              0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _full(like: Tensor, v: float) -> Tensor:
    return ops.add(ops.zeros_like(like), v)


def _poly(coefs: tuple[float, ...], w: Tensor) -> Tensor:
    p = _full(w, coefs[0])
    for c in coefs[1:]:
        p = ops.add(ops.multiply(p, w), c)
    return p


def _erfinv_abs(a: Tensor, t: Tensor) -> Tensor:
    """erfinv(a) of float64 a in [0, 1), given t = 1 - a exactly (for a >= 1/2): Giles'
    approximation (relative error below 4e-7 for w < 16), or for w >= 16 (1 - a < 6e-8)
    the asymptotic y^2 = L - log(sqrt(pi) y) - log(1 - 1/(2 y^2)), L = -log(1 - a) (error
    below 2e-3); then two Halley steps on erf(y) = a, whose residual is erfc(y) - t where
    that is the accurate form. The result is within about 1 ulp of erfinv in float64
    (tests/test_special_inverse.py sweeps every binade of a and of 1 - a). Each branch
    sees only arguments it is defined for, so derivatives of this computation (the second
    and higher ones of erfinv and ndtri) are finite wherever erfinv is."""
    w = ops.negative(ops.log(ops.multiply(t, ops.add(a, 1.0))))
    below = ops.less(w, 5.0)
    tail = ops.greater_equal(w, 16.0)
    small = _poly(_GILES_SMALL, ops.subtract(ops.where(below, w, _full(w, 2.5)), 2.5))
    big = _poly(_GILES_BIG, ops.subtract(ops.sqrt(ops.where(below, _full(w, 9.0), w)), 3.0))
    big_l = ops.negative(ops.log(ops.where(tail, t, _full(t, 2.0 ** -30))))
    y0s = ops.subtract(big_l, ops.log(ops.multiply(ops.sqrt(big_l), math.sqrt(math.pi))))
    y1s = ops.subtract(ops.subtract(big_l, ops.log(ops.multiply(ops.sqrt(y0s),
                                                                  math.sqrt(math.pi)))),
                       ops.log1p(ops.divide(-0.5, y0s)))
    y = ops.where(tail, ops.sqrt(y1s), ops.multiply(ops.where(below, small, big), a))
    for _ in range(2):
        # f = erf(y) - a; Halley's step for erf, whose f''/f' = -2y: y - f / (f' + y f).
        f = ops.where(ops.less(a, 0.5), ops.subtract(erf(y), a), ops.subtract(t, erfc(y)))
        d = ops.multiply(ops.exp(ops.negative(ops.square(y))), 2.0 / math.sqrt(math.pi))
        y = ops.subtract(y, ops.divide(f, ops.add(d, ops.multiply(y, f))))
    return y


def _special_inverse(op: str, x: TensorInput, value: Any, grad_scale: Any) -> Tensor:
    """The inverse `value` (float64 in and out; float32 is computed in float64 and rounded
    once) as a custom-gradient op whose gradient is TensorFlow's formula `g *
    grad_scale(result)`; that formula differentiates again through the result's own
    computation, whose last Halley step makes its derivative erfinv's (second derivatives
    measured within 2e-14 relative of mpmath's over the ranges the tests sweep)."""
    t = ops._float_tensor(op, x)

    @custom_gradient
    def inverse(v: Tensor) -> tuple[Tensor, Any]:
        out = ops.cast(value(ops.cast(v, np.float64)), v.dtype)

        def grad(g: Tensor) -> Tensor:
            return ops.multiply(g, grad_scale(out))
        return out, grad
    return inverse(t)


def _erfinv64(x: Tensor) -> Tensor:
    a = ops.abs(x)
    t = ops.subtract(1.0, a)
    y = ops.where(ops.equal(t, 0.0), _full(x, np.inf), _erfinv_abs(a, t))
    return ops.where(ops.greater(a, 1.0), _full(x, np.nan),
                     _copysign(y, x))


def _copysign(y: Tensor, x: Tensor) -> Tensor:
    """|y| with the sign of x (y >= 0 or NaN; -0.0 keeps its sign)."""
    return ops.where(ops.less(x, 0.0), ops.negative(y),
                     ops.where(ops.equal(x, 0.0), x, y))


def _ndtri64(p: Tensor) -> Tensor:
    lower = ops.less(p, 0.5)
    q = ops.where(lower, p, ops.subtract(1.0, p))         # exact: 1 - p for p >= 1/2
    t = ops.multiply(q, 2.0)
    y = ops.multiply(_erfinv_abs(ops.subtract(1.0, t), t), math.sqrt(2.0))
    y = ops.where(ops.equal(q, 0.0), _full(p, np.inf), y)
    y = ops.where(lower, ops.negative(y), y)
    bad = ops.logical_or(ops.less(p, 0.0), ops.greater(p, 1.0))
    return ops.where(bad, _full(p, np.nan), y)


@export("math.erfinv")
def erfinv(x: TensorInput, name: str | None = None) -> Tensor:
    """The inverse of `erf`, elementwise: +-inf at +-1, NaN beyond; within about 1 ulp in
    float32 and float64. Its gradient is sqrt(pi)/2 exp(erfinv(x)^2), as TensorFlow's.

    >>> tj.math.erfinv([-0.5, 0., 0.9]).numpy()
    array([-0.47693628,  0.        ,  1.1630871 ], dtype=float32)
    """
    return _special_inverse("erfinv", x, _erfinv64, lambda y: ops.multiply(
        ops.exp(ops.square(y)), math.sqrt(math.pi) / 2))


@export("math.ndtri")
def ndtri(x: TensorInput, name: str | None = None) -> Tensor:
    """The quantile function of the standard normal distribution (the inverse of its CDF),
    elementwise: -inf at 0, +inf at 1, NaN outside [0, 1]; accurate in both tails (about
    1.5 ulp). Its gradient is sqrt(2 pi) exp(ndtri(x)^2 / 2), as TensorFlow's.

    >>> tj.math.ndtri([0.025, 0.5, 0.975]).numpy()
    array([-1.959964 ,  0.       ,  1.9599644], dtype=float32)
    """
    return _special_inverse("ndtri", x, _ndtri64, lambda y: ops.multiply(
        ops.exp(ops.multiply(ops.square(y), 0.5)), math.sqrt(2.0 * math.pi)))
