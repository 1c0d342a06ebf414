"""N-dimensional gathers and scatters: gather with `batch_dims`, gather_nd, scatter_nd,
tensor_scatter_nd_add / _sub / _update / _max / _min, and nn.embedding_lookup.

All are composites of `gather` and `scatter_add` over a flattened leading block: an index
row (i_0, ..., i_{K-1}) into dimensions (d_0, ..., d_{K-1}) becomes the linear index
sum_k i_k * stride_k. Each component is first bounds-checked against its own dimension
(a `gather` from an iota of that length, which is the identity on valid indices and raises
IndexError naming the index and the dimension otherwise), so an out-of-range component
can never alias another element. Gradients, batching and lowering are those of `gather`
and `scatter_add`: the gradient of gather_nd is a scatter_nd (duplicates add up) and that
of a scatter is a gather, as in TensorFlow. tensor_scatter_nd_max/_min are a `segment_max`
(`segment_min`) over the tensor's rows followed by the updates, with TensorFlow's gradient
(ties share equally) from that primitive.

Eagerly, a bad index row raises IndexError quoting the whole row and the shape, as
TensorFlow's message does; in compiled code the error names the op the user called, the
component's index and dimension and the user's line.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .arrayops import is_concrete, static_ints
from .context import index_op
from .convert import _user_error, constant, convert_to_tensor
from .exports import export
from .ir.core import INT_DTYPES, bind
from .ir.errors import DTypeError, ShapeError
from .ir.ops import const
from .shapes import reshape, transpose
from .tensor import Tensor, TensorInput, TensorLike

I64 = np.dtype(np.int64)


def _indices(op: str, indices: Any) -> Tensor:
    if isinstance(indices, TensorLike):
        idx = convert_to_tensor(indices)
    else:
        a = np.asarray(indices)
        idx = constant(a.astype(np.int64) if a.dtype.kind in "iu" or a.size == 0 else a)
    if idx.dtype not in INT_DTYPES:
        raise _user_error(DTypeError(f"{op}: indices must be int32 or int64, got {idx.dtype}"))
    return idx


def _check_rows(op: str, idx: Tensor, dims: tuple[int, ...], what: str) -> None:
    """Eagerly: IndexError quoting the first index row outside `dims`."""
    if not is_concrete(idx) or not idx.shape[-1]:
        return
    rows = np.asarray(idx).reshape(-1, idx.shape[-1])
    bad = ((rows < 0) | (rows >= np.array(dims, np.int64))).any(axis=1)
    if bad.any():
        at = np.unravel_index(int(np.argmax(bad)), idx.shape[:-1])
        raise _user_error(IndexError(
            f"{op}: indices[{', '.join(str(int(i)) for i in at)}] = "
            f"{rows[bad][0].tolist()} does not index into {what} {list(dims)}"))


def linear_index(idx: Tensor, dims: tuple[int, ...], batch: int = 0) -> Tensor:
    """The int64 linear index of each row of `idx` (last axis: one component per entry of
    `dims`) into the flattened `dims`, each component bounds-checked against its dimension.
    With `batch` = B, `idx` has a leading axis of B rows of index sets, and row b's linear
    indices are offset by b * prod(dims) (into a flattened (B,) + dims block)."""
    k = idx.shape[-1]
    lead = idx.shape[:-1]
    total = None
    stride = 1
    for c in reversed(range(k)):
        d = dims[c]
        comp = bind("slice", idx, starts=(0,) * len(lead) + (c,), limits=lead + (c + 1,),
                    strides=(1,) * idx.ndim) if k > 1 else idx
        comp = bind("reshape", comp, shape=lead)
        if comp.dtype != I64:
            comp = bind("convert", comp, dtype=I64)
        comp = bind("gather", bind("iota", shape=(d,), dimension=0, dtype=I64), comp, axis=0)
        term = comp if stride == 1 else bind("mul", comp, const(stride, I64))
        total = term if total is None else bind("add", total, term)
        stride *= d
    if batch:
        rows = bind("iota", shape=lead, dimension=0, dtype=I64)
        term = rows if stride == 1 else bind("mul", rows, const(stride, I64))
        total = term if total is None else bind("add", total, term)
    if total is None:
        total = bind("broadcast_to", const(0, I64), shape=lead)
    return total




def gather_batched(x: Tensor, idx: Tensor, axis: int, batch_dims: int) -> Tensor:
    """`tf.gather` with `batch_dims` > 0: params and indices share their first
    `batch_dims` dimensions and each batch element gathers from its own params."""
    b = batch_dims
    if x.shape[:b] != idx.shape[:b]:
        raise _user_error(ShapeError(
            f"gather: the first batch_dims={b} dimensions of params {x.shape} and indices "
            f"{idx.shape} must be equal"))
    if axis < b:
        raise _user_error(ValueError(f"gather: axis {axis} must be >= batch_dims {b}"))
    batch = x.shape[:b]
    nb = math.prod(batch)
    rest = x.shape[b:axis] + x.shape[axis + 1:]
    # params -> (NB * d,) + rest, with the gathered axis right after the batch
    perm = tuple(range(b)) + (axis,) + tuple(i for i in range(b, x.ndim) if i != axis)
    flat = reshape(transpose(x, perm), (nb * x.shape[axis],) + rest)
    inner = idx.shape[b:]
    lin = linear_index(reshape(idx, (nb,) + inner + (1,)), (x.shape[axis],), batch=nb)
    got = bind("gather", flat, lin, axis=0)           # (NB,) + inner + rest
    got = reshape(got, batch + inner + rest)
    # -> batch + x.shape[b:axis] + inner + x.shape[axis+1:]
    ni, pre = len(inner), axis - b
    back = (tuple(range(b)) + tuple(range(b + ni, b + ni + pre)) + tuple(range(b, b + ni))
            + tuple(range(b + ni + pre, got.ndim)))
    return transpose(got, back)


@export("gather_nd")
def gather_nd(params: TensorInput, indices: TensorInput, batch_dims: int = 0,
              name: str | None = None) -> Tensor:
    """Slices of `params` at index rows: `indices[..., :]` indexes the first
    `indices.shape[-1]` dimensions (after `batch_dims` shared batch dimensions), so the
    result has shape `indices.shape[:-1] + params.shape[batch_dims + K:]`. An index out of
    range raises IndexError (TensorFlow on CPU: InvalidArgumentError).

    >>> tj.gather_nd(tj.constant([[1, 2], [3, 4]]), [[1, 0], [0, 1]]).numpy()
    array([3, 2], dtype=int32)
    """
    x = convert_to_tensor(params)
    idx = _indices("gather_nd", indices)
    b = int(batch_dims)
    if idx.ndim < 1 or not 0 <= b < idx.ndim:
        raise _user_error(ShapeError(f"gather_nd: indices of shape {idx.shape} need rank >= "
                                     f"batch_dims + 1 = {b + 1}"))
    k = idx.shape[-1]
    if b + k > x.ndim:
        raise _user_error(ShapeError(f"gather_nd: index rows of length {k} (after "
                                     f"batch_dims={b}) exceed the rank of params {x.shape}"))
    if x.shape[:b] != idx.shape[:b]:
        raise _user_error(ShapeError(f"gather_nd: the first batch_dims={b} dimensions of "
                                     f"params {x.shape} and indices {idx.shape} differ"))
    batch = x.shape[:b]
    nb = math.prod(batch)
    dims = x.shape[b:b + k]
    _check_rows("gather_nd", idx, dims, "param shape")
    rest = x.shape[b + k:]
    flat = reshape(x, (nb * math.prod(dims),) + rest)
    inner = idx.shape[b:-1]
    with index_op("gather_nd"):
        lin = linear_index(reshape(idx, (nb,) + inner + (k,)) if b else idx, dims,
                           batch=nb if b else 0)
    return reshape(bind("gather", flat, lin, axis=0), batch + inner + rest)


def _rows(op: str, idx: Tensor, upd: Tensor, shape: tuple[int, ...]
          ) -> tuple[Tensor, Tensor, int]:
    """The checked scatter operands flattened: the int64 linear index of each of the n
    index rows (shape (n,)), the updates as n rows of shape `shape[k:]`, and k."""
    k = idx.shape[-1] if idx.ndim else 0
    if idx.ndim < 1 or k > len(shape):
        raise _user_error(ShapeError(f"{op}: indices of shape {idx.shape} need rank >= 1 and "
                                     f"rows no longer than the rank of shape {shape}"))
    want = idx.shape[:-1] + shape[k:]
    if upd.shape != want:
        raise _user_error(ShapeError(f"{op}: updates must have shape indices.shape[:-1] + "
                                     f"shape[{k}:] = {want}, got {upd.shape}"))
    dims = shape[:k]
    _check_rows(op, idx, dims, "shape")
    n = math.prod(idx.shape[:-1])
    with index_op(op):
        lin = reshape(linear_index(idx, dims), (n,))
    return lin, reshape(upd, (n,) + shape[k:]), k


def _scatter(op: str, idx: Tensor, upd: Tensor, shape: tuple[int, ...], mode: str) -> Tensor:
    lin, flat, k = _rows(op, idx, upd, shape)
    out = bind("scatter_add", flat, lin, axis=0, size=math.prod(shape[:k]), mode=mode)
    return reshape(out, shape)


@export("scatter_nd")
def scatter_nd(indices: TensorInput, updates: TensorInput, shape: Any, name: str | None = None
               ) -> Tensor:
    """Zeros of `shape` with `updates` added at the index rows of `indices` (duplicates
    add up): the transpose of `gather_nd`.

    >>> tj.scatter_nd([[1], [1], [0]], tj.constant([1., 2., 3.]), [3]).numpy()
    array([3., 3., 0.], dtype=float32)
    """
    idx = _indices("scatter_nd", indices)
    dims = tuple(static_ints("scatter_nd", "shape", shape).reshape(-1).tolist())
    if any(d < 0 for d in dims):        # TensorFlow: InvalidArgumentError
        raise _user_error(ShapeError(f"scatter_nd: negative dimension in shape {dims}"))
    return _scatter("scatter_nd", idx, convert_to_tensor(updates), dims, "add")


def _tensor_and_updates(op: str, tensor: TensorInput, updates: TensorInput
                        ) -> tuple[Tensor, Tensor]:
    from .convert import _operands
    t, u = _operands(op, tensor, updates)
    return t, u


@export("tensor_scatter_nd_add")
def tensor_scatter_nd_add(tensor: TensorInput, indices: TensorInput, updates: TensorInput,
                          name: str | None = None) -> Tensor:
    """`tensor` with `updates` added at the index rows of `indices` (duplicates add up).

    >>> tj.tensor_scatter_nd_add(tj.ones([3]), [[1], [1]], tj.constant([1., 2.])).numpy()
    array([1., 4., 1.], dtype=float32)
    """
    t, u = _tensor_and_updates("tensor_scatter_nd_add", tensor, updates)
    idx = _indices("tensor_scatter_nd_add", indices)
    return bind("add", t, _scatter("tensor_scatter_nd_add", idx, u, t.shape, "add"))


@export("tensor_scatter_nd_sub")
def tensor_scatter_nd_sub(tensor: TensorInput, indices: TensorInput, updates: TensorInput,
                          name: str | None = None) -> Tensor:
    """`tensor` with `updates` subtracted at the index rows of `indices` (duplicates add
    up).

    >>> tj.tensor_scatter_nd_sub(tj.ones([3]), [[1], [1]], tj.constant([1., 2.])).numpy()
    array([ 1., -2.,  1.], dtype=float32)
    """
    t, u = _tensor_and_updates("tensor_scatter_nd_sub", tensor, updates)
    idx = _indices("tensor_scatter_nd_sub", indices)
    return bind("sub", t, _scatter("tensor_scatter_nd_sub", idx, u, t.shape, "add"))


def _scatter_extreme(op: str, prim: str, tensor: TensorInput, indices: TensorInput,
                     updates: TensorInput) -> Tensor:
    """`tensor` with each element (or slice) at an index row replaced by the max (min) of
    itself and the updates at that row: a `segment_max` (`segment_min`) whose segments are
    the tensor's rows, each holding its own row and the updates aimed at it."""
    t, u = _tensor_and_updates(op, tensor, updates)
    if t.dtype.kind not in "iuf":       # TensorFlow: NotFoundError (no bool kernel)
        raise _user_error(DTypeError(f"{op}: tensor must be a float or integer tensor, got "
                                     f"{t.dtype}"))
    idx = _indices(op, indices)
    lin, flat, k = _rows(op, idx, u, t.shape)
    n = math.prod(t.shape[:k])
    rows = reshape(t, (n,) + t.shape[k:])
    data = bind("concat", rows, flat, axis=0)
    ids = bind("concat", bind("iota", shape=(n,), dimension=0, dtype=I64), lin, axis=0)
    return reshape(bind(prim, data, ids, num_segments=n), t.shape)


