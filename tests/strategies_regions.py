"""Generators of the region instructions `while`, `scan` and `cond` for `tests/strategies.py`
(which registers them in its `GENERATORS`; they are drawn like any other operation).

Each region's nested Functions are random programs themselves, drawn by a sub-context of
the same options (so regions nest, at most twice, like `call`):

- `while`: 0-2 loop-invariant values of the enclosing program captured as `n_consts`
  leading operands, 1-3 carried values of mixed shapes and dtypes (from the pool, or new),
  and a trip count that is fixed (an integer counter `i < n`, n in 0..3, so zero-trip
  loops too), data-dependent (a reduction of a carried value against a bound, with the
  counter or `max_iters` bounding it), or cut by `max_iters`;
- `scan`: captured values, 0-2 carried values and 0-2 scanned inputs whose leading axis
  is the length (0..3), forwards or in reverse, with 0-2 stacked per-step outputs;
- `cond`: 1-4 branches (a `switch_case`) on 1-3 operands, the index a constant (also out
  of range: the last branch runs) or computed from the data.

Loop bodies always terminate within 4 iterations; a carried float is damped
(`0.5 * c + tanh(...)`) or replaced, so values stay bounded across iterations. Every helper
operation a region adds (conversions, sums, broadcasts, the loop condition's comparison)
is smooth or piecewise constant, so regions are also drawn for gradient checks (`safe`
programs of `SMOOTH_PRIMS`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from tracejit.ir import Builder, Function, TensorType, Value, bind, interpreting

if TYPE_CHECKING:
    from tests.strategies import Gen, _Ctx

I32 = np.dtype(np.int32)
I64 = np.dtype(np.int64)
BOOL = np.dtype(np.bool_)
REGION_PRIMS = ("cond", "scan", "while")
MAX_DEPTH = 2


def _sub(c: _Ctx, role: str, types: list[TensorType]) -> _Ctx:
    """A context drawing the body of a nested Function with parameters of `types`."""
    from tests.strategies import _Ctx
    name = f"{c.b.name}_{role}{c.callees[0]}"
    c.callees[0] += 1
    sub = _Ctx(c.draw, Builder(name), c.dtypes, c.allow, c.max_rank, c.max_dim, c.max_size,
               c.allow_zero_dims, c.special_values, c.safe, depth=c.depth + 1,
               callees=c.callees, min_dim=c.min_dim, regions=c.regions)
    sub.pool = [sub.b.param(t, c.hint()) for t in types]
    return sub


def _grow(sub: _Ctx, lo: int, hi: int) -> None:
    from tests.strategies import _grow as grow
    grow(sub, sub.integer(lo, hi))


def _emit(c: _Ctx, prim: str, *args: Value, **params: Any) -> Value:
    v = c.emit(prim, *args, **params)
    assert v is not None, prim   # helpers never grow a value beyond its target type
    return v


def _const(c: _Ctx, value: Any, dtype: np.dtype) -> Value:
    return _emit(c, "constant", value=np.asarray(value, dtype))


def shaped(c: _Ctx, v: Value, t: TensorType) -> Value:
    """A value of type `t` computed from `v`: converted, summed to a scalar and broadcast
    as needed."""
    if v.type.shape != t.shape and v.type.dtype == BOOL:
        v = _emit(c, "convert", v, dtype=I32)
    if v.type.shape != t.shape and v.type.ndim:
        v = _emit(c, "reduce_sum", v, axes=tuple(range(v.type.ndim)), keepdims=False)
    if v.type.dtype != t.dtype:
        v = _emit(c, "convert", v, dtype=t.dtype)
    if v.type.shape != t.shape:
        v = _emit(c, "broadcast_to", v, shape=t.shape)
    return v


def _value_of(c: _Ctx, t: TensorType, avoid: Value | None = None) -> Value:
    """A value of type `t` from the pool (one of exactly that type, or any reshaped)."""
    exact = [v for v in c.pool if v.type == t and v is not avoid]
    if exact and c.boolean():
        return c.choice(exact[::-1])
    return shaped(c, c.choice(c.pool[::-1]), t)


def _update(c: _Ctx, p: Value) -> Value:
    """The next value of the carried parameter `p`: drawn from the body's pool and
    combined with `p` so that it stays bounded over a few iterations."""
    t = p.type
    v = _value_of(c, t, avoid=p)
    how = c.integer(0, 3)
    if t.dtype == BOOL:
        return _emit(c, "ne", p, v) if how else v
    if t.dtype.kind != "f":
        return _emit(c, "add", p, v) if how else v
    if how == 0:
        return v
    if how == 1:
        return _emit(c, "add", p, _emit(c, "mul", v, _const(c, 0.5, t.dtype)))
    damped = _emit(c, "mul", p, _const(c, 0.5, t.dtype))
    return _emit(c, "add", damped, _emit(c, "tanh", v))


def _operands(c: _Ctx, lo: int, hi: int) -> list[Value]:
    """`lo..hi` distinct values: mostly from the pool, else new ones of random types."""
    out: list[Value] = []
    for _ in range(c.integer(lo, hi)):
        v = c.pick(lambda v: all(v is not w for w in out)) if c.integer(0, 3) else None
        if v is None:
            v = c.operand(c.shape(), c.choice(c.dtypes))
        out.append(v)
    return out


def _consts(c: _Ctx) -> list[Value]:
    """Loop-invariant values captured from the enclosing program."""
    return _operands(c, 0, 2) if c.pool else []


def _body(c: _Ctx, role: str, types: list[TensorType], lo: int = 1, hi: int = 3
          ) -> tuple[_Ctx, list[Value]]:
    """A sub-context for a nested Function taking `types`, with `lo..hi` random operations
    drawn on its parameters (the caller picks the results), and those parameters."""
    sub = _sub(c, role, types)
    params = list(sub.pool)
    _grow(sub, lo, hi)
    return sub, params


def _add(c: _Ctx, outs: list[Value]) -> Value | None:
    """Put a region's outputs into the pool (the last is the generator's result)."""
    if not outs:
        return None
    c.pool.extend(outs[:-1])
    return outs[-1]


# --------------------------------------------------------------------------- while


def _while(c: _Ctx, op: str) -> Value | None:
    if c.depth >= MAX_DEPTH:
        return None
    consts = _consts(c)
    state = _operands(c, 1, 3)
    mode = c.choice(["count", "count", "count_and_data", "data_max", "count_max"])
    counter = mode != "data_max"
    init = list(state)
    if counter:
        cdt = c.choice([I32, I64])
        start = c.integer(-1, 1)
        init.append(_const(c, start, cdt))
        limit = start + c.integer(0, 3)
    k = len(consts)
    types = [v.type for v in consts + init]

    # The condition: a counter bound and/or a reduction of a carried number.
    cb = _sub(c, "cond", types)
    ps = cb.pool
    pred = None
    if counter:
        pred = _emit(cb, "lt", ps[-1], _const(cb, limit, ps[-1].type.dtype))
    numbers = [p for p in ps[k:k + len(state)] if p.type.dtype.kind in "fiu"]
    if mode in ("count_and_data", "data_max") and numbers:
        x = cb.choice(numbers)
        s = _emit(cb, "reduce_sum", x, axes=tuple(range(x.type.ndim)), keepdims=False)
        bound = _const(cb, cb.choice([-1, 0, 1, 2, 5]), x.type.dtype)
        data = _emit(cb, cb.choice(["lt", "gt", "le"]), s, bound)
        pred = data if pred is None else _emit(cb, "logical_and", pred, data)
    if pred is None:
        pred = _const(cb, cb.boolean(), BOOL)
    fcond = cb.b.build([pred])

    # The body: random operations on the captured and carried values.
    sub, params = _body(c, "body", types)
    carried = params[k:]
    news = [_update(sub, p) for p in carried[:len(state)]]
    if counter:
        news.append(_emit(sub, "add", carried[-1], _const(sub, 1, carried[-1].type.dtype)))
    fbody = sub.b.build(news)
    max_iters = c.choice([None, None, 0, 1, 2, 4]) if mode != "data_max" else c.integer(0, 4)
    with interpreting(c.b):
        outs = bind("while", *consts, *init, cond=fcond, body=fbody, n_consts=k,
                    max_iters=max_iters)
    outs = list(outs)
    finals, count = outs[:len(state)], outs[-1]
    rest = [count] + (outs[len(state):-1] if c.boolean() else [])
    return _add(c, rest + finals)


# --------------------------------------------------------------------------- scan


def _scan(c: _Ctx, op: str) -> Value | None:
    if c.depth >= MAX_DEPTH:
        return None
    consts = _consts(c)
    carry = _operands(c, 0, 2)
    seq = c.pick(lambda v: v.type.ndim >= 1) if c.boolean() else None
    length = seq.type.shape[0] if seq is not None else c.choice([0, 1, 2, 3])
    xs: list[Value] = [seq] if seq is not None else []
    for _ in range(c.integer(0, 2 - len(xs))):
        like = c.pick(lambda v: v.type.ndim >= 1 and v.type.shape[0] == length
                      and all(v is not w for w in xs)) if c.boolean() else None
        if like is None:
            shape = (length,) + c.shape(c.integer(0, max(0, c.max_rank - 1)))
            if not c.fits(shape):
                continue
            like = c.operand(shape, c.choice(c.dtypes))
        xs.append(like)
    k, m = len(consts), len(carry)
    slices = [TensorType(x.type.shape[1:], x.type.dtype) for x in xs]
    sub, params = _body(c, "step", [v.type for v in consts + carry] + slices)
    news = [_update(sub, p) for p in params[k:k + m]]
    ys = []
    if not sub.pool:   # nothing captured, carried or scanned: a step of constants
        sub.pool.append(sub.constant(sub.shape(), sub.choice(sub.dtypes)))
    for _ in range(c.integer(0 if m else 1, 2)):
        y = sub.choice(sub.pool[::-1])
        if c.fits((length,) + y.type.shape):
            ys.append(y)
    if not news and not ys:
        return None
    fbody = sub.b.build(news + ys)
    with interpreting(c.b):
        outs = bind("scan", *consts, *carry, *xs, body=fbody, n_consts=k, n_carry=m,
                    length=length, reverse=c.boolean())
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    return _add(c, outs)


# --------------------------------------------------------------------------- cond


def _index(c: _Ctx, n: int) -> Value:
    """The branch index: a constant (sometimes out of range) or computed from the data."""
    x = c.pick(lambda v: v.type.dtype.kind in "fiu")
    if x is None or c.integer(0, 2) == 0:
        return _const(c, c.choice([-1, 0, 1, 2, 3, n, 7][:n + 3]), I32)
    s = _emit(c, "reduce_sum", x, axes=tuple(range(x.type.ndim)), keepdims=False)
    idx = _const(c, 0, I32)
    for _ in range(c.integer(1, max(1, n - 1))):
        bound = _const(c, c.choice([-1, 0, 0, 1, 2]), s.type.dtype)
        hit = _emit(c, "convert", _emit(c, c.choice(["gt", "le"]), s, bound), dtype=I32)
        idx = _emit(c, "add", idx, hit)
    return idx


def _cond(c: _Ctx, op: str) -> Value | None:
    if c.depth >= MAX_DEPTH:
        return None
    operands = _operands(c, 1, 3)
    n = c.choice([1, 2, 2, 2, 3, 4])
    index = _index(c, n)
    types = [v.type for v in operands]
    first, _ = _body(c, "branch", types, 0, 3)
    results = [first.pool[-1]] + [first.choice(first.pool) for _ in range(c.integer(0, 1))]
    branches = [first.b.build(results)]
    rtypes = [r.type for r in results]
    for _ in range(n - 1):
        br, _ = _body(c, "branch", types, 0, 3)
        branches.append(br.b.build([_value_of(br, t) for t in rtypes]))
    with interpreting(c.b):
        outs = bind("cond", index, *operands, branches=tuple(branches))
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    return _add(c, outs)


def region_generators() -> dict[str, Gen]:
    return {"while": _while, "scan": _scan, "cond": _cond}


def nested_functions(fn: Function) -> list[Function]:
    """The Functions held by `fn`'s instructions (callees, loop bodies and conditions,
    branches), not recursively."""
    out: list[Function] = []
    for ins in fn.instrs:
        for v in ins.params.values():
            if isinstance(v, Function):
                out.append(v)
            elif isinstance(v, tuple):
                out += [f for f in v if isinstance(f, Function)]
    return out
