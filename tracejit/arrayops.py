"""Shape queries and the ops that rearrange or create arrays: shape, size, rank, slice,
reverse, roll, tile, repeat, split, eye, linspace.

Each op here is a composite of existing primitives (`slice`, `rev`, `concat`,
`broadcast_to`, `reshape`, `gather`, `iota`, ...), so it inherits their shape rules,
VJPs, batching and native lowering; no op here computes with NumPy on tensor values.
Arguments that decide an output's shape (`begin`/`size`, `multiples`, `repeats`,
`num_or_size_splits`, `num`) must be known when the op runs: Python values, NumPy arrays
or eager tensors; a traced tensor there raises a TypeError naming the argument.
"""
from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from .convert import (_axis, _dtype, _user_error, constant, convert_to_tensor, float32, int32,
                      shape_value, static_int)
from .errors import TracingError
from .exports import export
from .ir.core import bind
from .ir.dims import Dim
from .ir.errors import ShapeError
from .shapes import concat, reshape
from .tensor import Tensor, TensorInput, TensorLike, raw_shape

brange = builtins.range


def static_ints(op: str, arg: str, v: Any) -> np.ndarray:
    """The integer array of an argument that decides a shape (a Python int or list, a
    NumPy array or an eager tensor); a traced tensor raises TypeError naming `arg`."""
    a = shape_value(op, arg, v)
    if a.size and a.dtype.kind not in "iu":
        raise _user_error(TypeError(f"{op}: {arg} must be integers, got {a.dtype} {v!r}"))
    return a.astype(np.int64)


def _out_int_type(op: str, out_type: Any) -> np.dtype:
    dt = _dtype(out_type)
    if dt not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise _user_error(TypeError(f"{op}: out_type must be int32 or int64, got {dt}"))
    return dt


@export("shape")
def shape(input: TensorInput, out_type: Any = int32, name: str | None = None  # noqa: A002
          ) -> Tensor:
    """The shape of `input` as a 1-D int32 (or `out_type`) tensor, as `tf.shape` returns
    it. Inside a compiled function it is a constant, except for the dimensions unknown
    until run time (`input_signature` with None), which native code reads at each call.

    >>> tj.shape(tj.zeros([2, 3])).numpy()
    array([2, 3], dtype=int32)
    """
    x = convert_to_tensor(input)
    dt = _out_int_type("shape", out_type)
    dims = raw_shape(x)                 # with the `Dim`s that `x.shape` shows as None
    if not any(type(d) is Dim for d in dims):
        return constant(np.array(dims, dt))
    from .dimvalues import dim_value
    return concat([reshape(dim_value(d, dt), (1,)) for d in dims], 0)


@export("size")
def size(input: TensorInput, out_type: Any = int32, name: str | None = None  # noqa: A002
         ) -> Tensor:
    """The number of elements of `input`, a scalar int32 (or `out_type`) tensor.

    >>> int(tj.size(tj.zeros([2, 3])))
    6
    """
    n = int(np.prod(convert_to_tensor(input).shape, dtype=np.int64))
    return constant(np.array(n, _out_int_type("size", out_type)))


@export("rank")
def rank(input: TensorInput, name: str | None = None) -> Tensor:  # noqa: A002
    """The number of dimensions of `input`, a scalar int32 tensor.

    >>> int(tj.rank(tj.zeros([2, 3])))
    2
    """
    return constant(np.array(convert_to_tensor(input).ndim, np.int32))


