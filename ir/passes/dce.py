"""Dead-code elimination: drop instructions whose outputs no result depends on.

Every primitive is pure (no side effects inside a Function), so any instruction that does
not reach a result can go. Parameters are kept unless `prune_params` is set, because a
Function's signature is a contract with its callers.
"""
from __future__ import annotations

from ..core import Function


def dce(fn: Function, prune_params: bool = False) -> Function:
    """Example: `dce(f)` has no instruction that `f`'s results do not use."""
    live = {id(r) for r in fn.results}
    kept = []
    for ins in reversed(fn.instrs):
        if any(id(o) in live for o in ins.outs):
            kept.append(ins)
            live.update(id(x) for x in ins.inputs)
    if len(kept) == len(fn.instrs) and not prune_params:
        return fn
    kept.reverse()
    params = [p for p in fn.params if id(p) in live] if prune_params else fn.params
    return Function(fn.name, params, kept, fn.results)
