"""`tj.experimental.numpy` (also `tj.numpy`), part 2: NumPy's names and semantics for
joining and reshaping arrays, triangles and traces, and `select`, each a composition of
tracejit's ops (so differentiable to any order and compiled like them); the products are
in `tnp_products`. NumPy's rules where they differ from TensorFlow's: `stack` and
`concatenate` take `axis` as NumPy does (`concatenate(..., axis=None)` flattens),
`transpose(a, axes)`.
"""
from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import ops
from .einsum import einsum
from .errors import at_user_line
from .exports import export, public
from .ir.core import bind
from .ir.errors import ShapeError
from .tensor import Tensor, TensorInput

for _name, _fn in {"reshape": ops.reshape, "squeeze": ops.squeeze,
                   "expand_dims": ops.expand_dims, "broadcast_to": ops.broadcast_to}.items():
    public(_fn, f"numpy.{_name}")


def _tensors(op: str, arrays: Sequence[TensorInput]) -> list[Tensor]:
    if not isinstance(arrays, (list, tuple)) or not arrays:
        raise at_user_line(ValueError(f"{op} needs a non-empty sequence of arrays"))
    return ops._operands(op, *arrays)


@export("numpy.transpose")
def transpose(a: TensorInput, axes: Any = None) -> Tensor:
    """`a` with its axes permuted by `axes` (reversed when None).

    >>> tj.numpy.transpose(tj.ones((2, 3, 4)), (1, 0, 2)).shape
    TensorShape([3, 2, 4])
    """
    return ops.transpose(a, axes)


@export("numpy.ravel")
def ravel(a: TensorInput) -> Tensor:
    """`a` flattened to one axis (row-major).

    >>> tj.numpy.ravel([[1, 2], [3, 4]]).numpy()
    array([1, 2, 3, 4], dtype=int32)
    """
    return ops.reshape(a, [-1])


@export("numpy.swapaxes")
def swapaxes(a: TensorInput, axis1: int, axis2: int) -> Tensor:
    """`a` with two axes interchanged.

    >>> tj.numpy.swapaxes(tj.ones((2, 3, 4)), 0, 2).shape
    TensorShape([4, 3, 2])
    """
    x = ops.convert_to_tensor(a)
    i, j = ops._axis("swapaxes", axis1, x.ndim, "axis1"), ops._axis("swapaxes", axis2,
                                                                     x.ndim, "axis2")
    perm = list(builtins.range(x.ndim))
    perm[i], perm[j] = j, i
    return ops.transpose(x, perm)


@export("numpy.moveaxis")
def moveaxis(a: TensorInput, source: Any, destination: Any) -> Tensor:
    """`a` with axes `source` moved to positions `destination` (the others keep order).

    >>> tj.numpy.moveaxis(tj.ones((2, 3, 4)), 0, -1).shape
    TensorShape([3, 4, 2])
    """
    x = ops.convert_to_tensor(a)
    src = [ops._axis("moveaxis", s, x.ndim, "source") for s in np.atleast_1d(source)]
    dst = [ops._axis("moveaxis", d, x.ndim, "destination") for d in np.atleast_1d(destination)]
    if len(src) != len(dst):
        raise at_user_line(ValueError("moveaxis: source and destination must have the same "
                                      "number of axes"))
    rest = [i for i in builtins.range(x.ndim) if i not in src]
    perm: list[int] = []
    for pos in builtins.range(x.ndim):
        perm.append(src[dst.index(pos)] if pos in dst else rest.pop(0))
    return ops.transpose(x, perm)


@export("numpy.flip")
def flip(m: TensorInput, axis: Any = None) -> Tensor:
    """`m` with the order of elements along `axis` (all axes when None) reversed.

    >>> tj.numpy.flip([[1, 2], [3, 4]], 1).numpy()
    array([[2, 1],
           [4, 3]], dtype=int32)
    """
    x = ops.convert_to_tensor(m)
    axes = ops._axes("flip", axis, x.ndim)
    return bind("rev", x, axes=axes) if axes else x


def _atleast(x: TensorInput, n: int) -> Tensor:
    t = ops.convert_to_tensor(x)
    if t.ndim >= n:
        return t
    if t.ndim == 0:
        return ops.reshape(t, [1] * n)
    if t.ndim == 1:     # (N,) -> (1, N) or (1, N, 1)
        return ops.reshape(t, [1, t.shape[0]] + [1] * (n - 2))
    return ops.reshape(t, [*t.shape, 1])    # (M, N) -> (M, N, 1)