@export("slice")
def slice(input_: TensorInput, begin: Any, size: Any, name: str | None = None) -> Tensor:  # noqa: A001
    """The block of `input_` starting at `begin` with extent `size` per axis; a size of -1
    takes every element from `begin` to the end of the axis (TensorFlow's `tf.slice`).

    >>> tj.slice(tj.reshape(tj.range(6), [2, 3]), [0, 1], [-1, 2]).numpy()
    array([[1, 2],
           [4, 5]], dtype=int32)
    """
    x = convert_to_tensor(input_)
    b = static_ints("slice", "begin", begin).reshape(-1)
    s = static_ints("slice", "size", size).reshape(-1)
    if len(b) != x.ndim or len(s) != x.ndim:
        raise _user_error(ShapeError(
            f"slice: begin {b.tolist()} and size {s.tolist()} must have one entry per "
            f"dimension of shape {x.shape}"))
    limits = []
    for i, (d, b_i, s_i) in enumerate(zip(x.shape, b.tolist(), s.tolist())):
        if not 0 <= b_i <= d:
            raise _user_error(ShapeError(
                f"slice: expected begin[{i}] in [0, {d}] for shape {x.shape}, got {b_i}"))
        s_i = d - b_i if s_i == -1 else s_i
        if not 0 <= s_i <= d - b_i:
            raise _user_error(ShapeError(
                f"slice: expected size[{i}] in [0, {d - b_i}] for begin {b.tolist()} and "
                f"shape {x.shape}, got {s_i}"))
        limits.append(b_i + s_i)
    starts = tuple(int(v) for v in b)
    if starts == (0,) * x.ndim and tuple(limits) == x.shape:
        return bind("identity", x)
    return bind("slice", x, starts=starts, limits=tuple(limits), strides=(1,) * x.ndim)


def _slice_axis(x: Tensor, axis: int, start: int, stop: int) -> Tensor:
    starts = tuple(start if i == axis else 0 for i in brange(x.ndim))
    limits = tuple(stop if i == axis else d for i, d in enumerate(x.shape))
    return bind("slice", x, starts=starts, limits=limits, strides=(1,) * x.ndim)


def _distinct_axes(op: str, axis: Any, ndim: int) -> tuple[int, ...]:
    listed = [axis] if isinstance(axis, (int, np.integer)) else list(
        static_ints(op, "axis", axis).reshape(-1))
    axes = [_axis(op, int(a), ndim) for a in listed]
    for a in axes:
        if axes.count(a) > 1:
            shown = [int(v) for v in listed]
            raise _user_error(ValueError(f"{op}: axis {a} specified more than once in {shown}"))
    return tuple(sorted(axes))


@export("reverse")
def reverse(tensor: TensorInput, axis: Any, name: str | None = None) -> Tensor:
    """`tensor` with the order of elements reversed along each axis in `axis`.

    >>> tj.reverse(tj.constant([[1, 2, 3]]), [1]).numpy()
    array([[3, 2, 1]], dtype=int32)
    """
    x = convert_to_tensor(tensor)
    axes = _distinct_axes("reverse", axis, x.ndim)
    return bind("rev", x, axes=axes) if axes else bind("identity", x)


@export("roll")
def roll(input: TensorInput, shift: Any, axis: Any, name: str | None = None  # noqa: A002
         ) -> Tensor:
    """Elements shifted by `shift` along `axis`, wrapping around; several shifts along one
    axis add up, as in TensorFlow. A concat of two slices per axis.

    >>> tj.roll(tj.constant([0, 1, 2, 3]), 1, 0).numpy()
    array([3, 0, 1, 2], dtype=int32)
    """
    x = convert_to_tensor(input)
    shifts = static_ints("roll", "shift", shift).reshape(-1).tolist()
    axes = static_ints("roll", "axis", axis).reshape(-1).tolist()
    if len(shifts) != len(axes):
        raise _user_error(ValueError(f"roll: shift {shifts} and axis {axes} must have the "
                                     "same length"))
    total: dict[int, int] = {}
    for s, a in zip(shifts, axes):
        ax = _axis("roll", a, x.ndim)
        total[ax] = total.get(ax, 0) + s
    out = x
    for ax, s in sorted(total.items()):
        d = x.shape[ax]
        k = s % d if d else 0
        if k:
            out = concat([_slice_axis(out, ax, d - k, d), _slice_axis(out, ax, 0, d - k)], ax)
    return out if out is not x else bind("identity", x)


