"""Replacing an instruction's inputs, shared by the passes."""
from __future__ import annotations

from ..core import Instr, Value


def substituted(ins: Instr, subst: dict[int, Value]) -> Instr:
    """`ins` with each input `x` replaced by `subst[id(x)]` where that is given; `ins`
    itself when no input is (an `Instr` is never changed once built, so the Functions a
    pass returns share the unchanged ones).

    Example: `substituted(ins, {id(old): new})`."""
    if not subst or not any(id(x) in subst for x in ins.inputs):
        return ins
    return Instr(ins.prim, [subst.get(id(x), x) for x in ins.inputs], ins.params, ins.outs)
