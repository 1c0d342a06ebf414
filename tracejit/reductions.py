"""Reductions over axes: sums, extrema, products, means and moments, logsumexp, logical
all/any and counts, argmax and argmin, norms.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .convert import (_axes, _axis, _dtype, _user_error, bool_, cast, convert_to_tensor,
                      int32, int64)
from .creation import zeros_like
from .elementwise import (abs, add, divide, equal, exp, floordiv, greater, less, log,
                          logical_and, multiply, not_equal, pow, sqrt, stop_gradient, subtract,
                          where)
from .exports import export, named
from .dimvalues import dim_value
from .ir.core import bind
from .ir.dims import Dim
from .ir.errors import DTypeError
from .shapes import expand_dims, reshape, squeeze, transpose
from .tensor import Tensor, TensorInput, raw_shape

def _reduce(prim: str, x: Any, axis: Any, keepdims: bool) -> Tensor:
    x = convert_to_tensor(x)
    return bind(prim, x, axes=_axes(prim, axis, x.ndim), keepdims=bool(keepdims))


@export("reduce_sum", "math.reduce_sum")
def reduce_sum(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
               name: str | None = None) -> Tensor:
    """The sum over `axis` (an int, a list of ints, or None for all); bool counts as int32.

    >>> x = tj.constant([[1., 2.], [3., 4.]])
    >>> tj.reduce_sum(x).numpy(), tj.reduce_sum(x, axis=1, keepdims=True).numpy()
    (array(10., dtype=float32), array([[3.],
           [7.]], dtype=float32))
    """
    x = convert_to_tensor(input_tensor)
    if x.dtype == bool_:
        x = cast(x, int32)
    return _reduce("reduce_sum", x, axis, keepdims)


class Reduction(Protocol):
    """A reduction over axes: TensorFlow's signature."""

    def __call__(self, input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
                 name: str | None = None) -> Tensor: ...


def _reduce_op(prim: str, *paths: str) -> Reduction:
    """The public op `paths[0]`: the primitive reduction `prim` over `axis`."""
    def op(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
           name: str | None = None) -> Tensor:
        return _reduce(prim, input_tensor, axis, keepdims)
    return named(op, *paths)


reduce_max = _reduce_op("reduce_max", "reduce_max", "math.reduce_max")
reduce_min = _reduce_op("reduce_min", "reduce_min", "math.reduce_min")
reduce_prod = _reduce_op("reduce_prod", "reduce_prod", "math.reduce_prod")


def _count(x: Tensor, axes: tuple[int, ...]) -> Any:
    """The number of elements over `axes`: an int, or a `Dim` when one is unknown."""
    n: Any = 1
    for a in axes:
        n = n * raw_shape(x)[a]
    return n if type(n) is Dim else int(n)


@export("reduce_mean", "math.reduce_mean")
def reduce_mean(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
                name: str | None = None) -> Tensor:
    """The mean over `axis` (all axes when None); of an int tensor, the integer mean
    (rounded toward zero), as in TensorFlow.

    >>> tj.reduce_mean(tj.constant([[1., 2.], [3., 4.]]), axis=0).numpy()
    array([2., 3.], dtype=float32)
    """
    x = convert_to_tensor(input_tensor)
    axes = _axes("reduce_mean", axis, x.ndim)
    s = bind("reduce_sum", x, axes=axes, keepdims=bool(keepdims))
    n = _count(x, axes)
    if type(n) is Dim:                  # known at run time only
        n = dim_value(n, x.dtype)
        return _truncdiv(s, n) if x.dtype.kind in "iu" else divide(s, n)
    if x.dtype.kind in "iu":
        return _truncdiv(s, n) if n else s
    return divide(s, float(n)) if n != 1 else s


def _truncdiv(s: Tensor, n: Any) -> Tensor:
    """`s / n` rounded toward zero for a positive count `n` (TensorFlow's integer mean:
    the mean of [-1, 0] is 0), where `floordiv` rounds down (-1)."""
    q = floordiv(s, n)
    inexact = logical_and(less(s, zeros_like(s)), not_equal(multiply(q, n), s))
    return where(inexact, add(q, 1), q)


