"""Inline, vectorizable transcendental functions: ``emit_math(builder, name, args)``.

Each function is emitted into the current basic block as straight-line code: float and
integer arithmetic, ``select``, bitcasts and the intrinsics that are single vector
instructions (``llvm.fma``, ``llvm.fabs``, ``llvm.rint``, ``llvm.floor``, ``llvm.sqrt``,
``llvm.copysign``). There are no branches and no libm calls, so the loop vectorizer turns a
loop over any of them into SIMD code.

Invariants:

- scalar ``float`` or ``double`` in (two for ``pow``), the same type out;
- NaN, +-inf, -0.0 and subnormals come out as NumPy gives them (``exp(-inf) = 0``,
  ``log(-0.0) = -inf``, ``sin(-0.0) = -0.0``, ``tanh(-0.0) = -0.0``, ``sin(inf) = nan``, ...);
- no fast-math flags at all: the algorithms below rely on every rounding (exact
  products by ``fma``, two-sum error terms), so LLVM may not reassociate or contract them;
- every polynomial runs on a reduced argument, with Remez-style (Chebyshev-node) fitted
  coefficients; each table is written for its own precision.

Methods. ``exp``: ``x = n ln2 + r`` (``n ln2_hi`` is exact inside an ``fma``, and the
rounding of ``r`` is carried to first order), a polynomial for ``e^r - 1``, then ``2^n``
applied in two halves, each a normal power of two, so a subnormal result is rounded once.
``log``: ``x = 2^k m`` with ``m`` in ``[sqrt(1/2), sqrt(2))`` read off the bits (subnormal
``x`` rescaled first), ``log(m) = 2s + s R(s^2)`` with ``s = (m-1)/(m+1)``. ``log1p``: the
same on ``u = 1 + x`` plus ``err/u`` for the exact rounding error ``err`` of that sum.
``expm1``: ``2 (h (e^r - 1) + (h - 1/2))`` with ``h = 2^(n-1)``, one ``fma``, exact near 0.
``sin``/``cos``/``tan``: ``q`` = nearest integer to ``x 2/pi`` (from ``x 2/pi`` in two
parts), then Cody-Waite reduction by a three-part pi/2: ``x - q P1`` is exact inside an
``fma`` and ``q (P2 + P3)`` is subtracted with a two-sum, giving ``r = r_hi + r_lo``; sin
and cos polynomials on ``r_hi`` with ``r_lo`` added to first order, the quadrant picked
by ``select``; ``tan = sin r / cos r`` (or ``-cos r / sin r``). ``tanh(x) = -t / (t + 2)``
with ``t = expm1(-2|x|)``, sign restored by ``copysign``. ``logistic`` and ``softplus``
only evaluate ``exp(-|x|)``: ``logistic = (x >= 0 ? 1 : e) / (1 + e)``,
``softplus = max(x, 0) + log1p(e)``. ``pow``: ``|x|^y = exp(y log|x|)`` where ``log|x|``
and the product ``y log|x|`` are unevaluated sums hi + lo (double-double for float64,
float-float for float32), so the error of ``log`` is not multiplied by ``|y log x|``
(up to ~745); then NumPy's (C99's) special cases by ``select``: ``pow(x, 0) = 1`` and
``pow(1, y) = 1`` even for NaN, ``pow(-1, +-inf) = 1``, a negative base with an odd integer
exponent gives the negative result (``pow(-0.0, -1) = -inf``), a finite negative base
with a finite non-integer exponent gives NaN. ``sqrt`` is ``llvm.sqrt`` (one instruction,
correctly rounded). ``atan2(y, x)``: ``r = min(|x|, |y|) / max(|x|, |y|)`` in ``[0, 1]``,
``atan r = atan c + atan u`` with ``c = i/8`` the nearest eighth (``atan c`` tabulated as
hi + lo) and ``u = (r - c) / (1 + r c)``, ``|u| <= 1/16``, where the Taylor series needs 3
(float32) or 6 (float64) terms; the quadrant's ``0``, ``pi/2`` or ``pi`` is added with a
two-sum, so the result rounds about once; C99's special cases (``atan2(+-0, -0) = +-pi``,
``atan2(+-inf, -inf) = +-3pi/4``, NaN in, NaN out) by ``select``. ``atan(x) = atan2(x, 1)``,
``asin(x) = atan2(x, s)`` and ``acos(x) = atan2(s, x)`` with ``s = sqrt((1 - x)(1 + x))``
(NaN beyond ``|x| = 1``).

Range claims. The inline ``sin``/``cos``/``tan`` hold the bound for ``|x| <= 1e7`` in
float32 (and measured to 2.5e7, where ``q`` stops being an exact float32 integer) and for
``|x| <= 1e15`` in float64 (measured to 1.26e16, the same limit at 2^53). Beyond that the
reduced argument is clamped to the polynomial's interval (any finite argument still
gives a value in ``[-1, 1]`` for sin and cos, a finite one for tan; +-inf gives NaN), and
compiled code does not use it there: lowering (``lower_elementwise.trig``) notes such
arguments and recomputes their task with the C library's ``sin``/``sinf``/... for them,
whose Payne-Hanek reduction is exact, so compiled sin/cos/tan hold the bound over the
whole range (``tests/codegen/test_trig_range.py``). Every other function here holds its
bound over the whole range of the type, including subnormal inputs and results.

Measured max error in ulp (the tested bound is 4 ulp for every function and type).
float32 is measured against NumPy's float64 result (0.5 would be correct rounding):
exhaustively over all 2^32 bit patterns for the one-argument functions (over every
float32 in ``[0, 1e7]`` for sin/cos/tan, which are odd/even), and on random pairs for pow
and atan2 (atan2: 2.1 million pairs, random bit patterns, ratios near every eighth);
atan, asin and acos on 2.4 million points (random bit patterns, all of [-1, 1], near +-1
and 0 on log scales).
float64 is measured against NumPy's long double (64-bit mantissa) result on several
million points per function (log-spaced sweeps over every binade of both signs, random finite
and random bit patterns, overflow/underflow thresholds, neighbours of multiples of pi/2,
near 0 and 1; pow with ``y`` chosen so ``x^y`` sweeps the whole range), plus an mpmath
spot check. ``tests/codegen/test_mathlib.py`` asserts the bound on a smaller sample of
the same kind and prints its own table when run as a script.

==========  =======  =======
function    float32  float64
==========  =======  =======
exp           0.99     0.97
log           0.84     0.82
log1p         0.84     0.83
expm1         1.44     1.79
sin           0.76     0.81
cos           0.75     0.82
tan           2.19     2.13
tanh          2.50     2.52
logistic      2.40     2.31
softplus      1.64     1.59
sqrt          0.50     0.50
pow           0.98     1.02
atan2         2.69     2.06
atan          1.83     1.89
asin          2.64     2.11
acos          2.37     2.64
==========  =======  =======

``erf`` and ``erfc`` are in `mathspecial` (method and measured bounds there).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from llvmlite import ir

from . import mathspecial

Num: TypeAlias = "ir.Value | float"

# ---------------------------------------------------------------- constants per precision


@dataclass(frozen=True)
class _Consts:
    """Coefficients and constants of one precision (all written in that precision).

    Polynomials are listed highest degree first: ``P`` is ``(e^r - 1 - r) / r^2`` on
    ``|r| <= ln2/2``; ``T`` is ``(log((1+s)/(1-s)) - 2s) / s^3`` and ``U`` (for pow)
    ``(log((1+s)/(1-s)) - 2s - 2s^3/3) / s^5``, both in ``z = s^2`` for
    ``|s| <= 3 - 2 sqrt(2)``; ``S`` is ``(sin r - r) / r^3`` and ``C``
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