@export("tensor_scatter_nd_max")
def tensor_scatter_nd_max(tensor: TensorInput, indices: TensorInput, updates: TensorInput,
                          name: str | None = None) -> Tensor:
    """`tensor` with each element (or slice) at the index rows of `indices` replaced by the
    maximum of itself and the `updates` at that row (duplicates included). Gradients as
    TensorFlow's: each of the elements equal to the result gets an equal share. NaN
    propagates (TensorFlow's CPU kernel keeps a NaN of `tensor` but skips a NaN update).

    >>> tj.tensor_scatter_nd_max(tj.constant([1., 5., 3.]), [[0], [1], [0]],
    ...                          tj.constant([4., 2., 7.])).numpy()
    array([7., 5., 3.], dtype=float32)
    """
    return _scatter_extreme("tensor_scatter_nd_max", "segment_max", tensor, indices, updates)


@export("tensor_scatter_nd_min")
def tensor_scatter_nd_min(tensor: TensorInput, indices: TensorInput, updates: TensorInput,
                          name: str | None = None) -> Tensor:
    """`tensor` with each element (or slice) at the index rows of `indices` replaced by the
    minimum of itself and the `updates` at that row (duplicates included). Gradients as
    TensorFlow's: each of the elements equal to the result gets an equal share. NaN
    propagates (TensorFlow's CPU kernel keeps a NaN of `tensor` but skips a NaN update).

    >>> tj.tensor_scatter_nd_min(tj.constant([1., 5., 3.]), [[0], [1], [0]],
    ...                          tj.constant([4., 2., 7.])).numpy()
    array([1., 2., 3.], dtype=float32)
    """
    return _scatter_extreme("tensor_scatter_nd_min", "segment_min", tensor, indices, updates)


