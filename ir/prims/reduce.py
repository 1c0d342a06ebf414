"""Reductions: reduce_sum/max/min/prod over a sorted tuple of axes, argmax/argmin.

Invariants: `axes` is a sorted tuple of distinct non-negative axes of the operand (the user
API normalizes negative axes and `None`); with `keepdims` the reduced axes stay as size 1.
Reducing an empty axis gives the identity (0, 1, -inf for max, +inf for min), as
TensorFlow does.

reduce_max/reduce_min of floats follow IEEE 754-2019 `maximum`/`minimum`: NaN wins, and
+0.0 counts as greater than -0.0, so the sign of a zero result never depends on the order
or the blocking of the reduction (native code's `llvm.maximum`/`llvm.minimum`). `np.max`
itself has no such rule: its zero sign follows its SIMD lanes (`np.max([0., -0.])` is
-0.0 but the maximum of eight zeros with one +0.0 can be -0.0), and TensorFlow's follows
the element order, so the reference fixes the sign of zero results after `np.max`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..core import FLOAT_DTYPES, INT_DTYPES, TensorType, bind
from ..errors import ShapeError
from .elementwise import NUM, _check_dtype
from .recurrence import shifted
from ..axes import AxisParam
from .tangents import linear, reduction
from .registry import Primitive, register


def reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool
                  ) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _rule(name: str, allowed: tuple[np.dtype, ...] = NUM) -> Any:
    def rule(x: TensorType, *, axes: tuple[int, ...], keepdims: bool) -> TensorType:
        _check_dtype(name, x, allowed)
        return TensorType(reduced_shape(x.shape, axes, keepdims), x.dtype)
    return rule


def _lowest(dtype: np.dtype) -> Any:
    return -np.inf if dtype in FLOAT_DTYPES else np.iinfo(dtype).min


def _highest(dtype: np.dtype) -> Any:
    return np.inf if dtype in FLOAT_DTYPES else np.iinfo(dtype).max


def _sum_vjp(g: Any, x: Any, *, out: Any, axes: tuple[int, ...], keepdims: bool) -> tuple[Any]:
    return (ops.expand_reduced(g, x.shape, axes, keepdims),)


def _minmax_vjp(g: Any, x: Any, *, out: Any, axes: tuple[int, ...], keepdims: bool
                ) -> tuple[Any]:
    # Ties share the gradient equally (TensorFlow).
    outb = ops.expand_reduced(out, x.shape, axes, keepdims)
    mask = ops.convert(ops.eq(x, outb), x.dtype)
    count = ops.reduce_sum(mask, axes, keepdims=True)
    share = ops.div(ops.expand_reduced(g, x.shape, axes, keepdims), count)
    return (ops.mul(share, mask),)


def _prod_vjp(g: Any, x: Any, *, out: Any, axes: tuple[int, ...], keepdims: bool
              ) -> tuple[Any]:
    # d prod / d x_i = the product of the other elements: move the reduced axes last,
    # flatten them to n, and multiply the exclusive products from the left and from the
    # right (TensorFlow's ProdGrad). O(n) and without dividing by x_i, so zeros are exact;
    # cumprod's own gradient is exact at zeros too, so this differentiates again.
    if not axes:
        # Nothing is multiplied: the gradient is g, and its gradient for x zeros, not None
        # (TensorFlow's ProdGrad computes the ones from x).
        return (ops.zero_gradient_link(g, x),)
    keep = [i for i in range(x.ndim) if i not in axes]
    perm = keep + list(axes)
    xt = ops.transpose(x, perm)
    kept_shape = [x.shape[i] for i in keep]
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    xf = ops.reshape(xt, kept_shape + [n])
    last = len(kept_shape)
    left = shifted(bind("cumprod", xf, axis=last, reverse=False), last, True, 1.0)
    right = shifted(bind("cumprod", xf, axis=last, reverse=True), last, False, 1.0)
    prod_others = ops.mul(left, right)
    gk = ops.reshape(g, kept_shape + [1])
    gx = ops.mul(gk, prod_others)
    gx = ops.reshape(gx, kept_shape + [x.shape[a] for a in axes])
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return (ops.transpose(gx, inv),)


def _with_identity(fn: Any, ident: Any, zero_sign: bool | None = None) -> Any:
    """NumPy's reduction `fn` (a ufunc's `reduce`: what `np.sum` and the like call on an
    ndarray, without their Python wrapper) with `initial=ident(dtype)`. With `zero_sign`
    (max: False, min: True) a float zero result takes that sign if any zero of its slice
    has it, else the other one (IEEE 754-2019 maximum/minimum, independent of the
    order)."""
    def impl(x: np.ndarray, *, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        x = np.asarray(x)
        kw: dict[str, Any] = {"axis": axes, "keepdims": keepdims}
        if ident is not None:
            kw["initial"] = ident(x.dtype)
        out = np.asarray(fn(x, **kw), dtype=x.dtype)
        if zero_sign is not None and x.dtype.kind == "f" and np.any(zero := out == 0):
            hit = np.any((x == 0) & (np.signbit(x) == zero_sign), axis=axes,
                         keepdims=keepdims)
            signed = np.where(hit == zero_sign, np.negative(np.zeros_like(out)),
                              np.zeros_like(out))
            out = np.where(zero, signed, out).astype(x.dtype)
        return out
    return impl


def _sum(x: Any, *, axes: tuple[int, ...], keepdims: bool) -> Any:
    return ops.reduce_sum(x, axes, keepdims)


# The JVP is the sum over the axes of the tangent times the VJP's partial derivatives
# (ties share equally; products exact at zeros).
_REDUCE_JVP = {"reduce_max": reduction(_minmax_vjp, _sum),
               "reduce_min": reduction(_minmax_vjp, _sum),
               "reduce_prod": reduction(_prod_vjp, _sum)}
_PARAMS = {"axes": (), "keepdims": False}
_AXES = {"axes": AxisParam("axes")}
_AXIS = {"axis": AxisParam("axis")}
# reduce_max propagates NaN and gives -inf (or the lowest int) over an empty axis.
register(Primitive("reduce_sum", kind="reduce", params=_PARAMS, shape_rule=_rule("reduce_sum"),
                   impl=_with_identity(np.add.reduce, None), vjp=_sum_vjp, n_inputs=1,
                   axis_params=_AXES, jvp=linear("reduce_sum")))
register(Primitive("reduce_max", kind="reduce", params=_PARAMS, shape_rule=_rule("reduce_max"),
                   impl=_with_identity(np.maximum.reduce, _lowest, False), vjp=_minmax_vjp,
                   n_inputs=1, axis_params=_AXES,
                   jvp=_REDUCE_JVP["reduce_max"]))
register(Primitive("reduce_min", kind="reduce", params=_PARAMS, shape_rule=_rule("reduce_min"),
                   impl=_with_identity(np.minimum.reduce, _highest, True), vjp=_minmax_vjp,
                   n_inputs=1, axis_params=_AXES,
                   jvp=_REDUCE_JVP["reduce_min"]))
register(Primitive("reduce_prod", kind="reduce", params=_PARAMS,
                   shape_rule=_rule("reduce_prod"), impl=_with_identity(np.multiply.reduce, None),
                   vjp=_prod_vjp, n_inputs=1, axis_params=_AXES,
                   jvp=_REDUCE_JVP["reduce_prod"]))


def _arg_rule(name: str) -> Any:
    def rule(x: TensorType, *, axis: int, dtype: np.dtype) -> TensorType:
        _check_dtype(name, x, NUM)
        if x.shape[axis] == 0:
            raise ShapeError(f"{name} over an empty axis {axis} of shape {x.shape}")
        if np.dtype(dtype) not in INT_DTYPES:
            raise ShapeError(f"{name}: output dtype must be int32 or int64, got {dtype}")
        return TensorType(reduced_shape(x.shape, (axis,), False), dtype)
    return rule


def _arg_impl(fn: Any) -> Any:
    def impl(x: np.ndarray, *, axis: int, dtype: np.dtype) -> np.ndarray:
        # NaN counts as the extreme value (NumPy's and TensorFlow's choice).
        return np.asarray(fn(x, axis=axis), dtype=dtype)
    return impl


_ARG_PARAMS = {"axis": 0, "dtype": np.dtype(np.int64)}
# The index of the first maximum (minimum); NaN wins.
register(Primitive("argmax", kind="reduce", params=_ARG_PARAMS, shape_rule=_arg_rule("argmax"),
                   impl=_arg_impl(np.argmax), vjp=lambda g, x, *, out, axis, dtype: (None,),
                   n_inputs=1, axis_params=_AXIS,
                   gradient="none"))
register(Primitive("argmin", kind="reduce", params=_ARG_PARAMS, shape_rule=_arg_rule("argmin"),
                   impl=_arg_impl(np.argmin), vjp=lambda g, x, *, out, axis, dtype: (None,),
                   n_inputs=1, axis_params=_AXIS,
                   gradient="none"))
