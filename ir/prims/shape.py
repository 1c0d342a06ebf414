"""Shape primitives: constant, iota, reshape, broadcast_to, transpose, concat, slice, pad,
rev.

Invariants: every shape parameter is a tuple of non-negative ints fixed at trace time;
`slice` takes positive strides and in-range bounds (the user API turns Python indexing,
negative steps included, into slice + rev + reshape); `pad` pads with zeros and is
`slice`'s transpose, so each is the other's VJP.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from ..core import TensorType, bind
from ..dims import dims_equal, is_dim
from ..errors import ShapeError
from .elementwise import _same_dtype
from ..axes import AxisParam
from .registry import Primitive, register
from .tangents import linear


def _constant_rule(*, value: np.ndarray) -> TensorType:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"constant: value must be a NumPy array, got {type(value).__name__}")
    return TensorType(value.shape, value.dtype)


# A literal array (scalars, mostly; captured tensors are parameters).
register(Primitive("constant", kind="shape", params={"value": np.zeros((), np.float32)},
                   shape_rule=_constant_rule, impl=lambda *, value: np.array(value, copy=True),
                   vjp=lambda g, *, out, value: (), n_inputs=0, gradient="none", cost=0))


def _iota_rule(*, shape: tuple[int, ...], dimension: int, dtype: np.dtype) -> TensorType:
    return TensorType(shape, dtype)


def _iota_impl(*, shape: tuple[int, ...], dimension: int, dtype: np.dtype) -> np.ndarray:
    idx = np.arange(shape[dimension], dtype=dtype)
    idx = idx.reshape([-1 if i == dimension else 1 for i in range(len(shape))])
    return np.ascontiguousarray(np.broadcast_to(idx, shape))


# 0, 1, 2, ... along `dimension`, broadcast over `shape`.
register(Primitive("iota", kind="shape",
                   params={"shape": (1,), "dimension": 0, "dtype": np.dtype(np.int32)},
                   shape_rule=_iota_rule, impl=_iota_impl,
                   vjp=lambda g, *, out, shape, dimension, dtype: (), n_inputs=0,
                   gradient="none", cost=0,
                   axis_params={"dimension": AxisParam(
                       "axis", rank=lambda ts, p: len(p["shape"]))}))


def _reshape_rule(x: TensorType, *, shape: tuple[int, ...]) -> TensorType:
    if any(not is_dim(d) and (not isinstance(d, (int, np.integer)) or d < 0)
           for d in shape):
        raise ShapeError(f"reshape: bad target shape {shape}")
    n = math.prod(shape)  # exact: an int64 product wraps around (2**32 * 2**32 == 0)
    if dims_equal(n, x.size) is False:
        raise ShapeError(f"cannot reshape {x} ({x.size} elements) to shape {tuple(shape)} "
                         f"({n} elements)")
    return TensorType(shape, x.dtype)


register(Primitive("reshape", kind="shape", params={"shape": ()}, shape_rule=_reshape_rule,
                   impl=lambda x, *, shape: np.reshape(x, shape),
                   vjp=lambda g, x, *, out, shape: (ops.reshape(g, x.shape),), n_inputs=1,
                   cost=0,
                   jvp=linear("reshape")))


def _broadcast_rule(x: TensorType, *, shape: tuple[int, ...]) -> TensorType:
    shape = tuple(shape)
    ok = len(shape) >= x.ndim and all(
        d == 1 or dims_equal(d, shape[len(shape) - x.ndim + i]) is not False
        for i, d in enumerate(x.shape))
    if not ok:
        raise ShapeError(f"cannot broadcast {x} to shape {shape}")
    return TensorType(shape, x.dtype)


# Elementwise: each output element is the operand's element at its broadcast index (so it
# fuses like one; its batching rule is its own, for the `shape` parameter).
register(Primitive("broadcast_to", kind="elementwise", params={"shape": ()},
                   shape_rule=_broadcast_rule,
                   impl=lambda x, *, shape: np.array(np.broadcast_to(x, shape)),
                   vjp=lambda g, x, *, out, shape: (ops.sum_to_shape(g, x.shape),),
                   n_inputs=1, cost=0,
                   jvp=linear("broadcast_to")))


def _transpose_rule(x: TensorType, *, perm: tuple[int, ...]) -> TensorType:
    return TensorType(tuple(x.shape[p] for p in perm), x.dtype)


def _transpose_vjp(g: Any, x: Any, *, out: Any, perm: tuple[int, ...]) -> tuple[Any]:
    return (ops.transpose(g, tuple(int(i) for i in np.argsort(perm))),)


register(Primitive("transpose", kind="shape", params={"perm": ()}, shape_rule=_transpose_rule,
                   axis_params={"perm": AxisParam("perm")},
                   impl=lambda x, *, perm: np.transpose(x, perm), vjp=_transpose_vjp,
                   n_inputs=1, cost=0,
                   jvp=linear("transpose")))


def _concat_rule(*xs: TensorType, axis: int) -> TensorType:
    if not xs:
        raise ShapeError("concat needs at least one operand")
    _same_dtype("concat", *xs)
    first = xs[0]
    for t in xs[1:]:
        if t.ndim != first.ndim or any(
                a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != axis):
            raise ShapeError(f"concat along axis {axis} needs equal other dimensions, got "
                             f"{', '.join(str(u) for u in xs)}")
    shape = list(first.shape)
    shape[axis] = sum(t.shape[axis] for t in xs)
    return TensorType(shape, first.dtype)


def _concat_vjp(g: Any, *xs: Any, out: Any, axis: int) -> tuple[Any, ...]:
    res, start = [], 0
    for x in xs:
        n = x.shape[axis]
        starts = tuple(start if i == axis else 0 for i in range(g.ndim))
        limits = tuple(start + n if i == axis else d for i, d in enumerate(g.shape))
        res.append(bind("slice", g, starts=starts, limits=limits, strides=(1,) * g.ndim))
        start += n
    return tuple(res)


register(Primitive("concat", kind="shape", params={"axis": 0}, shape_rule=_concat_rule,
                   axis_params={"axis": AxisParam("axis")},
                   impl=lambda *xs, axis: np.concatenate(xs, axis=axis), vjp=_concat_vjp,
                   cost=3,
                   jvp=linear("concat")))


def slice_len(start: int, limit: int, stride: int) -> int:
    return max(0, -(-(limit - start) // stride))


def _slice_rule(x: TensorType, *, starts: tuple[int, ...], limits: tuple[int, ...],
                strides: tuple[int, ...]) -> TensorType:
    if not len(starts) == len(limits) == len(strides) == x.ndim:
        raise ShapeError(f"slice of {x} needs {x.ndim} starts, limits and strides, got "
                         f"{starts}, {limits}, {strides}")
    for d, s, e, k in zip(x.shape, starts, limits, strides):
        if is_dim(d) or is_dim(e):
            if s == 0 and e is d and k == 1:
                continue            # the whole of an unknown dimension
            raise ShapeError(f"slice bounds starts={starts} limits={limits} strides={strides} "
                             f"of {x}: an unknown dimension can only be taken whole")
        if not (0 <= s <= e <= d and k >= 1):
            raise ShapeError(f"slice bounds starts={starts} limits={limits} strides={strides} "
                             f"are out of range for {x}")
    return TensorType([e if is_dim(e) else slice_len(s, e, k)
                       for s, e, k in zip(starts, limits, strides)], x.dtype)


def _slice_impl(x: np.ndarray, *, starts: tuple[int, ...], limits: tuple[int, ...],
                strides: tuple[int, ...]) -> np.ndarray:
    return np.array(x[tuple(slice(s, e, k) for s, e, k in zip(starts, limits, strides))])


def _slice_vjp(g: Any, x: Any, *, out: Any, starts: tuple[int, ...], limits: tuple[int, ...],
               strides: tuple[int, ...]) -> tuple[Any]:
    lo, hi = [], []
    for d, s, n, k in zip(x.shape, starts, out.shape, strides):
        lo.append(s)
        if is_dim(d):
            hi.append(0)            # taken whole (the shape rule allows nothing else)
            continue
        hi.append(d - (s + (n - 1) * k + 1) if n > 0 else d - s)
    return (bind("pad", g, lo=tuple(lo), hi=tuple(hi),
                 interior=tuple(k - 1 for k in strides)),)


register(Primitive("slice", kind="shape", params={"starts": (), "limits": (), "strides": ()},
                   shape_rule=_slice_rule, impl=_slice_impl, vjp=_slice_vjp, n_inputs=1,
                   cost=0,
                   jvp=linear("slice")))


def _pad_rule(x: TensorType, *, lo: tuple[int, ...], hi: tuple[int, ...],
              interior: tuple[int, ...]) -> TensorType:
    if not len(lo) == len(hi) == len(interior) == x.ndim or min(lo + hi + interior,
                                                                  default=0) < 0:
        raise ShapeError(f"pad of {x}: bad lo={lo} hi={hi} interior={interior}")
    if any(is_dim(d) and (a, b, i) != (0, 0, 0)
           for d, a, b, i in zip(x.shape, lo, hi, interior)):
        raise ShapeError(f"pad of {x}: lo={lo} hi={hi} interior={interior} pads an unknown "
                         "dimension")
    return TensorType([d if is_dim(d) else a + b + d + max(0, d - 1) * i
                       for d, a, b, i in zip(x.shape, lo, hi, interior)], x.dtype)


def _pad_impl(x: np.ndarray, *, lo: tuple[int, ...], hi: tuple[int, ...],
              interior: tuple[int, ...]) -> np.ndarray:
    shape = [a + b + d + max(0, d - 1) * i for d, a, b, i in zip(x.shape, lo, hi, interior)]
    out = np.zeros(shape, x.dtype)
    out[tuple(slice(a, a + max(0, d - 1) * (i + 1) + 1 if d else a, i + 1)
              for d, a, i in zip(x.shape, lo, interior))] = x
    return out


def _pad_vjp(g: Any, x: Any, *, out: Any, lo: tuple[int, ...], hi: tuple[int, ...],
             interior: tuple[int, ...]) -> tuple[Any]:
    # (an unknown dimension is never padded, `_pad_rule`: it is taken whole)
    limits = tuple(d if is_dim(d) else a + max(0, d - 1) * (i + 1) + 1 if d else a
                   for d, a, i in zip(x.shape, lo, interior))
    return (bind("slice", g, starts=tuple(lo), limits=limits,
                 strides=tuple(i + 1 for i in interior)),)


# Zero padding: lo/hi at each end, interior between elements.
register(Primitive("pad", kind="shape", params={"lo": (), "hi": (), "interior": ()},
                   shape_rule=_pad_rule, impl=_pad_impl, vjp=_pad_vjp, n_inputs=1,
                   cost=3,
                   jvp=linear("pad")))


def _rev_rule(x: TensorType, *, axes: tuple[int, ...]) -> TensorType:
    return x


# Reverse the order of elements along `axes`.
register(Primitive("rev", kind="shape", params={"axes": ()}, shape_rule=_rev_rule,
                   axis_params={"axes": AxisParam("axes")},
                   impl=lambda x, *, axes: np.array(np.flip(x, axes)),
                   vjp=lambda g, x, *, out, axes: (bind("rev", g, axes=axes),), n_inputs=1,
                   cost=0,
                   jvp=linear("rev")))


