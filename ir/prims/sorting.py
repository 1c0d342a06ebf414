"""`sort`: a stable sort along the last axis, giving the sorted values and the permutation.

Invariants: `sort(x; descending)` has two results, the values (x's type) and the int32
indices with `values[..., k] = x[..., indices[..., k]]`. The sort is stable (equal
elements keep their order, in both directions) and NaN counts as larger than +inf
(NumPy's order: last ascending, first descending). Kind "kernel": native code is a merge
sort per row (`codegen.lower_sorting`); batching maps it through (it sorts the last axis,
the batch axis is first). The VJP scatters the values' cotangent back to where each value
came from (the indices have none): a gradient flows through the selected values only.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..core import FLOAT_DTYPES, INT_DTYPES, TensorType, bind
from ..errors import ShapeError
from .elementwise import _check_dtype
from .registry import Primitive, register

I32 = np.dtype(np.int32)


def _sort_rule(x: TensorType, *, descending: bool) -> list[TensorType]:
    _check_dtype("sort", x, FLOAT_DTYPES + INT_DTYPES)
    if x.ndim == 0:
        raise ShapeError("sort needs a tensor of rank >= 1, got a scalar")
    return [x, TensorType(x.shape, I32)]


def _sort_impl(x: np.ndarray, *, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    n = x.shape[-1]
    if descending:
        # stable and descending: sort the reversed row ascending and reverse the result
        idx = (n - 1) - np.flip(np.argsort(np.flip(x, -1), axis=-1, kind="stable"), -1)
    else:
        idx = np.argsort(x, axis=-1, kind="stable")
    return np.take_along_axis(x, idx, -1), np.ascontiguousarray(idx, dtype=I32)


def scatter_rows(g: Any, idx: Any) -> Any:
    """out[..., idx[..., k]] += g[..., k] along the last axis (one scatter_add of the
    flattened rows, each index offset by its row's start)."""
    shape, total, flat = _flat_row_indices(g, idx)
    out = bind("scatter_add", ops.reshape(g, (total,)), flat, axis=0, size=total)
    return ops.reshape(out, shape)


def _flat_row_indices(t: Any, idx: Any) -> tuple[tuple[int, ...], int, Any]:
    """(t's shape, its size, `idx` as indices into t flattened: each of idx's last-axis
    indices offset by its row's start)."""
    shape = tuple(t.shape)
    n = shape[-1]
    total = int(np.prod(shape, dtype=np.int64))
    rows = ops.iota((total // n if n else 0, n), 0, I32)
    flat = ops.add(ops.reshape(idx, (total,)),
                   ops.reshape(ops.mul(rows, ops.const(n, I32)), (total,)))
    return shape, total, flat


def _sort_vjp(g: Any, x: Any, *, out: Any, descending: bool) -> tuple[Any]:
    g_values, _ = g
    return (scatter_rows(g_values, out[1]),)


def gather_rows(t: Any, idx: Any) -> Any:
    """t[..., idx[..., k]] along the last axis (one gather of the flattened rows)."""
    shape, total, flat = _flat_row_indices(t, idx)
    return ops.reshape(bind("gather", ops.reshape(t, (total,)), flat, axis=0), shape)


def _sort_jvp(ts: Any, x: Any, *, out: Any, descending: bool) -> list[Any]:
    # The values move with their tangents; the indices have none.
    return [gather_rows(ts[0], out[1]), None]


register(Primitive("sort", kind="kernel", params={"descending": False}, shape_rule=_sort_rule,
                   impl=_sort_impl, vjp=_sort_vjp, n_inputs=1, n_outs=2,
                   jvp=_sort_jvp))
