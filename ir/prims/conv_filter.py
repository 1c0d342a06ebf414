"""`conv_filter_grad`: the cotangent of `conv`'s filter, a primitive of its own.

`conv_filter_grad(lhs, g)` with lhs `(N, *S, C)` and `g` `(N, *Q, O)` (the output
cotangent of `conv(lhs, rhs)` for a filter of spatial shape `window`) gives `(*window,
C / groups, O)`:

    out[k, c, o] = sum_{n, q} lhs'[n, q * strides + k * rhs_dilation, g(o) * C/groups + c]
                              * g[n, q, o]

with `lhs'` dilated and padded as in `conv` (the same params). JAX writes it as a `conv`
with the batch and feature axes of the input swapped and the cotangent as the filter; in
native code that is a convolution whose window is the whole image, so here it has its own
lowering (`codegen.lower_conv`: the forward im2col of the input, multiplied transposed by
the cotangent's rows, accumulated over chunks of rows).

Invariants:
- `g`'s spatial shape is the output shape of `conv` for these operands and params (the
  shape rule checks it), so `<conv(lhs, rhs), g> = <rhs, conv_filter_grad(lhs, g)>`.
- Bilinear: the VJP for `lhs` is `conv`'s input transpose of `g` with the cotangent `h`
  as filter, the VJP for `g` is `conv(lhs, h)`; the JVP is the multilinear form.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import TensorType
from ..errors import ShapeError
from .conv import CONV_PARAMS, _conv_rule, dilate_pad, lhs_transpose, out_size, windows
from .elementwise import _same_dtype
from .registry import Primitive, register
from .tangents import multilinear


def _rule(lhs: TensorType, g: TensorType, *, window: tuple[int, ...], groups: int,
          **params: Any) -> TensorType:
    nsp = lhs.ndim - 2
    _same_dtype("conv_filter_grad", lhs, g)
    if len(window) != nsp or g.ndim != lhs.ndim:
        raise ShapeError(f"conv_filter_grad: input {lhs}, cotangent {g} and window {window} "
                         "need one number of spatial axes")
    c, o = lhs.shape[-1], g.shape[-1]
    if groups < 1 or c % groups:
        raise ShapeError(f"conv_filter_grad: groups={groups} must divide the input's {c} "
                         "channels")
    rhs = TensorType(tuple(window) + (c // groups, o), lhs.dtype)
    want = _conv_rule(lhs, rhs, groups=groups, **params)
    if want.shape != g.shape:
        raise ShapeError(f"conv_filter_grad: the cotangent {g} must have conv's output "
                         f"shape {want.shape}")
    return rhs


def _impl(lhs: np.ndarray, g: np.ndarray, *, window: tuple[int, ...], strides: tuple[int, ...],
          pad_lo: tuple[int, ...], pad_hi: tuple[int, ...], lhs_dilation: tuple[int, ...],
          rhs_dilation: tuple[int, ...], groups: int) -> np.ndarray:
    c, o = lhs.shape[-1], g.shape[-1]
    ci, og = c // groups, o // groups
    q = tuple(out_size(*a) for a in zip(lhs.shape[1:-1], window, strides, pad_lo, pad_hi,
                                        lhs_dilation, rhs_dilation))
    xp = dilate_pad(lhs, lhs_dilation, pad_lo, pad_hi)
    gg = g.reshape(-1, groups, og)
    out = np.zeros(tuple(window) + (ci, groups, og), lhs.dtype)
    for k, xs in windows(xp, window, q, strides, rhs_dilation):
        out[k] = np.einsum("mgc,mgo->cgo", xs.reshape(-1, groups, ci), gg)
    return np.asarray(out.reshape(tuple(window) + (ci, o)))


def _vjp(h: Any, lhs: Any, g: Any, *, out: Any, window: tuple[int, ...], **params: Any
         ) -> tuple[Any, Any]:
    from .conv import conv
    return (lhs_transpose(g, h, tuple(lhs.shape), **params), conv(lhs, h, **params))


register(Primitive("conv_filter_grad", kind="kernel", params={**CONV_PARAMS, "window": ()},
                   shape_rule=_rule, impl=_impl, vjp=_vjp, n_inputs=2,
                   jvp=multilinear("conv_filter_grad")))
