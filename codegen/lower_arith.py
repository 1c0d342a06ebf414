"""Element rules of `ir.prims.arith`: `logaddexp`, `mul_no_nan` and integer `ipow`.

Invariants (the reference is each primitive's NumPy `impl`): `logaddexp` is NumPy's
`npy_logaddexp` branch-free (`x == y` gives `x + log 2`, so two equal infinities give that
infinity; a NaN operand gives NaN), with the vector-math `softplus` for
`log1p(exp(-|x - y|))` (lane by lane in vector code); `mul_no_nan` is
`y == 0 ? 0 : x * y`; `ipow` is square-and-multiply over all the exponent's bits,
branch-free, wrapping as integer multiplication does, and a negative exponent gives the
integer part of `1 / x^|y|`. All three also run on vectors (small tasks' vector code).
"""
from __future__ import annotations

import math
from collections.abc import Callable

from llvmlite import ir

from ..ir import Instr
from .rules import element_rule
from .lower_elementwise import elementwise, like, overloaded, scalar
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
    neg_abs = b.fneg(overloaded(b, "llvm.fabs", d))
    r = b.fadd(m, _lanes(b, lambda v: emit_math(b, "softplus", [v]), neg_abs))
    same = b.fcmp_ordered("==", x, y)
    r = b.select(same, b.fadd(x, ir.Constant(ty, math.log(2.0))), r)
    nan = b.and_(b.fcmp_unordered("uno", d, d), b.not_(same))
    return b.select(nan, d, r)


def _lanes(b: ir.IRBuilder, fn: Callable[[ir.Value], ir.Value], v: ir.Value) -> ir.Value:
    """fn (scalar vector math) of each lane of a vector `v` (vector code of small tasks),
    or of `v` itself."""
    if not isinstance(v.type, ir.VectorType):
        return fn(v)
    out = ir.Constant(v.type, ir.Undefined)
    for k in range(v.type.count):
        lane = ir.Constant(ir.IntType(32), k)
        out = b.insert_element(out, fn(b.extract_element(v, lane)), lane)
    return out


@scalar("mul_no_nan")
def _mul_no_nan(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    x, y = a
    zero = ir.Constant(x.type, 0.0)
    return b.select(b.fcmp_ordered("==", y, zero), zero, b.fmul(x, y))


@scalar("ipow")
def _ipow(b: ir.IRBuilder, ins: Instr, a: list[ir.Value]) -> ir.Value:
    x, y = a
    ty = x.type
    width = (ty.element if isinstance(ty, ir.VectorType) else ty).width
    zero, one = ir.Constant(ty, 0), ir.Constant(ty, 1)
    negative = b.icmp_signed("<", y, zero)
    e = b.select(negative, zero, y)
    # square-and-multiply over every bit of the exponent, branch-free (so it also runs on
    # vectors and in vectorized loops)
    r, base = one, x
    for i in range(width - 1):
        bit = b.trunc(b.lshr(e, ir.Constant(ty, i)), like(x, ir.IntType(1)))
        r = b.select(bit, b.mul(r, base), r)
        if i < width - 2:
            base = b.mul(base, base)
    # 1 / x^|y| truncated: 1 for x = 1, +-1 for x = -1 (the sign of the odd powers), else 0
    minus_one = ir.Constant(ty, -1)
    odd_y = b.trunc(y, like(x, ir.IntType(1)))
    inv = b.select(b.icmp_signed("==", x, one), one,
                   b.select(b.icmp_signed("==", x, minus_one),
                            b.select(odd_y, minus_one, one), zero))
    return b.select(negative, inv, r)


# lower_elementwise registered the element rule of the scalar rules it had at import.
element_rule(*_NAMES)(elementwise)
