"""Common-subexpression elimination: merge instructions that compute the same thing.

Two instructions are the same when they have the same primitive, the same inputs (after
earlier merges) and equal params (`core.params_equal`, which tells 0.0 from -0.0 and takes
NaNs as equal). Every primitive is pure, so the later one's outputs can be replaced by the
earlier one's. The result keeps the first of each group, in the original order.
"""
from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import numpy as np

from ..core import Function, Instr, Value, params_equal
from .subst import substituted


def param_key(v: Any) -> Hashable:
    """A hashable key with `params_equal(a, b)` implying `param_key(a) == param_key(b)`."""
    if isinstance(v, float):
        return ("float", "nan" if math.isnan(v) else v)
    if isinstance(v, (tuple, list)):
        return ("tuple", tuple(param_key(e) for e in v))
    if isinstance(v, np.ndarray):
        if v.size > 1024:  # large arrays: bucket by type only, params_equal decides
            return ("array", v.dtype.str, v.shape)
        a = np.where(np.isnan(v), np.nan, v) if v.dtype.kind == "f" else v
        return ("array", v.dtype.str, v.shape, np.ascontiguousarray(a).tobytes())
    if isinstance(v, Function):
        return ("function", v.name, len(v.params), len(v.instrs))
    if isinstance(v, np.dtype):
        return ("dtype", v.str)
    try:
        return (type(v).__name__, hash(v), v)
    except TypeError:
        return (type(v).__name__, id(v))


def cse(fn: Function) -> Function:
    """Example: `mul(%x, %y)` computed twice becomes one `mul` whose output both uses
    read."""
    subst: dict[int, Value] = {}
    seen: dict[Hashable, list[Instr]] = {}
    instrs: list[Instr] = []
    for ins in fn.instrs:
        ins = substituted(ins, subst)
        key = (ins.prim, tuple(id(x) for x in ins.inputs), len(ins.outs),
               tuple(sorted((k, param_key(v)) for k, v in ins.params.items())))
        bucket = seen.setdefault(key, [])
        twin = next((other for other in bucket if _same_params(other, ins)), None)
        if twin is not None and all(a.type == b.type for a, b in zip(twin.outs, ins.outs)):
            for old, new in zip(ins.outs, twin.outs):
                subst[id(old)] = new
            continue
        bucket.append(ins)
        instrs.append(ins)
    if not subst:
        return fn
    results = [subst.get(id(r), r) for r in fn.results]
    return Function(fn.name, fn.params, instrs, results)


def _same_params(a: Instr, b: Instr) -> bool:
    return a.params.keys() == b.params.keys() and all(
        params_equal(a.params[k], b.params[k]) for k in a.params)
