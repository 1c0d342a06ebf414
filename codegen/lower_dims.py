"""Lowering with runtime sizes: which Functions with unknown dimensions lower once for
every shape (see `poly.py`).

`blocker(fn)` names the first primitive of `fn` whose lowering cannot take a size known
only at run time; until a primitive is listed in `RUNTIME_SIZES`, a Function using it on
a value with an unknown dimension compiles once per shape instead (never wrong code).
"""
from __future__ import annotations

from ..ir import Function

#: Primitives whose lowering takes runtime sizes (empty until codegen reads dims at run
#: time; every Function with unknown dimensions then compiles per shape).
RUNTIME_SIZES: frozenset[str] = frozenset()


def blocker(fn: Function) -> str | None:
    """The first primitive of `fn` that touches an unknown dimension and does not lower
    with runtime sizes, or "unknown dimensions" when codegen cannot take any yet."""
    for ins in fn.instrs:
        if ins.prim in RUNTIME_SIZES:
            continue
        if any(v.type.symbolic for v in list(ins.inputs) + list(ins.outs)):
            return ins.prim
    if any(p.type.symbolic for p in fn.params):
        return "the entry (reading argument dims)"
    return None
