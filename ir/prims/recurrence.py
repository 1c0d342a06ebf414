"""`linrec`: the first-order linear recurrence along one axis, and `shifted`, the one-step
shift along an axis it is differentiated with.

``h = linrec(a, b, axis, reverse)``: ``h_i = a_i h_p + b_i`` along `axis`, where ``p`` is
the previous index in scan order (``i - 1``, or ``i + 1`` with `reverse`) and the first
element in scan order is ``b``'s (``a`` there is not read).

Invariants: `a`, `b` and the result share one float type (no broadcasting); element i
combines the elements in scan order one at a time, as a sequential loop (native code:
`codegen.lower_scans`). Kind "kernel"; batching shifts `axis` (`ir.batching_ops`).
The VJP of a linear recurrence is a linear recurrence run the other way
(``lam_i = g_i + a_n lam_n``, ``n`` the next index in scan order; ``b`` gets ``lam``,
``a`` gets ``lam_i h_p``), so every order of derivative is again built of `linrec`,
shifts and products: no division, exact where values are zero. `cumprod`'s VJP is one
(`scans`): ``d/dx_i sum_j g_j out_j = E_i s_i`` with ``E`` the exclusive product and
``s_i = g_i + x_n s_n``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..axes import AxisParam
from ..core import FLOAT_DTYPES, TensorType, bind
from ..dims import is_dim
from ..errors import ShapeError
from .elementwise import _check_dtype, _same_dtype
from .registry import Primitive, register


def shifted(x: Any, axis: int, later: bool, fill: float) -> Any:
    """`x` moved one step along `axis`: element i is x's element i - 1 (`later`) or i + 1,
    and the element with no source is `fill`. Built of slice, pad and select (all
    differentiable)."""
    n = x.shape[axis]
    if is_dim(n):
        return _shifted_unknown(x, axis, later, fill)
    if n == 0:
        return x
    starts, limits = [0] * x.ndim, list(x.shape)
    lo, hi = [0] * x.ndim, [0] * x.ndim
    if later:
        limits[axis] = n - 1
        lo[axis] = 1
    else:
        starts[axis] = 1
        hi[axis] = 1
    part = bind("slice", x, starts=tuple(starts), limits=tuple(limits), strides=(1,) * x.ndim)
    y = bind("pad", part, lo=tuple(lo), hi=tuple(hi), interior=(0,) * x.ndim)
    if fill == 0:
        return y
    pos = ops.iota(tuple(x.shape), axis)
    edge = ops.eq(pos, ops.full(tuple(x.shape), 0 if later else n - 1, np.int32))
    return ops.select(edge, ops.full(tuple(x.shape), fill, x.dtype), y)


def _shifted_unknown(x: Any, axis: int, later: bool, fill: float) -> Any:
    """`shifted` along an axis whose size is known only at run time, where slice and pad
    must take it whole: element i gathers element max(i - 1, 0), and element 0 becomes
    `fill`; the other direction is this one on the reversed axis."""
    if not later:
        return bind("rev", _shifted_unknown(bind("rev", x, axes=(axis,)), axis, True, fill),
                    axes=(axis,))
    n = x.shape[axis]
    prev = bind("maximum", ops.sub(ops.iota((n,), 0), ops.full((n,), 1, np.int32)),
                ops.full((n,), 0, np.int32))
    y = bind("gather", x, prev, axis=axis)
    first = ops.eq(ops.iota(tuple(x.shape), axis), ops.full(tuple(x.shape), 0, np.int32))
    return ops.select(first, ops.full(tuple(x.shape), fill, x.dtype), y)


def _rule(a: TensorType, b: TensorType, *, axis: int, reverse: bool) -> TensorType:
    _same_dtype("linrec", a, b)
    _check_dtype("linrec", a, FLOAT_DTYPES)
    if tuple(a.shape) != tuple(b.shape):
        raise ShapeError(f"linrec: operand shapes {tuple(a.shape)} and {tuple(b.shape)} differ")
    return b


def _impl(a: np.ndarray, b: np.ndarray, *, axis: int, reverse: bool) -> np.ndarray:
    a, b = np.moveaxis(np.asarray(a), axis, 0), np.moveaxis(np.asarray(b), axis, 0)
    h = np.empty_like(b)
    order = range(b.shape[0] - 1, -1, -1) if reverse else range(b.shape[0])
    prev = None
    with np.errstate(all="ignore"):
        for i in order:
            h[i] = b[i] if prev is None else a[i] * h[prev] + b[i]
            prev = i
    return np.ascontiguousarray(np.moveaxis(h, 0, axis))


def _vjp(g: Any, a: Any, b: Any, *, out: Any, axis: int, reverse: bool) -> tuple[Any, Any]:
    # lam_i = g_i + a_n lam_n (n the next index in scan order): the recurrence reversed,
    # whose coefficient at i is a at the next index.
    lam = bind("linrec", shifted(a, axis, reverse, 0.0), g, axis=axis, reverse=not reverse)
    return ops.mul(lam, shifted(out, axis, not reverse, 0.0)), lam


def _jvp(ts: Any, a: Any, b: Any, *, out: Any, axis: int, reverse: bool) -> list[Any]:
    # h' = a h'_prev + (a' h_prev + b'): the same recurrence, driven by the tangents
    ta, tb = ts
    drive = None if ta is None else ops.mul(ta, shifted(out, axis, not reverse, 0.0))
    if tb is not None:
        drive = tb if drive is None else ops.add(drive, tb)
    if drive is None:
        return [None]
    return [bind("linrec", a, drive, axis=axis, reverse=reverse)]


register(Primitive("linrec", kind="kernel", params={"axis": 0, "reverse": False},
                   shape_rule=_rule, impl=_impl, vjp=_vjp, n_inputs=2,
                   axis_params={"axis": AxisParam("axis")}, jvp=_jvp))
