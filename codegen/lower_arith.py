"""Element rules of `ir.prims.arith`: `logaddexp`, `mul_no_nan` and integer `ipow`.

Invariants (the reference is each primitive's NumPy `impl`): `logaddexp` is NumPy's
`npy_logaddexp` branch-free (`x == y` gives `x + log 2`, so two equal infinities give that
infinity; a NaN operand gives NaN), with the vector-math `softplus` for
`log1p(exp(-|x - y|))`; `mul_no_nan` is `y == 0 ? 0 : x * y`; `ipow` is square-and-multiply
over the exponent's bits (a loop as long as the exponent's bit length), wrapping as
integer multiplication does, and a negative exponent gives the integer part of
`1 / x^|y|`.
"""
from __future__ import annotations

import math

from llvmlite import ir

from ..ir import Instr
from .rules import element_rule
from .lower_elementwise import elementwise, scalar
from .mathlib import emit_math

_NAMES = ("logaddexp", "mul_no_nan", "ipow")


@scalar("logaddexp")
def _logaddexp(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    return logaddexp(b, *a)


def logaddexp(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    """log(exp(x) + exp(y)) of two float or double values (also the step of
    `cumlogsumexp`)."""
    ty = x.type
    d = b.fsub(x, y)
    m = b.select(b.fcmp_ordered(">", d, ir.Constant(ty, 0.0)), x, y)
    neg_abs = b.fneg(b.call(b.module.declare_intrinsic("llvm.fabs", [ty]), [d]))
    r = b.fadd(m, emit_math(b, "softplus", [neg_abs]))
    same = b.fcmp_ordered("==", x, y)
    r = b.select(same, b.fadd(x, ir.Constant(ty, math.log(2.0))), r)
    nan = b.and_(b.fcmp_unordered("uno", d, d), b.not_(same))
    return b.select(nan, d, r)


@scalar("mul_no_nan")
def _mul_no_nan(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    x, y = a
    zero = ir.Constant(x.type, 0.0)
    return b.select(b.fcmp_ordered("==", y, zero), zero, b.fmul(x, y))


@scalar("ipow")
def _ipow(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    x, y = a
    ty = x.type
    zero, one = ir.Constant(ty, 0), ir.Constant(ty, 1)
    negative = b.icmp_signed("<", y, zero)
    e0 = b.select(negative, zero, y)
    pre = b.block
    loop = b.append_basic_block("ipow.loop")
    body = b.append_basic_block("ipow.body")
    done = b.append_basic_block("ipow.done")
    b.branch(loop)
    b.position_at_end(loop)
    r, base, e = b.phi(ty), b.phi(ty), b.phi(ty)
    r.add_incoming(one, pre)
    base.add_incoming(x, pre)
    e.add_incoming(e0, pre)
    b.cbranch(b.icmp_signed("!=", e, zero), body, done)
    b.position_at_end(body)
    odd = b.trunc(e, ir.IntType(1))
    r2 = b.select(odd, b.mul(r, base), r)
    base2 = b.mul(base, base)
    e2 = b.lshr(e, one)
    r.add_incoming(r2, body)
    base.add_incoming(base2, body)
    e.add_incoming(e2, body)
    b.branch(loop)
    b.position_at_end(done)
    # 1 / x^|y| truncated: 1 for x = 1, +-1 for x = -1 (the sign of the odd powers), else 0
    minus_one = ir.Constant(ty, -1)
    odd_y = b.trunc(y, ir.IntType(1))
    inv = b.select(b.icmp_signed("==", x, one), one,
                   b.select(b.icmp_signed("==", x, minus_one),
                            b.select(odd_y, minus_one, one), zero))
    return b.select(negative, inv, r)


# lower_elementwise registered the element rule of the scalar rules it had at import.
element_rule(*_NAMES)(elementwise)
