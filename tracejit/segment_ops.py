"""Segment reductions of `tj.math`: `segment_sum/mean/prod/min/max` (sorted ids) and
`unsorted_segment_sum/mean/sqrt_n/prod/min/max` (any ids, `num_segments` rows), with
TensorFlow's semantics.

Sums, means and square-root means are `scatter_add`; products, minima and maxima the
`segment_*` primitives (`ir.prims.segments`). The unsorted ops drop rows whose id is
negative, as TensorFlow: every id moves up by one and negative ones go to an extra first
segment that is sliced off (an id >= num_segments still fails the bounds check with an
IndexError). The sorted ops need the ids' values for their output size: eagerly, or
inside a compiled function when the ids are Python or NumPy values (a traced tensor of ids
raises TracingError naming the unsorted op with `num_segments`); they check
that the ids are non-negative and sorted, as TensorFlow does, and give 0 for the empty
segments of min and max (the unsorted ops: the lowest or highest value of the dtype).
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .ir.dims import compatible
from . import ops
from .convert import _user_error, cast, convert_to_tensor, float64, static_int
from .arrayops import is_concrete
from .errors import TracingError
from .exports import named
from .ir.core import bind
from .ir.errors import DTypeError, ShapeError
from .reductions import _truncdiv
from .tensor import Tensor, TensorInput, TensorLike


def _operands(op: str, data: TensorInput, segment_ids: TensorInput) -> tuple[Tensor, Tensor]:
    d = convert_to_tensor(data)
    ids = convert_to_tensor(segment_ids)
    if d.dtype.kind not in "fiu":
        raise _user_error(DTypeError(f"{op} needs numeric data, got {d.dtype.name}"))
    if ids.dtype.kind not in "iu":
        raise _user_error(DTypeError(f"{op}: segment_ids must be int32 or int64, got "
                                     f"{ids.dtype.name}"))
    if ids.ndim == 0 or not compatible(tuple(d.shape[:ids.ndim]), tuple(ids.shape)):
        raise _user_error(ShapeError(f"{op}: segment_ids of shape {tuple(ids.shape)} must "
                                     f"be a prefix of data's shape {tuple(d.shape)}"))
    return d, ids


def _unsorted(op: str, prim: str, data: TensorInput, segment_ids: TensorInput,
              num_segments: Any) -> Tensor:
    d, ids = _operands(op, data, segment_ids)
    n = static_int(op, "num_segments", num_segments.numpy() if isinstance(num_segments, Tensor)
                   else num_segments)
    if n < 0:
        raise _user_error(ValueError(f"{op}: num_segments must be >= 0, got {n}"))
    zero = ops.zeros_like(ids)
    negative = ops.less(ids, zero)
    if is_concrete(ids):
        v = np.asarray(ids)
        bad = v >= n
        if bad.any():
            at = np.unravel_index(int(np.argmax(bad)), v.shape)
            raise _user_error(IndexError(
                f"{op}: segment_ids[{', '.join(str(int(i)) for i in at)}] = {int(v[at])} is "
                f"out of range [0, {n})"))
    elif n:
        # Bounds-check each id against num_segments itself (a gather from an iota is the
        # identity on valid ids, and raises IndexError naming the id and num_segments):
        # the scatter into n + 1 rows would name id + 1 and n + 1, and id + 1 wraps
        # around at the int64 maximum.
        ids = bind("gather", bind("iota", shape=(n,), dimension=0, dtype=ids.dtype),
                   ops.where(negative, zero, ids), axis=0)
    shifted = ops.where(negative, zero, ops.add(ids, ops.ones_like(ids)))
    if prim == "scatter_add":
        r = bind("scatter_add", d, shifted, axis=0, size=n + 1)
    else:
        r = bind(prim, d, shifted, num_segments=n + 1)
    starts = (1,) + (0,) * (r.ndim - 1)
    return bind("slice", r, starts=starts, limits=tuple(r.shape),
                strides=(1,) * r.ndim)


def _counts(op: str, d: Tensor, ids: Tensor, n: Any) -> Tensor:
    """The number of rows in each segment, shaped to broadcast against the result."""
    c = _unsorted(op, "scatter_add", ops.ones(tuple(ids.shape), d.dtype), ids, n)
    return ops.reshape(c, tuple(c.shape) + (1,) * (d.ndim - ids.ndim))


def _mean(op: str, data: TensorInput, segment_ids: TensorInput, num_segments: Any,
          root: bool) -> Tensor:
    d, ids = _operands(op, data, segment_ids)
    if d.dtype.kind != "f":
        d = cast(d, float64)            # TensorFlow's mean of integers is float64
    s = _unsorted(op, "scatter_add", d, ids, num_segments)
    c = ops.maximum(_counts(op, d, ids, num_segments), 1.0)
    return ops.divide(s, ops.sqrt(c) if root else c)



class UnsortedSegmentOp(Protocol):
    """`tj.math.unsorted_segment_*`: TensorFlow's signature."""

    def __call__(self, data: TensorInput, segment_ids: TensorInput, num_segments: Any,
                 name: str | None = None) -> Tensor: ...