@export("tensor_scatter_nd_update")
def tensor_scatter_nd_update(tensor: TensorInput, indices: TensorInput, updates: TensorInput,
                             name: str | None = None) -> Tensor:
    """`tensor` with the elements (or slices) at the index rows of `indices` replaced by
    `updates`; of duplicate rows the last one wins (what TensorFlow's CPU kernel does;
    its documentation leaves the order unspecified). Gradients as TensorFlow's: `tensor`
    gets the upstream gradient where it was not overwritten, each update (duplicates
    included) the upstream gradient at its row.

    >>> tj.tensor_scatter_nd_update(tj.zeros([3]), [[1], [1]], tj.constant([1., 2.])).numpy()
    array([0., 2., 0.], dtype=float32)
    """
    op = "tensor_scatter_nd_update"
    t, u = _tensor_and_updates(op, tensor, updates)
    idx = _indices(op, indices)
    new = _scatter(op, idx, u, t.shape, "set")
    k = idx.shape[-1] if idx.ndim else 0
    ones = bind("broadcast_to", bind("constant", value=np.ones((), np.int32)),
                shape=idx.shape[:-1] + t.shape[k:])
    hit = bind("gt", _scatter(op, idx, ones, t.shape, "add"),
               bind("constant", value=np.zeros((), np.int32)))
    return bind("select", hit, new, t)


