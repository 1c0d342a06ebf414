"""Reverse mode of the region instructions (`control`): every rule emits region
instructions again, built with `bind`, so gradients of gradients need no special case.

- `cond`: a `cond` on the same index whose branches are the branches' backward Functions.
- `scan`: one forward `scan` that also stacks the carry entering each step (the only
  per-step residual kept: each backward step recomputes its step's forward from it, which
  is what `recompute_grad` does for a body), then a `scan` in the opposite direction over
  the stacked carries, the `xs` and the `ys`' cotangents.
- `while`: the trip count `n` is the loop's last output. Reverse mode replays the loop as
  a `scan` with a dynamic step count (`n`) and a capacity `C`: one forward `scan` that
  stacks the state entering each iteration into a preallocated `(C, ..)` buffer, then a
  reverse `scan` over the stack, as for `scan`. `C` is `max_iters` when that stack fits
  `STACK_BYTES_KNOWN`. Otherwise (no `max_iters`, or a large one) the loop is cut into
  segments of `C**L` iterations for a level `L` such that `C**(L+1)` covers every possible
  trip count: the forward `scan` stacks the state entering each segment (at most `C` of
  them), and the reverse `scan` over segments runs the same scheme one level down on each
  segment, ending with level 0 (one stack of at most `C` states). Time: `L + 3` forward
  body evaluations and one backward per iteration (linear in `n`); memory: `(L + 1) * C`
  states, `C` chosen from the state's size (`STACK_BYTES`).

Invariants: the cotangent of an integer operand is None; the backward Functions are
memoized per (Function, operand selection), so differentiating one loop twice builds them
once.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

import numpy as np

from .. import dims, ops
from ..caches import Memo
from ..core import (FLOAT_DTYPES, Builder, Function, TensorType, Value, bind, interpreting,
                    results_list)

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
    gs = results_list(g)
    bwd = tuple(cotangent_fn(br, wrt) for br in branches)
    cts = results_list(bind("cond", index, *ins, *gs, branches=bwd))
    return [None] + _spread(ins, wrt, cts)


# --------------------------------------------------------------------------- scan


def _with_carry_ys(body: Function, k: int, m: int) -> Function:
    """`body` that also returns the carry it received as extra `y`s."""
    return Function(f"{body.name}_states", body.params, body.instrs,
                    list(body.results) + list(body.params[k:k + m]))


def scan_vjp(g: Any, *ins: Any, out: Any, body: Function, n_consts: int, n_carry: int,
             length: int, reverse: bool, dynamic: bool = False) -> list[Any]:
    from ..interp import run
    head = list(ins[:1]) if dynamic else []      # a dynamic scan's step count
    ins = ins[len(head):]
    k, m = n_consts, n_carry
    n_x = len(ins) - k - m
    wrt = [i for i, x in enumerate(ins) if _is_float(x)]
    if not wrt:
        return [None] * (len(head) + len(ins))
    gs = results_list(g)
    carry_t = [x.type if isinstance(x, Value) else TensorType(np.shape(x), x.dtype)
               for x in ins[k:k + m]]
    # Forward again, stacking the carry that enters each step.
    fwd = results_list(bind("scan", *head, *ins, body=_with_carry_ys(body, k, m), n_consts=k,
                     n_carry=m, length=length, reverse=reverse, dynamic=dynamic))
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
    res = results_list(bind("scan", *head, *ins[:k], *init_ct, *init_acc, *states, *ins[k + m:],
                     *gys, body=bstep, n_consts=k, n_carry=len(wm) + len(wc), length=length,
                     reverse=not reverse, dynamic=dynamic))
    ct_init, ct_consts, ct_xs = res[:len(wm)], res[len(wm):len(wm) + len(wc)], \
        res[len(wm) + len(wc):]
    assert len(ct_xs) == len(wx) and n_x >= len(wx)
    return [None] * len(head) + _spread(ins, wc + wm + wx, ct_consts + ct_init + ct_xs)


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


#: Bytes of the one stack of states a `while` with a known `max_iters` may preallocate.
STACK_BYTES_KNOWN = 64 << 20
#: Bytes of each stack of states of the segmented scheme (no or a large `max_iters`).
STACK_BYTES = 1 << 20
I32_MAX = (1 << 31) - 1


#: The size an unknown dimension (a symbolic trace) is taken to have when planning the
#: stacks: the plan is fixed at trace time, the stacks' bytes follow the runtime sizes.
PLANNED_DIM = 1024


def _planned_nbytes(t: TensorType) -> int:
    if not t.symbolic:
        return int(t.nbytes)
    env = {s: PLANNED_DIM for s in dims.symbols(t.shape)}
    return dims.evaluate(dims.size(t.shape), env) * int(t.dtype.itemsize)


def stack_plan(state: Sequence[TensorType], max_iters: int | None) -> tuple[int, int]:
    """`(C, L)`: the capacity of each stack of states and the number of segment levels
    for a `while` whose state has these types (see the module docstring; an unknown
    dimension counts as `PLANNED_DIM`)."""
    nbytes = max(1, sum(_planned_nbytes(t) for t in state))
    if max_iters is not None and max_iters * nbytes <= STACK_BYTES_KNOWN:
        return max(1, max_iters), 0
    cap = I32_MAX if max_iters is None else max_iters
    c = 16
    while c < 4096 and 2 * c * nbytes <= STACK_BYTES:
        c *= 2
    if cap <= c:                # a few iterations of a large state: one short stack
        return max(1, cap), 0
    levels = 0
    while c ** (levels + 1) < cap:
        levels += 1
    return c, levels


def while_vjp(g: Any, *ins: Any, out: Any, cond: Function, body: Function, n_consts: int,
              max_iters: int | None) -> list[Any]:
    k = n_consts
    if not any(_is_float(x) for x in ins):
        return [None] * len(ins)
    gs = results_list(g)[:-1]                       # the trip count has no cotangent
    count = results_list(out)[-1]
    types = [p.type for p in body.params]
    cap, levels = stack_plan(types[k:], max_iters)
    return _segment_vjp(body, list(ins[:k]), list(ins[k:]), count, gs, cap, levels)


def _seeds(types: Sequence[TensorType], gs: Sequence[Any]) -> list[Any]:
    return [g if _is_float(t) and g is not None else _zeros(t) for t, g in zip(types, gs)]


def _segment_vjp(body: Function, consts: list[Any], init: list[Any], steps: Any,
                 gs: Sequence[Any], cap: int, level: int) -> list[Any]:
    """Cotangents of `(consts.., init..)` for `steps` iterations of `body` from `init`,
    given the final state's cotangents `gs`: level 0 stacks every state (at most `cap`),
    level `L` stacks the state entering each segment of `cap**L` iterations and runs level
    `L - 1` on each segment, last first."""
    k, m = len(consts), len(init)
    types = [p.type for p in body.params]
    seeds = _seeds(types[k:], gs)
    if level == 0:
        return scan_vjp(tuple(seeds), steps, *consts, *init, out=None, body=body, n_consts=k,
                        n_carry=m, length=cap, reverse=False, dynamic=True)[1:]
    seg = cap ** level
    i32 = TensorType((), np.int32)
    n_seg = ops.add(ops.floordiv(steps, ops.const(seg, np.int32)), ops.convert(
        ops.gt(bind("mod", steps, ops.const(seg, np.int32)), ops.const(0, np.int32)),
        np.int32))
    up_cond, up_body = _recompute_fns(body, k)

    def seg_len(b_steps: Any, j: Any) -> Any:
        left = ops.sub(b_steps, ops.mul(j, ops.const(seg, np.int32)))
        return bind("minimum", left, ops.const(seg, np.int32))

    # Forward: the state entering each segment.
    bf = Builder(f"{body.name}_segments")
    cs = [bf.param(t) for t in types[:k]]
    total = bf.param(i32, "steps")
    st = [bf.param(t, "state") for t in types[k:]]
    j = bf.param(i32, "segment")
    with interpreting(bf):
        run_ = results_list(bind("while", *cs, seg_len(total, j), ops.const(0, np.int32), *st,
                          cond=up_cond, body=up_body, n_consts=k, max_iters=None))
        nxt = list(run_[2:2 + m]) + [_inc(j)]
    fwd = bf.build(nxt + list(st))
    res = results_list(bind("scan", n_seg, *consts, steps, *init, ops.const(0, np.int32), body=fwd,
                     n_consts=k + 1, n_carry=m + 1, length=cap, reverse=False, dynamic=True))
    starts = res[m + 1:]

    # Backward over the segments, last first.
    wc = [i for i in range(k) if _is_float(types[i])]
    wm = [i for i in range(m) if _is_float(types[k + i])]
    bb = Builder(f"{body.name}_segments_bwd")
    cs = [bb.param(t) for t in types[:k]]
    total = bb.param(i32, "steps")
    ct = [bb.param(types[k + i], "ct") for i in wm]
    acc = [bb.param(types[i], "acc") for i in wc]
    j = bb.param(i32, "segment")
    st = [bb.param(t, "start") for t in types[k:]]
    with interpreting(bb):
        it = iter(ct)
        g_seg = [next(it) if i in wm else None for i in range(m)]
        sub = _segment_vjp(body, cs, st, seg_len(total, j), g_seg, cap, level - 1)
        new_ct = [sub[k + i] for i in wm]
        new_acc = [ops.add(a, sub[i]) for a, i in zip(acc, wc)]
        prev = ops.sub(j, ops.const(1, np.int32))
    bwd = bb.build(new_ct + new_acc + [prev])
    init_ct = [seeds[i] for i in wm]
    init_acc = [_zeros(types[i]) for i in wc]
    last = ops.sub(n_seg, ops.const(1, np.int32))
    out = results_list(bind("scan", n_seg, *consts, steps, *init_ct, *init_acc, last, *starts,
                     body=bwd, n_consts=k + 1, n_carry=len(wm) + len(wc) + 1, length=cap,
                     reverse=True, dynamic=True))
    ct_init, ct_consts = out[:len(wm)], out[len(wm):len(wm) + len(wc)]
    cts: list[Any] = [None] * (k + m)
    for i, c in zip(wc, ct_consts):
        cts[i] = c
    for i, c in zip(wm, ct_init):
        cts[k + i] = c
    return cts


def _inc(x: Any) -> Any:
    return ops.add(x, ops.const(1, np.int32))