@export("reduce_variance", "math.reduce_variance")
def reduce_variance(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
                    name: str | None = None) -> Tensor:
    x = convert_to_tensor(input_tensor)
    if x.dtype.kind not in "f":
        raise _user_error(DTypeError(f"reduce_variance needs a float tensor, got {x.dtype}"))
    axis = list(_axes("reduce_variance", axis, x.ndim))
    m = reduce_mean(x, axis, keepdims=True)
    d = subtract(x, m)
    return reduce_mean(multiply(d, d), axis, keepdims)


@export("reduce_std", "math.reduce_std")
def reduce_std(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
               name: str | None = None) -> Tensor:
    x = convert_to_tensor(input_tensor)
    return sqrt(reduce_variance(x, list(_axes("reduce_std", axis, x.ndim)), keepdims))


@export("reduce_logsumexp", "math.reduce_logsumexp")
def reduce_logsumexp(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
                     name: str | None = None) -> Tensor:
    """log(sum(exp(x))) over `axis` without overflow: the max is subtracted first (and is
    a constant for the gradient, which is then exactly softmax).

    >>> tj.reduce_logsumexp(tj.constant([1000., 1000.])).numpy()
    array(1000.6932, dtype=float32)
    """
    x = convert_to_tensor(input_tensor)
    axes = _axes("reduce_logsumexp", axis, x.ndim)
    m = stop_gradient(bind("reduce_max", x, axes=axes, keepdims=True))
    finite = less(abs(m), np.inf)
    m = where(finite, m, zeros_like(m))
    s = bind("reduce_sum", exp(subtract(x, m)), axes=axes, keepdims=True)
    out = add(log(s), m)
    if not keepdims:
        out = reshape(out, [d for i, d in enumerate(x.shape) if i not in axes])
    return out


class ArgReduction(Protocol):
    """`tj.argmax` and `tj.argmin`: TensorFlow's signature."""

    def __call__(self, input: TensorInput, axis: Any = None,  # noqa: A002
                 output_type: Any = int64, name: str | None = None) -> Tensor: ...


def _arg_op(prim: str, *paths: str) -> ArgReduction:
    """The public op `paths[0]`: the index of the extremum `prim` along `axis` (0 when
    None), as `output_type`."""
    def op(input: TensorInput, axis: Any = None, output_type: Any = int64,  # noqa: A002
           name: str | None = None) -> Tensor:
        x = convert_to_tensor(input)
        ax = _axis(prim, 0 if axis is None else axis, x.ndim)
        return bind(prim, x, axis=ax, dtype=_dtype(output_type))
    return named(op, *paths)


argmax = _arg_op("argmax", "argmax", "math.argmax")
argmin = _arg_op("argmin", "argmin", "math.argmin")