@export("nn.embedding_lookup")
def embedding_lookup(params: TensorInput | Sequence[TensorInput], ids: TensorInput,
                     max_norm: Any = None, name: str | None = None) -> Tensor:
    """Rows of `params` (one tensor, or a list holding one) at `ids`: `gather(params, ids)`.
    With `max_norm`, each looked-up embedding whose L2 norm exceeds it is scaled down to
    it, as TensorFlow's `clip_by_norm` does.

    >>> tj.nn.embedding_lookup(tj.constant([[1., 2.], [3., 4.]]), [1, 1, 0]).numpy()
    array([[3., 4.],
           [3., 4.],
           [1., 2.]], dtype=float32)
    """
    from .ops import gather, maximum, multiply, divide, reduce_sum, sqrt, where, ones_like
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            raise _user_error(NotImplementedError(
                f"embedding_lookup: params sharded over {len(params)} tensors is not "
                "supported; concatenate them (tj.concat) and look up in one tensor"))
        params = params[0]
    x = convert_to_tensor(params)
    idx = _indices("embedding_lookup", ids)
    out = gather(x, idx, axis=0)
    if max_norm is None:
        return out
    axes = tuple(range(idx.ndim, out.ndim))
    if not axes:
        return out
    sq = reduce_sum(multiply(out, out), axes, keepdims=True)
    pos = bind("gt", sq, bind("constant", value=np.zeros((), sq.dtype)))
    norm = where(pos, sqrt(where(pos, sq, ones_like(sq))), sq)
    c = convert_to_tensor(max_norm) if isinstance(max_norm, TensorLike) else max_norm
    return divide(multiply(out, c), maximum(norm, c))


def check_batch_dims(op: str, batch_dims: Any, x: Tensor, idx: Tensor) -> int:
    """batch_dims as a non-negative int (negative counts from the indices' rank)."""
    b = int(batch_dims)
    if b < 0:
        b += idx.ndim
    if not 0 <= b <= idx.ndim or b > x.ndim:
        raise _user_error(ValueError(f"{op}: batch_dims={batch_dims} is out of range for "
                                     f"indices of rank {idx.ndim} and params of rank "
                                     f"{x.ndim}"))
    return b

