"""Algebraic simplification: rewrites that are exact in IEEE arithmetic.

With `x` any value and a constant `c` (a `constant` instruction, possibly seen through
`broadcast_to` or `reshape`):

- `x * 1`, `1 * x`, `x / 1` -> `x`;
- `x + 0`, `0 + x`, `x - 0` -> `x` for integers; for floats only `x + (-0.0)`,
  `(-0.0) + x` and `x - 0.0`, because `-0.0 + 0.0` is `0.0`, not `-0.0` (pass
  `signed_zeros=False` to rewrite `x + 0.0` too, as LLVM's `nsz` flag allows);
- `neg(neg(x))`, `identity(x)`, and `reshape`/`broadcast_to` to `x`'s shape, `transpose`
  by the identity permutation, `convert` to `x`'s dtype -> `x`;
- `reshape(reshape(x))` -> `reshape(x)`, `broadcast_to(broadcast_to(x))` ->
  `broadcast_to(x)`, `transpose(transpose(x, p), q)` -> `transpose(x, p[q])`;
- `select(c, a, a)` (also two equal constants) and `select` on a constant condition ->
  the chosen operand; `x and True`, `x or False` -> `x`; `x and False`, `x or True` ->
  the constant (each broadcast to the result's shape where the operand is smaller);
- `pow(x, 1)` -> `x`; `pow(x, 0)` -> 1 (small shapes); `pow(x, 2)` -> `mul(x, x)` (both
  correctly rounded, so equal).

Invariants: a value is only ever replaced by one of the same type (`x * 1` where the `1`
broadcasts `x` to a bigger shape stays); `x * 0` is never rewritten (NaN and inf times 0
are NaN). The input Function is not modified; replaced values simply disappear from the
output, and rewritten instructions keep their output Values.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..dims import at_most
from ..core import Function, Instr, Value
from .subst import substituted
from ..prims import get_primitive


def simplify(fn: Function, *, signed_zeros: bool = True) -> Function:
    """Example: `mul(%x, constant 1.0)` is replaced by `%x` in every use."""
    subst: dict[int, Value] = {}
    defs: dict[int, Instr] = {}
    instrs: list[Instr] = []
    changed = False
    for ins in fn.instrs:
        new = substituted(ins, subst)
        r = _rewrite(new, defs, signed_zeros) if len(ins.outs) == 1 else None
        if isinstance(r, Value):
            subst[id(ins.outs[0])] = r
            continue
        if r is not None:
            new = r
        changed = changed or new is not ins
        instrs.append(new)
        for o in new.outs:
            defs[id(o)] = new
    if not (changed or subst):
        return fn
    return Function(fn.name, fn.params, instrs, [subst.get(id(r), r) for r in fn.results])


def _rewrite(ins: Instr, defs: dict[int, Instr], signed_zeros: bool) -> Value | Instr | None:
    """A replacement Value or Instr for single-output `ins`, or None to keep it."""
    out = ins.outs[0]
    p = ins.prim
    if p in ("mul", "div", "add", "sub") and len(ins.inputs) == 2:
        for v in _neutral_operands(ins, defs, signed_zeros):
            if v.type == out.type:
                return v
        return None
    if p == "select":
        c, a, b = ins.inputs
        cc = _constant(c, defs)
        ca, cb = _constant(a, defs), _constant(b, defs)
        same = a is b or (ca is not None and cb is not None and ca.shape == cb.shape
                          and a.type == b.type and _all(ca, lambda v: v == cb)
                          and _all(ca, lambda v: ~np.signbit(v) == ~np.signbit(cb)
                                   if v.dtype.kind == "f" else True))
        if same:
            return _broadcast(a, out)
        if _all(cc, lambda v: v):
            return _broadcast(a, out)
        if _all(cc, lambda v: ~v):
            return _broadcast(b, out)
        return None
    if p in ("logical_and", "logical_or") and len(ins.inputs) == 2:
        x, y = ins.inputs
        absorbing = p == "logical_or"          # x and False = False; x or True = True
        for v, other in ((x, y), (y, x)):
            cv = _constant(v, defs)
            if _all(cv, lambda c: c != absorbing):
                return _broadcast(other, out)  # x and True = x; x or False = x
            if _all(cv, lambda c: c == absorbing):
                return _broadcast(v, out)
        return None
    if p == "pow":
        x, y = ins.inputs
        cy = _constant(y, defs)
        if _all(cy, lambda c: c == 1) and x.type == out.type:
            return x                           # x**1 is x exactly, NaN included
        if _all(cy, lambda c: c == 0) and x.type == out.type and at_most(out.type.size, 64):
            # x**0 is 1 for every x, NaN included (NumPy and IEEE pown)
            return Instr("constant", [], {"value": np.ones(out.type.shape, out.type.dtype)},
                         [out])
        if _all(cy, lambda c: c == 2) and x.type == out.type:
            return Instr("mul", [x, x], {}, [out])   # x*x: one rounding, as pow's
        return None
    if len(ins.inputs) != 1:
        return None
    x = ins.inputs[0]
    inner = defs.get(id(x))
    if p == "identity" or (p == "convert" and ins.params.get("dtype") == x.type.dtype):
        return x if x.type == out.type else None
    if p == "neg":
        if inner is not None and inner.prim == "neg" and inner.inputs[0].type == out.type:
            return inner.inputs[0]
        return None
    if p in ("reshape", "broadcast_to"):
        if x.type == out.type:
            return x
        if inner is not None and inner.prim == p:
            source = inner.inputs[0]
            if source.type == out.type:
                return source
            return _instr(p, source, out, shape=ins.params["shape"])
        return None
    if p == "transpose":
        perm = tuple(ins.params["perm"])
        if perm == tuple(range(len(perm))) and x.type == out.type:
            return x
        if inner is not None and inner.prim == "transpose":
            source = inner.inputs[0]
            composed = tuple(inner.params["perm"][i] for i in perm)
            if composed == tuple(range(len(composed))):
                return source if source.type == out.type else None
            return _instr("transpose", source, out, perm=composed)
    return None


def _broadcast(v: Value, out: Value) -> Value | Instr | None:
    """`v` itself when it has `out`'s type, else `broadcast_to(v)` into `out` (the value
    an elementwise instruction computes when it returns an operand broadcast)."""
    if v.type == out.type:
        return v
    if v.type.dtype != out.type.dtype:
        return None
    return _instr("broadcast_to", v, out, shape=out.type.shape)


def _instr(prim: str, x: Value, out: Value, **params: object) -> Instr:
    return Instr(prim, [x], get_primitive(prim).canonical_params(params), [out])


def _neutral_operands(ins: Instr, defs: dict[int, Instr], signed_zeros: bool) -> list[Value]:
    """The operands `v` of a binary `ins` for which `ins` computes exactly `v` (ignoring
    broadcasting, which the caller checks)."""
    x, y = ins.inputs
    cx, cy = _constant(x, defs), _constant(y, defs)
    is_int = x.type.dtype.kind in "iu"
    found = []
    if ins.prim in ("mul", "div") and _all(cy, lambda c: c == 1):
        found.append(x)
    if ins.prim == "mul" and _all(cx, lambda c: c == 1):
        found.append(y)
    if ins.prim == "add":
        # x + (-0.0) is x for every x; x + 0.0 turns x = -0.0 into 0.0.
        def zero(c: np.ndarray) -> np.ndarray:
            return np.asarray((c == 0) & (np.signbit(c) | is_int | (not signed_zeros)))
        if _all(cy, zero):
            found.append(x)
        if _all(cx, zero):
            found.append(y)
    # x - 0.0 is x for every x; x - (-0.0) is x + 0.0.
    if ins.prim == "sub" and _all(
            cy, lambda c: (c == 0) & (~np.signbit(c) | is_int | (not signed_zeros))):
        found.append(x)
    return found


def _constant(v: Value, defs: dict[int, Instr]) -> np.ndarray | None:
    """The value of the constant that `v` is, seen through broadcast_to and reshape."""
    ins = defs.get(id(v))
    while ins is not None and ins.prim in ("broadcast_to", "reshape") and ins.inputs:
        ins = defs.get(id(ins.inputs[0]))
    if ins is None or ins.prim != "constant":
        return None
    value = ins.params.get("value")
    return value if isinstance(value, np.ndarray) else None


def _all(c: np.ndarray | None, pred: Callable[[np.ndarray], Any]) -> bool:
    if c is None:
        return False
    with np.errstate(all="ignore"):
        return bool(np.all(pred(c)))
