"""Explicit AVX-512 body of float64 ``pow`` (`mathvec`'s contract:
``body(builder, [x, y]) -> x^y`` over ``<8 x double>``): 0.89 ulp measured (8 million
points against long double, ``tests/codegen/test_mathvec_pow.py``'s inputs and seeds).

Method: ``|x|^y = e^t`` with ``t = y log|x|`` carried as ``hi + lo``.

log: ``|x| = 2^(e+1) z`` with ``e = vgetexp(x)`` and ``z = vgetmant(x)`` in ``[1/2, 1)``
(exact for subnormals, no bit games). The index ``J = round(30 z)`` (15..30, the low 4
bits of ``z 30 + 1.5 2^52`` by one ``fma``) picks ``inv ~ 1/c`` with ``c ~ J/30`` from a
16-entry table held in two registers (``vpermi2var``); ``inv`` has 5 significant bits,
so ``r = z inv - 1`` is exact in one ``fma`` (``|r| <= 0.0407``), and it is exactly 2
for ``J = 15`` and 1 for ``J = 30``, so near ``x = 1`` ``r`` is ``x - 1`` itself and
``log x`` keeps its relative accuracy. Then
``log|x| = t1 + r - r^2/2 + r^3 Q(r) + lo1`` with ``t1 = e ln2_hi + g_hi`` exact
(``g = ln2 - log(inv) = g_hi + g_lo``, ``g_hi`` and ``ln2_hi`` on a grid of 2^-43, and
``|t1| < 2^10``), ``lo1 = e ln2_lo + g_lo``; ``t1 + r`` and ``+ (-r^2/2 + r^3 Q)`` are
fast two-sums (``|t1| > |r|`` unless ``t1 = 0``), ``r^2/2`` is exact as ``b2 + b2_lo``
(``fma``; the table holds ``inv/2``, so the ``fma`` gives ``r/2`` and ``r = r/2 + r/2``),
``Q`` has degree 9. The result ``hi + lo`` has ``|lo| < 2^-43 |hi|``.
Product: ``t = y hi + y lo`` as ``ehi + elo`` (``fma`` residual).

exp: ``t = kd ln2 + r`` with ``kd`` the nearest sixteenth to ``t / ln2``
(``fma(ehi, 1/ln2, 1.5 2^48)``, whose low 4 bits are ``j = 16 kd mod 16``),
``r = (ehi - kd ln2_hi) + (elo - kd ln2_lo)``, the first part exact, ``|r| <= ln2/32 +
2^-30``; ``e^t = 2^floor(kd) 2^(j/16) e^r``: ``2^(j/16) = T_hi + T_lo`` from two more
register tables, ``e^r - 1 = r + r^2 P(r)`` (degree 7), ``res = T_hi + (T_hi (e^r - 1) +
T_lo)``, and ``vscalefpd(res, kd)`` multiplies by ``2^floor(kd)`` and rounds once:
overflow to inf, gradual underflow and the subnormal results come from the instruction.

Error budget: the log's absolute error is below 2^-70 (``Q``'s fit, the roundings of
``r^3 Q`` and of ``lo``'s sums), relative below 2^-64 since ``|log|x|| >= 1/60`` unless
``t1 = 0`` (then ``log|x| ~ r``); so ``t`` moves by at most ``|t| 2^-64 <= 2^-54.5``
for a finite result (``|t| < 745``), under 0.2 ulp. The exp: ``P``'s fit 2^-64.4,
``r``'s rounding 2^-58.5, the table 2^-106, then the roundings of ``res`` (0.5 ulp) and
of a subnormal result.

Invariants:
- the magnitude is computed for ``|x|`` in every lane; the fast path covers every lane
  with ``x > 0`` finite, ``y`` finite and ``|t| < 1000``: ``y = 0`` and ``x = 1`` give
  ``e^0 = 1`` exactly there; 0, inf or NaN in ``x`` or ``y`` make ``ehi`` infinite or
  NaN, so a sign test of ``x`` and a range test of ``ehi`` find every other lane;
- only when some lane is outside it (one ``kortest`` and a branch), ``ehi >= 1000`` /
  ``<= -1000`` become inf / 0, and C99's special cases and the sign come from the
  generic code's selects (`mathexp.pow_special`) on the same magnitudes;
- no fast-math flags, no C library call; every table index is the low 4 bits of a lane.
"""
from __future__ import annotations

