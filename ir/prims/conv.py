"""Convolution: one general primitive `conv` (XLA's ConvGeneralDilated in TensorFlow's
channels-last layout), whose transposes are again `conv`.

`conv(lhs, rhs)` with lhs `(N, *S, C)` (batch, spatial, channels: NWC / NHWC) and rhs
`(*K, C / groups, O)` (spatial window, input channels per group, output channels: TF's
filter layout) gives `(N, *Q, O)`:

    out[n, q, o] = sum_{k, c} lhs'[n, q * strides + k * rhs_dilation, g(o) * C/groups + c]
                                * rhs[k, c, o]

where `lhs'` is lhs with `lhs_dilation - 1` zeros inserted between elements along each
spatial axis, then padded with `pad_lo` / `pad_hi` zeros (a negative pad crops), and
`g(o) = o // (O / groups)` is the group of output channel o (feature groups: `groups == C`
is a depthwise convolution). Each spatial output size is
`floor((S' - K') / stride) + 1` (0 when the dilated window K' is longer than S').

Invariants:
- Operands have one float dtype; every spatial parameter has one entry per spatial axis
  (at least one); strides and dilations are >= 1, `groups` divides C and O.
- The input's cotangent is itself a `conv` (JAX's `_conv_general_dilated_transpose_lhs`
  in this fixed layout): the cotangent convolved with the spatially reversed filter, its
  channels swapped within each group, strides becoming lhs dilation. The filter's is
  `conv_filter_grad` (`prims.conv_filter`), the correlation of the input with the
  cotangent, whose own VJPs are `conv` and the input's transpose again; so gradients of
  every order are these two bilinear primitives. The JVP is the multilinear form.
- The reference implementation sums window offset by window offset with `einsum` in the
  operands' dtype; native code (`codegen.lower_conv`) computes the same sums in another
  order.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

import numpy as np

from .. import ops
from ..core import FLOAT_DTYPES, TensorType, bind, dtype_name
from ..errors import DTypeError, ShapeError
from .elementwise import _same_dtype
from .registry import Primitive, register
from .tangents import multilinear

CONV_PARAMS: dict[str, Any] = {"strides": (), "pad_lo": (), "pad_hi": (), "lhs_dilation": (),
                               "rhs_dilation": (), "groups": 1}


def dilated(size: int, d: int) -> int:
    """The length of `size` elements with `d - 1` zeros between neighbours."""
    return 0 if size == 0 else (size - 1) * d + 1


def out_size(size: int, window: int, stride: int, lo: int, hi: int, lhs_d: int = 1,
             rhs_d: int = 1) -> int:
    """One spatial output size of `conv` (and of the pools, without dilations)."""
    span = dilated(size, lhs_d) + lo + hi - dilated(window, rhs_d)
    return 0 if span < 0 else span // stride + 1


def check_spatial(op: str, nsp: int, **params: Sequence[int]) -> None:
    """Every spatial parameter has `nsp` entries; strides, window and dilations are >= 1."""
    for name, v in params.items():
        if len(v) != nsp:
            raise ShapeError(f"{op}: {name}={tuple(v)} needs {nsp} entries (one per spatial "
                             "axis)")
        if not name.startswith("pad") and min(v, default=1) < 1:
            raise ValueError(f"{op}: {name}={tuple(v)} must be >= 1")


def _conv_rule(lhs: TensorType, rhs: TensorType, *, strides: tuple[int, ...],
               pad_lo: tuple[int, ...], pad_hi: tuple[int, ...],
               lhs_dilation: tuple[int, ...], rhs_dilation: tuple[int, ...], groups: int
               ) -> TensorType:
    dt = _same_dtype("conv", lhs, rhs)
    if dt not in FLOAT_DTYPES:
        raise DTypeError(f"conv needs float32 or float64 operands, got {dtype_name(dt)}")
    nsp = lhs.ndim - 2
    if nsp < 1 or rhs.ndim != lhs.ndim:
        raise ShapeError(f"conv needs an input (N, *spatial, C) and a filter "
                         f"(*spatial, C/groups, O) of one rank >= 3, got {lhs} and {rhs}")
    check_spatial("conv", nsp, strides=strides, pad_lo=pad_lo, pad_hi=pad_hi,
                  lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation)
    c, (ci, o) = lhs.shape[-1], rhs.shape[-2:]
    if groups < 1 or ci * groups != c or o % groups:
        raise ShapeError(f"conv: input channels {c} must be filter input channels {ci} "
                         f"times groups={groups}, and output channels {o} a multiple of it")
    q = tuple(out_size(*a) for a in zip(lhs.shape[1:-1], rhs.shape[:-2], strides, pad_lo,
                                        pad_hi, lhs_dilation, rhs_dilation))
    return TensorType((lhs.shape[0],) + q + (o,), dt)


def dilate_pad(x: np.ndarray, dil: Sequence[int], lo: Sequence[int], hi: Sequence[int],
               value: Any = 0) -> np.ndarray:
    """`x` (N, *S, C) dilated and padded with `value` along its spatial axes (a negative pad
    crops)."""
    for i, (d, a, b) in enumerate(zip(dil, lo, hi)):
        ax = i + 1
        n = x.shape[ax]
        if d > 1 and n > 1:
            shape = list(x.shape)
            shape[ax] = dilated(n, d)
            y = np.zeros(shape, x.dtype)
            y[(slice(None),) * ax + (slice(None, None, d),)] = x
            x = y
        widths = [(0, 0)] * x.ndim
        widths[ax] = (max(a, 0), max(b, 0))
        x = np.pad(x, widths, constant_values=value)
        stop = x.shape[ax] - max(-b, 0)
        x = x[(slice(None),) * ax + (slice(max(-a, 0), max(stop, max(-a, 0))),)]
    return x


def windows(xp: np.ndarray, window: Sequence[int], q: Sequence[int], strides: Sequence[int],
            rhs_dilation: Sequence[int]) -> Any:
    """Yield (window offset k, the elements of padded `xp` that offset k reads for every
    output position: (N, *Q, C))."""
    for k in np.ndindex(*window):
        sl = tuple(slice(kk * d, kk * d + (qq - 1) * s + 1, s) if qq else slice(0, 0)
                   for kk, d, qq, s in zip(k, rhs_dilation, q, strides))
        yield k, xp[(slice(None),) + sl]


def _conv_impl(lhs: np.ndarray, rhs: np.ndarray, *, strides: tuple[int, ...],
               pad_lo: tuple[int, ...], pad_hi: tuple[int, ...],
               lhs_dilation: tuple[int, ...], rhs_dilation: tuple[int, ...], groups: int
               ) -> np.ndarray:
    nsp = lhs.ndim - 2
    window = rhs.shape[:nsp]
    ci, o = rhs.shape[nsp:]
    q = tuple(out_size(*a) for a in zip(lhs.shape[1:-1], window, strides, pad_lo, pad_hi,
                                        lhs_dilation, rhs_dilation))
    out = np.zeros((lhs.shape[0],) + q + (groups, o // groups), lhs.dtype)
    xp = dilate_pad(lhs, lhs_dilation, pad_lo, pad_hi)
    for k, xs in windows(xp, window, q, strides, rhs_dilation):
        xs = xs.reshape(xs.shape[:-1] + (groups, ci))
        w = rhs[k].reshape(ci, groups, o // groups)
        out += np.einsum("...gc,cgo->...go", xs, w)
    return np.asarray(out.reshape(out.shape[:-2] + (o,)))


def conv(lhs: Any, rhs: Any, *, strides: Sequence[int], pad_lo: Sequence[int],
         pad_hi: Sequence[int], lhs_dilation: Sequence[int], rhs_dilation: Sequence[int],
         groups: int) -> Any:
    """`bind("conv", ...)` with every spatial parameter as a tuple of ints."""
    def t(v: Sequence[int]) -> tuple[int, ...]:
        return tuple(int(i) for i in v)
    return bind("conv", lhs, rhs, strides=t(strides), pad_lo=t(pad_lo), pad_hi=t(pad_hi),
                lhs_dilation=t(lhs_dilation), rhs_dilation=t(rhs_dilation), groups=int(groups))


def lhs_transpose(g: Any, rhs: Any, lhs_shape: Sequence[int], *, strides: Sequence[int],
                  pad_lo: Sequence[int], pad_hi: Sequence[int], lhs_dilation: Sequence[int],
                  rhs_dilation: Sequence[int], groups: int) -> Any:
    """The cotangent of conv's input for output cotangent `g` (also `conv2d_transpose`):
    `g` convolved with the reversed filter, its input and output channels swapped within
    each group, strides becoming lhs dilation."""
    nsp = len(lhs_shape) - 2
    window = tuple(rhs.shape[:nsp])
    ci, o = rhs.shape[nsp:]
    if 0 in tuple(g.shape[1:-1]):       # no output position: no input element is read
        return ops.full(lhs_shape, 0, g.dtype)
    sp = tuple(range(nsp))
    w = ops.reshape(rhs, window + (ci, groups, o // groups))
    w = ops.transpose(w, sp + (nsp + 2, nsp + 1, nsp))
    w = ops.reshape(w, window + (o // groups, groups * ci))
    w = bind("rev", w, axes=sp)
    lo, hi = [], []
    for s, k, q, st, a, ld, rd in zip(lhs_shape[1:-1], window, g.shape[1:-1], strides,
                                      pad_lo, lhs_dilation, rhs_dilation):
        before = dilated(k, rd) - a - 1
        lo.append(before)
        hi.append(dilated(s, ld) + dilated(k, rd) - 1 - dilated(q, st) - before)
    return conv(g, w, strides=lhs_dilation, pad_lo=lo, pad_hi=hi, lhs_dilation=strides,
                rhs_dilation=rhs_dilation, groups=groups)


def _conv_vjp(g: Any, lhs: Any, rhs: Any, *, out: Any, **params: Any) -> tuple[Any, Any]:
    window = tuple(rhs.shape[:lhs.ndim - 2])
    return (lhs_transpose(g, rhs, tuple(lhs.shape), **params),
            bind("conv_filter_grad", lhs, g, window=window, **params))


register(Primitive("conv", kind="kernel", params=dict(CONV_PARAMS), shape_rule=_conv_rule,
                   impl=_conv_impl, vjp=_conv_vjp, n_inputs=2, jvp=multilinear("conv")))
