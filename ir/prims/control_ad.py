"""Reverse mode of the region instructions (`control`): every rule emits region
instructions again, built with `bind`, so gradients of gradients need no special case.

- `cond`: a `cond` on the same index whose branches are the branches' backward Functions.
- `scan`: one forward `scan` that also stacks the carry entering each step (the only
  per-step residual kept: each backward step recomputes its step's forward from it, which
  is what `recompute_grad` does for a body), then a `scan` in the opposite direction over
  the stacked carries, the `xs` and the `ys`' cotangents.
- `while`: the trip count `n` is the loop's last output. The backward loop runs `n` times,
  last step first; step `k` recomputes the state entering forward step `k` from the initial
  state with an inner `while` of `k` body steps, then applies the body's backward Function.
  Memory stays that of one state whatever `n` is; time grows as `n**2` body steps, which
  suits iterative solvers that converge in a few steps (a loop with a static trip count is a
  `scan`, whose reverse mode is linear).

Invariants: the cotangent of an integer operand is None; the backward Functions are
memoized per (Function, operand selection), so differentiating one loop twice builds them
once.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

import numpy as np

from .. import ops
from ..caches import Memo
from ..core import FLOAT_DTYPES, Builder, Function, TensorType, Value, bind, interpreting

_CT: Memo[tuple[int, tuple[int, ...]], tuple[Function, Function]] = \
    Memo("control flow: cotangent Functions")


def _is_float(t: Any) -> bool:
    return np.dtype(t.dtype) in FLOAT_DTYPES


def cotangent_fn(fn: Function, wrt: Sequence[int]) -> Function:
    """`(params.., seeds..) -> (cotangent of params[i] for i in wrt)`: the backward Function
    of `fn` (its forward recomputed from the params), one seed per result; an unconnected
    parameter gets zeros."""
    key = (id(fn), tuple(wrt))
    hit = _CT.get(key)
    if hit is not None and hit[0] is fn:
        return hit[1]
    from ..interp import run
    from .call import backward_of
    bwd = backward_of(fn)
    b = Builder(f"{fn.name}_ct")
    xs = [b.param(p.type, p.hint) for p in fn.params]
    seeds = [b.param(r.type, "seed") for r in fn.results]
    with interpreting(b):
        outs = run(bwd.fn, xs + seeds) if bwd.fn.results else []
        it = iter(outs)
        full = [next(it) if c else None for c in bwd.connected]
        res = []
        for i in wrt:
            g = full[i]
            res.append(g if g is not None else
                       ops.full(fn.params[i].type.shape, 0, fn.params[i].type.dtype))
    ct = b.build(res)
    _CT.put(key, (fn, ct))
    return ct


def _zeros(t: Any) -> Any:
    return ops.full(tuple(t.shape), 0, t.dtype)


def _outs(x: Any) -> list[Any]:
    return list(x) if isinstance(x, tuple) else [x]


def _spread(ins: Sequence[Any], wrt: Sequence[int], cts: Sequence[Any]) -> list[Any]:
    out: list[Any] = [None] * len(ins)
    for i, c in zip(wrt, cts):
        out[i] = c
    return out


# --------------------------------------------------------------------------- cond


def cond_vjp(g: Any, index: Any, *ins: Any, out: Any, branches: tuple[Function, ...]
             ) -> list[Any]:
    wrt = [i for i, x in enumerate(ins) if _is_float(x)]
    if not wrt:
        return [None] * (len(ins) + 1)
    gs = _outs(g)
    bwd = tuple(cotangent_fn(br, wrt) for br in branches)
    cts = _outs(bind("cond", index, *ins, *gs, branches=bwd))
    return [None] + _spread(ins, wrt, cts)


# --------------------------------------------------------------------------- scan


def _with_carry_ys(body: Function, k: int, m: int) -> Function:
    """`body` that also returns the carry it received as extra `y`s."""
    return Function(f"{body.name}_states", body.params, body.instrs,
                    list(body.results) + list(body.params[k:k + m]))


def scan_vjp(g: Any, *ins: Any, out: Any, body: Function, n_consts: int, n_carry: int,
             length: int, reverse: bool) -> list[Any]:
    from ..interp import run
    k, m = n_consts, n_carry
    n_x = len(ins) - k - m
    wrt = [i for i, x in enumerate(ins) if _is_float(x)]
    if not wrt:
        return [None] * len(ins)
    gs = _outs(g)
    carry_t = [x.type if isinstance(x, Value) else TensorType(np.shape(x), x.dtype)
               for x in ins[k:k + m]]
    # Forward again, stacking the carry that enters each step.
    fwd = _outs(bind("scan", *ins, body=_with_carry_ys(body, k, m), n_consts=k, n_carry=m,
                     length=length, reverse=reverse))
    states = fwd[len(body.results):]
    step = cotangent_fn(body, wrt)
    wc = [i for i in wrt if i < k]                  # float consts: accumulated
    wm = [i for i in wrt if k <= i < k + m]         # float carry: carried cotangents
    wx = [i for i in wrt if i >= k + m]             # float xs: stacked cotangents
    n_y = len(body.results) - m

    b = Builder(f"{body.name}_bwd_step")
    cs = [b.param(p.type, p.hint) for p in body.params[:k]]
    ct_m = [b.param(carry_t[i - k], "ct") for i in wm]
    acc = [b.param(body.params[i].type, "acc") for i in wc]
    st = [b.param(t, "state") for t in carry_t]
    xs = [b.param(p.type, "x") for p in body.params[k + m:]]
    gy = [b.param(r.type, "gy") for r in body.results[m:]]
    with interpreting(b):
        it = iter(ct_m)
        seeds = [next(it) if k + j in wm else _zeros(t) for j, t in enumerate(carry_t)]
        cts = run(step, cs + st + xs + seeds + gy)
        by = dict(zip(wrt, cts))
        new_acc = [ops.add(a, by[i]) for a, i in zip(acc, wc)]
        results = [by[i] for i in wm] + new_acc + [by[i] for i in wx]
    bstep = b.build(results)
    init_ct = [gs[i - k] for i in wm]
    init_acc = [_zeros(ins[i]) for i in wc]
    gys = gs[m:m + n_y]
    res = _outs(bind("scan", *ins[:k], *init_ct, *init_acc, *states, *ins[k + m:], *gys,
                     body=bstep, n_consts=k, n_carry=len(wm) + len(wc), length=length,
                     reverse=not reverse))
    ct_init, ct_consts, ct_xs = res[:len(wm)], res[len(wm):len(wm) + len(wc)], \
        res[len(wm) + len(wc):]
    assert len(ct_xs) == len(wx) and n_x >= len(wx)
    return _spread(ins, wc + wm + wx, ct_consts + ct_init + ct_xs)


# --------------------------------------------------------------------------- while


def _recompute_fns(body: Function, k: int) -> tuple[Function, Function]:
    """cond and body of the loop `(consts.., steps, i, state..)`: `body` while i < steps."""
    from ..interp import run
    types = [p.type for p in body.params]
    i32 = TensorType((), np.int32)
    bc = Builder(f"{body.name}_upto_cond")
    ps = [bc.param(t) for t in types[:k]] + [bc.param(i32, "steps"), bc.param(i32, "i")] + \
        [bc.param(t) for t in types[k:]]
    with interpreting(bc):
        c = bind("lt", ps[k + 1], ps[k])
    cond = bc.build([c])
    bb = Builder(f"{body.name}_upto")
    ps = [bb.param(t) for t in types[:k]] + [bb.param(i32, "steps"), bb.param(i32, "i")] + \
        [bb.param(t) for t in types[k:]]
    with interpreting(bb):
        nxt = ops.add(ps[k + 1], ops.const(1, np.int32))
        state = run(body, ps[:k] + ps[k + 2:])
    return cond, bb.build([ps[k], nxt] + list(state))


def while_vjp(g: Any, *ins: Any, out: Any, cond: Function, body: Function, n_consts: int,
              max_iters: int | None) -> list[Any]:
    from ..interp import run
    k = n_consts
    wrt = [i for i, x in enumerate(ins) if _is_float(x)]
    if not wrt:
        return [None] * len(ins)
    gs = _outs(g)[:-1]                       # the trip count has no cotangent
    count = _outs(out)[-1]
    types = [p.type for p in body.params]
    wc = [i for i in wrt if i < k]
    wm = [i for i in wrt if i >= k]
    step = cotangent_fn(body, wrt)
    up_cond, up_body = _recompute_fns(body, k)
    i32 = TensorType((), np.int32)

    # Backward loop: consts (consts.., init..), state (steps_left, ct_state.., acc..).
    bc = Builder(f"{body.name}_bwd_cond")
    ps = [bc.param(t) for t in types] + [bc.param(i32, "left")] + \
        [bc.param(types[i], "ct") for i in wm] + [bc.param(types[i], "acc") for i in wc]
    with interpreting(bc):
        c = ops.gt(ps[len(types)], ops.const(0, np.int32))
    bwd_cond = bc.build([c])

    bb = Builder(f"{body.name}_bwd")
    cs = [bb.param(t) for t in types[:k]]
    s0 = [bb.param(t, "init") for t in types[k:]]
    left = bb.param(i32, "left")
    ct = [bb.param(types[i], "ct") for i in wm]
    acc = [bb.param(types[i], "acc") for i in wc]
    with interpreting(bb):
        kk = ops.sub(left, ops.const(1, np.int32))
        rec = _outs(bind("while", *cs, kk, ops.const(0, np.int32), *s0, cond=up_cond,
                         body=up_body, n_consts=k, max_iters=None))
        state = rec[2:2 + len(s0)]
        it = iter(ct)
        seeds = [next(it) if k + j in wm else _zeros(t) for j, t in enumerate(types[k:])]
        cts = run(step, cs + state + seeds)
        by = dict(zip(wrt, cts))
        results = [kk] + [by[i] for i in wm] + [ops.add(a, by[i]) for a, i in zip(acc, wc)]
    bwd_body = bb.build(results)

    init_ct = [gs[i - k] for i in wm]
    init_acc = [_zeros(ins[i]) for i in wc]
    res = _outs(bind("while", *ins, count, *init_ct, *init_acc, cond=bwd_cond, body=bwd_body,
                     n_consts=len(ins), max_iters=None))
    ct_init, ct_consts = res[1:1 + len(wm)], res[1 + len(wm):1 + len(wm) + len(wc)]
    return _spread(ins, wc + wm, list(ct_consts) + list(ct_init))