@export("norm", "linalg.norm")
def norm(tensor: TensorInput, ord: Any = "euclidean", axis: Any = None, keepdims: bool = False,
         name: str | None = None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(tensor)
    if isinstance(axis, (list, tuple)) and len(axis) == 2:
        return _matrix_norm(x, ord, axis, keepdims)
    if isinstance(axis, (list, tuple)) and len(axis) > 2:
        raise _user_error(ValueError(f"norm: axis must be None, an int or a pair of distinct "
                                     f"ints, got {axis!r}"))
    axes = list(_axes("norm", axis, x.ndim))
    if isinstance(ord, str) and ord in ("euclidean", "fro") or _is(ord, 2):
        return sqrt(reduce_sum(multiply(x, x), axes, keepdims))
    if _is(ord, 1):
        return reduce_sum(abs(x), axes, keepdims)
    if _is(ord, np.inf):
        return reduce_max(abs(x), axes, keepdims)
    if isinstance(ord, (int, float)) and not isinstance(ord, bool) and ord > 0:
        p = float(ord)
        return pow(reduce_sum(pow(abs(x), p), axes, keepdims), 1.0 / p)
    raise _user_error(ValueError(f"norm: ord must be 'euclidean', 'fro', np.inf or a positive "
                                 f"number for a vector norm, got {ord!r}"))


def _is(ord: Any, value: float) -> bool:
    return not isinstance(ord, (str, bool)) and isinstance(ord, (int, float, np.number)) \
        and float(ord) == value


def _matrix_norm(x: Tensor, ord: Any, axis: Any, keepdims: bool) -> Tensor:
    """The matrix norm over the axes `axis = [rows, cols]` (see `norm`)."""
    rows, cols = (_axis("norm", a, x.ndim) for a in axis)
    if rows == cols:
        raise _user_error(ValueError(f"norm: the two axes of a matrix norm must differ, got "
                                     f"{list(axis)!r}"))
    if isinstance(ord, str) and ord in ("euclidean", "fro"):
        return sqrt(reduce_sum(multiply(x, x), [rows, cols], keepdims))
    if _is(ord, 1) or _is(ord, np.inf):
        summed, largest = (rows, cols) if _is(ord, 1) else (cols, rows)
        r = reduce_max(reduce_sum(abs(x), summed, keepdims=True), largest, keepdims=True)
        return r if keepdims else squeeze(r, [rows, cols])
    if _is(ord, 2):
        from .linalg_decomp import svd
        rest = [a for a in range(x.ndim) if a not in (rows, cols)]
        s = svd(transpose(x, rest + [rows, cols]), compute_uv=False)
        r = reduce_max(s, -1)
        if keepdims:
            for a in sorted((rows, cols)):
                r = expand_dims(r, a)
        return r
    raise _user_error(ValueError(f"norm: ord must be 'fro', 'euclidean', 1, 2 or np.inf for a "
                                 f"matrix norm, got {ord!r}"))


def _logical(op: str, prim: str, input_tensor: TensorInput, axis: Any, keepdims: bool) -> Tensor:
    """reduce_all (prim reduce_min) or reduce_any (reduce_max) of a bool tensor, as the
    extremum of its int32 values: over an empty axis that is the int32 maximum (all: True)
    or minimum (any: False), and `> 0` turns either back to bool."""
    x = convert_to_tensor(input_tensor)
    if x.dtype != bool_:
        raise _user_error(DTypeError(f"{op} needs a bool tensor, got {x.dtype.name}; compare "
                                     "or use tj.cast"))
    axes = _axes(op, axis, x.ndim)
    return greater(bind(prim, cast(x, int32), axes=axes, keepdims=bool(keepdims)), 0)


class LogicalReduction(Protocol):
    """`tj.reduce_all` and `tj.reduce_any`: TensorFlow's signature."""

    def __call__(self, input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
                 name: str | None = None) -> Tensor: ...


def _logical_op(prim: str, *paths: str) -> LogicalReduction:
    """The public op `paths[0]`: `_logical` with the reduction `prim`."""
    op = paths[0].rpartition(".")[2]

    def fn(input_tensor: TensorInput, axis: Any = None, keepdims: bool = False,
           name: str | None = None) -> Tensor:
        return _logical(op, prim, input_tensor, axis, keepdims)
    return named(fn, *paths)


reduce_all = _logical_op("reduce_min", "reduce_all", "math.reduce_all")
reduce_any = _logical_op("reduce_max", "reduce_any", "math.reduce_any")


@export("math.count_nonzero")
def count_nonzero(input: TensorInput, axis: Any = None, keepdims: Any = None,  # noqa: A002
                  dtype: Any = int64, name: str | None = None) -> Tensor:
    """The number of elements that are not zero (NaN counts; for bool, the number of True)
    over `axis` (all axes when None), as `dtype` (int64 by default).

    >>> tj.math.count_nonzero([[0., 1.], [2., np.nan]], axis=0).numpy()
    array([1, 2])
    """
    x = convert_to_tensor(input)
    axes = _axes("count_nonzero", axis, x.ndim)
    nz = cast(not_equal(x, False if x.dtype == bool_ else 0), dtype)
    return bind("reduce_sum", nz, axes=axes, keepdims=bool(keepdims))


@export("math.zero_fraction")
def zero_fraction(value: TensorInput, name: str | None = None) -> Tensor:
    """The fraction of `value`'s elements that are 0, as float32 (NaN for an empty
    tensor), as TensorFlow's.

    >>> tj.math.zero_fraction([0., 1., 0., 2.]).numpy()
    array(0.5, dtype=float32)
    """
    x = convert_to_tensor(value)
    return reduce_mean(cast(equal(x, zeros_like(x)), np.float32))
