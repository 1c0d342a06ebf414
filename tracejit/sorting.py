"""Sorting: `tj.sort`, `tj.argsort`, `tj.math.top_k` (also `tj.nn.top_k`) and
`tj.searchsorted`, with TensorFlow's names and arguments.

All three are the `sort` primitive (a stable merge sort of the last axis in native code,
with the permutation as its second result): `sort`/`argsort` along another axis move it
last and back, and `top_k` is the first k of a descending sort. Gradients flow through the
selected values to where they came from; indices have none. NaN sorts above +inf
(NumPy's order); equal elements keep their order in both directions, so `argsort` is
always stable and `top_k` gives the lowest index first among ties, as TensorFlow's.
`searchsorted` sorts values and sequence together and counts (see its docstring).
"""
from __future__ import annotations

import collections
from typing import Any

import numpy as np

from . import ops
from .convert import _axis, _user_error, cast, convert_to_tensor, int32, static_int
from .exports import export
from .ir.core import bind
from .ir.errors import DTypeError, ShapeError
from .tensor import Tensor, TensorInput

TopKV2 = collections.namedtuple("TopKV2", ["values", "indices"])


def _sorted(op: str, values: TensorInput, axis: Any, direction: str) -> tuple[Tensor, Tensor]:
    if direction not in ("ASCENDING", "DESCENDING"):
        raise _user_error(ValueError("Argument `direction` should be one of ASCENDING, "
                                     f"DESCENDING. Received: direction={direction}"))
    x = convert_to_tensor(values)
    if x.dtype.kind not in "fiu":
        raise _user_error(DTypeError(f"{op} needs a numeric tensor, got {x.dtype.name}"))
    if x.ndim == 0:
        raise _user_error(ShapeError(f"{op} needs a tensor of rank >= 1, got a scalar"))
    ax = _axis(op, axis, x.ndim)
    last = x.ndim - 1
    perm = list(range(x.ndim))
    perm[ax], perm[last] = last, ax
    if ax != last:
        x = ops.transpose(x, perm)
    v, i = bind("sort", x, descending=direction == "DESCENDING")
    if ax != last:
        v, i = ops.transpose(v, perm), ops.transpose(i, perm)
    return v, i


@export("sort")
def sort(values: TensorInput, axis: Any = -1, direction: str = "ASCENDING",
         name: str | None = None) -> Tensor:
    """`values` sorted along `axis` (the last by default), `direction` "ASCENDING" or
    "DESCENDING"; NaN sorts above +inf. The gradient goes to where each value came from.

    >>> tj.sort([3., 1., 2.], direction="DESCENDING").numpy()
    array([3., 2., 1.], dtype=float32)
    """
    return _sorted("sort", values, axis, direction)[0]


@export("argsort")
def argsort(values: TensorInput, axis: Any = -1, direction: str = "ASCENDING",
            stable: bool = False, name: str | None = None) -> Tensor:
    """The int32 indices that sort `values` along `axis`: always a stable sort (equal
    values keep their order, in both directions), which `stable=False` also allows.

    >>> tj.argsort([3., 1., 3., 2.], direction="DESCENDING").numpy()
    array([0, 2, 3, 1], dtype=int32)
    """
    return _sorted("argsort", values, axis, direction)[1]


@export("math.top_k", "nn.top_k")
def top_k(input: TensorInput, k: Any = 1, sorted: bool = True,  # noqa: A002
          index_type: Any = int32, name: str | None = None) -> Any:
    """The k largest entries of the last axis and their indices, as a named tuple
    `(values, indices)`, largest first; among equal values the lower index comes first.
    The result is sorted also with `sorted=False` (TensorFlow leaves the order open there).
    The gradient goes to the selected entries.

    >>> r = tj.math.top_k([1., 5., 3., 5.], k=2)
    >>> r.values.numpy(), r.indices.numpy()
    (array([5., 5.], dtype=float32), array([1, 3], dtype=int32))
    """
    x = convert_to_tensor(input)
    kk = static_int("top_k", "k", k.numpy() if isinstance(k, Tensor) else k)
    if x.ndim == 0:
        raise _user_error(ShapeError("top_k: input must be >= 1-D, got shape ()"))
    n = x.shape[-1]
    if kk < 0:
        raise _user_error(ValueError(f"top_k: need k >= 0, got {kk}"))
    if kk > n:
        raise _user_error(ValueError(f"top_k: input must have at least k columns. Had {n}, "
                                     f"needed {kk}"))
    v, i = _sorted("top_k", x, -1, "DESCENDING")
    starts = (0,) * x.ndim
    limits = tuple(x.shape[:-1]) + (kk,)
    strides = (1,) * x.ndim
    v = bind("slice", v, starts=starts, limits=limits, strides=strides)
    i = bind("slice", i, starts=starts, limits=limits, strides=strides)
    if np.dtype(index_type) != np.int32:
        i = cast(i, index_type)
    return TopKV2(v, i)


