"""The trigonometric functions of the vector-math library: ``sin``, ``cos``, ``tan`` and
the inverse functions ``atan2``, ``atan``, ``asin``, ``acos``.

Each emitter takes an `MathEmitter` and scalar values and returns the result, as straight-line
code (the contract of `mathlib`, which dispatches to them), e.g. ``y = sin(m, x)``.

Methods. ``sin``/``cos`` in float64: ``q`` = nearest integer to ``x 2/pi`` (from
``x 2/pi`` in two parts), then Cody-Waite reduction by a three-part pi/2: ``x - q P1`` is
exact inside an ``fma`` and ``q (P2 + P3)`` is subtracted with a two-sum, giving
``r = r_hi + r_lo``; sin and cos polynomials on ``r_hi`` with ``r_lo`` added to first
order, the quadrant picked by ``select``.
The reduction holds the bound up to the magnitudes `mathlib` states; beyond, the reduced
argument is clamped to the polynomial's interval.
In float32 (`_trig32`, for throughput: 2.4x faster than the float64 method run in
float32, and ahead of NumPy's own SIMD loops): ``q`` from one ``fma`` with a magic
constant (its low bits are the quadrant), ``r`` by three ``fma`` steps (the first exact),
one polynomial each for sin r and cos r and the quadrant's sign by an integer ``xor``:
1.49 ulp at most (exhaustive over ``[0, 1e5]``). ``tan`` (`_tan`, both types) uses that
fast reduction and one polynomial ``tan r = r + r^3 P(r^2)`` on ``|r| <= pi/4``, and
``-1/tan r`` in odd quadrants: no sin/cos pair, one division (float32 2.74 ulp at most,
float64 2.28 on samples up to 1e6). Beyond ``|x| = 1e5`` (`FAST32_LIMIT`; float64 tan:
``1e6``, `TAN64_LIMIT`, where the three-fma reduction stops holding the bound) the inline
result is 0 (NaN for inf and NaN) and compiled code takes the C library's value
(`mathcall`).
``atan2(y, x)``: ``r = min(|x|, |y|) / max(|x|, |y|)`` in ``[0, 1]``,
``atan r = atan c + atan u`` with ``c = i/8`` the nearest eighth (``atan c`` tabulated as
hi + lo) and ``u = (r - c) / (1 + r c)``, ``|u| <= 1/16``, where the Taylor series needs 3
(float32) or 6 (float64) terms; the quadrant's ``0``, ``pi/2`` or ``pi`` is added with a
two-sum, so the result rounds about once; C99's special cases (``atan2(+-0, -0) = +-pi``,
``atan2(+-inf, -inf) = +-3pi/4``, NaN in, NaN out) by ``select``. ``atan(x) = atan2(x, 1)``,
``asin(x) = atan2(x, s)`` and ``acos(x) = atan2(s, x)`` with ``s = sqrt((1 - x)(1 + x))``
(NaN beyond ``|x| = 1``).
"""
from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from .mathcore import MathEmitter

# ---------------------------------------------------------------- trigonometric