def _each(n: int, arys: tuple[TensorInput, ...]) -> Any:
    out = [_atleast(a, n) for a in arys]
    return out[0] if len(out) == 1 else out


@export("numpy.atleast_1d")
def atleast_1d(*arys: TensorInput) -> Any:
    """Each argument with at least one axis (a scalar becomes shape (1,)); one tensor for
    one argument, else a list.

    >>> tj.numpy.atleast_1d(3.).shape
    TensorShape([1])
    """
    return _each(1, arys)


@export("numpy.atleast_2d")
def atleast_2d(*arys: TensorInput) -> Any:
    """Each argument with at least two axes: (N,) becomes (1, N).

    >>> tj.numpy.atleast_2d([1., 2.]).shape
    TensorShape([1, 2])
    """
    return _each(2, arys)


@export("numpy.atleast_3d")
def atleast_3d(*arys: TensorInput) -> Any:
    """Each argument with at least three axes: (N,) becomes (1, N, 1), (M, N) (M, N, 1).

    >>> tj.numpy.atleast_3d([[1., 2.]]).shape
    TensorShape([1, 2, 1])
    """
    return _each(3, arys)


@export("numpy.stack")
def stack(arrays: Sequence[TensorInput], axis: int = 0) -> Tensor:
    """The arrays (of one shape) joined along a new axis `axis`.

    >>> tj.numpy.stack([[1, 2], [3, 4]], axis=1).numpy()
    array([[1, 3],
           [2, 4]], dtype=int32)
    """
    return ops.stack(_tensors("stack", arrays), axis)


@export("numpy.concatenate")
def concatenate(arrays: Sequence[TensorInput], axis: int | None = 0) -> Tensor:
    """The arrays joined along the existing axis `axis` (flattened first when None).

    >>> tj.numpy.concatenate([[[1, 2]], [[3, 4]]], axis=None).numpy()
    array([1, 2, 3, 4], dtype=int32)
    """
    xs = _tensors("concatenate", arrays)
    if axis is None:
        return ops.concat([ops.reshape(x, [-1]) for x in xs], 0)
    return ops.concat(xs, axis)


@export("numpy.vstack")
def vstack(tup: Sequence[TensorInput]) -> Tensor:
    """Row-wise join: the arrays as at least 2-D, concatenated along axis 0.

    >>> tj.numpy.vstack([[1, 2], [3, 4]]).numpy()
    array([[1, 2],
           [3, 4]], dtype=int32)
    """
    return ops.concat([_atleast(x, 2) for x in _tensors("vstack", tup)], 0)


@export("numpy.hstack")
def hstack(tup: Sequence[TensorInput]) -> Tensor:
    """Column-wise join: along axis 0 for 1-D arrays, else along axis 1.

    >>> tj.numpy.hstack([[1, 2], [3]]).numpy()
    array([1, 2, 3], dtype=int32)
    """
    xs = [_atleast(x, 1) for x in _tensors("hstack", tup)]
    return ops.concat(xs, 0 if xs[0].ndim == 1 else 1)


@export("numpy.dstack")
def dstack(tup: Sequence[TensorInput]) -> Tensor:
    """Depth-wise join: the arrays as at least 3-D, concatenated along axis 2.

    >>> tj.numpy.dstack([[1, 2], [3, 4]]).shape
    TensorShape([1, 2, 2])
    """
    return ops.concat([_atleast(x, 3) for x in _tensors("dstack", tup)], 2)


@export("numpy.append")
def append(arr: TensorInput, values: TensorInput, axis: int | None = None) -> Tensor:
    """`values` appended to `arr` along `axis` (both flattened when None).

    >>> tj.numpy.append([1, 2], [[3, 4]]).numpy()
    array([1, 2, 3, 4], dtype=int32)
    """
    return concatenate([arr, values], axis)


@export("numpy.rot90")
def rot90(m: TensorInput, k: int = 1, axes: tuple[int, int] = (0, 1)) -> Tensor:
    """`m` rotated by 90 degrees `k` times in the plane of `axes`, from the first axis
    towards the second.

    >>> tj.numpy.rot90([[1, 2], [3, 4]]).numpy()
    array([[2, 4],
           [1, 3]], dtype=int32)
    """
    x = ops.convert_to_tensor(m)
    a0, a1 = (ops._axis("rot90", a, x.ndim, "axes") for a in axes)
    if a0 == a1:
        raise at_user_line(ValueError(f"rot90: axes must differ, got {tuple(axes)}"))
    k %= 4
    if k == 0:
        return x
    if k == 2:
        return bind("rev", x, axes=tuple(sorted((a0, a1))))
    perm = list(builtins.range(x.ndim))
    perm[a0], perm[a1] = a1, a0
    if k == 1:
        return ops.transpose(bind("rev", x, axes=(a1,)), perm)
    return bind("rev", ops.transpose(x, perm), axes=(a1,))


