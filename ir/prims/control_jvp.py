"""Forward mode of the instructions that hold Functions: `call`, `custom_vjp` and the
regions `while`, `scan`, `cond`. Every rule emits such an instruction again, built with
`bind`, so tangents of tangents (and gradients of them) need no special case.

- `call`: a `call` of the callee's tangent Function (`ir.jvp`, primal results left out:
  the call being differentiated already gives them), taking the operands and the
  tangents of those that have one.
- `custom_vjp`: TensorFlow computes forward-mode derivatives through a custom gradient by
  transposing the user's gradient function (`ForwardAccumulator` runs it backwards on
  the tangents), so the custom gradient is honoured. The gradient Function `bwd` is linear
  in its seeds; its transpose, applied to the inputs' tangents, is the VJP of `bwd` with
  respect to its seeds (at zero seeds) with those tangents as cotangents: a `call` of that
  Function gives the results' tangents. What computed the results before the
  `custom_vjp` gives them no tangent (as it gives no gradient).
- `while`, `scan`: one loop that carries the primal state and the tangents of the state
  that has one (found by iterating to a fixed point: a carried tangent starts where the
  initial value or a loop-invariant operand has one, and every step may add some). The
  rules return the new loop's primal outputs too (`WithPrimals`), so the pass leaves the
  primal-only loop dead.
- `cond`: a `cond` whose branches carry primal and tangent; a result has a tangent if
  it has one in some branch (zeros in the others).

Invariants: the tangent Functions are memoized per (Function, tangent pattern), so
differentiating one loop twice builds its body once; integer operands have no tangent.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

from .. import ops
from ..caches import Memo
from ..core import Builder, Function, Value, bind, interpreting, results_list
from .tangents import WithPrimals

_JVP: Memo[tuple[Any, ...], tuple[Function, Any]] = Memo("forward mode: tangent Functions")


def tangent_fn(fn: Function, active: Sequence[bool], *, with_primals: bool = True,
               instantiate: bool | Sequence[bool] = False) -> Any:
    """`ir.jvp.jvp(fn, active, ...)`, memoized per Function and arguments."""
    inst = instantiate if isinstance(instantiate, bool) else tuple(instantiate)
    key = (id(fn), tuple(bool(a) for a in active), with_primals, inst)
    hit = _JVP.get(key)
    if hit is not None and hit[0] is fn:
        return hit[1]
    from ..jvp import jvp
    jf = jvp(fn, active, with_primals=with_primals, instantiate=instantiate,
             name=f"{fn.name}_jvp")
    _JVP.put(key, (fn, jf))
    return jf


def _present(ts: Sequence[Any]) -> list[Any]:
    return [t for t in ts if t is not None]


def _active(ts: Sequence[Any]) -> list[bool]:
    return [t is not None for t in ts]


# --------------------------------------------------------------------------- call


def call_jvp(ts: Sequence[Any], *ins: Any, out: Any, fn: Function) -> list[Any]:
    jf = tangent_fn(fn, _active(ts), with_primals=False)
    if not any(jf.out_tangents):
        return [None] * len(fn.results)
    it = iter(results_list(bind("call", *ins, *_present(ts), fn=jf.fn)))
    return [next(it) if c else None for c in jf.out_tangents]


# --------------------------------------------------------------------------- custom_vjp


def _transposed(bwd: Function, n_out: int, active: tuple[bool, ...]) -> Function:
    """`(rs.., tangents of the active ones among bwd's results..) -> tangent per seed`:
    the transpose of `bwd`'s linear map from seeds to cotangents (see the docstring)."""
    key = ("transposed", id(bwd), n_out, active)
    hit = _JVP.get(key)
    if hit is not None and hit[0] is bwd:
        return hit[1]  # type: ignore[no-any-return]
    from ..autodiff import vjp
    from ..interp import run, run_env
    n_r = len(bwd.params) - n_out
    gf = vjp(bwd, bwd.params[n_r:], name=f"{bwd.name}_transpose")
    b = Builder(f"{bwd.name}_transpose")
    rs = [b.param(p.type, p.hint) for p in bwd.params[:n_r]]
    tps = [b.param(r.type, "t") for r, a in zip(bwd.results, active) if a]
    with interpreting(b):
        seeds = [ops.zeros_like(p) for p in bwd.params[n_r:]]
        env = run_env(bwd, rs + seeds)
        it = iter(tps)
        cts = [next(it) if a else ops.zeros_like(r) for r, a in zip(bwd.results, active)]
        outs = iter(run(gf.fn, [env[id(v)] for v in gf.residuals] + cts))
        tangents = [next(outs) if c else ops.zeros_like(p)
                    for c, p in zip(gf.connected, bwd.params[n_r:])]
    fn = b.build(tangents)
    _JVP.put(key, (bwd, fn))
    return fn


def custom_jvp(ts: Sequence[Any], *ins: Any, out: Any, bwd: Function, n_in: int, n_out: int,
               connected: tuple[bool, ...]) -> list[Any]:
    by_result = [t for t, c in zip(ts[:n_in], connected) if c]   # one per bwd result
    active = tuple(t is not None for t in by_result)
    if not any(active):
        return [None] * n_out
    rs = ins[n_in + n_out:]
    return results_list(bind("call", *rs, *_present(by_result),
                      fn=_transposed(bwd, n_out, active)))


# --------------------------------------------------------------------------- regions


