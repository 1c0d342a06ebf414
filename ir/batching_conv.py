"""Batching rules of the convolution and pooling primitives (`prims.conv`, `prims.pool`);
see `batching`. A batched input folds the new batch axis into the convolution's own batch
axis (N), so the batched instruction is one convolution or pool of B * N images; a batched
filter folds it into the feature groups instead: B independent convolutions are one
convolution with B times the groups, input and output channels stacked batch-major."""
from __future__ import annotations

from typing import Any

from . import ops
from .batching import Out, Xs, _bcast, _register
from .core import bind
from .prims.pool import index_dtype


def _fold(x: Any) -> Any:
    """(B, N, ...) -> (B * N, ...)."""
    s = tuple(x.shape)
    return ops.reshape(x, (s[0] * s[1],) + s[2:])


def _unfold(y: Any, bsize: int, x: Any) -> Any:
    """(B * N, ...) -> (B, N, ...), N taken from the batched operand x."""
    return ops.reshape(y, (bsize, x.shape[1]) + tuple(y.shape)[1:])


@_register("conv")
def _conv_rule(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
    x, w = xs
    if not bat[1]:
        return [_unfold(bind("conv", _fold(x), w, **params), bsize, x)], [True]
    x = _bcast(x, bat[0], bsize)                       # (B, N, *S, C)
    nd = x.ndim
    # (B, N, *S, C) -> (N, *S, B * C); (B, *K, Ci, O) -> (*K, Ci, B * O)
    xt = ops.transpose(x, tuple(range(1, nd - 1)) + (0, nd - 1))
    xt = ops.reshape(xt, tuple(xt.shape[:-2]) + (bsize * x.shape[-1],))
    wt = ops.transpose(w, tuple(range(1, w.ndim - 1)) + (0, w.ndim - 1))
    wt = ops.reshape(wt, tuple(wt.shape[:-2]) + (bsize * w.shape[-1],))
    groups = params.pop("groups")
    y = bind("conv", xt, wt, groups=groups * bsize, **params)   # (N, *Q, B * O)
    y = ops.reshape(y, tuple(y.shape[:-1]) + (bsize, w.shape[-1]))
    yd = y.ndim
    return [ops.transpose(y, (yd - 2,) + tuple(range(yd - 2)) + (yd - 1,))], [True]


def _pool(prim: str) -> Any:
    def rule(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
        return [_unfold(bind(prim, _fold(xs[0]), **params), bsize, xs[0])], [True]
    return rule


for _name in ("max_pool", "avg_pool"):
    _register(_name)(_pool(_name))


@_register("max_pool_argmax")
def _argmax_rule(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
    # Flat indices into the folded (B * N, ...) input, made relative to each batch element.
    y = _unfold(bind("max_pool_argmax", _fold(xs[0]), **params), bsize, xs[0])
    per = 1
    for d in tuple(xs[0].shape)[1:]:
        per *= d
    rows = ops.iota((bsize,) + (1,) * (y.ndim - 1), 0, y.dtype)
    y = ops.sub(y, ops.mul(rows, ops.const(per, y.dtype)))
    want = index_dtype(per)
    return [y if y.dtype == want else ops.convert(y, want)], [True]
