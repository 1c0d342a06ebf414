"""Reductions computed inside a loop task's loop (`fusion.is_full_reduction`), and the
combining step and identity every reduction kernel shares.

Float sums run in blocks of the innermost reduced dimension (`SUM_BLOCK_F32` float32 or
`SUM_BLOCK` float64 elements), each summed from zero in the operand's type with vector
accumulators and added into a float64 total (see `lower_kernels`' invariants).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from llvmlite import ir

from ..ir import Instr
from .llvmtypes import F32, F64, reg_type, scalar_constant
from .loops import const, for_range
from .lower_elementwise import overloaded

if TYPE_CHECKING:
    from .emit import Emitter
    from .lower import Lowerer

REASSOC = ("reassoc",)
SUM_BLOCK = 1024
SUM_BLOCK_F32 = 256


def identity(prim: str, dtype: np.dtype) -> object:
    if prim == "reduce_sum":
        return 0
    if prim == "reduce_prod":
        return 1
    big = prim == "reduce_max"
    if dtype.kind == "f":
        return -np.inf if big else np.inf
    info = np.iinfo(dtype)
    return info.min if big else info.max


def combine(b: ir.IRBuilder, prim: str, acc: ir.Value, v: ir.Value) -> ir.Value:
    is_float = isinstance(acc.type, (ir.FloatType, ir.DoubleType))
    if prim == "reduce_sum":
        return b.fadd(acc, v, flags=REASSOC) if is_float else b.add(acc, v)
    if prim == "reduce_prod":
        # In order, never reassociated: a reordered product lets one partial product
        # overflow to inf and then meet another that holds a zero (0 * inf = NaN where
        # NumPy's product of [0, 1, ..., 99] is 0).
        return b.fmul(acc, v) if is_float else b.mul(acc, v)
    big = prim == "reduce_max"
    if is_float:
        return overloaded(b, "llvm.maximum" if big else "llvm.minimum", acc, v)
    return overloaded(b, "llvm.smax" if big else "llvm.smin", acc, v)


class Accumulator:
    """A full reduction (`fusion.is_full_reduction`) accumulated inside a LoopTask's loop:
    `start` before the loop, `add` in its body, `finish` after it.

    A float sum runs in blocks of the innermost dimension (`block`): each block is summed
    from zero in the operand's own type, with vector accumulators, and added into a
    float64 total. The block sums vectorize as wide as the loop's other work (a float64
    accumulator in a float32 loop would halve its vector width), and the error is
    a few ulp of the block plus float64 rounding, independent of the length."""

    def __init__(self, lw: Lowerer, ins: Instr):
        self.lw, self.ins = lw, ins
        dt = ins.inputs[0].dtype
        self.dt = dt
        self.blocked = ins.prim == "reduce_sum" and dt.kind == "f"
        self.total_dt = np.dtype(np.float64) if self.blocked else dt
        self.total = lw.alloca(reg_type(self.total_dt), "total")
        self.part = lw.alloca(reg_type(dt), "part")
        self.cur = self.total

    @property
    def block(self) -> int:
        return SUM_BLOCK if self.dt == np.float64 else SUM_BLOCK_F32

    def start(self) -> None:
        self.lw.b.store(scalar_constant(identity(self.ins.prim, self.dt), self.total_dt),
                        self.total)

    def start_block(self) -> None:
        self.lw.b.store(scalar_constant(identity(self.ins.prim, self.dt), self.dt), self.part)
        self.cur = self.part

    def end_block(self) -> None:
        b = self.lw.b
        part = b.load(self.part)
        if self.total_dt != self.dt:
            part = b.fpext(part, F64)
        b.store(combine(b, self.ins.prim, b.load(self.total), part), self.total)

    def add(self, em: Emitter, idx: tuple[ir.Value, ...]) -> None:
        b = self.lw.b
        v = em.value(self.ins.inputs[0], idx)
        if self.cur is self.total and self.total_dt != self.dt:     # a loop over ()
            v = b.fpext(v, F64)
        b.store(combine(b, self.ins.prim, b.load(self.cur), v), self.cur)

    def finish(self) -> None:
        b = self.lw.b
        v = b.load(self.total)
        if self.total_dt != self.dt:
            v = b.fptrunc(v, F32)
        out = self.ins.outs[0]
        self.lw.store_at(self.lw.ptr(out), out.dtype, const(0), v)

    # A reduction split into chunks (`lower_parallel`): each chunk's total goes to its
    # slot of the partials, which the caller then combines in chunk order.

    @property
    def partial_type(self) -> ir.Type:
        """The LLVM type of one chunk's total (a float64 for a blocked float sum)."""
        return reg_type(self.total_dt)

    def finish_partial(self, partials: ir.Value, chunk: ir.Value) -> None:
        """Store this chunk's total into `partials[chunk]`."""
        b = self.lw.b
        b.store(b.load(self.total), b.gep(partials, [chunk], inbounds=True))

    def combine_partials(self, partials: ir.Value, n: int) -> None:
        """The reduction's result from the totals of its `n` chunks, combined in chunk
        order from the identity (plain IEEE additions, never reassociated, so the result
        depends only on the chunks), stored like `finish`."""
        b = self.lw.b
        self.start()
        with for_range(b, n, name="part") as k:
            part = b.load(b.gep(partials, [k], inbounds=True))
            total = b.load(self.total)
            if self.ins.prim == "reduce_sum" and self.total_dt.kind == "f":
                b.store(b.fadd(total, part), self.total)
            else:
                b.store(combine(b, self.ins.prim, total, part), self.total)
        self.finish()


def end_blocks(accs: Sequence[Accumulator]) -> None:
    """Add each blocked accumulator's block total into its total."""
    for a in accs:
        if a.blocked:
            a.end_block()