class SortedSegmentOp(Protocol):
    """`tj.math.segment_*`: TensorFlow's signature."""

    def __call__(self, data: TensorInput, segment_ids: TensorInput,
                 name: str | None = None) -> Tensor: ...


def _unsorted_op(how: str, path: str, doc: str) -> UnsortedSegmentOp:
    """The public op at `path` that reduces the rows of each of `num_segments` segments by
    `how`: a primitive (`scatter_add`, `segment_max/min/prod`), or "mean" / "sqrt_n" (the
    sum divided by the count or by its square root)."""
    op = path.rpartition(".")[2]

    def fn(data: TensorInput, segment_ids: TensorInput, num_segments: Any,
           name: str | None = None) -> Tensor:
        if how in ("mean", "sqrt_n"):
            return _mean(op, data, segment_ids, num_segments, root=how == "sqrt_n")
        return _unsorted(op, how, data, segment_ids, num_segments)
    return named(fn, path, doc=doc)


unsorted_segment_sum = _unsorted_op("scatter_add", "math.unsorted_segment_sum", """
    Row s of the result is the sum of the rows of `data` whose id is s (`num_segments`
    rows; rows with a negative id are dropped; an empty segment gives 0).

    >>> tj.math.unsorted_segment_sum([1., 2., 3., 4.], [0, 2, 0, -1], 3).numpy()
    array([4., 0., 2.], dtype=float32)
    """)


unsorted_segment_mean = _unsorted_op("mean", "math.unsorted_segment_mean", """
    The mean of each segment's rows (0 for an empty segment; integers give float64, as
    TensorFlow).

    >>> tj.math.unsorted_segment_mean([1., 2., 3.], [0, 0, 1], 2).numpy()
    array([1.5, 3. ], dtype=float32)
    """)


unsorted_segment_sqrt_n = _unsorted_op("sqrt_n", "math.unsorted_segment_sqrt_n", """
    Each segment's sum divided by the square root of its number of rows (0 for an
    empty segment).

    >>> tj.math.unsorted_segment_sqrt_n([1., 3.], [0, 0], 1).numpy()
    array([2.828427], dtype=float32)
    """)


unsorted_segment_max = _unsorted_op("segment_max", "math.unsorted_segment_max", """
    The largest row of each segment (the lowest value of the dtype for an empty one);
    the gradient goes to the maximal elements, shared equally among ties.

    >>> tj.math.unsorted_segment_max([1., 5., 3.], [0, 0, 1], 3).numpy()
    array([ 5.0000000e+00,  3.0000000e+00, -3.4028235e+38], dtype=float32)
    """)


unsorted_segment_min = _unsorted_op("segment_min", "math.unsorted_segment_min", """
    The smallest row of each segment (the highest value of the dtype for an empty one);
    the gradient goes to the minimal elements, shared equally among ties.

    >>> tj.math.unsorted_segment_min([1, 5, 3], [0, 0, 1], 2).numpy()
    array([1, 3], dtype=int32)
    """)


unsorted_segment_prod = _unsorted_op("segment_prod", "math.unsorted_segment_prod", """
    The product of each segment's rows (1 for an empty segment); its gradient is exact
    where the data has zeros.

    >>> tj.math.unsorted_segment_prod([2., 3., 4.], [0, 0, 2], 3).numpy()
    array([6., 1., 4.], dtype=float32)
    """)


# ---------------------------------------------------------------- sorted segment ids