from llvmlite import ir

from . import mathexp
from .loops import unless_rare
from .mathvec_ops import F64, VecEmitter

# vgetmant's immediate: interval [1/2, 1) (bits 1:0 = 2), sign cleared (bits 3:2 = 1)
MANT_HALF_ABS = 0b0110
ROUND52 = 1.5 * 2.0 ** 52          # v + ROUND52: v rounded to an integer, in the low bits
ROUND48 = 1.5 * 2.0 ** 48          # v + ROUND48: v rounded to a sixteenth (|v| < 2^46)
T_LIMIT = 1000.0                   # |t| beyond: 0 or inf (the slow path), scalef's range

# log: entry J mod 16 for J = round(30 z), z in [1/2, 1): INV ~ 30/J with 5 significant
# bits (a multiple of 1/32 where that keeps |z INV - 1| < 1/32 on J's interval, else of
# 1/16 with |z INV - 1| < 1/16), so that z INV - 1 is a multiple of 2^-58 (2^-57) below
# 2^-5 (2^-4): exact in a double; |z INV - 1| <= 0.0407; exactly 2 and 1 at J = 15 and 30.
# G = ln2 - log(INV) = G_HI + G_LO with G_HI on a grid of 2^-43.
# The code looks up INV/2: r/2 = z INV/2 - 1/2 is as exact, and r = r/2 + r/2 an addition
# where -r/2 would be a multiplication.
INV = (1.875, 1.75, 1.6875, 1.5625, 1.5, 1.4375, 1.375, 1.3125, 1.25, 1.1875, 1.15625,
       1.125, 1.0625, 1.03125, 1.0, 2.0)
G_HI = (0.0645385211375924, 0.13353139262449076, 0.16989903679541385, 0.2468600779315011,
        0.28768207245173016, 0.33024168687052224, 0.3746934494414518, 0.4212134650763346,
        0.47000362924575256, 0.5212969236332583, 0.5479651707154289, 0.575364144903574,
        0.632522558743517, 0.6623755218931819, 0.6931471805598903, 0.0)
G_LO = (-2.1225608044809997e-14, 3.1859736349078334e-14, -1.6376276414097503e-14,
        2.4688324156011588e-14, 5.076326383153408e-14, 5.4612144489920215e-14,
        -4.1082176222359656e-14, -3.1063837541003616e-14, -1.7009641689260365e-14,
        2.7784788537588388e-14, 1.8472405833748667e-14, -1.2160310058547871e-14,
        -6.5714011431672766e-15, 9.681087609174425e-15, 5.497923018708371e-14, 0.0)
INV_HALF = tuple(v / 2 for v in INV)
LN2_HI = 0.6931471805598903        # ln2 on the grid of 2^-43 (G_HI[14])
LN2_LO = 5.497923018708371e-14
# (log1p(r) - r + r^2/2) / r^3 times 2 (the code multiplies by r^3/2), |r| <= 0.0407,
# highest degree first; a weighted minimax fit (Lawson): absolute error of r^3 Q 2^-71.1
# for |r| <= 0.0336, 2^-70.3 beyond (only J = 17..19 reach there, where |log x| > 0.09)
LOG_Q = (-0.1674591427274107, 0.18255745189753847, -0.19999831633198292,
         0.2222208906677424, -0.25000000170092584, 0.28571428682255656,
         -0.3333333333325248, 0.3999999999995838, -0.5000000000000001, 0.6666666666666667)

# exp: 2^(j/16) = EXP_HI + EXP_LO
EXP_HI = (1.0, 1.0442737824274138, 1.0905077326652577, 1.1387886347566916,
          1.189207115002721, 1.241857812073484, 1.2968395546510096, 1.3542555469368927,
          1.4142135623730951, 1.4768261459394993, 1.5422108254079407, 1.6104903319492543,
          1.681792830507429, 1.7562521603732995, 1.8340080864093424, 1.9152065613971474)
EXP_LO = (0.0, 8.551889705537965e-17, -3.046782079812471e-17, 8.912812676025408e-17,
          3.982015231465646e-17, 4.658027591836937e-17, 2.5382502794888315e-17,
          7.70094837980299e-17, -9.667293313452913e-17, -3.483994556892796e-17,
          7.949834809697621e-17, 2.4707192569797888e-17, 8.199010020581497e-17,
          2.960140695448873e-17, 3.283107224245627e-17, -1.0619946056195963e-16)