@export("numpy.diff")
def diff(a: TensorInput, n: int = 1, axis: int = -1) -> Tensor:
    """The `n`-th differences `a[i + 1] - a[i]` along `axis`.

    >>> tj.numpy.diff([1., 4., 9., 16.], n=2).numpy()
    array([2., 2.], dtype=float32)
    """
    x = ops.convert_to_tensor(a)
    ax = ops._axis("diff", axis, x.ndim)
    if n < 0:
        raise at_user_line(ValueError(f"diff: order n must be non-negative, got {n}"))
    for _ in builtins.range(n):
        hi = [slice(None)] * x.ndim
        lo = [slice(None)] * x.ndim
        hi[ax], lo[ax] = slice(1, None), slice(None, -1)
        x = ops.subtract(x[tuple(hi)], x[tuple(lo)])
    return x


def _tri_mask(x: Tensor, k: int, lower: bool) -> Tensor:
    """True where column - row <= k (lower) or >= k (upper), over the last two axes."""
    if x.ndim < 2:
        raise at_user_line(ShapeError(f"{'tril' if lower else 'triu'} needs rank >= 2, "
                                      f"got shape {x.shape}"))
    n, m = x.shape[-2:]
    rows = bind("iota", shape=(n, m), dimension=0, dtype=np.dtype(np.int64))
    cols = bind("iota", shape=(n, m), dimension=1, dtype=np.dtype(np.int64))
    off = ops.subtract(cols, rows)
    return ops.less_equal(off, k) if lower else ops.greater_equal(off, k)


@export("numpy.tril")
def tril(m: TensorInput, k: int = 0) -> Tensor:
    """`m` with the elements above the `k`-th diagonal zeroed (over the last two axes).

    >>> tj.numpy.tril([[1, 2], [3, 4]]).numpy()
    array([[1, 0],
           [3, 4]], dtype=int32)
    """
    x = ops.convert_to_tensor(m)
    return ops.where(_tri_mask(x, int(k), True), x, ops.zeros_like(x))


@export("numpy.triu")
def triu(m: TensorInput, k: int = 0) -> Tensor:
    """`m` with the elements below the `k`-th diagonal zeroed (over the last two axes).

    >>> tj.numpy.triu([[1, 2], [3, 4]], k=1).numpy()
    array([[0, 2],
           [0, 0]], dtype=int32)
    """
    x = ops.convert_to_tensor(m)
    return ops.where(_tri_mask(x, int(k), False), x, ops.zeros_like(x))


@export("numpy.trace")
def trace(a: TensorInput, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The sum of the `offset`-th diagonal of the planes of `axis1` and `axis2`.

    >>> tj.numpy.trace([[1., 2.], [3., 4.]], offset=1).numpy()
    array(2., dtype=float32)
    """
    x = ops.convert_to_tensor(a)
    i, j = ops._axis("trace", axis1, x.ndim, "axis1"), ops._axis("trace", axis2, x.ndim,
                                                                 "axis2")
    if i == j:
        raise at_user_line(ValueError("trace: axis1 and axis2 must differ"))
    x = ops.transpose(x, [d for d in builtins.range(x.ndim) if d not in (i, j)] + [i, j])
    x = x[..., :, offset:] if offset >= 0 else x[..., -offset:, :]
    n = min(x.shape[-2:])
    return einsum("...ii->...", x[..., :n, :n])


@export("numpy.select")
def select(condlist: Sequence[TensorInput], choicelist: Sequence[TensorInput],
           default: Any = 0) -> Tensor:
    """Elementwise, the choice of the first true condition (`default` where none is).

    >>> tj.numpy.select([[True, False], [True, True]], [[1., 2.], [3., 4.]], -1.).numpy()
    array([1., 4.], dtype=float32)
    """
    if len(condlist) != len(choicelist) or not condlist:
        raise at_user_line(ValueError("select: condlist and choicelist must have the same "
                                      "non-zero length"))
    choices = ops._operands("select", *choicelist, default)
    out = choices[-1]
    for c, v in zip(reversed(list(condlist)), reversed(choices[:-1])):
        out = ops.where(ops.convert_to_tensor(c), v, out)
    return ops.broadcast_to(out, tuple(np.broadcast_shapes(
        out.shape, *[ops.convert_to_tensor(c).shape for c in condlist])))