def _sorted_count(op: str, data: TensorInput, segment_ids: TensorInput) -> tuple[Tensor, Tensor,
                                                                                    int]:
    # ids given as Python or NumPy values are known while tracing, a tensor's only eagerly
    known = None if isinstance(segment_ids, TensorLike) else np.asarray(segment_ids)
    d, ids = _operands(op, data, segment_ids)
    if known is None and ids.is_traced:
        raise _user_error(TracingError(
            f"{op} needs the values of its segment ids (its number of segments is the last "
            "id + 1), which a compiled function does not know while tracing; use "
            f"tj.math.unsorted_{op} with num_segments there, or give the ids as a Python "
            "list or NumPy array inside the function"))
    v = known if known is not None else ids.numpy()
    if v.ndim != 1:
        raise _user_error(ShapeError(f"{op}: segment_ids must be 1-D, got shape {v.shape}"))
    if v.size and v.min() < 0:
        raise _user_error(ValueError(f"{op}: segment id {int(v.min())} is negative"))
    if v.size > 1 and (np.diff(v) < 0).any():
        k = int(np.argmax(np.diff(v) < 0)) + 1
        raise _user_error(ValueError(f"{op}: segment ids are not increasing (segment_ids[{k}]"
                                     f" = {int(v[k])} after {int(v[k - 1])})"))
    return d, ids, int(v[-1]) + 1 if v.size else 0


def _sorted(op: str, prim: str, data: TensorInput, segment_ids: TensorInput) -> Tensor:
    d, ids, n = _sorted_count(op, data, segment_ids)
    if prim == "mean" and d.dtype.kind in "iu":
        # TensorFlow's SegmentMean of integers is an integer, rounded toward zero (its
        # UnsortedSegmentMean gives float64)
        s = _unsorted(op, "scatter_add", d, ids, n)
        c = ops.maximum(_counts(op, d, ids, n), ops.ones((), d.dtype))
        return _truncdiv(s, c)
    if prim == "mean":
        return _mean(op, d, ids, n, root=False)
    r = _unsorted(op, prim, d, ids, n)
    if prim in ("segment_max", "segment_min"):      # empty segments are 0 here
        empty = ops.equal(_counts(op, d, ids, n), 0)
        r = ops.where(empty, ops.zeros_like(r), r)
    return r



def _sorted_op(how: str, path: str, doc: str) -> SortedSegmentOp:
    """The public op at `path` that reduces the rows of each segment of sorted ids by
    `how` (as `_unsorted_op`), eagerly or with known ids (see the module docstring)."""
    op = path.rpartition(".")[2]

    def fn(data: TensorInput, segment_ids: TensorInput, name: str | None = None) -> Tensor:
        return _sorted(op, how, data, segment_ids)
    return named(fn, path, doc=doc)


segment_sum = _sorted_op("scatter_add", "math.segment_sum", """
    The sum of each segment's rows, for sorted non-negative ids (last id + 1 rows; an
    empty segment gives 0). Inside compiled code the ids must be Python or NumPy values
    (else use unsorted_segment_sum with num_segments).

    >>> tj.math.segment_sum([1., 2., 3., 4.], [0, 0, 2, 2]).numpy()
    array([3., 0., 7.], dtype=float32)
    """)


segment_mean = _sorted_op("mean", "math.segment_mean", """
    The mean of each segment's rows, for sorted ids (0 for an empty segment); of
    integers, the integer mean rounded toward zero, as TensorFlow's.

    >>> tj.math.segment_mean([1., 2., 3., 4.], [0, 0, 2, 2]).numpy()
    array([1.5, 0. , 3.5], dtype=float32)
    """)


segment_prod = _sorted_op("segment_prod", "math.segment_prod", """
    The product of each segment's rows, for sorted ids (1 for an empty segment).

    >>> tj.math.segment_prod([1., 2., 3., 4.], [0, 0, 2, 2]).numpy()
    array([ 2.,  1., 12.], dtype=float32)
    """)


segment_max = _sorted_op("segment_max", "math.segment_max", """
    The largest row of each segment, for sorted ids (0 for an empty segment); the
    gradient is shared equally among tied maxima.

    >>> tj.math.segment_max([1., 2., 3., 4.], [0, 0, 2, 2]).numpy()
    array([2., 0., 4.], dtype=float32)
    """)


segment_min = _sorted_op("segment_min", "math.segment_min", """
    The smallest row of each segment, for sorted ids (0 for an empty segment).

    >>> tj.math.segment_min([1., 2., 3., 4.], [0, 0, 2, 2]).numpy()
    array([1., 0., 3.], dtype=float32)
    """)
