"""Segment reductions that `scatter_add` cannot express: `segment_max`, `segment_min` and
`segment_prod` (kind "kernel").

Invariants: `segment_<op>(data, ids; num_segments)` with int32/int64 `ids` whose shape is
a prefix of `data`'s: output row s (of `num_segments`) combines the rows of `data` whose
id is s, in memory order; a row no id names gets the identity (the lowest finite value
for max, the highest for min, 1 for prod: TensorFlow's `unsorted_segment_*`). Every id
must be in [0, num_segments) (the registry field `indices`): eagerly an IndexError, in
native code the plan's bounds check (the user API maps TensorFlow's dropped negative ids to an extra
segment first). max/min propagate NaN. VJPs are TensorFlow's, written with `bind`:
max/min send the gradient to the elements equal to their segment's result, shared
equally among ties; prod's is exact where the data has zeros (at first order).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..dims import compatible
from .. import ops
from ..core import FLOAT_DTYPES, INT_DTYPES, TensorType, bind
from ..errors import ShapeError
from .elementwise import _check_dtype
from .index import _int_indices, check_indices
from .registry import Indices, Primitive, register
from .tangents import reduction

_UFUNC = {"segment_max": np.maximum, "segment_min": np.minimum, "segment_prod": np.multiply}


def identity(prim: str, dtype: np.dtype) -> Any:
    if prim == "segment_prod":
        return 1
    info = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
    return info.min if prim == "segment_max" else info.max


def _rule(prim: str) -> Any:
    def rule(data: TensorType, ids: TensorType, *, num_segments: int) -> TensorType:
        _check_dtype(prim, data, FLOAT_DTYPES + INT_DTYPES)
        _int_indices(prim, ids)
        if not compatible(data.shape[:ids.ndim], ids.shape) or ids.ndim == 0:
            raise ShapeError(f"{prim}: segment ids {ids} must have a shape that is a "
                             f"non-empty prefix of the data's {data}")
        if num_segments < 0:
            raise ShapeError(f"{prim}: num_segments must be >= 0, got {num_segments}")
        return TensorType((num_segments,) + data.shape[ids.ndim:], data.dtype)
    return rule


def _impl(prim: str) -> Any:
    def impl(data: np.ndarray, ids: np.ndarray, *, num_segments: int) -> np.ndarray:
        data, ids = np.asarray(data), np.asarray(ids)
        check_indices(ids, num_segments, prim)
        rest = data.shape[ids.ndim:]
        out = np.full((num_segments,) + rest, identity(prim, data.dtype), data.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            _UFUNC[prim].at(out, ids.reshape(-1), data.reshape((ids.size,) + rest))
        return out
    return impl


def _gather_rows(x: Any, ids: Any) -> Any:
    return bind("gather", x, ids, axis=0)


def _count(mask: Any, ids: Any, num_segments: int, dtype: Any) -> Any:
    return bind("scatter_add", ops.convert(mask, dtype), ids, axis=0, size=num_segments)


def _minmax_vjp(g: Any, data: Any, ids: Any, *, out: Any, num_segments: int
                ) -> tuple[Any, None]:
    selected = ops.eq(data, _gather_rows(out, ids))
    n_sel = _count(selected, ids, num_segments, data.dtype)
    share = ops.div(g, ops.select(ops.eq(n_sel, ops.zeros_like(n_sel)), ops.ones_like(n_sel),
                                  n_sel))
    return ops.select(selected, _gather_rows(share, ids), ops.zeros_like(data)), None


def _prod_vjp(g: Any, data: Any, ids: Any, *, out: Any, num_segments: int
              ) -> tuple[Any, None]:
    # TensorFlow's: out / x where x != 0; the product of the others at a segment's only
    # zero; 0 in a segment with two zeros or more.
    zero = ops.eq(data, ops.zeros_like(data))
    n_zero = _count(zero, ids, num_segments, np.int32)
    g = ops.select(bind("gt", n_zero, ops.const(1, np.int32)), ops.zeros_like(g), g)
    one = ops.ones_like(data)
    nonzero_prod = bind("segment_prod", ops.select(zero, one, data), ids,
                        num_segments=num_segments)
    by_el = ops.div(_gather_rows(out, ids), ops.select(zero, one, data))
    partial = ops.select(zero, _gather_rows(nonzero_prod, ids), by_el)
    return ops.mul(_gather_rows(g, ids), partial), None


def _segment_sum(x: Any, ids: Any, *, num_segments: int) -> Any:
    return bind("scatter_add", x, ids, axis=0, size=num_segments)


# JVP: the segment sum of the tangent times the VJP's partial derivatives (ties shared
# equally, products exact at zeros).
for _name, _vjp in [("segment_max", _minmax_vjp), ("segment_min", _minmax_vjp),
                    ("segment_prod", _prod_vjp)]:
    register(Primitive(_name, kind="kernel", params={"num_segments": 1},
                       shape_rule=_rule(_name), impl=_impl(_name), vjp=_vjp, n_inputs=2,
                       indices=Indices(1, lambda p, ts: p["num_segments"]),
                       jvp=reduction(_vjp, _segment_sum)))
