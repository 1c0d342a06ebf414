"""More of `tj.math`: `logaddexp`, the `_no_nan` products and quotients, `logical_xor`
and `reduce_euclidean_norm`, with TensorFlow's names and semantics.

`logaddexp` and `multiply_no_nan` are primitives (their gradients are exact where a
composition's would not be: logaddexp's is 1/2 at x == y, multiply_no_nan's d/dy is x
where y == 0, as TensorFlow's MulNoNan gradient); `divide_no_nan`, `logical_xor` and
`reduce_euclidean_norm` are compositions of primitives, whose gradients, batching and
native code come from those.
"""
from __future__ import annotations

from typing import Any

from . import ops
from .convert import _axes, _operands, _user_error, bool_, cast, convert_to_tensor, float64
from .exports import export
from .ir.core import bind
from .ir.errors import DTypeError
from .tensor import Tensor, TensorInput


def _float_operands(op: str, x: TensorInput, y: TensorInput) -> list[Tensor]:
    a, b = _operands(op, x, y)
    if a.dtype.kind != "f":
        raise _user_error(DTypeError(f"{op} needs float tensors, got {a.dtype.name}; use "
                                     "tj.cast"))
    return [a, b]


@export("math.logaddexp")
def logaddexp(x1: TensorInput, x2: TensorInput, name: str | None = None) -> Tensor:
    """log(exp(x1) + exp(x2)) elementwise with broadcasting, without overflow (NumPy's and
    `tf.experimental.numpy.logaddexp`'s function); floats only. Its gradient is
    sigmoid(x1 - x2) and sigmoid(x2 - x1): 1/2 each where x1 == x2 (TensorFlow's
    composition gives 1 and 0 there).

    >>> tj.math.logaddexp([0., 1000.], [0., 1000.]).numpy()
    array([6.9314718e-01, 1.0006932e+03], dtype=float32)
    """
    return bind("logaddexp", *_float_operands("logaddexp", x1, x2))


@export("math.multiply_no_nan")
def multiply_no_nan(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    """x * y, but 0 where y is 0 even if x is inf or NaN; floats only. Gradients as
    TensorFlow's: multiply_no_nan(dy, y) for x and multiply_no_nan(x, dy) for y.

    >>> tj.math.multiply_no_nan([float("inf"), 2.], [0., 3.]).numpy()
    array([0., 6.], dtype=float32)
    """
    return bind("mul_no_nan", *_float_operands("multiply_no_nan", x, y))


@export("math.divide_no_nan")
def divide_no_nan(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    """x / y, but 0 where y is 0 (even for 0 / 0 and inf / 0); integers divide to float64,
    as `tj.divide` and TensorFlow. Where y is 0 both gradients are 0.

    >>> tj.math.divide_no_nan([1., 0., 3.], [0., 0., 2.]).numpy()
    array([0. , 0. , 1.5], dtype=float32)
    """
    a, b = _operands("divide_no_nan", x, y)
    if a.dtype.kind in "iub":
        a, b = cast(a, float64), cast(b, float64)
    zero = ops.equal(b, 0)
    safe = ops.where(zero, ops.ones_like(b), b)
    return ops.where(zero, ops.zeros_like(a), ops.divide(a, safe))


@export("math.reciprocal_no_nan")
def reciprocal_no_nan(x: TensorInput, name: str | None = None) -> Tensor:
    """1 / x, but 0 where x is 0 (either sign), as `divide_no_nan(1, x)`; float tensors
    only, as TensorFlow's.

    >>> tj.math.reciprocal_no_nan([0., 2., -0.]).numpy()
    array([0. , 0.5, 0. ], dtype=float32)
    """
    t = ops.convert_to_tensor(x)
    if t.dtype.kind != "f":
        raise _user_error(DTypeError(f"reciprocal_no_nan: x must be a float tensor, got "
                                     f"{t.dtype}"))
    return divide_no_nan(ops.ones_like(t), t)


@export("math.xdivy")
def xdivy(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    """x / y, but 0 where x is 0 (even where y is 0), as TensorFlow's; where x is 0 both
    gradients are 0.

    >>> tj.math.xdivy([0., 1., 0., 2.], [0., 0., 2., 4.]).numpy()
    array([0. , inf, 0. , 0.5], dtype=float32)
    """
    a, b = _operands("xdivy", x, y)
    if a.dtype.kind != "f":
        raise _user_error(DTypeError(f"xdivy: x and y must be float tensors, got {a.dtype}"))
    zero = ops.equal(a, 0)
    safe = ops.where(zero, ops.ones_like(b), b)
    return ops.where(zero, ops.zeros_like(ops.divide(a, safe)), ops.divide(a, safe))


@export("math.polyval")
def polyval(coeffs: Any, x: TensorInput, name: str | None = None) -> Tensor:
    """`coeffs[0] * x**(n-1) + ... + coeffs[n-1]` by Horner's rule, as TensorFlow's:
    `coeffs` is a Python list (of numbers or tensors); an empty one gives zeros like `x`.

    >>> tj.math.polyval([1., 2., 3.], tj.constant([0., 1., 2.])).numpy()
    array([ 3.,  6., 11.], dtype=float32)
    """
    if not isinstance(coeffs, list):
        raise _user_error(ValueError(f"polyval: coeffs must be a list, got "
                                     f"{type(coeffs).__name__}"))
    t = convert_to_tensor(x)
    if not coeffs:
        return ops.zeros_like(t)
    p = convert_to_tensor(coeffs[0], dtype_hint=t.dtype)
    for c in coeffs[1:]:
        p = ops.add(c, ops.multiply(p, t))
    return p


@export("math.logical_xor")
def logical_xor(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    """x != y for bool tensors, elementwise with broadcasting.

    >>> tj.math.logical_xor([True, True, False], [True, False, False]).numpy()
    array([False,  True, False])
    """
    a, b = _operands("logical_xor", x, y)
    if a.dtype != bool_:
        raise _user_error(DTypeError(f"logical_xor needs bool tensors, got {a.dtype.name}"))
    return bind("ne", a, b)


@export("math.reduce_euclidean_norm")
def reduce_euclidean_norm(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
                          name: str | None = None) -> Tensor:
    """sqrt(sum(x**2)) over `axis` (all axes when None). Integer tensors give the integer
    part of the norm of their (wrapping) sum of squares, as TensorFlow's kernel; no scaling
    against overflow (also as TensorFlow). The gradient at an all-zero slice is NaN, as
    TensorFlow's.

    >>> tj.math.reduce_euclidean_norm([[3., 4.], [5., 12.]], axis=1).numpy()
    array([ 5., 13.], dtype=float32)
    """
    x = convert_to_tensor(input_tensor)
    if x.dtype == bool_:
        raise _user_error(DTypeError("reduce_euclidean_norm needs a numeric tensor, got bool"))
    axes = list(_axes("reduce_euclidean_norm", axis, x.ndim))
    s = ops.reduce_sum(ops.multiply(x, x), axes, keepdims)
    if x.dtype.kind in "iu":
        return cast(ops.sqrt(cast(s, float64)), x.dtype)
    return ops.sqrt(s)
