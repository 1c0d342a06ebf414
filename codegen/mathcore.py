"""The arithmetic the vector-math functions are written in: `MathEmitter`, and the
constants of each precision (`F32`, `F64`).

A `MathEmitter` wraps an ``IRBuilder`` for one float type: ``m.add(a, b)``, ``m.fma(a, b, c)``,
``m.poly(z, coeffs)``, ``m.sel(cond, a, b)``, bit access and ``two_sum``, where a Python float
operand becomes a constant of that type. Every operation is one LLVM instruction (or one
intrinsic that is a single vector instruction), so code written with it is straight-line
and vectorizes.

Invariants:

- no fast-math flags at all: the algorithms rely on every rounding (exact products by
  ``fma``, two-sum error terms), so LLVM may not reassociate or contract them;
- each table of constants is written in its own precision; polynomials are listed highest
  degree first and are near-minimax fits (Chebyshev nodes) on a reduced argument.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from llvmlite import binding as llvm
from llvmlite import ir

from ..ir.caches import on_clear

Num: TypeAlias = "ir.Value | float"

# ---------------------------------------------------------------- constants per precision


@dataclass(frozen=True)
class Consts:
    """Coefficients and constants of one precision (all written in that precision).

    Polynomials are listed highest degree first: ``P`` is ``(e^r - 1 - r) / r^2`` on
    ``|r| <= ln2/2``; ``T`` is ``(log((1+s)/(1-s)) - 2s) / s^3`` and ``U`` (for pow)
    ``(log((1+s)/(1-s)) - 2s - 2s^3/3) / s^5``, both in ``z = s^2`` for
    ``|s| <= 3 - 2 sqrt(2)``; ``H`` (float32 only) ``log(1+f) / f`` for ``f`` in
    ``[sqrt(1/2) - 1, sqrt(2) - 1]``; ``S`` is ``(sin r - r) / r^3`` and ``C``
    ``(cos r - 1 + r^2/2) / r^4`` in ``z = r^2`` for ``|r| <= trig_bound`` (a margin over
    pi/4). Each is a near-minimax fit (Chebyshev nodes) whose error is well below half an
    ulp of the final result once scaled by the terms in front of it.
    """

    P: tuple[float, ...]
    T: tuple[float, ...]
    U: tuple[float, ...]
    S: tuple[float, ...]
    C: tuple[float, ...]
    ln2_hi: float                  # ln2 = ln2_hi + ln2_lo
    ln2_lo: float
    ln2_hi_k: float                # k * ln2_hi_k is exact for every exponent k of the type
    ln2_lo_k: float
    log2e: float
    two3_hi: float                 # 2/3 = two3_hi + two3_lo
    two3_lo: float
    pio2: tuple[float, float, float]        # pi/2 = P1 + P2 + P3
    two_over_pi: tuple[float, float]        # 2/pi = hi + lo
    trig_bound: float
    exp_lo: float                  # exp and expm1 clamp x to [lo, hi]: beyond, the result
    expm1_lo: float                # is already 0, -1 or inf
    exp_hi: float
    sqrt_half_bits: int            # bit pattern of sqrt(1/2) in the type
    sub_scale: int                 # log multiplies subnormal x by 2^sub_scale
    # float32 only: H with log(1+f) = f H(f) for f in [sqrt(1/2) - 1, sqrt(2) - 1], its
    # last two coefficients 1 and -1/2 exact (no division; float64 keeps T, whose division
    # costs less than the ~12 more terms it would take)
    H: tuple[float, ...] = ()


F32 = Consts(
    P=(0.0001989118, 0.0013933821, 0.0083333105, 0.041666463, 0.16666667, 0.5),
    T=(0.23331614, 0.2855078, 0.40000123, 0.6666667),
    U=(0.1912133, 0.2220473, 0.2857153, 0.4),
    S=(2.7238455e-06, -0.00019839997, 0.008333332, -0.16666667),
    C=(-2.7291384e-07, 2.4800525e-05, -0.0013888888, 0.041666668),
    ln2_hi=0.6931472, ln2_lo=-1.9046542e-09,
    ln2_hi_k=0.693145751953125, ln2_lo_k=1.4286068e-06, log2e=1.442695,
    two3_hi=0.6666667, two3_lo=-1.9868216e-08,
    pio2=(1.5707964, -4.371139e-08, -1.7151245e-15), two_over_pi=(0.63661975, 2.5682553e-08),
    trig_bound=0.8,
    exp_lo=-104.0, expm1_lo=-30.0, exp_hi=89.0,
    sqrt_half_bits=0x3F3504F3, sub_scale=25,
    H=(0.090487845, -0.14030892, 0.147039, -0.16602719, 0.19984223, -0.25000703,
       0.33333415, -0.5, 1.0),
)
F64 = Consts(
    P=(2.091483135138041e-09, 2.5105419192016337e-08, 2.7557273295539724e-07,
       2.75572549134867e-06, 2.4801587325822283e-05, 0.00019841269875205077,
       0.001388888888888367, 0.008333333333326025, 0.04166666666666667,
       0.1666666666666667, 0.5),
    T=(0.14616721179861816, 0.15331699633543858, 0.18182889786191042, 0.2222221112572281,
       0.28571428626031065, 0.3999999999989938, 0.666666666666667),
    U=(0.11724327060846747, 0.11706126464563398, 0.1333480879881234, 0.1538459488700718,
       0.18181818336099848, 0.22222222221652765, 0.2857142857142937, 0.4),
    S=(1.591784866512194e-10, -2.505112794596564e-08, 2.755731608382574e-06,
       -0.00019841269836722437, 0.008333333333330925, -0.16666666666666666),
    C=(-1.1382456865840483e-11, 2.0876143829213935e-09, -2.755731726001471e-07,
       2.480158729874308e-05, -0.0013888888888887382, 0.041666666666666664),
    ln2_hi=0.6931471805599453, ln2_lo=2.3190468138462996e-17,
    ln2_hi_k=0.6931471805592082, ln2_lo_k=7.371002565167799e-13, log2e=1.4426950408889634,
    two3_hi=0.6666666666666666, two3_lo=3.700743415417188e-17,
    pio2=(1.5707963267948966, 6.123233995736766e-17, -1.4973849048591698e-33),
    two_over_pi=(0.6366197723675814, -3.935735335036497e-17),
    trig_bound=0.7854,
    exp_lo=-746.0, expm1_lo=-40.0, exp_hi=710.0,
    sqrt_half_bits=0x3FE6A09E667F3BCD, sub_scale=54,
)


# ---------------------------------------------------------------- typed emitter

# Float constants, one object per (width, value) (see `loops.const`); not 0.0 or NaN,
# which compare equal to other values' constants or unequal to their own.
_FLOATS: dict[tuple[bool, float], ir.Constant] = {}
_MAX_FLOATS = 4096
on_clear("codegen: shared float constants", _FLOATS.clear)


@functools.cache
def host_avx512() -> bool:
    """Whether the host has AVX-512F, where ``llvm.ldexp`` is one ``vscalefps/pd`` per
    vector (elsewhere LLVM expands it to a C library call per element)."""
    return "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")



class MathEmitter:
    """Float arithmetic of one type over an IRBuilder; Python floats become constants.

    ``m.k`` holds the constants of the type's precision (`F32` or `F64`), ``m.ity`` the
    integer type of the same width. For example, ``m.poly(z, m.k.S)`` emits Horner's rule
    with ``fma`` for sin's polynomial in ``z``. ``avx512`` (default: the host's) lets
    emitters use ``ldexp`` (`scale`), which is a single instruction only there; code is
    compiled for the host, so the default is right everywhere but in tests of the generic
    path.
    """

    def __init__(self, b: ir.IRBuilder, ty: ir.Type, avx512: bool | None = None) -> None:
        self.b = b
        self.avx512 = host_avx512() if avx512 is None else avx512
        self.ty = ty
        self.is64 = isinstance(ty, ir.DoubleType)
        self.ity = ir.IntType(64 if self.is64 else 32)
        self.mant = 52 if self.is64 else 23
        self.bias = 1023 if self.is64 else 127
        self.k = F64 if self.is64 else F32
        self._fntys: dict[int, ir.FunctionType] = {}

    # values
    def c(self, v: Num) -> ir.Value:
        if isinstance(v, ir.Value):
            return v
        f = float(v)
        if f == 0.0 or f != f:      # 0.0 and -0.0 compare equal, NaNs unequal: not shared
            return ir.Constant(self.ty, f)
        key = (self.is64, f)
        c = _FLOATS.get(key)
        if c is None:
            c = ir.Constant(self.ty, f)
            if len(_FLOATS) < _MAX_FLOATS:
                _FLOATS[key] = c
        return c

    def i(self, v: int) -> ir.Constant:
        return ir.Constant(self.ity, v)

    def _intr(self, name: str, *args: Num) -> ir.Value:
        vals = [self.c(a) for a in args]
        fnty = self._fntys.get(len(vals))
        if fnty is None:
            fnty = self._fntys[len(vals)] = ir.FunctionType(self.ty, [self.ty] * len(vals))
        return self.b.call(self.b.module.declare_intrinsic(name, [self.ty], fnty), vals)

    # arithmetic (no fast-math flags, see the module docstring)
    def add(self, a: Num, b: Num) -> ir.Value:
        return self.b.fadd(self.c(a), self.c(b))

    def sub(self, a: Num, b: Num) -> ir.Value:
        return self.b.fsub(self.c(a), self.c(b))

    def mul(self, a: Num, b: Num) -> ir.Value:
        return self.b.fmul(self.c(a), self.c(b))

    def div(self, a: Num, b: Num) -> ir.Value:
        return self.b.fdiv(self.c(a), self.c(b))

    def neg(self, a: ir.Value) -> ir.Value:
        return self.b.fneg(a)

    def fma(self, a: Num, b: Num, c: Num) -> ir.Value:
        return self._intr("llvm.fma", a, b, c)

    def abs(self, a: ir.Value) -> ir.Value:
        return self._intr("llvm.fabs", a)

    def rint(self, a: ir.Value) -> ir.Value:
        return self._intr("llvm.rint", a)

    def floor(self, a: ir.Value) -> ir.Value:
        return self._intr("llvm.floor", a)

    def copysign(self, mag: Num, sgn: Num) -> ir.Value:
        return self._intr("llvm.copysign", mag, sgn)

    def sqrt(self, a: ir.Value) -> ir.Value:
        return self._intr("llvm.sqrt", a)

    def poly(self, x: ir.Value, coeffs: Sequence[float]) -> ir.Value:
        """Horner's rule with fma, coefficients highest degree first."""
        acc = self.c(coeffs[0])
        for c in coeffs[1:]:
            acc = self.fma(acc, x, c)
        return acc

    # comparisons and selection; ordered compares are false for NaN
    def cmp(self, op: str, a: Num, b: Num) -> ir.Value:
        return self.b.fcmp_ordered(op, self.c(a), self.c(b))

    def isnan(self, a: ir.Value) -> ir.Value:
        return self.b.fcmp_unordered("uno", a, a)

    def isinf(self, a: ir.Value) -> ir.Value:
        return self.cmp("==", self.abs(a), float("inf"))

    def sel(self, cond: ir.Value, a: Num, b: Num) -> ir.Value:
        return self.b.select(cond, self.c(a), self.c(b))

    # bit-level access
    def bits(self, a: ir.Value) -> ir.Value:
        return self.b.bitcast(a, self.ity)

    def from_bits(self, a: ir.Value) -> ir.Value:
        return self.b.bitcast(a, self.ty)

    def to_int(self, a: ir.Value) -> ir.Value:
        return self.b.fptosi(a, self.ity)

    def to_float(self, a: ir.Value) -> ir.Value:
        return self.b.sitofp(a, self.ty)

    def pow2(self, n: ir.Value) -> ir.Value:
        """2^n for an integer n in the normal exponent range."""
        return self.from_bits(self.b.shl(self.b.add(n, self.i(self.bias)), self.i(self.mant)))

    def scale(self, a: ir.Value, n: ir.Value) -> ir.Value:
        """a 2^n rounded once (subnormal and overflowing results included) for a float n
        holding an integer of magnitude below 2^31: ``llvm.ldexp``, one ``vscalef`` on
        AVX-512 (use it only where ``self.avx512``)."""
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(self.ty, [self.ty, i32])
        fn = self.b.module.declare_intrinsic("llvm.ldexp", [self.ty, i32], fnty)
        return self.b.call(fn, [a, self.b.fptosi(n, i32)])

    def two_sum(self, a: ir.Value, b: ir.Value) -> tuple[ir.Value, ir.Value]:
        """s + e == a + b exactly, s = fl(a + b) (Knuth's branch-free two-sum)."""
        s = self.add(a, b)
        bb = self.sub(s, a)
        e = self.add(self.sub(a, self.sub(s, bb)), self.sub(b, bb))
        return s, e

