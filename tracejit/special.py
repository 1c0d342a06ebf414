"""Special functions of `tj.math`: the error function family and the gamma family, with
TensorFlow's names and semantics.

`erf`, `erfc`, `lgamma`, `digamma` and `polygamma` are primitives (vector math within
4 ulp in native code, see `codegen.mathspecial` and `codegen.mathgamma`); float32 and
float64 only, as TensorFlow's kernels.
"""
from __future__ import annotations

from . import ops
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
