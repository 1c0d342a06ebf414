"""Inline, vectorizable special functions for `mathlib`: ``erf`` and ``erfc``.

The same contract as `mathlib` (straight-line code, no branches, no libm calls, no
fast-math flags; scalar ``float`` or ``double`` in and out; NaN, +-inf and signed zeros as
the C library gives them); `mathlib.FUNCTIONS` lists these next to its own. float32 is
computed in float64 lanes with float32's shorter polynomials and rounded once at the end
(so it is within about half an ulp, at half the vector width).

Method (after fdlibm's ``s_erf.c``, with our own fits and without its rational
functions, so there is no division in the polynomials). ``a = |x|``, ``z = a^2``:

- ``a < 0.84375``: ``erf(x) = x + x Y(z)`` with ``Y(z) = erf(a)/a - 1`` fitted in ``z``
  (``x`` is exact, ``|x Y| < 0.13 |x|``, so the result rounds about once);
  ``erfc(x) = 1 - (x + x Y)`` for ``x < 1/4`` and ``0.5 - ((x - 0.5) + x Y)`` for
  ``x`` in ``[1/4, 0.84375)``, where ``x - 0.5`` is exact (Sterbenz) and the other sums
  are carried exactly (two-sum), so the cancellation of ``1 - erf`` costs nothing;
- ``a >= 0.84375``: ``erfc(a) = exp(-a^2) H(t) / a`` with ``t = 3 / (a + 3)`` and
  ``H(t) = a erfcx(a)``, which moves only from 0.40 to ``1/sqrt(pi)`` on ``(0, 0.78]``,
  a polynomial in ``t - center`` whose last Horner step is an exact sum hi + lo;
  ``t``'s own rounding enters to first order through ``dH/dt``; ``a^2`` enters the
  exponential as the exact sum ``hi + lo`` (an error of ``a^2`` would be multiplied by
  ``a^2``, up to 745); and ``H (1 + expm1(r)) / a`` is formed before the exact scaling
  by ``2^n`` (``exp(-a^2) = 2^n e^r``, the scaling in two halves so that a subnormal
  result rounds once). Then ``erf(x) = sign(x) (1 - erfc(a))`` and
  ``erfc(x) = 2 - erfc(a)`` for negative ``x``.

Fits: near-minimax (Chebyshev nodes, mpmath at 150 bits) over the range each precision
needs (``erfc`` underflows to 0 beyond 10.05 in float32 and 27.23 in float64), relative
error below 2^-31 (float32's polynomials) and 2^-61 (float64's).

Measured max error in ulp: float32 against float64 ``math.erf``/``math.erfc`` on the
test's sweeps (800,000 points: log sweeps of both signs over every binade, random
bit patterns, uniform on [-10.1, 10.1], the seams); float64 against mpmath at 80 bits on
165,000 points per function (log sweeps over every binade of both signs, uniform on
[-28, 28] and [0.8, 1.5], random bit patterns, the seams). ``tests/codegen/test_mathlib.py`` asserts
4 ulp on a smaller sample.

==========  =======  =======
function    float32  float64
==========  =======  =======
erf           0.50     0.89
erfc          0.51     2.10
==========  =======  =======
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from llvmlite import ir

if TYPE_CHECKING:
    from .mathlib import _Em

#: Where the small-argument polynomial ends (fdlibm's split).
SPLIT = 0.84375
#: t = T_SCALE / (a + T_SCALE) is the variable of H.
T_SCALE = 3.0

# Polynomials, highest degree first: Y(z) = erf(sqrt z)/sqrt z - 1 on [0, SPLIT^2];
# H(t) = a erfcx(a) with a = 3/t - 3 on [3/(a_max + 3), 3/(SPLIT + 3)].
_Y = {
    False: (8.886952425622427e-05, -0.0008254596382834469, 0.005210082119307405,
            -0.026862755659926473, 0.1128375144967099, -0.3761263711929497,
            0.12837916696590043),
    True: (-8.876838157794318e-10, 1.4204523030520312e-08, -1.6302922290506107e-07,
           1.6457898646015626e-06, -1.492546268651671e-05, 0.00012055327389429714,
           -0.0008548326913516344, 0.005223977624070216, -0.026866170645030125,
           0.1128379167095474, -0.3761263890318375, 0.1283791670955126),
}
_H = {
    False: (-0.08517465485532764, 0.1836370556005453, 0.3184382508371088,
            -0.11451141327237628, -0.8972953036105754, -1.4832776963865177,
            -1.527515221893811, -1.1190434299627399, -0.5863321994850051,
            -0.19061245758878215),
    True: (0.0006928133419008634, 0.02340055983456549, -0.009303854262002753,
           -0.03932488259763075, 0.021073553622878896, 0.046186217395272504,
           -0.032595057853838226, -0.0555519387485938, 0.042877919863524655,
           0.07896006198127528, -0.04613136231694291, -0.1332842174638928,
           0.010890178706539345, 0.23460346945163957, 0.18991193086330993,
           -0.2441539844641075, -0.8160084543083926, -1.1602233377907332,
           -1.115277946227862, -0.7908001781719926, -0.40889394454461586,
           -0.12905109967201558),
}
#: H's variable is s = t - center; its constant term (H at the center) as hi + lo.
_H_CENTER = {False: 0.5, True: 0.4375}
_H0 = {False: (0.5370034535546602, -7.248555282588797e-18),
       True: (0.5468776294602284, -1.789735530566995e-18)}
_RSQRT_PI = 0.5641895835477563
#: Beyond this |x|, erfc(|x|) underflows to 0 (and H is not fitted there).
_A_MAX = {False: 10.1, True: 27.3}


def _small_y(m: _Em, x: ir.Value, f64: bool) -> tuple[ir.Value, ir.Value]:
    """x Y(x^2) for erf(x) = x + x Y(x^2), |x| < SPLIT: (the product, its exact rounding
    error)."""
    y = m.poly(m.mul(x, x), _Y[f64])
    xy = m.mul(x, y)
    return xy, m.fma(x, y, m.neg(xy))


def _erfc_big(m: _Em, a: ir.Value, f64: bool) -> ir.Value:
    """erfc(a) for a >= SPLIT (any value for smaller a, selected away by the callers)."""
    from .mathlib import _exp_reduce

    # t = 3 / (a + 3) as t_hi + t_lo (the rounding of a + 3 and of the quotient)
    u, u_err = m.two_sum(a, m.c(T_SCALE))
    t = m.div(T_SCALE, u)
    t_lo = m.div(m.sub(m.fma(m.neg(t), u, T_SCALE), m.mul(t, u_err)), u)
    # H = H0 + s P(s) at s = t - center, the last step as an exact sum hi + lo; t_lo enters
    # to first order through dH/dt = -(a + 3)^2 / 3 (H / a + 2 a (H - 1/sqrt(pi))), since
    # near the split H is steep enough that the rounding of t would cost half an ulp.
    sv = m.sub(t, _H_CENTER[f64])
    p = m.mul(sv, m.poly(sv, _H[f64]))
    h0_hi, h0_lo = _H0[f64]
    h_hi, h_err = m.two_sum(m.c(h0_hi), p)
    dh = m.add(m.div(h_hi, a), m.mul(m.mul(a, 2.0), m.sub(h_hi, _RSQRT_PI)))
    dh = m.mul(dh, m.mul(m.mul(u, u), -1.0 / T_SCALE))
    h_lo = m.add(h_err, m.fma(dh, t_lo, h0_lo))
    # exp(-a^2) = 2^n (1 + em1): H (1 + em1) / a is formed before the exact scaling by
    # 2^n (in two halves, so a subnormal result rounds once), which saves the roundings of
    # 1 + em1 and of the product with it.
    z_hi = m.mul(a, a)
    z_lo = m.fma(a, a, m.neg(z_hi))
    ni, em1 = _exp_reduce(m, m.neg(z_hi), m.k.exp_lo, m.neg(z_lo))
    w = m.add(h_hi, m.fma(h_hi, em1, h_lo))
    q = m.div(w, a)
    n1 = m.b.ashr(ni, m.i(1))
    r = m.mul(m.mul(q, m.pow2(n1)), m.pow2(m.b.sub(ni, n1)))
    return m.sel(m.cmp("<", a, _A_MAX[f64]), r, 0.0)


def _in_double(m: _Em, x: ir.Value,
               fn: Callable[[_Em, ir.Value, bool], ir.Value]) -> ir.Value:
    """fn(x) with float64 arithmetic; a float32 x gets float32's shorter polynomials and
    one final rounding."""
    if m.is64:
        return fn(m, x, True)
    from .mathlib import _Em

    d = ir.DoubleType()
    return m.b.fptrunc(fn(_Em(m.b, d), m.b.fpext(x, d), False), m.ty)


def _erf64(m: _Em, x: ir.Value, f64: bool) -> ir.Value:
    a = m.abs(x)
    small = m.add(x, _small_y(m, x, f64)[0])
    big = m.copysign(m.sub(1.0, _erfc_big(m, a, f64)), x)
    y = m.sel(m.cmp("<", a, SPLIT), small, big)
    return m.sel(m.isnan(x), x, y)


def _erf(m: _Em, x: ir.Value) -> ir.Value:
    return _in_double(m, x, _erf64)


def _erfc(m: _Em, x: ir.Value) -> ir.Value:
    return _in_double(m, x, _erfc64)


def _erfc64(m: _Em, x: ir.Value, f64: bool) -> ir.Value:
    xy, xy_err = _small_y(m, x, f64)
    low = m.sub(1.0, m.add(x, xy))                        # x < 1/4: no cancellation
    # On [1/4, SPLIT) erfc = 0.5 - ((x - 0.5) + x Y), x - 0.5 exact (Sterbenz); the two
    # subtractions are exact sums, so only the last one rounds (erfc is near 1/4 here,
    # where an ulp of the result is half an ulp of erf).
    hi, lo = m.two_sum(m.sub(x, 0.5), xy)
    d, d_err = m.two_sum(m.c(0.5), m.neg(hi))
    mid = m.add(d, m.sub(m.sub(d_err, lo), xy_err))
    small = m.sel(m.cmp("<", x, 0.25), low, mid)
    a = m.abs(x)
    tail = _erfc_big(m, a, f64)
    big = m.sel(m.cmp("<", x, 0.0), m.sub(2.0, tail), tail)
    y = m.sel(m.cmp("<", a, SPLIT), small, big)
    return m.sel(m.isnan(x), x, y)
