"""Scans along one axis: `cumsum`, `cumprod`, `cumlogsumexp` (inclusive; `reverse` runs
from the end of the axis). The user API builds the exclusive forms from these by
shifting (`tracejit.scans`).

Invariants: the result has the operand's type; element i along `axis` combines the
elements 0..i (i..n-1 with `reverse`) in that order, as NumPy's `cumsum`/`cumprod` do
(so float rounding matches a sequential loop). Kind "kernel": native code is a loop along
the axis (`codegen.lower_scans`); batching shifts `axis` (`ir.batching_ops`). VJPs are
written with `bind`; cumprod's is a linear recurrence (`recurrence.linrec`), exact at every
order where the operand has zeros (TensorFlow's gives 0 at the first zero: it divides by
x).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..axes import AxisParam
from ..core import FLOAT_DTYPES, INT_DTYPES, TensorType, bind
from .elementwise import _check_dtype
from .recurrence import shifted
from .tangents import linear
from .registry import Primitive, register

PARAMS = {"axis": 0, "reverse": False}


def _rule(name: str, allowed: tuple[np.dtype, ...]) -> Any:
    def rule(x: TensorType, *, axis: int, reverse: bool) -> TensorType:
        _check_dtype(name, x, allowed)
        return x
    return rule


def _along(fn: Any) -> Any:
    """NumPy's scan `fn(x, axis)` with `reverse` (flip, scan, flip back)."""
    def impl(x: np.ndarray, *, axis: int, reverse: bool) -> np.ndarray:
        x = np.asarray(x)
        with np.errstate(invalid="ignore", over="ignore"):
            if reverse:
                r = np.flip(fn(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)
            else:
                r = fn(x, axis=axis, dtype=x.dtype)
        return np.ascontiguousarray(r, dtype=x.dtype)
    return impl


def _logcumsumexp(x: np.ndarray, axis: int, dtype: np.dtype) -> np.ndarray:
    return np.logaddexp.accumulate(x, axis=axis, dtype=dtype)


def _cumsum(x: Any, axis: int, reverse: bool) -> Any:
    return bind("cumsum", x, axis=axis, reverse=reverse)


def _cumsum_vjp(g: Any, x: Any, *, out: Any, axis: int, reverse: bool) -> tuple[Any]:
    return (_cumsum(g, axis, not reverse),)


def _cumprod_vjp(g: Any, x: Any, *, out: Any, axis: int, reverse: bool) -> tuple[Any]:
    """d out_j / d x_i = E_i prod_{i < k <= j} x_k (in scan order) with E_i the product of
    the elements before i, so the cotangent of x_i is E_i s_i with s_i = g_i + x_n s_n
    (n the next index in scan order): a linear recurrence run backwards. No division, so
    it is exact where x has zeros, and it is built of `linrec`, shifts and products, so
    it differentiates again exactly (TensorFlow's divides by x and gives 0 at the first
    zero)."""
    before = shifted(out, axis, not reverse, 1.0)                  # E
    s = bind("linrec", shifted(x, axis, reverse, 0.0), g, axis=axis, reverse=not reverse)
    return (ops.mul(before, s),)


def _cumlogsumexp_vjp(g: Any, x: Any, *, out: Any, axis: int, reverse: bool) -> tuple[Any]:
    # d out_j / d x_i = exp(x_i - out_j) for i <= j: the sum over j of g_j exp(x_i - out_j)
    # in log space, the positive and negative parts of g apart (TensorFlow's formula). Where
    # out_j = -inf every x_i (i <= j) is -inf and the term is taken as 0 (out_j counts as
    # 0, so no -inf - -inf = NaN reaches this rule's own gradient).
    ninf = ops.eq(out, ops.const(-np.inf, out.dtype))
    out = ops.select(ninf, ops.zeros_like(out), out)

    def part(gp: Any) -> Any:
        acc = bind("cumlogsumexp", ops.sub(ops.log(gp), out), axis=axis, reverse=not reverse)
        return ops.exp(ops.add(acc, x))
    return (ops.sub(part(bind("relu", g)), part(bind("relu", ops.neg(g)))),)


def _cumprod_jvp(ts: Any, x: Any, *, out: Any, axis: int, reverse: bool) -> list[Any]:
    """out_i = x_i out_prev, so d out_i = t_i out_prev + x_i d out_prev: a linear
    recurrence driven by t times the exclusive product (no division: exact at zeros, and
    differentiable again in both modes)."""
    (t,) = ts
    return [bind("linrec", x, ops.mul(t, shifted(out, axis, not reverse, 1.0)), axis=axis,
                 reverse=reverse)]


def _cumlogsumexp_jvp(ts: Any, x: Any, *, out: Any, axis: int, reverse: bool) -> list[Any]:
    # d out_j = sum over i <= j of t_i exp(x_i - out_j), summed in log space with the
    # positive and negative parts of t apart (as the VJP); where out_j = -inf every x_i is
    # -inf and the term is 0.
    (t,) = ts
    ninf = ops.eq(out, ops.const(-np.inf, out.dtype))
    safe = ops.select(ninf, ops.zeros_like(out), out)

    def part(tp: Any) -> Any:
        acc = bind("cumlogsumexp", ops.add(x, ops.log(tp)), axis=axis, reverse=reverse)
        return ops.exp(ops.sub(acc, safe))
    return [ops.sub(part(bind("relu", t)), part(bind("relu", ops.neg(t))))]


_AXIS = {"axis": AxisParam("axis")}
NUM = FLOAT_DTYPES + INT_DTYPES
register(Primitive("cumsum", kind="kernel", params=dict(PARAMS), shape_rule=_rule("cumsum", NUM),
                   impl=_along(np.cumsum), vjp=_cumsum_vjp, n_inputs=1, axis_params=_AXIS,
                   jvp=linear("cumsum")))
register(Primitive("cumprod", kind="kernel", params=dict(PARAMS),
                   shape_rule=_rule("cumprod", NUM), impl=_along(np.cumprod), vjp=_cumprod_vjp,
                   n_inputs=1, axis_params=_AXIS,
                   jvp=_cumprod_jvp))
register(Primitive("cumlogsumexp", kind="kernel", params=dict(PARAMS),
                   shape_rule=_rule("cumlogsumexp", FLOAT_DTYPES), impl=_along(_logcumsumexp),
                   vjp=_cumlogsumexp_vjp, n_inputs=1, axis_params=_AXIS,
                   jvp=_cumlogsumexp_jvp))
