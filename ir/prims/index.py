"""Data-dependent indexing: gather, its transpose scatter_add (which also overwrites, with
mode "set"), and one_hot.

Invariants: gather and scatter_add indices are int32 or int64 and must lie in [0, n) for
an axis of size n; every implementation (the reference here, native code in codegen)
raises IndexError naming the index and the bound, never clamps or wraps. one_hot gives an
all-`off` row for an index outside [0, depth) (-1 included), as TensorFlow does (the
"ignore this label" idiom), unless its `checked` parameter asks for the IndexError (the
sparse cross-entropy's labels).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import INT_DTYPES, TensorType, bind, dtype_name
from ..errors import DTypeError
from .elementwise import NUM, _check_dtype
from ..axes import AxisParam
from .tangents import linear
from .registry import Indices, Primitive, register


def check_indices(idx: np.ndarray, bound: int, what: str) -> None:
    idx = np.asarray(idx)
    if idx.size:
        bad = (idx < 0) | (idx >= bound)
        if bad.any():
            i = idx[bad].flat[0]
            raise IndexError(f"{what}: index {int(i)} is out of bounds for size {bound}")


def _int_indices(name: str, t: TensorType) -> None:
    if t.dtype not in INT_DTYPES:
        raise DTypeError(f"{name}: indices must be int32 or int64, got {dtype_name(t.dtype)}")


def _gather_rule(x: TensorType, idx: TensorType, *, axis: int) -> TensorType:
    _int_indices("gather", idx)
    return TensorType(x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype)


def _gather_impl(x: np.ndarray, idx: np.ndarray, *, axis: int) -> np.ndarray:
    check_indices(idx, x.shape[axis], "gather")
    return np.take(x, idx, axis=axis)


def _gather_vjp(g: Any, x: Any, idx: Any, *, out: Any, axis: int) -> tuple[Any, None]:
    return bind("scatter_add", g, idx, axis=axis, size=x.shape[axis]), None


# np.take(x, idx, axis), bounds-checked.
register(Primitive("gather", kind="index", params={"axis": 0}, shape_rule=_gather_rule,
                   impl=_gather_impl, vjp=_gather_vjp, n_inputs=2,
                   axis_params={"axis": AxisParam("axis")}, cost=3,
                   indices=Indices(1, lambda p, ts: ts[0].shape[p["axis"]]),
                   jvp=linear("gather")))


SCATTER_MODES = ("add", "set")


def _scatter_rule(g: TensorType, idx: TensorType, *, axis: int, size: int, mode: str
                  ) -> TensorType:
    _int_indices("scatter_add", idx)
    if mode not in SCATTER_MODES:
        raise ValueError(f"scatter_add: mode must be one of {SCATTER_MODES}, got {mode!r}")
    _check_dtype("scatter_add", g, NUM)
    r = g.ndim - idx.ndim + 1
    if r < 1 or not 0 <= axis < r or g.shape[axis:axis + idx.ndim] != idx.shape:
        raise ValueError(f"scatter_add: updates {g} do not match indices {idx} at axis {axis}")
    return TensorType(g.shape[:axis] + (size,) + g.shape[axis + idx.ndim:], g.dtype)


def _scatter_impl(g: np.ndarray, idx: np.ndarray, *, axis: int, size: int, mode: str
                  ) -> np.ndarray:
    check_indices(idx, size, "scatter_add")
    out_shape = g.shape[:axis] + (size,) + g.shape[axis + idx.ndim:]
    out = np.zeros(out_shape, g.dtype)
    gm = np.moveaxis(g.reshape(g.shape[:axis] + (idx.size,) + g.shape[axis + idx.ndim:]), axis, 0)
    om = np.moveaxis(out, axis, 0)
    flat = idx.reshape(-1)
    if mode == "add":
        np.add.at(om, flat, gm)
    elif flat.size:
        # The last update of each index wins (NumPy leaves the order of a repeated fancy
        # assignment unspecified, so keep only the last occurrence of each index).
        _, first_from_end = np.unique(flat[::-1], return_index=True)
        last = flat.size - 1 - first_from_end
        om[flat[last]] = gm[last]
    return out


def _scatter_vjp(g: Any, upd: Any, idx: Any, *, out: Any, axis: int, size: int, mode: str
                 ) -> tuple[Any, None]:
    # mode "set": every update gets the cotangent at its index, duplicates overwritten by
    # a later one included (TensorFlow's gradient of tensor_scatter_nd_update).
    return bind("gather", g, idx, axis=axis), None


# Zeros of `size` along `axis`, with updates added at idx (gather's VJP); with mode "set"
# each index holds its last update instead of the sum (tensor_scatter_nd_update).
register(Primitive("scatter_add", kind="kernel", params={"axis": 0, "size": 1, "mode": "add"},
                   shape_rule=_scatter_rule, impl=_scatter_impl, vjp=_scatter_vjp, n_inputs=2,
                   axis_params={"axis": AxisParam(
                       "axis", rank=lambda ts, p: max(0, ts[0].ndim - ts[1].ndim + 1))},
                   indices=Indices(1, lambda p, ts: p["size"]),
                   jvp=linear("scatter_add")))


def _one_hot_rule(idx: TensorType, *, depth: int, dtype: np.dtype, on: float, off: float,
                  checked: bool) -> TensorType:
    _int_indices("one_hot", idx)
    if depth < 0:
        raise ValueError(f"one_hot: depth must be >= 0, got {depth}")
    return TensorType(idx.shape + (depth,), dtype)


def _one_hot_impl(idx: np.ndarray, *, depth: int, dtype: np.dtype, on: float, off: float,
                  checked: bool) -> np.ndarray:
    if checked:
        check_indices(idx, depth, "one_hot")
    hot = np.asarray(idx)[..., None] == np.arange(depth)
    return np.where(hot, np.asarray(on, dtype), np.asarray(off, dtype)).astype(dtype)


# One-hot rows along a new last axis; an index outside [0, depth) gives an all-`off` row
# (IndexError if `checked`).
register(Primitive("one_hot", kind="index",
                   params={"depth": 1, "dtype": np.dtype(np.float32), "on": 1.0, "off": 0.0,
                           "checked": False},
                   shape_rule=_one_hot_rule, impl=_one_hot_impl,
                   vjp=lambda g, idx, *, out, depth, dtype, on, off, checked: (None,),
                   n_inputs=1, gradient="none", cost=3,
                   # Unchecked, an index out of range gives an all-`off` row (TensorFlow's).
                   indices=Indices(0, lambda p, ts: p["depth"], lambda p: p["checked"])))

