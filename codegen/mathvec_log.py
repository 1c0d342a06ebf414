"""Explicit AVX-512 bodies of float64 ``log`` and float32 ``pow`` (`mathvec`'s contract:
``body(builder, [x, ...]) -> result`` over ``<8 x double>`` / ``<16 x float>``).

Both reduce ``x = 2^k m`` with ``vgetexp``/``vgetmant`` (``m`` in ``[3/4, 3/2)``; exact
for subnormals, no integer bit games) and look up ``c ~ m`` on a grid of sixteenths in
two 16-entry tables held in registers (``vpermi2var``): the index is ``round(16 m)``, read
off the low bits of ``m + 2^48``; its 13 values 12..24 fall on distinct entries mod 16.
``inv`` is a double near ``1/c`` (exactly 1 for ``c = 1``), chosen (Gal's accurate
tables) so that ``-log(inv)`` is within 6e-5 ulp of the double stored beside it; then
``r = m inv - 1`` (``|r| <= 0.0418``, one ``fma``) and ``log m = -log(inv) + log1p(r)``.

- float64 ``log``: ``log1p(r) = r + r^2 P(r)`` (degree 9, relative error 2^-52.9 on
  ``P``), ``k ln2_hi + logc`` and ``+ r`` as fast two-sums (``k ln2_hi`` is exact),
  then ``vfixupimm`` for 0, negatives, inf and NaN: no division, no select.
- float32 ``pow``: in float64 on the two halves of the 16 lanes: ``log2|x| = k + log2c +
  r Q(r)`` (degree 6, 2^-41), ``t = y log2|x|`` (its error below 2^-44 while ``|t| <
  300``), clamped to +-300 (NaN kept), ``2^t = 2^n 2^(j/16) 2^f`` with ``n + j/16`` the
  nearest sixteenth (``t + 1.5 * 2^48``), a 16-entry table of ``2^(j/16)`` and a degree-3
  ``2^f`` on ``|f| <= 1/32``, ``2^n`` by ``vscalefpd``, then rounded to float32 once
  (about 0.5 ulp). C99's special cases (`mathexp.pow_special`, the selects of the generic
  code) run only when some lane has a zero, negative, infinite or NaN ``x`` or a
  non-finite ``y``: for the others the magnitude is already the result (``y = 0`` and
  ``x = 1`` give ``2^0 = 1``).
"""
from __future__ import annotations

from llvmlite import ir

from . import mathexp
from .mathcore import F64 as K64
from .mathvec_ops import F32, F64, VecEmitter, half, join

# Entry j & 15 for j = round(16 m) in 12..24 (entries 9-11 unused): inv ~ 16/j and
# logc = -log(inv) rounded (each within 6e-5 ulp of the exact value), log2c = -log2(inv).
INV = (1.0, 0.9412295956749882, 0.8889351519580635, 0.8421218417549886, 0.8000222282958058,
       0.7618621715327017, 0.7272680337017936, 0.6956781084262573, 0.6666487460125722,
       1.0, 1.0, 1.0, 1.3334100449112452, 1.2308269739057172, 1.1429146364394402,
       1.0666911707544855)
LOGC = (0.0, 0.060568178004741784, 0.11773099105790563, 0.17183057003639834,
        0.2231157663304587, 0.2719896169094263, 0.31846018479939336, 0.36286821352153764,
        0.40549198945060616, 0.0, 0.0, 0.0, -0.2877396044802159, -0.2076862799761046,
        -0.13358169824368396, -0.0645614934560356)
LOG2C = (0.0, 0.08738141004312096, 0.16984991695818336, 0.2478991112646356,
         0.32188800962909353, 0.3923980714885183, 0.45944092933066766, 0.5235081721437599,
         0.5850012823005893, 0.0, 0.0, 0.0, -0.4151205004509592, -0.2996279661822029,
         -0.19271765360968882, -0.09314254644140782)
# 2^(j/16), j = 0..15
EXP2 = (1.0, 1.0442737824274138, 1.0905077326652577, 1.1387886347566916, 1.189207115002721,
        1.241857812073484, 1.2968395546510096, 1.3542555469368927, 1.4142135623730951,
        1.4768261459394993, 1.5422108254079407, 1.6104903319492543, 1.681792830507429,
        1.7562521603732995, 1.8340080864093424, 1.9152065613971474)
# (log1p(r) - r) / r^2, |r| <= 0.0418, highest degree first
P_LOG = (0.09122985011422628, -0.10036366262919608, 0.11111065774906669,
         -0.12499944547009147, 0.1428571430991582, -0.16666666701164767,
         0.19999999999996765, -0.2499999999999249, 0.3333333333333333, -0.5)
