"""Batching rules of the convolution and pooling primitives (`prims.conv`, `prims.pool`);
see `batching`. A batched input folds the new batch axis into the convolution's own batch
axis (N), so the batched instruction is one convolution or pool of B * N images; a batched
filter folds it into the feature groups instead: B independent convolutions are one
convolution with B times the groups, input and output channels stacked batch-major."""
from __future__ import annotations

from typing import Any

from . import ops
from .batching import Out, Xs, _bcast, _register
from .core import TensorType, bind
from .prims import get_primitive
from .prims.pool import index_dtype


def _fold(x: Any) -> Any:
    """(B, N, ...) -> (B * N, ...)."""
    s = tuple(x.shape)
    return ops.reshape(x, (s[0] * s[1],) + s[2:])


def _unfold(y: Any, bsize: int, x: Any) -> Any:
    """(B * N, ...) -> (B, N, ...), N taken from the batched operand x."""
    return ops.reshape(y, (bsize, x.shape[1]) + tuple(y.shape)[1:])


def _empty_batch(prim: str, xs: Xs, bat: list[bool], params: dict[str, Any]) -> Out:
    """The result for a batch of size 0: zeros of the element result's type, batched."""
    elems = [TensorType(tuple(x.shape)[1:] if bt else tuple(x.shape), x.dtype)
             for x, bt in zip(xs, bat)]
    t = get_primitive(prim).infer(elems, params)[0]
    return [ops.full((0,) + tuple(t.shape), 0, t.dtype)], [True]


@_register("conv")
def _conv_rule(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
    x, w = xs
    if bsize == 0:
        return _empty_batch("conv", xs, bat, params)
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


@_register("conv_filter_grad")
def _filter_rule(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
    # The filter gradient sums over N, so the batch folds into the feature groups: B
    # problems with G groups each are one with B * G groups, channels stacked batch-major.
    if bsize == 0:
        return _empty_batch("conv_filter_grad", xs, bat, params)
    x, g = (_bcast(v, bt, bsize) for v, bt in zip(xs, bat))     # (B, N, *S, C), (B, N, *Q, O)

    def stack(v: Any) -> Any:
        t = ops.transpose(v, tuple(range(1, v.ndim - 1)) + (0, v.ndim - 1))
        return ops.reshape(t, tuple(t.shape[:-2]) + (bsize * v.shape[-1],))
    groups = params.pop("groups")
    y = bind("conv_filter_grad", stack(x), stack(g), groups=groups * bsize, **params)
    o = g.shape[-1]
    y = ops.reshape(y, tuple(y.shape[:-1]) + (bsize, o))          # (*K, Ci, B, O)
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
