"""Pooling: `max_pool`, `max_pool_argmax` and `avg_pool` over the spatial axes of
`(N, *S, C)` (channels last), with a window, strides and zero-or-more padding per spatial
axis; the spatial output sizes are those of `conv` without dilation.

Invariants:
- Padded positions never win a max and never count in a mean: `max_pool` takes the max
  over the window's positions inside the input, `avg_pool` divides the sum over them by
  their number (TensorFlow's SAME semantics). A window has at least one position inside
  the input (the shape rule requires pads smaller than the window).
- The max is TensorFlow's: positions are visited in row-major window order and a later
  one wins only if it is strictly greater than the running max, which starts at the
  lowest finite value: the first maximum wins ties, NaN never wins, and a window of only
  NaN or -inf gives the lowest finite value (TensorFlow's CPU kernels, which start from
  `lowest()` and compare with `>`).
- `max_pool_argmax` gives, for each output element, the flat index (into `x` as a 1-D
  array) of the element that `max_pool` took; `max_pool`'s VJP scatters the cotangent to
  those indices (TensorFlow's MaxPoolGrad: the first maximum gets it) and its JVP gathers
  the tangent there, both with existing primitives, so they are differentiable again.
- `avg_pool` is linear; its VJP divides by the counts and applies the transpose of the
  window sum, a depthwise `conv` with a filter of ones.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dims, ops
from ..core import FLOAT_DTYPES, TensorType, bind, dtype_name
from ..errors import DTypeError, ShapeError
from .conv import check_spatial, dilate_pad, lhs_transpose, out_size, windows
from .registry import Primitive, register
from .tangents import linear

POOL_PARAMS: dict[str, Any] = {"window": (), "strides": (), "pad_lo": (), "pad_hi": ()}


def _pool_rule(x: TensorType, *, window: tuple[int, ...], strides: tuple[int, ...],
               pad_lo: tuple[int, ...], pad_hi: tuple[int, ...], op: str = "pool",
               ) -> TensorType:
    if x.dtype not in FLOAT_DTYPES:
        raise DTypeError(f"{op} needs a float32 or float64 input, got {dtype_name(x.dtype)}")
    nsp = x.ndim - 2
    if nsp < 1:
        raise ShapeError(f"{op} needs an input (N, *spatial, C) of rank >= 3, got {x}")
    check_spatial(op, nsp, window=window, strides=strides, pad_lo=pad_lo, pad_hi=pad_hi)
    if any(not 0 <= p < k for p, k in zip(pad_lo + pad_hi, window + window)):
        raise ShapeError(f"{op}: pads {pad_lo}, {pad_hi} must be in [0, window {window})")
    q = tuple(out_size(*a) for a in zip(x.shape[1:-1], window, strides, pad_lo, pad_hi))
    return TensorType((x.shape[0],) + q + (x.shape[-1],), x.dtype)


def out_spatial(x_shape: tuple[int, ...], window: tuple[int, ...], strides: tuple[int, ...],
                pad_lo: tuple[int, ...], pad_hi: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(out_size(*a) for a in zip(x_shape[1:-1], window, strides, pad_lo, pad_hi))


def counts(x_shape: tuple[int, ...], window: tuple[int, ...], strides: tuple[int, ...],
           pad_lo: tuple[int, ...], pad_hi: tuple[int, ...]) -> np.ndarray:
    """The number of window positions inside the input, per output position (*Q)."""
    q = out_spatial(x_shape, window, strides, pad_lo, pad_hi)
    per_axis = []
    for s, k, st, lo, qq in zip(x_shape[1:-1], window, strides, pad_lo, q):
        start = np.arange(qq) * st - lo
        per_axis.append(np.minimum(start + k, s) - np.maximum(start, 0))
    c = np.ones(q, np.int64)
    for i, a in enumerate(per_axis):
        c = c * a.reshape((1,) * i + (-1,) + (1,) * (len(q) - i - 1))
    return c


def _max_scan(x: np.ndarray, window: tuple[int, ...], strides: tuple[int, ...],
              pad_lo: tuple[int, ...], pad_hi: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(max, flat index of the first max) per output element, TensorFlow's scan order."""
    q = out_spatial(x.shape, window, strides, pad_lo, pad_hi)
    ones = (1,) * len(window)
    xp = dilate_pad(x, ones, pad_lo, pad_hi, value=-np.inf)
    flat = np.arange(x.size, dtype=np.int64).reshape(x.shape)
    ip = dilate_pad(flat, ones, pad_lo, pad_hi, value=-1)
    shape = (x.shape[0],) + q + (x.shape[-1],)
    best = np.full(shape, np.finfo(x.dtype).min, x.dtype)
    arg = np.full(shape, -1, np.int64)
    for (_, v), (_, i) in zip(windows(xp, window, q, strides, ones),
                              windows(ip, window, q, strides, ones)):
        gt = v > best
        arg = np.where(gt | ((arg < 0) & (i >= 0)), i, arg)   # the first real one starts it
        best = np.where(gt, v, best)
    return best, arg