_F32 = _Consts(
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
)
_F64 = _Consts(
    P=(2.091483135138041e-09, 2.5105419192016337e-08, 2.7557273295539724e-07,
       2.75572549134867e-06, 2.4801587325822283e-05, 0.00019841269875205077,
       0.001388888888888367, 0.008333333333326025, 0.04166666666666667,
       0.1666666666666667, 0.5),
    T=(0.13088034850927555, 0.13268638369266825, 0.15386244737621665, 0.18181795547521137,
       0.22222222392581045, 0.28571428570799784, 0.40000000000000885, 0.6666666666666666),
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


class _Em:
    """Float arithmetic of one type over an IRBuilder; Python floats become constants."""

    def __init__(self, b: ir.IRBuilder, ty: ir.Type) -> None:
        self.b = b
        self.ty = ty
        self.is64 = isinstance(ty, ir.DoubleType)
        self.ity = ir.IntType(64 if self.is64 else 32)
        self.mant = 52 if self.is64 else 23
        self.bias = 1023 if self.is64 else 127
        self.k = _F64 if self.is64 else _F32

    # values
    def c(self, v: Num) -> ir.Value:
        return v if isinstance(v, ir.Value) else ir.Constant(self.ty, float(v))

    def i(self, v: int) -> ir.Constant:
        return ir.Constant(self.ity, v)

    def _intr(self, name: str, *args: Num) -> ir.Value:
        vals = [self.c(a) for a in args]
        fnty = ir.FunctionType(self.ty, [self.ty] * len(vals))
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

    def two_sum(self, a: ir.Value, b: ir.Value) -> tuple[ir.Value, ir.Value]:
        """s + e == a + b exactly, s = fl(a + b) (Knuth's branch-free two-sum)."""
        s = self.add(a, b)
        bb = self.sub(s, a)
        e = self.add(self.sub(a, self.sub(s, bb)), self.sub(b, bb))
        return s, e


# ---------------------------------------------------------------- exp family


def _exp_reduce(m: _Em, x: ir.Value, lo_bound: float,
                lo: ir.Value | None = None) -> tuple[ir.Value, ir.Value]:
    """x (+ lo) = n ln2 + r with x clamped to [lo_bound, exp_hi]: returns n as an integer
    and e^r - 1."""
    k = m.k
    # Ordered compares send NaN to the bound; callers select NaN back at the end.
    xc = m.sel(m.cmp("<=", x, k.exp_hi), x, k.exp_hi)
    xc = m.sel(m.cmp(">=", xc, lo_bound), xc, lo_bound)
    n = m.rint(m.mul(xc, k.log2e))
    nn = m.neg(n)
    r_hi = m.fma(nn, k.ln2_hi, xc)           # exact: the difference fits the format
    r_lo = m.fma(nn, k.ln2_lo, 0.0 if lo is None else lo)
    r = m.add(r_hi, r_lo)
    r_err = m.sub(r_lo, m.sub(r, r_hi))         # what the rounding of r dropped
    em1 = m.fma(m.mul(r, r), m.poly(r, k.P), r)
    em1 = m.fma(em1, r_err, m.add(em1, r_err))  # e^(r + d) - 1 ~ em1 + d (1 + em1)
    return m.to_int(n), em1


def _exp(m: _Em, x: ir.Value, lo: ir.Value | None = None) -> ir.Value:
    ni, em1 = _exp_reduce(m, x, m.k.exp_lo, lo)
    p = m.add(em1, 1.0)
    # 2^n in two halves: each is a normal number and only the last product rounds.
    n1 = m.b.ashr(ni, m.i(1))
    n2 = m.b.sub(ni, n1)
    y = m.mul(m.mul(p, m.pow2(n1)), m.pow2(n2))
    return m.sel(m.isnan(x), x, y)


def _expm1(m: _Em, x: ir.Value) -> ir.Value:
    ni, em1 = _exp_reduce(m, x, m.k.expm1_lo)
    # 2^n e^r - 1 = 2 (h em1 + (h - 1/2)) with h = 2^(n-1); h - 1/2 is exact while it matters.
    h = m.pow2(m.b.sub(ni, m.i(1)))
    y = m.mul(2.0, m.fma(h, em1, m.sub(h, 0.5)))
    # Below 2^-(p+1), expm1(x) rounds to x: this keeps -0.0 and the last bit of subnormals,
    # which h em1 with h = 1/2 would round away.
    y = m.sel(m.cmp("<", m.abs(x), 2.0 ** -(m.mant + 2)), x, y)
    return m.sel(m.isnan(x), x, y)


# ---------------------------------------------------------------- log family


def _log_parts(m: _Em, x: ir.Value, normal: bool = False) -> tuple[ir.Value, ir.Value]:
    """x = 2^k m with m in [sqrt(1/2), sqrt(2)), for finite x > 0: returns (k as float, m - 1).

    ``normal=True`` skips the rescaling of subnormal x (for callers whose x >= 1).
    """
    k = m.k
    xs = x
    if not normal:
        sub = m.cmp("<", x, 2.0 ** (-1022 if m.is64 else -126))
        xs = m.sel(sub, m.mul(x, 2.0 ** k.sub_scale), x)
    ix = m.b.add(m.bits(xs), m.i((m.bias << m.mant) - k.sqrt_half_bits))
    e = m.b.sub(m.b.ashr(ix, m.i(m.mant)), m.i(m.bias))
    if not normal:
        e = m.b.sub(e, m.b.select(sub, m.i(k.sub_scale), m.i(0)))
    mb = m.b.add(m.b.and_(ix, m.i((1 << m.mant) - 1)), m.i(k.sqrt_half_bits))
    f = m.sub(m.from_bits(mb), 1.0)             # exact (Sterbenz)
    return m.to_float(e), f


def _log_kernel(m: _Em, kf: ir.Value, f: ir.Value, c: Num = 0.0) -> ir.Value:
    """k ln2 + log(1 + f) + c, for |f| <= sqrt(2) - 1 and a small correction c."""
    k = m.k
    s = m.div(f, m.add(f, 2.0))
    z = m.mul(s, s)
    r = m.mul(z, m.poly(z, k.T))
    hfsq = m.mul(m.mul(f, f), 0.5)
    # log(1+f) = f - hfsq + s (hfsq + R), since f - hfsq (1 - s) = 2s exactly in real numbers.
    tail = m.fma(s, m.add(hfsq, r), m.fma(kf, k.ln2_lo, c))
    return m.fma(kf, k.ln2_hi, m.sub(f, m.sub(hfsq, tail)))


def _log(m: _Em, x: ir.Value) -> ir.Value:
    kf, f = _log_parts(m, x)
    y = _log_kernel(m, kf, f)
    y = m.sel(m.cmp("==", x, 0.0), float("-inf"), y)
    y = m.sel(m.cmp("<", x, 0.0), float("nan"), y)
    y = m.sel(m.cmp("==", x, float("inf")), x, y)
    return m.sel(m.isnan(x), x, y)


def _log1p(m: _Em, x: ir.Value) -> ir.Value:
    u, err = m.two_sum(m.c(1.0), x)             # u + err == 1 + x exactly
    kf, f = _log_parts(m, u)
    y = _log_kernel(m, kf, f, m.div(err, u))    # log(u + err) ~ log(u) + err/u
    y = m.sel(m.cmp("==", x, 0.0), x, y)        # keeps -0.0
    y = m.sel(m.cmp("==", u, 0.0), float("-inf"), y)
    y = m.sel(m.cmp("<", x, -1.0), float("nan"), y)
    y = m.sel(m.cmp("==", x, float("inf")), x, y)
    return m.sel(m.isnan(x), x, y)


# ---------------------------------------------------------------- trigonometric


def _trig_reduce(m: _Em, x: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """x = q pi/2 + r: returns (sin r, cos r, q as an integer)."""
    k = m.k
    # q = nearest integer to x 2/pi, from t = x 2/pi as t_hi + t_lo: rounding t_hi alone can
    # pick the wrong neighbour once ulp(t) is large, which would leave |r| > pi/4.
    t = m.mul(x, k.two_over_pi[0])
    t_lo = m.fma(x, k.two_over_pi[1], m.fma(x, k.two_over_pi[0], m.neg(t)))
    q = m.rint(t)
    q = m.add(q, m.rint(m.add(m.sub(t, q), t_lo)))
    # Where q is not an exact integer of the type (huge x, inf, NaN: the compare is false)
    # it becomes 0: r is then x itself and is clamped below, and the conversion of q to an
    # integer is always defined.
    q = m.sel(m.cmp("<", m.abs(q), 2.0 ** (m.mant + 1)), q, 0.0)
    # r = x - q pi/2 as r_hi + r_lo: q P1 is exact inside the fma and so is the difference;
    # q (P2 + P3) is carried as c_hi + c_lo and subtracted with an exact two-sum.
    r1 = m.fma(m.neg(q), k.pio2[0], x)
    c_hi = m.mul(q, k.pio2[1])
    c_lo = m.fma(q, k.pio2[2], m.fma(q, k.pio2[1], m.neg(c_hi)))
    r, r_err = m.two_sum(r1, m.neg(c_hi))
    r_lo = m.sub(r_err, c_lo)
    # Beyond the claimed range r may not be reduced; clamping keeps the result in [-1, 1].
    bound = k.trig_bound
    far = m.cmp(">", m.abs(r), bound)
    r = m.sel(far, m.copysign(bound, r), r)
    r_lo = m.sel(far, 0.0, r_lo)
    z = m.mul(r, r)
    # cos r = w + tail with w = 1 - z/2 rounded: the rounding errors of z and of w go into
    # the tail, so cos r is good to about half an ulp. r_lo enters to first order:
    # sin(r + r_lo) ~ sin r + r_lo cos r, cos(r + r_lo) ~ cos r - r_lo sin r.
    hz = m.mul(z, 0.5)
    w = m.sub(1.0, hz)
    w_err = m.sub(m.sub(1.0, w), hz)            # exact (Sterbenz)
    z_err = m.fma(r, r, m.neg(z))
    sin_r = m.add(r, m.fma(m.mul(r, z), m.poly(z, k.S), m.mul(r_lo, w)))
    tail = m.fma(m.mul(z, z), m.poly(z, k.C), m.fma(z_err, -0.5, w_err))
    cos_r = m.add(w, m.fma(m.neg(r_lo), r, tail))
    return sin_r, cos_r, m.to_int(q)            # its low two bits are q mod 4


def _trig(m: _Em, name: str, x: ir.Value) -> ir.Value:
    sin_r, cos_r, qi = _trig_reduce(m, x)
    b = m.b
    odd = b.icmp_unsigned("!=", b.and_(qi, m.i(1)), m.i(0))
    if name == "tan":
        y = m.div(m.sel(odd, m.neg(cos_r), sin_r), m.sel(odd, sin_r, cos_r))
    else:
        # sin: quadrants give sin, cos, -sin, -cos; cos: cos, -sin, -cos, sin.
        shift = m.i(0 if name == "sin" else 1)
        y = m.sel(odd, cos_r, sin_r) if name == "sin" else m.sel(odd, sin_r, cos_r)
        neg = b.icmp_unsigned("!=", b.and_(b.add(qi, shift), m.i(2)), m.i(0))
        y = m.sel(neg, m.neg(y), y)
    if name != "cos":
        y = m.sel(m.cmp("==", x, 0.0), x, y)    # keeps -0.0
    return m.sel(m.isinf(x), float("nan"), y)


# ---------------------------------------------------------------- composed functions


def _tanh(m: _Em, x: ir.Value) -> ir.Value:
    t = _expm1(m, m.mul(m.abs(x), -2.0))        # in [-1, 0]
    return m.copysign(m.div(m.neg(t), m.add(t, 2.0)), x)


def _logistic(m: _Em, x: ir.Value) -> ir.Value:
    e = _exp(m, m.neg(m.abs(x)))                # never overflows
    return m.div(m.sel(m.cmp(">=", x, 0.0), 1.0, e), m.add(e, 1.0))


def _softplus(m: _Em, x: ir.Value) -> ir.Value:
    # max(x, 0) + log1p(e) with e = exp(-|x|) in [0, 1]: log1p specialised to that range.
    e = _exp(m, m.neg(m.abs(x)))
    u = m.add(e, 1.0)
    err = m.sub(e, m.sub(u, 1.0))               # exact (fast two-sum, 1 >= e)
    kf, f = _log_parts(m, u, normal=True)
    y = m.add(m.sel(m.cmp(">", x, 0.0), x, 0.0), _log_kernel(m, kf, f, m.div(err, u)))
    return m.sel(m.isnan(x), x, y)


# ---------------------------------------------------------------- pow


def _log_dd(m: _Em, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    """log(x) as an unevaluated sum hi + lo (double-double or float-float), finite x > 0.

    Its relative error is about 2^-66 in float64 and 2^-35 in float32: enough that
    multiplying it by y, with |y log x| up to the overflow threshold, costs under 0.1 ulp.
    """
    k = m.k
    kf, f = _log_parts(m, x)
    d_hi = m.add(f, 2.0)
    d_lo = m.sub(f, m.sub(d_hi, 2.0))           # exact: |f| < 2
    s_hi = m.div(f, d_hi)
    s_lo = m.div(m.sub(m.fma(m.neg(s_hi), d_hi, f), m.mul(s_hi, d_lo)), d_hi)
    z_hi = m.mul(s_hi, s_hi)
    z_lo = m.fma(s_hi, s_hi, m.neg(z_hi))
    z_lo = m.fma(m.mul(s_hi, 2.0), s_lo, z_lo)
    s3_hi = m.mul(s_hi, z_hi)
    s3_lo = m.fma(s_hi, z_hi, m.neg(s3_hi))
    s3_lo = m.add(s3_lo, m.fma(s_hi, z_lo, m.mul(s_lo, z_hi)))
    b_hi = m.mul(s3_hi, k.two3_hi)
    b_lo = m.fma(s3_hi, k.two3_hi, m.neg(b_hi))
    b_lo = m.add(b_lo, m.fma(s3_lo, k.two3_hi, m.mul(s3_hi, k.two3_lo)))
    tail = m.mul(m.mul(s3_hi, z_hi), m.poly(z_hi, k.U))
    # log(1+f) = 2s + 2s^3/3 + s^5 U(s^2); |2s| > |2s^3/3| so fast two-sum applies.
    a_hi = m.mul(s_hi, 2.0)
    h = m.add(a_hi, b_hi)
    lo = m.sub(b_hi, m.sub(h, a_hi))
    lo = m.add(lo, m.add(m.add(m.mul(s_lo, 2.0), b_lo), tail))
    # + k ln2, with k ln2_hi_k exact
    h2, e2 = m.two_sum(m.mul(kf, k.ln2_hi_k), h)
    lo = m.add(e2, m.fma(kf, k.ln2_lo_k, lo))
    hi = m.add(h2, lo)
    return hi, m.sub(lo, m.sub(hi, h2))


def _pow_abs(m: _Em, ax: ir.Value, y: ir.Value) -> ir.Value:
    """|x|^y for |x| >= 0 and any y: exp(y log|x|) with y log|x| as hi + lo."""
    l_hi, l_lo = _log_dd(m, ax)
    l_hi = m.sel(m.cmp("==", ax, 0.0), float("-inf"), l_hi)
    l_hi = m.sel(m.cmp("==", ax, float("inf")), ax, l_hi)
    l_hi = m.sel(m.isnan(ax), ax, l_hi)
    t_hi = m.mul(y, l_hi)
    t_lo = m.fma(y, l_hi, m.neg(t_hi))
    t_lo = m.fma(y, l_lo, t_lo)
    # Only finite, in-range products keep the low part (elsewhere it may be NaN).
    t_lo = m.sel(m.cmp("<", m.abs(t_hi), 1000.0), t_lo, 0.0)
    return _exp(m, t_hi, t_lo)


def _pow(m: _Em, x: ir.Value, y: ir.Value) -> ir.Value:
    b = m.b
    ax = m.abs(x)
    mag = _pow_abs(m, ax, y)
    fy = m.floor(y)
    y_int = m.cmp("==", fy, y)                  # true for +-inf, false for NaN
    half = m.mul(y, 0.5)
    y_odd = b.and_(y_int, m.cmp("!=", m.floor(half), half))
    # |x| = 1 with y = +-inf is 1 (exp(inf * 0) would be NaN).
    mag = m.sel(b.and_(m.cmp("==", ax, 1.0), m.isinf(y)), 1.0, mag)
    x_signed = b.icmp_signed("<", m.bits(x), m.i(0))  # includes -0.0
    r = m.sel(b.and_(x_signed, y_odd), m.neg(mag), mag)
    # finite x < 0 with a finite non-integer y has no real power
    bad = b.and_(b.and_(m.cmp("<", x, 0.0), m.cmp("!=", ax, float("inf"))),
                 m.cmp("!=", fy, y))
    r = m.sel(bad, float("nan"), r)
    r = m.sel(m.cmp("==", x, 1.0), 1.0, r)
    return m.sel(m.cmp("==", y, 0.0), 1.0, r)


# ---------------------------------------------------------------- atan2


@dataclass(frozen=True)
class _AtanConsts:
    """``atan(i/8)`` for i = 0..8 as hi + lo, and the Taylor polynomial ``P`` (highest degree
    first) with ``atan(u) = u + u z P(z)``, ``z = u^2``, on ``|u| <= 1/16``, where the first
    term left out is below 2^-(p+2) of ``u`` (so no fit is needed)."""

    hi: tuple[float, ...]
    lo: tuple[float, ...]
    P: tuple[float, ...]


_ATAN = {
    False: _AtanConsts(
        hi=(0.0, 0.12435499578714371, 0.244978666305542, 0.3587706685066223,
            0.46364760398864746, 0.5585992932319641, 0.6435011029243469, 0.7188299894332886,
            0.7853981852531433),
        lo=(0.0, -1.240382241363136e-09, -3.1786777654474463e-09, 1.7639498750554594e-09,
            5.01215868808913e-09, 2.2111597886009804e-08, 5.868937336117597e-09,
            1.0188335508587443e-08, -2.1855694143368964e-08),
        P=(-1 / 7, 1 / 5, -1 / 3)),
    True: _AtanConsts(
        hi=(0.0, 0.12435499454676144, 0.24497866312686414, 0.35877067027057225,
            0.4636476090008061, 0.5585993153435624, 0.6435011087932844, 0.7188299996216245,
            0.7853981633974483),
        lo=(0.0, -3.1253241424539383e-18, 1.0698755618734451e-17, -2.4623815582638635e-17,
            2.2698777452961687e-17, -5.4556305485916264e-18, 1.5834785051444286e-17,
            -2.1478388444456983e-17, 3.061616997868383e-17),
        P=(1 / 13, -1 / 11, 1 / 9, -1 / 7, 1 / 5, -1 / 3)),
}


def _atan2(m: _Em, y: ir.Value, x: ir.Value) -> ir.Value:
    """atan2(y, x) in (-pi, pi], C99's special cases included."""
    b, k, t = m.b, m.k, _ATAN[m.is64]
    ax, ay = m.abs(x), m.abs(y)
    swap = m.cmp(">", ay, ax)                     # then atan2 = pi/2 -+ atan(|x| / |y|)
    num, den = m.sel(swap, ax, ay), m.sel(swap, ay, ax)
    r = m.div(num, den)                           # in [0, 1]
    r = m.sel(m.cmp("==", den, 0.0), 0.0, r)      # both zero
    r = m.sel(b.and_(m.isinf(x), m.isinf(y)), 1.0, r)
    # atan(r) = atan(c) + atan(u), c = i/8 the nearest, u = (r - c) / (1 + r c), |u| <= 1/16
    # (r - c is exact, 1 + r c rounds once).
    fi = m.rint(m.mul(r, 8.0))
    c = m.mul(fi, 0.125)
    u = m.div(m.sub(r, c), m.fma(r, c, 1.0))
    z = m.mul(u, u)
    at_u = m.fma(m.mul(u, z), m.poly(z, t.P), u)
    a_hi, a_lo = m.c(t.hi[0]), m.c(t.lo[0])
    for j in range(1, 9):
        hit = m.cmp("==", fi, float(j))
        a_hi, a_lo = m.sel(hit, t.hi[j], a_hi), m.sel(hit, t.lo[j], a_lo)
    # The quadrant: theta = base + sign * (atan(c) + atan(u)), summed as hi + lo.
    neg_x = b.icmp_signed("<", m.bits(x), m.i(0))      # -0.0 too: atan2(0, -0) = pi
    minus = b.xor(swap, neg_x)
    pio2_hi, pio2_lo = k.pio2[0], k.pio2[1]
    base_hi = m.sel(swap, pio2_hi, m.sel(neg_x, 2 * pio2_hi, 0.0))
    base_lo = m.sel(swap, pio2_lo, m.sel(neg_x, 2 * pio2_lo, 0.0))
    tail = m.add(a_lo, at_u)
    t_hi, t_lo = m.sel(minus, m.neg(a_hi), a_hi), m.sel(minus, m.neg(tail), tail)
    s, e = m.two_sum(base_hi, t_hi)
    theta = m.add(s, m.add(m.add(e, base_lo), t_lo))
    theta = m.copysign(theta, y)
    return m.sel(b.or_(m.isnan(x), m.isnan(y)), m.add(x, y), theta)


def _atan(m: _Em, x: ir.Value) -> ir.Value:
    return _atan2(m, x, m.c(1.0))


def _sqrt_1mx2(m: _Em, x: ir.Value) -> ir.Value:
    """sqrt(1 - x^2) as sqrt((1 - x)(1 + x)): 1 - x is exact near 1, where 1 - x^2 is not."""
    return m._intr("llvm.sqrt", m.mul(m.sub(1.0, x), m.add(1.0, x)))


def _asin(m: _Em, x: ir.Value) -> ir.Value:
    return _atan2(m, x, _sqrt_1mx2(m, x))


def _acos(m: _Em, x: ir.Value) -> ir.Value:
    return _atan2(m, _sqrt_1mx2(m, x), x)


# ---------------------------------------------------------------- entry point


def emit_math(builder: ir.IRBuilder, name: str, args: list[ir.Value]) -> ir.Value:
    """Emit ``name(*args)`` inline for scalar float or double values; returns the result.

    ``name`` is one of ``SUPPORTED``; ``pow`` takes ``[x, y]``, ``atan2`` ``[y, x]``, the
    others ``[x]`` (``FUNCTIONS`` has each one's count). The code
    is straight-line (see the module docstring), so a loop around it vectorizes::

        y = emit_math(builder, "exp", [x])      # x: an ir.Value of type float or double
    """
    entry = FUNCTIONS.get(name)
    if entry is None:
        raise NotImplementedError(f"emit_math: unknown function {name!r}; supported: "
                                  + ", ".join(sorted(SUPPORTED)))
    want, fn = entry
    if len(args) != want:
        raise ValueError(f"emit_math: {name} takes {want} argument(s), got {len(args)}")
    ty = args[0].type
    if not isinstance(ty, (ir.FloatType, ir.DoubleType)) or any(a.type != ty for a in args):
        raise TypeError(f"emit_math: {name} needs float or double arguments of one type, got "
                        + ", ".join(str(a.type) for a in args))
    return fn(_Em(builder, ty), *args)


#: The library: name -> (number of arguments, emitter). Each name is the primitive it
#: computes, so lowering dispatches every primitive named here to `emit_math`.
FUNCTIONS: dict[str, tuple[int, Callable[..., ir.Value]]] = {
    "exp": (1, _exp), "log": (1, _log), "log1p": (1, _log1p), "expm1": (1, _expm1),
    "tanh": (1, _tanh), "logistic": (1, _logistic), "softplus": (1, _softplus),
    "sin": (1, lambda m, x: _trig(m, "sin", x)), "cos": (1, lambda m, x: _trig(m, "cos", x)),
    "tan": (1, lambda m, x: _trig(m, "tan", x)),
    "sqrt": (1, lambda m, x: m._intr("llvm.sqrt", x)),
    "pow": (2, _pow),
    "atan2": (2, _atan2), "atan": (1, _atan), "asin": (1, _asin), "acos": (1, _acos),
    # special functions (`mathspecial`, with their own measured table)
    "erf": (1, mathspecial._erf), "erfc": (1, mathspecial._erfc),
}
SUPPORTED: frozenset[str] = frozenset(FUNCTIONS)
