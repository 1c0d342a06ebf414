"""Kernel rule of `segment_max`, `segment_min` and `segment_prod`: the output filled with
the identity, then one pass over the data in memory order combining each row into its
segment's row (ids in range: the plan's bounds check runs first).

Invariants: max/min are NaN-propagating (`llvm.maximum`/`minimum`, `smax`/`smin` for
integers), so a NaN in a segment gives NaN as NumPy's `maximum.at` does; products
accumulate in data order.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from ..ir import Instr
from ..ir.prims.segments import identity
from .llvmtypes import scalar_constant
from .loops import I64, for_range, linear_index, loop_nest
from .lower_elementwise import overloaded
from .plan import size_of
from .rules import kernel_rule

if TYPE_CHECKING:
    from .lower import Lowerer

_FLOAT = {"segment_max": "llvm.maximum", "segment_min": "llvm.minimum"}
_INT = {"segment_max": "llvm.smax", "segment_min": "llvm.smin"}


def _combine(b: ir.IRBuilder, prim: str, acc: ir.Value, v: ir.Value, is_float: bool
             ) -> ir.Value:
    if prim == "segment_prod":
        return b.fmul(acc, v) if is_float else b.mul(acc, v)
    return overloaded(b, (_FLOAT if is_float else _INT)[prim], acc, v)


@kernel_rule("segment_max", "segment_min", "segment_prod")
def segment_reduce(lw: Lowerer, ins: Instr) -> None:
    b = lw.b
    data, ids = ins.inputs
    out = ins.outs[0]
    dt = out.dtype
    po = lw.ptr(out)
    with for_range(b, size_of(out.shape), name="init") as k:
        lw.store_at(po, dt, k, scalar_constant(identity(ins.prim, dt), dt))
    if size_of(data.shape) == 0:
        return
    r = ids.ndim
    with loop_nest(b, data.shape, "seg") as idx:
        em = lw.emitter()
        s = em.value(ids, idx[:r])
        s = s if s.type == I64 else b.sext(s, I64)
        o = linear_index(b, (s,) + tuple(idx[r:]), out.shape)
        acc = lw.load_at(po, dt, o)
        lw.store_at(po, dt, o, _combine(b, ins.prim, acc, em.value(data, idx), dt.kind == "f"))

