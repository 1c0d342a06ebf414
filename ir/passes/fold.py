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

An elementwise instruction whose inputs are all constants, some of them broadcast to its
shape by `broadcast_to`, is folded on the small constants even when its output is large:
it becomes the small result (a `constant`) broadcast to the output's shape. So `3 - 1` on
a scalar broadcast to a million elements folds to `broadcast_to(2)`, which `simplify`
sees through (a VJP of `x ** 3` computes `pow(x, 3 - 1)`: this makes it `x * x`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..dims import at_most
from ..core import Function, Instr, TensorType, Value
from ..prims import get_primitive

#: Inputs larger than this (elements, summed) are not folded, to bound compile time.
MAX_INPUT_ELEMENTS = 1 << 16


def fold(fn: Function, max_elements: int = 64) -> Function:
    """Example: `mul(constant 2.0, constant 3.0)` becomes `constant 6.0`."""
    consts: dict[int, np.ndarray] = {}
    broadcast: dict[int, np.ndarray] = {}    # broadcast_to(constant): the small constant
    instrs: list[Instr] = []
    changed = False
    for ins in fn.instrs:
        if ins.prim == "constant":
            value = ins.params.get("value")
            if isinstance(value, np.ndarray) and len(ins.outs) == 1:
                consts[id(ins.outs[0])] = value
        elif (ins.prim == "broadcast_to" and id(ins.inputs[0]) in consts
              and consts[id(ins.inputs[0])].size <= max_elements
              and not at_most(ins.outs[0].type.size, max_elements)):
            broadcast[id(ins.outs[0])] = consts[id(ins.inputs[0])]
            instrs.append(ins)
            continue
        elif (folded := _fold_broadcast(ins, consts, broadcast, max_elements)) is not None:
            instrs.extend(folded)
            broadcast[id(ins.outs[0])] = folded[0].params["value"]
            changed = True
            continue
        elif (get_primitive(ins.prim).foldable
              and not any(isinstance(v, (Function, tuple)) and _holds_function(v)
                      for v in ins.params.values())
              and all(id(x) in consts for x in ins.inputs)
              and all(at_most(o.type.size, max_elements) for o in ins.outs)
              and sum(consts[id(x)].size for x in ins.inputs) <= MAX_INPUT_ELEMENTS):
            values = _evaluate(ins, [consts[id(x)] for x in ins.inputs])
            if values is not None:
                for o, v in zip(ins.outs, values):
                    instrs.append(Instr("constant", [], {"value": v}, [o]))
                    consts[id(o)] = v
                changed = True
                continue
        instrs.append(ins)
    return Function(fn.name, fn.params, instrs, fn.results) if changed else fn


def _fold_broadcast(ins: Instr, consts: dict[int, np.ndarray],
                    broadcast: dict[int, np.ndarray], max_elements: int) -> list[Instr] | None:
    """`[constant r, broadcast_to(r)]` for an elementwise `ins` whose inputs are constants,
    at least one broadcast from a small one, with `r` computed on the small constants; or
    None."""
    prim = get_primitive(ins.prim)
    if (prim.kind != "elementwise" or ins.prim == "broadcast_to" or not prim.foldable
            or len(ins.outs) != 1 or at_most(ins.outs[0].type.size, max_elements)
            or not any(id(x) in broadcast for x in ins.inputs)):
        return None
    small = [broadcast.get(id(x), consts.get(id(x))) for x in ins.inputs]
    if any(a is None or a.size > max_elements for a in small):
        return None
    args = [a for a in small if a is not None]
    out = ins.outs[0]
    try:
        shape = np.broadcast_shapes(*(a.shape for a in args))
    except ValueError:
        return None
    if len(shape) > len(out.type.shape):
        return None
    small_out = Value(TensorType(shape, out.type.dtype), out.hint)
    values = _evaluate(Instr(ins.prim, ins.inputs, ins.params, [small_out]), args)
    if values is None:
        return None
    return [Instr("constant", [], {"value": values[0]}, [small_out]),
            Instr("broadcast_to", [small_out], {"shape": out.type.shape}, [out])]


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