def _reorder(fn: Function, order: Sequence[int], results: Sequence[int] | None = None,
             name: str | None = None) -> Function:
    """`fn` with its parameters (and results) permuted: Values are shared, so this is the
    same program with another signature."""
    res = fn.results if results is None else [fn.results[i] for i in results]
    return Function(name or fn.name, [fn.params[i] for i in order], fn.instrs, res)


def _carried(body: Function, head: list[bool], carry: list[bool], tail: list[bool],
             n_carry: int) -> list[bool]:
    """The carried values that have a tangent at the fixed point (see the docstring)."""
    while True:
        jf = tangent_fn(body, head + carry + tail)
        new = [a or b for a, b in zip(carry, jf.out_tangents[:n_carry])]
        if new == carry:
            return carry
        carry = new


def _layout(groups: Sequence[int], active: Sequence[bool]) -> list[int]:
    """The parameter order of a tangent Function whose primal parameters come in
    consecutive groups of the sizes `groups`, each followed by its tangents: the tangent
    Function has all primals first, then the tangents of the active ones."""
    n = sum(groups)
    tangent_pos, k = {}, n
    for i, a in enumerate(active):
        if a:
            tangent_pos[i] = k
            k += 1
    order, start = [], 0
    for g in groups:
        order += list(range(start, start + g))
        order += [tangent_pos[i] for i in range(start, start + g) if i in tangent_pos]
        start += g
    return order


def while_jvp(ts: Sequence[Any], *ins: Any, out: Any, cond: Function, body: Function,
              n_consts: int, max_iters: int | None) -> list[Any]:
    k = n_consts
    m = len(ins) - k
    ac = _active(ts[:k])
    am = _carried(body, ac, _active(ts[k:]), [], m)
    jf = tangent_fn(body, ac + am, instantiate=am)
    act = ac + am
    new_body = _reorder(jf.fn, _layout([k, m], act), name=f"{body.name}_jvp")
    # The condition reads the primals only; the tangents are extra, unused parameters.
    extra = [Value(p.type, "t") for p, a in zip(body.params, act) if a]
    cparams = list(cond.params) + extra
    new_cond = _reorder(Function(f"{cond.name}_jvp", cparams, cond.instrs, cond.results),
                        _layout([k, m], act))
    tm = [t if t is not None else ops.zeros_like(x) for t, x in zip(ts[k:], ins[k:])]
    operands = list(ins[:k]) + _present(ts[:k]) + list(ins[k:]) + \
        [t for t, a in zip(tm, am) if a]
    res = results_list(bind("while", *operands, cond=new_cond, body=new_body,
                     n_consts=k + sum(ac), max_iters=max_iters))
    prim, tang, count = res[:m], res[m:-1], res[-1]
    it = iter(tang)
    return WithPrimals([next(it) if a else None for a in am] + [None],
                       list(prim) + [count])


def scan_jvp(ts: Sequence[Any], *ins: Any, out: Any, body: Function, n_consts: int,
             n_carry: int, length: int, reverse: bool, dynamic: bool = False) -> list[Any]:
    head = list(ins[:1]) if dynamic else []
    ins, ts = ins[len(head):], ts[len(head):]
    k, m = n_consts, n_carry
    n_x = len(ins) - k - m
    ac, ax = _active(ts[:k]), _active(ts[k + m:])
    am = _carried(body, ac, _active(ts[k:k + m]), ax, m)
    act = ac + am + ax
    probe = tangent_fn(body, act, instantiate=[True] * m + [False] * (len(body.results) - m))
    ay = probe.out_tangents[m:]
    jf = tangent_fn(body, act, instantiate=am + ay)
    n_y = len(body.results) - m
    # results of jf: carry (m), ys (n_y), carry tangents (am), y tangents (ay)
    nt_m, nt_y = sum(am), sum(ay)
    results = list(range(m)) + list(range(m + n_y, m + n_y + nt_m)) + \
        list(range(m, m + n_y)) + list(range(m + n_y + nt_m, m + n_y + nt_m + nt_y))
    new_body = _reorder(jf.fn, _layout([k, m, n_x], act), results, name=f"{body.name}_jvp")
    tm = [t if t is not None else ops.zeros_like(x) for t, x in zip(ts[k:k + m], ins[k:k + m])]
    operands = list(ins[:k]) + _present(ts[:k]) + list(ins[k:k + m]) + \
        [t for t, a in zip(tm, am) if a] + list(ins[k + m:]) + _present(ts[k + m:])
    res = results_list(bind("scan", *head, *operands, body=new_body, n_consts=k + sum(ac),
                     n_carry=m + nt_m, length=length, reverse=reverse, dynamic=dynamic))
    carry, tcarry = res[:m], res[m:m + nt_m]
    ys, tys = res[m + nt_m:m + nt_m + n_y], res[m + nt_m + n_y:]
    it_m, it_y = iter(tcarry), iter(tys)
    tangents = [next(it_m) if a else None for a in am] + [next(it_y) if a else None for a in ay]
    return WithPrimals(tangents, list(carry) + list(ys))


def cond_jvp(ts: Sequence[Any], index: Any, *ins: Any, out: Any,
             branches: tuple[Function, ...]) -> list[Any]:
    act = _active(ts[1:])
    union = [False] * len(branches[0].results)
    for br in branches:
        union = [a or b for a, b in zip(union, tangent_fn(br, act).out_tangents)]
    new = tuple(tangent_fn(br, act, instantiate=union).fn for br in branches)
    res = results_list(bind("cond", index, *ins, *_present(ts[1:]), branches=new))
    n = len(branches[0].results)
    it = iter(res[n:])
    return WithPrimals([next(it) if a else None for a in union], res[:n])