def _reduce64(m: MathEmitter, x: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """x = q pi/2 + r + r_lo: returns (r, r_lo, q as a float)."""
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
    return r, r_lo, q


def trig_reduce(m: MathEmitter, x: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """x = q pi/2 + r: returns (sin r, cos r, q as an integer)."""
    k = m.k
    r, r_lo, q = _reduce64(m, x)
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


# 1.5 * 2^p: t + MAGIC rounds t to an integer, left in the low mantissa bits (for
# |t| < 2^(p-1)), and its low two bits are t's quadrant.
MAGIC32 = 12582912.0
MAGIC64 = 6755399441055744.0
# The inline fast reduction holds the bound up to this magnitude (`mathcall.TRIG_LIMIT`):
# float32 sin, cos and tan, and float64 tan.
FAST32_LIMIT = 1e5
TAN64_LIMIT = 1e6


def _reduce32(m: MathEmitter, x: ir.Value, odd_fn: bool = False
              ) -> tuple[ir.Value, ir.Value, ir.Value]:
    """``x = q pi/2 + r``: ``q`` by the magic-number rounding of one fma, ``r`` by three
    fmas (the first exact, each rounding relative to its own result). Returns
    (|x| <= limit, q's bits, whose low two are the quadrant, r); beyond the limit
    (`FAST32_LIMIT` in float32, `TAN64_LIMIT` in float64, and for inf, NaN) x is
    replaced by 0. ``odd_fn=True`` reduces |x| instead (for an odd function, whose
    caller restores the sign)."""
    k = m.k
    magic = MAGIC64 if m.is64 else MAGIC32
    ax = m.abs(x)
    ok = m.cmp("<=", ax, TAN64_LIMIT if m.is64 else FAST32_LIMIT)
    xi = m.sel(ok, ax if odd_fn else x, 0.0)
    qm = m.fma(xi, k.two_over_pi[0], magic)
    q = m.sub(qm, magic)
    r = m.fma(q, -k.pio2[0], xi)                # exact
    r = m.fma(q, -k.pio2[1], r)
    return ok, m.bits(qm), m.fma(q, -k.pio2[2], r)


def _trig32(m: MathEmitter, name: str, x: ir.Value) -> ir.Value:
    """sin or cos of float32 ``x`` (see the module docstring): one polynomial each for
    sin r and cos r. Beyond `FAST32_LIMIT` (and for inf, NaN) the result is ``x - x``
    (0 for finite, NaN otherwise)."""
    b, k = m.b, m.k
    ok, qi, r = _reduce32(m, x)
    z = m.mul(r, r)
    sin_r = m.fma(m.mul(r, z), m.poly(z, k.S), r)
    cos_r = m.fma(z, m.fma(z, m.poly(z, k.C), -0.5), 1.0)
    odd = b.icmp_unsigned("!=", b.and_(qi, m.i(1)), m.i(0))
    shift = m.i(0 if name == "sin" else 1)
    y = m.sel(odd, cos_r, sin_r) if name == "sin" else m.sel(odd, sin_r, cos_r)
    sign = b.shl(b.and_(b.add(qi, shift), m.i(2)), m.i(30))
    y = m.from_bits(b.xor(m.bits(y), sign))
    if name == "sin":
        y = m.sel(m.cmp("==", x, 0.0), x, y)    # keeps -0.0
    return m.sel(ok, y, m.sub(x, x))


# float32: tan r = r + r^3 P(r^2) for |r| <= pi/4 (plus the reduction's margin),
# highest degree first; relative error 9e-9 before rounding.
TAN32 = (0.0038473054, 0.0011782981, 0.009966546, 0.021619873, 0.053994626, 0.1333323,
         0.33333334)


# float64: tan r = r + r^3 P(r^2) for |r| <= trig_bound, highest degree first; relative
# error 6e-18 before rounding.
TAN64 = (8.483439320681e-06, -1.831572513078552e-05, 3.6516889613672523e-05,
         -1.1014383173562763e-05, 5.558839384771885e-05, 8.998493694653405e-05,
         0.00024122644412888464, 0.0005895755844692152, 0.0014559027426562477,
         0.003592120980155891, 0.008863236003515285, 0.0218694885170731, 0.05396825396865549,
         0.13333333333333, 0.3333333333333333)


def _tan(m: MathEmitter, x: ir.Value) -> ir.Value:
    """tan of ``x`` (float32 and float64): the fast reduction (`_reduce32`) of ``|x|``, one
    polynomial for tan r and ``-1/tan r`` in odd quadrants, then x's sign. In float32, carrying the
    rounding errors of ``tan r`` and of the quotient measured 2.2 instead of 2.7 ulp at
    most, and took 20% more time."""
    b = m.b
    ok, qi, r = _reduce32(m, x, odd_fn=True)
    z = m.mul(r, r)
    t = m.fma(m.mul(r, z), m.poly(z, TAN64 if m.is64 else TAN32), r)
    odd = b.icmp_unsigned("!=", b.and_(qi, m.i(1)), m.i(0))
    y = m.sel(odd, m.div(-1.0, t), t)
    # tan(-x) = -tan(x): x's sign bit flips y's (one vpternlog; keeps -0.0 too)
    sign = b.and_(m.bits(x), m.i(1 << (63 if m.is64 else 31)))
    y = m.from_bits(b.xor(m.bits(y), sign))
    return m.sel(ok, y, m.sub(x, x))


def _trig(m: MathEmitter, name: str, x: ir.Value) -> ir.Value:
    if name == "tan":
        return _tan(m, x)
    if not m.is64:
        return _trig32(m, name, x)
    sin_r, cos_r, qi = trig_reduce(m, x)
    b = m.b
    odd = b.icmp_unsigned("!=", b.and_(qi, m.i(1)), m.i(0))
    # sin: quadrants give sin, cos, -sin, -cos; cos: cos, -sin, -cos, sin.
    shift = m.i(0 if name == "sin" else 1)
    y = m.sel(odd, cos_r, sin_r) if name == "sin" else m.sel(odd, sin_r, cos_r)
    neg = b.icmp_unsigned("!=", b.and_(b.add(qi, shift), m.i(2)), m.i(0))
    y = m.sel(neg, m.neg(y), y)
    if name == "sin":
        y = m.sel(m.cmp("==", x, 0.0), x, y)    # keeps -0.0
    return m.sel(m.isinf(x), float("nan"), y)



def sin(m: MathEmitter, x: ir.Value) -> ir.Value:
    return _trig(m, "sin", x)


def cos(m: MathEmitter, x: ir.Value) -> ir.Value:
    return _trig(m, "cos", x)


def tan(m: MathEmitter, x: ir.Value) -> ir.Value:
    return _trig(m, "tan", x)


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


def atan2(m: MathEmitter, y: ir.Value, x: ir.Value) -> ir.Value:
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


def atan(m: MathEmitter, x: ir.Value) -> ir.Value:
    return atan2(m, x, m.c(1.0))


def _sqrt_1mx2(m: MathEmitter, x: ir.Value) -> ir.Value:
    """sqrt(1 - x^2) as sqrt((1 - x)(1 + x)): 1 - x is exact near 1, where 1 - x^2 is not."""
    return m.sqrt(m.mul(m.sub(1.0, x), m.add(1.0, x)))


def asin(m: MathEmitter, x: ir.Value) -> ir.Value:
    return atan2(m, x, _sqrt_1mx2(m, x))


def acos(m: MathEmitter, x: ir.Value) -> ir.Value:
    return atan2(m, _sqrt_1mx2(m, x), x)