def index_dtype(n: Any) -> np.dtype:
    """int32 when `n` elements can be numbered in it, else int64. An unknown size (a
    symbolic trace) is assumed to fit: binding it to one that does not raises ShapeError
    before the code runs (`specialize`, which re-runs this rule on the concrete shape)."""
    if dims.is_dim(n):
        return np.dtype(np.int32)
    return np.dtype(np.int32) if n < 2**31 else np.dtype(np.int64)


def _max_pool_impl(x: np.ndarray, **params: Any) -> np.ndarray:
    return _max_scan(x, **params)[0]


def _argmax_impl(x: np.ndarray, **params: Any) -> np.ndarray:
    return _max_scan(x, **params)[1].astype(index_dtype(x.size))


def _argmax_rule(x: TensorType, **params: Any) -> TensorType:
    t = _pool_rule(x, op="max_pool_argmax", **params)
    return TensorType(t.shape, index_dtype(dims.size(x.shape)))


def _max_pool_vjp(g: Any, x: Any, *, out: Any, **params: Any) -> tuple[Any]:
    idx = bind("max_pool_argmax", x, **params)
    n = dims.size(x.shape)
    # TensorFlow's MaxPoolGrad has a gradient of zeros for the pool's input, so a second
    # derivative through max_pool is zeros, not None; the indices alone (no gradient)
    # would leave `x` unconnected.
    g = ops.zero_gradient_link(g, out)
    return (ops.reshape(bind("scatter_add", g, idx, axis=0, size=n), tuple(x.shape)),)


def _max_pool_jvp(ts: Any, x: Any, *, out: Any, **params: Any) -> list[Any]:
    idx = bind("max_pool_argmax", x, **params)
    n: Any = dims.size(x.shape)
    return [bind("gather", ops.reshape(ts[0], (n,)), idx, axis=0)]


def _avg_pool_impl(x: np.ndarray, *, window: tuple[int, ...], strides: tuple[int, ...],
                   pad_lo: tuple[int, ...], pad_hi: tuple[int, ...]) -> np.ndarray:
    q = out_spatial(x.shape, window, strides, pad_lo, pad_hi)
    ones = (1,) * len(window)
    xp = dilate_pad(x, ones, pad_lo, pad_hi)
    acc = np.zeros((x.shape[0],) + q + (x.shape[-1],), x.dtype)
    for _, v in windows(xp, window, q, strides, ones):
        acc += v
    c = counts(x.shape, window, strides, pad_lo, pad_hi)
    return np.asarray(acc / c[..., None].astype(x.dtype), dtype=x.dtype)


def _avg_pool_vjp(g: Any, x: Any, *, out: Any, window: tuple[int, ...],
                  strides: tuple[int, ...], pad_lo: tuple[int, ...], pad_hi: tuple[int, ...]
                  ) -> tuple[Any]:
    shape = tuple(x.shape)
    c = counts(shape, window, strides, pad_lo, pad_hi)
    h = ops.div(g, ops.const(c[..., None], g.dtype))
    ones = ops.full(window + (1, shape[-1]), 1, g.dtype)
    nsp = len(window)
    return (lhs_transpose(h, ones, shape, strides=strides, pad_lo=pad_lo, pad_hi=pad_hi,
                          lhs_dilation=(1,) * nsp, rhs_dilation=(1,) * nsp,
                          groups=shape[-1]),)


def _rule_of(op: str) -> Any:
    def rule(x: TensorType, **params: Any) -> TensorType:
        return _pool_rule(x, op=op, **params)
    return rule


register(Primitive("max_pool", kind="kernel", params=dict(POOL_PARAMS),
                   shape_rule=_rule_of("max_pool"), impl=_max_pool_impl, vjp=_max_pool_vjp,
                   jvp=_max_pool_jvp, n_inputs=1))
register(Primitive("max_pool_argmax", kind="kernel", params=dict(POOL_PARAMS),
                   shape_rule=_argmax_rule, impl=_argmax_impl,
                   vjp=lambda g, x, *, out, **p: (None,), gradient="none", n_inputs=1))
register(Primitive("avg_pool", kind="kernel", params=dict(POOL_PARAMS),
                   shape_rule=_rule_of("avg_pool"), impl=_avg_pool_impl, vjp=_avg_pool_vjp,
                   jvp=linear("avg_pool"), n_inputs=1))
