"""Batching rules of the region instructions (`while`, `scan`, `cond`); see `batching`.

- `cond` with an unbatched index batches every branch alike (results batched in one branch
  are batched in all). With a batched index every branch runs on the whole batch and each
  element takes its own branch's results by `select` (what `tf.vectorized_map` does); a
  branch's run-time checks check only the elements that take it (`batching.only_where`,
  as for a `while` body past an element's end and a `scan` step past its count).
- `scan`: the batch axis of the `xs` moves behind the scanned axis (the body sees batched
  slices) and back in front of the `ys`; a carry is batched when its initial value or any
  step makes it so (a fixed point over the body's batching).
  A dynamic `scan` with a batched step count runs the largest count; an element whose count
  is reached keeps its carry and gets zero rows (`select` on the row index).
- `while` with an unbatched condition batches the body like `scan`. With a batched
  condition the loop runs while any element's condition holds; an element whose condition
  fails keeps its state (`select`), and the trip count becomes one count per element.

Invariants: the batched loops and branches are region instructions again (never unrolled),
so batched backward passes (Jacobians) of loops stay loops.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

import numpy as np

from . import ops
from .batching import (Out, Xs, _batched_type, _bcast, _register, batch_values, batched_callee,
                       only_where)
from .core import Builder, Function, TensorType, bind, interpreting, results_list


def _forced(fn: Function, flags: Sequence[bool], size: int, want: Sequence[bool]) -> Function:
    """`fn` batched over `flags`, each result batched exactly where `want` says (results
    batched by the body but not wanted are an error of the caller's fixed point)."""
    b = Builder(f"{fn.name}_vmap")
    args = [b.param(_batched_type(p.type, size) if bt else p.type, p.hint)
            for p, bt in zip(fn.params, flags)]
    with interpreting(b):
        outs = batch_values(fn, args, flags, size)
        res = []
        for (v, bt), w in zip(outs, want):
            assert w or not bt, "a result is batched where the fixed point says it is not"
            res.append(_bcast(v, bt, size) if w and not bt else v)
    return b.build(res)


def _carry_flags(body: Function, head: list[bool], carry: list[bool], size: int,
                 n_carry: int) -> list[bool]:
    """The least fixed point of carry batching: a carry is batched if its initial value is
    or the body makes it so."""
    flags = list(carry)
    while True:
        _, out = batched_callee(body, head + flags, size)
        new = [a or b for a, b in zip(flags, out[:n_carry])]
        if new == flags:
            return flags
        flags = new


def _lift(c: Any, rank: int) -> Any:
    """A batched (B,) mask reshaped to broadcast over values of element rank `rank`."""
    return ops.reshape(c, (c.shape[0],) + (1,) * rank)


# --------------------------------------------------------------------------- cond


@_register("cond")
def _cond_rule(xs: Xs, bat: list[bool], bsize: int, *, branches: tuple[Function, ...]
               ) -> Out:
    index, ops_, flags = xs[0], xs[1:], bat[1:]
    if not bat[0]:
        want = [False] * len(branches[0].results)
        for br in branches:
            _, out = batched_callee(br, flags, bsize)
            want = [a or b for a, b in zip(want, out)]
        new = tuple(_forced(br, flags, bsize, want) for br in branches)
        return results_list(bind("cond", index, *ops_, branches=new)), want
    # Element b takes branch index[b], the last one for an index out of range.
    picks = [ops.eq(index, ops.const(k, np.int32)) for k in range(len(branches) - 1)]
    rest = ops.full((bsize,), True, np.bool_)
    for p in picks:
        rest = bind("logical_and", rest, bind("logical_not", p))
    results = []
    for br, taken in zip(branches, picks + [rest]):
        with only_where(taken):         # its checks check the elements that take it
            outs = batch_values(br, ops_, flags, bsize)
        results.append([_bcast(v, bt, bsize) for v, bt in outs])
    acc = results[-1]
    for k in range(len(branches) - 2, -1, -1):
        acc = [ops.select(_lift(picks[k], len(a.shape) - 1), r, a)
               for r, a in zip(results[k], acc)]
    return acc, [True] * len(acc)


# --------------------------------------------------------------------------- scan


def _time_major(x: Any) -> Any:
    perm = (1, 0) + tuple(range(2, len(x.shape)))
    return ops.transpose(x, perm)


@_register("scan")
def _scan_rule(xs: Xs, bat: list[bool], bsize: int, *, body: Function, n_consts: int,
               n_carry: int, length: int, reverse: bool, dynamic: bool = False) -> Out:
    head_ops: list[Any] = []
    if dynamic:
        if bat[0]:
            return _scan_batched_steps(xs, bat, bsize, body, n_consts, n_carry, length,
                                       reverse)
        head_ops, xs, bat = [xs[0]], xs[1:], bat[1:]
    k, m = n_consts, n_carry
    head, xflags = bat[:k], bat[k + m:]
    cflags = _scan_carry_flags(body, head, bat[k:k + m], xflags, bsize, m)
    flags = head + cflags + xflags
    _, out = batched_callee(body, flags, bsize)
    want = cflags + out[m:]
    new = _forced(body, flags, bsize, want)
    carry = [_bcast(x, bt, bsize) if c and not bt else x
             for x, bt, c in zip(xs[k:k + m], bat[k:k + m], cflags)]
    seqs = [_time_major(x) if bt else x for x, bt in zip(xs[k + m:], xflags)]
    res = results_list(bind("scan", *head_ops, *xs[:k], *carry, *seqs, body=new, n_consts=k,
                     n_carry=m, length=length, reverse=reverse, dynamic=dynamic))
    ys = [_time_major(y) if bt else y for y, bt in zip(res[m:], out[m:])]
    return res[:m] + ys, want


def _scan_batched_steps(xs: Xs, bat: list[bool], bsize: int, body: Function, k: int, m: int,
                        length: int, reverse: bool) -> Out:
    steps, xs, bat = xs[0], xs[1:], bat[1:]
    head, xflags = bat[:k], bat[k + m:]
    types = [p.type for p in body.params]
    i32 = np.dtype(np.int32)
    b = Builder(f"{body.name}_vmap_steps")
    cs = [b.param(_batched_type(t, bsize) if bt else t) for t, bt in zip(types[:k], head)]
    own = b.param(TensorType((bsize,), i32), "steps")
    st = [b.param(_batched_type(t, bsize)) for t in types[k:k + m]]
    xp = [b.param(_batched_type(t, bsize) if bt else t) for t, bt in zip(types[k + m:], xflags)]
    row = b.param(TensorType((), i32), "row")
    with interpreting(b):
        live = ops.gt(own, row)
        with only_where(live):          # its checks check the elements still stepping
            outs = batch_values(body, cs + st + xp, head + [True] * m + xflags, bsize)
        new = [_bcast(v, bt, bsize) for v, bt in outs]
        res = [ops.select(_lift(live, len(v.shape) - 1), v,
                          s if j < m else ops.full(tuple(v.shape), 0, v.dtype))
               for j, (v, s) in enumerate(zip(new, st + new[m:]))]
    fn = b.build(res)
    carry = [_bcast(x, bt, bsize) for x, bt in zip(xs[k:k + m], bat[k:k + m])]
    seqs = [_time_major(x) if bt else x for x, bt in zip(xs[k + m:], xflags)]
    most = bind("reduce_max", steps, axes=(0,))
    out = results_list(bind("scan", most, *xs[:k], steps, *carry, *seqs, ops.iota((length,), 0),
                     body=fn, n_consts=k + 1, n_carry=m, length=length, reverse=reverse,
                     dynamic=True))
    return out[:m] + [_time_major(y) for y in out[m:]], [True] * len(out)


def _scan_carry_flags(body: Function, head: list[bool], carry: list[bool], xflags: list[bool],
                      size: int, m: int) -> list[bool]:
    flags = list(carry)
    while True:
        _, out = batched_callee(body, head + flags + xflags, size)
        new = [a or b for a, b in zip(flags, out[:m])]
        if new == flags:
            return flags
        flags = new


# --------------------------------------------------------------------------- while


@_register("while")
def _while_rule(xs: Xs, bat: list[bool], bsize: int, *, cond: Function, body: Function,
                n_consts: int, max_iters: int | None) -> Out:
    k = n_consts
    head = bat[:k]
    cflags = _carry_flags(body, head, bat[k:], bsize, len(bat) - k)
    _, pflag = batched_callee(cond, head + cflags, bsize)
    if not pflag[0]:
        new_body = _forced(body, head + cflags, bsize, cflags)
        new_cond = _forced(cond, head + cflags, bsize, [False])
        carry = [_bcast(x, bt, bsize) if c and not bt else x
                 for x, bt, c in zip(xs[k:], bat[k:], cflags)]
        res = results_list(bind("while", *xs[:k], *carry, cond=new_cond, body=new_body,
                         n_consts=k, max_iters=max_iters))
        return res, cflags + [False]
    return _while_batched_pred(xs, bat, bsize, cond, body, k, max_iters)


def _while_batched_pred(xs: Xs, bat: list[bool], bsize: int, cond: Function, body: Function,
                        k: int, max_iters: int | None) -> Out:
    head = bat[:k]
    n = len(xs) - k
    types = [p.type for p in body.params]
    i32 = np.dtype(np.int32)

    def active(b: Builder, cs: list[Any], state: list[Any], count: Any) -> Any:
        p, pb = batch_values(cond, cs + state, head + [True] * n, bsize)[0]
        p = _bcast(p, pb, bsize)
        if max_iters is not None:
            p = bind("logical_and", p, bind("lt", count, ops.const(max_iters, i32)))
        return p

    def params(b: Builder) -> tuple[list[Any], list[Any], Any]:
        cs = [b.param(_batched_type(t, bsize) if bt else t) for t, bt in zip(types[:k], head)]
        st = [b.param(_batched_type(t, bsize)) for t in types[k:]]
        return cs, st, b.param(TensorType((bsize,), i32), "count")

    bc = Builder(f"{cond.name}_vmap_any")
    cs, st, count = params(bc)
    with interpreting(bc):
        p = active(bc, cs, st, count)
        anyp = ops.gt(ops.reduce_sum(ops.convert(p, i32), (0,)), ops.const(0, i32))
    new_cond = bc.build([anyp])

    bb = Builder(f"{body.name}_vmap_masked")
    cs, st, count = params(bb)
    with interpreting(bb):
        p = active(bb, cs, st, count)
        with only_where(p):             # its checks check the elements still looping
            outs = batch_values(body, cs + st, head + [True] * n, bsize)
        new = [_bcast(v, bt, bsize) for v, bt in outs]
        kept = [ops.select(_lift(p, len(t.shape)), v, s) for v, s, t in zip(new, st, types[k:])]
        cnt = ops.add(count, ops.convert(p, i32))
    new_body = bb.build(kept + [cnt])

    carry = [_bcast(x, bt, bsize) for x, bt in zip(xs[k:], bat[k:])]
    zero = ops.full((bsize,), 0, i32)
    res = results_list(bind("while", *xs[:k], *carry, zero, cond=new_cond, body=new_body,
                     n_consts=k, max_iters=None))
    return res[:n] + [res[n]], [True] * (n + 1)