@export("searchsorted")
def searchsorted(sorted_sequence: TensorInput, values: TensorInput, side: str = "left",
                 out_type: Any = int32, name: str | None = None) -> Tensor:
    """For each of `values`, the index in `sorted_sequence` (sorted along its last axis)
    where it would be inserted to keep the order: before equal elements (`side="left"`) or
    after them ("right"). Row r of `values` searches row r of `sorted_sequence` (both
    flattened to rows over their leading dimensions, whose sizes must have the same
    product); the result has `values`' shape and dtype `out_type` (int32 or int64). A NaN
    value gives 0 (left) or the row's length (right), as TensorFlow's binary search does.

    One stable sort of each row of values and sequence together puts every value after the
    elements below it (and for "right", the equal ones); the number of sequence elements
    before a value's place is the answer, returned to the value's own position through the
    inverse permutation: O((n + m) log(n + m)) per row, in native code when compiled.

    >>> tj.searchsorted([1., 3., 3., 5.], [0., 3., 4.], side="right").numpy()
    array([0, 3, 3], dtype=int32)
    """
    from .convert import _operands
    from .scans import cumsum
    from .shapes import concat, gather, reshape
    if side not in ("left", "right"):
        raise _user_error(ValueError("Argument `side` must be either 'right' or 'left'. "
                                     f"Received: `side` = {side!r}."))
    out = np.dtype(out_type)
    if out not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise _user_error(DTypeError(f"searchsorted: out_type must be int32 or int64, got "
                                     f"{out.name}"))
    s, v = _operands("searchsorted", sorted_sequence, values)
    if s.dtype.kind not in "fiu":
        raise _user_error(DTypeError(f"searchsorted needs numeric tensors, got {s.dtype.name}"))
    if s.ndim == 0 or v.ndim == 0:
        raise _user_error(ShapeError(f"searchsorted: sorted_sequence and values must have rank "
                                     f">= 1, got shapes {s.shape} and {v.shape}"))
    rows = int(np.prod(s.shape[:-1], dtype=np.int64))
    if rows != int(np.prod(v.shape[:-1], dtype=np.int64)):
        raise _user_error(ShapeError(
            f"searchsorted: the leading dimensions of sorted_sequence {s.shape} and values "
            f"{v.shape} must hold the same number of rows"))
    n, m = s.shape[-1], v.shape[-1]
    if out == np.dtype(np.int32) and n > np.iinfo(np.int32).max:
        raise _user_error(ValueError(f"searchsorted: a sequence of {n} elements needs "
                                     "out_type=tj.int64"))
    s2, v2 = reshape(s, (rows, n)), reshape(v, (rows, m))
    left = side == "left"
    # Values first for "left" (a tie puts the value before the equal elements), last for
    # "right" (after them); the sort is stable.
    _, order = bind("sort", concat([v2, s2] if left else [s2, v2], axis=1), descending=False)
    is_value = ops.less(order, m) if left else ops.greater_equal(order, n)
    i64 = np.dtype(np.int64)
    values_before = cumsum(ops.cast(is_value, i64), axis=1, exclusive=True)
    place = bind("iota", shape=(rows, n + m), dimension=1, dtype=i64)
    elements_before = ops.subtract(place, values_before)
    _, inverse = bind("sort", order, descending=False)
    where = inverse[:, :m] if left else inverse[:, n:]
    found = gather(elements_before, where, axis=1, batch_dims=1)
    if v.dtype.kind == "f":
        nan_at = np.int64(0 if left else n)
        found = ops.where(bind("ne", v2, v2), ops.fill((rows, m), nan_at), found)
    return reshape(ops.cast(found, out), v.shape)