INV_LN2 = 1.4426950408889634
# (e^r - 1 - r) / r^2, |r| <= ln2/32 (1 + 2^-10), highest degree first; error 2^-64.4
EXP_P = (0.00019841464166458136, 0.0013889063781745215, 0.008333333332990755,
         0.04166666666358346, 0.16666666666666669, 0.5000000000000001)


def _log_hi_lo(m: VecEmitter, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    """log|x| = hi + lo for finite x != 0 (-inf / inf for +-0 / +-inf, NaN for NaN)."""
    z = m.getmant(x, MANT_HALF_ABS)
    e = m.getexp(x)
    u = m.bits(m.fma(z, 30.0, ROUND52))
    inv_half, g_hi, g_lo = m.table(INV_HALF, u), m.table(G_HI, u), m.table(G_LO, u)
    h = m.fma(z, inv_half, -0.5)                # r/2, exact (see INV)
    r = m.add(h, h)
    t1 = m.fma(e, LN2_HI, g_hi)                 # exact
    t2 = m.add(t1, r)
    lo2 = m.add(m.sub(t1, t2), r)               # exact: |t1| > |r| or t1 = 0
    b2 = m.mul(r, h)
    b2_lo = m.fma(r, h, m.neg(b2))              # r^2/2 = b2 + b2_lo exactly
    b3 = m.mul(r, b2)
    q = m.poly(r, LOG_Q)
    w = m.fma(b3, q, m.neg(b2))                 # -r^2/2 + r^3 Q rounded once
    # its rounding error (b2 + w exact: w ~ -b2), with the -b2_lo left out of it
    w_lo = m.fma(b3, q, m.neg(m.add(m.add(b2, w), b2_lo)))
    hi = m.add(t2, w)
    lo4 = m.add(m.sub(t2, hi), w)
    return hi, m.add(m.add(m.fma(e, LN2_LO, g_lo), lo2), m.add(lo4, w_lo))


def _pow_abs(m: VecEmitter, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(|x|^y, t) for lanes with |t| < T_LIMIT: e^t with t = y log|x| = ehi + elo."""
    hi, lo = _log_hi_lo(m, x)
    ehi = m.mul(y, hi)
    elo = m.fma(y, lo, m.fma(y, hi, m.neg(ehi)))
    v = m.fma(ehi, INV_LN2, ROUND48)
    kd = m.sub(v, ROUND48)                      # t / ln2 to the nearest sixteenth
    r = m.add(m.fma(kd, -LN2_HI, ehi), m.fma(kd, -LN2_LO, elo))
    j = m.bits(v)                               # 16 kd mod 16 in the low bits
    t_hi, t_lo = m.table(EXP_HI, j), m.table(EXP_LO, j)
    # e^r - 1 = r + r^2 P(r), P by Estrin's scheme in r^2
    c = [m.fma(r, EXP_P[i], EXP_P[i + 1]) for i in (0, 2, 4)]
    r2 = m.mul(r, r)
    p = m.fma(r2, m.fma(r2, m.fma(r2, c[0], c[1]), c[2]), r)
    res = m.add(t_hi, m.fma(t_hi, p, t_lo))
    return m.scalef(res, kd), ehi


def pow64(b: ir.IRBuilder, args: list[ir.Value]) -> ir.Value:
    """x^y for ``<8 x double>`` x and y."""
    x, y = args
    m = VecEmitter(b, F64)
    mag, t = _pow_abs(m, x, y)
    # ordered compares: false for NaN (-0.0 >= 0 holds, but its t is infinite)
    inside = b.and_(m.cmp(">=", x, 0.0), m.cmp("<", m.abs(t), T_LIMIT))

    def special() -> ir.Value:
        mag2 = m.sel(m.cmp(">=", t, T_LIMIT), float("inf"), mag)
        mag2 = m.sel(m.cmp("<=", t, -T_LIMIT), 0.0, mag2)
        return mathexp.pow_special(m, x, y, mag2)
    return unless_rare(b, m.any(b.not_(inside)), mag, special)