@export("tile")
def tile(input: TensorInput, multiples: Any, name: str | None = None) -> Tensor:  # noqa: A002
    """`input` repeated `multiples[i]` times along axis i. A broadcast over a new axis in
    front of each axis and a reshape, so its gradient is the broadcast's sum.

    >>> tj.tile(tj.constant([[1, 2]]), [2, 2]).numpy()
    array([[1, 2, 1, 2],
           [1, 2, 1, 2]], dtype=int32)
    """
    x = convert_to_tensor(input)
    m = static_ints("tile", "multiples", multiples).reshape(-1).tolist()
    if len(m) != x.ndim:
        raise _user_error(ValueError(f"tile: expected multiples of length {x.ndim} for shape "
                                     f"{x.shape}, got {m}"))
    if any(k < 0 for k in m):
        raise _user_error(ValueError(f"tile: multiples must be >= 0, got {m}"))
    if all(k == 1 for k in m):
        return bind("identity", x)
    inter = tuple(v for d in x.shape for v in (1, d))
    wide = tuple(v for k, d in zip(m, x.shape) for v in (k, d))
    b = bind("broadcast_to", reshape(x, inter), shape=wide)
    return reshape(b, [k * d for k, d in zip(m, x.shape)])


@export("repeat")
def repeat(input: TensorInput, repeats: Any, axis: Any = None, name: str | None = None  # noqa: A002
           ) -> Tensor:
    """Each element of `input` repeated along `axis` (flattened first when `axis` is
    None): `repeats` times, or `repeats[i]` times for element i. A scalar `repeats` is a
    broadcast and a reshape; per-element repeats are a gather with constant indices.
    Negative per-element repeats count as 0, as in TensorFlow; one negative `repeats` for
    every element raises ValueError, as TensorFlow's does (InvalidArgumentError).

    >>> tj.repeat(tj.constant([1, 2]), [2, 1], axis=0).numpy()
    array([1, 1, 2], dtype=int32)
    """
    x = convert_to_tensor(input)
    if axis is None:
        x, ax = reshape(x, [-1]), 0
    else:
        ax = _axis("repeat", axis, x.ndim)
    r = static_ints("repeat", "repeats", repeats)
    if r.size == 1 and int(r.reshape(-1)[0]) < 0:
        raise _user_error(ValueError(f"repeat: repeats must be >= 0, got {int(r.reshape(-1)[0])}"))
    r = np.maximum(r, 0)
    d = x.shape[ax]
    if r.ndim > 1 or (r.ndim == 1 and r.size not in (1, d)):
        raise _user_error(ShapeError(f"repeat: repeats of shape {r.shape} do not match "
                                     f"dimension {ax} of shape {x.shape} (size {d})"))
    if r.size == 1:
        k = int(r.reshape(-1)[0])
        shape = x.shape[:ax + 1] + (k,) + x.shape[ax + 1:]
        b = bind("broadcast_to", reshape(x, x.shape[:ax + 1] + (1,) + x.shape[ax + 1:]),
                 shape=shape)
        return reshape(b, x.shape[:ax] + (d * k,) + x.shape[ax + 1:])
    idx = np.repeat(np.arange(d, dtype=np.int64), r)
    return bind("gather", x, constant(idx), axis=ax)


