"""`tj.numpy`: the functions over the scans, sorting, log-sum-exp, diagonal and padding
ops (NumPy's names, argument order and defaults; `axis=None` flattens where NumPy does)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import arith, matrices, ops, padding, scans, sorting
from .errors import at_user_line
from .convert import _operands
from .exports import export, public
from .ir.errors import ShapeError
from .tensor import Tensor, TensorInput

public(arith.logaddexp, "numpy.logaddexp")


def _flat_or(x: TensorInput, axis: Any) -> tuple[Tensor, int]:
    t = ops.convert_to_tensor(x)
    return (ops.reshape(t, (-1,)), 0) if axis is None else (t, int(axis))


@export("numpy.logaddexp2")
def logaddexp2(x1: TensorInput, x2: TensorInput) -> Tensor:
    """log2(2**x1 + 2**x2), elementwise, without overflow.

    >>> tj.numpy.logaddexp2(1., 1.).numpy()
    array(2., dtype=float32)
    """
    a, b = _operands("logaddexp2", x1, x2)
    ln2 = math.log(2.0)
    return ops.divide(arith.logaddexp(ops.multiply(a, ln2), ops.multiply(b, ln2)), ln2)


@export("numpy.cumsum")
def cumsum(a: TensorInput, axis: Any = None) -> Tensor:
    """Cumulative sums along `axis` (of the flattened array when None).

    >>> tj.numpy.cumsum([[1, 2], [3, 4]]).numpy()
    array([ 1,  3,  6, 10], dtype=int32)
    """
    t, ax = _flat_or(a, axis)
    return scans.cumsum(t, axis=ax)


@export("numpy.cumprod")
def cumprod(a: TensorInput, axis: Any = None) -> Tensor:
    """Cumulative products along `axis` (of the flattened array when None).

    >>> tj.numpy.cumprod([1., 2., 3.]).numpy()
    array([1., 2., 6.], dtype=float32)
    """
    t, ax = _flat_or(a, axis)
    return scans.cumprod(t, axis=ax)


@export("numpy.sort")
def sort(a: TensorInput, axis: Any = -1) -> Tensor:
    """`a` sorted ascending along `axis` (the flattened array when None).

    >>> tj.numpy.sort([[3, 1], [0, 2]], axis=0).numpy()
    array([[0, 1],
           [3, 2]], dtype=int32)
    """
    t, ax = _flat_or(a, axis)
    return sorting.sort(t, axis=ax)


@export("numpy.argsort")
def argsort(a: TensorInput, axis: Any = -1) -> Tensor:
    """The int64 indices that sort `a` along `axis` (stable; the flattened array when None).

    >>> tj.numpy.argsort([3., 1., 2.]).numpy()
    array([1, 2, 0])
    """
    t, ax = _flat_or(a, axis)
    return ops.cast(sorting.argsort(t, axis=ax), np.int64)


@export("numpy.take")
def take(a: TensorInput, indices: TensorInput, axis: Any = None) -> Tensor:
    """Elements of `a` at `indices` along `axis` (of the flattened array when None).

    >>> tj.numpy.take([[1, 2], [3, 4]], [3, 0]).numpy()
    array([4, 1], dtype=int32)
    """
    t, ax = _flat_or(a, axis)
    return ops.gather(t, indices, axis=ax)


@export("numpy.diag")
def diag(v: TensorInput, k: int = 0) -> Tensor:
    """Of a vector, the square matrix with `v` on its `k`-th diagonal; of a matrix, its
    `k`-th diagonal.

    >>> tj.numpy.diag([1, 2], k=1).numpy()
    array([[0, 1, 0],
           [0, 0, 2],
           [0, 0, 0]], dtype=int32)
    """
    x = ops.convert_to_tensor(v)
    if x.ndim == 1:
        return matrices.diag(x, k=k)
    if x.ndim == 2:
        return matrices.diag_part(x, k=k)
    raise at_user_line(ShapeError(f"diag needs a 1-D or 2-D array, got shape {x.shape}"))


@export("numpy.diagonal")
def diagonal(a: TensorInput, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The `offset`-th diagonal of the planes of `axis1` and `axis2`, along a new last
    axis (the other axes first, in order).

    >>> tj.numpy.diagonal([[1, 2], [3, 4]], offset=-1).numpy()
    array([3], dtype=int32)
    """
    x = ops.convert_to_tensor(a)
    i = ops._axis("diagonal", axis1, x.ndim, "axis1")
    j = ops._axis("diagonal", axis2, x.ndim, "axis2")
    if i == j:
        raise at_user_line(ValueError("diagonal: axis1 and axis2 must differ"))
    rest = [d for d in range(x.ndim) if d not in (i, j)]
    return matrices.diag_part(ops.transpose(x, rest + [i, j]), k=offset)


@export("numpy.pad")
def pad(array: TensorInput, pad_width: Any, mode: str = "constant",
        constant_values: Any = 0) -> Tensor:
    """`array` padded by `pad_width` (an int, a (before, after) pair, or one pair per
    axis) with `constant_values`, or mirrored (`"reflect"`, `"symmetric"`).

    >>> tj.numpy.pad([1, 2], (1, 2)).numpy()
    array([0, 1, 2, 0, 0], dtype=int32)
    """
    x = ops.convert_to_tensor(array)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64).reshape(-1, 2)
                             if np.ndim(pad_width) else np.full((1, 2), int(pad_width)),
                             (x.ndim, 2))
    modes = {"constant": "CONSTANT", "reflect": "REFLECT", "symmetric": "SYMMETRIC"}
    if mode not in modes:
        raise at_user_line(ValueError(f"pad: mode must be one of {sorted(modes)}, got "
                                      f"{mode!r}"))
    return padding.pad(x, widths.tolist(), modes[mode], constant_values)
