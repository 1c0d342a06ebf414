"""More of `tj.math`: rounding, reciprocals, float classification and the `x log y` family,
with TensorFlow's names and semantics.

`ceil` and `round` (also `rint`) are primitives; the others are compositions of
primitives, so their gradients, batching and native code come from those, and are exact
where TensorFlow's are: `xlogy(0, y)` is 0 with zero gradients for every y (never
`0 * log 0 = NaN`), as TensorFlow's `xlogy` is.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .errors import at_user_line
from .exports import export
from .ir.core import bind
from .ir.errors import DTypeError
from .tensor import Tensor, TensorInput



@export("math.ceil")
def ceil(x: TensorInput, name: str | None = None) -> Tensor:
    """The smallest integer not less than x, elementwise (no gradient, as in TensorFlow).

    >>> tj.math.ceil([-1.5, 0.2]).numpy()
    array([-1.,  1.], dtype=float32)
    """
    return bind("ceil", ops._float_tensor("ceil", x))


@export("round", "math.round")
def round(x: TensorInput, name: str | None = None) -> Tensor:  # noqa: A001
    """x rounded to the nearest integer, halves to even (banker's rounding, as TensorFlow
    and NumPy); integer tensors are returned as they are. No gradient.

    >>> tj.round([0.5, 1.5, 2.5, -0.5]).numpy()
    array([ 0.,  2.,  2., -0.], dtype=float32)
    """
    t = ops.convert_to_tensor(x)
    if t.dtype.kind in "iu":
        return ops.identity(t)
    return bind("round", ops._float_tensor("round", t))


@export("math.rint")
def rint(x: TensorInput, name: str | None = None) -> Tensor:
    """x rounded to the nearest integer, halves to even (`tj.round` for floats).

    >>> tj.math.rint([-1.5, 2.5]).numpy()
    array([-2.,  2.], dtype=float32)
    """
    return bind("round", ops._float_tensor("rint", x))


@export("math.reciprocal")
def reciprocal(x: TensorInput, name: str | None = None) -> Tensor:
    """1 / x elementwise, for floats.

    >>> tj.math.reciprocal([2., 0.]).numpy()
    array([0.5, inf], dtype=float32)
    """
    return bind("reciprocal", ops._float_tensor("reciprocal", x))


@export("math.rsqrt")
def rsqrt(x: TensorInput, name: str | None = None) -> Tensor:
    """1 / sqrt(x) elementwise, for floats.

    >>> tj.math.rsqrt([4., 0.25]).numpy()
    array([0.5, 2. ], dtype=float32)
    """
    return bind("rsqrt", ops._float_tensor("rsqrt", x))


@export("atan2", "math.atan2")
def atan2(y: TensorInput, x: TensorInput, name: str | None = None) -> Tensor:
    """The angle of the point (x, y) in (-pi, pi], elementwise with broadcasting, for
    floats (C99's and NumPy's special cases: `atan2(0., -0.)` is pi).

    >>> tj.math.atan2([1., -1.], [0., -1.]).numpy()
    array([ 1.5707964, -2.3561945], dtype=float32)
    """
    a, b = ops._operands("atan2", y, x)
    if a.dtype.kind != "f":
        raise at_user_line(DTypeError(f"atan2 needs float tensors, got {a.dtype.name}; "
                                      "use tj.cast"))
    return bind("atan2", a, b)


@export("atan", "math.atan")
def atan(x: TensorInput, name: str | None = None) -> Tensor:
    """The inverse tangent, in [-pi/2, pi/2], for floats.

    >>> tj.atan([1., -float("inf")]).numpy()
    array([ 0.7853982, -1.5707964], dtype=float32)
    """
    return bind("atan", ops._float_tensor("atan", x))


@export("asin", "math.asin")
def asin(x: TensorInput, name: str | None = None) -> Tensor:
    """The inverse sine, in [-pi/2, pi/2]; NaN where |x| > 1. For floats.

    >>> tj.asin([1., 0.5]).numpy()
    array([1.5707964, 0.5235988], dtype=float32)
    """
    return bind("asin", ops._float_tensor("asin", x))


@export("acos", "math.acos")
def acos(x: TensorInput, name: str | None = None) -> Tensor:
    """The inverse cosine, in [0, pi]; NaN where |x| > 1. For floats.

    >>> tj.acos([1., -1.]).numpy()
    array([0.       , 3.1415927], dtype=float32)
    """
    return bind("acos", ops._float_tensor("acos", x))


@export("math.squared_difference")
def squared_difference(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    """(x - y) ** 2 elementwise, with broadcasting; ints and floats.

    >>> tj.math.squared_difference([1, 2], 5).numpy()
    array([16,  9], dtype=int32)
    """
    d = ops.subtract(x, y)
    return ops.multiply(d, d)


@export("math.is_nan")
def is_nan(x: TensorInput, name: str | None = None) -> Tensor:
    """Whether each element is NaN (bool), for floats.

    >>> tj.math.is_nan([1., float("nan")]).numpy()
    array([False,  True])
    """
    t = ops._float_tensor("is_nan", x)
    return ops.not_equal(t, t)


@export("math.is_inf")
def is_inf(x: TensorInput, name: str | None = None) -> Tensor:
    """Whether each element is +inf or -inf (bool), for floats.

    >>> tj.math.is_inf([1., -float("inf")]).numpy()
    array([False,  True])
    """
    t = ops._float_tensor("is_inf", x)
    return ops.equal(ops.abs(t), np.inf)


@export("math.is_finite")
def is_finite(x: TensorInput, name: str | None = None) -> Tensor:
    """Whether each element is finite (neither inf nor NaN; bool), for floats.

    >>> tj.math.is_finite([1., float("inf"), float("nan")]).numpy()
    array([ True, False, False])
    """
    t = ops._float_tensor("is_finite", x)
    return ops.less(ops.abs(t), np.inf)


def _x_times(op: str, x: Any, y: Any, log: Any, zero_arg: float) -> Tensor:
    """x * log(y), 0 where x == 0. The log sees `zero_arg` where x == 0, so neither the
    value nor any gradient there meets `0 * log(0)`."""
    a, b = ops._operands(op, x, y)
    if a.dtype.kind != "f":
        raise at_user_line(DTypeError(f"{op} needs float tensors, got {a.dtype.name}; "
                                      "use tj.cast"))
    zero = ops.equal(a, 0.0)
    safe = ops.where(zero, ops.fill(b.shape, zero_arg, dtype=b.dtype), b)
    return ops.where(zero, ops.zeros_like(ops.multiply(a, safe)), ops.multiply(a, log(safe)))


@export("math.xlogy")
def xlogy(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    """x * log(y), and 0 where x is 0 (even for y = 0), with broadcasting.

    >>> tj.math.xlogy([0., 2.], [0., 1.]).numpy()
    array([0., 0.], dtype=float32)
    """
    return _x_times("xlogy", x, y, ops.log, 1.0)


@export("math.xlog1py")
def xlog1py(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    """x * log1p(y), and 0 where x is 0 (even for y = -1), with broadcasting.

    >>> tj.math.xlog1py([0., 2.], [-1., 0.]).numpy()
    array([0., 0.], dtype=float32)
    """
    return _x_times("xlog1py", x, y, ops.log1p, 0.0)


@export("math.log_sigmoid")
def log_sigmoid(x: TensorInput, name: str | None = None) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), stable for any |x|.

    >>> tj.math.log_sigmoid([0.]).numpy()
    array([-0.6931472], dtype=float32)
    """
    return ops.negative(ops.softplus(ops.negative(ops._float_tensor("log_sigmoid", x))))
