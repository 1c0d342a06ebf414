"""Batching rules of the core primitives whose kind implies none (see `batching`): shape
ops (the batch axis in front shifts their axis parameters), indexing (`gather`,
`scatter_add`, `one_hot`), `philox`, `matmul`, `assert` and the calls (`call`,
`custom_vjp`).

Invariants: each rule keeps an unbatched operand unbatched where the primitive can
broadcast it; batched indices are offset per batch element (`_offset_indices`), so an
index out of range in one element still fails the bounds check; a product of a batched
operand with an unbatched matrix stays one matrix product.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .batching import (Out, Xs, _bcast, _elem_shape, _lift_rank, _move_to_front,
                       _offset_indices, _register, batched_callee, live_mask, vmap)
from .caches import Memo
from .core import Function, bind
from .prims.elementwise import broadcast_shapes


# --------------------------------------------------------------------------- shape


@_register("reshape")
def _reshape_rule(xs: Xs, bat: list[bool], bsize: int, *, shape: tuple[int, ...]) -> Out:
    return [bind("reshape", xs[0], shape=(bsize,) + tuple(shape))], [True]


@_register("broadcast_to")
def _broadcast_rule(xs: Xs, bat: list[bool], bsize: int, *, shape: tuple[int, ...]) -> Out:
    x = _lift_rank(xs[0], len(shape))
    return [bind("broadcast_to", x, shape=(bsize,) + tuple(shape))], [True]


@_register("transpose")
def _transpose_rule(xs: Xs, bat: list[bool], bsize: int, *, perm: tuple[int, ...]) -> Out:
    return [bind("transpose", xs[0], perm=(0,) + tuple(p + 1 for p in perm))], [True]


@_register("concat")
def _concat_rule(xs: Xs, bat: list[bool], bsize: int, *, axis: int) -> Out:
    parts = [_bcast(x, bt, bsize) for x, bt in zip(xs, bat)]
    return [bind("concat", *parts, axis=axis + 1)], [True]


@_register("slice")
def _slice_rule(xs: Xs, bat: list[bool], bsize: int, *, starts: tuple[int, ...],
                limits: tuple[int, ...], strides: tuple[int, ...]) -> Out:
    return [bind("slice", xs[0], starts=(0,) + tuple(starts), limits=(bsize,) + tuple(limits),
                 strides=(1,) + tuple(strides))], [True]


@_register("pad")
def _pad_rule(xs: Xs, bat: list[bool], bsize: int, *, lo: tuple[int, ...],
              hi: tuple[int, ...], interior: tuple[int, ...]) -> Out:
    return [bind("pad", xs[0], lo=(0,) + tuple(lo), hi=(0,) + tuple(hi),
                 interior=(0,) + tuple(interior))], [True]


@_register("rev")
def _rev_rule(xs: Xs, bat: list[bool], bsize: int, *, axes: tuple[int, ...]) -> Out:
    return [bind("rev", xs[0], axes=tuple(a + 1 for a in axes))], [True]

# --------------------------------------------------------------------------- indexing


@_register("gather")
def _gather_rule(xs: Xs, bat: list[bool], bsize: int, *, axis: int) -> Out:
    x, idx = xs
    if not bat[1]:
        return [bind("gather", x, idx, axis=axis + 1)], [True]
    if not bat[0]:
        # x.shape[:axis] + (B,) + s + x.shape[axis+1:]: move the batch axis to the front.
        return [_move_to_front(bind("gather", x, idx, axis=axis), axis)], [True]
    # Both batched: flatten (B, n) into one axis of B * n and offset row b's indices by b * n.
    n = x.shape[axis + 1]
    pre, post = tuple(x.shape[1:axis + 1]), tuple(x.shape[axis + 2:])
    perm = (0, axis + 1) + tuple(range(1, axis + 1)) + tuple(range(axis + 2, x.ndim))
    flat = ops.reshape(ops.transpose(x, perm), (bsize * n,) + pre + post)
    got = bind("gather", flat, _offset_indices(idx, n, bsize), axis=0)
    # got: (B,) + s + pre + post  ->  (B,) + pre + s + post
    k, p = idx.ndim - 1, len(pre)
    back = ((0,) + tuple(range(1 + k, 1 + k + p)) + tuple(range(1, 1 + k))
            + tuple(range(1 + k + p, got.ndim)))
    return [ops.transpose(got, back)], [True]


@_register("scatter_add")
def _scatter_add_rule(xs: Xs, bat: list[bool], bsize: int, *, axis: int, size: int,
                      mode: str) -> Out:
    g, idx = xs
    if not bat[1]:
        return [bind("scatter_add", g, idx, axis=axis + 1, size=size, mode=mode)], [True]
    # Batched indices send each row's updates to their own places, so the updates need a
    # batch axis too; (B, size) is flattened into one axis of B * size with offset indices.
    g = _bcast(g, bat[0], bsize)
    k = idx.ndim - 1
    pre, post = tuple(g.shape[1:axis + 1]), tuple(g.shape[axis + 1 + k:])
    perm = ((0,) + tuple(range(axis + 1, axis + 1 + k)) + tuple(range(1, axis + 1))
            + tuple(range(axis + 1 + k, g.ndim)))
    moved = ops.transpose(g, perm)  # (B,) + s + pre + post
    out = bind("scatter_add", moved, _offset_indices(idx, size, bsize), axis=0,
               size=bsize * size, mode=mode)
    out = ops.reshape(out, (bsize, size) + pre + post)
    p = len(pre)
    back = (0,) + tuple(range(2, 2 + p)) + (1,) + tuple(range(2 + p, out.ndim))
    return [ops.transpose(out, back)], [True]


@_register("one_hot")
def _one_hot_rule(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
    return [bind("one_hot", xs[0], **params)], [True]


@_register("assert")
def _assert_rule(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
    # One check of every element of the batch members the code runs for (`live_mask`):
    # its result is not batched.
    cond = xs[0]
    live = live_mask()
    if live is not None:
        if not bat[0]:
            cond = bind("reshape", cond, shape=(1,) + tuple(cond.shape))
        rank = len(cond.shape) - 1
        skipped = bind("logical_not", bind("reshape", live, shape=(bsize,) + (1,) * rank))
        cond = bind("logical_or", cond, skipped)
    return [bind("assert", cond, **params)], [False]


@_register("philox")
def _philox_rule(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
    # Keys and counters take leading batch dimensions: one draw per batch element.
    return [bind("philox", *(_bcast(x, b, bsize) for x, b in zip(xs, bat)), **params)], [True]

# --------------------------------------------------------------------------- linear algebra


@_register("matmul")
def _matmul_rule(xs: Xs, bat: list[bool], bsize: int, *, transpose_a: bool,
                 transpose_b: bool) -> Out:
    a, b = xs
    # With one operand a plain unbatched matrix, the whole batch is ONE matrix product (one
    # BLAS call, not B small ones): the batched operand's leading axes fold into its rows
    # (left operand) or its columns (right operand). This is the common case of a
    # Jacobian: seeds times the weights of a layer, or the weights' transpose times seeds.
    if bat[0] and not bat[1] and b.ndim == 2:
        # (L..., m, k) @ (k, n) = (L * m, k) @ (k, n), reshaped.
        lead = tuple(a.shape[:-2])
        m, k = a.shape[-2:]
        if transpose_a:
            a = ops.transpose(a, tuple(range(a.ndim - 2)) + (a.ndim - 1, a.ndim - 2))
            m, k = k, m
        rows = int(np.prod(lead, dtype=np.int64)) * m
        out = bind("matmul", ops.reshape(a, (rows, k)), b, transpose_a=False,
                   transpose_b=transpose_b)
        return [ops.reshape(out, lead + (m, out.shape[-1]))], [True]
    if bat[1] and not bat[0] and a.ndim == 2:
        # (m, k) @ (L..., k, n): the L matrices side by side as one (k, L * n) matrix.
        lead = tuple(b.shape[:-2])
        k, n = (b.shape[-1], b.shape[-2]) if transpose_b else (b.shape[-2], b.shape[-1])
        count = int(np.prod(lead, dtype=np.int64))
        b3 = ops.reshape(b, (count,) + tuple(b.shape[-2:]))
        cols = ops.reshape(ops.transpose(b3, (2, 0, 1) if transpose_b else (1, 0, 2)),
                           (k, count * n))
        out = bind("matmul", a, cols, transpose_a=transpose_a, transpose_b=False)
        m = out.shape[0]
        out = ops.transpose(ops.reshape(out, (m, count, n)), (1, 0, 2))
        return [ops.reshape(out, lead + (m, n))], [True]
    # Otherwise the batch axis is one more matmul batch axis, which broadcasts.
    sa, sb = _elem_shape(a, bat[0]), _elem_shape(b, bat[1])
    rank = len(broadcast_shapes(sa[:-2], sb[:-2])) + 2
    a = _lift_rank(a, rank) if bat[0] else a
    b = _lift_rank(b, rank) if bat[1] else b
    return [bind("matmul", a, b, transpose_a=transpose_a, transpose_b=transpose_b)], [True]

# --------------------------------------------------------------------------- call


@_register("call")
def _call_rule(xs: Xs, bat: list[bool], bsize: int, *, fn: Function) -> Out:
    callee, out_bat = batched_callee(fn, bat, bsize)
    out = bind("call", *xs, fn=callee)
    return (list(out) if isinstance(out, tuple) else [out]), out_bat


_CUSTOM: Memo[tuple[int, int], tuple[Function, Function]] = \
    Memo("batching: batched custom gradients")


@_register("custom_vjp")
def _custom_vjp_rule(xs: Xs, bat: list[bool], bsize: int, *, bwd: Function, n_in: int,
                     n_out: int, connected: tuple[bool, ...]) -> Out:
    # Every operand batched (unbatched ones broadcast), so the batched gradient Function
    # takes and returns values of the batched operands' types.
    full = [_bcast(x, bt, bsize) for x, bt in zip(xs, bat)]
    hit = _CUSTOM.get((id(bwd), bsize))
    if hit is None or hit[0] is not bwd:
        hit = _CUSTOM.put((id(bwd), bsize), (bwd, vmap(bwd, [True] * len(bwd.params), bsize)))
    out = bind("custom_vjp", *full, bwd=hit[1], n_in=n_in, n_out=n_out, connected=connected)
    return (list(out) if isinstance(out, tuple) else [out]), [True] * n_out

