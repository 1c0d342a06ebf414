"""Constant folding: evaluate small instructions whose inputs are all constants.

An instruction is folded when every input is the output of a `constant` instruction (or it
has no inputs, as `iota`), its primitive is `foldable`, every output has at most
`max_elements` elements, its primitive's reference implementation succeeds, and no param
holds a Function (calls, loops and branches are never run at compile time); it is
replaced by one `constant` per output,
defining the same output Values. Folding uses the same NumPy code as the reference
interpreter (`Primitive.impl` under `np.errstate(all="ignore")`), so the results are
identical there. An implementation that raises (an out-of-range `gather`, say) leaves the
instruction alone, so the error still happens when the function runs.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core import Function, Instr
from ..prims import get_primitive

#: Inputs larger than this (elements, summed) are not folded, to bound compile time.
MAX_INPUT_ELEMENTS = 1 << 16


def fold(fn: Function, max_elements: int = 64) -> Function:
    """Example: `mul(constant 2.0, constant 3.0)` becomes `constant 6.0`."""
    consts: dict[int, np.ndarray] = {}
    instrs: list[Instr] = []
    for ins in fn.instrs:
        if ins.prim == "constant":
            value = ins.params.get("value")
            if isinstance(value, np.ndarray) and len(ins.outs) == 1:
                consts[id(ins.outs[0])] = value
        elif (get_primitive(ins.prim).foldable
              and not any(isinstance(v, (Function, tuple)) and _holds_function(v)
                      for v in ins.params.values())
              and all(id(x) in consts for x in ins.inputs)
              and all(o.type.size <= max_elements for o in ins.outs)
              and sum(consts[id(x)].size for x in ins.inputs) <= MAX_INPUT_ELEMENTS):
            values = _evaluate(ins, [consts[id(x)] for x in ins.inputs])
            if values is not None:
                for o, v in zip(ins.outs, values):
                    instrs.append(Instr("constant", [], {"value": v}, [o]))
                    consts[id(o)] = v
                continue
        instrs.append(Instr(ins.prim, ins.inputs, ins.params, ins.outs))
    return Function(fn.name, fn.params, instrs, fn.results)


def _holds_function(v: Any) -> bool:
    """Whether a param holds a Function: calls and loops are never run at compile time (a
    loop may run long, or forever)."""
    if isinstance(v, Function):
        return True
    return isinstance(v, tuple) and any(_holds_function(e) for e in v)


def _evaluate(ins: Instr, args: Sequence[np.ndarray]) -> list[np.ndarray] | None:
    """The outputs of `ins` on `args`, or None if the implementation fails or disagrees
    with the output types."""
    try:
        prim = get_primitive(ins.prim)
        with np.errstate(all="ignore"):
            out: Any = prim.impl(*args, **ins.params)
    except Exception:  # noqa: BLE001  (a failure must stay a run-time one, never a compile error)
        return None
    outs = [out] if len(ins.outs) == 1 else list(out)
    if len(outs) != len(ins.outs):
        return None
    values = []
    for o, v in zip(ins.outs, outs):
        # A copy: implementations may return views of their inputs (the constants' values).
        a = np.array(v, copy=True)
        if a.shape != o.type.shape or a.dtype != o.type.dtype:
            return None
        values.append(a)
    return values