@export("split")
def split(value: TensorInput, num_or_size_splits: Any, axis: int = 0, num: Any = None,
          name: str | None = None) -> list[Tensor]:
    """`value` cut along `axis` into `num_or_size_splits` equal pieces, or into pieces of
    the listed sizes (one of them may be -1: the rest). Each piece is a slice.

    >>> [t.numpy().tolist() for t in tj.split(tj.range(5), [2, -1])]
    [[0, 1], [2, 3, 4]]
    """
    x = convert_to_tensor(value)
    ax = _axis("split", axis, x.ndim)
    d = x.shape[ax]
    s = static_ints("split", "num_or_size_splits", num_or_size_splits)
    if s.ndim == 0:
        n = int(s)
        if n <= 0 or d % n:
            raise _user_error(ValueError(
                f"split: the number of pieces must divide dimension {ax} of shape {x.shape} "
                f"(size {d}), got {n}"))
        sizes = [d // n] * n
    else:
        sizes = s.tolist()
        if num is not None and int(num) != len(sizes):
            raise _user_error(ValueError(f"split: num={num} but {len(sizes)} sizes given"))
        if sizes.count(-1) > 1 or any(v < -1 for v in sizes):
            raise _user_error(ValueError(f"split: sizes {sizes} may hold one -1 and no other "
                                         "negative value"))
        known = sum(v for v in sizes if v != -1)
        if -1 in sizes and known <= d:
            sizes[sizes.index(-1)] = d - known
        if sum(sizes) != d or -1 in sizes:
            raise _user_error(ValueError(
                f"split: sizes {s.tolist()} do not add up to dimension {ax} of shape "
                f"{x.shape} (size {d})"))
    out, start = [], 0
    for n in sizes:
        out.append(_slice_axis(x, ax, start, start + n))
        start += n
    return out


@export("eye", "linalg.eye")
def eye(num_rows: int, num_columns: int | None = None, batch_shape: Any = None,
        dtype: Any = float32, name: str | None = None) -> Tensor:
    """The identity matrix of shape `batch_shape + [num_rows, num_columns]` (square when
    `num_columns` is None): `iota == iota`, converted and broadcast, so compiled code
    computes it in registers.

    >>> tj.eye(2, 3, dtype=tj.int32).numpy()
    array([[1, 0, 0],
           [0, 1, 0]], dtype=int32)
    """
    dt = _dtype(dtype)
    n = static_int("eye", "num_rows", num_rows)
    m = n if num_columns is None else static_int("eye", "num_columns", num_columns)
    batch = () if batch_shape is None else tuple(
        static_ints("eye", "batch_shape", batch_shape).reshape(-1).tolist())
    if n < 0 or m < 0 or any(b < 0 for b in batch):
        raise _user_error(ValueError(f"eye: dimensions must be >= 0, got rows {n}, columns "
                                     f"{m}, batch_shape {batch}"))
    i = bind("iota", shape=(n, m), dimension=0, dtype=np.dtype(np.int64))
    j = bind("iota", shape=(n, m), dimension=1, dtype=np.dtype(np.int64))
    out = bind("convert", bind("eq", i, j), dtype=dt)
    return bind("broadcast_to", out, shape=batch + (n, m)) if batch else out


@export("linspace")
def linspace(start: TensorInput, stop: TensorInput, num: Any, name: str | None = None,
             axis: int = 0) -> Tensor:
    """`num` evenly spaced values from `start` to `stop`, both included, along a new axis
    `axis` (`start` and `stop` may be tensors: the values broadcast over their shape).
    Integer endpoints give float64, as in TensorFlow. Composite: `start + iota * step`,
    with the last value `stop` exactly, so gradients flow to `start` and `stop`.

    >>> tj.linspace(0., 1., 5).numpy()
    array([0.  , 0.25, 0.5 , 0.75, 1.  ], dtype=float32)
    """
    from .ops import add, broadcast_to, cast, divide, expand_dims, multiply, subtract
    a = convert_to_tensor(start)
    # TensorFlow converts `stop` to start's dtype: a Python or NumPy number takes a float
    # start's dtype (tj.linspace(np.float64(0), 1., 3) is float64)
    weak = a.dtype.kind == "f" and not isinstance(stop, TensorLike)
    b = convert_to_tensor(stop, dtype=a.dtype) if weak else convert_to_tensor(stop)
    if a.dtype.kind != "f":
        a = cast(a, np.float64)
    if b.dtype.kind != "f":
        b = cast(b, np.float64)
    if a.dtype != b.dtype:
        raise _user_error(TypeError(f"linspace: start is {a.dtype} and stop {b.dtype}"))
    n = int(static_ints("linspace", "num", num))
    if n < 0:
        raise _user_error(ValueError(f"linspace: num must be >= 0, got {n}"))
    shape = np.broadcast_shapes(a.shape, b.shape)
    a, b = broadcast_to(a, shape), broadcast_to(b, shape)
    ax = _axis("linspace", axis, len(shape), extra=1)
    a, b = expand_dims(a, ax), expand_dims(b, ax)
    out_shape = shape[:ax] + (n,) + shape[ax:]
    if n <= 1:
        return broadcast_to(a, out_shape) if n else _slice_axis(a, ax, 0, 0)
    k = bind("iota", shape=out_shape, dimension=ax, dtype=a.dtype)
    step = divide(subtract(b, a), constant(np.asarray(n - 1, a.dtype)))
    body = add(a, multiply(_slice_axis(k, ax, 0, n - 1), step))
    return concat([body, b], ax)


def is_concrete(t: Any) -> bool:
    """Whether `t` has a value now (not a traced tensor)."""
    if not isinstance(t, TensorLike):
        return True
    try:
        np.asarray(t)
    except TracingError:
        return False
    return True