# log2(1 + r) / r, |r| <= 0.0418
Q_LOG2 = (0.20657992163213573, -0.24099969340830338, 0.2885386046921039,
          -0.3606732806411599, 0.48089834704089185, -0.7213475205488904, 1.442695040888965)
# (2^f - 1) / f, |f| <= 1/32
E_EXP2 = (0.009618091501064279, 0.055505410761472515, 0.24022650707845583,
          0.6931471804010055)
# vfixupimm responses by class of x for log: NaN -> x quieted, +-0 -> -inf, +1 -> +0,
# -inf -> NaN, +inf -> +inf, negative -> NaN, positive -> the computed value
LOG_FIXUP = 0x03538422
SIXTEENTHS = 2.0 ** 48             # m + 2^48 rounds m to a sixteenth (ulp 1/16)
ROUND16 = 1.5 * 2.0 ** 48          # t + 1.5 * 2^48: the same for |t| < 2^46, either sign
T_CLAMP = 300.0                    # |y log2|x|| beyond this is 0 or inf in float32
# fpclass: x is +-0, negative, +-inf or NaN; y is +-inf or NaN
X_SPECIAL = 0xDF
Y_SPECIAL = 0x99


def _reduce(m: VecEmitter, x: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """x = 2^k mt, mt in [3/4, 3/2): returns (k as a double, mt, the table index)."""
    mt = m.getmant(x)
    e = m.getexp(x)
    k = m.sel(m.cmp("<", mt, 1.0), m.add(e, 1.0), e)
    return k, mt, m.bits(m.add(mt, SIXTEENTHS))


def log64(b: ir.IRBuilder, args: list[ir.Value]) -> ir.Value:
    """log(x) for ``<8 x double>`` x (0.9 ulp measured, see `mathlib`'s table)."""
    m = VecEmitter(b, F64)
    x = args[0]
    k, mt, idx = _reduce(m, x)
    inv, logc = m.table(INV, idx), m.table(LOGC, idx)
    r = m.fma(mt, inv, -1.0)
    # hi + lo = k ln2_hi + logc exactly: k ln2_hi is exact, and |k ln2_hi| > |logc| or k = 0
    kh = m.mul(k, K64.ln2_hi_k)
    hi = m.add(kh, logc)
    lo = m.add(m.sub(kh, hi), logc)
    # t + lo2 = hi + r exactly: |hi| > |r| (|logc| >= 0.06 for c != 1) or hi = 0
    t = m.add(hi, r)
    lo2 = m.add(m.sub(hi, t), r)
    tail = m.fma(k, K64.ln2_lo_k, m.add(lo, lo2))
    y = m.add(t, m.fma(m.mul(r, r), m.poly(r, P_LOG), tail))
    return m.fixup(y, x, LOG_FIXUP)


def _pow_abs64(m: VecEmitter, ax: ir.Value, y: ir.Value) -> ir.Value:
    """|x|^y = 2^(y log2|x|) in float64 for float32 values widened: 0, inf and NaN in ax
    give log2 = -inf, inf, NaN through getexp."""
    k, mt, idx = _reduce(m, ax)
    inv, l2c = m.table(INV, idx), m.table(LOG2C, idx)
    r = m.fma(mt, inv, -1.0)
    lg = m.fma(r, m.poly(r, Q_LOG2), m.add(k, l2c))
    t = m.mul(y, lg)
    t = m.sel(m.cmp(">", t, T_CLAMP), T_CLAMP, t)           # ordered: NaN stays
    t = m.sel(m.cmp("<", t, -T_CLAMP), -T_CLAMP, t)
    s = m.add(t, ROUND16)
    q = m.sub(s, ROUND16)                                   # t to the nearest 1/16
    f = m.sub(t, q)                                         # exact, |f| <= 1/32
    tj = m.table(EXP2, m.bits(s))                           # 2^(q - floor(q))
    return m.scalef(m.fma(tj, m.mul(f, m.poly(f, E_EXP2)), tj), q)


def pow32(b: ir.IRBuilder, args: list[ir.Value]) -> ir.Value:
    """x^y for ``<16 x float>`` x and y (0.5 ulp measured away from special cases)."""
    x, y = args
    m32 = VecEmitter(b, F32)
    m64 = VecEmitter(b, F64)
    ax = m32.abs(x)
    mag = join(b, *(_pow_abs64(m64, half(b, ax, k), half(b, y, k)) for k in (0, 1)))
    special = m32.any(b.or_(m32.fpclass(x, X_SPECIAL), m32.fpclass(y, Y_SPECIAL)))
    pre = b.block
    with b.if_then(special, likely=False):
        fixed = mathexp.pow_special(m32, x, y, mag)
        then = b.block
    out = b.phi(m32.ty)
    out.add_incoming(mag, pre)
    out.add_incoming(fixed, then)
    return out
