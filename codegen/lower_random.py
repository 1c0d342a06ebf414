"""The kernel of `philox` (see `ir/prims/random.py` for the generator and its output).

For each batch row: a loop over the counter blocks whose elements all lie inside the
output, storing `per_block` elements each with no test (the Philox rounds are 32-bit
multiplies done as 64-bit products, so the loop vectorizes across blocks), then one last
partial block whose stores are guarded. Values are computed exactly as the NumPy
reference computes them: the same words, the same bit manipulations for uniforms, and
Box-Muller with the vector-math library's log, sqrt, cos and sin.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from llvmlite import ir

from ..ir import Instr
from ..ir.prims.random import M0, M1, ROUNDS, W0, W1, per_block
from .llvmtypes import F32, F64, I32
from .loops import const, for_range, linear_index, loop_nest
from .mathlib import emit_math
from .rules import kernel_rule

if TYPE_CHECKING:
    from .lower import Lowerer

U32 = 0xFFFFFFFF


def _mulhilo(b: ir.IRBuilder, m: int, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    p = b.mul(const(m), x)                                  # both < 2**32: exact in i64
    return b.lshr(p, const(32)), b.and_(p, const(U32))


def _words(b: ir.IRBuilder, k0: ir.Value, k1: ir.Value, ctr: ir.Value) -> list[ir.Value]:
    """Philox-4x32-10 of the 128-bit counter (ctr, 0) under key (k0, k1); i64 values
    holding 32-bit words."""
    c = [b.and_(ctr, const(U32)), b.lshr(ctr, const(32)), const(0), const(0)]
    for r in range(ROUNDS):
        if r:
            k0 = b.and_(b.add(k0, const(W0)), const(U32))
            k1 = b.and_(b.add(k1, const(W1)), const(U32))
        hi0, lo0 = _mulhilo(b, M0, c[0])
        hi1, lo1 = _mulhilo(b, M1, c[2])
        c = [b.xor(b.xor(hi1, c[1]), k0), lo1, b.xor(b.xor(hi0, c[3]), k1), lo0]
    return c


def _uniforms(b: ir.IRBuilder, w: list[ir.Value], dtype: np.dtype) -> list[ir.Value]:
    """[0, 1) from the words: float32 `(w >> 9) * 2**-23`, float64 from word pairs."""
    if dtype == np.float32:
        # The 23 high bits as a float in [1, 2), minus 1: exact, as the reference's
        # integer-to-float conversion and scaling.
        out = []
        for x in w:
            m = b.or_(b.trunc(b.lshr(x, const(9)), I32), ir.Constant(I32, 0x3F800000))
            out.append(b.fsub(b.bitcast(m, F32), ir.Constant(F32, 1.0)))
        return out
    out = []
    for hi, lo in ((w[0], w[1]), (w[2], w[3])):
        bits = b.lshr(b.or_(b.shl(hi, const(32)), lo), const(12))
        m = b.or_(bits, const(0x3FF0000000000000))
        out.append(b.fsub(b.bitcast(m, F64), ir.Constant(F64, 1.0)))
    return out


def _elements(b: ir.IRBuilder, w: list[ir.Value], dtype: np.dtype, dist: str
              ) -> list[ir.Value]:
    if dist == "bits":
        return w
    u = _uniforms(b, w, dtype)
    if dist == "uniform":
        return u
    ty = u[0].type
    out = []
    for u1, u2 in zip(u[0::2], u[1::2]):
        lg = emit_math(b, "log", [b.fsub(ir.Constant(ty, 1.0), u1)])
        r = b.call(b.function.module.declare_intrinsic("llvm.sqrt", [ty]),
                   [b.fmul(ir.Constant(ty, -2.0), lg)])
        t = b.fmul(ir.Constant(ty, 2 * math.pi), u2)
        out += [b.fmul(r, emit_math(b, "cos", [t])), b.fmul(r, emit_math(b, "sin", [t]))]
    return out


@kernel_rule("philox")
def philox(lw: Lowerer, ins: Instr) -> None:
    b = lw.b
    key, counter = ins.inputs
    out = ins.outs[0]
    dtype, dist = np.dtype(ins.params["dtype"]), ins.params["dist"]
    n = math.prod(ins.params["shape"])
    k = per_block(dtype, dist)
    full, rest = divmod(n, k)
    if n == 0 or math.prod(counter.shape) == 0:
        return
    op = lw.ptr(out)
    batch = tuple(counter.shape)
    with loop_nest(b, batch, "row") as row:
        # Key and counter through an emitter: their producers may be fused in.
        em = lw.emitter()
        k0 = b.and_(em.value(key, tuple(row) + (const(0),)), const(U32))
        k1 = b.and_(em.value(key, tuple(row) + (const(1),)), const(U32))
        c0 = em.value(counter, tuple(row))
        base = b.mul(linear_index(b, row, batch), const(n))

        def block(j: ir.Value, count: int) -> None:
            vals = _elements(b, _words(b, k0, k1, b.add(c0, j)), dtype, dist)
            at = b.add(base, b.mul(j, const(k)))
            for lane in range(count):
                lw.store_at(op, dtype, b.add(at, const(lane)), vals[lane])

        if full:
            with for_range(b, full, name="blk") as j:
                block(j, k)
        if rest:
            block(const(full), rest)
