"""IR-to-IR passes; each takes a Function and returns one (inputs are never mutated).

Each pass preserves what the Function computes (the reference interpreter gives the same
results) and keeps it well-formed (`verify`). A pass that changes nothing returns its input
itself, and the Functions it returns share the input's unchanged `Instr`s (an `Instr`, like
a `Function`, is not changed once built): so the last round of `optimize`'s fixed point
compares by identity instead of structurally, and copies nothing. `optimize` runs them to
a fixed point.
"""
from __future__ import annotations

from typing import Any

from ..core import Function, Instr
from .cse import cse
from .dce import dce
from .fold import fold
from .regions import regions
from .simplify import simplify

__all__ = ["cse", "dce", "fold", "optimize", "regions", "simplify"]


def optimize(fn: Function, *, max_rounds: int = 10, check: bool = False) -> Function:
    """simplify -> fold -> cse -> regions -> dce, repeated until nothing changes (at most
    `max_rounds` rounds), optimizing every nested Function (`call`'s callee, loop bodies,
    branches) the same way in each round. With `check`, every intermediate Function is
    verified.

    Example: `optimize(f)` is what codegen receives."""
    out = _optimize(fn, max_rounds, check, {})
    # Always a Function of its own, as callers may key the traced and optimized forms apart.
    return Function(fn.name, fn.params, fn.instrs, fn.results) if out is fn else out


#: Nested Functions already optimized in one `optimize` call: `id(original) -> (original,
#: optimized)`. The original is held so that its address cannot be given to a Function made
#: later in the same call (rounds make and drop nested Functions); a stale id would hand that
#: newcomer another Function's optimized form (a loop body replaced by a loop condition).
Memo = dict[int, tuple[Function, Function]]


def _optimize(fn: Function, max_rounds: int, check: bool, memo: Memo) -> Function:
    cur = _with_optimized_callees(fn, max_rounds, check, memo)
    for _ in range(max_rounds):
        nxt = cur
        for p in (simplify, fold, cse, regions, dce):
            nxt = p(nxt)
            if check:
                from ..verify import verify
                verify(nxt)
        if nxt is cur or nxt == cur:
            return nxt
        # Region passes make new nested Functions (constants sunk into them, say).
        cur = _with_optimized_callees(nxt, max_rounds, check, memo)
    return cur


def _with_optimized_callees(fn: Function, max_rounds: int, check: bool,
                            memo: Memo) -> Function:
    """`fn` with every nested Function optimized (`fn` itself when none changes)."""
    def opt(v: Any) -> Any:
        if isinstance(v, Function):
            hit = memo.get(id(v))
            if hit is None or hit[0] is not v:
                hit = memo[id(v)] = (v, _optimize(v, max_rounds, check, memo))
            return hit[1]
        if isinstance(v, tuple):
            new = tuple(opt(e) for e in v)
            return v if all(a is b for a, b in zip(new, v)) else new
        return v

    instrs: list[Instr] | None = None
    for k, ins in enumerate(fn.instrs):
        params = {key: opt(v) for key, v in ins.params.items()}
        if all(params[key] is v for key, v in ins.params.items()):
            continue
        if instrs is None:
            instrs = list(fn.instrs)
        instrs[k] = Instr(ins.prim, ins.inputs, params, ins.outs)
    return fn if instrs is None else Function(fn.name, fn.params, instrs, fn.results)
