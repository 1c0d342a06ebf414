"""`tj.experimental.numpy` (also `tj.numpy`), part 3: NumPy's splitting, tiling,
repeating and rolling, `eye` with a diagonal offset, `linspace`, and the shape queries,
over tracejit's `split`, `tile`, `repeat`, `roll`, `eye` and `linspace` with NumPy's
argument conventions (split points rather than sizes, `reps` of any length, `axis=None`
flattening).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import arrayops, ops
from .convert import static_int
from .errors import at_user_line
from .exports import export
from .ir.core import bind
from .ir.errors import ShapeError
from .tensor import Tensor, TensorInput


@export("numpy.split", "numpy.array_split")
def split(ary: TensorInput, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """`ary` cut along `axis` into `indices_or_sections` equal pieces (an int; it must
    divide the axis), or at the listed split points.

    >>> [t.numpy().tolist() for t in tj.numpy.split(tj.range(6), [2, 5])]
    [[0, 1], [2, 3, 4], [5]]
    """
    x = ops.convert_to_tensor(ary)
    ax = ops._axis("split", axis, x.ndim)
    d = x.shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        n = int(indices_or_sections)
        if n <= 0 or d % n:
            raise at_user_line(ShapeError(
                f"split: an axis of length {d} does not divide into {n} equal pieces"))
        return arrayops.split(x, n, ax)
    points = [min(max(int(p) if p >= 0 else d + int(p), 0), d)
              for p in np.asarray(indices_or_sections).reshape(-1).tolist()]
    bounds = [0] + points + [d]
    pieces = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        idx = [slice(None)] * x.ndim
        idx[ax] = slice(lo, max(lo, hi))
        pieces.append(x[tuple(idx)])
    return pieces


@export("numpy.vsplit")
def vsplit(ary: TensorInput, indices_or_sections: Any) -> list[Tensor]:
    """`split` along axis 0 (of an array of rank >= 2).

    >>> [t.shape for t in tj.numpy.vsplit(tj.ones((4, 2)), 2)]
    [TensorShape([2, 2]), TensorShape([2, 2])]
    """
    x = ops.convert_to_tensor(ary)
    if x.ndim < 2:
        raise at_user_line(ShapeError(f"vsplit needs rank >= 2, got shape {x.shape}"))
    return split(x, indices_or_sections, 0)


@export("numpy.hsplit")
def hsplit(ary: TensorInput, indices_or_sections: Any) -> list[Tensor]:
    """`split` along axis 1 (axis 0 of a 1-D array).

    >>> [t.shape for t in tj.numpy.hsplit(tj.ones((2, 4)), [1])]
    [TensorShape([2, 1]), TensorShape([2, 3])]
    """
    x = ops.convert_to_tensor(ary)
    if x.ndim == 0:
        raise at_user_line(ShapeError("hsplit needs rank >= 1, got a scalar"))
    return split(x, indices_or_sections, 1 if x.ndim > 1 else 0)


@export("numpy.tile")
def tile(A: TensorInput, reps: Any) -> Tensor:  # noqa: N803  (NumPy's name)
    """`A` repeated `reps` times along each axis; `A` or `reps` gets leading 1s so that
    their lengths match.

    >>> tj.numpy.tile([1, 2], (2, 2)).numpy()
    array([[1, 2, 1, 2],
           [1, 2, 1, 2]], dtype=int32)
    """
    x = ops.convert_to_tensor(A)
    r = np.atleast_1d(arrayops.static_ints("tile", "reps", reps)).tolist()
    nd = max(x.ndim, len(r))
    x = ops.reshape(x, [1] * (nd - x.ndim) + list(x.shape))
    return arrayops.tile(x, [1] * (nd - len(r)) + r)


@export("numpy.repeat")
def repeat(a: TensorInput, repeats: Any, axis: int | None = None) -> Tensor:
    """Each element of `a` repeated `repeats` times (an int, or one count per element)
    along `axis` (of the flattened array when None).

    >>> tj.numpy.repeat([[1, 2]], 2, axis=1).numpy()
    array([[1, 1, 2, 2]], dtype=int32)
    """
    return arrayops.repeat(a, repeats, axis)


@export("numpy.roll")
def roll(a: TensorInput, shift: Any, axis: Any = None) -> Tensor:
    """`a` with its elements shifted by `shift` along `axis`, wrapping around (the
    flattened array when None).

    >>> tj.numpy.roll([[1, 2], [3, 4]], 1).numpy()
    array([[4, 1],
           [2, 3]], dtype=int32)
    """
    x = ops.convert_to_tensor(a)
    if axis is None:
        return ops.reshape(arrayops.roll(ops.reshape(x, [-1]), shift, 0), list(x.shape))
    return arrayops.roll(x, shift, axis)


@export("numpy.eye")
def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = np.float32  # noqa: N803
        ) -> Tensor:
    """An `N` x `M` matrix with ones on the `k`-th diagonal (above the main one for k > 0).

    >>> tj.numpy.eye(2, 3, k=1).numpy()
    array([[0., 1., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    if k == 0:
        return arrayops.eye(N, M, dtype=dtype)
    n = static_int("eye", "N", N)
    m = n if M is None else static_int("eye", "M", M)
    if n < 0 or m < 0:
        raise at_user_line(ValueError(f"eye: dimensions must be >= 0, got {n} and {m}"))
    i = bind("iota", shape=(n, m), dimension=0, dtype=np.dtype(np.int64))
    j = bind("iota", shape=(n, m), dimension=1, dtype=np.dtype(np.int64))
    return ops.cast(ops.equal(ops.subtract(j, i), int(k)), dtype)


@export("numpy.identity")
def identity(n: int, dtype: Any = np.float32) -> Tensor:
    """The `n` x `n` identity matrix.

    >>> tj.numpy.identity(2, dtype=tj.int32).numpy()
    array([[1, 0],
           [0, 1]], dtype=int32)
    """
    return arrayops.eye(n, dtype=dtype)


@export("numpy.linspace")
def linspace(start: TensorInput, stop: TensorInput, num: int = 50, endpoint: bool = True,
             dtype: Any = None, axis: int = 0) -> Tensor:
    """`num` evenly spaced values from `start` to `stop` (included when `endpoint`); Python
    numbers give float32 (tracejit's default float), integer tensors float64.

    >>> tj.numpy.linspace(0., 1., 3).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """
    n = static_int("linspace", "num", num)
    if n < 0:
        raise at_user_line(ValueError(f"linspace: num must be >= 0, got {n}"))
    a, b = (ops.convert_to_tensor(v, dtype_hint=ops.float32) for v in (start, stop))
    if endpoint or n == 0:
        out = arrayops.linspace(a, b, n, axis=axis)
    else:
        out = arrayops.linspace(a, b, n + 1, axis=axis)
        ax = axis if axis >= 0 else out.ndim + axis
        idx: list[Any] = [slice(None)] * out.ndim
        idx[ax] = slice(0, n)
        out = out[tuple(idx)]
    return out if dtype is None else ops.cast(out, dtype)


@export("numpy.size")
def size(a: TensorInput, axis: int | None = None) -> int:
    """The number of elements (along `axis` when given), a Python int as in NumPy.

    >>> tj.numpy.size(tj.ones((2, 3)))
    6
    """
    x = ops.convert_to_tensor(a)
    if axis is None:
        return int(np.prod(x.shape, dtype=np.int64))
    return int(x.shape[ops._axis("size", axis, x.ndim)])


@export("numpy.shape")
def shape(a: TensorInput) -> tuple[int, ...]:
    """The shape, a tuple of ints as in NumPy.

    >>> tj.numpy.shape([[1, 2, 3]])
    (1, 3)
    """
    return tuple(ops.convert_to_tensor(a).shape)


@export("numpy.ndim")
def ndim(a: TensorInput) -> int:
    """The number of axes, an int as in NumPy.

    >>> tj.numpy.ndim([[1, 2, 3]])
    2
    """
    return ops.convert_to_tensor(a).ndim
